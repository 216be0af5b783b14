/* Descriptor exhaustion on either side of a door (doors-spec §4.3, §4.4,
 * §7.8). A side fills its table by lowering RLIMIT_NOFILE and opening
 * /dev/null until EMFILE; descriptors are counted with fcntl, which needs
 * none.
 *
 * Part A, the client's table is full:
 * - results with a descriptor: door_call fails with EMFILE, no descriptor
 *   is half-received, and the server's DOOR_RELEASE copy is closed; so do
 *   large results, whose buffer comes as a descriptor;
 * - calls without descriptors still work, and door_info still names the
 *   live server;
 * - a call from a thread with no channel yet, and an open() of the path,
 *   fail with EMFILE;
 * - once three descriptors are freed, results with a descriptor arrive;
 *   once all are, large results too.
 *
 * Part B, the server's table is full:
 * - calls without descriptors on an open channel still work;
 * - a call passing a descriptor fails with EMFILE (illumos: the server
 *   could not install it), and the caller's DOOR_RELEASE copy is closed;
 *   so does a call with a large argument, whose buffer comes as a
 *   descriptor;
 * - a new client's open() of the path and a new client thread's first call
 *   fail with EMFILE instead of hanging or reporting a dead door, and
 *   door_info still names the live server;
 * - once the server frees its descriptors, all of it works again (the large
 *   argument too), and the server has no descriptor more than before. */
#include "door_test.h"

#include <sys/resource.h>

#define LIMIT 256 /* the lowered RLIMIT_NOFILE */
#define SETTLE 20.0

static char path[512];
static struct gate ready;

static int fillers[LIMIT], nfillers;

/* Fills this process's descriptor table; returns how many it opened. */
static int fill_table(void)
{
	struct rlimit rl;
	CHECK_OK(getrlimit(RLIMIT_NOFILE, &rl));
	rl.rlim_cur = LIMIT;
	CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));
	int fd;
	while ((fd = open("/dev/null", O_RDONLY)) >= 0) {
		CHECK(nfillers < LIMIT);
		fillers[nfillers++] = fd;
	}
	CHECK(errno == EMFILE);
	return nfillers;
}

/* Frees `n` of the fillers (all if n < 0), and the limit with them. */
static void free_table(int n)
{
	while (nfillers > 0 && n-- != 0)
		close(fillers[--nfillers]);
	if (nfillers == 0) {
		struct rlimit rl;
		CHECK_OK(getrlimit(RLIMIT_NOFILE, &rl));
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));
	}
}

/* Requests: 'd' returns a DOOR_RELEASE descriptor; 'p' closes what it was
 * passed and returns how many; 'F'/'E' fill and empty the server's table;
 * anything else returns the server's descriptor count. */
static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie;
	int r = 0;
	switch (size > 0 ? argp[0] : 0) {
	case 'd': {
		door_desc_t d;
		d.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
		d.d_data.d_desc.d_descriptor = open("/dev/null", O_RDONLY);
		CHECK(d.d_data.d_desc.d_descriptor >= 0);
		door_return("ok", 2, &d, 1);
		abort();
	}
	case 'B': { /* a large result, which travels in a buffer shared once */
		static char big[1 << 20];
		door_return(big, sizeof big, NULL, 0);
		abort();
	}
	case 'p':
		for (uint_t i = 0; i < n; i++)
			close(dp[i].d_data.d_desc.d_descriptor);
		r = (int)n;
		break;
	case 'F':
		r = fill_table();
		break;
	case 'E':
		free_table(-1);
		r = count_fds();
		break;
	default:
		r = count_fds();
	}
	door_return((char *)&r, sizeof r, NULL, 0);
}

static int ask(int fd, char op)
{
	int r = -1;
	CHECK(call_door(fd, &op, 1, &r, sizeof r) == sizeof r);
	return r;
}

/* The server's descriptor count, asked through door *fd. */
static int server_fds(void *fd)
{
	return ask(*(int *)fd, 'q');
}

/* Waits for the server to close what it dropped: its count back to `want`. */
static void server_settles(int fd, int want, const char *when)
{
	char what[128];
	snprintf(what, sizeof what, "the server's descriptor count %s", when);
	await_value(server_fds, &fd, want, SETTLE, what);
}

/* door_info must name the live server `pid`, not a dead door. */
static void check_live(int fd, pid_t pid)
{
	door_info_t di;
	CHECK_OK(info_of(fd, &di));
	CHECK(di.di_target == pid && !(di.di_attributes & DOOR_REVOKED));
}

/* A first call from a thread with no channel to the door. */
struct first_call { int fd; long rc; int err; };
static void *first_call_thread(void *p)
{
	struct first_call *fc = p;
	errno = 0;
	fc->rc = call_door(fc->fd, "q", 1, NULL, 0);
	fc->err = errno;
	return NULL;
}
static void first_call(int fd, long want_rc, int want_errno)
{
	struct first_call fc = { fd, 0, 0 };
	pthread_t t;
	CHECK(pthread_create(&t, NULL, first_call_thread, &fc) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	if (fc.rc != want_rc || (want_rc == -1 && fc.err != want_errno)) {
		fprintf(stderr, "FAIL %s: a new thread's first call returned %ld errno %d (%s), wanted %ld errno %d\n",
		    test_name, fc.rc, fc.err, strerror(fc.err), want_rc, want_errno);
		exit(1);
	}
}

/* Part A, in a child. */
static void full_client(void *arg)
{
	pid_t s = *(pid_t *)arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	/* door_info goes through the server's control thread, which is past
	 * closing its side of our open's connection once it answers. */
	check_live(fd, s);
	int before = least_value(server_fds, &fd, 0.3);
	int unfilled = count_fds();
	fill_table();
	int mine = count_fds();
	char rbuf[256];
	door_arg_t a = { "d", 1, NULL, 0, rbuf, sizeof rbuf };
	CHECK_ERR(door_call(fd, &a), EMFILE);
	fds_back(mine, 10, "client");   /* dropped descriptors may close on the reaper thread */
	/* Nothing is left behind in the server. It may have given up the
	 * channel whose reply we could not take (one descriptor fewer, about
	 * one run in ten here; the next call opens a new one), so the count
	 * may also come back lower. */
	double end = now_seconds() + SETTLE;
	while (ask(fd, 'q') > before)
		CHECK(now_seconds() < end);
	check_live(fd, s);
	CHECK_ERR(open(path, O_RDONLY), EMFILE);
	first_call(fd, -1, EMFILE);
	fds_back(mine, 10, "client");   /* dropped descriptors may close on the reaper thread */
	/* The lost buffer may have been the server's new one for results, so
	 * the channel is given up: fewer descriptors, none half-received. */
	CHECK_ERR(call_door(fd, "B", 1, NULL, 0), EMFILE);
	CHECK(count_fds() < mine);

	free_table(3);
	a = (door_arg_t){ "d", 1, NULL, 0, rbuf, sizeof rbuf };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.desc_num == 1 && a.data_size == 2);
	door_desc_t d;
	memcpy(&d, a.desc_ptr, sizeof d);
	CHECK_OK(close(d.d_data.d_desc.d_descriptor));
	free_table(-1);
	first_call(fd, sizeof(int), 0);
	CHECK(call_door(fd, "B", 1, NULL, 0) == 1 << 20);
	fds_back(unfilled, 10, "client");
	close(fd);
}

int main(void)
{
	test_name = "fault_fd_exhaustion";
	watchdog(100);
	char *dir = test_dir();
	snprintf(path, sizeof path, "%s/door", dir);
	gate_init(&ready);
	pid_t s = spawn_tied(serve_attached, &(struct attached){ path, server_proc, &ready });
	gate_wait_within(&ready, 20);

	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	/* door_info goes through the server's control thread, which is past
	 * closing its side of our open's connection once it answers. */
	check_live(fd, s);
	int before = least_value(server_fds, &fd, 0.3);
	/* This process is part B's client: its count comes back too (a
	 * channel it gives up is reopened by its next call). */
	int mine = count_fds();

	/* Part A. */
	pid_t c = spawn_tied(full_client, &s);
	reap_ok_within(c, 60, "the client with a full table");

	/* Part B, once the server has dropped what the client had. */
	server_settles(fd, before, "after part A");
	CHECK(ask(fd, 'F') > 0);
	CHECK(ask(fd, 'q') == LIMIT);
	int passed = open("/dev/null", O_RDONLY);
	CHECK(passed >= 0);
	door_desc_t d;
	d.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
	d.d_data.d_desc.d_descriptor = passed;
	char rbuf[64];
	door_arg_t a = { "p", 1, &d, 1, rbuf, sizeof rbuf };
	CHECK_ERR(door_call(fd, &a), EMFILE);
	CHECK(fcntl(passed, F_GETFD) == -1 && errno == EBADF);
	/* A large argument travels in a buffer shared once per channel, which
	 * the server cannot receive now either. */
	static char big[1 << 20];
	big[0] = 'q';
	CHECK_ERR(call_door(fd, big, sizeof big, NULL, 0), EMFILE);
	server_settles(fd, LIMIT, "after a refused large argument");
	check_live(fd, s);
	first_call(fd, -1, EMFILE);
	double t0 = now_seconds();
	CHECK_ERR(open(path, O_RDONLY), EMFILE);
	double open_time = now_seconds() - t0;
	/* (A fresh-clone CI run once saw the count one short at this point,
	 * not reproduced since: the table must be full again, not at once.) */
	server_settles(fd, LIMIT, "after a refused open");

	ask(fd, 'E');
	int fresh = open(path, O_RDONLY);
	CHECK(fresh >= 0);
	CHECK(ask(fresh, 'q') > 0);
	first_call(fd, sizeof(int), 0);
	passed = open("/dev/null", O_RDONLY);
	d.d_data.d_desc.d_descriptor = passed;
	a = (door_arg_t){ "p", 1, &d, 1, rbuf, sizeof rbuf };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_size == sizeof(int) && *(int *)a.data_ptr == 1);
	CHECK(fcntl(passed, F_GETFD) == -1);
	CHECK(call_door(fd, big, sizeof big, NULL, 0) == sizeof(int));
	close(fresh);
	server_settles(fd, before, "after part B");
	fds_back(mine, 10, "the driver, part B's client");
	printf("%s: open() refused by a full server in %.1f ms\n", test_name, open_time * 1e3);
	close(fd);
	kill_and_reap(s);
	PASS();
}
