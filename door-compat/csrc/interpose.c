/*
 * The open family, interposed. Each wrapper reads its variadic mode (only C
 * can do that portably), calls the next definition of the same name (libc's,
 * or another interposer's), and only if that failed with ENXIO, which is
 * what opening a socket gives, asks Rust whether the path is an attached
 * door. Ordinary paths pay nothing.
 *
 * The exported names are Rust tail jumps to these hidden functions
 * (src/interpose.rs); the _Static_asserts keep each signature equal to
 * glibc's.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The head of lib.rs Ops (only open_door is used here). */
struct ops {
	void (*next)(void *);
	int (*reply)(char *, size_t, void *, unsigned);
	int (*open_door)(int, const char *, int);
};
extern const struct ops *libdoor_ops;

/* open(2) takes a mode only with these flags. */
static int wants_mode(int flags)
{
	return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

/* The next definition of `name`, looked up once; the race is benign. */
static void *next_fn(void **slot, const char *name)
{
	void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (f == NULL) {
		f = dlsym(RTLD_NEXT, name);
		__atomic_store_n(slot, f, __ATOMIC_RELEASE);
	}
	return f;
}

/* After libc's attempt: a door descriptor if the path is an attached door. */
static int maybe_door(int fd, int dirfd, const char *path, int flags)
{
	if (fd >= 0 || errno != ENXIO || libdoor_ops == NULL)
		return fd;
	int r = libdoor_ops->open_door(dirfd, path, flags);
	if (r == -2) {
		errno = ENXIO;
		return -1;
	}
	return r;
}

static int raw_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

#define OPEN_LIKE(wrapper, name)                                                   \
	int wrapper(const char *path, int flags, ...)                                  \
	{                                                                              \
		static void *slot;                                                         \
		mode_t mode = 0;                                                           \
		if (wants_mode(flags)) {                                                   \
			va_list ap;                                                            \
			va_start(ap, flags);                                                   \
			mode = va_arg(ap, mode_t);                                             \
			va_end(ap);                                                            \
		}                                                                          \
		int (*f)(const char *, int, ...) = next_fn(&slot, #name);                  \
		int fd = f ? f(path, flags, mode) : raw_openat(AT_FDCWD, path, flags, mode); \
		return maybe_door(fd, AT_FDCWD, path, flags);                              \
	}                                                                              \
	_Static_assert(__builtin_types_compatible_p(__typeof__(&wrapper), __typeof__(&name)), #name);

#define OPENAT_LIKE(wrapper, name)                                                 \
	int wrapper(int dirfd, const char *path, int flags, ...)                       \
	{                                                                              \
		static void *slot;                                                         \
		mode_t mode = 0;                                                           \
		if (wants_mode(flags)) {                                                   \
			va_list ap;                                                            \
			va_start(ap, flags);                                                   \
			mode = va_arg(ap, mode_t);                                             \
			va_end(ap);                                                            \
		}                                                                          \
		int (*f)(int, const char *, int, ...) = next_fn(&slot, #name);             \
		int fd = f ? f(dirfd, path, flags, mode) : raw_openat(dirfd, path, flags, mode); \
		return maybe_door(fd, dirfd, path, flags);                                 \
	}                                                                              \
	_Static_assert(__builtin_types_compatible_p(__typeof__(&wrapper), __typeof__(&name)), #name);

/* The _FORTIFY_SOURCE entry points take no mode. */
#define OPEN_2_LIKE(wrapper, name)                                                 \
	int wrapper(const char *path, int flags)                                       \
	{                                                                              \
		static void *slot;                                                         \
		int (*f)(const char *, int) = next_fn(&slot, #name);                       \
		int fd = f ? f(path, flags) : raw_openat(AT_FDCWD, path, flags, 0);        \
		return maybe_door(fd, AT_FDCWD, path, flags);                              \
	}

#define OPENAT_2_LIKE(wrapper, name)                                               \
	int wrapper(int dirfd, const char *path, int flags)                            \
	{                                                                              \
		static void *slot;                                                         \
		int (*f)(int, const char *, int) = next_fn(&slot, #name);                  \
		int fd = f ? f(dirfd, path, flags) : raw_openat(dirfd, path, flags, 0);    \
		return maybe_door(fd, dirfd, path, flags);                                 \
	}

#define CREAT_LIKE(wrapper, name)                                                  \
	int wrapper(const char *path, mode_t mode)                                     \
	{                                                                              \
		static void *slot;                                                         \
		int (*f)(const char *, mode_t) = next_fn(&slot, #name);                    \
		int flags = O_CREAT | O_WRONLY | O_TRUNC;                                  \
		int fd = f ? f(path, mode) : raw_openat(AT_FDCWD, path, flags, mode);      \
		return maybe_door(fd, AT_FDCWD, path, flags);                              \
	}                                                                              \
	_Static_assert(__builtin_types_compatible_p(__typeof__(&wrapper), __typeof__(&name)), #name);

OPEN_LIKE(libdoor_open, open)
OPEN_LIKE(libdoor_open64, open64)
OPENAT_LIKE(libdoor_openat, openat)
OPENAT_LIKE(libdoor_openat64, openat64)
OPEN_2_LIKE(libdoor___open_2, __open_2)
OPEN_2_LIKE(libdoor___open64_2, __open64_2)
OPENAT_2_LIKE(libdoor___openat_2, __openat_2)
OPENAT_2_LIKE(libdoor___openat64_2, __openat64_2)
CREAT_LIKE(libdoor_creat, creat)
CREAT_LIKE(libdoor_creat64, creat64)
