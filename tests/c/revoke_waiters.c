/* Two finer points of door_revoke (doors-spec §4.3, §4.5, §5.5, §5.7):
 *
 * 1. A call to a revoked door fails with EBADF before any descriptor is
 *    translated, so descriptors it passed with DOOR_RELEASE stay open in
 *    the caller.
 * 2. door_revoke wakes the callers that are waiting for a free server
 *    thread: they fail with EBADF at once, while a call already running in
 *    the procedure finishes normally.
 *
 * The server's creation function makes no threads, and one thread of its
 * own parks with door_return, so the pool has exactly one server thread:
 * while client X's call holds it, client Y's call waits for a thread. */
#include "door_test.h"

#define MAX_WAKE 5.0 /* seconds a waiting caller may take to see the revocation */

static char path_c[512], path_e[512];
static struct gate ready;      /* S -> driver: both doors attached */
static struct gate revoke_e;   /* driver -> S: revoke E */
static struct gate revoke_c;   /* driver -> S: revoke C */
static struct gate revoked;    /* S -> driver: done */
static struct gate inside;     /* C's procedure -> driver: X's call is running */
static struct gate release;    /* driver -> C's procedure: finish X's call */
static struct gate calling;    /* Y -> driver: about to call */

static int door_c = -1, door_e = -1;

/* 'b': block until released, then "done". Else: the server's pid. */
static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp;
	/* Close whatever descriptors arrived: this test passes only /dev/null. */
	for (uint_t i = 0; i < n; i++)
		close(dp[i].d_data.d_desc.d_descriptor);
	if (argp != NULL && size == 1 && argp[0] == 'b') {
		gate_open(&inside);
		gate_wait_within(&release, 30);
		door_return("done", 5, NULL, 0);
	}
	pid_t me = getpid();
	door_return((char *)&me, sizeof me, NULL, 0);
}

static void no_threads(door_info_t *dip)
{
	(void)dip;
}

static void *pool_thread(void *arg)
{
	(void)arg;
	door_return(NULL, 0, NULL, 0);
	return NULL;
}

static void server(void *arg)
{
	(void)arg;
	door_server_create(no_threads);
	door_c = attach_new(path_c, server_proc, NULL, 0);
	door_e = attach_new(path_e, server_proc, NULL, 0);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, pool_thread, NULL) == 0);
	gate_open(&ready);
	gate_wait_within(&revoke_e, 30);
	CHECK_OK(door_revoke(door_e));
	gate_open(&revoked);
	gate_wait_within(&revoke_c, 30);
	CHECK_OK(door_revoke(door_c));
	gate_open(&revoked);
	for (;;)
		pause();
}

/* Part 1: a DOOR_RELEASE descriptor survives a call that fails with EBADF
 * because the door is revoked. */
static void release_client(void *arg)
{
	(void)arg;
	int fd = open(path_e, O_RDONLY);
	CHECK(fd >= 0);
	pid_t p;
	CHECK(call_door(fd, "p", 1, &p, sizeof p) == sizeof p);
	gate_open(&revoke_e);
	gate_wait_within(&revoked, 20);

	int victim = open("/dev/null", O_RDONLY);
	CHECK(victim >= 0);
	door_desc_t d;
	d.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
	d.d_data.d_desc.d_descriptor = victim;
	char rbuf[16];
	door_arg_t a = { "p", 1, &d, 1, rbuf, sizeof rbuf };
	CHECK_ERR(door_call(fd, &a), EBADF);
	if (fcntl(victim, F_GETFD) == -1) {
		fprintf(stderr, "FAIL %s: a DOOR_RELEASE descriptor was closed by a door_call that failed with EBADF "
		    "(revoked door)\n", test_name);
		exit(1);
	}
	close(victim);
	close(fd);
}

/* X: holds the only server thread across the revocation. */
static void client_x(void *arg)
{
	(void)arg;
	int fd = open(path_c, O_RDONLY);
	CHECK(fd >= 0);
	char out[8];
	CHECK(call_door(fd, "b", 1, out, sizeof out) == 5 && strcmp(out, "done") == 0);
	CHECK_ERR(call_door(fd, "p", 1, out, sizeof out), EBADF);
	close(fd);
}

/* Y: waits for a server thread when C is revoked. */
static void client_y(void *arg)
{
	(void)arg;
	int fd = open(path_c, O_RDONLY);
	CHECK(fd >= 0);
	gate_open(&calling);
	pid_t p;
	errno = 0;
	long r = call_door(fd, "p", 1, &p, sizeof p);
	if (r != -1 || errno != EBADF) {
		fprintf(stderr, "FAIL %s: a call waiting for a thread returned %ld errno %d (%s), wanted -1 EBADF\n",
		    test_name, r, errno, strerror(errno));
		exit(1);
	}
	close(fd);
}

int main(void)
{
	test_name = "revoke_waiters";
	watchdog(50);
	char *dir = test_dir();
	snprintf(path_c, sizeof path_c, "%s/c", dir);
	snprintf(path_e, sizeof path_e, "%s/e", dir);
	struct gate *gates[] = { &ready, &revoke_e, &revoke_c, &revoked, &inside, &release, &calling };
	for (size_t i = 0; i < sizeof gates / sizeof gates[0]; i++)
		gate_init(gates[i]);
	pid_t s = spawn_tied(server, NULL);
	gate_wait_within(&ready, 20);

	/* Both parts run even if the first fails, so that one run reports
	 * every failure. */
	int failures = 0;

	/* Part 1 (the client reports its own failure). */
	int s_fds = count_fds_of(s);
	int status = wait_within(spawn_tied_fd_neutral(release_client, NULL), 20, "release client");
	failures += !WIFEXITED(status) || WEXITSTATUS(status) != 0;

	/* Part 2: X takes the only server thread; Y waits for one. */
	pid_t x = spawn_tied_fd_neutral(client_x, NULL);
	/* Y is not run by fd_neutral: it must stay single-threaded (below). */
	gate_wait_within(&inside, 20);
	pid_t y = spawn_tied(client_y, NULL);
	gate_wait_within(&calling, 20);
	/* Y is single-threaded: once it sleeps, it is waiting in door_call. */
	double end = now_seconds() + 10;
	while (proc_state(y) != 'S') {
		CHECK(now_seconds() < end);
		usleep(2000);
	}
	gate_open(&revoke_c);
	gate_wait_within(&revoked, 20);
	/* Y must fail while X still holds the thread. */
	int woken = ended_within(y, MAX_WAKE, &status);
	if (!woken) {
		fprintf(stderr, "FAIL %s: a caller waiting for a server thread was still waiting %.0f s after "
		    "door_revoke\n", test_name, MAX_WAKE);
		failures++;
	}
	gate_open(&release);
	reap_ok_within(x, 20, "client X");
	/* Either way, Y's call must end with EBADF. */
	if (!woken)
		status = wait_within(y, 20, "client Y");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Less four by design: the server revoked both its doors, which closed
	 * each door's descriptor and the server's end of its pair. */
	fds_back_of(s, s_fds - 4, 10, "server, after its clients");
	kill_and_reap(s);
	if (failures)
		return 1;
	PASS();
}
