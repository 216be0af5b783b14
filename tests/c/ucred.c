/* <ucred.h> (doors-spec §4.11, §7.11): ucred_get of this process and of
 * other processes that switched their real, effective and saved ids and
 * groups; the accessors Linux has nothing for; getpeerucred on a
 * socketpair, on unix sockets connected by such processes (still there,
 * changed since, and gone), and on descriptors it refuses; ucred_size;
 * records in caller-supplied buffers; *ucred untouched on failure. */
#include "cred_test.h"

#include <netinet/in.h>
#include <sys/un.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

/* CHECK_NULL_ERR(call, e): a call returning a pointer must fail with e. */
#define CHECK_NULL_ERR(call, e)                                                   \
	do {                                                                          \
		errno = 0;                                                                \
		const void *p_ = (call);                                                  \
		int e_ = errno;                                                           \
		if (p_ != NULL || e_ != (e)) {                                            \
			fprintf(stderr, "FAIL %s: %s:%d: %s returned %p errno %d, wanted NULL errno %d\n", \
			    test_name, __FILE__, __LINE__, #call, p_, e_, (e));                \
			exit(1);                                                              \
		}                                                                         \
	} while (0)

/* CHECK_VAL_ERR(call, v, e): the call must return v with errno e. */
#define CHECK_VAL_ERR(call, v, e)                                                 \
	do {                                                                          \
		errno = 0;                                                                \
		long long r_ = (long long)(call);                                         \
		int e_ = errno;                                                           \
		if (r_ != (long long)(v) || e_ != (e)) {                                  \
			fprintf(stderr, "FAIL %s: %s:%d: %s returned %lld errno %d, wanted %lld errno %d\n", \
			    test_name, __FILE__, __LINE__, #call, r_, e_, (long long)(v), (e)); \
			exit(1);                                                              \
		}                                                                         \
	} while (0)

static struct gate report;  /* child -> driver: its struct ids */
static struct gate release; /* driver -> child: exit now */
static struct sockaddr_un addr;
static socklen_t addr_len;

/* Children: each takes on some ids, optionally connects to the driver's
 * socket (before or after switching), reports its ids, and waits. */
struct child_plan {
	uid_t uid[3];
	gid_t gid[3];
	int ngroups;
	gid_t groups[MAX_TEST_GROUPS];
	int connect;        /* 0: no; 1: after switching; 2: before switching */
	int exit_at_once;   /* exit after reporting instead of waiting */
};

static void child(void *arg)
{
	const struct child_plan *p = arg;
	int s = -1;
	if (p->connect) {
		s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		CHECK(s >= 0);
	}
	if (p->connect == 2)
		CHECK_OK(connect(s, (struct sockaddr *)&addr, addr_len));
	become(p->uid[0], p->uid[1], p->uid[2], p->gid[0], p->gid[1], p->gid[2], p->ngroups, p->groups);
	if (p->connect == 1)
		CHECK_OK(connect(s, (struct sockaddr *)&addr, addr_len));
	struct ids m;
	my_ids(&m);
	/* One writer at a time, so a write larger than PIPE_BUF is fine. */
	CHECK(write(report.fd[1], &m, sizeof m) == (ssize_t)sizeof m);
	if (p->exit_at_once)
		_exit(0);
	gate_wait_within(&release, 30);
}

/* Starts a child with plan `p` and returns its pid and its own ids. */
static pid_t start(struct child_plan *p, struct ids *got)
{
	pid_t pid = spawn_tied(child, p);
	recv_within(&report, got, sizeof *got, 10);
	CHECK(got->pid == pid);
	return pid;
}

static void finish(pid_t pid)
{
	gate_open(&release);
	reap_ok_within(pid, 10, "child");
}

static int kernel_has_peerpidfd(void)
{
	int sv[2], pidfd = -1;
	socklen_t len = sizeof pidfd;
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	int ok = getsockopt(sv[0], SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0;
	if (ok)
		close(pidfd);
	close(sv[0]);
	close(sv[1]);
	return ok;
}

static void own_process(void)
{
	struct ids me;
	my_ids(&me);
	size_t size = ucred_size();
	CHECK(size >= sizeof(pid_t) + 6 * sizeof(uid_t) + sizeof(int));
	CHECK(ucred_size() == size);

	ucred_t *uc = ucred_get(P_MYID);
	CHECK(uc != NULL);
	CHECK_UCRED(uc, &me);
	/* What Linux has no notion of. */
	CHECK(ucred_getzoneid(uc) == 0);
	CHECK(ucred_getprojid(uc) == 3);
	CHECK_NULL_ERR(ucred_getlabel(uc), EINVAL);
	CHECK_NULL_ERR(ucred_getprivset(uc, "Effective"), EINVAL);
	CHECK_VAL_ERR(ucred_getpflags(uc, 0x0002), (uint_t)-1, EINVAL);
	ucred_free(uc);

	uc = ucred_get(getpid());
	CHECK(uc != NULL);
	CHECK_UCRED(uc, &me);
	ucred_free(uc);
	ucred_free(NULL);

	/* No record: the illumos "absent" values. */
	const gid_t *g;
	CHECK_VAL_ERR(ucred_geteuid(NULL), (uid_t)-1, EINVAL);
	CHECK_VAL_ERR(ucred_getrgid(NULL), (gid_t)-1, EINVAL);
	CHECK_VAL_ERR(ucred_getgroups(NULL, &g), -1, EINVAL);
	CHECK_VAL_ERR(ucred_getpid(NULL), -1, EINVAL);
	CHECK_VAL_ERR(ucred_getzoneid(NULL), -1, EINVAL);
	CHECK_VAL_ERR(ucred_getprojid(NULL), -1, EINVAL);

	CHECK_NULL_ERR(ucred_get(-5), EINVAL);
	/* A process that is gone. */
	pid_t gone = test_fork();
	CHECK(gone >= 0);
	if (gone == 0)
		_exit(0);
	CHECK(waitpid(gone, NULL, 0) == gone);
	CHECK_NULL_ERR(ucred_get(gone), ESRCH);
	CHECK_NULL_ERR(ucred_get(0), ESRCH);
}

static void other_processes(void)
{
	struct child_plan p = { { 21, 22, 23 }, { 11, 12, 13 }, 3, { 300, 100, 200 }, 0, 0 };
	struct ids got;
	pid_t pid = start(&p, &got);
	ucred_t *uc = ucred_get(pid);
	CHECK(uc != NULL);
	CHECK_UCRED(uc, &got);
	CHECK(ucred_getruid(uc) == 21 && ucred_geteuid(uc) == 22 && ucred_getsuid(uc) == 23);
	CHECK(ucred_getrgid(uc) == 11 && ucred_getegid(uc) == 12 && ucred_getsgid(uc) == 13);
	/* Into a record of our own, which is then reused. */
	ucred_t *buf = malloc(ucred_size());
	CHECK(buf != NULL);
	int sv[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ucred_t *into = buf;
	CHECK_OK(getpeerucred(sv[0], &into));
	CHECK(into == buf);
	close(sv[0]);
	close(sv[1]);
	ucred_free(uc);
	finish(pid);

	/* No supplementary groups: count 0 and a NULL pointer. */
	struct child_plan none = { { 65534, 65534, 65534 }, { 65534, 65534, 65534 }, 0, { 0 }, 0, 0 };
	pid = start(&none, &got);
	uc = ucred_get(pid);
	CHECK(uc != NULL);
	CHECK_UCRED(uc, &got);
	const gid_t *g = (const gid_t *)1;
	CHECK(ucred_getgroups(uc, &g) == 0 && g == NULL);
	CHECK_VAL_ERR(ucred_getgroups(uc, NULL), -1, EFAULT);
	ucred_free(uc);
	finish(pid);

	/* Many groups. */
	static struct child_plan many = { { 5, 6, 7 }, { 8, 9, 10 }, 1000, { 0 }, 0, 0 };
	for (int i = 0; i < many.ngroups; i++)
		many.groups[i] = (gid_t)(5000 + 7 * i);
	pid = start(&many, &got);
	uc = ucred_get(pid);
	CHECK(uc != NULL);
	CHECK_UCRED(uc, &got);
	ucred_free(uc);
	finish(pid);
	free(buf);
}

static void never_called(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	abort();
}

static void peers(void)
{
	struct ids me;
	my_ids(&me);
	int sv[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	ucred_t *uc = NULL;
	CHECK_OK(getpeerucred(sv[0], &uc));
	CHECK(uc != NULL);
	CHECK_UCRED(uc, &me);
	ucred_free(uc);
	ucred_t *buf = malloc(ucred_size());
	CHECK(buf != NULL);
	uc = buf;
	CHECK_OK(getpeerucred(sv[1], &uc));
	CHECK(uc == buf);
	CHECK_UCRED(uc, &me);

	/* Refused descriptors leave *ucred alone, whether NULL or a record. */
	int pfd[2];
	CHECK_OK(pipe(pfd));
	ucred_t *none = NULL;
	CHECK_ERR(getpeerucred(pfd[0], &none), ENOTSUP);
	CHECK(none == NULL);
	CHECK_ERR(getpeerucred(pfd[0], &uc), ENOTSUP);
	CHECK(uc == buf);
	CHECK_ERR(getpeerucred(-1, &none), EBADF);
	close(pfd[1]);
	CHECK_ERR(getpeerucred(pfd[1], &none), EBADF);
	close(pfd[0]);
	CHECK_ERR(getpeerucred(sv[0], NULL), EFAULT);
	int udp = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(udp >= 0);
	CHECK_ERR(getpeerucred(udp, &none), ENOTSUP);
	close(udp);
	int lone = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(lone >= 0);
	CHECK_ERR(getpeerucred(lone, &none), ENOTCONN);
	close(lone);
	/* A door descriptor: illumos' getpeerucred supports only sockets and
	 * streams, so it refuses doors too. */
	int d = door_create(never_called, NULL, 0);
	CHECK(d >= 0);
	CHECK_ERR(getpeerucred(d, &none), ENOTSUP);
	CHECK(none == NULL);
	CHECK_OK(door_revoke(d));
	close(sv[0]);
	close(sv[1]);
	free(buf);
}

/* Unix socket peers that switched ids, connecting after or before. */
static void switched_peers(void)
{
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(l >= 0);
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	int n = snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "libdoor-test-ucred-%d", (int)getpid());
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	CHECK_OK(bind(l, (struct sockaddr *)&addr, addr_len));
	CHECK_OK(listen(l, 4));
	ucred_t *none = NULL;
	CHECK_ERR(getpeerucred(l, &none), ENOTCONN);
	int full = kernel_has_peerpidfd();

	/* Connected after switching, still there: everything is known. */
	struct child_plan p = { { 31, 32, 33 }, { 41, 42, 43 }, 2, { 8, 7 }, 1, 0 };
	struct ids got;
	pid_t pid = start(&p, &got);
	int c = accept(l, NULL, NULL);
	CHECK(c >= 0);
	ucred_t *uc = NULL;
	CHECK_OK(getpeerucred(c, &uc));
	if (full) {
		CHECK_UCRED(uc, &got);
	} else {
		CHECK(ucred_getpid(uc) == pid && ucred_geteuid(uc) == 32 && ucred_getegid(uc) == 42);
		CHECK_VAL_ERR(ucred_getruid(uc), (uid_t)-1, EINVAL);
	}
	ucred_free(uc);
	close(c);
	finish(pid);

	/* Connected as root, then switched: the ids recorded at connect, and
	 * the real and saved ids unknown, since the process has changed. */
	p.connect = 2;
	pid = start(&p, &got);
	c = accept(l, NULL, NULL);
	CHECK(c >= 0);
	uc = NULL;
	CHECK_OK(getpeerucred(c, &uc));
	CHECK(ucred_getpid(uc) == pid);
	CHECK(ucred_geteuid(uc) == 0 && ucred_getegid(uc) == 0);
	CHECK_VAL_ERR(ucred_getruid(uc), (uid_t)-1, EINVAL);
	CHECK_VAL_ERR(ucred_getsuid(uc), (uid_t)-1, EINVAL);
	CHECK_VAL_ERR(ucred_getrgid(uc), (gid_t)-1, EINVAL);
	CHECK_VAL_ERR(ucred_getsgid(uc), (gid_t)-1, EINVAL);
	ucred_free(uc);
	close(c);
	finish(pid);

	/* Connected, then gone: what the kernel recorded at connect. */
	p.connect = 1;
	p.exit_at_once = 1;
	pid = start(&p, &got);
	reap_ok_within(pid, 10, "child");
	c = accept(l, NULL, NULL);
	CHECK(c >= 0);
	uc = NULL;
	CHECK_OK(getpeerucred(c, &uc));
	CHECK(ucred_getpid(uc) == pid && ucred_geteuid(uc) == 32 && ucred_getegid(uc) == 42);
	CHECK_VAL_ERR(ucred_getruid(uc), (uid_t)-1, EINVAL);
	const gid_t *g;
	CHECK(ucred_getgroups(uc, &g) == 2 && g[0] == 7 && g[1] == 8);
	ucred_free(uc);
	close(c);
	close(l);
}

int main(void)
{
	test_name = "ucred";
	watchdog(60);
	gate_init(&report);
	gate_init(&release);
	/* The process's first door_create sets up its server for the rest of
	 * its life (the pool's epoll set, the control thread's, eventfds, spare
	 * descriptors): done here, before the counts, so that peers()'s door
	 * counts only itself (revoked, it takes its descriptor and door socket). */
	int warm = door_create(never_called, NULL, 0);
	CHECK(warm >= 0);
	CHECK_OK(door_revoke(warm));
	/* The revoked door's socket (the server's end of its pair) is closed
	 * asynchronously; it was this process's only socket. */
	double end = now_seconds() + 10 * time_scale();
	for (;;) {
		int sockets = 0;
		for (int fd = 0; fd < 4096; fd++) {
			int type;
			socklen_t len = sizeof type;
			sockets += getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
		}
		if (sockets == 0)
			break;
		CHECK(now_seconds() < end);
		usleep(10000);   /* polling interval of the deadline loop */
	}
	/* Each scenario closes what it opened: its sockets, pipes and pidfds,
	 * and the connections its children made. */
	int before = count_fds();
	own_process();
	fds_back(before, 10, "own_process");
	peers();
	fds_back(before, 10, "peers");
	if (am_root()) {
		other_processes();
		fds_back(before, 10, "other_processes");
		switched_peers();
		fds_back(before, 10, "switched_peers");
	} else {
		printf("%s: not root: the tests that switch ids were skipped\n", test_name);
	}
	PASS();
}
