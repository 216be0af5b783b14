/* Every interposed open entry point yields a working door descriptor for an
 * attached path: open, open64, openat, openat64, their _FORTIFY_SOURCE
 * forms __open_2/__open64_2/__openat_2/__openat64_2 (non-constant flags,
 * no mode), O_CREAT on an attached path (the daemon idiom); O_CLOEXEC is
 * honoured and the descriptor is the lowest free number. Paths that are not
 * doors pass through untouched: same results, same errno (ENOENT, EACCES,
 * ENXIO for a plain socket), and a successful open leaves errno alone. The
 * server is this process; every client is a forked child. */
#include "common.h"
#include <grp.h>
#include <sys/socket.h>
#include <sys/un.h>

#define NOBODY 65534

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)dp; (void)n;
	/* Answers the cookie followed by the argument. */
	char out[128];
	size_t len = strlen(cookie);
	memcpy(out, cookie, len);
	if (argp != NULL && size > 0 && size < sizeof out - len) {
		memcpy(out + len, argp, size);
		len += size;
	}
	door_return(out, len, NULL, 0);
}

static char dir[256], path[512], regular[512], secret[512], plain_sock[512], link_path[512];
static pid_t server_pid;
static door_id_t door_uniq;

/* `fd` must be a descriptor for our door: door_info and a call work. */
static void check_door(int fd, const char *what)
{
	if (fd < 0) {
		fprintf(stderr, "FAIL %s: %s gave %d, errno %d (%s)\n", test_name, what, fd, errno, strerror(errno));
		exit(1);
	}
	door_info_t info;
	CHECK_OK(door_info(fd, &info));
	CHECK(info.di_target == server_pid);
	CHECK(info.di_uniquifier == door_uniq);
	CHECK((info.di_attributes & DOOR_REVOKED) == 0);
	char rbuf[64];
	door_arg_t a = { (char *)what, strlen(what), NULL, 0, rbuf, sizeof rbuf };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_size == 2 + strlen(what));
	CHECK(memcmp(a.data_ptr, "D:", 2) == 0 && memcmp(a.data_ptr + 2, what, strlen(what)) == 0);
}

static int is_cloexec(int fd)
{
	int f = fcntl(fd, F_GETFD);
	CHECK(f != -1);
	return (f & FD_CLOEXEC) != 0;
}

/* The lowest descriptor number not in use. */
static int lowest_free(void)
{
	int fd = dup(2);
	CHECK(fd >= 0);
	close(fd);
	return fd;
}

static void client_entry_points(void *arg)
{
	(void)arg;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0);
	/* Non-constant flags and no mode: with _FORTIFY_SOURCE these calls
	 * compile to __open_2, __open64_2, __openat_2 and __openat64_2. */
	volatile int vflags = O_RDONLY;
	volatile int vcreat = O_RDWR | O_CREAT;
	int fd;

	fd = open(path, O_RDONLY);
	check_door(fd, "open");
	close(fd);
	fd = open(path, O_RDWR);
	check_door(fd, "open O_RDWR");
	close(fd);
	fd = open(path, O_WRONLY);
	check_door(fd, "open O_WRONLY");
	close(fd);
	fd = open64(path, O_RDONLY);
	check_door(fd, "open64");
	close(fd);
	fd = openat(dfd, "door", O_RDONLY);
	check_door(fd, "openat");
	close(fd);
	fd = openat64(dfd, "door", O_RDONLY);
	check_door(fd, "openat64");
	close(fd);
	fd = openat(AT_FDCWD, path, O_RDONLY);
	check_door(fd, "openat AT_FDCWD");
	close(fd);
	/* Relative to the working directory (whose stash libdoor finds
	 * without asking /proc). */
	char cwd[4096];
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	CHECK_OK(chdir(dir));
	fd = open("door", O_RDONLY);
	check_door(fd, "open, relative");
	close(fd);
	fd = openat(AT_FDCWD, "./door", O_RDONLY);
	check_door(fd, "openat AT_FDCWD, relative");
	close(fd);
	CHECK_OK(chdir(cwd));

	fd = open(path, vflags);
	check_door(fd, "__open_2");
	close(fd);
	fd = open64(path, vflags);
	check_door(fd, "__open64_2");
	close(fd);
	fd = openat(dfd, "door", vflags);
	check_door(fd, "__openat_2");
	close(fd);
	fd = openat64(dfd, "door", vflags);
	check_door(fd, "__openat64_2");
	close(fd);

	/* O_CREAT on the attached path: the daemon set-up idiom. */
	fd = open(path, O_RDWR | O_CREAT, 0644);
	check_door(fd, "open O_CREAT");
	close(fd);
	fd = open(path, vcreat, 0600);
	check_door(fd, "open O_CREAT (variable flags)");
	close(fd);
	fd = openat(dfd, "door", O_RDONLY | O_CREAT, 0444);
	check_door(fd, "openat O_CREAT");
	close(fd);
	fd = open64(path, O_RDONLY | O_CREAT | O_NOCTTY, 0444);
	check_door(fd, "open64 O_CREAT");
	close(fd);
	/* O_EXCL: the path exists, so libc's EEXIST stands. */
	CHECK_ERR(open(path, O_RDWR | O_CREAT | O_EXCL, 0644), EEXIST);
	/* O_DIRECTORY: not a directory. */
	CHECK_ERR(open(path, O_RDONLY | O_DIRECTORY), ENOTDIR);

	/* Through a symbolic link; O_NOFOLLOW refuses the link itself. */
	fd = open(link_path, O_RDONLY);
	check_door(fd, "open via symlink");
	close(fd);
	CHECK_ERR(open(link_path, O_RDONLY | O_NOFOLLOW), ELOOP);
	fd = open(path, O_RDONLY | O_NOFOLLOW);
	check_door(fd, "open O_NOFOLLOW");
	close(fd);

	/* O_CLOEXEC is honoured, and only when asked. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	check_door(fd, "open O_CLOEXEC");
	CHECK(is_cloexec(fd));
	close(fd);
	fd = openat(dfd, "door", vflags | O_CLOEXEC);
	check_door(fd, "__openat_2 O_CLOEXEC");
	CHECK(is_cloexec(fd));
	close(fd);
	fd = open(path, O_RDONLY);
	check_door(fd, "open without O_CLOEXEC");
	CHECK(!is_cloexec(fd));
	close(fd);

	/* The lowest free number: open a gap below other descriptors. */
	int a = open("/dev/null", O_RDONLY), b = open("/dev/null", O_RDONLY);
	CHECK(a >= 0 && b > a);
	close(a);
	CHECK(lowest_free() == a);
	fd = open(path, O_RDONLY);
	CHECK(fd == a);
	check_door(fd, "open into a gap");
	close(fd);
	fd = openat(dfd, "door", vflags);
	CHECK(fd == a);
	check_door(fd, "__openat_2 into a gap");
	close(b);
	/* Even descriptor 0. */
	close(0);
	int fd0 = open(path, O_RDONLY);
	CHECK(fd0 == 0);
	check_door(fd0, "open as fd 0");
	close(fd0);
	/* No descriptors leak from the opens above. */
	int before = count_fds();
	for (int i = 0; i < 20; i++) {
		fd = open(path, O_RDONLY);
		check_door(fd, "open (leak check)");
		close(fd);
	}
	CHECK(count_fds() == before);
	close(dfd);
}

static void client_passthrough(void *arg)
{
	(void)arg;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0);
	volatile int vflags = O_RDONLY;
	char buf[64];
	/* A regular file opens as itself. */
	int fd = open(regular, vflags);
	CHECK(fd >= 0);
	CHECK(read(fd, buf, sizeof buf) == 6 && memcmp(buf, "plain\n", 6) == 0);
	door_info_t info;
	CHECK_ERR(door_info(fd, &info), EBADF);
	close(fd);
	fd = openat(dfd, "regular", O_RDONLY);
	CHECK(fd >= 0);
	CHECK(read(fd, buf, sizeof buf) == 6);
	close(fd);

	/* Missing paths: ENOENT, whatever the entry point. */
	char missing[600];
	snprintf(missing, sizeof missing, "%s/missing", dir);
	CHECK_ERR(open(missing, O_RDONLY), ENOENT);
	CHECK_ERR(open(missing, vflags), ENOENT);
	CHECK_ERR(open64(missing, O_RDONLY), ENOENT);
	CHECK_ERR(openat(dfd, "missing", O_RDONLY), ENOENT);
	CHECK_ERR(openat(dfd, "missing", vflags), ENOENT);
	CHECK_ERR(openat64(dfd, "missing", O_RDONLY), ENOENT);
	snprintf(missing, sizeof missing, "%s/nodir/file", dir);
	CHECK_ERR(open(missing, O_RDWR | O_CREAT, 0644), ENOENT);

	/* A plain unix socket that is not an attached door: ENXIO, as libc. */
	CHECK_ERR(open(plain_sock, O_RDONLY), ENXIO);
	CHECK_ERR(open(plain_sock, vflags), ENXIO);
	CHECK_ERR(open64(plain_sock, O_RDWR), ENXIO);
	CHECK_ERR(openat(dfd, "plain.sock", O_RDONLY), ENXIO);
	CHECK_ERR(openat64(dfd, "plain.sock", vflags), ENXIO);
	CHECK_ERR(open(plain_sock, O_RDWR | O_CREAT, 0644), ENXIO);

	/* errno is left alone by a successful open of a plain file. */
	errno = EDOM;
	fd = open(regular, O_RDONLY);
	CHECK(fd >= 0 && errno == EDOM);
	close(fd);
	close(dfd);
}

/* As uid 65534: EACCES stays EACCES for a plain file. */
static void client_nobody(void *arg)
{
	(void)arg;
	CHECK_OK(setgroups(0, NULL));
	CHECK_OK(setgid(NOBODY));
	CHECK_OK(setuid(NOBODY));
	volatile int vflags = O_RDONLY;
	CHECK_ERR(open(secret, O_RDONLY), EACCES);
	CHECK_ERR(open(secret, vflags), EACCES);
	CHECK_ERR(open64(secret, O_RDONLY), EACCES);
	/* The door itself (root's 0644 file): readable, not writable. */
	int fd = open(path, vflags);
	check_door(fd, "open as nobody");
	close(fd);
	CHECK_ERR(open(path, O_RDWR), EACCES);
	CHECK_ERR(open(path, O_WRONLY | O_CREAT, 0644), EACCES);
}

/* A successful open of a door leaves errno alone, like any successful call
 * that is documented not to touch it (doors spec 7.13). */
static void client_errno(void *arg)
{
	(void)arg;
	volatile int vflags = O_RDONLY;
	errno = EDOM;
	int fd = open(path, O_RDONLY);
	int e = errno;
	check_door(fd, "open (errno)");
	close(fd);
	if (e != EDOM) {
		fprintf(stderr, "FAIL %s: a successful open of a door changed errno from EDOM to %d (%s)\n",
		    test_name, e, strerror(e));
		exit(1);
	}
	errno = EDOM;
	fd = open(path, vflags);
	e = errno;
	check_door(fd, "__open_2 (errno)");
	close(fd);
	CHECK(e == EDOM);
}

int main(void)
{
	test_name = "open_variants";
	server_pid = getpid();
	snprintf(dir, sizeof dir, "%s", test_dir());
	snprintf(path, sizeof path, "%s/door", dir);
	snprintf(regular, sizeof regular, "%s/regular", dir);
	snprintf(secret, sizeof secret, "%s/secret", dir);
	snprintf(plain_sock, sizeof plain_sock, "%s/plain.sock", dir);
	snprintf(link_path, sizeof link_path, "%s/link", dir);

	make_file(path, 0644);
	make_file(secret, 0600);
	int fd = open(regular, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, "plain\n", 6) == 6);
	close(fd);
	CHECK_OK(symlink(path, link_path));
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(ls >= 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	CHECK(strlen(plain_sock) < sizeof sun.sun_path);
	strcpy(sun.sun_path, plain_sock);
	CHECK_OK(bind(ls, (struct sockaddr *)&sun, sizeof sun));
	CHECK_OK(listen(ls, 4));

	int d = door_create(server_proc, "D:", 0);
	CHECK(d >= 0);
	door_info_t info;
	CHECK_OK(door_info(d, &info));
	door_uniq = info.di_uniquifier;
	CHECK_OK(fattach(d, path));

	int before = count_fds();
	reap_ok(spawn_fd_neutral(client_entry_points, NULL));
	reap_ok(spawn_fd_neutral(client_passthrough, NULL));
	if (geteuid() == 0)
		reap_ok(spawn_fd_neutral(client_nobody, NULL));
	else
		printf("note: not root, skipping the uid %d checks\n", NOBODY);

	pid_t errno_client = spawn_fd_neutral(client_errno, NULL);
	int status;
	CHECK(waitpid(errno_client, &status, 0) == errno_client);
	fds_back(before, 10, "server, after its clients");
	close(ls);
	CHECK_OK(fdetach(path));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "FAIL %s: the errno client failed (status 0x%x)\n", test_name, status);
		return 1;
	}
	close(d);
	PASS();
}
