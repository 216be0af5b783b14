/* door_return never returns and resets the stack (doors-spec §5.2, §5.4,
 * §7.6): a server whose creation function makes no threads parks its main
 * thread with door_return(NULL, 0, NULL, 0), and that one thread serves
 * 100,000 calls, each starting on the same frame: the address of a local
 * variable of the procedure never changes. The creation function is called
 * with NULL by the first (non-private) door_create, before it returns. */
#include "door_test.h"

#define CALLS 100000

static char path[512];
static struct gate ready;

/* In the server. */
static long creations, creations_nonnull;   /* creation function calls */
static long creations_at_create;            /* ...made inside door_create */
static long calls;
static uintptr_t first_local, first_frame;
static pid_t first_tid;
static long local_changed, frame_changed, tid_changed;

struct report {
	long calls;
	long local_changed, frame_changed, tid_changed;
	pid_t tid, pid;
	long creations_at_create, creations_nonnull;
};

/* The creation function: it creates no threads, only counts. */
static void no_threads(door_info_t *dip)
{
	creations++;
	if (dip != NULL)
		creations_nonnull++;
}

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	/* A local whose address the compiler must materialise on the stack. */
	volatile char local = 0;
	uintptr_t here = (uintptr_t)&local;
	uintptr_t frame = (uintptr_t)__builtin_frame_address(0);
	pid_t tid = thread_id();
	if (argp != NULL && size == 1 && argp[0] == 'q') {
		struct report r = { calls, local_changed, frame_changed, tid_changed, tid, getpid(),
			creations_at_create, creations_nonnull };
		door_return((char *)&r, sizeof r, NULL, 0);
	}
	/* Only one thread ever runs here, so plain variables are enough. */
	if (calls == 0) {
		first_local = here;
		first_frame = frame;
		first_tid = tid;
	} else {
		local_changed += here != first_local;
		frame_changed += frame != first_frame;
		tid_changed += tid != first_tid;
	}
	calls++;
	door_return((char *)&calls, sizeof calls, NULL, 0);
}

static void server(void *arg)
{
	(void)arg;
	door_server_func_t *old = door_server_create(no_threads);
	CHECK(old != NULL && old != no_threads);
	CHECK(door_server_create(no_threads) == no_threads);
	CHECK(creations == 0);
	int d = door_create(server_proc, NULL, 0);
	CHECK(d >= 0);
	creations_at_create = creations;
	CHECK_OK(fattach(d, path));
	gate_open(&ready);
	/* The main thread becomes the only server thread. */
	door_return(NULL, 0, NULL, 0);
	fprintf(stderr, "FAIL %s: door_return(NULL, 0, NULL, 0) returned: errno %d\n", test_name, errno);
	_exit(1);
}

/* The client: the calls, then the report; on a scenario thread of the
 * test's (fd_neutral), so that its channel goes with it. */
static void client(void *arg)
{
	pid_t s = *(pid_t *)arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	double t0 = now_seconds();
	for (long i = 1; i <= CALLS; i++) {
		long got = 0;
		CHECK(call_door(fd, "c", 1, &got, sizeof got) == sizeof got);
		if (got != i) {
			fprintf(stderr, "FAIL %s: call %ld was the server's call %ld\n", test_name, i, got);
			exit(1);
		}
		/* Keep well inside the watchdog even on a slow machine. */
		CHECK(now_seconds() - t0 < 45);
	}
	struct report r;
	CHECK(call_door(fd, "q", 1, &r, sizeof r) == sizeof r);
	CHECK(r.calls == CALLS);
	if (r.local_changed || r.frame_changed || r.tid_changed) {
		fprintf(stderr, "FAIL %s: over %d calls the local's address changed %ld times, the frame %ld times, "
		    "the serving thread %ld times\n", test_name, CALLS, r.local_changed, r.frame_changed, r.tid_changed);
		exit(1);
	}
	/* The one serving thread is the server's main thread. */
	CHECK(r.pid == s && r.tid == s);
	/* The creation function ran once, with NULL, inside door_create. */
	CHECK(r.creations_at_create == 1);
	CHECK(r.creations_nonnull == 0);
	close(fd);
}

int main(void)
{
	test_name = "stack_depth";
	watchdog(55);
	char *dir = test_dir();
	snprintf(path, sizeof path, "%s/door", dir);
	make_file(path, 0644);
	gate_init(&ready);
	pid_t s = spawn_tied(server, NULL);
	gate_wait_within(&ready, 20);
	/* Both counts come back: the client's, and the server's once its one
	 * thread has read the end of file of the client's channel. */
	int s_fds = count_fds_of(s);
	fd_neutral("client", client, &s);
	fds_back_of(s, s_fds, 10, "server, after the client");
	kill_and_reap(s);
	PASS();
}
