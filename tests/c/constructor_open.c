/* An attached path opened from a constructor, before main runs: the
 * program re-executes itself with the path in the environment, and its
 * constructor's open (plain, and with non-constant flags, i.e. __open_2)
 * must already yield working door descriptors. The server is the first
 * process; the exec'd program is the client. Its door descriptors come only
 * from those opens: door_create's descriptor is close-on-exec. */
#include "common.h"

#define ENV_PATH "LIBDOOR_TEST_CTOR_DOOR"
#define ENV_PID "LIBDOOR_TEST_CTOR_PID"
#define ENV_MISSING "LIBDOOR_TEST_CTOR_MISSING"

static int ctor_ran, ctor_fds = -1, ctor_fd = -2, ctor_errno, ctor_fd2 = -2, ctor_missing_fd = -2, ctor_missing_errno;

__attribute__((constructor)) static void early_open(void)
{
	ctor_ran = 1;
	const char *p = getenv(ENV_PATH);
	if (p == NULL)
		return;
	/* The exec'd client's count before it opens anything. */
	ctor_fds = count_fds();
	errno = 0;
	ctor_fd = open(p, O_RDONLY);
	ctor_errno = errno;
	volatile int vflags = O_RDONLY;
	ctor_fd2 = open(p, vflags);
	const char *m = getenv(ENV_MISSING);
	if (m != NULL) {
		errno = 0;
		ctor_missing_fd = open(m, O_RDONLY);
		ctor_missing_errno = errno;
	}
}

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)dp; (void)n;
	char out[64];
	int len = snprintf(out, sizeof out, "%s:%zu:%.*s", (char *)cookie, size, (int)size, argp ? argp : "");
	door_return(out, len, NULL, 0);
}

static void check_door(int fd, pid_t server)
{
	CHECK(fd >= 0);
	door_info_t info;
	CHECK_OK(door_info(fd, &info));
	CHECK(info.di_target == server);
	CHECK((info.di_attributes & DOOR_REVOKED) == 0);
	char rbuf[64], msg[] = "early";
	door_arg_t a = { msg, 5, NULL, 0, rbuf, sizeof rbuf };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_size == strlen("ctor:5:early") && memcmp(a.data_ptr, "ctor:5:early", a.data_size) == 0);
}

/* The exec'd client's checks, on a thread of their own (their channels go
 * with it). */
static void *client_checks(void *arg)
{
	(void)arg;
	if (ctor_fd < 0) {
		fprintf(stderr, "FAIL %s: the constructor's open failed: errno %d (%s)\n", test_name,
		    ctor_errno, strerror(ctor_errno));
		exit(1);
	}
	pid_t server = (pid_t)atol(getenv(ENV_PID));
	check_door(ctor_fd, server);
	check_door(ctor_fd2, server);
	CHECK(ctor_fd != ctor_fd2);
	/* open() without O_CLOEXEC: not close-on-exec. */
	CHECK((fcntl(ctor_fd, F_GETFD) & FD_CLOEXEC) == 0);
	/* A missing path failed plainly, with ENOENT. */
	CHECK(ctor_missing_fd == -1 && ctor_missing_errno == ENOENT);
	/* Opening again from main works too. */
	int fd = open(getenv(ENV_PATH), O_RDONLY);
	check_door(fd, server);
	close(fd);
	close(ctor_fd);
	close(ctor_fd2);
	return NULL;
}

/* The exec'd client: everything happened in the constructor. */
static int client_main(void)
{
	test_name = "constructor_open (client)";
	CHECK(ctor_ran);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, client_checks, NULL) == 0 && pthread_join(t, NULL) == 0);
	/* Back to the count from before the constructor's opens: the door
	 * descriptors they made were closed, and the calls' channels went with
	 * the thread. */
	fds_back(ctor_fds, 10, "client");
	printf("ok constructor_open client\n");
	return 0;
}

/* The exec'd client's environment (spawn_self): the door's path, our pid
 * and a path that does not exist, in that order. */
static int client_env(void *arg)
{
	const char **env = arg;
	return setenv(ENV_PATH, env[0], 1) != 0 || setenv(ENV_PID, env[1], 1) != 0 || setenv(ENV_MISSING, env[2], 1) != 0;
}

int main(int argc, char **argv)
{
	(void)argc;
	if (getenv(ENV_PATH) != NULL)
		return client_main();

	test_name = "constructor_open";
	CHECK(ctor_ran && ctor_fd == -2);
	char *dir = test_dir();
	char path[512], missing[512], pid[32];
	snprintf(path, sizeof path, "%s/door", dir);
	snprintf(missing, sizeof missing, "%s/missing", dir);
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	make_file(path, 0644);
	int d = door_create(server_proc, "ctor", 0);
	CHECK(d >= 0);
	CHECK(fcntl(d, F_GETFD) & FD_CLOEXEC);
	CHECK_OK(fattach(d, path));

	int before = count_fds();
	const char *env[3] = { path, pid, missing };
	pid_t child = spawn_self(argv, client_env, env);
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	/* The server lets go of the client's door sockets and channels. */
	fds_back(before, 10, "server, after its client");
	CHECK_OK(fdetach(path));
	close(d);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "FAIL %s: the exec'd client ended with status 0x%x\n", test_name, status);
		return 1;
	}
	PASS();
}
