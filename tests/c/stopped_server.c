/* A door's server that does not answer at once: open, fattach and fdetach
 * of its attached path, and fork of a process holding its doors, while the
 * server is stopped (SIGSTOP, a debugger), and open of a live server's
 * path under a storm of signals. On illumos none of these involves the
 * server; here the server makes descriptors, so open waits for its
 * answer, and that wait must behave as a blocking open does: POSIX makes
 * open a cancellation point, and a caught signal may end it with EINTR.
 * fattach waits the same way; the others wait a second at most.
 *
 * patient      A caught signal (handler without SA_RESTART) in the first
 *              second of the wait does not end it: a live server answers
 *              within microseconds, and illumos programs do not expect
 *              EINTR from open. Once the server is continued, open returns
 *              a door that answers.
 * interrupted  After that second, a caught signal ends the wait: open
 *              fails with EINTR, leaves no descriptor in the client, and
 *              the descriptor the server then makes for the abandoned open
 *              is dropped (the server's count comes back). The next open
 *              works.
 * restarting   A handler installed with SA_RESTART does not end the wait,
 *              even after that second: open returns the door once the
 *              server is continued.
 * cancelled    pthread_cancel of a thread waiting in open, within the
 *              first second and after it, ends the thread promptly through
 *              its cleanup handler; nothing is left in client or server.
 * storm        A thread opening a live server's door 300 times or more while
 *              another sends it a signal every few microseconds (handler
 *              without SA_RESTART), until the handler has run 300 times,
 *              gets every door: no EINTR.
 * backlog      With the stopped server's queue of connections full (raw
 *              connections fill it), open waits in connect, and behaves
 *              the same there: a caught signal after the first second ends
 *              it with EINTR, cancellation ends the thread; once continued,
 *              the server answers the next open.
 * fork         A process holding five descriptors of a stopped server's
 *              door forks: the child replaces each by a counted copy of its
 *              own, asked of the server, and asks for all of them at once,
 *              so that it gives up on the silent server once (a second),
 *              not once per door; once continued, the server answers the
 *              child's calls on them.
 * clone        dup of a stopped server's door gives up after a second (the
 *              copy is the descriptor as it is); the server, continued,
 *              makes the counted copy it was asked for and cannot hand it
 *              over: that copy must not count, so a DOOR_UNREF_MULTI door
 *              held by that one family gets no second unreferenced
 *              notification.
 * attach       fattach of a stopped server's door (by another process
 *              holding it) waits for the server, and a caught signal after
 *              the first second ends it with EINTR: the path is the plain
 *              file again, and once continued the server, which can no
 *              longer answer, drops the listener it was sent (its
 *              descriptor count comes back). A new fattach then works.
 * detach       fdetach of a stopped server's path returns within a few
 *              seconds (on illumos it never involves the server): the path
 *              is the covered file again at once, and once continued the
 *              server drops the attachment (closes its listener) and still
 *              serves descriptors opened before.
 *
 * Every part is a client process of its own with its own server process. */
#include "interrupt_test.h"

#include <stdatomic.h>
#include <sys/un.h>

static char path[512];
static struct gate ready; /* server -> part: attached */

static void answer_pid(void *cookie, char *argp, size_t arg_size, door_desc_t *dp, uint_t n_desc)
{
	(void)cookie, (void)argp, (void)arg_size, (void)dp, (void)n_desc;
	pid_t me = getpid();
	door_return((char *)&me, sizeof me, NULL, 0);
}

static pid_t start_server(void)
{
	gate_init(&ready);
	snprintf(path, sizeof path, "%s/door", test_dir());
	static struct attached a;
	a = (struct attached){ path, answer_pid, &ready };
	pid_t s = spawn_tied(serve_attached, &a);
	gate_wait_within(&ready, 20);
	return s;
}

/* The door at `path` answers, from `server`. */
static void expect_door(int fd, pid_t server)
{
	pid_t p = 0;
	CHECK(call_str(fd, "p", &p, sizeof p) == sizeof p);
	CHECK(p == server);
}

/* Stops server process `s` and waits until it is stopped. */
static void stop_server(pid_t s)
{
	CHECK_OK(kill(s, SIGSTOP));
	wait_stopped(s, 10);
}

/* The path opens to server `s`'s door, which answers; then `s` ends. */
static void expect_opens_then_end(pid_t s)
{
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	expect_door(fd, s);
	close(fd);
	kill_and_reap(s);
}

static atomic_int hits;
static void on_signal(int sig)
{
	(void)sig;
	atomic_fetch_add(&hits, 1);
}

/* A thread that opens `path` once. */
struct opener {
	pthread_t thread;
	atomic_int tid;
	atomic_int done;
	atomic_int cleanup_ran;
	int fd, e;
	double start, seconds;
};

static void opener_cleanup(void *p)
{
	atomic_store(&((struct opener *)p)->cleanup_ran, 1);
}

static void *opener_main(void *p)
{
	struct opener *o = p;
	atomic_store(&o->tid, thread_id());
	pthread_cleanup_push(opener_cleanup, o);
	errno = 0;
	o->fd = open(path, O_RDWR);
	o->e = errno;
	o->seconds = now_seconds() - o->start;
	pthread_cleanup_pop(0);
	atomic_store(&o->done, 1);
	return NULL;
}

static void start_opener(struct opener *o)
{
	memset(o, 0, sizeof *o);
	o->start = now_seconds();
	CHECK(pthread_create(&o->thread, NULL, opener_main, o) == 0);
	while (atomic_load(&o->tid) == 0)
		usleep(1000); /* polling interval: the thread is starting */
}

/*
 * Waits until thread `tid`, which began its wait at `start`, has waited
 * `after` seconds and sleeps (in ppoll, poll, recvfrom, connect or a futex
 * wait):
 * returns 1 then, or 0 if `*done` is set first (its call returned). Fails
 * the test if neither happens within 10 s more (`what`: what the thread
 * waits for).
 */
static int wait_thread_asleep(const atomic_int *tid_, double start, const atomic_int *done, double after,
    const char *what)
{
	double end = now_seconds() + after + 10;
	pid_t tid = atomic_load(tid_);
	for (;;) {
		long nr = blocked_syscall(getpid(), tid);
		if (now_seconds() - start >= after && thread_state(getpid(), tid) == 'S' &&
		    (is_wait_syscall(nr) || nr == SYS_recvfrom || nr == SYS_connect))
			return 1;
		if (atomic_load(done))
			return 0;
		if (now_seconds() > end) {
			fprintf(stderr, "FAIL %s: the waiting thread is not asleep after %.1f s (%s; syscall %ld)\n",
			    test_name, after + 10, what, nr);
			exit(1);
		}
		usleep(1000); /* polling interval of the deadline loop */
	}
}

/* wait_thread_asleep for an opener; reports what open returned if it did. */
static void wait_opener_asleep(struct opener *o, double after, const char *what)
{
	if (!wait_thread_asleep(&o->tid, o->start, &o->done, after, what)) {
		fprintf(stderr, "FAIL %s: open returned %d (errno %d, %s) after %.2f s, while waiting for %s\n",
		    test_name, o->fd, o->e, strerror(o->e), o->seconds, what);
		exit(1);
	}
}

/* The opener, signalled while it waited (`what`), failed with EINTR. */
static void expect_interrupted(const struct opener *o, const char *what)
{
	if (o->fd != -1 || o->e != EINTR) {
		fprintf(stderr, "FAIL %s: open interrupted while waiting %s, after %.2f s, returned %d errno %d (%s), "
		    "wanted -1 EINTR\n", test_name, what, o->seconds, o->fd, o->e, strerror(o->e));
		exit(1);
	}
}

/* Waits (at most `seconds`) for the handler to have run `n` times. */
static void wait_hits(int n, double seconds)
{
	double end = now_seconds() + seconds;
	while (atomic_load(&hits) < n) {
		if (now_seconds() > end) {
			fprintf(stderr, "FAIL %s: the signal handler ran %d times, wanted %d\n", test_name, atomic_load(&hits), n);
			exit(1);
		}
		usleep(1000); /* polling interval of the deadline loop */
	}
}

/* Requires the opener to be still waiting `seconds` from now. */
static void still_waiting(struct opener *o, double seconds, const char *why)
{
	usleep((useconds_t)(seconds * 1e6)); /* a window in which open must not return */
	if (atomic_load(&o->done)) {
		fprintf(stderr, "FAIL %s: open returned %d (errno %d, %s) after %.2f s while the server was stopped: %s\n",
		    test_name, o->fd, o->e, strerror(o->e), o->seconds, why);
		exit(1);
	}
}

/* Joins the opener, which must end within 10 s. */
static void join_opener(struct opener *o, void **ret)
{
	struct timespec end;
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += 10;
	int r = pthread_timedjoin_np(o->thread, ret, &end);
	if (r != 0) {
		fprintf(stderr, "FAIL %s: the opening thread did not end within 10 s (%s)\n", test_name, strerror(r));
		exit(1);
	}
}

/* ---- parts ---------------------------------------------------------- */

static void part_patient(void)
{
	pid_t s = start_server();
	catch_signal(SIGUSR1, on_signal, 0);
	stop_server(s);
	struct opener o;
	start_opener(&o);
	wait_opener_asleep(&o, 0, "the server's answer");
	CHECK(now_seconds() - o.start < 0.8); /* the signal comes in the first second */
	CHECK(pthread_kill(o.thread, SIGUSR1) == 0);
	wait_hits(1, 5);
	still_waiting(&o, 0.2, "a signal in the first second of the wait ended it");
	CHECK_OK(kill(s, SIGCONT));
	join_opener(&o, NULL);
	CHECK(o.fd >= 0);
	expect_door(o.fd, s);
	close(o.fd);
	kill_and_reap(s);
}

static void part_interrupted(void)
{
	pid_t s = start_server();
	int s_fds = count_fds_of(s);
	catch_signal(SIGUSR1, on_signal, 0);
	int before = count_fds();
	stop_server(s);
	struct opener o;
	start_opener(&o);
	wait_opener_asleep(&o, 1.2, "the server's answer, after its first second");
	CHECK(pthread_kill(o.thread, SIGUSR1) == 0);
	join_opener(&o, NULL);
	expect_interrupted(&o, "for the server's answer");
	CHECK(o.seconds >= 0.9);
	CHECK(atomic_load(&hits) == 1);
	fds_back(before, 10, "client, after the interrupted open");
	CHECK_OK(kill(s, SIGCONT));
	/* The server answers the abandoned open into a closed connection. */
	fds_back_of(s, s_fds, 10, "server, after the abandoned open");
	expect_opens_then_end(s);
}

static void part_restarting(void)
{
	pid_t s = start_server();
	catch_signal(SIGUSR1, on_signal, SA_RESTART);
	stop_server(s);
	struct opener o;
	start_opener(&o);
	wait_opener_asleep(&o, 1.2, "the server's answer, after its first second");
	CHECK(pthread_kill(o.thread, SIGUSR1) == 0);
	wait_hits(1, 5);
	still_waiting(&o, 0.2, "a signal whose handler asks for restarts ended the wait");
	CHECK_OK(kill(s, SIGCONT));
	join_opener(&o, NULL);
	CHECK(o.fd >= 0);
	expect_door(o.fd, s);
	close(o.fd);
	kill_and_reap(s);
}

/* Cancels an opener once it has waited `after` seconds and sleeps. */
static void cancel_opener_after(double after, const char *what)
{
	struct opener o;
	start_opener(&o);
	wait_opener_asleep(&o, after, what);
	double t0 = now_seconds();
	CHECK(pthread_cancel(o.thread) == 0);
	void *ret = NULL;
	join_opener(&o, &ret);
	if (ret != PTHREAD_CANCELED || !atomic_load(&o.cleanup_ran)) {
		fprintf(stderr, "FAIL %s: a thread waiting in open (%s) was not cancelled: it returned %d errno %d (%s), "
		    "cleanup handler %s\n", test_name, what, o.fd, o.e, strerror(o.e),
		    atomic_load(&o.cleanup_ran) ? "ran" : "did not run");
		exit(1);
	}
	CHECK(now_seconds() - t0 < 2);
}

static void part_cancelled(void)
{
	pid_t s = start_server();
	int s_fds = count_fds_of(s);
	int before = count_fds();
	stop_server(s);
	cancel_opener_after(0, "the server's answer, in its first second");
	cancel_opener_after(1.2, "the server's answer, after its first second");
	fds_back(before, 10, "client, after the cancelled opens");
	CHECK_OK(kill(s, SIGCONT));
	fds_back_of(s, s_fds, 10, "server, after the abandoned opens");
	expect_opens_then_end(s);
}

static void part_backlog(void)
{
	pid_t s = start_server();
	catch_signal(SIGUSR1, on_signal, 0);
	int before = count_fds();
	stop_server(s);
	/* Connections the stopped server cannot accept, until its queue is full. */
	static int raw[1024];
	int n = 0;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	CHECK(strlen(path) < sizeof addr.sun_path);
	memcpy(addr.sun_path, path, strlen(path) + 1);
	for (;;) {
		CHECK(n < 1024);
		raw[n] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		CHECK(raw[n] >= 0);
		if (connect(raw[n], (struct sockaddr *)&addr, sizeof addr) != 0) {
			CHECK(errno == EAGAIN);
			close(raw[n]);
			break;
		}
		n++;
	}
	struct opener o;
	start_opener(&o);
	wait_opener_asleep(&o, 1.2, "room in the server's queue, after its first second");
	CHECK(blocked_syscall(getpid(), atomic_load(&o.tid)) == SYS_connect);
	CHECK(pthread_kill(o.thread, SIGUSR1) == 0);
	join_opener(&o, NULL);
	expect_interrupted(&o, "for room in the server's queue");
	cancel_opener_after(0, "room in the server's queue, in its first second");
	cancel_opener_after(1.2, "room in the server's queue, after its first second");
	for (int i = 0; i < n; i++)
		close(raw[i]);
	fds_back(before, 10, "client, after the opens that waited for room");
	CHECK_OK(kill(s, SIGCONT));
	expect_opens_then_end(s);
}

struct storm {
	atomic_int over;
	int opens, failures, first_errno;
};

/* Opens at least 300 times, and on until the handler has run 300 times
 * (a faster machine makes more opens per signal), at most 100,000. */
static void *storm_opener(void *p)
{
	struct storm *st = p;
	for (; st->opens < 300 || (atomic_load(&hits) < 300 && st->opens < 100000); st->opens++) {
		int fd = open(path, O_RDWR);
		if (fd < 0) {
			if (st->failures++ == 0)
				st->first_errno = errno;
			continue;
		}
		close(fd);
	}
	atomic_store(&st->over, 1);
	return NULL;
}

static void part_storm(void)
{
	pid_t s = start_server();
	catch_signal(SIGUSR1, on_signal, 0);
	struct storm st = { 0 };
	pthread_t t;
	CHECK(pthread_create(&t, NULL, storm_opener, &st) == 0);
	while (!atomic_load(&st.over)) {
		pthread_kill(t, SIGUSR1);
		usleep(20); /* the storm's pace: several signals in every open's wait */
	}
	CHECK(pthread_join(t, NULL) == 0);
	if (st.failures != 0) {
		fprintf(stderr, "FAIL %s: %d of %d opens under a storm of signals failed, the first with errno %d (%s)\n",
		    test_name, st.failures, st.opens, st.first_errno, strerror(st.first_errno));
		exit(1);
	}
	/* The storm reached the thread while it opened. */
	CHECK(atomic_load(&hits) >= 300);
	kill_and_reap(s);
}

/* The 'clone' part's server: its door's unreferenced notifications are
 * counted in shared memory; a call gets the door itself, released. */
static atomic_int *unrefs;
static int multi_door = -1;

static void count_unrefs(void *cookie, char *argp, size_t arg_size, door_desc_t *dp, uint_t n_desc)
{
	(void)cookie, (void)arg_size, (void)dp, (void)n_desc;
	if (argp == DOOR_UNREF_DATA) {
		atomic_fetch_add(unrefs, 1);
		door_return(NULL, 0, NULL, 0);
	}
	door_desc_t d = { .d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE };
	d.d_data.d_desc.d_descriptor = multi_door;
	door_return(NULL, 0, &d, 1);
}

static void serve_multi(void *arg)
{
	(void)arg;
	make_file(path, 0644);
	multi_door = door_create(count_unrefs, NULL, DOOR_UNREF_MULTI);
	CHECK(multi_door >= 0);
	CHECK_OK(fattach(multi_door, path));
	gate_open(&ready);
	for (;;)
		pause();
}

/* Waits (at most `seconds`) for the count of notifications to be `n`. */
static void wait_unrefs(int n, double seconds)
{
	double end = now_seconds() + seconds;
	while (atomic_load(unrefs) != n) {
		if (now_seconds() > end) {
			fprintf(stderr, "FAIL %s: %d unreferenced notifications, wanted %d\n", test_name, atomic_load(unrefs), n);
			exit(1);
		}
		usleep(1000); /* polling interval of the deadline loop */
	}
}

static void part_clone(void)
{
	unrefs = shared_page();
	gate_init(&ready);
	snprintf(path, sizeof path, "%s/door", test_dir());
	pid_t s = spawn_tied(serve_multi, NULL);
	gate_wait_within(&ready, 20);
	int hold = open(path, O_RDWR);
	CHECK(hold >= 0);
	/* The door itself, a counted copy; the server closed its own. */
	door_desc_t got[1];
	char buf[64];
	door_arg_t a = { NULL, 0, NULL, 0, buf, sizeof buf };
	a.desc_ptr = got;
	CHECK_OK(door_call(hold, &a));
	CHECK(a.desc_num == 1);
	int fd = a.desc_ptr[0].d_data.d_desc.d_descriptor;
	/* Without the attachment this family is the only reference: one
	 * notification. */
	CHECK_OK(fdetach(path));
	close(hold);
	wait_unrefs(1, 10);
	stop_server(s);
	double t0 = now_seconds();
	int copy = dup(fd);
	CHECK(copy >= 0);
	CHECK(now_seconds() - t0 >= 0.9); /* it waited for the server, and gave up */
	CHECK_OK(kill(s, SIGCONT));
	/* The server reads the Clone before these (in order, on one socket). */
	door_info_t di;
	CHECK_OK(door_info(fd, &di));
	CHECK_OK(door_info(fd, &di));
	usleep(300 * 1000); /* a notification, if one were queued, would come within this */
	CHECK(atomic_load(unrefs) == 1);
	close(copy);
	close(fd);
	kill_and_reap(s);
}

struct attacher {
	int fd;
	const char *path;
	atomic_int tid, done;
	int r, e;
	double start, seconds;
};

static void *attacher_main(void *p)
{
	struct attacher *a = p;
	atomic_store(&a->tid, thread_id());
	errno = 0;
	a->r = fattach(a->fd, a->path);
	a->e = errno;
	a->seconds = now_seconds() - a->start;
	atomic_store(&a->done, 1);
	return NULL;
}

static void part_attach(void)
{
	pid_t s = start_server();
	catch_signal(SIGUSR1, on_signal, 0);
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	char other[600];
	snprintf(other, sizeof other, "%s.other", path);
	make_file(other, 0644);
	int before = count_fds();
	stop_server(s);
	int s_fds = count_fds_of(s);
	struct attacher a = { .fd = fd, .path = other, .start = now_seconds() };
	pthread_t t;
	CHECK(pthread_create(&t, NULL, attacher_main, &a) == 0);
	while (atomic_load(&a.tid) == 0)
		usleep(1000); /* polling interval: the thread is starting */
	if (!wait_thread_asleep(&a.tid, a.start, &a.done, 1.2, "the server's answer to Attach, after its first second")) {
		fprintf(stderr, "FAIL %s: fattach returned %d (errno %d, %s) after %.2f s while the server was stopped\n",
		    test_name, a.r, a.e, strerror(a.e), a.seconds);
		exit(1);
	}
	CHECK(pthread_kill(t, SIGUSR1) == 0);
	struct timespec end;
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += 10;
	if (pthread_timedjoin_np(t, NULL, &end) != 0) {
		fprintf(stderr, "FAIL %s: fattach of a stopped server's door was not ended by a signal\n", test_name);
		exit(1);
	}
	if (a.r != -1 || a.e != EINTR) {
		fprintf(stderr, "FAIL %s: fattach interrupted after %.2f s returned %d errno %d (%s), wanted -1 EINTR\n",
		    test_name, a.seconds, a.r, a.e, strerror(a.e));
		exit(1);
	}
	struct stat st;
	CHECK_OK(stat(other, &st));
	CHECK(S_ISREG(st.st_mode));
	fds_back(before, 10, "client, after the interrupted fattach");
	CHECK_OK(kill(s, SIGCONT));
	/* The listener and the answer socket it was sent are gone again. */
	fds_back_of(s, s_fds, 10, "server, after the Attach it could not answer");
	CHECK_OK(fattach(fd, other));
	int fd2 = open(other, O_RDWR);
	CHECK(fd2 >= 0);
	expect_door(fd2, s);
	close(fd2);
	CHECK_OK(fdetach(other));
	close(fd);
	kill_and_reap(s);
}

static void part_detach(void)
{
	pid_t s = start_server();
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	stop_server(s);
	int s_fds = count_fds_of(s);
	double t0 = now_seconds();
	CHECK_OK(fdetach(path));
	double took = now_seconds() - t0;
	if (took > 5 * time_scale()) {
		fprintf(stderr, "FAIL %s: fdetach of a stopped server's path took %.1f s\n", test_name, took);
		exit(1);
	}
	struct stat st;
	CHECK_OK(stat(path, &st));
	CHECK(S_ISREG(st.st_mode));
	CHECK_OK(kill(s, SIGCONT));
	/* Its listener goes once it reads the Detach. */
	fds_back_of(s, s_fds - 1, 10, "server, after the Detach it read late");
	expect_door(fd, s);
	close(fd);
	kill_and_reap(s);
}

static void part_fork(void)
{
	pid_t s = start_server();
	int fds[5];
	for (int i = 0; i < 5; i++) {
		fds[i] = open(path, O_RDWR);
		CHECK(fds[i] >= 0);
	}
	stop_server(s);
	struct gate forked, continued;
	gate_init(&forked);
	gate_init(&continued);
	double t0 = now_seconds();
	pid_t c = test_fork();
	CHECK(c >= 0);
	if (c == 0) {
		double took = now_seconds() - t0;
		send_val(&forked, &took, sizeof took);
		gate_wait_within(&continued, 20);
		for (int i = 0; i < 5; i++)
			expect_door(fds[i], s);
		_exit(0);
	}
	double took;
	recv_within(&forked, &took, sizeof took, 20);
	CHECK_OK(kill(s, SIGCONT));
	gate_open(&continued);
	reap_ok_within(c, 20, "child");
	/* One second of patience for all five doors, not five. */
	if (took > 3 * time_scale()) {
		fprintf(stderr, "FAIL %s: fork with 5 doors of a stopped server returned in the child after %.1f s\n",
		    test_name, took);
		exit(1);
	}
	for (int i = 0; i < 5; i++)
		close(fds[i]);
	kill_and_reap(s);
}

static const struct part parts[] = {
	{ "patient", part_patient, "a signal in the first second of open's wait does not end it" },
	{ "interrupted", part_interrupted, "after that, a caught signal ends open's wait with EINTR" },
	{ "restarting", part_restarting, "an SA_RESTART handler does not end open's wait" },
	{ "cancelled", part_cancelled, "a thread waiting in open is cancelled promptly" },
	{ "storm", part_storm, "opens of a live server under a storm of signals all succeed" },
	{ "backlog", part_backlog, "open waiting for room in a stopped server's full queue ends on a signal or cancellation" },
	{ "fork", part_fork, "a forked child asks a stopped server for its doors' copies once, not per door" },
	{ "clone", part_clone, "a copy a stopped server could not hand over does not count (no extra notification)" },
	{ "attach", part_attach, "fattach of a stopped server's door ends on a signal, and the server drops the listener" },
	{ "detach", part_detach, "fdetach of a stopped server's path does not wait for the server" },
};

int main(int argc, char **argv)
{
	watchdog(58);
	int failed = run_parts("stopped_server", parts, sizeof parts / sizeof parts[0], argc, argv, 25);
	if (failed)
		return 1;
	test_name = "stopped_server";
	PASS();
}
