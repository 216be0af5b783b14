/*
 * Shared helpers for libdoor's C tests. Each test is one program that plays
 * both roles in separate processes: the server creates and attaches doors,
 * and a forked (or exec'd) client opens and calls them. A failed check
 * prints where and why and exits non-zero; run.sh counts programs.
 */
#ifndef LIBDOOR_TEST_COMMON_H
#define LIBDOOR_TEST_COMMON_H

#define _GNU_SOURCE
#include <dirent.h>
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *test_name = "test";

static inline void fail_at(const char *file, int line, const char *what, int err)
{
	fprintf(stderr, "FAIL %s: %s:%d: %s (errno %d: %s)\n", test_name, file, line, what, err, strerror(err));
	exit(1);
}

/* CHECK(cond): the condition must hold. */
#define CHECK(cond) do { if (!(cond)) fail_at(__FILE__, __LINE__, #cond, errno); } while (0)
/* CHECK_OK(call): a call returning -1 on failure must succeed. */
#define CHECK_OK(call) do { if ((call) == -1) fail_at(__FILE__, __LINE__, #call, errno); } while (0)
/* CHECK_ERR(call, e): the call must fail with errno e. */
#define CHECK_ERR(call, e)                                                        \
	do {                                                                          \
		errno = 0;                                                                \
		long r_ = (long)(call);                                                   \
		int e_ = errno;                                                           \
		if (r_ != -1 || e_ != (e)) {                                              \
			fprintf(stderr, "FAIL %s: %s:%d: %s returned %ld errno %d (%s), wanted -1 errno %d (%s)\n", \
			    test_name, __FILE__, __LINE__, #call, r_, e_, strerror(e_), (e), strerror(e)); \
			exit(1);                                                              \
		}                                                                         \
	} while (0)

/*
 * How much longer than usual deadlines may take: LIBDOOR_TEST_TIME_SCALE
 * (set by run.sh under valgrind, where everything runs many times slower);
 * 1 otherwise. Deadlines only: a test that passes waits no longer.
 */
static inline double time_scale(void)
{
	const char *s = getenv("LIBDOOR_TEST_TIME_SCALE");
	double k = s ? atof(s) : 1;
	return k >= 1 ? k : 1;
}

/* A fresh directory for this test's files, removed by the caller's rm -rf. */
static inline char *test_dir(void)
{
	static char dir[256];
	const char *base = getenv("LIBDOOR_TEST_TMP");
	snprintf(dir, sizeof dir, "%s/%s.XXXXXX", base ? base : "/tmp", test_name);
	CHECK(mkdtemp(dir) != NULL);
	chmod(dir, 0755);
	return dir;
}

/* Creates (or truncates) a regular file with `mode`, owned by the caller. */
static inline void make_file(const char *path, mode_t mode)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
	CHECK(fd >= 0);
	CHECK_OK(fchmod(fd, mode));
	close(fd);
}

/*
 * This program's path, for re-executing itself. Not "/proc/self/exe"
 * directly: under valgrind that names valgrind's tool, whereas readlink of
 * it gives the program (valgrind answers it for the program).
 */
static inline const char *self_exe(void)
{
	static char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return "/proc/self/exe";
	exe[n] = 0;
	return exe;
}

/*
 * GCC 12's AddressSanitizer does not hold its allocator's locks across
 * fork: a child forked while another thread of its parent is inside the
 * allocator (libdoor's threads allocate as they start) inherits a lock
 * held, and its first allocation of that size waits forever (abi_layout's
 * client hung in 3 runs of 80, before and after commit eb481e1). So under
 * ASan the tests fork only once every other thread of the process sleeps
 * (state S in /proc): none is then inside the allocator, since one that
 * sleeps waiting for an allocator lock holds none. Gives up after 2 s.
 */
static inline void settle_before_fork(void)
{
#if defined(__SANITIZE_ADDRESS__)
	pid_t me = (pid_t)syscall(SYS_gettid);
	for (int tries = 0; tries < 2000; tries++) {
		DIR *dir = opendir("/proc/self/task");
		if (dir == NULL)
			return;
		int busy = 0;
		struct dirent *e;
		while (!busy && (e = readdir(dir)) != NULL) {
			pid_t tid = (pid_t)atoi(e->d_name);
			if (tid <= 0 || tid == me)
				continue;
			char path[64], stat[512];
			snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
			FILE *f = fopen(path, "r");
			if (f == NULL)
				continue; /* exited meanwhile */
			size_t n = fread(stat, 1, sizeof stat - 1, f);
			fclose(f);
			stat[n] = 0;
			/* The state follows the name, which may hold anything: after the last ')'. */
			char *end = strrchr(stat, ')');
			busy = end != NULL && end[1] == ' ' && end[2] != 'S';
		}
		closedir(dir);
		if (!busy)
			return;
		usleep(1000);
	}
#endif
}

/* fork(), after settle_before_fork(): every test forks through this. */
static inline pid_t test_fork(void)
{
	settle_before_fork();
	return fork();
}

/* Runs this program again, as `argv`, in a forked process: `prepare` (if
 * not NULL) runs in the child first, to set its environment, and returns
 * nonzero if it could not (the child then exits with 126; 127 if the exec
 * fails). Returns the child's pid. */
static inline pid_t spawn_self(char **argv, int (*prepare)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = test_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (prepare != NULL && prepare(arg) != 0)
			_exit(126);
		execv(self_exe(), argv);
		fprintf(stderr, "exec failed: %s\n", strerror(errno));
		_exit(127);
	}
	return pid;
}

/* Runs `child` in a forked process; returns its pid. */
static inline pid_t spawn(void (*child)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = test_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		child(arg);
		_exit(0);
	}
	return pid;
}

/* Waits for `pid` and requires a clean exit. */
static inline void reap_ok(pid_t pid)
{
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "FAIL %s: child %d ended with status 0x%x\n", test_name, (int)pid, status);
		exit(1);
	}
}

/* The number of open descriptors in this process. */
static inline int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return n;
}

/*
 * The number of open descriptors of process `pid` (0: this process), for a
 * test checking its server from outside. Another process's are counted in
 * /proc (under valgrind that includes valgrind's own few, a constant).
 */
static inline int count_fds_of(pid_t pid)
{
	if (pid == 0)
		return count_fds();
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static inline double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Requires the descriptor count of process `pid` (0: this process) to come
 * back to `before` within `seconds` (stretched by time_scale): a server lets
 * go of a client's channels and door descriptors when its threads read end
 * of file on them, asynchronously, so the count is polled until the
 * deadline. On failure, lists the process's open descriptors.
 */
static inline void fds_back_of(pid_t pid, int before, double seconds, const char *what)
{
	double end = now_seconds() + seconds * time_scale();
	int now;
	while ((now = count_fds_of(pid)) != before && now_seconds() < end)
		usleep(10000);   /* polling interval of the deadline loop */
	if (now != before) {
		fprintf(stderr, "FAIL %s: %s: %d descriptors before, %d after; open now:\n", test_name, what, before, now);
		for (int fd = 0; fd < 4096; fd++) {
			char link[64], target[256] = "?";
			snprintf(link, sizeof link, "/proc/%d/fd/%d", pid ? (int)pid : (int)getpid(), fd);
			ssize_t k = readlink(link, target, sizeof target - 1);
			if (k >= 0) {
				target[k] = 0;
				fprintf(stderr, "  %d -> %s\n", fd, target);
			}
		}
		exit(1);
	}
}

/* fds_back_of this process. */
static inline void fds_back(int before, double seconds, const char *what)
{
	fds_back_of(0, before, seconds, what);
}

struct fd_scenario { void (*run)(void *); void *arg; };

static inline void *fd_scenario_thread(void *p)
{
	struct fd_scenario *s = p;
	s->run(s->arg);
	return NULL;
}

/*
 * Runs `scenario(arg)` on a thread of its own and requires the process's
 * descriptor count to be the same afterwards (polled: a client thread's
 * channels close 50 ms after it ends, unless another thread takes them),
 * and everything else the scenario opened it must close.
 */
static inline void fd_neutral(const char *what, void (*scenario)(void *), void *arg)
{
	int before = count_fds();
	struct fd_scenario s = { scenario, arg };
	pthread_t t;
	if (pthread_create(&t, NULL, fd_scenario_thread, &s) != 0 || pthread_join(t, NULL) != 0)
		fail_at(__FILE__, __LINE__, "scenario thread", errno);
	fds_back(before, 10, what);
}

/* What the next fd_neutral_child runs: set by the parent just before it forks. */
static struct fd_scenario fd_neutral_next;

static inline void fd_neutral_child(void *p)
{
	struct fd_scenario *s = p;
	fd_neutral("client", s->run, s->arg);
}

/* Like spawn, for a client whose descriptor count must come back (fd_neutral). */
static inline pid_t spawn_fd_neutral(void (*client)(void *), void *arg)
{
	fd_neutral_next = (struct fd_scenario){ client, arg };
	return spawn(fd_neutral_child, &fd_neutral_next);
}

/* The body of a one-client test's main: attaches a new door running `proc`
 * at `path` (a fresh file), runs `client` in a child whose descriptor
 * count must come back (spawn_fd_neutral), requires the server's count to
 * come back after it, and detaches. */
static inline void serve_one_client(const char *path, door_server_procedure_t *proc, void (*client)(void *))
{
	make_file(path, 0644);
	int d = door_create(proc, NULL, 0);
	CHECK(d >= 0);
	CHECK_OK(fattach(d, path));
	int before = count_fds();
	reap_ok(spawn_fd_neutral(client, NULL));
	fds_back(before, 10, "server, after its client");
	CHECK_OK(fdetach(path));
}

/* A pipe used as a one-shot "ready" signal between processes. */
struct gate { int fd[2]; };
static inline void gate_init(struct gate *g) { CHECK_OK(pipe(g->fd)); }
static inline void gate_open(struct gate *g) { char c = 1; CHECK(write(g->fd[1], &c, 1) == 1); }
static inline void gate_wait(struct gate *g) { char c; CHECK(read(g->fd[0], &c, 1) == 1); }

#define PASS() do { printf("ok %s\n", test_name); return 0; } while (0)

#endif
