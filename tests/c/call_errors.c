/* The errors door_call, door_info, door_revoke and door_create report for
 * bad arguments (doors-spec §4.1, §4.3, §4.5, §4.6): EBADF for descriptors
 * that are not doors, for closed descriptors, -1 and revoked doors; E2BIG
 * for more than 1024 descriptors, consuming none of them; EINVAL for
 * attributes door_create does not accept; EBADF for DOOR_QUERY from a
 * thread bound to no door. A malformed descriptor list (an entry without
 * DOOR_DESCRIPTOR) to a revoked door fails with EBADF, not EINVAL, and
 * leaves its DOOR_RELEASE descriptors open (illumos checks the door before
 * it translates descriptors); to a live door it fails with EINVAL and
 * releases them. The server and its clients are separate processes. */
#include "door_test.h"

static char path[512];
/* Server -> driver: attached. Driver -> server: revoke now. Server ->
 * driver: revoked. */
static struct gate ready, do_revoke, revoked;

/* 'q': report what door_info(DOOR_QUERY) does in a server thread (an
 * unbound one, in the process-wide pool). Anything else: echo. */
static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	if (argp != NULL && size == 1 && argp[0] == 'q') {
		door_info_t di;
		errno = 0;
		int out[2];
		out[0] = door_info(DOOR_QUERY, &di);
		out[1] = errno;
		door_return((char *)out, sizeof out, NULL, 0);
	}
	door_return(argp, size, NULL, 0);
}

static void server(void *arg)
{
	(void)arg;
	int d = attach_new(path, server_proc, NULL, 0);
	gate_open(&ready);
	gate_wait_within(&do_revoke, 30);
	CHECK_OK(door_revoke(d));
	gate_open(&revoked);
	/* Stay alive (so the door is revoked, not dead) until killed. */
	for (;;)
		pause();
}

/* door_call and door_info on `fd` must both fail with EBADF, and door_revoke
 * too, without closing it. */
static void not_a_door(int fd, int still_open)
{
	char rbuf[16];
	door_arg_t a = { "x", 1, NULL, 0, rbuf, sizeof rbuf };
	door_info_t di;
	CHECK_ERR(door_call(fd, &a), EBADF);
	CHECK_ERR(door_call(fd, NULL), EBADF);
	CHECK_ERR(door_info(fd, &di), EBADF);
	CHECK_ERR(door_revoke(fd), EBADF);
	if (still_open)
		CHECK(fcntl(fd, F_GETFD) != -1);
}

static void check_not_doors(void)
{
	/* A regular file. */
	char file[600];
	snprintf(file, sizeof file, "%s.plain", path);
	make_file(file, 0644);
	int f = open(file, O_RDWR);
	CHECK(f >= 0);
	not_a_door(f, 1);
	close(f);

	/* A pipe, both ends. */
	int p[2];
	CHECK_OK(pipe(p));
	not_a_door(p[0], 1);
	not_a_door(p[1], 1);
	close(p[0]);
	close(p[1]);

	/* Plain socket pairs: the seqpacket kind doors are made of, and stream. */
	int sv[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	not_a_door(sv[0], 1);
	not_a_door(sv[1], 1);
	close(sv[0]);
	close(sv[1]);
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	not_a_door(sv[0], 1);
	close(sv[0]);
	close(sv[1]);

	/* A descriptor number that was just closed, and -1 (DOOR_INVAL). */
	int c = open("/dev/null", O_RDONLY);
	CHECK(c >= 0);
	close(c);
	not_a_door(c, 0);
	CHECK(fcntl(c, F_GETFD) == -1 && errno == EBADF);
	not_a_door(-1, 0);
	not_a_door(DOOR_INVAL, 0);
}

static void check_e2big(int d)
{
	/* 1025 well-formed entries, all DOOR_RELEASE of one open descriptor:
	 * E2BIG, and since the count is checked before any descriptor is
	 * touched, that descriptor stays open (§5.5). */
	enum { N = DOOR_MAX_DESC + 1 };
	static door_desc_t descs[N];
	int victim = open("/dev/null", O_RDONLY);
	CHECK(victim >= 0);
	for (int i = 0; i < N; i++) {
		descs[i].d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
		descs[i].d_data.d_desc.d_descriptor = victim;
	}
	char rbuf[16];
	door_arg_t a = { "x", 1, descs, N, rbuf, sizeof rbuf };
	CHECK_ERR(door_call(d, &a), E2BIG);
	CHECK(fcntl(victim, F_GETFD) != -1);
	/* The arguments were left as they were. */
	CHECK(a.desc_ptr == descs && a.desc_num == N && a.rbuf == rbuf && a.rsize == sizeof rbuf);
	close(victim);

	/* The door still works. */
	char out[4];
	CHECK(call_door(d, "ok", 2, out, sizeof out) == 2 && memcmp(out, "ok", 2) == 0);
}

static void check_query(int d)
{
	/* This thread is bound to no door. */
	door_info_t di;
	CHECK_ERR(door_info(DOOR_QUERY, &di), EBADF);
	/* Nor is a server thread of the process-wide pool. */
	int out[2];
	CHECK(call_door(d, "q", 1, out, sizeof out) == (long)sizeof out);
	if (out[0] != -1 || out[1] != EBADF) {
		fprintf(stderr, "FAIL %s: door_info(DOOR_QUERY) in a server thread gave %d errno %d, wanted -1 EBADF\n",
		    test_name, out[0], out[1]);
		exit(1);
	}
}

/* door_call(d) with a malformed list: a pipe's read end marked
 * DOOR_RELEASE, and its write end without DOOR_DESCRIPTOR. Wants `want`,
 * and the read end closed (released) or not. */
static void malformed_list(int d, int want, int released)
{
	int p[2];
	CHECK_OK(pipe(p));
	door_desc_t descs[2] = {
		{ .d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE, .d_data.d_desc.d_descriptor = p[0] },
		{ .d_attributes = 0, .d_data.d_desc.d_descriptor = p[1] },
	};
	char rbuf[16];
	door_arg_t a = { "x", 1, descs, 2, rbuf, sizeof rbuf };
	CHECK_ERR(door_call(d, &a), want);
	if ((fcntl(p[0], F_GETFD) == -1) != released) {
		fprintf(stderr, "FAIL %s: a malformed list failing with %s: its DOOR_RELEASE descriptor was %s\n", test_name, strerror(want),
		    released ? "left open" : "closed");
		exit(1);
	}
	if (!released)
		CHECK_OK(close(p[0]));
	CHECK_OK(close(p[1]));
}

static void client(void *arg)
{
	(void)arg;
	check_not_doors();

	int d = open(path, O_RDONLY);
	CHECK(d >= 0);
	char out[4];
	CHECK(call_door(d, "hi", 2, out, sizeof out) == 2);

	/* door_info(d, NULL): EFAULT, not a crash. */
	CHECK_ERR(door_info(d, NULL), EFAULT);
	check_e2big(d);
	check_query(d);
	malformed_list(d, EINVAL, 1);

	/* A revoked door: EBADF for calls, with or without arguments. */
	gate_open(&do_revoke);
	gate_wait_within(&revoked, 30);
	char rbuf[16];
	door_arg_t a = { "x", 1, NULL, 0, rbuf, sizeof rbuf };
	CHECK_ERR(door_call(d, &a), EBADF);
	CHECK_ERR(door_call(d, NULL), EBADF);
	malformed_list(d, EBADF, 0);
	/* The descriptor itself is still open, and still a door. */
	door_info_t di;
	CHECK_OK(door_info(d, &di));
	CHECK(di.di_attributes & DOOR_REVOKED);
	close(d);
}

int main(void)
{
	test_name = "call_errors";
	watchdog(50);
	char *dir = test_dir();
	snprintf(path, sizeof path, "%s/door", dir);
	gate_init(&ready);
	gate_init(&do_revoke);
	gate_init(&revoked);

	/* door_create's attribute checks (§4.1), in this (the driver) process. */
	static const uint_t bad[] = {
		0x1000,                                  /* outside DOOR_CREATE_MASK */
		0x80000000u,
		DOOR_UNREF | DOOR_UNREF_MULTI,           /* both kinds of unref */
		DOOR_NO_DEPLETION_CB,                    /* door_xcreate only */
		DOOR_PRIVCREATE,                         /* door_xcreate only */
		DOOR_LOCAL,                              /* reported only */
		DOOR_REVOKED,                            /* reported only */
		DOOR_IS_UNREF,                           /* reported only */
		DOOR_DEPLETION_CB,                       /* not in any mask */
		DOOR_REFUSE_DESC | 0x1000,               /* one bad bit spoils it */
	};
	int before = count_fds();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		int r = door_create(server_proc, NULL, bad[i]);
		if (r != -1 || errno != EINVAL) {
			fprintf(stderr, "FAIL %s: door_create(attributes 0x%x) gave %d errno %d, wanted -1 EINVAL\n",
			    test_name, bad[i], r, errno);
			exit(1);
		}
	}
	/* A rejected door_create leaves no descriptor behind. */
	CHECK(count_fds() == before);

	pid_t s = spawn_tied(server, NULL);
	gate_wait_within(&ready, 20);
	int s_fds = count_fds_of(s);
	reap_ok_within(spawn_tied_fd_neutral(client, NULL), 40, "client");
	/* Less two by design: the server revoked its door during the scenario,
	 * which closed the door's descriptor and the server's end of its pair. */
	fds_back_of(s, s_fds - 2, 10, "server, after its client");
	kill_and_reap(s);
	PASS();
}
