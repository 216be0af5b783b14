/* stat of doors, server and client in separate processes: S_IFDOOR from
 * include/sys/stat.h; stat, stat64, lstat, lstat64, fstatat, fstatat64,
 * statx and the pre-2.33 __xstat family of an attached path report S_IFDOOR
 * with the covered file's recorded mode, uid and gid; fstat (and the rest)
 * of a door descriptor, from door_create and from open of the path, reports
 * S_IFDOOR|0777, uid 0, gid 0, size 0, times 0; an O_PATH descriptor of the
 * path reports the attachment; errno is kept; regular files, directories,
 * pipes, symlinks and ordinary unix sockets are reported exactly as the
 * kernel does; after fdetach the path is the covered regular file again. */
#define _GNU_SOURCE
/* First, so S_IFDOOR must come from the shim, not from <sys/door.h>. */
#include <sys/stat.h>
#ifndef S_IFDOOR
#error "include/sys/stat.h must define S_IFDOOR"
#endif
#include "door_test.h"
#include <sys/sysmacros.h>
#include <sys/un.h>

_Static_assert(S_IFDOOR == 0xD000 && S_IFDOOR == 0150000, "S_IFDOOR as illumos defines it");
_Static_assert(S_ISDOOR(S_IFDOOR | 0640) && !S_ISDOOR(S_IFSOCK | 0777) && !S_ISDOOR(S_IFREG), "S_ISDOOR");

/* The entry points programs built against glibc < 2.33 call; glibc 2.36
 * still exports them but no longer declares them. 1 is _STAT_VER_LINUX. */
extern int __xstat(int, const char *, struct stat *);
extern int __lxstat(int, const char *, struct stat *);
extern int __fxstat(int, int, struct stat *);
extern int __fxstatat(int, int, const char *, struct stat *, int);
#define STAT_VER 1

#define OWNER 4321
#define GROUP 8765
#define MODE 0640

static char dir[256], path[512], link_path[512], plain[512], subdir[512], sock_path[512];
static uid_t owner;
static gid_t group;

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	door_return("pong", 4, NULL, 0);
}

/* What illumos reports for a door descriptor (door_vnops.c). */
static void check_door_fd_stat(const struct stat *st)
{
	CHECK(S_ISDOOR(st->st_mode) && !S_ISSOCK(st->st_mode));
	CHECK(st->st_mode == (S_IFDOOR | 0777));
	CHECK(st->st_uid == 0 && st->st_gid == 0);
	CHECK(st->st_size == 0 && st->st_nlink == 1);
	CHECK(st->st_mtim.tv_sec == 0 && st->st_mtim.tv_nsec == 0);
	CHECK(st->st_atim.tv_sec == 0 && st->st_ctim.tv_sec == 0);
}

/* What illumos reports for an attached path: the recorded attributes. */
static void check_attached_stat(const struct stat *st, const struct stat *sock)
{
	CHECK(S_ISDOOR(st->st_mode) && !S_ISSOCK(st->st_mode));
	CHECK(st->st_mode == (S_IFDOOR | MODE));
	CHECK(st->st_uid == owner && st->st_gid == group);
	CHECK(st->st_nlink == 1 && st->st_size == 0);
	/* Still the object the kernel sees at the path. */
	CHECK(st->st_ino == sock->st_ino && st->st_dev == sock->st_dev);
}

/* The kernel's own answer, bypassing every libc stat entry point. */
static void raw_stat(int dirfd, const char *p, int flags, struct stat *st)
{
	CHECK(syscall(SYS_newfstatat, dirfd, p, st, flags) == 0);
}

static void raw_statx(int dirfd, const char *p, int flags, struct statx *stx)
{
	CHECK(syscall(SYS_statx, dirfd, p, flags, STATX_BASIC_STATS, stx) == 0);
}

/* struct stat64 is struct stat on x86_64: a copy, as a struct stat. */
static const struct stat *from64(const struct stat64 *s)
{
	static struct stat t;
	_Static_assert(sizeof t == sizeof *s, "stat64");
	memcpy(&t, s, sizeof t);
	return &t;
}

/* libc's answer, through every interposed name, must equal the kernel's. */
static void same_stat(const struct stat *a, const struct stat *b)
{
	CHECK(!S_ISDOOR(a->st_mode));
	CHECK(a->st_mode == b->st_mode && a->st_ino == b->st_ino && a->st_dev == b->st_dev);
	CHECK(a->st_nlink == b->st_nlink && a->st_uid == b->st_uid && a->st_gid == b->st_gid);
	CHECK(a->st_size == b->st_size && a->st_rdev == b->st_rdev && a->st_blocks == b->st_blocks);
	CHECK(a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec);
	CHECK(a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec);
}

static void unchanged_path(const char *p)
{
	struct stat want, lwant, got;
	struct stat64 got64;
	raw_stat(AT_FDCWD, p, 0, &want);
	raw_stat(AT_FDCWD, p, AT_SYMLINK_NOFOLLOW, &lwant);
	CHECK_OK(stat(p, &got));
	same_stat(&got, &want);
	CHECK_OK(stat64(p, &got64));
	same_stat(from64(&got64), &want);
	CHECK_OK(fstatat(AT_FDCWD, p, &got, 0));
	same_stat(&got, &want);
	CHECK_OK(__xstat(STAT_VER, p, &got));
	same_stat(&got, &want);
	CHECK_OK(lstat(p, &got));
	same_stat(&got, &lwant);
	CHECK_OK(fstatat(AT_FDCWD, p, &got, AT_SYMLINK_NOFOLLOW));
	same_stat(&got, &lwant);
	CHECK_OK(__lxstat(STAT_VER, p, &got));
	same_stat(&got, &lwant);
	struct statx sx, wantx;
	raw_statx(AT_FDCWD, p, 0, &wantx);
	CHECK_OK(statx(AT_FDCWD, p, 0, STATX_BASIC_STATS, &sx));
	CHECK(sx.stx_mode == wantx.stx_mode && sx.stx_ino == wantx.stx_ino && sx.stx_uid == wantx.stx_uid);
	CHECK(sx.stx_nlink == wantx.stx_nlink && sx.stx_size == wantx.stx_size);
}

static void unchanged_fd(int fd)
{
	struct stat want, got;
	CHECK(syscall(SYS_fstat, fd, &want) == 0);
	CHECK_OK(fstat(fd, &got));
	same_stat(&got, &want);
	CHECK_OK(__fxstat(STAT_VER, fd, &got));
	same_stat(&got, &want);
	CHECK_OK(fstatat(fd, "", &got, AT_EMPTY_PATH));
	same_stat(&got, &want);
	struct statx sx;
	CHECK_OK(statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx));
	CHECK(sx.stx_mode == want.st_mode && sx.stx_ino == want.st_ino);
}

/* --- the server: its own door_create descriptor, then the attachment --- */
struct server_arg { struct gate ready; };
static void server(void *arg)
{
	struct server_arg *s = arg;
	int d = door_create(server_proc, NULL, 0);
	CHECK(d >= 0);
	struct stat st;
	errno = 4242;
	CHECK_OK(fstat(d, &st));
	CHECK(errno == 4242);
	check_door_fd_stat(&st);
	struct stat64 st64;
	CHECK_OK(fstat64(d, &st64));
	check_door_fd_stat(from64(&st64));
	/* The kernel still sees a socket. */
	CHECK(syscall(SYS_fstat, d, &st) == 0 && S_ISSOCK(st.st_mode));

	CHECK_OK(fattach(d, path));
	CHECK_OK(fstat(d, &st));
	check_door_fd_stat(&st);
	gate_open(&s->ready);
	door_return(NULL, 0, NULL, 0);
}

/* Every path entry point on the attached path (or a symlink to it). */
static void check_attached_path(void)
{
	struct stat sock, st;
	struct stat64 st64;
	raw_stat(AT_FDCWD, path, 0, &sock);
	CHECK(S_ISSOCK(sock.st_mode));

	errno = 4242;
	CHECK_OK(stat(path, &st));
	CHECK(errno == 4242);
	check_attached_stat(&st, &sock);
	CHECK_OK(stat64(path, &st64));
	check_attached_stat(from64(&st64), &sock);
	/* lstat too: illumos' attached path is a mount point, not a link. */
	CHECK_OK(lstat(path, &st));
	check_attached_stat(&st, &sock);
	CHECK_OK(lstat64(path, &st64));
	check_attached_stat(from64(&st64), &sock);
	CHECK_OK(fstatat(AT_FDCWD, path, &st, 0));
	check_attached_stat(&st, &sock);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0);
	CHECK_OK(fstatat(dfd, "door", &st, AT_SYMLINK_NOFOLLOW));
	check_attached_stat(&st, &sock);
	CHECK_OK(fstatat64(dfd, "door", &st64, 0));
	check_attached_stat(from64(&st64), &sock);
	CHECK_OK(__xstat(STAT_VER, path, &st));
	check_attached_stat(&st, &sock);
	CHECK_OK(__lxstat(STAT_VER, path, &st));
	check_attached_stat(&st, &sock);
	CHECK_OK(__fxstatat(STAT_VER, dfd, "door", &st, AT_SYMLINK_NOFOLLOW));
	check_attached_stat(&st, &sock);
	close(dfd);

	struct statx sx;
	errno = 4242;
	CHECK_OK(statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx));
	CHECK(errno == 4242);
	CHECK(S_ISDOOR(sx.stx_mode) && sx.stx_mode == (S_IFDOOR | MODE));
	CHECK(sx.stx_uid == owner && sx.stx_gid == group && sx.stx_nlink == 1 && sx.stx_size == 0);
	CHECK(sx.stx_ino == sock.st_ino);

	/* Through a symlink: stat follows it to the door, lstat sees the link. */
	CHECK_OK(stat(link_path, &st));
	check_attached_stat(&st, &sock);
	CHECK_OK(statx(AT_FDCWD, link_path, 0, STATX_BASIC_STATS, &sx));
	CHECK(sx.stx_mode == (S_IFDOOR | MODE));
	CHECK_OK(lstat(link_path, &st));
	CHECK(S_ISLNK(st.st_mode));

	/* An O_PATH descriptor names the path, not the door: the attachment. */
	int op = open(path, O_PATH);
	CHECK(op >= 0);
	CHECK_OK(fstat(op, &st));
	check_attached_stat(&st, &sock);
	CHECK_OK(fstatat(op, "", &st, AT_EMPTY_PATH));
	check_attached_stat(&st, &sock);
	close(op);
}

/* Every descriptor entry point on a door descriptor from open(). */
static void check_opened_descriptor(int fd)
{
	struct stat st;
	struct stat64 st64;
	errno = 4242;
	CHECK_OK(fstat(fd, &st));
	CHECK(errno == 4242);
	check_door_fd_stat(&st);
	CHECK_OK(fstat64(fd, &st64));
	check_door_fd_stat(from64(&st64));
	CHECK_OK(__fxstat(STAT_VER, fd, &st));
	check_door_fd_stat(&st);
	CHECK_OK(fstatat(fd, "", &st, AT_EMPTY_PATH));
	check_door_fd_stat(&st);
	CHECK_OK(__fxstatat(STAT_VER, fd, "", &st, AT_EMPTY_PATH));
	check_door_fd_stat(&st);
	struct statx sx;
	CHECK_OK(statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx));
	CHECK(sx.stx_mode == (S_IFDOOR | 0777) && sx.stx_uid == 0 && sx.stx_gid == 0);
	CHECK(sx.stx_size == 0 && sx.stx_nlink == 1 && sx.stx_mtime.tv_sec == 0);
}

/* A call, on a scenario thread (fd_neutral): its channel goes with it. */
static void ping(void *arg)
{
	char res[8];
	CHECK(call_door(*(int *)arg, "ping", 4, res, sizeof res) == 4 && memcmp(res, "pong", 4) == 0);
}

int main(void)
{
	test_name = "stat_door";
	watchdog(60);
	snprintf(dir, sizeof dir, "%s", test_dir());
	snprintf(path, sizeof path, "%s/door", dir);
	snprintf(link_path, sizeof link_path, "%s/link", dir);
	snprintf(plain, sizeof plain, "%s/plain", dir);
	snprintf(subdir, sizeof subdir, "%s/sub", dir);
	snprintf(sock_path, sizeof sock_path, "%s/plain.sock", dir);

	/* The covered file: its mode, uid and gid are what the door reports. */
	make_file(path, MODE);
	owner = geteuid();
	group = getegid();
	if (owner == 0) {
		owner = OWNER;
		group = GROUP;
		CHECK_OK(chown(path, owner, group));
	}
	struct stat covered;
	CHECK_OK(stat(path, &covered));
	CHECK(S_ISREG(covered.st_mode) && (covered.st_mode & 07777) == MODE && covered.st_uid == owner);
	CHECK_OK(symlink(path, link_path));

	/* Things that are not doors. */
	make_file(plain, 0600);
	CHECK_OK(mkdir(subdir, 0750));
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(ls >= 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	CHECK(strlen(sock_path) < sizeof sun.sun_path);
	strcpy(sun.sun_path, sock_path);
	CHECK_OK(bind(ls, (struct sockaddr *)&sun, sizeof sun));
	CHECK_OK(listen(ls, 1));

	struct server_arg s;
	gate_init(&s.ready);
	pid_t srv = spawn_tied(server, &s);
	gate_wait_within(&s.ready, 10);
	int s_fds = count_fds_of(srv), c_fds = count_fds();

	/* Nothing stat opens stays open, here or in the server. */
	check_attached_path();
	fds_back(c_fds, 10, "client, after stat of the attached path");

	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	check_opened_descriptor(fd);
	fd_neutral("client, a call", ping, &fd);
	/* The client's door descriptor is a door socket in the server: 1 more
	 * by design; the call's channel went with the client's thread. */
	fds_back_of(srv, s_fds + 1, 10, "server, after the client's call");

	/* Not doors: reported exactly as the kernel reports them. */
	unchanged_path(plain);
	unchanged_path(subdir);
	unchanged_path(sock_path);
	struct stat st;
	CHECK_OK(stat(sock_path, &st));
	CHECK(S_ISSOCK(st.st_mode));
	unchanged_fd(ls);
	int p[2];
	CHECK_OK(pipe(p));
	unchanged_fd(p[0]);
	CHECK_OK(fstat(p[1], &st));
	CHECK(S_ISFIFO(st.st_mode));
	int sp[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp));
	unchanged_fd(sp[0]);
	int pf = open(plain, O_RDONLY);
	CHECK(pf >= 0);
	unchanged_fd(pf);
	close(pf);
	close(p[0]); close(p[1]); close(sp[0]); close(sp[1]); close(ls);
	/* A failure is libc's, errno and all. */
	char missing[600];
	snprintf(missing, sizeof missing, "%s/missing", dir);
	CHECK_ERR(stat(missing, &st), ENOENT);
	CHECK_ERR(fstat(-1, &st), EBADF);

	/* After fdetach the path is the covered file again; the descriptor is
	 * still a door, and stays one after its server is gone. */
	CHECK_OK(fdetach(path));
	CHECK_OK(stat(path, &st));
	CHECK(S_ISREG(st.st_mode) && st.st_ino == covered.st_ino);
	CHECK((st.st_mode & 07777) == MODE && st.st_uid == owner && st.st_gid == group);
	unchanged_path(path);
	unchanged_path(link_path);
	check_opened_descriptor(fd);
	/* fdetach closed the attachment's listener: the server has 1 less,
	 * with the client's door socket still 1 more. */
	fds_back_of(srv, s_fds, 10, "server, after fdetach");
	kill_and_reap(srv);
	check_opened_descriptor(fd);
	close(fd);
	/* All the client opened is closed, and `ls`, opened before the count. */
	fds_back(c_fds - 1, 10, "client, at the end");
	PASS();
}
