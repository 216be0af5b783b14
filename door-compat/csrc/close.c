/*
 * close, close_range and closefrom, interposed, so that the memo of which
 * door a descriptor number names (src/fdmemo.rs) forgets a number when it
 * is closed. The number is forgotten before the close too, so that a close
 * cancelled inside libc (close is a cancellation point) leaves nothing
 * remembered; the hooks touch atomics only (safe in signal handlers and
 * forked children). errno is the closing function's.
 *
 * close_range and closefrom leave libdoor's own descriptors open (its
 * channels, door sockets, listeners...): the application never had their
 * numbers, and closing them would leave libdoor sending on, and later
 * closing, numbers the application reuses. (A plain close of such a number
 * is the application's own mistake, as with any library's descriptor.)
 */
#define _GNU_SOURCE
#include "next_fn.h"
#include <errno.h>
#include <limits.h>
#include <unistd.h>

typedef void forget_fn(int fd);
typedef void forget_range_fn(int lo, int hi);
typedef int next_internal_fn(int from);
static forget_fn *forget;
static forget_range_fn *forget_range;
static next_internal_fn *next_internal;

void libdoor_set_close_hooks(forget_fn *f, forget_range_fn *r, next_internal_fn *n)
{
	__atomic_store_n(&next_internal, n, __ATOMIC_RELEASE);
	__atomic_store_n(&forget_range, r, __ATOMIC_RELEASE);
	__atomic_store_n(&forget, f, __ATOMIC_RELEASE);
}

/* The lowest of libdoor's own descriptors in [lo, hi], or -1. */
static int internal_in(int lo, int hi)
{
	next_internal_fn *n = __atomic_load_n(&next_internal, __ATOMIC_ACQUIRE);
	int fd = n != NULL ? n(lo) : -1;
	return fd >= 0 && fd <= hi ? fd : -1;
}

/* Also used by csrc/dup.c for the number a duplication fills. */
void libdoor_forget_fd(int fd)
{
	forget_fn *f = __atomic_load_n(&forget, __ATOMIC_ACQUIRE);
	if (f != NULL && fd >= 0)
		f(fd);
}

static void forget_fds(int lo, int hi)
{
	forget_range_fn *r = __atomic_load_n(&forget_range, __ATOMIC_ACQUIRE);
	if (r != NULL && lo >= 0 && lo <= hi)
		r(lo, hi);
}

int libdoor_close(int fd)
{
	static void *slot;
	int (*f)(int) = next_fn(&slot, "close");
	if (f == NULL) {
		errno = ENOSYS;
		return -1;
	}
	libdoor_forget_fd(fd);
	int r = f(fd);
	int saved = errno;
	libdoor_forget_fd(fd);
	errno = saved;
	return r;
}
_Static_assert(__builtin_types_compatible_p(__typeof__(&libdoor_close), __typeof__(&close)), "close");

static int clamp(unsigned int fd)
{
	return fd > INT_MAX ? INT_MAX : (int)fd;
}

int libdoor_close_range(unsigned int first, unsigned int last, int flags)
{
	static void *slot;
	int (*f)(unsigned int, unsigned int, int) = next_fn(&slot, "close_range");
	if (f == NULL) {
		errno = ENOSYS;
		return -1;
	}
	/* CLOSE_RANGE_CLOEXEC closes nothing now (ours are close-on-exec
	 * already); exec forgets everything. */
	if (flags & CLOSE_RANGE_CLOEXEC)
		return f(first, last, flags);
	/* The stretches between libdoor's own descriptors. */
	int lo = clamp(first), hi = clamp(last), r = 0;
	while (r == 0 && lo <= hi) {
		int ours = internal_in(lo, hi);
		int end = ours < 0 ? hi : ours - 1;
		if (lo <= end)
			r = f((unsigned int)lo, end == INT_MAX ? last : (unsigned int)end, flags);
		if (ours < 0 || ours == INT_MAX)
			break;
		lo = ours + 1;
	}
	int saved = errno;
	if (r == 0)
		forget_fds(clamp(first), clamp(last));
	errno = saved;
	return r;
}
_Static_assert(__builtin_types_compatible_p(__typeof__(&libdoor_close_range), __typeof__(&close_range)), "close_range");

void libdoor_closefrom(int lowfd)
{
	static void *slot;
	void (*f)(int) = next_fn(&slot, "closefrom");
	if (f == NULL)
		return;
	int lo = lowfd < 0 ? 0 : lowfd;
	/* Up to libdoor's own descriptors one stretch at a time (close_range,
	 * interposed above, leaves them open), then libc's closefrom. */
	int ours;
	while ((ours = internal_in(lo, INT_MAX)) >= 0 && ours < INT_MAX) {
		if (lo < ours && libdoor_close_range((unsigned int)lo, (unsigned int)ours - 1, 0) != 0)
			for (int fd = lo; fd < ours; fd++)
				libdoor_close(fd); /* (a kernel without close_range) */
		lo = ours + 1;
	}
	f(lo);
	forget_fds(lowfd < 0 ? 0 : lowfd, INT_MAX);
}
_Static_assert(__builtin_types_compatible_p(__typeof__(&libdoor_closefrom), __typeof__(&closefrom)), "closefrom");
