/* A descriptor number that named a door and was closed, or replaced, names
 * the door no more: libdoor remembers which door a number names (so a call
 * need not ask the kernel), and must forget it whenever the number is
 * freed: close, close_range, closefrom, dup2 or dup3 onto it, and a
 * door_call that passes it with DOOR_RELEASE (libdoor closes it). After
 * each, door_call on the number fails with EBADF, or reaches the door that
 * now has the number (received over the test's own socket, a way libdoor
 * does not see), never the door it named before. */
#include "common.h"

#include <sys/socket.h>

static char path_a[512], path_b[512];

static void tag_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)argp; (void)size;
	for (uint_t i = 0; i < n; i++)
		CHECK_OK(close(dp[i].d_data.d_desc.d_descriptor));
	door_return((char *)cookie, 1, NULL, 0);
}

/* The tag of the door `fd` names; 0 with errno when the call failed. */
static char tag_of(int fd)
{
	char rbuf[8];
	door_arg_t a = { "?", 1, NULL, 0, rbuf, sizeof rbuf };
	if (door_call(fd, &a) != 0)
		return 0;
	CHECK(a.data_size == 1);
	return a.data_ptr[0];
}

static void expect_ebadf(int fd, const char *what)
{
	errno = 0;
	if (tag_of(fd) != 0 || errno != EBADF) {
		fprintf(stderr, "FAIL %s: door_call on descriptor %d %s: errno %d, expected EBADF\n", test_name, fd, what, errno);
		exit(1);
	}
}

/* A door of its own at `fd`: opened, called once, so that its name is remembered. */
static int open_a(void)
{
	int fd = open(path_a, O_RDONLY);
	CHECK(fd >= 0);
	CHECK(tag_of(fd) == 'A');
	return fd;
}

static void send_fd(int sock, int fd)
{
	char c = 0;
	struct iovec iov = { &c, 1 };
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
	memset(&u, 0, sizeof u);
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	CHECK(sendmsg(sock, &m, 0) == 1);
}

static int recv_fd(int sock)
{
	char c;
	struct iovec iov = { &c, 1 };
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b };
	CHECK(recvmsg(sock, &m, 0) == 1);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	CHECK(cm != NULL && cm->cmsg_type == SCM_RIGHTS);
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof fd);
	return fd;
}

static void client(void *arg)
{
	(void)arg;
	/* close: the number is free; a call on it fails. */
	int fd = open_a();
	CHECK_OK(close(fd));
	expect_ebadf(fd, "after close");

	/* close, then another door arrives at the number by the program's own
	 * recvmsg: the call reaches that door. */
	int sv[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	int b = open(path_b, O_RDONLY);
	CHECK(b >= 0);
	send_fd(sv[0], b);
	CHECK_OK(close(b));
	fd = open_a();
	CHECK_OK(close(fd));
	int got = recv_fd(sv[1]);
	CHECK(got == fd);
	if (tag_of(got) != 'B') {
		fprintf(stderr, "FAIL %s: door received at a closed door's number %d: the call reached the old door or failed (errno %d)\n",
		    test_name, got, errno);
		exit(1);
	}
	CHECK_OK(close(got));

	/* Passed to door B with DOOR_RELEASE (libdoor closes the number),
	 * then door B arrives at the number by the program's own recvmsg. */
	b = open(path_b, O_RDONLY);
	CHECK(b >= 0);
	fd = open_a();
	door_desc_t passed = { .d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE, .d_data.d_desc.d_descriptor = fd };
	char rbuf[8];
	door_arg_t call = { "?", 1, &passed, 1, rbuf, sizeof rbuf };
	CHECK_OK(door_call(b, &call));
	CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
	send_fd(sv[0], b);
	got = recv_fd(sv[1]);
	CHECK(got == fd);
	if (tag_of(got) != 'B') {
		fprintf(stderr, "FAIL %s: door received at the number %d a DOOR_RELEASE freed: the call reached the old door or failed (errno %d)\n",
		    test_name, got, errno);
		exit(1);
	}
	CHECK_OK(close(got));
	CHECK_OK(close(b));

	/* close, then something else at the number. */
	fd = open_a();
	CHECK_OK(close(fd));
	int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	CHECK(s == fd);
	expect_ebadf(s, "now a plain socket");
	CHECK_OK(close(s));

	/* dup2 and dup3 of another door onto the number. */
	fd = open_a();
	b = open(path_b, O_RDONLY);
	CHECK(b >= 0);
	CHECK(dup2(b, fd) == fd);
	CHECK(tag_of(fd) == 'B');
	CHECK_OK(close(fd));
	fd = open_a();
	CHECK(dup3(b, fd, O_CLOEXEC) == fd);
	CHECK(tag_of(fd) == 'B');
	CHECK_OK(close(fd));
	/* dup2 of something else onto it. */
	fd = open_a();
	int null = open("/dev/null", O_RDONLY);
	CHECK(dup2(null, fd) == fd);
	expect_ebadf(fd, "after dup2 of /dev/null onto it");
	CHECK_OK(close(fd));
	CHECK_OK(close(null));
	CHECK_OK(close(b));

	/* close_range, and closefrom (on a number above all others). */
	fd = open_a();
	CHECK_OK(close_range(fd, fd, 0));
	expect_ebadf(fd, "after close_range");
	fd = open_a();
	int high = fcntl(fd, F_DUPFD, 900);
	CHECK(high >= 900);
	CHECK_OK(close(fd));
	CHECK(tag_of(high) == 'A');
	closefrom(high);
	expect_ebadf(high, "after closefrom");
	CHECK_OK(close(sv[0]));
	CHECK_OK(close(sv[1]));
}

/* Whether the 8 descriptors in `files` are open, here and in a child
 * forked now. */
static int files_open(const int *files)
{
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		for (int i = 0; i < 8; i++)
			if (fcntl(files[i], F_GETFD) == -1)
				_exit(1);
		_exit(0);
	}
	int status, open_here = 1;
	CHECK(waitpid(child, &status, 0) == child);
	for (int i = 0; i < 8; i++)
		open_here &= fcntl(files[i], F_GETFD) != -1;
	return open_here && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* close_range and closefrom of everything the program has above stderr
 * leave libdoor's own descriptors (its channel to the door, made by the
 * calls before) open: files the program then opens at the freed numbers
 * stay its own, in a forked child too, and calls go on. */
static void closes_everything(void *arg)
{
	(void)arg;
	for (int way = 0; way < 2; way++) {
		int fd = open_a();
		CHECK(tag_of(fd) == 'A');
		int high = fcntl(fd, F_DUPFD, 900);
		CHECK(high >= 900);
		if (way == 0)
			CHECK_OK(close_range(3, 899, 0));
		else
			closefrom(3);
		int files[8];
		for (int i = 0; i < 8; i++)
			CHECK((files[i] = open("/dev/null", O_RDONLY)) >= 0);
		if (!files_open(files)) {
			fprintf(stderr, "FAIL %s: after %s, a fork closed files the program opened\n", test_name, way ? "closefrom" : "close_range");
			exit(1);
		}
		int door = way == 0 ? high : open_a();
		if (tag_of(door) != 'A' || !files_open(files)) {
			fprintf(stderr, "FAIL %s: after %s, a call failed (errno %d) or closed files the program opened\n", test_name,
			    way ? "closefrom" : "close_range", errno);
			exit(1);
		}
		for (int i = 0; i < 8; i++)
			CHECK_OK(close(files[i]));
		CHECK_OK(close(door));
	}
}

int main(void)
{
	test_name = "fd_reuse";
	char *dir = test_dir();
	snprintf(path_a, sizeof path_a, "%s/a", dir);
	snprintf(path_b, sizeof path_b, "%s/b", dir);
	make_file(path_a, 0644);
	make_file(path_b, 0644);
	int a = door_create(tag_proc, "A", 0);
	int b = door_create(tag_proc, "B", 0);
	CHECK(a >= 0 && b >= 0);
	CHECK_OK(fattach(a, path_a));
	CHECK_OK(fattach(b, path_b));
	int fds = count_fds();
	reap_ok(spawn_fd_neutral(client, NULL));
	reap_ok(spawn(closes_everything, NULL));
	fds_back(fds, 10, "server, after its client");
	CHECK_OK(fdetach(path_a));
	CHECK_OK(fdetach(path_b));
	PASS();
}
