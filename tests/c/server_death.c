/* A server process that dies (doors-spec §5.7, §5.13, §7.4, §7.9).
 *
 * Part 1: server S1 is SIGKILLed while a client's call is inside its
 * procedure. The call fails with EINTR within a second; later calls on
 * the descriptor fail with EBADF; door_info shows di_target -1 and
 * DOOR_REVOKED; the attached path still opens, as a door whose calls fail
 * with EBADF; fattach on the path fails with EBUSY until fdetach, which
 * uncovers the original file; after fdetach and fattach by a new server S2,
 * a fresh open reaches S2 and calls succeed, while the old descriptors stay
 * dead.
 *
 * Part 2: server S3 forks a child K that does not exec and just waits, then
 * S3 is SIGKILLed mid-call. K must not keep S3's doors reachable: the
 * client sees exactly what it saw in part 1 (EINTR, then EBADF, a revoked
 * door on a fresh open), with no hang; and K's only socket is its copy of
 * S3's door descriptor, now revoked (no listener, no door socket).
 *
 * In both parts the EINTR comes within MAX_DETECT of the SIGKILL (the
 * figure is printed).
 *
 * Part 3: a client's open() of the attached path is under way when the
 * server dies (the server is stopped, the client's open() waits for it, then
 * the server is SIGKILLed). On illumos open() of an attached path never
 * involves the server; here it must still end with a descriptor of the
 * revoked door, not an error.
 *
 * Part 4: server S5's procedure execs (sleep(1)) while a client's call is
 * inside it: the image that served the door is gone as surely as after a
 * SIGKILL, and the call fails with EINTR within MAX_DETECT of the exec.
 * (The client's wait has no timeout: only the kernel's mark of the server's
 * control thread's end, at the exec, wakes it; ARCHITECTURE.md, "Server
 * death".) */
#include "door_test.h"

#define MAX_DETECT 1.0 /* seconds from SIGKILL to the caller's EINTR */

static char path1[512], path3[512], path4[512], path5[512];
static struct gate ready;      /* a server -> driver: attached (and a pid) */
static struct gate inside;     /* a procedure -> driver: the call is running */
static struct gate dead_seen;  /* client -> driver: checks on the dead door done */
static struct gate s2_ready;   /* driver -> client 1: S2 is attached (its pid) */
static struct gate fork_now;   /* driver -> S3: fork K */
static struct gate k_forked;   /* driver -> client 2: K exists */
static struct gate k_release;  /* driver -> K: exit */
static struct gate called;     /* client 2 -> driver: first call made */
static struct gate reaped;     /* driver -> client: the dead server is reaped */
static struct gate opening;    /* client 3 -> driver: about to open() */
static struct gate killed_at;  /* driver -> client: when it sent SIGKILL */

static void interrupted_call(int fd, const char *arg, const char *how);

/* 'x': exec sleep(1), telling the driver's client when. */
static void exec_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	if (argp != NULL && size == 1 && argp[0] == 'x') {
		double t = now_seconds();
		send_val(&killed_at, &t, sizeof t);
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		perror("execl");
		_exit(1);
	}
	pid_t me = getpid();
	door_return((char *)&me, sizeof me, NULL, 0);
}

static void server5(void *arg)
{
	(void)arg;
	attach_new(path5, exec_proc, NULL, 0);
	gate_open(&ready);
	for (;;)
		pause();
}

static void client5(void *arg)
{
	pid_t s5 = *(pid_t *)arg;
	int fd = open(path5, O_RDONLY);
	CHECK(fd >= 0);
	pid_t p = 0;
	CHECK(call_door(fd, "p", 1, &p, sizeof p) == sizeof p && p == s5);
	interrupted_call(fd, "x", "the server's exec");
	close(fd);
}

/* 'b': block inside the procedure until killed. Else: the server's pid. */
static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	if (argp != NULL && size == 1 && argp[0] == 'b') {
		gate_open(&inside);
		for (;;)
			pause();
	}
	pid_t me = getpid();
	door_return((char *)&me, sizeof me, NULL, 0);
}

static void server1(void *arg)
{
	(void)arg;
	attach_new(path1, server_proc, NULL, 0);
	gate_open(&ready);
	for (;;)
		pause();
}

/* The replacement: fattach fails with EBUSY on the stale attachment until
 * fdetach, which shows the covered file again. */
static void server2(void *arg)
{
	(void)arg;
	int d = door_create(server_proc, NULL, 0);
	CHECK(d >= 0);
	CHECK_ERR(fattach(d, path1), EBUSY);
	CHECK_ERR(fattach(d, path1), EBUSY);
	CHECK_OK(fdetach(path1));
	struct stat st;
	CHECK_OK(stat(path1, &st));
	CHECK(S_ISREG(st.st_mode));
	/* Now it is a plain file again: it opens as one, not as a door. */
	int f = open(path1, O_RDONLY);
	CHECK(f >= 0);
	door_info_t di;
	CHECK_ERR(door_info(f, &di), EBADF);
	close(f);
	CHECK_ERR(fdetach(path1), EINVAL);
	CHECK_OK(fattach(d, path1));
	gate_open(&ready);
	for (;;)
		pause();
}

/* The checks on a door whose server is dead, through descriptor `fd`. */
static void check_dead_door(int fd)
{
	pid_t p;
	CHECK_ERR(call_door(fd, "p", 1, &p, sizeof p), EBADF);
	CHECK_ERR(door_call(fd, NULL), EBADF);
	door_info_t di;
	CHECK_OK(info_of(fd, &di));
	CHECK(di.di_target == -1);
	CHECK(di.di_attributes & DOOR_REVOKED);
	CHECK(!(di.di_attributes & DOOR_LOCAL));
}

/* Makes call `arg` (one byte), which the server's end (`how`: a SIGKILL,
 * its exec) interrupts: EINTR, within MAX_DETECT of the time sent through
 * `killed_at` (CLOCK_MONOTONIC is the same in every process). */
static void interrupted_call(int fd, const char *arg, const char *how)
{
	errno = 0;
	long r = call_door(fd, arg, 1, NULL, 0);
	int e = errno;
	double t_end = now_seconds();
	if (r != -1 || e != EINTR) {
		fprintf(stderr, "FAIL %s: call during %s returned %ld errno %d (%s), wanted -1 EINTR\n",
		    test_name, how, r, e, strerror(e));
		exit(1);
	}
	double t_kill;
	recv_within(&killed_at, &t_kill, sizeof t_kill, 20);
	double dt = t_end - t_kill;
	if (dt > MAX_DETECT) {
		fprintf(stderr, "FAIL %s: %s took %.3f s to end the call\n", test_name, how, dt);
		exit(1);
	}
	printf("%s: EINTR %.1f ms after %s\n", test_name, dt * 1e3, how);
	fflush(stdout);
}

static void client1(void *arg)
{
	pid_t s1 = *(pid_t *)arg;
	int fd = open(path1, O_RDONLY);
	CHECK(fd >= 0);
	pid_t p = 0;
	CHECK(call_door(fd, "p", 1, &p, sizeof p) == sizeof p && p == s1);

	interrupted_call(fd, "b", "SIGKILL");
	check_dead_door(fd);

	/* The path is still attached (to the dead door): it opens as a door.
	 * (Once the server is fully gone: part 3 covers an open() that races
	 * with the death.) */
	gate_wait_within(&reaped, 20);
	int stale = open(path1, O_RDONLY);
	CHECK(stale >= 0);
	check_dead_door(stale);
	gate_open(&dead_seen);

	/* A new server took the path over: a fresh open reaches it. */
	pid_t s2;
	recv_within(&s2_ready, &s2, sizeof s2, 20);
	int fresh = open(path1, O_RDONLY);
	CHECK(fresh >= 0);
	CHECK(call_door(fresh, "p", 1, &p, sizeof p) == sizeof p && p == s2);
	door_info_t di;
	CHECK_OK(info_of(fresh, &di));
	CHECK(di.di_target == s2 && !(di.di_attributes & DOOR_REVOKED));
	/* The old descriptors still name the dead door. */
	check_dead_door(fd);
	check_dead_door(stale);
	close(fresh);
	close(stale);
	close(fd);
}

/* K: S3's child. It does not exec; it only waits to be told to exit. It
 * drops its copy of the pipe's write end, so that it also ends (at end of
 * file) if the test dies without telling it. */
static void lingerer(void)
{
	close(k_release.fd[1]);
	gate_wait_within(&k_release, 30);
	/* S3 is dead. K kept only what the application had: S3's door
	 * descriptor (now a revoked door), no listener or door socket. */
	int doors = 0;
	for (int fd = 0; fd < 1024; fd++) {
		int type;
		socklen_t len = sizeof type;
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1)
			continue;
		int listening = 1;
		len = sizeof listening;
		CHECK_OK(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len));
		CHECK(!listening);
		door_info_t di;
		CHECK_OK(info_of(fd, &di));
		CHECK(di.di_target == -1 && (di.di_attributes & DOOR_REVOKED));
		doors++;
	}
	CHECK(doors == 1);
}

static void server3(void *arg)
{
	(void)arg;
	attach_new(path3, server_proc, NULL, 0);
	gate_open(&ready);
	/* Fork once a client has a channel to the door. */
	gate_wait_within(&fork_now, 20);
	fflush(NULL);
	pid_t k = test_fork();
	CHECK(k >= 0);
	if (k == 0) {
		lingerer();
		_exit(0);
	}
	send_val(&ready, &k, sizeof k);
	for (;;)
		pause();
}

static void client2(void *arg)
{
	pid_t s3 = *(pid_t *)arg;
	int fd = open(path3, O_RDONLY);
	CHECK(fd >= 0);
	pid_t p = 0;
	CHECK(call_door(fd, "p", 1, &p, sizeof p) == sizeof p && p == s3);
	gate_open(&called);
	/* S3 forks K; the door still works; the driver kills S3 once the
	 * next call is inside. */
	gate_wait_within(&k_forked, 20);
	CHECK(call_door(fd, "p", 1, &p, sizeof p) == sizeof p && p == s3);
	interrupted_call(fd, "b", "SIGKILL");
	check_dead_door(fd);
	gate_wait_within(&reaped, 20);
	int stale = open(path3, O_RDONLY);
	CHECK(stale >= 0);
	check_dead_door(stale);
	close(stale);
	close(fd);
}

static void server4(void *arg)
{
	(void)arg;
	attach_new(path4, server_proc, NULL, 0);
	gate_open(&ready);
	for (;;)
		pause();
}

/* Stays single-threaded (the driver watches its one thread sleep in open),
 * so its descriptor count is checked around the scenario by hand: no
 * channel is opened to a dead door, so the count must come back. */
static void client3(void *arg)
{
	(void)arg;
	int before = count_fds();
	gate_open(&opening);
	errno = 0;
	int fd = open(path4, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "FAIL %s: open() of the attached path during the server's death failed: errno %d (%s)\n",
		    test_name, errno, strerror(errno));
		exit(1);
	}
	check_dead_door(fd);
	close(fd);
	fds_back(before, 10, "client 3");
}

int main(void)
{
	test_name = "server_death";
	watchdog(55);
	/* K is reparented to us when S3 dies, so that we can reap it. */
	CHECK_OK(prctl(PR_SET_CHILD_SUBREAPER, 1));
	char *dir = test_dir();
	snprintf(path1, sizeof path1, "%s/door1", dir);
	snprintf(path3, sizeof path3, "%s/door3", dir);
	snprintf(path4, sizeof path4, "%s/door4", dir);
	snprintf(path5, sizeof path5, "%s/door5", dir);
	struct gate *gates[] = { &ready, &inside, &dead_seen, &s2_ready, &fork_now, &k_forked, &k_release, &called,
		&reaped, &opening, &killed_at };
	for (size_t i = 0; i < sizeof gates / sizeof gates[0]; i++)
		gate_init(gates[i]);

	/* Part 1. */
	pid_t s1 = spawn_tied(server1, NULL);
	gate_wait_within(&ready, 20);
	/* Every client's count comes back (spawn_tied_fd_neutral): the dead
	 * server's channel and door descriptors are closed like any other. */
	pid_t c1 = spawn_tied_fd_neutral(client1, &s1);
	gate_wait_within(&inside, 20);
	double t_kill = now_seconds();
	kill_and_reap(s1);
	send_val(&killed_at, &t_kill, sizeof t_kill);
	gate_open(&reaped);
	gate_wait_within(&dead_seen, 20);
	pid_t s2 = spawn_tied(server2, NULL);
	gate_wait_within(&ready, 20);
	/* S2 is not killed mid-call: its count comes back after client 1. */
	int s2_fds = count_fds_of(s2);
	send_val(&s2_ready, &s2, sizeof s2);
	reap_ok_within(c1, 20, "client 1");
	fds_back_of(s2, s2_fds, 10, "S2, after client 1");
	kill_and_reap(s2);

	/* Part 2. */
	pid_t s3 = spawn_tied(server3, NULL);
	gate_wait_within(&ready, 20);
	pid_t c2 = spawn_tied_fd_neutral(client2, &s3);
	gate_wait_within(&called, 20);
	gate_open(&fork_now);
	pid_t k;
	recv_within(&ready, &k, sizeof k, 20);
	gate_open(&k_forked);
	gate_wait_within(&inside, 20);
	t_kill = now_seconds();
	kill_and_reap(s3);
	send_val(&killed_at, &t_kill, sizeof t_kill);
	gate_open(&reaped);
	reap_ok_within(c2, 20, "client 2");
	gate_open(&k_release);
	reap_ok_within(k, 20, "S3's child");

	/* Part 3. */
	pid_t s4 = spawn_tied(server4, NULL);
	gate_wait_within(&ready, 20);
	int status;
	CHECK_OK(kill(s4, SIGSTOP));
	CHECK(waitpid(s4, &status, WUNTRACED) == s4 && WIFSTOPPED(status));
	pid_t c3 = spawn_tied(client3, NULL);
	gate_wait_within(&opening, 20);
	/* The client (single-threaded) is inside open(), which now waits for
	 * the stopped server: poll until it sleeps there. */
	double end = now_seconds() + 10;
	while (proc_state(c3) != 'S') {
		CHECK(now_seconds() < end);
		usleep(2000);
	}
	kill_and_reap(s4);
	reap_ok_within(c3, 20, "client 3");

	/* Part 4. */
	pid_t s5 = spawn_tied(server5, NULL);
	gate_wait_within(&ready, 20);
	pid_t c5 = spawn_tied_fd_neutral(client5, &s5);
	reap_ok_within(c5, 20, "client 5");
	kill_and_reap(s5);
	PASS();
}
