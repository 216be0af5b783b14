/* Door descriptors are real descriptors (doors-spec §4.1, §5.11, §7.2): the
 * one door_create returns is close-on-exec; one from open() of an attached
 * path is close-on-exec only with O_CLOEXEC; copies made by dup, dup2,
 * dup3, fcntl(F_DUPFD) and fcntl(F_DUPFD_CLOEXEC) work, carry the expected
 * FD_CLOEXEC, and keep working after the original is closed; a forked child
 * calls through inherited copies; and after exec the copies without
 * FD_CLOEXEC work in the new image while those with it are gone.
 *
 * The exec'd images are this program run as
 *   <self> exec-client <server pid> <uniquifier> <n> fd... -- closed-fd...
 *   <self> exec-closed fd
 */
#include "door_test.h"

#define COOKIE ((void *)0xc0ffee)

static char path[512], dir_path[512];
static struct gate ready;
static pid_t server_pid;

/* Replies with the server's pid. */
static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	pid_t me = getpid();
	door_return((char *)&me, sizeof me, NULL, 0);
}

static int cloexec(int fd)
{
	int f = fcntl(fd, F_GETFD);
	CHECK(f != -1);
	return (f & FD_CLOEXEC) != 0;
}

/* `fd` is a working client descriptor of the server's door `uniq`. */
static void check_works(int fd, pid_t server, door_id_t uniq)
{
	pid_t p = 0;
	CHECK(call_door(fd, "x", 1, &p, sizeof p) == sizeof p);
	CHECK(p == server);
	door_info_t di;
	CHECK_OK(info_of(fd, &di));
	CHECK(di.di_target == server && di.di_uniquifier == uniq);
	CHECK(di.di_data == (door_ptr_t)(uintptr_t)COOKIE);
	CHECK(!(di.di_attributes & (DOOR_LOCAL | DOOR_REVOKED)));
}

/* In the child of spawn_self: dies with its parent (pid at `arg`). */
static int tie_to_parent(void *arg)
{
	return prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != *(pid_t *)arg;
}

/* Runs this program again as `argv`, in a child tied to us; waits for it. */
static void run_image(char **argv)
{
	pid_t parent = getpid();
	pid_t pid = spawn_self(argv, tie_to_parent, &parent);
	reap_ok_within(pid, 20, argv[1]);
}

static void server(void *arg)
{
	(void)arg;
	int d = attach_new(path, server_proc, COOKIE, 0);
	/* door_create's descriptor is close-on-exec... */
	CHECK(cloexec(d));
	/* ...and really gone in an exec'd image. */
	/* The server's own count comes back before it says it is ready (the
	 * driver then counts it): the exec'd image's copy of d (replaced at the
	 * fork by a counted one) and the dup's door socket close as the server
	 * reads their end of file, asynchronously. */
	int before = count_fds();
	char num[16];
	snprintf(num, sizeof num, "%d", d);
	char *argv[] = { "descriptors_fork_exec", "exec-closed", num, NULL };
	run_image(argv);
	/* A dup of it is an ordinary copy: not close-on-exec, still the door. */
	int dd = dup(d);
	CHECK(dd >= 0 && !cloexec(dd));
	door_info_t di;
	CHECK_OK(info_of(dd, &di));
	CHECK(di.di_target == getpid() && (di.di_attributes & DOOR_LOCAL));
	close(dd);
	fds_back(before, 10, "server, after its exec'd image and its dup");
	gate_open(&ready);
	for (;;)
		pause();
}

static door_id_t uniq;

/* A forked child calls through inherited descriptors. */
static void fork_child(void *arg)
{
	int *fds = arg;
	for (int i = 0; fds[i] != -1; i++)
		check_works(fds[i], server_pid, uniq);
}

static void client(void *arg)
{
	(void)arg;
	/* open(): not close-on-exec unless asked. */
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK(!cloexec(fd));
	door_info_t di;
	CHECK_OK(info_of(fd, &di));
	uniq = di.di_uniquifier;
	check_works(fd, server_pid, uniq);
	int fdc = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fdc >= 0 && cloexec(fdc));
	check_works(fdc, server_pid, uniq);
	/* openat relative to a directory descriptor, and O_RDWR. */
	int dirfd = open(dir_path, O_RDONLY | O_DIRECTORY);
	CHECK(dirfd >= 0);
	int fda = openat(dirfd, "door", O_RDWR | O_CLOEXEC);
	CHECK(fda >= 0 && cloexec(fda));
	check_works(fda, server_pid, uniq);
	close(dirfd);

	/* Every way of copying a descriptor. */
	int a = dup(fd);
	CHECK(a >= 0 && !cloexec(a));
	CHECK(dup2(fd, 100) == 100 && !cloexec(100));
	CHECK(dup3(fd, 101, O_CLOEXEC) == 101 && cloexec(101));
	int f1 = fcntl(fd, F_DUPFD, 200);
	CHECK(f1 >= 200 && !cloexec(f1));
	int f2 = fcntl(fd, F_DUPFD_CLOEXEC, 300);
	CHECK(f2 >= 300 && cloexec(f2));
	/* dup2 over a descriptor that was open: it is replaced by the door. */
	int junk = open("/dev/null", O_RDONLY);
	CHECK(junk >= 0);
	CHECK(dup2(fdc, junk) == junk && !cloexec(junk));
	int all[] = { fd, fdc, fda, a, 100, 101, f1, f2, junk };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		check_works(all[i], server_pid, uniq);

	/* exec: the copies without FD_CLOEXEC work in the new image, the
	 * others are closed there. */
	char sp[16], su[32], keep[5][16], shut[4][16];
	snprintf(sp, sizeof sp, "%d", (int)server_pid);
	snprintf(su, sizeof su, "%llu", (unsigned long long)uniq);
	int keep_fds[5] = { fd, a, 100, f1, junk };
	int shut_fds[4] = { fdc, fda, 101, f2 };
	char *argv[16];
	int k = 0;
	argv[k++] = "descriptors_fork_exec";
	argv[k++] = "exec-client";
	argv[k++] = sp;
	argv[k++] = su;
	for (int i = 0; i < 5; i++) {
		snprintf(keep[i], sizeof keep[i], "%d", keep_fds[i]);
		argv[k++] = keep[i];
	}
	argv[k++] = "--";
	for (int i = 0; i < 4; i++) {
		snprintf(shut[i], sizeof shut[i], "%d", shut_fds[i]);
		argv[k++] = shut[i];
	}
	argv[k] = NULL;
	run_image(argv);

	/* Close the original: the copies are unaffected. */
	CHECK_OK(close(fd));
	CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
	int rest[] = { fdc, fda, a, 100, 101, f1, f2, junk, -1 };
	for (int i = 0; rest[i] != -1; i++)
		check_works(rest[i], server_pid, uniq);

	/* fork: the child calls through what it inherited (close-on-exec or
	 * not), and so does the parent afterwards. */
	reap_ok_within(spawn_tied_fd_neutral(fork_child, rest), 20, "forked client");
	for (int i = 0; rest[i] != -1; i++)
		check_works(rest[i], server_pid, uniq);
	for (int i = 0; rest[i] != -1; i++)
		CHECK_OK(close(rest[i]));
}

struct exec_calls {
	pid_t server;
	door_id_t uniq;
	int from, to;
	char **argv;
};

static void exec_calls(void *arg)
{
	struct exec_calls *c = arg;
	for (int i = c->from; i < c->to; i++)
		check_works(atoi(c->argv[i]), c->server, c->uniq);
	/* Twice, to use the channels this image opened. */
	for (int i = c->from; i < c->to; i++)
		check_works(atoi(c->argv[i]), c->server, c->uniq);
}

/* The exec'd client: argv[2] server pid, argv[3] uniquifier, then working
 * descriptors up to "--", then descriptors that must be closed. */
static int exec_client(int argc, char **argv)
{
	test_name = "descriptors_fork_exec (exec'd client)";
	CHECK(argc >= 5);
	pid_t server = (pid_t)atoi(argv[2]);
	door_id_t u = strtoull(argv[3], NULL, 10);
	int i = 4;
	/* First make sure the closed ones are closed, before this image opens
	 * anything that could reuse their numbers. */
	int dashes = 4;
	while (dashes < argc && strcmp(argv[dashes], "--") != 0)
		dashes++;
	CHECK(dashes < argc);
	for (int j = dashes + 1; j < argc; j++) {
		int fd = atoi(argv[j]);
		errno = 0;
		CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
	}
	for (; i < dashes; i++)
		CHECK(fcntl(atoi(argv[i]), F_GETFD) != -1);
	/* The calls on a scenario thread: the image's count comes back (its
	 * channels go with the thread; it opens nothing else). */
	struct exec_calls c = { server, u, 4, dashes, argv };
	fd_neutral("exec'd client", exec_calls, &c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "exec-client") == 0)
		return exec_client(argc, argv);
	if (argc == 3 && strcmp(argv[1], "exec-closed") == 0) {
		test_name = "descriptors_fork_exec (exec'd server image)";
		int fd = atoi(argv[2]);
		errno = 0;
		CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
		return 0;
	}
	test_name = "descriptors_fork_exec";
	watchdog(50);
	char *dir = test_dir();
	snprintf(dir_path, sizeof dir_path, "%s", dir);
	snprintf(path, sizeof path, "%s/door", dir);
	gate_init(&ready);
	server_pid = spawn_tied(server, NULL);
	gate_wait_within(&ready, 20);
	/* The client's count comes back (it closes every copy it made, its
	 * exec'd image and its forked child check their own), and so does the
	 * server's after it. */
	int s_fds = count_fds_of(server_pid);
	reap_ok_within(spawn_tied_fd_neutral(client, NULL), 40, "client");
	fds_back_of(server_pid, s_fds, 10, "server, after its client");
	kill_and_reap(server_pid);
	PASS();
}
