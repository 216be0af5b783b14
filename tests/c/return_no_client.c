/* door_return after the caller gave up (a signal ended its door_call with
 * EINTR): as on illumos (doors-spec §4.4, "No client") the results go
 * nowhere and door_return does not come back, whatever they are: here
 * results for a caller that passed no door_arg_t, which a live caller
 * would have refused with E2BIG. The server thread serves on: the next
 * call is answered. Server and client are separate processes. */
#include "door_test.h"

#include <stdatomic.h>
#include <sys/mman.h>

struct shared {
	_Atomic int calls, gave_up, returned, err;
};
static struct shared *sh;
static char path[512];

static void proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	if (atomic_fetch_add(&sh->calls, 1) == 0) {
		double end = now_seconds() + 30;
		while (!atomic_load(&sh->gave_up) && now_seconds() < end)
			usleep(1000); /* until the caller has given up */
		door_return("x", 1, NULL, 0);
		/* Reached only if door_return came back. */
		atomic_store(&sh->err, errno);
		atomic_store(&sh->returned, 1);
	}
	door_return("ok", 3, NULL, 0);
}

/* The server: the door is DOOR_NO_CANCEL, so that the thread is not
 * cancelled when its caller gives up, and reaches its door_return. */
static void serve(void *arg)
{
	attach_new(path, proc, NULL, DOOR_NO_CANCEL);
	gate_open(arg);
	for (;;)
		pause();
}

static void on_alarm(int sig)
{
	(void)sig;
}

int main(void)
{
	test_name = "return_no_client";
	watchdog(60);
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(sh != MAP_FAILED);
	snprintf(path, sizeof path, "%s/door", test_dir());
	struct gate ready;
	gate_init(&ready);
	pid_t server = spawn_tied(serve, &ready);
	gate_wait_within(&ready, 30);
	int d = open(path, O_RDONLY);
	CHECK(d >= 0);

	/* A call the caller gives up on, passing no door_arg_t. */
	struct sigaction sa = { .sa_handler = on_alarm };
	CHECK_OK(sigaction(SIGALRM, &sa, NULL));
	double end = now_seconds() + 30;
	while (atomic_load(&sh->calls) == 0) {
		ualarm(200000, 0);
		int r = door_call(d, NULL);
		CHECK(r == -1 && (errno == EINTR || errno == EAGAIN));
		CHECK(now_seconds() < end);
	}
	atomic_store(&sh->gave_up, 1);
	signal(SIGALRM, SIG_DFL);
	watchdog(60);

	/* The next call is answered; the first door_return never came back. */
	char rbuf[16];
	door_arg_t a = { "y", 1, NULL, 0, rbuf, sizeof rbuf };
	CHECK_OK(door_call(d, &a));
	CHECK(a.data_size == 3 && strcmp(a.data_ptr, "ok") == 0);
	usleep(200000); /* time for a door_return that came back to say so */
	if (atomic_load(&sh->returned)) {
		fprintf(stderr, "FAIL %s: door_return for a caller that gave up came back: %s\n", test_name, strerror(atomic_load(&sh->err)));
		exit(1);
	}
	CHECK_OK(close(d));
	kill_and_reap(server);
	CHECK_OK(fdetach(path));
	PASS();
}
