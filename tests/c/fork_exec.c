/* fork and exec of a door server (doors-spec §4.5, §4.7, §4.9, §5.9,
 * §5.11, §7.9).
 *
 * fork  Server S has a door A (attached) and a private door P, and its
 *       main thread, bound to P with door_bind, has called A itself. S
 *       forks child C. In C:
 *       - A's door_create descriptor and a descriptor C opens through the
 *         path call S (the procedure reports S's pid, and door_ucred names C
 *         as the caller); door_info shows S and no DOOR_LOCAL;
 *       - door_revoke gives EPERM (the descriptor stays open), door_setparam
 *         EPERM, door_bind(P) EINVAL; door_getparam works;
 *       - the main thread, bound in S, gets EINVAL from door_return until
 *         door_unbind (then door_unbind gives EBADF);
 *       - door_create makes a door B that C serves from its own pool: C's
 *         own call and another process's reach C, door_info in C shows
 *         DOOR_LOCAL, in the other process not.
 *       S still owns and serves A (DOOR_LOCAL, door_setparam works), and B
 *       keeps working after S is killed.
 * exec  Server S2 has a door E (attached, and a dup without close-on-exec),
 *       and holds two descriptors of server T's door: one plain, one
 *       O_CLOEXEC. A client's call is blocked in E's procedure when S2's
 *       main thread execs this program again. The blocked call fails with
 *       EINTR; later calls on E fail with EBADF and door_info shows
 *       di_target -1 and DOOR_REVOKED (to the client, to a fresh open of the
 *       path, and to the new image itself through the dup). In the new
 *       image the plain descriptor of T's door works, the O_CLOEXEC one and
 *       door_create's descriptor are gone, and a door created there works.
 *
 * The exec'd image is this program run as
 *   <self> image <h1> <h2> <e> <e-dup> <T pid> <report fd> <release fd>
 */
#include "interrupt_test.h"

#define COOKIE_A ((void *)0xa11ce)
#define COOKIE_B ((void *)0xb0b)
#define COOKIE_E ((void *)0xe7ec)
#define COOKIE_N ((void *)0x1e55)

static char path_a[512], path_b[512], path_e[512], path_t[512];
static struct gate ready;   /* a server -> part */
static struct gate cmd;     /* part -> server main thread */
static struct gate report;  /* S, C or the image -> part */
static struct gate inside;  /* E's procedure -> part */
static struct gate release; /* part -> C or the image: exit */
static struct gate k_done;  /* client K1 -> part */

static void init_part(void)
{
	struct gate *g[] = { &ready, &cmd, &report, &inside, &release, &k_done };
	for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
		gate_init(g[i]);
	char *dir = test_dir();
	snprintf(path_a, sizeof path_a, "%s/a", dir);
	snprintf(path_b, sizeof path_b, "%s/b", dir);
	snprintf(path_e, sizeof path_e, "%s/e", dir);
	snprintf(path_t, sizeof path_t, "%s/t", dir);
}

/* What a call reports: the serving process and the caller door_ucred names. */
struct who {
	pid_t server;
	pid_t caller;
};

/* 'b': block (reporting through `inside`) until the process ends.
 * Anything else: who. */
static void who_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	if (argp != NULL && size >= 1 && argp[0] == 'b') {
		pid_t t = thread_id();
		send_val(&inside, &t, sizeof t);
		for (;;)
			pause();
	}
	struct who w = { getpid(), -1 };
	ucred_t *uc = NULL;
	if (door_ucred(&uc) == 0) {
		w.caller = ucred_getpid(uc);
		ucred_free(uc);
	}
	door_return((char *)&w, sizeof w, NULL, 0);
}

static struct who who_of(int fd)
{
	struct who w = { 0, 0 };
	long r = call_door(fd, "w", 1, &w, sizeof w);
	if (r != sizeof w) {
		fprintf(stderr, "FAIL %s: call on descriptor %d: %ld errno %d (%s)\n", test_name, fd, r, errno,
		    strerror(errno));
		exit(1);
	}
	return w;
}

static void expect_who(int fd, pid_t server, pid_t caller)
{
	struct who w = who_of(fd);
	if (w.server != server || w.caller != caller) {
		fprintf(stderr, "FAIL %s: call on descriptor %d was served by %d for caller %d; wanted %d for %d\n", test_name,
		    fd, (int)w.server, (int)w.caller, (int)server, (int)caller);
		exit(1);
	}
}

static void expect_info(int fd, pid_t target, void *cookie, int local)
{
	door_info_t di;
	CHECK_OK(info_of(fd, &di));
	if (di.di_target != target || di.di_data != (door_ptr_t)(uintptr_t)cookie ||
	    !!(di.di_attributes & DOOR_LOCAL) != local || (di.di_attributes & DOOR_REVOKED)) {
		fprintf(stderr, "FAIL %s: door_info(%d): target %d, cookie %#llx, attributes %#x; wanted target %d, cookie %p, "
		    "%sDOOR_LOCAL, not revoked\n", test_name, fd, (int)di.di_target, (unsigned long long)di.di_data,
		    di.di_attributes, (int)target, cookie, local ? "" : "no ");
		exit(1);
	}
}

/* The door behind `fd` is revoked because its server exec'd (or died).
 * `cookie` is checked unless NULL: a descriptor opened through the path
 * after the server went may not know it (doors-spec §7.4). */
static void expect_dead(int fd, void *cookie)
{
	pid_t p;
	CHECK_ERR(call_door(fd, "w", 1, &p, sizeof p), EBADF);
	door_info_t di;
	CHECK_OK(info_of(fd, &di));
	if (di.di_target != -1 || !(di.di_attributes & DOOR_REVOKED) || (di.di_attributes & DOOR_LOCAL) ||
	    (cookie != NULL && di.di_data != (door_ptr_t)(uintptr_t)cookie)) {
		fprintf(stderr, "FAIL %s: door_info(%d) of a door whose server exec'd: target %d, cookie %#llx, attributes "
		    "%#x; wanted target -1, cookie %p, DOOR_REVOKED, no DOOR_LOCAL\n", test_name, fd, (int)di.di_target,
		    (unsigned long long)di.di_data, di.di_attributes, cookie);
		exit(1);
	}
}

/* expect_who on a scenario thread (fd_neutral): the call's channel goes
 * with the thread, so that descriptor counts can be compared. */
struct who_arg { int fd; pid_t server, caller; };

static void who_scenario(void *arg)
{
	struct who_arg *w = arg;
	expect_who(w->fd, w->server, w->caller);
}

static void who_on_thread(int fd, pid_t server, pid_t caller)
{
	struct who_arg w = { fd, server, caller };
	fd_neutral("a call", who_scenario, &w);
}

/* ---- fork ---------------------------------------------------------------- */

static int fd_a = -1, fd_p = -1;

/* C: the forked child of S, in S's main thread's copy. */
static void child_checks(pid_t parent)
{
	pid_t me = getpid();
	/* Its calls are made on scenario threads, so that its channels to
	 * its parent's door go with them. */
	int c_fds = count_fds();
	/* Inherited descriptors call the parent. */
	expect_info(fd_a, parent, COOKIE_A, 0);
	who_on_thread(fd_a, parent, me);
	int opened = open(path_a, O_RDONLY);
	CHECK(opened >= 0);
	who_on_thread(opened, parent, me);
	expect_info(opened, parent, COOKIE_A, 0);
	door_info_t di;
	CHECK_OK(info_of(fd_p, &di));
	CHECK(di.di_target == parent && !(di.di_attributes & DOOR_LOCAL) && (di.di_attributes & DOOR_PRIVATE));

	/* The child is not the server. */
	CHECK_ERR(door_revoke(fd_a), EPERM);
	CHECK(fcntl(fd_a, F_GETFD) != -1);
	CHECK_ERR(door_revoke(opened), EPERM);
	CHECK(fcntl(opened, F_GETFD) != -1);
	CHECK_ERR(door_setparam(fd_a, DOOR_PARAM_DATA_MAX, 100), EPERM);
	CHECK_ERR(door_setparam(fd_p, DOOR_PARAM_DESC_MAX, 1), EPERM);
	size_t v = 0;
	CHECK_OK(door_getparam(fd_a, DOOR_PARAM_DATA_MAX, &v));
	CHECK(v == SIZE_MAX);
	CHECK_ERR(door_bind(fd_p), EINVAL);
	/* This thread was bound to P in the parent. */
	CHECK_ERR(door_return(NULL, 0, NULL, 0), EINVAL);
	CHECK_ERR(door_return(NULL, 0, NULL, 0), EINVAL);
	CHECK_OK(door_unbind());
	CHECK_ERR(door_unbind(), EBADF);
	/* Still the parent's doors, still working. */
	who_on_thread(fd_a, parent, me);
	close(opened);
	fds_back(c_fds, 10, "forked child, as its parent's client");

	/* A door of its own, served by its own pool. */
	make_file(path_b, 0644);
	int b = door_create(who_proc, COOKIE_B, 0);
	CHECK(b >= 0);
	expect_info(b, me, COOKIE_B, 1);
	/* On this thread: the channel it keeps to its own door (both ends in
	 * this process) is part of the count the part then compares with; a
	 * scenario thread's would close asynchronously on the server's side. */
	expect_who(b, me, me);
	CHECK_OK(fattach(b, path_b));
	/* Its own door is its own to change. */
	CHECK_OK(door_setparam(b, DOOR_PARAM_DATA_MAX, 4096));
	CHECK_OK(door_setparam(b, DOOR_PARAM_DATA_MAX, SIZE_MAX));
	/* Before reporting: the part counts this process's descriptors then. */
	close(release.fd[1]);
	send_val(&report, &me, sizeof me);
	/* Wait to be released (or for the test to end: end of file). */
	char c;
	if (read(release.fd[0], &c, 1) < 0)
		_exit(1);
	_exit(0);
}

static void server_s(void *arg)
{
	(void)arg;
	fd_a = attach_new(path_a, who_proc, COOKIE_A, 0);
	fd_p = door_create(who_proc, NULL, DOOR_PRIVATE);
	CHECK(fd_p >= 0);
	pid_t me = getpid();
	/* This thread calls A (so it has a channel to it) and binds to P. */
	expect_who(fd_a, me, me);
	expect_info(fd_a, me, COOKIE_A, 1);
	CHECK_OK(door_bind(fd_p));
	gate_open(&ready);
	for (;;) {
		char c;
		CHECK(read(cmd.fd[0], &c, 1) == 1);
		if (c == 'f') {
			fflush(NULL);
			pid_t k = test_fork();
			CHECK(k >= 0);
			if (k == 0)
				child_checks(me);
			continue;
		}
		/* 'i': A is still this process's door after the fork. */
		expect_info(fd_a, me, COOKIE_A, 1);
		CHECK_OK(door_setparam(fd_a, DOOR_PARAM_DATA_MAX, 4096));
		CHECK_OK(door_setparam(fd_a, DOOR_PARAM_DATA_MAX, SIZE_MAX));
		expect_who(fd_a, me, me);
		gate_open(&ready);
	}
}

static void part_fork(void)
{
	init_part();
	/* C, S's child, comes to us when S dies, so that we can reap it. */
	CHECK_OK(prctl(PR_SET_CHILD_SUBREAPER, 1));
	pid_t me = getpid();
	pid_t s = spawn_tied(server_s, NULL);
	gate_wait_within(&ready, 20);
	/* This process's calls are made on scenario threads (who_on_thread):
	 * its count comes back once it closed a and b. */
	int p_fds = count_fds(), s_fds = count_fds_of(s);
	int a = open(path_a, O_RDONLY);
	CHECK(a >= 0);
	who_on_thread(a, s, me);

	char f = 'f';
	CHECK(write(cmd.fd[1], &f, 1) == 1);
	pid_t c = 0;
	if (!readable_within(report.fd[0], 20)) {
		fprintf(stderr, "FAIL %s: the forked child did not finish its checks (see above)\n", test_name);
		exit(1);
	}
	recv_within(&report, &c, sizeof c, 1);
	CHECK(c > 0 && c != s);
	int c_fds = count_fds_of(c);

	/* The child's door, from a third process. */
	int b = open(path_b, O_RDONLY);
	CHECK(b >= 0);
	who_on_thread(b, c, me);
	expect_info(b, c, COOKIE_B, 0);
	/* The parent still serves A and owns it. */
	who_on_thread(a, s, me);
	expect_info(a, s, COOKIE_A, 0);
	char i = 'i';
	CHECK(write(cmd.fd[1], &i, 1) == 1);
	gate_wait_within(&ready, 20);
	/* S's count: the channels of this process and of C went with their
	 * threads; by design 3 door sockets more: this process's a, and C's
	 * two inherited descriptors (fd_a, fd_p), replaced at the fork by
	 * counted copies S made (Clone), which C holds until it exits. */
	fds_back_of(s, s_fds + 3, 10, "S, with a and C's two copies");

	/* The child's door does not depend on the parent. */
	kill_and_reap(s);
	for (int k = 0; k < 5; k++)
		who_on_thread(b, c, me);
	expect_info(b, c, COOKIE_B, 0);
	close(b);
	/* C's count: b's door socket and this process's channels are gone. */
	fds_back_of(c, c_fds, 10, "C, after this process's calls");
	gate_open(&release);
	reap_ok_within(c, 20, "the forked child");
	close(a);
	fds_back(p_fds, 10, "the fork part's client");
}

/* ---- exec ---------------------------------------------------------------- */

static void server_t(void *arg)
{
	(void)arg;
	attach_new(path_t, who_proc, NULL, 0);
	gate_open(&ready);
	for (;;)
		pause();
}

static void server_s2(void *arg)
{
	pid_t t = *(pid_t *)arg;
	pid_t me = getpid();
	int e = attach_new(path_e, who_proc, COOKIE_E, 0);
	CHECK(fcntl(e, F_GETFD) == FD_CLOEXEC);
	int e_dup = dup(e);
	CHECK(e_dup >= 0 && fcntl(e_dup, F_GETFD) == 0);
	int h1 = open(path_t, O_RDONLY);
	CHECK(h1 >= 0 && fcntl(h1, F_GETFD) == 0);
	int h2 = open(path_t, O_RDONLY | O_CLOEXEC);
	CHECK(h2 >= 0 && fcntl(h2, F_GETFD) == FD_CLOEXEC);
	expect_who(h1, t, me);
	expect_who(h2, t, me);
	expect_who(e_dup, me, me);
	gate_open(&ready);
	char c;
	CHECK(read(cmd.fd[0], &c, 1) == 1);
	char a[8][16];
	int v[7] = { h1, h2, e, e_dup, t, report.fd[1], release.fd[0] };
	char *argv[10] = { "fork_exec", "image" };
	for (int k = 0; k < 7; k++) {
		snprintf(a[k], sizeof a[k], "%d", v[k]);
		argv[2 + k] = a[k];
	}
	argv[9] = NULL;
	fflush(NULL);
	execv(self_exe(), argv);
	fprintf(stderr, "FAIL %s: execv: %s\n", test_name, strerror(errno));
	_exit(1);
}

/* The new image of S2. */
static int image(char **argv)
{
	test_name = "fork_exec.exec (new image)";
	watchdog(50);
	int h1 = atoi(argv[2]), h2 = atoi(argv[3]), e = atoi(argv[4]), e_dup = atoi(argv[5]);
	pid_t t = atoi(argv[6]);
	report.fd[1] = atoi(argv[7]);
	release.fd[0] = atoi(argv[8]);
	pid_t me = getpid();
	door_info_t di;
	/* Close-on-exec descriptors are gone: door_create's, and O_CLOEXEC's. */
	CHECK_ERR(door_info(e, &di), EBADF);
	CHECK_ERR(door_info(h2, &di), EBADF);
	CHECK_ERR(fcntl(h2, F_GETFD), EBADF);
	/* A descriptor of another server's door it merely held still works. */
	expect_who(h1, t, me);
	expect_info(h1, t, NULL, 0);
	/* Its own door is revoked, for itself as well. */
	CHECK(fcntl(e_dup, F_GETFD) == 0);
	expect_dead(e_dup, COOKIE_E);
	/* It can serve doors again. */
	int n = door_create(who_proc, COOKIE_N, 0);
	CHECK(n >= 0);
	expect_info(n, me, COOKIE_N, 1);
	expect_who(n, me, me);
	expect_who(h1, t, me);
	send_val(&report, &me, sizeof me);
	char c;
	if (read(release.fd[0], &c, 1) < 0)
		_exit(1);
	return 0;
}

struct k_result {
	long r;
	int e;
};

/* K1: its call is blocked in E's procedure when S2 execs. */
static void client_k1(void *arg)
{
	pid_t s2 = *(pid_t *)arg;
	int fd = open(path_e, O_RDONLY);
	CHECK(fd >= 0);
	expect_who(fd, s2, getpid());
	struct k_result k;
	memset(&k, 0, sizeof k);   /* padding too: the whole struct goes through a pipe */
	errno = 0;
	k.r = call_door(fd, "b", 1, NULL, 0);
	k.e = errno;
	send_val(&k_done, &k, sizeof k);
	EXPECT_FAIL(k.r, k.e, EINTR, "a call in progress when the server exec'd");
	expect_dead(fd, COOKIE_E);
	close(fd);
}

static void part_exec(void)
{
	init_part();
	pid_t me = getpid();
	pid_t t = spawn_tied(server_t, NULL);
	gate_wait_within(&ready, 20);
	/* T's count comes back once S2 (and its new image, which keeps h1 and
	 * calls T) has exited; this process's and K1's once they closed what
	 * they opened (their calls on scenario threads). S2's image is another
	 * program: its count is not compared with S2's. */
	int t_fds = count_fds_of(t), p_fds = count_fds();
	pid_t s2 = spawn_tied(server_s2, &t);
	gate_wait_within(&ready, 20);
	int fd = open(path_e, O_RDONLY);
	CHECK(fd >= 0);
	who_on_thread(fd, s2, me);
	pid_t k1 = spawn_tied_fd_neutral(client_k1, &s2);
	pid_t in = 0;
	recv_within(&inside, &in, sizeof in, 20);
	gate_open(&cmd); /* exec, from the main thread, while `in` serves K1 */
	/* K1's call ends (EINTR) promptly. */
	struct k_result k;
	double t0 = now_seconds();
	recv_within(&k_done, &k, sizeof k, 20);
	if (now_seconds() - t0 > 5) {
		fprintf(stderr, "FAIL %s: the call in progress took %.1f s to end after the server exec'd\n", test_name,
		    now_seconds() - t0);
		exit(1);
	}
	reap_ok_within(k1, 20, "client K1");
	pid_t img = 0;
	recv_within(&report, &img, sizeof img, 20);
	CHECK(img == s2);
	/* E is revoked for everyone: this descriptor, and a fresh open. */
	expect_dead(fd, COOKIE_E);
	int fresh = open(path_e, O_RDONLY);
	CHECK(fresh >= 0);
	expect_dead(fresh, NULL);
	close(fresh);
	close(fd);
	gate_open(&release);
	reap_ok_within(s2, 20, "the exec'd server image");
	fds_back_of(t, t_fds, 10, "T, after S2 and its image");
	fds_back(p_fds, 10, "the exec part's client");
	kill_and_reap(t);
}

static const struct part parts[] = {
	{ "fork", part_fork, "a forked child of a server is a client of its parent's doors and serves its own" },
	{ "exec", part_exec, "exec revokes the doors a process created; held descriptors survive" },
};

int main(int argc, char **argv)
{
	if (argc == 9 && strcmp(argv[1], "image") == 0)
		return image(argv);
	watchdog(55);
	int failed = run_parts("fork_exec", parts, sizeof parts / sizeof parts[0], argc, argv, 25);
	if (failed)
		return 1;
	test_name = "fork_exec";
	PASS();
}
