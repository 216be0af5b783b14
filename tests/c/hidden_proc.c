/* door_ucred in a server whose /proc hides other users' processes (procfs
 * mounted with hidepid=2, as systemd's ProtectProc=invisible does): the
 * caller is still reported, pid and ids, from its pidfd (its groups are
 * unknown then, as illumos allows). The server runs as uid 65534, the
 * client as 1000, in a mount namespace of the test's own with such a
 * /proc. Needs root and a kernel that describes a process by its pidfd
 * (Linux 6.13); skipped otherwise, saying so. */
#include "cred_test.h"

#include <sched.h>
#include <sys/mount.h>
#include <sys/utsname.h>

static char dir[512], path[600];

/* Whether the running kernel is Linux major.minor or later. */
static int kernel_at_least(int major, int minor)
{
	struct utsname u;
	int a = 0, b = 0;
	CHECK_OK(uname(&u));
	CHECK(sscanf(u.release, "%d.%d", &a, &b) == 2);
	return a > major || (a == major && b >= minor);
}

static void server(void *arg)
{
	become(65534, 65534, 65534, 65534, 65534, 65534, 0, NULL);
	int d = door_create(report_caller, NULL, 0);
	CHECK(d >= 0);
	CHECK_OK(fattach(d, path));
	gate_open(arg);
	for (;;)
		pause();
}

static void client(void *arg)
{
	(void)arg;
	become(1000, 1000, 1000, 1000, 1000, 1000, 0, NULL);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	char buf[64];
	door_arg_t a = { "x", 1, NULL, 0, buf, sizeof buf };
	CHECK_OK(door_call(fd, &a));
	struct caller_seen s;
	CHECK(a.data_size == sizeof s);
	memcpy(&s, a.data_ptr, sizeof s);
	if (s.rc != 0 && s.err == EINVAL && !kernel_at_least(6, 13)) {
		printf("%s: door_ucred failed with EINVAL: no pidfd description before Linux 6.13: skipped\n", test_name);
		_exit(77);
	}
	if (s.rc != 0 || s.pid != getpid() || s.euid != 1000 || s.ruid != 1000) {
		fprintf(stderr, "FAIL %s: door_ucred in a server /proc hides us from: rc %d errno %d pid %d euid %d ruid %d\n", test_name, s.rc,
		    s.err, (int)s.pid, (int)s.euid, (int)s.ruid);
		exit(1);
	}
	CHECK_OK(close(fd));
}

/* In a mount namespace of its own, with /proc hiding other users'
 * processes: a server and a client of different users. */
static void hidden(void *arg)
{
	(void)arg;
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("proc", "/proc", "proc", 0, "hidepid=2") != 0) {
		printf("%s: cannot mount a /proc with hidepid here (%s): skipped\n", test_name, strerror(errno));
		_exit(77);
	}
	struct gate ready;
	gate_init(&ready);
	pid_t s = spawn_tied(server, &ready);
	gate_wait_within(&ready, 30);
	pid_t c = spawn_tied(client, NULL);
	int status;
	CHECK(waitpid(c, &status, 0) == c);
	kill(s, SIGKILL);
	CHECK(waitpid(s, NULL, 0) == s);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

int main(void)
{
	test_name = "hidden_proc";
	watchdog(60);
	if (geteuid() != 0) {
		printf("%s: not root: skipped\n", test_name);
		PASS();
	}
	snprintf(dir, sizeof dir, "%s/hp", test_dir());
	CHECK_OK(mkdir(dir, 0777));
	CHECK_OK(chmod(dir, 0777));
	snprintf(path, sizeof path, "%s/door", dir);
	make_file(path, 0666);
	CHECK_OK(chown(path, 65534, 65534));
	pid_t h = spawn_tied(hidden, NULL);
	int status;
	CHECK(waitpid(h, &status, 0) == h);
	CHECK(WIFEXITED(status));
	if (WEXITSTATUS(status) != 77)
		CHECK(WEXITSTATUS(status) == 0);
	PASS();
}
