/*
 * close, close_range and closefrom, interposed, so that the memo of which
 * door a descriptor number names (src/fdmemo.rs) forgets a number when it
 * is closed. The number is forgotten before the close too, so that a close
 * cancelled inside libc (close is a cancellation point) leaves nothing
 * remembered; the hooks touch atomics only (safe in signal handlers and
 * forked children). errno is the closing function's.
 */
#define _GNU_SOURCE
#include "next_fn.h"
#include <errno.h>
#include <limits.h>
#include <unistd.h>

typedef void forget_fn(int fd);
typedef void forget_range_fn(int lo, int hi);
static forget_fn *forget;
static forget_range_fn *forget_range;

void libdoor_set_close_hooks(forget_fn *f, forget_range_fn *r)
{
	__atomic_store_n(&forget_range, r, __ATOMIC_RELEASE);
	__atomic_store_n(&forget, f, __ATOMIC_RELEASE);
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
	int r = f(first, last, flags);
	int saved = errno;
	/* CLOSE_RANGE_CLOEXEC closes nothing now; exec forgets everything. */
	if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
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
	f(lowfd);
	forget_fds(lowfd < 0 ? 0 : lowfd, INT_MAX);
}
_Static_assert(__builtin_types_compatible_p(__typeof__(&libdoor_closefrom), __typeof__(&closefrom)), "closefrom");
