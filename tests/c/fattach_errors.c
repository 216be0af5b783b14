/* fattach/fdetach errors and the covered file, server and clients in
 * separate processes: ENOENT (missing, NULL, ""), EBUSY (attached, and
 * attached to a dead server until fdetach), EINVAL (non-door fd), EBADF
 * (closed fd), EPERM/EACCES for a non-root caller, fdetach's EINVAL and
 * EPERM; after fdetach the path is the original file (inode, content, mode,
 * owner) and the stash is gone; one door at two paths; a relative path; a
 * path longer than sun_path; the non-root owner of a file root attached may
 * fdetach it, and an fdetach that fails changes nothing. */
#include "common.h"
#include <grp.h>
#include <sys/socket.h>
#include <sys/un.h>

#define NOBODY 65534

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)argp; (void)size; (void)dp; (void)n;
	door_return(cookie, strlen(cookie), NULL, 0);
}

/* A door call must answer `expect` (the door's cookie). */
static void call_expect(int fd, const char *expect)
{
	char rbuf[64], msg[] = "ping";
	door_arg_t a = { msg, sizeof msg, NULL, 0, rbuf, sizeof rbuf };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_size == strlen(expect) && memcmp(a.data_ptr, expect, a.data_size) == 0);
}

static void drop_to_nobody(void)
{
	CHECK_OK(setgroups(0, NULL));
	CHECK_OK(setgid(NOBODY));
	CHECK_OK(setuid(NOBODY));
	CHECK(geteuid() == NOBODY && getegid() == NOBODY);
}

static int is_root;
static pid_t server_pid;
static char dir[256];

/* A client in another process: opens `path` and calls, expecting `expect`. */
struct client_arg { const char *path; const char *expect; };
static void client_call(void *arg)
{
	struct client_arg *c = arg;
	int fd = open(c->path, O_RDONLY);
	CHECK(fd >= 0);
	door_info_t info;
	CHECK_OK(door_info(fd, &info));
	CHECK(info.di_target == server_pid);
	call_expect(fd, c->expect);
	close(fd);
}

/* This process serves the doors, so its own count must come back after
 * each client too (a dead client's channel goes asynchronously: polled).
 * Baselines are taken where nothing is on its way out: right after
 * fattach or fdetach (which wait for the server's side) or after such a
 * check. */
static void expect_door(const char *path, const char *expect)
{
	struct client_arg c = { path, expect };
	int before = count_fds();
	reap_ok(spawn_fd_neutral(client_call, &c));
	fds_back(before, 10, "server, after a client");
}

static void stash_of(char *out, size_t len, const char *path)
{
	const char *slash = strrchr(path, '/');
	CHECK(slash != NULL);
	snprintf(out, len, "%.*s/.%s.door", (int)(slash - path), path, slash + 1);
}

/* --- a server in its own process, killed while attached --- */
struct dead_arg { const char *path; struct gate ready, hold; };
static void doomed_server(void *arg)
{
	struct dead_arg *s = arg;
	close(s->hold.fd[1]);
	int d = door_create(server_proc, "doomed", 0);
	CHECK(d >= 0);
	CHECK_OK(fattach(d, s->path));
	gate_open(&s->ready);
	char c;
	/* Blocks until SIGKILL (or EOF if the test itself died). */
	(void)!read(s->hold.fd[0], &c, 1);
	_exit(0);
}

/* --- non-root callers --- */
struct nobody_arg { int door; const char *not_owned, *readonly_own, *attached; };
static void nobody_checks(void *arg)
{
	struct nobody_arg *a = arg;
	drop_to_nobody();
	/* Not the owner of a root-owned (even world-writable) file: EPERM. */
	CHECK_ERR(fattach(a->door, a->not_owned), EPERM);
	/* The owner, without write permission: EACCES. */
	CHECK_ERR(fattach(a->door, a->readonly_own), EACCES);
	/* fdetach of root's attachment: EPERM, and it stays attached. */
	CHECK_ERR(fdetach(a->attached), EPERM);
	int fd = open(a->attached, O_RDONLY);
	CHECK(fd >= 0);
	call_expect(fd, "main");
	close(fd);
	/* fdetach of something that is not attached: still EINVAL. */
	CHECK_ERR(fdetach(a->not_owned), EINVAL);
}

struct owner_arg { const char *path; };
static void owner_detaches(void *arg)
{
	struct owner_arg *a = arg;
	drop_to_nobody();
	/* The owner recorded at attach time may detach (fattach(3C)). */
	CHECK_OK(fdetach(a->path));
}

/* The owner of a file root attached, in a directory the owner may not
 * write: fdetach may succeed, or fail; if it fails, nothing may have
 * changed: the path still opens as the live door. */
static void owner_tries(void *arg)
{
	struct owner_arg *a = arg;
	drop_to_nobody();
	errno = 0;
	int r = fdetach(a->path);
	int e = errno;
	struct stat st;
	if (r == 0) {
		CHECK_OK(stat(a->path, &st));
		CHECK(S_ISREG(st.st_mode) && st.st_uid == NOBODY);
		return;
	}
	int fd = open(a->path, O_RDONLY);
	CHECK(fd >= 0);
	door_info_t info;
	CHECK_OK(door_info(fd, &info));
	if (info.di_target != server_pid || (info.di_attributes & DOOR_REVOKED)) {
		fprintf(stderr, "FAIL %s: fdetach by the owner failed (errno %d: %s) but detached the live server "
		    "anyway: the path now opens as a door with di_target %d, attributes %#x (server %d)\n",
		    test_name, e, strerror(e), (int)info.di_target, info.di_attributes, (int)server_pid);
		exit(1);
	}
	call_expect(fd, "main");
	close(fd);
}

int main(void)
{
	test_name = "fattach_errors";
	is_root = geteuid() == 0;
	server_pid = getpid();
	snprintf(dir, sizeof dir, "%s", test_dir());
	char path[512], other[512], missing[512], stash[600];
	snprintf(path, sizeof path, "%s/door", dir);
	snprintf(other, sizeof other, "%s/second", dir);
	snprintf(missing, sizeof missing, "%s/missing", dir);

	int d = door_create(server_proc, "main", 0);
	CHECK(d >= 0);
	int d2 = door_create(server_proc, "two", 0);
	CHECK(d2 >= 0);

	/* ENOENT: a missing path, NULL, "". */
	CHECK_ERR(fattach(d, missing), ENOENT);
	CHECK_ERR(fattach(d, NULL), ENOENT);
	CHECK_ERR(fattach(d, ""), ENOENT);
	char nodir[600];
	snprintf(nodir, sizeof nodir, "%s/missing/door", dir);
	CHECK_ERR(fattach(d, nodir), ENOENT);
	CHECK(access(missing, F_OK) == -1 && errno == ENOENT);

	/* EINVAL: descriptors that are not doors. EBADF: closed ones. */
	make_file(path, 0644);
	int reg = open(path, O_RDONLY);
	CHECK(reg >= 0);
	CHECK_ERR(fattach(reg, path), EINVAL);
	int p[2];
	CHECK_OK(pipe(p));
	CHECK_ERR(fattach(p[0], path), EINVAL);
	CHECK_ERR(fattach(p[1], path), EINVAL);
	int sp[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp));
	CHECK_ERR(fattach(sp[0], path), EINVAL);
	close(p[0]); close(p[1]); close(sp[0]); close(sp[1]);
	int closed = reg;
	close(reg);
	CHECK_ERR(fattach(closed, path), EBADF);
	CHECK_ERR(fattach(-1, path), EBADF);
	/* None of that touched the file. */
	struct stat st;
	CHECK_OK(stat(path, &st));
	CHECK(S_ISREG(st.st_mode));
	stash_of(stash, sizeof stash, path);
	CHECK(access(stash, F_OK) == -1 && errno == ENOENT);

	/* fdetach of paths that are not attached. */
	CHECK_ERR(fdetach(path), EINVAL);
	CHECK_ERR(fdetach(missing), ENOENT);
	CHECK_ERR(fdetach(""), ENOENT);
	char sockpath[512];
	snprintf(sockpath, sizeof sockpath, "%s/plain.sock", dir);
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(ls >= 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	CHECK(strlen(sockpath) < sizeof sun.sun_path);
	strcpy(sun.sun_path, sockpath);
	CHECK_OK(bind(ls, (struct sockaddr *)&sun, sizeof sun));
	CHECK_ERR(fdetach(sockpath), EINVAL);
	close(ls);

	/* The covered file comes back unchanged: inode, content, mode, owner. */
	static const char content[] = "the covered file's content\n";
	int fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0);
	CHECK(write(fd, content, sizeof content - 1) == (ssize_t)(sizeof content - 1));
	close(fd);
	CHECK_OK(chmod(path, 0640));
	if (is_root)
		CHECK_OK(chown(path, 1234, 5678));
	struct stat before;
	CHECK_OK(stat(path, &before));
	CHECK_OK(fattach(d, path));
	CHECK_OK(stat(path, &st));
	CHECK(!S_ISREG(st.st_mode));
	expect_door(path, "main");

	/* EBUSY: already attached, with the same door or another. */
	CHECK_ERR(fattach(d, path), EBUSY);
	CHECK_ERR(fattach(d2, path), EBUSY);
	expect_door(path, "main");

	/* One door at two paths; another door beside them. */
	make_file(other, 0644);
	CHECK_OK(fattach(d, other));
	expect_door(other, "main");
	expect_door(path, "main");
	CHECK_OK(fdetach(other));
	CHECK_OK(stat(other, &st));
	CHECK(S_ISREG(st.st_mode));
	CHECK_OK(fattach(d2, other));
	expect_door(other, "two");
	expect_door(path, "main");
	CHECK_OK(fdetach(other));

	/* Non-root callers. */
	if (is_root) {
		char not_owned[512], ro_own[512];
		snprintf(not_owned, sizeof not_owned, "%s/rootfile", dir);
		snprintf(ro_own, sizeof ro_own, "%s/nobody-ro", dir);
		make_file(not_owned, 0666);
		make_file(ro_own, 0444);
		CHECK_OK(chown(ro_own, NOBODY, NOBODY));
		/* root-owned, 0644: readable by nobody, detachable only by root. */
		int s_fds = count_fds();
		CHECK_OK(fattach(d, other));
		struct nobody_arg na = { d, not_owned, ro_own, other };
		int attached = count_fds();
		reap_ok(spawn(nobody_checks, &na));
		fds_back(attached, 10, "server, after nobody's checks");
		expect_door(other, "main");
		CHECK_OK(fdetach(other));
		fds_back(s_fds, 10, "server, after nobody's part");
		CHECK_OK(stat(not_owned, &st));
		CHECK(S_ISREG(st.st_mode));
		CHECK_OK(stat(ro_own, &st));
		CHECK(S_ISREG(st.st_mode));
	} else {
		printf("note: not root, skipping the non-root EPERM/EACCES checks\n");
	}

	/* fdetach: the original file is back, and the stash is gone. */
	CHECK_OK(access(stash, F_OK));
	CHECK_OK(fdetach(path));
	CHECK_OK(stat(path, &st));
	CHECK(S_ISREG(st.st_mode));
	CHECK(st.st_ino == before.st_ino && st.st_dev == before.st_dev);
	CHECK(st.st_mode == before.st_mode && (st.st_mode & 07777) == 0640);
	CHECK(st.st_uid == before.st_uid && st.st_gid == before.st_gid);
	CHECK(st.st_nlink == 1 && st.st_size == (off_t)(sizeof content - 1));
	if (is_root)
		CHECK(st.st_uid == 1234 && st.st_gid == 5678);
	char buf[128] = { 0 };
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK(read(fd, buf, sizeof buf) == (ssize_t)(sizeof content - 1));
	CHECK(memcmp(buf, content, sizeof content - 1) == 0);
	close(fd);
	CHECK(access(stash, F_OK) == -1 && errno == ENOENT);
	CHECK_ERR(fdetach(path), EINVAL);
	/* And it can be attached again. */
	CHECK_OK(fattach(d2, path));
	expect_door(path, "two");
	CHECK_OK(fdetach(path));

	/* A relative path, resolved against the cwd. */
	char rel[512], oldcwd[512];
	snprintf(rel, sizeof rel, "%s/rel", dir);
	make_file(rel, 0644);
	CHECK(getcwd(oldcwd, sizeof oldcwd) != NULL);
	CHECK_OK(chdir(dir));
	CHECK_OK(fattach(d, "rel"));
	CHECK_ERR(fattach(d, "rel"), EBUSY);
	expect_door(rel, "main");
	expect_door("rel", "main");
	expect_door("./rel", "main");
	CHECK_OK(access(".rel.door", F_OK));
	CHECK_OK(fdetach("rel"));
	CHECK(access(".rel.door", F_OK) == -1 && errno == ENOENT);
	CHECK_ERR(fdetach("rel"), EINVAL);
	/* Attached by a relative name, detached by the absolute one. */
	CHECK_OK(fattach(d, "./rel"));
	CHECK_OK(chdir("/"));
	expect_door(rel, "main");
	CHECK_OK(fdetach(rel));
	CHECK_OK(stat(rel, &st));
	CHECK(S_ISREG(st.st_mode));
	CHECK_OK(chdir(oldcwd));

	/* A path longer than sun_path (108 bytes), in deep directories. */
	char deep[1024];
	snprintf(deep, sizeof deep, "%s", dir);
	for (int i = 0; i < 4; i++) {
		size_t len = strlen(deep);
		snprintf(deep + len, sizeof deep - len, "/%c%s", 'a' + i,
		    "123456789012345678901234567890123456789012345678");
		CHECK_OK(mkdir(deep, 0755));
	}
	strcat(deep, "/door-with-a-long-name");
	CHECK(strlen(deep) > 200);
	make_file(deep, 0644);
	CHECK_OK(fattach(d, deep));
	CHECK_ERR(fattach(d2, deep), EBUSY);
	expect_door(deep, "main");
	CHECK_OK(fdetach(deep));
	CHECK_OK(stat(deep, &st));
	CHECK(S_ISREG(st.st_mode));
	char deepstash[1100];
	stash_of(deepstash, sizeof deepstash, deep);
	CHECK(access(deepstash, F_OK) == -1 && errno == ENOENT);
	CHECK_ERR(fdetach(deep), EINVAL);

	/* EBUSY for a path whose server died, until fdetach. */
	char dead[512];
	snprintf(dead, sizeof dead, "%s/dead", dir);
	make_file(dead, 0644);
	struct dead_arg da = { .path = dead };
	gate_init(&da.ready);
	gate_init(&da.hold);
	pid_t srv = spawn(doomed_server, &da);
	gate_wait(&da.ready);
	int status;
	CHECK_OK(kill(srv, SIGKILL));
	CHECK(waitpid(srv, &status, 0) == srv);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	close(da.hold.fd[0]); close(da.hold.fd[1]);
	close(da.ready.fd[0]); close(da.ready.fd[1]);
	CHECK_ERR(fattach(d, dead), EBUSY);
	CHECK_ERR(fattach(d2, dead), EBUSY);
	CHECK_OK(fdetach(dead));
	CHECK_OK(stat(dead, &st));
	CHECK(S_ISREG(st.st_mode));
	CHECK_OK(fattach(d, dead));
	expect_door(dead, "main");
	CHECK_OK(fdetach(dead));

	/* The non-root owner of a file root attached may detach it. */
	if (is_root) {
		char own_dir[512], owned[600];
		snprintf(own_dir, sizeof own_dir, "%s/nobody-dir", dir);
		CHECK_OK(mkdir(own_dir, 0755));
		CHECK_OK(chown(own_dir, NOBODY, NOBODY));
		snprintf(owned, sizeof owned, "%s/owned", own_dir);
		make_file(owned, 0644);
		CHECK_OK(chown(owned, NOBODY, NOBODY));
		int s_fds = count_fds();
		CHECK_OK(fattach(d, owned));
		expect_door(owned, "main");
		struct owner_arg oa = { owned };
		pid_t c = spawn(owner_detaches, &oa);
		int ost;
		CHECK(waitpid(c, &ost, 0) == c);
		if (!WIFEXITED(ost) || WEXITSTATUS(ost) != 0) {
			/* Leave nothing attached, then fail. */
			fdetach(owned);
			fprintf(stderr, "FAIL %s: the owner (uid %d) could not fdetach a path root attached\n",
			    test_name, NOBODY);
			return 1;
		}
		CHECK_OK(stat(owned, &st));
		CHECK(S_ISREG(st.st_mode) && st.st_uid == NOBODY);
		/* The owner's fdetach closed the attachment's listener here. */
		fds_back(s_fds, 10, "server, after the owner's fdetach");

		/* The same, in root's directory (not writable by the owner). */
		char owned2[512];
		snprintf(owned2, sizeof owned2, "%s/owned-in-root-dir", dir);
		make_file(owned2, 0644);
		CHECK_OK(chown(owned2, NOBODY, NOBODY));
		s_fds = count_fds();
		CHECK_OK(fattach(d, owned2));
		expect_door(owned2, "main");
		struct owner_arg ob = { owned2 };
		c = spawn(owner_tries, &ob);
		CHECK(waitpid(c, &ost, 0) == c);
		/* Root cleans up whatever is left. */
		if (fdetach(owned2) == -1)
			CHECK(errno == EINVAL);
		CHECK_OK(stat(owned2, &st));
		CHECK(S_ISREG(st.st_mode) && st.st_uid == NOBODY);
		fds_back(s_fds, 10, "server, after the owner's try and root's cleanup");
		if (!WIFEXITED(ost) || WEXITSTATUS(ost) != 0) {
			fprintf(stderr, "FAIL %s: the owner's fdetach in a directory it cannot write misbehaved\n", test_name);
			return 1;
		}
	}

	close(d);
	close(d2);
	PASS();
}
