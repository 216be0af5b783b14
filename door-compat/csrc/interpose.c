/*
 * The open and stat families, interposed. Each wrapper calls the next
 * definition of the same name (libc's, or another interposer's) and asks
 * Rust only on one outcome, so ordinary paths pay nothing:
 *
 * - open: only if it failed with ENXIO, which is what opening a socket
 *   gives, is the path perhaps an attached door (the wrappers also read the
 *   variadic mode, which only C can do portably);
 * - stat: only if it succeeded and found a socket is the object perhaps a
 *   door, reported as illumos does, with S_IFDOOR (src/stat.rs).
 *
 * The exported names are Rust tail jumps to these hidden functions
 * (src/interpose.rs); the _Static_asserts keep each signature equal to
 * glibc's.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include "next_fn.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Must match stat::DoorStat. */
struct door_stat {
	unsigned mode, uid, gid;
	unsigned descriptor; /* a door descriptor: times are 0, as on illumos */
};

/* Must match open.rs OpenOps: set by lib.rs init (NULL until then). */
struct open_ops {
	int (*begin)(int, const char *, int, void **, int *);
	int (*answered)(void *, void **, int *);
	void (*abandon)(void *);
	int (*target)(const void *);
};
static const struct open_ops *open_ops;

/* Their results besides a descriptor and -1 (open.rs). */
#define NOT_A_DOOR (-2)
#define ASKING (-3)
#define CONNECTING (-4)

void libdoor_set_open_ops(const struct open_ops *ops)
{
	__atomic_store_n(&open_ops, ops, __ATOMIC_RELEASE);
}

/* stat::stat_door_hook, set by lib.rs init (NULL until then). It has its
 * own setter so that lib.rs Ops, which door_loop.c mirrors, need not
 * change. */
typedef int stat_door_fn(int, const char *, int, uint64_t, uint64_t, struct door_stat *);
static stat_door_fn *stat_door;

void libdoor_set_stat_hook(stat_door_fn *hook)
{
	__atomic_store_n(&stat_door, hook, __ATOMIC_RELEASE);
}

/* open(2) takes a mode only with these flags. */
static int wants_mode(int flags)
{
	return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

/* open.rs OPEN_PATIENCE: how long a caught signal leaves the wait going. */
#define OPEN_PATIENCE_NS 1000000000LL

/* Nanoseconds of the monotonic clock since `start`. */
static long long elapsed_ns(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000000000LL + (now.tv_nsec - start->tv_nsec);
}

/*
 * Waits until the door's server has answered on `conn` (or the connection
 * failed): 0, or -1 when a signal ended the wait. As open.rs
 * await_answer, in C because the wait is a cancellation point, as open
 * is: glibc's ppoll and recv act on cancellation, and unwinding from
 * them passes no Rust frame. A live server answers at once, and illumos
 * programs do not expect EINTR from open (there it never waits), so
 * signals are ignored for OPEN_PATIENCE; after that a caught signal ends
 * the wait, unless its handler asks for restarts (the kernel restarts a
 * blocking recv for those).
 */
static int await_answer(int conn)
{
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		long long left = OPEN_PATIENCE_NS - elapsed_ns(&start);
		if (left <= 0)
			break;
		struct timespec ts = { (time_t)(left / 1000000000LL), (long)(left % 1000000000LL) };
		struct pollfd p = { conn, POLLIN, 0 };
		int n = ppoll(&p, 1, &ts, NULL);
		if (n > 0 || (n < 0 && errno != EINTR))
			return 0;
	}
	char byte;
	return recv(conn, &byte, 1, MSG_PEEK) < 0 && errno == EINTR ? -1 : 0;
}

/*
 * Connects `conn` to the attachment's socket, descriptor `target`, waiting
 * for room in its queue of connections, which is full (a stopped server
 * accepts none): 0 once connected (or failed), -1 when a signal ended the
 * wait. glibc's connect is a cancellation point and is restarted after a
 * handler installed with SA_RESTART; other signals end it after
 * OPEN_PATIENCE, as in await_answer. As open.rs await_room.
 */
static int await_room(int conn, int target)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d", target);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (connect(conn, (struct sockaddr *)&addr, sizeof addr) == 0 || errno != EINTR)
			return 0;
		if (elapsed_ns(&start) >= OPEN_PATIENCE_NS)
			return -1;
	}
}

static void abandon_opening(void *opening)
{
	open_ops->abandon(opening);
}

/* After libc's attempt: a door descriptor if the path is an attached door. */
static int maybe_door(int fd, int dirfd, const char *path, int flags, int saved_errno)
{
	const struct open_ops *ops = __atomic_load_n(&open_ops, __ATOMIC_ACQUIRE);
	if (fd >= 0 || errno != ENXIO || ops == NULL)
		return fd;
	void *opening = NULL;
	int conn = -1;
	int r = ops->begin(dirfd, path, flags, &opening, &conn);
	while (r == ASKING || r == CONNECTING) {
		int interrupted;
		/* Cancelled while waiting: the open is given up, its connection closed. */
		pthread_cleanup_push(abandon_opening, opening);
		interrupted = r == ASKING ? await_answer(conn) : await_room(conn, ops->target(opening));
		pthread_cleanup_pop(0);
		if (interrupted) {
			ops->abandon(opening);
			errno = EINTR;
			return -1;
		}
		r = ops->answered(opening, &opening, &conn);
	}
	if (r == NOT_A_DOOR) {
		errno = ENXIO;
		return -1;
	}
	/* A successful open leaves errno as it was before the call. */
	if (r >= 0)
		errno = saved_errno;
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
		int saved = errno;                                                         \
		int (*f)(const char *, int, ...) = next_fn(&slot, #name);                  \
		int fd = f ? f(path, flags, mode) : raw_openat(AT_FDCWD, path, flags, mode); \
		return maybe_door(fd, AT_FDCWD, path, flags, saved);                       \
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
		int saved = errno;                                                         \
		int (*f)(int, const char *, int, ...) = next_fn(&slot, #name);             \
		int fd = f ? f(dirfd, path, flags, mode) : raw_openat(dirfd, path, flags, mode); \
		return maybe_door(fd, dirfd, path, flags, saved);                          \
	}                                                                              \
	_Static_assert(__builtin_types_compatible_p(__typeof__(&wrapper), __typeof__(&name)), #name);

/* The _FORTIFY_SOURCE entry points take no mode. */
#define OPEN_2_LIKE(wrapper, name)                                                 \
	int wrapper(const char *path, int flags)                                       \
	{                                                                              \
		static void *slot;                                                         \
		int saved = errno;                                                         \
		int (*f)(const char *, int) = next_fn(&slot, #name);                       \
		int fd = f ? f(path, flags) : raw_openat(AT_FDCWD, path, flags, 0);        \
		return maybe_door(fd, AT_FDCWD, path, flags, saved);                       \
	}

#define OPENAT_2_LIKE(wrapper, name)                                               \
	int wrapper(int dirfd, const char *path, int flags)                            \
	{                                                                              \
		static void *slot;                                                         \
		int saved = errno;                                                         \
		int (*f)(int, const char *, int) = next_fn(&slot, #name);                  \
		int fd = f ? f(dirfd, path, flags) : raw_openat(dirfd, path, flags, 0);    \
		return maybe_door(fd, dirfd, path, flags, saved);                          \
	}

#define CREAT_LIKE(wrapper, name)                                                  \
	int wrapper(const char *path, mode_t mode)                                     \
	{                                                                              \
		static void *slot;                                                         \
		int saved = errno;                                                         \
		int (*f)(const char *, mode_t) = next_fn(&slot, #name);                    \
		int flags = O_CREAT | O_WRONLY | O_TRUNC;                                  \
		int fd = f ? f(path, mode) : raw_openat(AT_FDCWD, path, flags, mode);      \
		return maybe_door(fd, AT_FDCWD, path, flags, saved);                       \
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

/*
 * The stat family. Every wrapper reduces to fstatat's terms for Rust:
 * (dirfd, path, flags), path NULL for a descriptor. Rust is asked only after
 * a successful call that found a socket, and errno is kept across it.
 */
static int ask_door(int dirfd, const char *path, int flags, uint64_t dev, uint64_t ino, struct door_stat *ds)
{
	stat_door_fn *hook = __atomic_load_n(&stat_door, __ATOMIC_ACQUIRE);
	if (hook == NULL)
		return 0;
	int saved = errno;
	int r = hook(dirfd, path, flags, dev, ino, ds);
	errno = saved;
	return r;
}

/* Rewrites a struct stat or stat64 (the same layout on x86_64) that showed
 * a door's socket. */
#define DOOR_STAT(r, st, dirfd, path, flags)                                       \
	do {                                                                           \
		struct door_stat ds_;                                                      \
		if ((r) == 0 && S_ISSOCK((st)->st_mode)                                    \
		    && ask_door(dirfd, path, flags, (st)->st_dev, (st)->st_ino, &ds_)) {   \
			(st)->st_mode = ds_.mode;                                              \
			(st)->st_uid = ds_.uid;                                                \
			(st)->st_gid = ds_.gid;                                                \
			(st)->st_nlink = 1;                                                    \
			(st)->st_size = 0;                                                     \
			(st)->st_blocks = 0;                                                   \
			if (ds_.descriptor) {                                                  \
				memset(&(st)->st_atim, 0, sizeof (st)->st_atim);                   \
				memset(&(st)->st_mtim, 0, sizeof (st)->st_mtim);                   \
				memset(&(st)->st_ctim, 0, sizeof (st)->st_ctim);                   \
			}                                                                      \
		}                                                                          \
	} while (0)

_Static_assert(sizeof(struct stat) == sizeof(struct stat64), "stat64 is stat on x86_64");

/* Used only if dlsym finds no next definition. On x86_64 glibc's struct
 * stat is the kernel's. */
static int raw_fstatat(int dirfd, const char *path, void *buf, int flags)
{
	return (int)syscall(SYS_newfstatat, dirfd, path, buf, flags);
}

#define STAT_LIKE(wrapper, name, type, flags)                                      \
	int wrapper(const char *path, type *buf)                                       \
	{                                                                              \
		static void *slot;                                                         \
		int (*f)(const char *, type *) = next_fn(&slot, #name);                    \
		int r = f ? f(path, buf) : raw_fstatat(AT_FDCWD, path, buf, flags);        \
		DOOR_STAT(r, buf, AT_FDCWD, path, flags);                                  \
		return r;                                                                  \
	}                                                                              \
	_Static_assert(__builtin_types_compatible_p(__typeof__(&wrapper), __typeof__(&name)), #name);

#define FSTAT_LIKE(wrapper, name, type)                                            \
	int wrapper(int fd, type *buf)                                                 \
	{                                                                              \
		static void *slot;                                                         \
		int (*f)(int, type *) = next_fn(&slot, #name);                             \
		int r = f ? f(fd, buf) : raw_fstatat(fd, "", buf, AT_EMPTY_PATH);          \
		DOOR_STAT(r, buf, fd, NULL, 0);                                            \
		return r;                                                                  \
	}                                                                              \
	_Static_assert(__builtin_types_compatible_p(__typeof__(&wrapper), __typeof__(&name)), #name);

#define FSTATAT_LIKE(wrapper, name, type)                                          \
	int wrapper(int dirfd, const char *path, type *buf, int flags)                 \
	{                                                                              \
		static void *slot;                                                         \
		int (*f)(int, const char *, type *, int) = next_fn(&slot, #name);          \
		int r = f ? f(dirfd, path, buf, flags) : raw_fstatat(dirfd, path, buf, flags); \
		DOOR_STAT(r, buf, dirfd, path, flags);                                     \
		return r;                                                                  \
	}                                                                              \
	_Static_assert(__builtin_types_compatible_p(__typeof__(&wrapper), __typeof__(&name)), #name);

/*
 * The versioned entry points that programs built against glibc < 2.33 call
 * (glibc 2.36 still exports them; its headers no longer declare them, so
 * there is nothing to assert their signatures against). `ver` is passed on.
 */
#define XSTAT_LIKE(wrapper, name, type, flags)                                     \
	int wrapper(int ver, const char *path, type *buf)                              \
	{                                                                              \
		static void *slot;                                                         \
		int (*f)(int, const char *, type *) = next_fn(&slot, #name);              \
		int r = f ? f(ver, path, buf) : raw_fstatat(AT_FDCWD, path, buf, flags);   \
		DOOR_STAT(r, buf, AT_FDCWD, path, flags);                                  \
		return r;                                                                  \
	}

#define FXSTAT_LIKE(wrapper, name, type)                                           \
	int wrapper(int ver, int fd, type *buf)                                        \
	{                                                                              \
		static void *slot;                                                         \
		int (*f)(int, int, type *) = next_fn(&slot, #name);                        \
		int r = f ? f(ver, fd, buf) : raw_fstatat(fd, "", buf, AT_EMPTY_PATH);     \
		DOOR_STAT(r, buf, fd, NULL, 0);                                            \
		return r;                                                                  \
	}

#define FXSTATAT_LIKE(wrapper, name, type)                                         \
	int wrapper(int ver, int dirfd, const char *path, type *buf, int flags)        \
	{                                                                              \
		static void *slot;                                                         \
		int (*f)(int, int, const char *, type *, int) = next_fn(&slot, #name);     \
		int r = f ? f(ver, dirfd, path, buf, flags) : raw_fstatat(dirfd, path, buf, flags); \
		DOOR_STAT(r, buf, dirfd, path, flags);                                     \
		return r;                                                                  \
	}

STAT_LIKE(libdoor_stat, stat, struct stat, 0)
STAT_LIKE(libdoor_stat64, stat64, struct stat64, 0)
STAT_LIKE(libdoor_lstat, lstat, struct stat, AT_SYMLINK_NOFOLLOW)
STAT_LIKE(libdoor_lstat64, lstat64, struct stat64, AT_SYMLINK_NOFOLLOW)
FSTAT_LIKE(libdoor_fstat, fstat, struct stat)
FSTAT_LIKE(libdoor_fstat64, fstat64, struct stat64)
FSTATAT_LIKE(libdoor_fstatat, fstatat, struct stat)
FSTATAT_LIKE(libdoor_fstatat64, fstatat64, struct stat64)
XSTAT_LIKE(libdoor___xstat, __xstat, struct stat, 0)
XSTAT_LIKE(libdoor___xstat64, __xstat64, struct stat64, 0)
XSTAT_LIKE(libdoor___lxstat, __lxstat, struct stat, AT_SYMLINK_NOFOLLOW)
XSTAT_LIKE(libdoor___lxstat64, __lxstat64, struct stat64, AT_SYMLINK_NOFOLLOW)
FXSTAT_LIKE(libdoor___fxstat, __fxstat, struct stat)
FXSTAT_LIKE(libdoor___fxstat64, __fxstat64, struct stat64)
FXSTATAT_LIKE(libdoor___fxstatat, __fxstatat, struct stat)
FXSTATAT_LIKE(libdoor___fxstatat64, __fxstatat64, struct stat64)

/* statx reports the type in stx_mode when STATX_TYPE is in stx_mask. */
int libdoor_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *buf)
{
	static void *slot;
	int (*f)(int, const char *, int, unsigned, struct statx *) = next_fn(&slot, "statx");
	int r = f ? f(dirfd, path, flags, mask, buf) : (int)syscall(SYS_statx, dirfd, path, flags, mask, buf);
	struct door_stat ds;
	if (r == 0 && (buf->stx_mask & STATX_TYPE) && S_ISSOCK(buf->stx_mode)
	    && ask_door(dirfd, path, flags, makedev(buf->stx_dev_major, buf->stx_dev_minor), buf->stx_ino, &ds)) {
		buf->stx_mode = (uint16_t)ds.mode;
		buf->stx_uid = ds.uid;
		buf->stx_gid = ds.gid;
		buf->stx_nlink = 1;
		buf->stx_size = 0;
		buf->stx_blocks = 0;
		if (ds.descriptor) {
			memset(&buf->stx_atime, 0, sizeof buf->stx_atime);
			memset(&buf->stx_btime, 0, sizeof buf->stx_btime);
			memset(&buf->stx_ctime, 0, sizeof buf->stx_ctime);
			memset(&buf->stx_mtime, 0, sizeof buf->stx_mtime);
		}
	}
	return r;
}
_Static_assert(__builtin_types_compatible_p(__typeof__(&libdoor_statx), __typeof__(&statx)), "statx");
