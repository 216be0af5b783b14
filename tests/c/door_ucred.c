/* door_ucred and door_cred (doors-spec §4.10, §5.10, §7.11): inside a call
 * they report the immediate caller's pid and its real, effective and saved
 * ids and groups as of the call (clients switch ids after their first
 * call), in both door_ucred forms (a new record; the caller's record) and
 * in door_cred (dc_resv untouched). They fail with EINVAL, leaving *info
 * alone, outside a call, after the client was interrupted by a signal, and
 * after the client was killed; a control call through the same path
 * succeeds. The server checks what door_ucred says against what the
 * client says of itself; the driver checks the pids. */
#include "cred_test.h"

static char path[512];
static struct gate ready;    /* server -> driver: attached */
static struct gate inside;   /* 'g' procedure -> driver: running */
static struct gate go;       /* driver -> 'g' procedure: look now */
static struct gate report;   /* 'g' procedure -> driver: what it saw */
static struct gate gave_up;  /* client -> driver: door_call gave EINTR */
static struct gate release;  /* driver -> client: exit */

struct request {
	char op;         /* 'c': compare with `want`; 'g': wait for the driver */
	struct ids want; /* the caller's own account of itself */
};

/* What a 'g' procedure saw after the driver opened `go`. */
struct seen {
	int ucred_rc, ucred_errno, left_alone;
	int cred_rc, cred_errno;
	pid_t pid;
};

/* 'c': door_ucred (both forms) and door_cred must say exactly `want`. */
static void compare(const struct ids *want, char *why, size_t n)
{
	ucred_t *fresh = NULL;
	if (door_ucred(&fresh) != 0 || fresh == NULL) {
		snprintf(why, n, "door_ucred(new): errno %d", errno);
		return;
	}
	int same = ucred_is(fresh, want, why, n);
	ucred_free(fresh);
	if (!same)
		return;

	ucred_t *buf = malloc(ucred_size());
	CHECK(buf != NULL);
	memset(buf, 0xA5, ucred_size());
	ucred_t *mine = buf;
	if (door_ucred(&mine) != 0 || mine != buf) {
		snprintf(why, n, "door_ucred(own record): errno %d, record %s", errno, mine == buf ? "kept" : "replaced");
		free(buf);
		return;
	}
	same = ucred_is(mine, want, why, n);
	ucred_free(buf);
	if (!same)
		return;

	door_cred_t dc;
	memset(&dc, 0xA5, sizeof dc);
	if (door_cred(&dc) != 0) {
		snprintf(why, n, "door_cred: errno %d", errno);
		return;
	}
	if (dc.dc_euid != want->uid[1] || dc.dc_egid != want->gid[1] || dc.dc_ruid != want->uid[0] ||
	    dc.dc_rgid != want->gid[0] || dc.dc_pid != want->pid) {
		snprintf(why, n, "door_cred: euid %u egid %u ruid %u rgid %u pid %d", (unsigned)dc.dc_euid,
		    (unsigned)dc.dc_egid, (unsigned)dc.dc_ruid, (unsigned)dc.dc_rgid, (int)dc.dc_pid);
		return;
	}
	for (int i = 0; i < 4; i++) {
		if (dc.dc_resv[i] != (int)0xA5A5A5A5) {
			snprintf(why, n, "door_cred wrote dc_resv[%d]", i);
			return;
		}
	}
	errno = 0;
	if (door_ucred(NULL) != -1 || errno != EFAULT || door_cred(NULL) != -1 || errno != EFAULT) {
		snprintf(why, n, "a NULL argument did not give EFAULT");
		return;
	}
	snprintf(why, n, "ok");
}

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	if (argp == NULL || size != sizeof(struct request))
		door_return(NULL, 0, NULL, 0);
	struct request *req = (struct request *)argp;
	if (req->op == 'c') {
		char why[200];
		compare(&req->want, why, sizeof why);
		door_return(why, strlen(why) + 1, NULL, 0);
	}
	/* 'g' */
	gate_open(&inside);
	gate_wait_within(&go, 20);
	struct seen s = { 0 };
	ucred_t *uc = NULL;
	errno = 0;
	s.ucred_rc = door_ucred(&uc);
	s.ucred_errno = errno;
	s.left_alone = s.ucred_rc == -1 && uc == NULL;
	s.pid = s.ucred_rc == 0 ? ucred_getpid(uc) : -1;
	ucred_free(uc);
	door_cred_t dc;
	errno = 0;
	s.cred_rc = door_cred(&dc);
	s.cred_errno = errno;
	send_val(&report, &s, sizeof s);
	door_return(NULL, 0, NULL, 0);
}

/* Calls 'c' on `fd` with this process's own account of itself. */
static void call_compare(int fd)
{
	static struct request req;
	req.op = 'c';
	my_ids(&req.want);
	char why[200] = "";
	CHECK(call_door(fd, &req, sizeof req, why, sizeof why) > 0);
	if (strcmp(why, "ok") != 0) {
		fprintf(stderr, "FAIL %s: pid %d: server says: %s\n", test_name, (int)getpid(), why);
		exit(1);
	}
}

/* Outside any call: EINVAL, and *info left alone. */
static void outside_a_call(void)
{
	ucred_t *uc = NULL;
	CHECK_ERR(door_ucred(&uc), EINVAL);
	CHECK(uc == NULL);
	ucred_t *buf = malloc(ucred_size());
	CHECK(buf != NULL);
	uc = buf;
	CHECK_ERR(door_ucred(&uc), EINVAL);
	CHECK(uc == buf);
	free(buf);
	door_cred_t dc;
	CHECK_ERR(door_cred(&dc), EINVAL);
}

static void server(void *arg)
{
	(void)arg;
	int d = attach_new(path, server_proc, NULL, 0);
	outside_a_call();
	/* A call from within the server process itself. */
	call_compare(d);
	outside_a_call();
	gate_open(&ready);
	for (;;)
		pause();
}

/* Clients. Each opens the door and calls once as root, so its channel is
 * made before it switches ids: what counts is who calls, not who opened. */
struct plan {
	uid_t uid[3];
	gid_t gid[3];
	int ngroups;
	gid_t groups[MAX_TEST_GROUPS];
};

static void *compare_thread(void *fd)
{
	call_compare((int)(intptr_t)fd);
	return NULL;
}

/* `arg`: a plan to switch to after the first call, or NULL to stay. */
static void switching_client(void *arg)
{
	const struct plan *p = arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	call_compare(fd);
	if (p != NULL) {
		become(p->uid[0], p->uid[1], p->uid[2], p->gid[0], p->gid[1], p->gid[2], p->ngroups, p->groups);
		call_compare(fd);
	}
	/* And from a second thread, whose channel is made under these ids. */
	pthread_t t;
	CHECK(pthread_create(&t, NULL, compare_thread, (void *)(intptr_t)fd) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	close(fd);
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* 'g' call; `interrupt`: expect EINTR from the driver's signal, say so,
 * and stay alive until released. */
static void gated_client(void *arg)
{
	int interrupt = arg != NULL;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	static struct request req;
	req.op = 'g';
	long r = call_door(fd, &req, sizeof req, NULL, 0);
	if (!interrupt) {
		CHECK(r == 0);
		close(fd);
		return;
	}
	CHECK(r == -1 && errno == EINTR);
	gate_open(&gave_up);
	gate_wait_within(&release, 20);
	close(fd);
}

static struct seen seen_by_procedure(void)
{
	struct seen s;
	gate_open(&go);
	recv_within(&report, &s, sizeof s, 10);
	return s;
}

static void expect_no_caller(struct seen s)
{
	CHECK(s.ucred_rc == -1 && s.ucred_errno == EINVAL && s.left_alone);
	CHECK(s.cred_rc == -1 && s.cred_errno == EINVAL);
}

int main(void)
{
	test_name = "door_ucred";
	watchdog(60);
	char *dir = test_dir();
	snprintf(path, sizeof path, "%s/door", dir);
	gate_init(&ready);
	gate_init(&inside);
	gate_init(&go);
	gate_init(&report);
	gate_init(&gave_up);
	gate_init(&release);
	outside_a_call();
	pid_t srv = spawn_tied(server, NULL);
	gate_wait_within(&ready, 10);

	/* The caller as it is: root here, or whoever runs the test. */
	int s_fds = count_fds_of(srv);
	pid_t c = spawn_tied_fd_neutral(switching_client, NULL);
	reap_ok_within(c, 20, "client");

	if (am_root()) {
		static struct plan plans[] = {
			{ { 21, 22, 23 }, { 11, 12, 13 }, 3, { 100, 200, 300 } },
			{ { 65534, 65534, 65534 }, { 65534, 65534, 65534 }, 0, { 0 } },
			{ { 1000, 0, 1000 }, { 1000, 1000, 0 }, 1, { 27 } },
			{ { 7, 8, 9 }, { 10, 11, 12 }, 1000, { 0 } },
		};
		for (int i = 0; i < plans[3].ngroups; i++)
			plans[3].groups[i] = (gid_t)(40000 + 3 * i);
		for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++) {
			c = spawn_tied_fd_neutral(switching_client, &plans[i]);
			reap_ok_within(c, 20, "switching client");
		}
	} else {
		printf("%s: not root: the clients that switch ids were skipped\n", test_name);
	}

	/* Control: through the gate, with the client waiting: its pid. */
	c = spawn_tied_fd_neutral(gated_client, NULL);
	gate_wait_within(&inside, 10);
	struct seen s = seen_by_procedure();
	CHECK(s.ucred_rc == 0 && s.cred_rc == 0 && s.pid == c);
	reap_ok_within(c, 10, "control client");

	/* The client is interrupted by a signal while the procedure runs. A
	 * signal that lands before the client waits only runs its handler, so
	 * signal until the call gives up. */
	c = spawn_tied(gated_client, (void *)1);
	gate_wait_within(&inside, 10);
	double end = now_seconds() + 10;
	for (;;) {
		CHECK_OK(kill(c, SIGUSR1));
		struct pollfd p = { gave_up.fd[0], POLLIN, 0 };
		int r = poll(&p, 1, 20);
		CHECK(r >= 0 || errno == EINTR);
		if (r == 1)
			break;
		CHECK(now_seconds() < end);
	}
	gate_wait_within(&gave_up, 1);
	expect_no_caller(seen_by_procedure());
	gate_open(&release);
	reap_ok_within(c, 10, "interrupted client");

	/* The client is killed while the procedure runs. */
	c = spawn_tied(gated_client, (void *)1);
	gate_wait_within(&inside, 10);
	kill_and_reap(c);
	expect_no_caller(seen_by_procedure());

	/* The interrupted and killed clients (not run by fd_neutral: signals
	 * must reach their calling thread) left nothing in the server either. */
	fds_back_of(srv, s_fds, 10, "server, after its clients");
	kill_and_reap(srv);
	CHECK_OK(fdetach(path));
	PASS();
}
