/*
 * Shared helpers for libdoor's C tests. Each test is one program that plays
 * both roles in separate processes: the server creates and attaches doors,
 * and a forked (or exec'd) client opens and calls them. A failed check
 * prints where and why and exits non-zero; run.sh counts programs.
 */
#ifndef LIBDOOR_TEST_COMMON_H
#define LIBDOOR_TEST_COMMON_H

#define _GNU_SOURCE
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

/* Runs `child` in a forked process; returns its pid. */
static inline pid_t spawn(void (*child)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
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

static inline double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A pipe used as a one-shot "ready" signal between processes. */
struct gate { int fd[2]; };
static inline void gate_init(struct gate *g) { CHECK_OK(pipe(g->fd)); }
static inline void gate_open(struct gate *g) { char c = 1; CHECK(write(g->fd[1], &c, 1) == 1); }
static inline void gate_wait(struct gate *g) { char c; CHECK(read(g->fd[0], &c, 1) == 1); }

#define PASS() do { printf("ok %s\n", test_name); return 0; } while (0)

#endif
