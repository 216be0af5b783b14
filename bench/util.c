/* doorbench: fatal errors and clean-up, children, pinning, futexes, I/O. */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t main_pid;
static int is_child;
static char dir[256];
static int dir_made;

#define MAX_CHILDREN 512
static pid_t children[MAX_CHILDREN];
static int nchildren;
static atomic_int dying;

int in_child(void)
{
	return is_child;
}

/* Removes `name` under `dirfd` and everything below it, with system calls
 * only (no malloc, no libdoor interposers): safe in a signal handler. */
static void rm_tree_at(int dirfd, const char *name, int depth)
{
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return;
	int fd = (int)syscall(SYS_openat, dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	/* Entries removed while reading may hide others: read again until a
	 * pass removes nothing. */
	for (int removed = 1, pass = 0; removed && depth < 8 && pass < 4; pass++) {
		removed = 0;
		lseek(fd, 0, SEEK_SET);
		char buf[4096] __attribute__((aligned(8)));
		long n;
		while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
			for (long off = 0; off < n;) {
				struct dirent64 *d = (struct dirent64 *)(buf + off);
				off += d->d_reclen;
				if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
					continue;
				rm_tree_at(fd, d->d_name, depth + 1);
				removed = 1;
			}
		}
	}
	close(fd);
	unlinkat(dirfd, name, AT_REMOVEDIR);
}

void cleanup_all(void)
{
	if (is_child)
		return;
	for (int i = 0; i < nchildren; i++) {
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			while (waitpid(children[i], NULL, 0) == -1 && errno == EINTR)
				;
			children[i] = 0;
		}
	}
	nchildren = 0;
	if (dir_made) {
		rm_tree_at(AT_FDCWD, dir, 0);
		dir_made = 0;
	}
}

static void __attribute__((noreturn, format(printf, 2, 0))) vdie(int with_errno, const char *fmt, va_list ap)
{
	int e = errno;
	char msg[600];
	vsnprintf(msg, sizeof msg, fmt, ap);
	fprintf(stderr, "doorbench%s: %s%s%s\n", is_child ? " (child)" : "", msg,
	    with_errno ? ": " : "", with_errno ? strerror(e) : "");
	if (is_child || getpid() != main_pid)
		_exit(1);
	if (atomic_exchange(&dying, 1) == 0) {
		cleanup_all();
		_exit(1);
	}
	for (;;)  /* another thread is cleaning up; its _exit ends us */
		pause();
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdie(0, fmt, ap);
}

void die_errno(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdie(1, fmt, ap);
}

static void on_signal(int sig)
{
	if (atomic_exchange(&dying, 1) == 0) {
		static const char msg[] = "doorbench: interrupted, cleaning up\n";
		ssize_t r = write(2, msg, sizeof msg - 1);
		(void)r;
		cleanup_all();
	}
	_exit(128 + sig);
}

static void on_child(int sig)
{
	(void)sig;
}

void util_init(void)
{
	main_pid = getpid();
	snprintf(dir, sizeof dir, "/tmp/doorbench.XXXXXX");
	if (mkdtemp(dir) == NULL)
		die_errno("mkdtemp");
	dir_made = 1;
	struct sigaction sa = { 0 };
	sa.sa_handler = on_signal;
	sigfillset(&sa.sa_mask);
	int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGALRM };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Children live until cleanup, so SIGCHLD before it means one died; with
	 * a handler and no SA_RESTART it interrupts the floor's untimed wait. */
	struct sigaction chld = { 0 };
	chld.sa_handler = on_child;
	sigaction(SIGCHLD, &chld, NULL);
}

const char *work_dir(void)
{
	return dir;
}

void work_path(char *buf, const char *name)
{
	snprintf(buf, PATH_BUF, "%s/%s", dir, name);
}

pid_t spawn_child(int pin, void (*fn)(void *), void *arg)
{
	if (nchildren == MAX_CHILDREN)
		die("too many children");
	fflush(NULL);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		die_errno("fork");
	if (pid == 0) {
		is_child = 1;
		nchildren = 0;
		dir_made = 0;
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
			_exit(1);
		int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGALRM };
		for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
			signal(sigs[i], SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		pin_self(pin, 1);
		fn(arg);
		_exit(0);
	}
	children[nchildren++] = pid;
	return pid;
}

void check_children(void)
{
	for (int i = 0; i < nchildren; i++) {
		int st;
		if (children[i] > 0 && waitpid(children[i], &st, WNOHANG) == children[i]) {
			pid_t pid = children[i];
			children[i] = 0;
			die("child %d ended unexpectedly (status 0x%x)", (int)pid, st);
		}
	}
}

void gate_init(struct gate *g)
{
	CHECK_OK(pipe2(g->fd, O_CLOEXEC));
}

void gate_open(struct gate *g)
{
	char c = 1;
	CHECK(write(g->fd[1], &c, 1) == 1);
	close(g->fd[0]);
	close(g->fd[1]);
}

void gate_wait(struct gate *g)
{
	close(g->fd[1]);
	char c;
	ssize_t r;
	while ((r = read(g->fd[0], &c, 1)) == -1 && errno == EINTR)
		;
	close(g->fd[0]);
	if (r != 1) {
		check_children();
		die("a child died before it was ready");
	}
}

/* ---- pinning ---- */

const char *const pin_name[PIN_COUNT] = { "free", "same", "diff" };
const char *const pin_title[PIN_COUNT] = { "free", "same CPU", "different CPUs" };
static cpu_set_t orig_mask;
static int cpu_a = -1, cpu_b = -1, cpus_allowed;

void pin_init(void)
{
	CHECK_OK(sched_getaffinity(0, sizeof orig_mask, &orig_mask));
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &orig_mask))
			continue;
		cpus_allowed++;
		if (cpu_a < 0)
			cpu_a = c;
		else if (cpu_b < 0)
			cpu_b = c;
	}
}

int pin_cpu_count(void)
{
	return cpus_allowed;
}

int pin_available(int pin)
{
	return pin != PIN_DIFF || cpu_b >= 0;
}

void pin_self(int pin, int role)
{
	cpu_set_t m;
	if (pin == PIN_FREE) {
		m = orig_mask;
	} else {
		CPU_ZERO(&m);
		CPU_SET(pin == PIN_DIFF && role == 1 ? cpu_b : cpu_a, &m);
	}
	CHECK_OK(sched_setaffinity(0, sizeof m, &m));
}

/* ---- futexes ---- */

static long futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)word, op, val, ts, NULL, 0);
}

void futex_wake_all(_Atomic uint32_t *word)
{
	futex(word, FUTEX_WAKE, INT_MAX, NULL);
}

void futex_wake_one(_Atomic uint32_t *word)
{
	futex(word, FUTEX_WAKE, 1, NULL);
}

int futex_wait(_Atomic uint32_t *word, uint32_t val, int seconds)
{
	struct timespec ts = { seconds, 0 };
	if (futex(word, FUTEX_WAIT, val, &ts) == -1 && errno == ETIMEDOUT)
		return -1;
	return 0;
}

void futex_wait_change(_Atomic uint32_t *word, uint32_t val, const char *what)
{
	int waited = 0;
	while (atomic_load(word) == val) {
		if (futex_wait(word, val, 1) == -1 && ++waited == 60)
			die("%s: no answer for a minute", what);
		if (!is_child && waited)
			check_children();
	}
}

void futex_wait_untimed(_Atomic uint32_t *word, uint32_t val)
{
	futex(word, FUTEX_WAIT, val, NULL);
}

void futex_wait_change_untimed(_Atomic uint32_t *word, uint32_t val)
{
	while (atomic_load(word) == val)
		if (futex(word, FUTEX_WAIT, val, NULL) == -1 && errno == EINTR && !is_child)
			check_children();
}

/* ---- memory and I/O ---- */

void *shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die_errno("mmap shared %zu", len);
	memset(p, 0, len);
	return p;
}

void *private_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die_errno("mmap %zu", len);
	memset(p, 0x5a, len);
	return p;
}

int read_full(int fd, void *buf, size_t len, int eof_ok)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, (char *)buf + got, len - got);
		if (r == 0) {
			if (got == 0 && eof_ok)
				return 0;
			die("read: end of file after %zu of %zu bytes", got, len);
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die_errno("read");
		}
		got += (size_t)r;
	}
	return 1;
}

void write_full(int fd, const void *buf, size_t len)
{
	size_t put = 0;
	while (put < len) {
		ssize_t r = write(fd, (const char *)buf + put, len - put);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die_errno("write");
		}
		put += (size_t)r;
	}
}

void writev_full(int fd, const void *a, size_t alen, const void *b, size_t blen)
{
	struct iovec iov[2] = { { (void *)a, alen }, { (void *)b, blen } };
	struct iovec *v = iov;
	int nv = 2;
	while (nv > 0) {
		ssize_t r = writev(fd, v, nv);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die_errno("writev");
		}
		size_t done = (size_t)r;
		while (nv > 0 && done >= v->iov_len) {
			done -= v->iov_len;
			v++;
			nv--;
		}
		if (nv > 0) {
			v->iov_base = (char *)v->iov_base + done;
			v->iov_len -= done;
		}
	}
}

uint64_t sum_words(const void *buf, size_t len)
{
	const uint64_t *w = buf;
	size_t n = len / 8, i = 0;
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	for (; i + 4 <= n; i += 4) {
		s0 += w[i];
		s1 += w[i + 1];
		s2 += w[i + 2];
		s3 += w[i + 3];
	}
	for (; i < n; i++)
		s0 += w[i];
	return s0 + s1 + s2 + s3;
}

void fill_pattern(void *buf, size_t len)
{
	uint64_t *w = buf;
	for (size_t i = 0; i < len / 8; i++)
		w[i] = pattern_word(i);
}

const char *size_key(size_t size)
{
	static char s[4][32];
	static int next;
	char *b = s[next++ % 4];
	if (size >= (1u << 20))
		snprintf(b, 32, "%zuM", size >> 20);
	else
		snprintf(b, 32, "%zuK", size >> 10);
	return b;
}
