/* Opening an attached path checks the covered file's mode, owner and group
 * as recorded at fattach time (owner/group/other classes, supplementary
 * groups, the requested access mode), for a live server and, after the
 * server was killed, for its dead attachment, which opens as a revoked door
 * (door_call EBADF, di_target -1). fdetach by a non-owner: EPERM.
 *
 * The server runs as root in its own process; clients are forked children
 * of the test, dropped to uid/gid 65534 (with or without a supplementary
 * group) or staying root.
 *
 * Then an unprivileged owner (uid OWNER) runs the server, with its own
 * files attached: 0400 admits only the owner (and root), for reading; 0444
 * everyone, for reading; 0600 only the owner; 0644 everyone for reading;
 * anything else is EACCES, for another user (uid STRANGER) as for the
 * owner. The owner's fattach over its own file without write permission
 * gives EACCES; the stranger's fattach over the owner's file and fdetach
 * of its attachments give EPERM. */
#include "cred_test.h"

#define NOBODY 65534
#define SUPP 4242

struct entry {
	const char *name;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	/* What uid 65534 may open: O_RDONLY, O_WRONLY, O_RDWR; without and
	 * with the supplementary group SUPP. */
	int r, w, rw, r_supp;
};

static const struct entry entries[] = {
	/* root's 0444: anyone reads, nobody writes. */
	{ "r444", 0444, 0, 0, 1, 0, 0, 1 },
	/* root's 0600: others get nothing. */
	{ "r600", 0600, 0, 0, 0, 0, 0, 0 },
	/* group NOBODY may read. */
	{ "g640", 0640, 0, NOBODY, 1, 0, 0, 1 },
	/* other may read. */
	{ "o604", 0604, 0, 0, 1, 0, 0, 1 },
	/* group SUPP may read: only through the supplementary group. */
	{ "s640", 0640, 0, SUPP, 0, 0, 0, 1 },
	/* NOBODY's own 0600 file. */
	{ "u600", 0600, NOBODY, NOBODY, 1, 1, 1, 1 },
	/* The owner class decides for the owner, even when group and other
	 * would allow more. */
	{ "n046", 0046, NOBODY, NOBODY, 0, 0, 0, 0 },
	/* Write-only for other. */
	{ "o602", 0602, 0, 0, 0, 1, 0, 0 },
};
#define N_ENTRIES (sizeof entries / sizeof entries[0])

static char dir[256];
static pid_t server_pid;

static void entry_path(char *out, size_t len, const struct entry *e)
{
	snprintf(out, len, "%s/%s", dir, e->name);
}

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)argp; (void)size; (void)dp; (void)n;
	door_return(cookie, strlen(cookie), NULL, 0);
}

struct server_arg { struct gate ready, hold; };
static void server(void *arg)
{
	struct server_arg *s = arg;
	close(s->hold.fd[1]);
	int d = door_create(server_proc, "perm", 0);
	CHECK(d >= 0);
	char path[512];
	for (size_t i = 0; i < N_ENTRIES; i++) {
		entry_path(path, sizeof path, &entries[i]);
		CHECK_OK(fattach(d, path));
	}
	gate_open(&s->ready);
	char c;
	/* Serve until killed (or until the test goes away: EOF). */
	(void)!read(s->hold.fd[0], &c, 1);
	_exit(0);
}

/* Opens `path` with `flags`; it must succeed iff `allowed`, and a
 * descriptor must behave as a live door of server_pid or, if `dead`, as a
 * revoked door whose server is gone. */
static void try_open(const char *path, int flags, int allowed, int dead)
{
	errno = 0;
	int fd = open(path, flags);
	int e = errno;
	if (!allowed) {
		if (fd != -1 || e != EACCES) {
			fprintf(stderr, "FAIL %s: uid %d gid %d: open(%s, %#x) gave %d errno %d (%s), wanted EACCES%s\n",
			    test_name, (int)geteuid(), (int)getegid(), path, flags, fd, e, strerror(e),
			    dead ? " (dead server)" : "");
			exit(1);
		}
		return;
	}
	if (fd < 0) {
		fprintf(stderr, "FAIL %s: uid %d gid %d: open(%s, %#x) failed: errno %d (%s)%s\n",
		    test_name, (int)geteuid(), (int)getegid(), path, flags, e, strerror(e),
		    dead ? " (dead server)" : "");
		exit(1);
	}
	door_info_t info;
	CHECK_OK(door_info(fd, &info));
	char rbuf[64], msg[] = "x";
	door_arg_t a = { msg, sizeof msg, NULL, 0, rbuf, sizeof rbuf };
	if (dead) {
		CHECK(info.di_target == -1);
		CHECK((info.di_attributes & DOOR_REVOKED) != 0);
		CHECK_ERR(door_call(fd, &a), EBADF);
	} else {
		CHECK(info.di_target == server_pid);
		CHECK((info.di_attributes & DOOR_REVOKED) == 0);
		/* door_call ignores the open mode: it works on O_WRONLY too. */
		CHECK_OK(door_call(fd, &a));
		CHECK(a.data_size == 4 && memcmp(a.data_ptr, "perm", 4) == 0);
	}
	close(fd);
}

struct client_arg { int drop, supp, dead; };
static void client(void *arg)
{
	struct client_arg *c = arg;
	if (c->drop) {
		gid_t g = SUPP;
		CHECK_OK(setgroups(c->supp ? 1 : 0, &g));
		CHECK_OK(setgid(NOBODY));
		CHECK_OK(setuid(NOBODY));
		CHECK(geteuid() == NOBODY && getegid() == NOBODY);
	}
	char path[512];
	for (size_t i = 0; i < N_ENTRIES; i++) {
		const struct entry *e = &entries[i];
		entry_path(path, sizeof path, e);
		int r = !c->drop || (c->supp ? e->r_supp : e->r);
		int w = !c->drop || e->w;
		int rw = !c->drop || e->rw;
		try_open(path, O_RDONLY, r, c->dead);
		try_open(path, O_WRONLY, w, c->dead);
		try_open(path, O_RDWR, rw, c->dead);
	}
	if (c->drop) {
		/* Not the owner: EPERM, and nothing changes. */
		entry_path(path, sizeof path, &entries[0]);
		CHECK_ERR(fdetach(path), EPERM);
		try_open(path, O_RDONLY, 1, c->dead);
		entry_path(path, sizeof path, &entries[1]);
		CHECK_ERR(fdetach(path), EPERM);
	}
}

static void run_clients(int dead)
{
	struct client_arg root_client = { 0, 0, dead };
	reap_ok(spawn_fd_neutral(client, &root_client));
	struct client_arg nobody = { 1, 0, dead };
	reap_ok(spawn_fd_neutral(client, &nobody));
	struct client_arg nobody_supp = { 1, 1, dead };
	reap_ok(spawn_fd_neutral(client, &nobody_supp));
}

#define OWNER 1000
#define STRANGER 1001

static char own_dir[512];

static void own_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", own_dir, name);
}

/* The owner's files. fattach needs write permission on the path even from
 * its owner (illumos), so u400 and u444 are attached while the server is
 * still root; then it drops to OWNER for good and attaches o600 and o644
 * itself. */
static const struct { const char *name; mode_t mode; int by_root; } owned[] = {
	{ "u400", 0400, 1 }, { "u444", 0444, 1 }, { "o600", 0600, 0 }, { "o644", 0644, 0 },
};
#define N_OWNED (sizeof owned / sizeof owned[0])

static void owner_server(void *arg)
{
	struct server_arg *s = arg;
	close(s->hold.fd[1]);
	int d = door_create(server_proc, "perm", 0);
	CHECK(d >= 0);
	char path[512];
	for (int root = 1; root >= 0; root--) {
		if (!root)
			become(OWNER, OWNER, OWNER, OWNER, OWNER, OWNER, 0, NULL);
		for (size_t i = 0; i < N_OWNED; i++) {
			if (owned[i].by_root != root)
				continue;
			own_path(path, sizeof path, owned[i].name);
			make_file(path, owned[i].mode);
			CHECK_OK(chown(path, OWNER, OWNER));
			CHECK_OK(fattach(d, path));
		}
	}
	gate_open(&s->ready);
	char c;
	(void)!read(s->hold.fd[0], &c, 1);
	_exit(0);
}

/* `arg`: the uid to become (OWNER or STRANGER), or NULL to stay root. */
static void owner_client(void *arg)
{
	uid_t uid = arg == NULL ? 0 : *(const uid_t *)arg;
	if (uid != 0)
		become(uid, uid, uid, uid, uid, uid, 0, NULL);
	int root = uid == 0, owner = uid == OWNER;
	char path[512];
	for (size_t i = 0; i < N_OWNED; i++) {
		own_path(path, sizeof path, owned[i].name);
		mode_t bits = owner ? owned[i].mode >> 6 : owned[i].mode;
		try_open(path, O_RDONLY, root || (bits & 4), 0);
		try_open(path, O_WRONLY, root || (bits & 2), 0);
		try_open(path, O_RDWR, root || (bits & 6) == 6, 0);
	}
	if (owner) {
		/* Its own file, but no write permission on it: EACCES. */
		own_path(path, sizeof path, "readonly");
		make_file(path, 0444);
		int d = door_create(server_proc, "mine", 0);
		CHECK(d >= 0);
		CHECK_ERR(fattach(d, path), EACCES);
	}
	if (uid == STRANGER) {
		/* Not the owner of the path: EPERM, even with a door of its own
		 * and a file it may write; and the attachments stay. */
		int d = door_create(server_proc, "mine", 0);
		CHECK(d >= 0);
		for (size_t i = 0; i < N_OWNED; i++) {
			own_path(path, sizeof path, owned[i].name);
			CHECK_ERR(fdetach(path), EPERM);
		}
		own_path(path, sizeof path, "spare");
		CHECK_ERR(fattach(d, path), EPERM);
		struct stat st;
		CHECK_OK(stat(path, &st));
		CHECK(S_ISREG(st.st_mode));
		own_path(path, sizeof path, "o644");
		try_open(path, O_RDONLY, 1, 0);
	}
}

static void owner_detaches(void *arg)
{
	(void)arg;
	become(OWNER, OWNER, OWNER, OWNER, OWNER, OWNER, 0, NULL);
	for (size_t i = 0; i < N_OWNED; i++) {
		char path[512];
		own_path(path, sizeof path, owned[i].name);
		CHECK_OK(fdetach(path));
		struct stat st;
		CHECK_OK(stat(path, &st));
		CHECK(S_ISREG(st.st_mode) && st.st_uid == OWNER && (st.st_mode & 07777) == owned[i].mode);
	}
}

static void unprivileged_owner(void)
{
	snprintf(own_dir, sizeof own_dir, "%s/owner", dir);
	CHECK_OK(mkdir(own_dir, 0755));
	CHECK_OK(chown(own_dir, OWNER, OWNER));
	struct server_arg s;
	gate_init(&s.ready);
	gate_init(&s.hold);
	server_pid = spawn(owner_server, &s);
	gate_wait(&s.ready);
	char spare[512];
	own_path(spare, sizeof spare, "spare");
	make_file(spare, 0666);
	CHECK_OK(chown(spare, OWNER, OWNER));
	CHECK_OK(chmod(spare, 0666));
	static const uid_t owner = OWNER, stranger = STRANGER;
	reap_ok(spawn(owner_client, (void *)&owner));
	reap_ok(spawn(owner_client, (void *)&stranger));
	reap_ok(spawn(owner_client, NULL));
	/* The owner takes its attachments back, after the server is gone. */
	kill_and_reap(server_pid);
	reap_ok(spawn(owner_detaches, NULL));
}

int main(void)
{
	test_name = "attach_permissions";
	if (geteuid() != 0) {
		printf("note: not root; attach_permissions needs root to set owners and drop to uid %d: skipped\n", NOBODY);
		PASS();
	}
	snprintf(dir, sizeof dir, "%s", test_dir());
	char path[512];
	for (size_t i = 0; i < N_ENTRIES; i++) {
		const struct entry *e = &entries[i];
		entry_path(path, sizeof path, e);
		make_file(path, e->mode);
		CHECK_OK(chown(path, e->uid, e->gid));
		/* chown may clear bits; set the mode again. */
		CHECK_OK(chmod(path, e->mode));
	}

	struct server_arg s;
	gate_init(&s.ready);
	gate_init(&s.hold);
	server_pid = spawn(server, &s);
	gate_wait(&s.ready);

	/* Live server. */
	int s_fds = count_fds_of(server_pid);
	run_clients(0);
	fds_back_of(server_pid, s_fds, 10, "server, after its clients");

	/* Dead server: the attachments stay, with their recorded permissions,
	 * and open as revoked doors. */
	CHECK_OK(kill(server_pid, SIGKILL));
	int status;
	CHECK(waitpid(server_pid, &status, 0) == server_pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	run_clients(1);

	/* Root detaches; the covered files are back, untouched. */
	for (size_t i = 0; i < N_ENTRIES; i++) {
		const struct entry *e = &entries[i];
		entry_path(path, sizeof path, e);
		CHECK_OK(fdetach(path));
		struct stat st;
		CHECK_OK(stat(path, &st));
		CHECK(S_ISREG(st.st_mode) && (st.st_mode & 07777) == e->mode);
		CHECK(st.st_uid == e->uid && st.st_gid == e->gid);
		CHECK_ERR(fdetach(path), EINVAL);
	}

	unprivileged_owner();
	PASS();
}
