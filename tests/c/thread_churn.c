/* Client threads that come and go. A thread's channels outlive it a
 * moment (50 ms), kept for the next thread's first call to the same door
 * (at most 8 per process). Checked here:
 *
 * - every call on a kept channel, by thread after thread, alone or many at
 *   once, gets its own results;
 * - however many threads end, the client keeps at most 8 channels (one
 *   descriptor each), and its descriptors come back to what its live
 *   threads hold soon after (the scenario thread's end: fd_neutral); the
 *   server's come back when the client ends;
 * - a thread states its own ids before it calls in the region: a thread
 *   that gave itself another effective uid (a raw setresuid, for itself
 *   alone) and then took an ended root thread's channel is never reported
 *   as root (root only);
 * - a channel kept while the application closed every descriptor above
 *   some number (closefrom) and reused the numbers is neither used nor
 *   closed by libdoor when its time is up: the numbers stay the
 *   application's;
 * - a forked child never uses, nor closes, the channels its parent kept:
 *   their numbers, free in the child and reused by it, stay its own, while
 *   the child's threads come and go. */
#include "common.h"
#include <pthread.h>
#include <sys/syscall.h>
#include <ucred.h>

#define SPARE_MAX 8

/* Answers the argument + 1, and the caller's effective uid as door_ucred
 * reports it (-1 if it fails). */
static void proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	long r[2] = { -1, -1 };
	if (size == sizeof(long))
		memcpy(&r[0], argp, sizeof(long));
	r[0]++;
	ucred_t *uc = NULL;
	if (door_ucred(&uc) == 0) {
		r[1] = (long)ucred_geteuid(uc);
		ucred_free(uc);
	}
	door_return((char *)r, sizeof r, NULL, 0);
}

static char path[512];
static int fd;

/* One call: its result must be x + 1; returns the euid the server saw. */
static long call_once(long x)
{
	long r[2] = { 0, 0 };
	door_arg_t a = { (char *)&x, sizeof x, NULL, 0, (char *)r, sizeof r };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_size == sizeof r && r[0] == x + 1);
	return r[1];
}

static void *calls(void *arg)
{
	long me = (long)arg;
	for (long i = 0; i < 20; i++)
		call_once(me * 1000 + i);
	return NULL;
}

/* `n` threads at once, each making 20 calls, all joined. */
static void crew(int n)
{
	pthread_t t[32];
	CHECK(n <= 32);
	for (long i = 0; i < n; i++)
		CHECK(pthread_create(&t[i], NULL, calls, (void *)i) == 0);
	for (int i = 0; i < n; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
}

static void *euid_seen(void *arg)
{
	uid_t *as = arg;
	/* setresuid through the raw system call changes this thread alone
	 * (glibc's wrapper would change every thread). */
	if (*as != (uid_t)-1)
		CHECK_OK(syscall(SYS_setresuid, -1, *as, -1));
	return (void *)call_once(7);
}

static long euid_seen_from_new_thread(uid_t as)
{
	pthread_t t;
	void *seen;
	CHECK(pthread_create(&t, NULL, euid_seen, &as) == 0);
	CHECK(pthread_join(t, &seen) == 0);
	return (long)seen;
}

/* In a forked child: the numbers its parent's kept channels had are
 * closed here; pipes fill them (and the numbers around), then threads
 * come and go, keeping channels of the child's own. Every pipe must still
 * work: none of its numbers was closed. */
static void child_after_fork(void)
{
	int p[24][2];
	for (int i = 0; i < 24; i++)
		CHECK_OK(pipe(p[i]));
	for (int k = 0; k < 3; k++)
		crew(SPARE_MAX + 2);
	for (int i = 0; i < 24; i++) {
		char c = (char)i, back = -1;
		CHECK(write(p[i][1], &c, 1) == 1);
		CHECK(read(p[i][0], &back, 1) == 1 && back == c);
	}
	_exit(0);
}

static void close_all_of(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* Threads end and their channels are kept; the application then closes
 * every descriptor from the lowest free number up (closefrom, which leaves
 * libdoor's own open) and opens files of its own. Once the kept channels'
 * time is up, those files must still be open, and calls from new threads
 * must still work. */
static void closed_behind_our_back(void)
{
	/* Channels kept before expire: the threads below open their own. */
	struct timespec ts = { 0, 200 * 1000 * 1000 }; /* 4 times the kept channels' life */
	nanosleep(&ts, NULL);
	/* Above every open descriptor, with the holes below filled, so that
	 * the channels' sockets get numbers from `low` up. */
	int low = 0, holes[1024], nholes = 0;
	for (int i = 0; i < 1024; i++)
		if (fcntl(i, F_GETFD) >= 0)
			low = i + 1;
	for (int i = 0; i < low; i++)
		if (fcntl(i, F_GETFD) < 0) {
			CHECK(nholes < 1024);
			CHECK((holes[nholes++] = open("/dev/null", O_RDONLY)) == i);
		}
	crew(4);
	CHECK(fcntl(low, F_GETFD) >= 0); /* a kept channel's socket */
	closefrom(low);
	CHECK(fcntl(low, F_GETFD) >= 0); /* still libdoor's */
	int mine[16];
	for (int i = 0; i < 16; i++)
		CHECK((mine[i] = open("/dev/null", O_RDONLY)) > low);
	close_all_of(holes, nholes);
	nanosleep(&ts, NULL);
	for (int i = 0; i < 16; i++)
		CHECK(fcntl(mine[i], F_GETFD) >= 0);
	crew(4);
	for (int i = 0; i < 16; i++)
		CHECK(fcntl(mine[i], F_GETFD) >= 0 && close(mine[i]) == 0);
}

static void client(void *arg)
{
	(void)arg;
	alarm(60);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	call_once(0); /* the main thread's own channel */
	int base = count_fds();

	/* Thread after thread: each takes the one before's channel. */
	for (long i = 0; i < 50; i++)
		crew(1);
	CHECK(count_fds() <= base + 1);

	/* Many at once, ending together: at most SPARE_MAX are kept. */
	crew(20);
	CHECK(count_fds() <= base + SPARE_MAX);
	crew(5);
	CHECK(count_fds() <= base + SPARE_MAX);

	if (geteuid() == 0) {
		CHECK(euid_seen_from_new_thread((uid_t)-1) == 0);
		long seen = euid_seen_from_new_thread(4321);
		if (seen == 0) {
			fprintf(stderr, "FAIL %s: a thread with euid 4321 was reported as root\n", test_name);
			exit(1);
		}
	}

	closed_behind_our_back();

	crew(SPARE_MAX);
	pid_t c = test_fork();
	CHECK(c >= 0);
	if (c == 0)
		child_after_fork();
	reap_ok(c);
	crew(3);
	close(fd);
}

int main(void)
{
	test_name = "thread_churn";
	char *dir = test_dir();
	snprintf(path, sizeof path, "%s/door", dir);
	serve_one_client(path, proc, client);
	PASS();
}
