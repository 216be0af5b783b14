/*
 * The dup family, interposed, so that a dup of a door descriptor is a
 * reference of its own for unreferenced notifications, as on illumos (where
 * each descriptor counts). The next definition runs first; only when it
 * succeeded is Rust asked, which replaces the new descriptor by a fresh
 * counted copy if the old one is a door, and does nothing otherwise (one
 * getsockname: no lock, no allocation, so a dup of anything but a door is
 * safe in forked children and signal handlers). A dup of a door is not
 * async-signal-safe: it asks the door's server for the copy (allocating,
 * and waiting up to a second), and for a door of this process it takes
 * the server table's lock.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include "next_fn.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>

typedef void dup_door_fn(int oldfd, int newfd);
static dup_door_fn *dup_door;

void libdoor_forget_fd(int fd); /* close.c */

void libdoor_set_dup_hook(dup_door_fn *hook)
{
	__atomic_store_n(&dup_door, hook, __ATOMIC_RELEASE);
}


/* After a successful duplication of `oldfd` onto `newfd`. */
static int duplicated(int oldfd, int newfd)
{
	dup_door_fn *hook = __atomic_load_n(&dup_door, __ATOMIC_ACQUIRE);
	if (newfd >= 0 && newfd != oldfd) {
		int saved = errno;
		/* The number names something new (dup2 may have closed a door there). */
		libdoor_forget_fd(newfd);
		if (hook != NULL)
			hook(oldfd, newfd);
		errno = saved;
	}
	return newfd;
}

int libdoor_dup(int oldfd)
{
	static void *slot;
	int (*f)(int) = next_fn(&slot, "dup");
	if (f == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return duplicated(oldfd, f(oldfd));
}
_Static_assert(__builtin_types_compatible_p(__typeof__(&libdoor_dup), __typeof__(&dup)), "dup");

int libdoor_dup2(int oldfd, int newfd)
{
	static void *slot;
	int (*f)(int, int) = next_fn(&slot, "dup2");
	if (f == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return duplicated(oldfd, f(oldfd, newfd));
}
_Static_assert(__builtin_types_compatible_p(__typeof__(&libdoor_dup2), __typeof__(&dup2)), "dup2");

int libdoor_dup3(int oldfd, int newfd, int flags)
{
	static void *slot;
	int (*f)(int, int, int) = next_fn(&slot, "dup3");
	if (f == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return duplicated(oldfd, f(oldfd, newfd, flags));
}
_Static_assert(__builtin_types_compatible_p(__typeof__(&libdoor_dup3), __typeof__(&dup3)), "dup3");

/* fcntl's third argument is an int or a pointer; like glibc, pass it on as
 * a pointer-sized word. Only F_DUPFD and F_DUPFD_CLOEXEC duplicate. */
#define FCNTL_LIKE(wrapper, name)                                                  \
	int wrapper(int fd, int cmd, ...)                                              \
	{                                                                              \
		static void *slot;                                                         \
		va_list ap;                                                                \
		va_start(ap, cmd);                                                         \
		void *arg = va_arg(ap, void *);                                            \
		va_end(ap);                                                                \
		int (*f)(int, int, ...) = next_fn(&slot, #name);                           \
		if (f == NULL) {                                                           \
			errno = ENOSYS;                                                        \
			return -1;                                                             \
		}                                                                          \
		int r = f(fd, cmd, arg);                                                   \
		if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)                              \
			return duplicated(fd, r);                                              \
		return r;                                                                  \
	}                                                                              \
	_Static_assert(__builtin_types_compatible_p(__typeof__(&wrapper), __typeof__(&name)), #name);

FCNTL_LIKE(libdoor_fcntl, fcntl)
FCNTL_LIKE(libdoor_fcntl64, fcntl64)
