/*
 * Helpers shared by the door tests, on top of common.h: children that die
 * with the test, waiting for a process with a deadline, passing small values
 * through pipes, and a one-line door_call. Include this instead of common.h.
 */
#ifndef LIBDOOR_DOOR_TEST_H
#define LIBDOOR_DOOR_TEST_H

#include "common.h"

#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

/* The kernel thread id of the caller (glibc's gettid() is not in every libc). */
static inline pid_t thread_id(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/*
 * Forks a child running `child(arg)` that is SIGKILLed if the forking
 * thread (the test's main thread) dies, so a test killed by its watchdog or
 * by a failed CHECK leaves nothing behind. Only call it from a main thread.
 */
static inline pid_t spawn_tied(void (*child)(void *), void *arg)
{
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = test_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* The parent may have died before prctl took effect: check. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
			_exit(98);
		child(arg);
		_exit(0);
	}
	return pid;
}

/*
 * The descriptors a thread's channel to a door keeps open in its process
 * until the thread ends (and 50 ms after, unless another thread takes
 * it): the client end of the socket pair (the region's
 * memfd is closed once mapped, a bulk buffer's once sent; the wake-up is a
 * futex in the region). For a client that must stay on its main thread
 * (its calls are interrupted by signals sent to the process), whose count
 * therefore comes back only with that channel.
 */
#define CLIENT_CHANNEL_FDS 1

/* Like spawn_tied, for a client whose descriptor count must come back (fd_neutral). */
static inline pid_t spawn_tied_fd_neutral(void (*client)(void *), void *arg)
{
	fd_neutral_next = (struct fd_scenario){ client, arg };
	return spawn_tied(fd_neutral_child, &fd_neutral_next);
}

/*
 * Ends the test (with an exit status run.sh reports) if it runs longer than
 * `seconds`: SIGALRM's default action kills the process, and spawn_tied
 * children follow it.
 */
static inline void watchdog(unsigned seconds)
{
	signal(SIGALRM, SIG_DFL);
	alarm((unsigned)(seconds * time_scale()));
}

/*
 * Waits up to `seconds` for `pid` to end. Returns 1 with its wait status in
 * *status, or 0 if it is still running.
 */
static inline int ended_within(pid_t pid, double seconds, int *status)
{
	double end = now_seconds() + seconds * time_scale();
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 1;
		CHECK(r == 0);
		if (now_seconds() > end)
			return 0;
		/* Polling interval of the deadline loop, not a synchronisation. */
		usleep(2000);
	}
}

/*
 * Waits up to `seconds` for `pid` to end and returns its wait status. On
 * timeout the process is killed and the test fails, naming `what`.
 */
static inline int wait_within(pid_t pid, double seconds, const char *what)
{
	int status;
	if (!ended_within(pid, seconds, &status)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fprintf(stderr, "FAIL %s: %s (pid %d) did not finish within %.1f s\n", test_name, what, (int)pid, seconds);
		exit(1);
	}
	return status;
}

/* Like reap_ok, with a deadline. */
static inline void reap_ok_within(pid_t pid, double seconds, const char *what)
{
	int status = wait_within(pid, seconds, what);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "FAIL %s: %s (pid %d) ended with status 0x%x\n", test_name, what, (int)pid, status);
		exit(1);
	}
}

/* SIGKILLs `pid` and reaps it, requiring that it was still running. */
static inline void kill_and_reap(pid_t pid)
{
	int status;
	CHECK_OK(kill(pid, SIGKILL));
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/*
 * Reads exactly `n` bytes from the gate's pipe, waiting at most `seconds`.
 * Fails the test on timeout or end of file. Both pipe ends are usually held
 * by every process of a test, so end of file alone cannot be relied on.
 */
static inline void recv_within(struct gate *g, void *buf, size_t n, double seconds)
{
	seconds *= time_scale();
	double end = now_seconds() + seconds;
	size_t got = 0;
	while (got < n) {
		double left = end - now_seconds();
		if (left <= 0) {
			fprintf(stderr, "FAIL %s: pipe read timed out after %.1f s\n", test_name, seconds);
			exit(1);
		}
		struct pollfd p = { g->fd[0], POLLIN, 0 };
		int r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r == -1 && errno == EINTR)
			continue;
		CHECK(r >= 0);
		if (r == 0)
			continue;
		ssize_t k = read(g->fd[0], (char *)buf + got, n - got);
		if (k == -1 && errno == EINTR)
			continue;
		CHECK(k > 0);
		got += (size_t)k;
	}
}

/* Writes `n` bytes (at most PIPE_BUF, so atomically) to the gate's pipe. */
static inline void send_val(struct gate *g, const void *buf, size_t n)
{
	CHECK(n <= PIPE_BUF);
	CHECK(write(g->fd[1], buf, n) == (ssize_t)n);
}

/* Waits for the gate to open, at most `seconds`. */
static inline void gate_wait_within(struct gate *g, double seconds)
{
	char c;
	recv_within(g, &c, 1, seconds);
}

/* Closes both ends of a gate this process does not use. */
static inline void gate_close(struct gate *g)
{
	close(g->fd[0]);
	close(g->fd[1]);
}

/*
 * Calls door `fd` with `n` argument bytes at `arg` and copies up to `rsize`
 * result bytes to `res` (which may be NULL when rsize is 0). Returns the
 * result size, or -1 with errno from door_call. An overflow mapping, if the
 * library made one, is unmapped.
 */
static inline long call_door(int fd, const void *arg, size_t n, void *res, size_t rsize)
{
	char buf[512];
	door_arg_t a = { (char *)arg, n, NULL, 0, buf, sizeof buf };
	if (door_call(fd, &a) == -1)
		return -1;
	size_t got = a.data_size;
	if (got > 0 && res != NULL)
		memcpy(res, a.data_ptr, got < rsize ? got : rsize);
	if (a.rbuf != buf)
		munmap(a.rbuf, a.rsize);
	return (long)got;
}

/* door_info into a buffer first filled with 0xA5, so unwritten fields show. */
static inline int info_of(int fd, door_info_t *di)
{
	memset(di, 0xA5, sizeof *di);
	return door_info(fd, di);
}

/* Creates `path` (mode 0644) and attaches a new door with these arguments. */
static inline int attach_new(const char *path, door_server_procedure_t *proc, void *cookie, uint_t attrs)
{
	make_file(path, 0644);
	int d = door_create(proc, cookie, attrs);
	CHECK(d >= 0);
	CHECK_OK(fattach(d, path));
	return d;
}

/* Waits up to `seconds` for `path` to be an attached door (a server in
 * another process attaches it); fails the test if it is not by then. */
static inline void await_attached(const char *path, double seconds)
{
	struct stat st;
	double end = now_seconds() + seconds;
	while (!(stat(path, &st) == 0 && S_ISDOOR(st.st_mode))) {
		CHECK(now_seconds() < end);
		usleep(2000);   /* polling interval of the deadline loop */
	}
}

/* What a server process made by `serve_attached` serves. */
struct attached {
	const char *path;
	door_server_procedure_t *proc;
	struct gate *ready;
};

/* A server process's body (for spawn_tied): attaches a new door running
 * `proc` at `path`, opens `ready`, and serves until it is killed. */
static inline void serve_attached(void *arg)
{
	const struct attached *a = arg;
	attach_new(a->path, a->proc, NULL, 0);
	gate_open(a->ready);
	for (;;)
		pause();
}

/* A "Name:   value kB" field of /proc/self/status (VmSize, VmRSS...), or -1. */
static inline long proc_status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return -1;
	char line[256];
	long v = -1;
	size_t n = strlen(field);
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* The number of mappings in /proc/self/maps, but for writable and
 * executable ones: neither libdoor nor the tests make any, and under
 * valgrind they are valgrind's own (its translations and heap), which grow
 * as it meets new code, whatever the program does. */
static inline int mapping_count(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (f == NULL)
		return -1;
	int n = 0;
	char line[4096];
	while (fgets(line, sizeof line, f) != NULL) {
		char perms[8] = "";
		if (sscanf(line, "%*s %7s", perms) == 1 && strcmp(perms, "rwxp") != 0)
			n++;
		/* (A line longer than the buffer: read the rest of it.) */
		while (strchr(line, '\n') == NULL && fgets(line, sizeof line, f) != NULL)
			;
	}
	fclose(f);
	return n;
}

/* The state letter of process `pid` (/proc/pid/stat: 'S' sleeping, 'R'
 * running...), or 0 if it cannot be read. */
static inline char proc_state(pid_t pid)
{
	char name[64], buf[512];
	snprintf(name, sizeof name, "/proc/%d/stat", (int)pid);
	int f = open(name, O_RDONLY);
	if (f < 0)
		return 0;
	ssize_t n = read(f, buf, sizeof buf - 1);
	close(f);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' ? p[2] : 0;
}

/*
 * Polls `probe(arg)` until it returns `want` (a server's descriptor count
 * coming back after a fault, say), for at most `seconds`; on timeout the
 * test fails, naming `what` and the last value.
 */
static inline void await_value(int (*probe)(void *), void *arg, int want, double seconds, const char *what)
{
	double end = now_seconds() + seconds;
	int now;
	while ((now = probe(arg)) != want) {
		if (now_seconds() > end) {
			fprintf(stderr, "FAIL %s: %s is %d after %.1f s, wanted %d\n", test_name, what, now, seconds, want);
			exit(1);
		}
		usleep(1000); /* polling interval, not a synchronisation */
	}
}

/* count_fds_of as a probe for await_value and least_value: `pid` points
 * to the process's pid_t (0: this process). */
static inline int fds_of_probe(void *pid)
{
	return count_fds_of(*(const pid_t *)pid);
}

/*
 * The least value `probe(arg)` gives over `seconds`: a server's descriptor
 * count at rest, which one look could catch one high while the server is
 * still closing what it no longer needs (an opener's connection, a
 * dropped channel's socket on its reaper thread).
 */
static inline int least_value(int (*probe)(void *), void *arg, double seconds)
{
	int least = probe(arg);
	for (double end = now_seconds() + seconds; now_seconds() < end; usleep(2000)) {
		int n = probe(arg);
		if (n < least)
			least = n;
	}
	return least;
}

#endif
