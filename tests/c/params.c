/* door_getparam/door_setparam and the limits they set on requests
 * (doors-spec §4.1 initial parameters, §4.3 errno and order, §4.9, §5.5):
 *  - defaults: DATA_MAX SIZE_MAX, DATA_MIN 0, DESC_MAX INT_MAX (0 with
 *    DOOR_REFUSE_DESC); a client process reads the server's values;
 *  - door_setparam errors: unknown parameter, DATA_MIN above DATA_MAX and
 *    DATA_MAX below DATA_MIN: EINVAL; DESC_MAX above INT_MAX: ERANGE;
 *    non-zero DESC_MAX on a DOOR_REFUSE_DESC door: ENOTSUP; another
 *    process's door: EPERM; a revoked door: EBADF; not a door: EBADF;
 *    door_getparam: unknown parameter EINVAL, not a door EBADF, a revoked
 *    door still answers;
 *  - enforcement: data below DATA_MIN or above DATA_MAX fails ENOBUFS, more
 *    descriptors than DESC_MAX fails ENFILE, the procedure never runs, and
 *    DOOR_RELEASE descriptors of such calls stay open (the checks come before
 *    translation); replies may exceed DATA_MAX (limits apply to requests);
 *  - the checks come before a server thread is chosen, in illumos' order
 *    (DATA_MIN, DATA_MAX, then DOOR_REFUSE_DESC, then DESC_MAX): a call that
 *    breaks a limit of a private door with no server thread fails at once,
 *    and too much data with a descriptor to a DOOR_REFUSE_DESC door is
 *    ENOBUFS, not ENOTSUP;
 *  - limits changed while a client already has calls going to the door
 *    apply to its next call;
 *  - a syslogd-style door with DATA_MAX 0 accepts empty pings only. */
#include "door_test.h"

static char path_a[512], path_d[512], path_r[512], path_s[512], path_p[512], path_m[512];
static struct gate ready;

#define BIG_REPLY 200000

/* In the server: how many times each procedure ran. */
static volatile long runs;

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie;
	for (uint_t i = 0; i < n; i++)
		if (dp[i].d_attributes & DOOR_DESCRIPTOR)
			close(dp[i].d_data.d_desc.d_descriptor);
	if (argp != NULL && size == 4 && memcmp(argp, "nnnn", 4) == 0) {
		/* How many other calls have run (queries are not counted). */
		long k = __atomic_load_n(&runs, __ATOMIC_SEQ_CST);
		door_return((char *)&k, sizeof k, NULL, 0);
	}
	__atomic_add_fetch(&runs, 1, __ATOMIC_SEQ_CST);
	if (argp == NULL || size == 0)
		door_return(NULL, 0, NULL, 0);   /* a ping */
	if (argp[0] == 'b') {
		/* A reply far above DATA_MAX. */
		static char big[BIG_REPLY];
		for (size_t i = 0; i < sizeof big; i++)
			big[i] = (char)(i * 7 + 3);
		door_return(big, sizeof big, NULL, 0);
	}
	/* Echo the size and the descriptor count. */
	long r[2] = { (long)size, (long)n };
	door_return((char *)r, sizeof r, NULL, 0);
}

/* Door M: its procedure changes its own limits on request. */
static int m_fd = -1;

struct set_request {
	char op;   /* 'm' */
	int param;
	size_t value;
	char pad[24];   /* 40 bytes: inside every window the test sets */
};

static void proc_m(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	struct set_request rq;
	long r[2] = { (long)size, 0 };
	_Static_assert(sizeof rq == 40, "set_request is 40 bytes");
	if (argp != NULL && size == sizeof rq && argp[0] == 'm') {
		memcpy(&rq, argp, sizeof rq);
		errno = 0;
		r[1] = door_setparam(m_fd, rq.param, rq.value) == 0 ? 0 : errno;
	}
	door_return((char *)r, sizeof r, NULL, 0);
}

static void expect_param(int d, int param, size_t want)
{
	size_t v = 12345;
	CHECK_OK(door_getparam(d, param, &v));
	if (v != want) {
		fprintf(stderr, "FAIL %s: door_getparam(%d, %d) gave %zu, wanted %zu\n", test_name, d, param, v, want);
		exit(1);
	}
}

static void server(void *arg)
{
	(void)arg;
	int a = door_create(server_proc, NULL, 0);
	int d = door_create(server_proc, NULL, 0);
	int r = door_create(server_proc, NULL, DOOR_REFUSE_DESC);
	int s = door_create(server_proc, NULL, 0);
	int x = door_create(server_proc, NULL, 0);
	int v = door_create(server_proc, NULL, 0);
	CHECK(a >= 0 && d >= 0 && r >= 0 && s >= 0 && x >= 0 && v >= 0);

	/* Defaults (§4.1). */
	expect_param(d, DOOR_PARAM_DATA_MAX, SIZE_MAX);
	expect_param(d, DOOR_PARAM_DATA_MIN, 0);
	expect_param(d, DOOR_PARAM_DESC_MAX, INT_MAX);
	expect_param(r, DOOR_PARAM_DATA_MAX, SIZE_MAX);
	expect_param(r, DOOR_PARAM_DATA_MIN, 0);
	expect_param(r, DOOR_PARAM_DESC_MAX, 0);

	/* Unknown parameters; descriptors that are not doors. */
	size_t val;
	CHECK_ERR(door_setparam(x, 0, 1), EINVAL);
	CHECK_ERR(door_setparam(x, 4, 1), EINVAL);
	CHECK_ERR(door_setparam(x, -1, 1), EINVAL);
	CHECK_ERR(door_getparam(x, 0, &val), EINVAL);
	CHECK_ERR(door_getparam(x, 4, &val), EINVAL);
	int p[2];
	CHECK_OK(pipe(p));
	CHECK_ERR(door_getparam(p[0], DOOR_PARAM_DATA_MAX, &val), EBADF);
	CHECK_ERR(door_setparam(p[0], DOOR_PARAM_DATA_MAX, 1), EBADF);
	CHECK_ERR(door_getparam(-1, DOOR_PARAM_DATA_MAX, &val), EBADF);
	CHECK_ERR(door_setparam(-1, DOOR_PARAM_DATA_MAX, 1), EBADF);
	close(p[0]);
	close(p[1]);

	/* DATA_MIN may not exceed DATA_MAX, nor DATA_MAX fall below DATA_MIN. */
	CHECK_OK(door_setparam(x, DOOR_PARAM_DATA_MAX, 100));
	CHECK_ERR(door_setparam(x, DOOR_PARAM_DATA_MIN, 101), EINVAL);
	expect_param(x, DOOR_PARAM_DATA_MIN, 0);
	CHECK_OK(door_setparam(x, DOOR_PARAM_DATA_MIN, 100));
	CHECK_ERR(door_setparam(x, DOOR_PARAM_DATA_MAX, 99), EINVAL);
	expect_param(x, DOOR_PARAM_DATA_MAX, 100);
	CHECK_OK(door_setparam(x, DOOR_PARAM_DATA_MIN, 10));
	CHECK_OK(door_setparam(x, DOOR_PARAM_DATA_MAX, 10));
	CHECK_ERR(door_setparam(x, DOOR_PARAM_DATA_MAX, 9), EINVAL);
	expect_param(x, DOOR_PARAM_DATA_MIN, 10);
	expect_param(x, DOOR_PARAM_DATA_MAX, 10);

	/* DESC_MAX: at most INT_MAX. */
	CHECK_ERR(door_setparam(x, DOOR_PARAM_DESC_MAX, (size_t)INT_MAX + 1), ERANGE);
	CHECK_ERR(door_setparam(x, DOOR_PARAM_DESC_MAX, SIZE_MAX), ERANGE);
	expect_param(x, DOOR_PARAM_DESC_MAX, INT_MAX);
	CHECK_OK(door_setparam(x, DOOR_PARAM_DESC_MAX, 0));
	CHECK_OK(door_setparam(x, DOOR_PARAM_DESC_MAX, INT_MAX));
	expect_param(x, DOOR_PARAM_DESC_MAX, INT_MAX);

	/* A door that refuses descriptors keeps DESC_MAX 0. */
	CHECK_ERR(door_setparam(r, DOOR_PARAM_DESC_MAX, 1), ENOTSUP);
	CHECK_OK(door_setparam(r, DOOR_PARAM_DESC_MAX, 0));
	expect_param(r, DOOR_PARAM_DESC_MAX, 0);

	/* A revoked door: setparam EBADF (through a dup: revoke closed the
	 * original), getparam still answers. */
	CHECK_OK(door_setparam(v, DOOR_PARAM_DATA_MAX, 77));
	int v2 = dup(v);
	CHECK(v2 >= 0);
	CHECK_OK(door_revoke(v));
	CHECK_ERR(door_setparam(v2, DOOR_PARAM_DATA_MAX, 10), EBADF);
	CHECK_ERR(door_setparam(v2, DOOR_PARAM_DESC_MAX, 1), EBADF);
	expect_param(v2, DOOR_PARAM_DATA_MAX, 77);
	expect_param(v2, DOOR_PARAM_DATA_MIN, 0);
	close(v2);

	/* The limits the client will meet. */
	CHECK_OK(door_setparam(a, DOOR_PARAM_DATA_MAX, 1000));
	CHECK_OK(door_setparam(a, DOOR_PARAM_DATA_MIN, 4));
	CHECK_OK(door_setparam(a, DOOR_PARAM_DESC_MAX, 2));
	expect_param(a, DOOR_PARAM_DATA_MAX, 1000);
	expect_param(a, DOOR_PARAM_DATA_MIN, 4);
	expect_param(a, DOOR_PARAM_DESC_MAX, 2);
	/* syslogd's door: empty pings only. */
	CHECK_OK(door_setparam(s, DOOR_PARAM_DATA_MAX, 0));
	/* The refusing door gets a data limit too (for the order of checks). */
	CHECK_OK(door_setparam(r, DOOR_PARAM_DATA_MAX, 10));
	/* A private door without threads (the default creation function binds
	 * none): limits must still be enforced. */
	int pd = door_create(server_proc, NULL, DOOR_PRIVATE);
	CHECK(pd >= 0);
	CHECK_OK(door_setparam(pd, DOOR_PARAM_DATA_MAX, 10));
	CHECK_OK(door_setparam(pd, DOOR_PARAM_DESC_MAX, 0));
	make_file(path_p, 0644);
	CHECK_OK(fattach(pd, path_p));
	m_fd = attach_new(path_m, proc_m, NULL, 0);

	make_file(path_a, 0644);
	make_file(path_d, 0644);
	make_file(path_r, 0644);
	make_file(path_s, 0644);
	CHECK_OK(fattach(a, path_a));
	CHECK_OK(fattach(d, path_d));
	CHECK_OK(fattach(r, path_r));
	CHECK_OK(fattach(s, path_s));
	gate_open(&ready);
	for (;;)
		pause();
}

/* How many calls the server's procedures have run (queries excluded). */
static long runs_of(int fd)
{
	long k = -1;
	CHECK(call_door(fd, "nnnn", 4, &k, sizeof k) == (long)sizeof k);
	return k;
}

/* The descriptor is still open and still the same file. */
static void still_open(int fd, const struct stat *was)
{
	struct stat now;
	if (fstat(fd, &now) == -1) {
		fprintf(stderr, "FAIL %s: a DOOR_RELEASE descriptor of a refused call was closed (errno %d)\n",
		    test_name, errno);
		exit(1);
	}
	CHECK(now.st_dev == was->st_dev && now.st_ino == was->st_ino);
}

static void client(void *arg)
{
	(void)arg;
	int a = open(path_a, O_RDONLY);
	int d = open(path_d, O_RDONLY);
	int r = open(path_r, O_RDONLY);
	int s = open(path_s, O_RDONLY);
	CHECK(a >= 0 && d >= 0 && r >= 0 && s >= 0);

	/* The server's values, read from another process. */
	expect_param(a, DOOR_PARAM_DATA_MAX, 1000);
	expect_param(a, DOOR_PARAM_DATA_MIN, 4);
	expect_param(a, DOOR_PARAM_DESC_MAX, 2);
	expect_param(d, DOOR_PARAM_DATA_MAX, SIZE_MAX);
	expect_param(d, DOOR_PARAM_DATA_MIN, 0);
	expect_param(d, DOOR_PARAM_DESC_MAX, INT_MAX);
	expect_param(r, DOOR_PARAM_DESC_MAX, 0);
	expect_param(s, DOOR_PARAM_DATA_MAX, 0);
	size_t val;
	CHECK_ERR(door_getparam(a, 0, &val), EINVAL);
	CHECK_ERR(door_getparam(a, 4, &val), EINVAL);

	/* Only the creating process may set them. */
	CHECK_ERR(door_setparam(a, DOOR_PARAM_DATA_MAX, 10), EPERM);
	CHECK_ERR(door_setparam(a, DOOR_PARAM_DATA_MIN, 1), EPERM);
	CHECK_ERR(door_setparam(a, DOOR_PARAM_DESC_MAX, 1), EPERM);
	CHECK_ERR(door_setparam(d, DOOR_PARAM_DATA_MAX, 10), EPERM);
	expect_param(a, DOOR_PARAM_DATA_MAX, 1000);

	long before = runs_of(a);
	char buf[2048];
	memset(buf, 'x', sizeof buf);
	long out[2];

	/* Data limits: ENOBUFS, the procedure never runs. */
	CHECK_ERR(call_door(a, buf, 3, out, sizeof out), ENOBUFS);
	CHECK_ERR(call_door(a, buf, 1001, out, sizeof out), ENOBUFS);
	CHECK_ERR(call_door(a, buf, 0, out, sizeof out), ENOBUFS);
	CHECK_ERR(call_door(a, buf, sizeof buf, out, sizeof out), ENOBUFS);
	CHECK(runs_of(a) == before);
	/* The bounds themselves are accepted. */
	CHECK(call_door(a, buf, 4, out, sizeof out) == (long)sizeof out && out[0] == 4 && out[1] == 0);
	CHECK(call_door(a, buf, 1000, out, sizeof out) == (long)sizeof out && out[0] == 1000);
	before = runs_of(a);

	/* Descriptor limit: ENFILE; DOOR_RELEASE descriptors of refused calls
	 * stay open. */
	int f[3];
	struct stat st[3];
	for (int i = 0; i < 3; i++) {
		f[i] = open("/dev/null", O_RDONLY);
		CHECK(f[i] >= 0);
		CHECK_OK(fstat(f[i], &st[i]));
	}
	door_desc_t dd[3];
	memset(dd, 0, sizeof dd);
	for (int i = 0; i < 3; i++) {
		dd[i].d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
		dd[i].d_data.d_desc.d_descriptor = f[i];
	}
	char rb[64];
	door_arg_t da = { buf, 8, dd, 3, rb, sizeof rb };
	CHECK_ERR(door_call(a, &da), ENFILE);
	for (int i = 0; i < 3; i++)
		still_open(f[i], &st[i]);
	/* Within DESC_MAX but below DATA_MIN: ENOBUFS, still open. */
	door_arg_t db = { buf, 2, dd, 1, rb, sizeof rb };
	CHECK_ERR(door_call(a, &db), ENOBUFS);
	still_open(f[0], &st[0]);
	/* Above DATA_MAX with too many descriptors: ENOBUFS (checked first). */
	door_arg_t dc = { buf, 1500, dd, 3, rb, sizeof rb };
	CHECK_ERR(door_call(a, &dc), ENOBUFS);
	for (int i = 0; i < 3; i++)
		still_open(f[i], &st[i]);
	CHECK(runs_of(a) == before);
	/* Two descriptors are allowed, and DOOR_RELEASE then closes them. */
	door_arg_t de = { buf, 8, dd, 2, rb, sizeof rb };
	CHECK_OK(door_call(a, &de));
	CHECK(de.data_size == sizeof out);
	memcpy(out, de.data_ptr, sizeof out);
	CHECK(out[0] == 8 && out[1] == 2);
	CHECK(fcntl(f[0], F_GETFD) == -1 && errno == EBADF);
	CHECK(fcntl(f[1], F_GETFD) == -1 && errno == EBADF);
	close(f[2]);

	/* Replies are not limited by DATA_MAX. */
	char small[16];
	door_arg_t big = { "bbbb", 4, NULL, 0, small, sizeof small };
	CHECK_OK(door_call(a, &big));
	CHECK(big.data_size == BIG_REPLY);
	CHECK(big.rbuf != small);
	for (size_t i = 0; i < BIG_REPLY; i++)
		if (big.data_ptr[i] != (char)(i * 7 + 3)) {
			fprintf(stderr, "FAIL %s: byte %zu of the large reply is wrong\n", test_name, i);
			exit(1);
		}
	CHECK_OK(munmap(big.rbuf, big.rsize));

	/* DATA_MAX 0: pings (no arguments) pass, data does not. */
	long pings_before = runs_of(d);   /* one counter for all doors */
	CHECK_OK(door_call(s, NULL));
	door_arg_t zero;
	memset(&zero, 0, sizeof zero);
	CHECK_OK(door_call(s, &zero));
	CHECK(zero.data_size == 0);
	CHECK_ERR(call_door(s, "x", 1, out, sizeof out), ENOBUFS);
	CHECK_ERR(call_door(s, buf, 100, out, sizeof out), ENOBUFS);
	CHECK(runs_of(d) == pings_before + 2);   /* the two pings */

	/* Order of checks: data limits before DOOR_REFUSE_DESC (§4.3). */
	int g = open("/dev/null", O_RDONLY);
	CHECK(g >= 0);
	door_desc_t gd;
	memset(&gd, 0, sizeof gd);
	gd.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
	gd.d_data.d_desc.d_descriptor = g;
	door_arg_t dr = { buf, 20, &gd, 1, rb, sizeof rb };
	CHECK_ERR(door_call(r, &dr), ENOBUFS);
	door_arg_t dr2 = { buf, 5, &gd, 1, rb, sizeof rb };
	CHECK_ERR(door_call(r, &dr2), ENOTSUP);
	CHECK(fcntl(g, F_GETFD) != -1);
	close(g);

	/* The unlimited door takes anything. */
	CHECK(call_door(d, buf, sizeof buf, out, sizeof out) == (long)sizeof out && out[0] == (long)sizeof buf);
	close(a);
	close(d);
	close(r);
	close(s);
}

static void set_limit(int fd, int param, size_t value)
{
	struct set_request rq;
	memset(&rq, 0, sizeof rq);
	rq.op = 'm';
	rq.param = param;
	rq.value = value;
	long r[2];
	CHECK(call_door(fd, &rq, sizeof rq, r, sizeof r) == (long)sizeof r);
	errno = (int)r[1];
	CHECK(r[1] == 0);
}

static void *fresh_thread_call(void *arg)
{
	/* A thread with no earlier call to the door: a new connection. */
	char buf[100];
	memset(buf, 'y', sizeof buf);
	long out[2];
	errno = 0;
	long got = call_door(*(int *)arg, buf, sizeof buf, out, sizeof out);
	return (void *)(intptr_t)(got == -1 ? errno : 0);
}

/* Limits changed between two calls of the same client thread. */
static void client_m(void *arg)
{
	(void)arg;
	int m = open(path_m, O_RDONLY);
	CHECK(m >= 0);
	char buf[100];
	memset(buf, 'x', sizeof buf);
	long out[2];
	CHECK(call_door(m, buf, 100, out, sizeof out) == (long)sizeof out && out[0] == 100);
	set_limit(m, DOOR_PARAM_DATA_MAX, 50);
	expect_param(m, DOOR_PARAM_DATA_MAX, 50);
	CHECK_ERR(call_door(m, buf, 100, out, sizeof out), ENOBUFS);
	CHECK(call_door(m, buf, 50, out, sizeof out) == (long)sizeof out && out[0] == 50);
	pthread_t t;
	void *res;
	CHECK(pthread_create(&t, NULL, fresh_thread_call, &m) == 0);
	CHECK(pthread_join(t, &res) == 0);
	CHECK((intptr_t)res == ENOBUFS);
	set_limit(m, DOOR_PARAM_DATA_MIN, 30);
	CHECK_ERR(call_door(m, buf, 29, out, sizeof out), ENOBUFS);
	CHECK(call_door(m, buf, 30, out, sizeof out) == (long)sizeof out && out[0] == 30);
	set_limit(m, DOOR_PARAM_DATA_MIN, 0);
	set_limit(m, DOOR_PARAM_DATA_MAX, SIZE_MAX);
	CHECK(call_door(m, buf, 100, out, sizeof out) == (long)sizeof out && out[0] == 100);
	CHECK(pthread_create(&t, NULL, fresh_thread_call, &m) == 0);
	CHECK(pthread_join(t, &res) == 0);
	CHECK((intptr_t)res == 0);
	/* Descriptors. */
	set_limit(m, DOOR_PARAM_DESC_MAX, 0);
	int f = open("/dev/null", O_RDONLY);
	CHECK(f >= 0);
	door_desc_t dd;
	memset(&dd, 0, sizeof dd);
	dd.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
	dd.d_data.d_desc.d_descriptor = f;
	char rb[64];
	door_arg_t da = { buf, 10, &dd, 1, rb, sizeof rb };
	CHECK_ERR(door_call(m, &da), ENFILE);
	CHECK(fcntl(f, F_GETFD) != -1);
	close(f);
	close(m);
}

/* Calls that break a limit of the thread-less private door: they must
 * fail at once rather than wait for a server thread that never comes. */
static void client_p_data(void *arg)
{
	(void)arg;
	int p = open(path_p, O_RDONLY);
	CHECK(p >= 0);
	expect_param(p, DOOR_PARAM_DATA_MAX, 10);
	char buf[11] = "0123456789";
	long out[2];
	CHECK_ERR(call_door(p, buf, 11, out, sizeof out), ENOBUFS);
	close(p);
}

static void client_p_desc(void *arg)
{
	(void)arg;
	int p = open(path_p, O_RDONLY);
	CHECK(p >= 0);
	int f = open("/dev/null", O_RDONLY);
	CHECK(f >= 0);
	door_desc_t dd;
	memset(&dd, 0, sizeof dd);
	dd.d_attributes = DOOR_DESCRIPTOR;
	dd.d_data.d_desc.d_descriptor = f;
	char rb[64];
	door_arg_t da = { "abc", 3, &dd, 1, rb, sizeof rb };
	CHECK_ERR(door_call(p, &da), ENFILE);
	close(p);
}

/* Runs `fn` in a client process that must finish (successfully) within
 * `seconds`; says `what` was blocked otherwise. Returns 1 if it passed. */
static int prompt_client(void (*fn)(void *), const char *what, double seconds)
{
	pid_t c = spawn_tied(fn, NULL);
	int status;
	if (!ended_within(c, seconds, &status)) {
		kill_and_reap(c);
		fprintf(stderr, "FAIL %s: %s: the call was still blocked after %.0f s (a limit violation must fail "
		    "before a server thread is chosen)\n", test_name, what, seconds);
		return 0;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "FAIL %s: %s: client ended with status 0x%x\n", test_name, what, status);
		return 0;
	}
	return 1;
}

int main(void)
{
	test_name = "params";
	watchdog(50);
	char *dir = test_dir();
	snprintf(path_a, sizeof path_a, "%s/a", dir);
	snprintf(path_d, sizeof path_d, "%s/d", dir);
	snprintf(path_r, sizeof path_r, "%s/r", dir);
	snprintf(path_s, sizeof path_s, "%s/s", dir);
	snprintf(path_p, sizeof path_p, "%s/p", dir);
	snprintf(path_m, sizeof path_m, "%s/m", dir);
	gate_init(&ready);
	pid_t s = spawn_tied(server, NULL);
	gate_wait_within(&ready, 20);
	int s_fds = count_fds_of(s);
	reap_ok_within(spawn_tied_fd_neutral(client, NULL), 30, "client");
	reap_ok_within(spawn_tied_fd_neutral(client_m, NULL), 20, "client of the door whose limits change");
	fds_back_of(s, s_fds, 10, "server, after its clients");
	int ok = prompt_client(client_p_data, "DATA_MAX on a private door with no threads", 3);
	ok &= prompt_client(client_p_desc, "DESC_MAX on a private door with no threads", 3);
	kill_and_reap(s);
	if (!ok)
		exit(1);
	PASS();
}
