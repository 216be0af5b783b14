/* A client cannot forge who it is (doors-spec §4.10: door_ucred reports the
 * caller as the kernel knows it). The clients here bypass libdoor's client
 * and send hand-made Calls on their channel (wire_test.h):
 *
 * - a root client stating another process's pid and ids in SCM_CREDENTIALS
 *   (which the kernel lets root do) is refused: the server closes the
 *   channel, and the procedure never reports the other process;
 * - a root client stating ids it does not hold is refused (EINVAL inside);
 * - an unprivileged client cannot state another pid or uid at all (the
 *   kernel refuses the message, EPERM);
 * - an unprivileged client whose real and effective uid differ, stating its
 *   real uid as effective, is refused (EINVAL inside);
 * - ids claimed in the message's fields, or no credentials stated at all:
 *   door_ucred reports the truth.
 * And a hand-made Detach from someone who does not own the attached file is
 * answered EPERM by the server itself, and the attachment stays. Nor can a
 * server forge who it is: a process serving a door by hand that claims to
 * be pid 1 in its nameplate and its Info answers is reported as itself by
 * door_info's di_target. Nor can a forked child pose as its parent: it has
 * none of the parent's channel regions or bulk buffers mapped, in which
 * it could post calls the server would take for the parent's.
 *
 * Root is needed to switch ids; without it only the unprivileged cases run. */
#include "cred_test.h"
#include "wire_test.h"

#define VICTIM 4321
#define USER 1000
#define OTHER 2000

static char path[512];
static struct gate ready;

/* A process that only exists to be impersonated. */
static void victim(void *arg)
{
	(void)arg;
	become(VICTIM, VICTIM, VICTIM, VICTIM, VICTIM, VICTIM, 0, NULL);
	for (;;)
		pause();
}

/* The client's door descriptor, which honest_first opens and the client
 * closes when it is done: its descriptor count must come back
 * (spawn_tied_fd_neutral). */
static int door_fd = -1;

/* Opens the door, makes one honest call (which opens the channel) and
 * checks that it reports this process; returns the channel. */
static struct wire_channel honest_first(void)
{
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	door_fd = fd;
	struct caller_seen s;
	char c = 'x';
	CHECK(call_door(fd, &c, 1, &s, sizeof s) == sizeof s);
	CHECK(s.rc == 0 && s.pid == getpid() && s.euid == geteuid());
	return wire_find_channel();
}

/* Sends hand-made call `seq`; 1 with what the procedure saw in *s, or 0
 * when the server closed the channel. A call the kernel refuses fails the
 * test here: callers that expect that use wire_call directly. */
static int forged(const struct wire_channel *ch, uint64_t seq, const struct ucred *cred, uint64_t b, uint64_t c,
    struct caller_seen *s)
{
	char arg = 'f';
	CHECK_OK(wire_call(ch, seq, &arg, 1, cred, b, c));
	int err;
	size_t size;
	if (!wire_answer(ch, seq, &err, s, sizeof *s, &size, 20))
		return 0;
	CHECK(err == 0 && size == sizeof *s);
	return 1;
}

/* door_ucred inside must have failed with EINVAL, or reported exactly this
 * process: never anything the client stated. */
static void refused_or_true(const struct caller_seen *s)
{
	if (s->rc == -1) {
		CHECK(s->err == EINVAL);
		return;
	}
	uid_t r, e, sv;
	CHECK_OK(getresuid(&r, &e, &sv));
	if (s->pid != getpid() || s->ruid != r || s->euid != e || s->egid != getegid()) {
		fprintf(stderr, "FAIL %s: door_ucred said pid %d ruid %u euid %u egid %u; the caller is pid %d ruid %u euid %u egid %u\n",
		    test_name, (int)s->pid, (unsigned)s->ruid, (unsigned)s->euid, (unsigned)s->egid, (int)getpid(),
		    (unsigned)r, (unsigned)e, (unsigned)getegid());
		exit(1);
	}
}

/* Root states the victim's pid and ids: the kernel accepts it from root,
 * libdoor must not. */
static void root_impersonates(void *arg)
{
	pid_t v = *(pid_t *)arg;
	struct wire_channel ch = honest_first();
	struct ucred as_victim = { v, VICTIM, VICTIM };
	struct caller_seen s;
	if (wire_call(&ch, 100, "f", 1, &as_victim, 0, 0) == -1) {
		/* A root without CAP_SYS_ADMIN (a container): the kernel refused. */
		CHECK(errno == EPERM);
	} else {
		int err;
		size_t size;
		if (wire_answer(&ch, 100, &err, &s, sizeof s, &size, 20)) {
			CHECK(err == 0 && size == sizeof s);
			refused_or_true(&s);
		}
	}
	close(door_fd);
}

/* Root states its own pid with ids it does not hold. */
static void root_states_other_ids(void *arg)
{
	(void)arg;
	struct wire_channel ch = honest_first();
	struct ucred wrong_ids = { getpid(), VICTIM, VICTIM };
	struct caller_seen s;
	if (forged(&ch, 100, &wrong_ids, 0, 0, &s))
		CHECK(s.rc == -1 && s.err == EINVAL);
	close(door_fd);
}

/* An unprivileged client: the kernel refuses another pid or uid; ids in
 * the message's fields change nothing; no stated credentials: the truth. */
static void user_forges(void *arg)
{
	pid_t v = *(pid_t *)arg;
	if (am_root())
		become(USER, USER, USER, USER, USER, USER, 0, NULL);
	struct wire_channel ch = honest_first();
	struct ucred as_victim = { v, geteuid(), getegid() };
	CHECK_ERR(wire_call(&ch, 100, "f", 1, &as_victim, 0, 0), EPERM);
	struct ucred as_root = { getpid(), 0, 0 };
	if (geteuid() != 0)
		CHECK_ERR(wire_call(&ch, 101, "f", 1, &as_root, 0, 0), EPERM);
	/* No credentials stated (the kernel attaches the real ids), and uid 0
	 * and the victim's pid written in the fields a Call leaves unused. */
	struct caller_seen s;
	CHECK(forged(&ch, 102, NULL, 0, (uint64_t)v, &s));
	refused_or_true(&s);
	CHECK(s.rc == 0);
	struct ucred me = { getpid(), geteuid(), getegid() };
	CHECK(forged(&ch, 103, &me, 0, (uint64_t)v, &s));
	refused_or_true(&s);
	CHECK(s.rc == 0);
	close(door_fd);
}

/* Real uid USER, effective OTHER: it may state its real uid, which is
 * not who it is calling as. */
static void user_states_real_uid(void *arg)
{
	(void)arg;
	become(USER, OTHER, USER, USER, USER, USER, 0, NULL);
	struct wire_channel ch = honest_first();
	struct ucred real = { getpid(), USER, USER };
	struct caller_seen s;
	if (forged(&ch, 100, &real, 0, 0, &s)) {
		refused_or_true(&s);
		CHECK(s.rc == -1);
	}
	close(door_fd);
}

/* A hand-made Detach from a non-owner: the server's own check says EPERM. */
static void user_detaches(void *arg)
{
	(void)arg;
	become(USER, USER, USER, USER, USER, USER, 0, NULL);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	CHECK(strlen(path) < sizeof addr.sun_path);
	strcpy(addr.sun_path, path);
	CHECK_OK(connect(s, (struct sockaddr *)&addr, sizeof addr));
	struct wire_msg m = { WIRE_MAGIC, WIRE_KIND_DETACH, 0, 0, 0, 0, 0, 0 };
	CHECK(send(s, &m, sizeof m, MSG_NOSIGNAL) == sizeof m);
	struct pollfd p = { s, POLLIN, 0 };
	CHECK(poll(&p, 1, 20000) == 1);
	struct wire_msg answer;
	CHECK(recv(s, &answer, sizeof answer, 0) == sizeof answer);
	CHECK(answer.magic == WIRE_MAGIC && answer.kind == WIRE_KIND_OPENED && answer.d == EPERM);
	close(s);
	/* Still attached, still served. */
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	struct caller_seen seen;
	CHECK(call_door(fd, "x", 1, &seen, sizeof seen) == sizeof seen && seen.rc == 0);
	close(fd);
}

/* SCM_RIGHTS of one descriptor over a socket pair `sock`. */
static void send_fd(int sock, int fd)
{
	char byte = 0;
	struct iovec iov = { &byte, 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	memset(&control, 0, sizeof control);
	struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&h);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	CHECK(sendmsg(sock, &h, MSG_NOSIGNAL) == 1);
}

/* Receives one message of up to `n` bytes and at most one descriptor
 * (-1 in *fd if none came); returns the byte count. */
static ssize_t recv_with_fd(int sock, void *buf, size_t n, int *fd)
{
	struct iovec iov = { buf, n };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf };
	ssize_t r = recvmsg(sock, &h, MSG_CMSG_CLOEXEC);
	*fd = -1;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&h);
	if (r >= 0 && cm != NULL && cm->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(cm), sizeof *fd);
	return r;
}

#define POSER_UNIQ 0x5eedf00d12345678ull

/* A door served by hand: the client end of a pair it made, labelled as a
 * door, with a nameplate and Info answers that claim pid 1. */
static void poser(void *arg)
{
	int to_test = *(int *)arg;
	int sv[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t plen = sizeof WIRE_LABEL_PREFIX - 1;
	memcpy(addr.sun_path, WIRE_LABEL_PREFIX, plen);
	uint64_t uniq = POSER_UNIQ, nonce = (uint64_t)getpid() << 20 ^ 0xabcdef;
	memcpy(addr.sun_path + plen, &uniq, 8);
	memcpy(addr.sun_path + plen + 8, &nonce, 8);
	CHECK_OK(bind(sv[0], (struct sockaddr *)&addr, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + 16)));
	struct wire_msg id = { WIRE_MAGIC, WIRE_KIND_IDENTITY, POSER_UNIQ, 0x401000, 7, 1, 0, 0 };
	CHECK(send(sv[1], &id, sizeof id, MSG_NOSIGNAL) == sizeof id);
	send_fd(to_test, sv[0]);
	close(sv[0]);
	for (;;) {
		struct wire_msg m;
		int reply;
		ssize_t r = recv_with_fd(sv[1], &m, sizeof m, &reply);
		if (r <= 0)
			_exit(0);
		if (r == sizeof m && m.kind == WIRE_KIND_INFO && reply >= 0) {
			struct wire_msg params = { WIRE_MAGIC, WIRE_KIND_PARAMS, 0, UINT64_MAX, 0, INT_MAX, 0, 0 };
			CHECK(send(reply, &id, sizeof id, MSG_NOSIGNAL) == sizeof id);
			CHECK(send(reply, &params, sizeof params, MSG_NOSIGNAL) == sizeof params);
		}
		if (reply >= 0)
			close(reply);
	}
}

static void server_poses(void)
{
	int sv[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
	pid_t p = spawn_tied(poser, &sv[1]);
	char byte;
	int door;
	CHECK(recv_with_fd(sv[0], &byte, 1, &door) == 1 && door >= 0);
	door_info_t info;
	CHECK_OK(door_info(door, &info));
	CHECK(info.di_uniquifier == POSER_UNIQ && info.di_proc == 0x401000 && info.di_data == 7);
	if (info.di_target != p) {
		fprintf(stderr, "FAIL %s: door_info says the server is pid %d; it is %d\n", test_name, (int)info.di_target, (int)p);
		exit(1);
	}
	close(door);
	reap_ok_within(p, 10, "posing server");
	close(sv[0]);
	close(sv[1]);
}

/* How many of this process's mappings are libdoor's channel regions or
 * bulk buffers. */
static int channel_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	CHECK(f != NULL);
	char line[512];
	int n = 0;
	while (fgets(line, sizeof line, f) != NULL)
		n += strstr(line, "libdoor-channel") != NULL || strstr(line, "libdoor-bulk") != NULL;
	fclose(f);
	return n;
}

static void forked_child(void *arg)
{
	(void)arg;
	int d = open(path, O_RDONLY);
	CHECK(d >= 0);
	static char big[2 << 20];
	door_arg_t a = { big, sizeof big, NULL, 0, NULL, 0 }; /* brings a bulk buffer */
	CHECK_OK(door_call(d, &a));
	CHECK(channel_mappings() >= 2);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0)
		_exit(channel_mappings() == 0 ? 0 : 1);
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "FAIL %s: a forked child has its parent's channel region or bulk buffer mapped\n", test_name);
		exit(1);
	}
	if (a.rbuf != NULL)
		munmap(a.rbuf, a.rsize);
	CHECK_OK(close(d));
}

int main(void)
{
	test_name = "cred_forgery";
	watchdog(90);
	char *dir = test_dir();
	snprintf(path, sizeof path, "%s/door", dir);
	gate_init(&ready);
	pid_t srv = spawn_tied(serve_attached, &(struct attached){ path, report_caller, &ready });
	gate_wait_within(&ready, 10);
	pid_t v = am_root() ? spawn_tied(victim, NULL) : getppid();

	/* This process is the posing server's client: whatever door_info
	 * opened to ask it must be closed again. */
	int before = count_fds();
	server_poses();
	fds_back(before, 10, "the posing server's client");
	/* Every client's count comes back (its channel, refused or not, goes
	 * with its scenario thread), and so does the server's after each
	 * client, whether the server closed the channel as forged or the
	 * client's exit did. */
	int s_fds = count_fds_of(srv);
	reap_ok_within(spawn_tied(forked_child, NULL), 30, "a client that forks");
	fds_back_of(srv, s_fds, 10, "server, after the client that forks");
	reap_ok_within(spawn_tied_fd_neutral(user_forges, &v), 30, "unprivileged forger");
	fds_back_of(srv, s_fds, 10, "server, after the unprivileged forger");
	if (am_root()) {
		reap_ok_within(spawn_tied_fd_neutral(root_impersonates, &v), 30, "root impersonator");
		fds_back_of(srv, s_fds, 10, "server, after the root impersonator");
		reap_ok_within(spawn_tied_fd_neutral(root_states_other_ids, NULL), 30, "root stating other ids");
		fds_back_of(srv, s_fds, 10, "server, after the root stating other ids");
		reap_ok_within(spawn_tied_fd_neutral(user_states_real_uid, NULL), 30, "client with two uids");
		fds_back_of(srv, s_fds, 10, "server, after the client with two uids");
		reap_ok_within(spawn_tied_fd_neutral(user_detaches, NULL), 30, "non-owner's Detach");
		fds_back_of(srv, s_fds, 10, "server, after the non-owner's Detach");
		kill_and_reap(v);
	} else {
		printf("%s: not root: the cases that switch ids were skipped\n", test_name);
	}
	kill_and_reap(srv);
	CHECK_OK(fdetach(path));
	PASS();
}
