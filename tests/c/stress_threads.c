/* Many client threads calling one door back to back, with new threads (so
 * new channels) every round: every call must be answered, with its own
 * result. Catches lost hand-offs between a lingering server thread and a
 * client posting in the shared region. Bounded by an alarm. */
#include "common.h"
#include <pthread.h>

static void echo(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	door_return(argp, size, NULL, 0);
}

static char path[512];
static int fd;
static volatile int stop;

static void *worker(void *arg)
{
	long me = (long)arg, calls = 0;
	/* At least one call each, however late the scheduler starts us. */
	while (!stop || calls == 0) {
		long x = me * 1000003 + calls, r = -1;
		door_arg_t a = { (char *)&x, sizeof x, NULL, 0, (char *)&r, sizeof r };
		CHECK_OK(door_call(fd, &a));
		CHECK(a.data_size == sizeof r && r == x);
		calls++;
	}
	return (void *)calls;
}

static void client(void *arg)
{
	(void)arg;
	alarm(60);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	static const int crews[] = { 2, 4, 3, 2, 8, 2 };
	for (size_t k = 0; k < sizeof crews / sizeof crews[0]; k++) {
		pthread_t t[8];
		stop = 0;
		for (long i = 0; i < crews[k]; i++)
			CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		stop = 1;
		for (int i = 0; i < crews[k]; i++) {
			void *calls;
			CHECK(pthread_join(t[i], &calls) == 0);
			CHECK((long)calls > 0);
		}
	}
	close(fd);
}

int main(void)
{
	test_name = "stress_threads";
	char *dir = test_dir();
	snprintf(path, sizeof path, "%s/door", dir);
	serve_one_client(path, echo, client);
	PASS();
}
