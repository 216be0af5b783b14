/*
 * Helpers for the interruption tests (signals.c, cancel.c, fork_exec.c), on
 * top of door_test.h:
 *
 * - a test made of independent parts, each run in its own tied child
 *   process with its own deadline, so that one failing part does not hide
 *   the others (`<test> <part>` runs one part);
 * - waiting until a thread of another process sleeps (poll or futex), so that a
 *   signal or cancellation sent next really interrupts a waiting door_call
 *   (the /proc reading is a polling loop with a deadline, never a fixed
 *   sleep);
 * - a shared anonymous page for flags that a spinning procedure can watch
 *   without entering a cancellation point.
 */
#ifndef LIBDOOR_INTERRUPT_TEST_H
#define LIBDOOR_INTERRUPT_TEST_H

#include "door_test.h"

#include <stdatomic.h>

/* ---- parts ---------------------------------------------------------- */

struct part {
	const char *name;
	void (*run)(void);
	const char *what; /* one line: what the part checks */
};

static const char *part_test;

static inline void part_main(void *arg)
{
	const struct part *p = arg;
	static char name[128];
	snprintf(name, sizeof name, "%s.%s", part_test, p->name);
	test_name = name;
	p->run();
}

/*
 * Runs every part (or only argv[1]) in its own process, each within
 * `limit` seconds; reports each. Returns the number of failed parts.
 */
static inline int run_parts(const char *test, const struct part *parts, size_t n, int argc, char **argv, double limit)
{
	part_test = test;
	test_name = test;
	int failed = 0, ran = 0;
	for (size_t i = 0; i < n; i++) {
		if (argc > 1 && strcmp(argv[1], parts[i].name) != 0)
			continue;
		ran++;
		double t0 = now_seconds();
		pid_t pid = spawn_tied(part_main, (void *)&parts[i]);
		int status;
		if (!ended_within(pid, limit, &status)) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "FAIL %s.%s: did not finish within %.0f s (%s)\n", test, parts[i].name, limit,
			    parts[i].what);
			failed++;
		} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			if (WIFSIGNALED(status))
				fprintf(stderr, "FAIL %s.%s: killed by signal %d (%s)\n", test, parts[i].name,
				    WTERMSIG(status), parts[i].what);
			else
				fprintf(stderr, "FAIL %s.%s: exit status %d (%s)\n", test, parts[i].name,
				    WEXITSTATUS(status), parts[i].what);
			failed++;
		} else {
			printf("ok   %s.%s (%.2f s)\n", test, parts[i].name, now_seconds() - t0);
		}
		fflush(NULL);
	}
	if (ran == 0) {
		fprintf(stderr, "FAIL %s: no part named %s\n", test, argc > 1 ? argv[1] : "?");
		return 1;
	}
	return failed;
}

/* ---- where another thread is blocked --------------------------------- */

/* The state letter of thread `tid` of `pid`, or 0. */
static inline char thread_state(pid_t pid, pid_t tid)
{
	char name[96], buf[512];
	snprintf(name, sizeof name, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	int f = open(name, O_RDONLY | O_CLOEXEC);
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

/* The system call thread `tid` of `pid` is blocked in; -1 if it is in
 * none (or running); -2 if /proc does not tell. */
static inline long blocked_syscall(pid_t pid, pid_t tid)
{
	char name[96], buf[256];
	snprintf(name, sizeof name, "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	int f = open(name, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -2;
	ssize_t n = read(f, buf, sizeof buf - 1);
	close(f);
	if (n <= 0)
		return -2;
	buf[n] = 0;
	if (strncmp(buf, "running", 7) == 0)
		return -1;
	return strtol(buf, NULL, 10);
}

/* The system calls a waiting door_call may sleep in: poll(2) or ppoll(2)
 * on a socket, or a futex wait in shared memory. */
static inline int is_wait_syscall(long nr)
{
#ifdef SYS_poll
	if (nr == SYS_poll)
		return 1;
#endif
	return nr == SYS_ppoll || nr == SYS_futex;
}

/*
 * Waits (at most `seconds`) until thread `tid` of `pid` sleeps in one of
 * the waits above: door_call's wait for its reply (or any wait of
 * libdoor's that a signal should end). Fails the test on timeout, naming
 * `what`. Meant for a thread that has nothing else to wait for.
 */
static inline void wait_asleep(pid_t pid, pid_t tid, double seconds, const char *what)
{
	double end = now_seconds() + seconds;
	for (;;) {
		char st = thread_state(pid, tid);
		long nr = blocked_syscall(pid, tid);
		if (st == 'S' && (is_wait_syscall(nr) || nr == -2))
			return;
		if (now_seconds() > end) {
			fprintf(stderr, "FAIL %s: %s (thread %d of %d) is not asleep in poll or futex after %.1f s (state %c, syscall %ld)\n",
			    test_name, what, (int)tid, (int)pid, seconds, st ? st : '?', nr);
			exit(1);
		}
		/* Polling interval of the deadline loop, not a synchronisation. */
		usleep(1000);
	}
}

/* Waits (at most `seconds`) until process `pid` is stopped. */
static inline void wait_stopped(pid_t pid, double seconds)
{
	double end = now_seconds() + seconds;
	while (thread_state(pid, pid) != 'T') {
		if (now_seconds() > end) {
			fprintf(stderr, "FAIL %s: process %d did not stop\n", test_name, (int)pid);
			exit(1);
		}
		usleep(1000);
	}
}

/* Waits (at most `seconds`) until thread `tid` of `pid` has exited. */
static inline int thread_gone_within(pid_t pid, pid_t tid, double seconds)
{
	char name[96];
	snprintf(name, sizeof name, "/proc/%d/task/%d", (int)pid, (int)tid);
	double end = now_seconds() + seconds;
	while (access(name, F_OK) == 0) {
		if (now_seconds() > end)
			return 0;
		usleep(1000);
	}
	return 1;
}

/* ---- misc -------------------------------------------------------------- */

/* Whether `fd` is readable within `seconds` (0: nothing came). */
static inline int readable_within(int fd, double seconds)
{
	double end = now_seconds() + seconds;
	for (;;) {
		double left = end - now_seconds();
		if (left < 0)
			left = 0;
		struct pollfd p = { fd, POLLIN, 0 };
		int r = poll(&p, 1, (int)(left * 1000));
		if (r == -1 && errno == EINTR)
			continue;
		CHECK(r >= 0);
		return r > 0;
	}
}

/* A page of shared anonymous memory, made before forking. */
static inline void *shared_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	memset(p, 0, 4096);
	return p;
}

/* Installs `fn` for `sig` with `flags` (SA_RESTART or 0). */
static inline void catch_signal(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	CHECK_OK(sigaction(sig, &sa, NULL));
}

/* door_call with a small argument; errno from door_call on failure. */
static inline long call_str(int fd, const char *arg, void *res, size_t rsize)
{
	return call_door(fd, arg, strlen(arg) + 1, res, rsize);
}

/* Fails the test unless `r` is -1 with errno `want` (errno was saved in `e`). */
#define EXPECT_FAIL(r, e, want, what)                                                            \
	do {                                                                                         \
		if ((r) != -1 || (e) != (want)) {                                                        \
			fprintf(stderr, "FAIL %s: %s:%d: %s returned %ld errno %d (%s), wanted -1 %s\n",     \
			    test_name, __FILE__, __LINE__, what, (long)(r), (e), strerror(e), #want);        \
			exit(1);                                                                             \
		}                                                                                        \
	} while (0)


/* Whether the descriptor a procedure returned with DOOR_RELEASE (*fd,
 * recorded with its fstat in *st under *lock) has been closed in the
 * server, waiting at most 5 s: the stale door_return may still be under
 * way in its thread. */
static inline int released_within(pthread_mutex_t *lock, const int *fd, const struct stat *st)
{
	double end = now_seconds() + 5;
	for (;;) {
		pthread_mutex_lock(lock);
		int f = *fd;
		struct stat want = *st;
		pthread_mutex_unlock(lock);
		if (f >= 0) {
			struct stat now;
			if (fstat(f, &now) == -1 || now.st_ino != want.st_ino || now.st_dev != want.st_dev)
				return 1;
		}
		if (now_seconds() > end)
			return 0;
		usleep(1000);
	}
}

#endif
