/* Cancellation and door calls (doors-spec §1 "door_call is a cancellation
 * point", §4.4, §4.10, §5.8, §7.5, §7.6, §7.12).
 *
 * called       A client thread blocked in door_call (the procedure holds
 *              the call) is pthread_cancel'ed: it ends through its own
 *              cleanup handler and pthread_join gives PTHREAD_CANCELED. The
 *              procedure, released afterwards, finds its client gone
 *              (door_ucred: EINVAL). The door keeps working for the other
 *              threads of that client, old and new.
 * pending      A thread with a cancellation request pending (deferred,
 *              enabled) that calls door_call is cancelled there, and its
 *              call never runs.
 * server       Without DOOR_NO_CANCEL: a procedure that enabled deferred
 *              cancellation and blocks in read(2), with a cleanup handler
 *              that reports through a pipe, is cancelled when its client is
 *              interrupted by a signal (the client gets EINTR); the thread
 *              ends, and the pool goes on serving from other threads.
 * no_cancel    With DOOR_NO_CANCEL the same procedure is not cancelled: it
 *              finishes when released, door_ucred fails with EINVAL, and
 *              its door_return with data and a DOOR_RELEASE descriptor is
 *              discarded (the descriptor closed in the server); the client's
 *              next call gets its own results.
 * first_call   A thread whose first door_call on a door waits because the
 *              server process is stopped is cancelled promptly (door_call
 *              is a cancellation point wherever it waits).
 * return       A procedure that enabled cancellation and is busy (not at a
 *              cancellation point) when its client is interrupted calls
 *              door_return afterwards, with data and a DOOR_RELEASE
 *              descriptor, with the cancellation request pending: on
 *              illumos only door_call, of the door functions, is a
 *              cancellation point (§1), so the server process must survive
 *              and keep serving, also calls that carry descriptors, which
 *              that thread may take with its request still pending.
 *
 * Every server and client is a process of its own. */
#include "interrupt_test.h"

static char path[512];
static struct gate ready;     /* server -> part: attached */
static struct gate inside;    /* procedure -> whoever waits: its tid */
static struct gate release;   /* -> procedure: go on */
static struct gate cancelled; /* procedure's cleanup handler -> part: its tid */
static struct gate step1, step2, step3, step4;
static uint_t door_attrs;
static atomic_int *spin_flag; /* shared page: the 'return' part's procedure spins on it */

static void init_part(uint_t attrs)
{
	struct gate *g[] = { &ready, &inside, &release, &cancelled, &step1, &step2, &step3, &step4 };
	for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
		gate_init(g[i]);
	snprintf(path, sizeof path, "%s/door", test_dir());
	door_attrs = attrs;
	spin_flag = shared_page();
}

static volatile sig_atomic_t hits;
static void on_signal(int sig)
{
	(void)sig;
	hits++;
}

/* ---- the server ----------------------------------------------------------- */

struct report {
	int calls, x_runs;
	int b_done;                  /* 'b' calls that went on after release */
	int c_finished;              /* 'c' calls that went on after release */
	int ucred_rc, ucred_errno;   /* door_ucred after release */
	int release_closed;          /* the discarded DOOR_RELEASE descriptor is closed */
	int return_failed, return_errno;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct report rep;
static int release_fd = -1;
static struct stat release_st;

static void note_ucred(void)
{
	ucred_t *uc = NULL;
	int r = door_ucred(&uc);
	int e = errno;
	if (r == 0)
		ucred_free(uc);
	pthread_mutex_lock(&lock);
	rep.ucred_rc = r;
	rep.ucred_errno = e;
	pthread_mutex_unlock(&lock);
}

/* The cleanup handler of a cancelled procedure: reports its tid, with
 * write(2) only. */
static void report_cancelled(void *arg)
{
	(void)arg;
	pid_t t = (pid_t)syscall(SYS_gettid);
	if (write(cancelled.fd[1], &t, sizeof t) != sizeof t)
		abort();
}

/*
 * 'p' pid; 't' tid (descriptors passed with it are left open: closing
 * them would be a cancellation point); 'x' counted, never meant to run; 'b' block (not
 * cancellable) until released; 'c' block in read(2) with cancellation
 * enabled; 's' spin with cancellation enabled until the shared flag is
 * set; 'f<n>' "fresh-<n>"; 'q<k>' the report once k 'b' or 'c' calls went
 * on after release (waiting at most 5 s).
 */
static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie;
	/* Descriptors passed in (part return's calls) are closed: the
	 * server's count must come back after each part. close is a
	 * cancellation point, and part return's thread serves with a request
	 * pending: it must not act on it here. */
	if (n > 0) {
		int old;
		CHECK(pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old) == 0);
		for (uint_t i = 0; i < n; i++)
			close(dp[i].d_data.d_desc.d_descriptor);
		CHECK(pthread_setcancelstate(old, NULL) == 0);
	}
	pthread_mutex_lock(&lock);
	rep.calls++;
	pthread_mutex_unlock(&lock);
	if (argp == NULL || size < 2)
		door_return(NULL, 0, NULL, 0);
	char out[32];
	switch (argp[0]) {
	case 'p': {
		pid_t me = getpid();
		door_return((char *)&me, sizeof me, NULL, 0);
		break;
	}
	case 't': {
		pid_t t = thread_id();
		door_return((char *)&t, sizeof t, NULL, 0);
		break;
	}
	case 'x':
		pthread_mutex_lock(&lock);
		rep.x_runs++;
		pthread_mutex_unlock(&lock);
		door_return("x", 2, NULL, 0);
		break;
	case 'b': {
		pid_t t = thread_id();
		send_val(&inside, &t, sizeof t);
		gate_wait(&release);
		note_ucred();
		pthread_mutex_lock(&lock);
		rep.b_done++;
		pthread_cond_broadcast(&cond);
		pthread_mutex_unlock(&lock);
		door_return("b", 2, NULL, 0);
		break;
	}
	case 'c': {
		int old;
		CHECK(pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &old) == 0);
		pthread_cleanup_push(report_cancelled, NULL);
		CHECK(pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old) == 0);
		pid_t t = thread_id();
		send_val(&inside, &t, sizeof t);
		char c;
		ssize_t k = read(release.fd[0], &c, 1); /* a cancellation point */
		CHECK(k == 1);
		CHECK(pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old) == 0);
		pthread_cleanup_pop(0);
		note_ucred();
		int pfd[2];
		CHECK_OK(pipe(pfd));
		close(pfd[0]);   /* only the write end is returned (and released) */
		struct stat st;
		CHECK_OK(fstat(pfd[1], &st));
		pthread_mutex_lock(&lock);
		rep.c_finished++;
		release_fd = pfd[1];
		release_st = st;
		pthread_cond_broadcast(&cond);
		pthread_mutex_unlock(&lock);
		door_desc_t d;
		memset(&d, 0, sizeof d);
		d.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
		d.d_data.d_desc.d_descriptor = pfd[1];
		door_return("c-done", 7, &d, 1);
		pthread_mutex_lock(&lock);
		rep.return_failed = 1;
		rep.return_errno = errno;
		pthread_mutex_unlock(&lock);
		door_return(NULL, 0, NULL, 0);
		break;
	}
	case 's': {
		/* A descriptor to return with DOOR_RELEASE (so that the results
		 * cannot take a descriptor-free shortcut). */
		int spare = open("/dev/null", O_RDONLY);
		CHECK(spare >= 0);
		/* Told before cancellation is enabled: the write is a
		 * cancellation point, and under load this thread could still
		 * be in it when the driver, told, interrupts the client, whose
		 * abandoned call makes libdoor cancel this thread; cancelled
		 * there, it never reached door_return and left the spare
		 * open (the server one descriptor up, 3 runs in 40 with two
		 * busy loops). */
		pid_t t = thread_id();
		send_val(&inside, &t, sizeof t);
		int old;
		CHECK(pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &old) == 0);
		CHECK(pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old) == 0);
		/* Busy, at no cancellation point (sched_yield is none). */
		while (atomic_load(spin_flag) == 0)
			sched_yield();
		/* Cancellation is still enabled, and a request may be pending. */
		door_desc_t d;
		memset(&d, 0, sizeof d);
		d.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
		d.d_data.d_desc.d_descriptor = spare;
		door_return("s-done", 7, &d, 1);
		pthread_mutex_lock(&lock);
		rep.return_failed = 1;
		rep.return_errno = errno;
		pthread_mutex_unlock(&lock);
		CHECK(pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old) == 0);
		door_return(NULL, 0, NULL, 0);
		break;
	}
	case 'f':
		snprintf(out, sizeof out, "fresh-%s", argp + 1);
		door_return(out, strlen(out) + 1, NULL, 0);
		break;
	case 'q': {
		int want = atoi(argp + 1);
		struct timespec end;
		clock_gettime(CLOCK_REALTIME, &end);
		end.tv_sec += 5;
		pthread_mutex_lock(&lock);
		while (rep.b_done + rep.c_finished < want)
			if (pthread_cond_timedwait(&cond, &lock, &end) == ETIMEDOUT)
				break;
		pthread_mutex_unlock(&lock);
		int closed = release_fd >= 0 ? released_within(&lock, &release_fd, &release_st) : 0;
		pthread_mutex_lock(&lock);
		struct report r = rep;
		pthread_mutex_unlock(&lock);
		r.release_closed = closed;
		door_return((char *)&r, sizeof r, NULL, 0);
		break;
	}
	}
	door_return(NULL, 0, NULL, 0);
}

static void server(void *arg)
{
	(void)arg;
	attach_new(path, server_proc, NULL, door_attrs);
	gate_open(&ready);
	for (;;)
		pause();
}

static struct report report_of(int fd, int want_done)
{
	char q[16];
	snprintf(q, sizeof q, "q%d", want_done);
	struct report r;
	CHECK(call_str(fd, q, &r, sizeof r) == sizeof r);
	return r;
}

static pid_t call_tid(int fd)
{
	pid_t t = 0;
	CHECK(call_str(fd, "t", &t, sizeof t) == sizeof t && t > 0);
	return t;
}

static void expect_result(int fd, const char *arg, const char *want)
{
	char buf[256];
	door_arg_t a = { (char *)arg, strlen(arg) + 1, NULL, 0, buf, sizeof buf };
	if (door_call(fd, &a) == -1) {
		fprintf(stderr, "FAIL %s: call \"%s\" failed: errno %d (%s)\n", test_name, arg, errno, strerror(errno));
		exit(1);
	}
	if (a.data_size != strlen(want) + 1 || memcmp(a.data_ptr, want, a.data_size) != 0 || a.desc_num != 0) {
		fprintf(stderr, "FAIL %s: call \"%s\" got %zu bytes \"%.*s\" and %u descriptors; wanted \"%s\" and none\n",
		    test_name, arg, a.data_size, (int)a.data_size, a.data_ptr, a.desc_num, want);
		exit(1);
	}
}

static pid_t start_server(uint_t attrs)
{
	init_part(attrs);
	pid_t s = spawn_tied(server, NULL);
	gate_wait_within(&ready, 20);
	return s;
}

/* ---- client threads ---------------------------------------------------------- */

struct caller {
	int fd;
	const char *arg;
	atomic_int tid;
	atomic_int cleanup_ran;
	int pending_first; /* make a cancellation request pending before calling */
	long r;
	int e;
};

static void note_cleanup(void *arg)
{
	struct caller *c = arg;
	atomic_store(&c->cleanup_ran, 1);
}

static void *caller_thread(void *arg)
{
	struct caller *c = arg;
	int old;
	CHECK(pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &old) == 0);
	if (c->pending_first) {
		CHECK(pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old) == 0);
		CHECK(pthread_cancel(pthread_self()) == 0);
	}
	atomic_store(&c->tid, thread_id());
	pthread_cleanup_push(note_cleanup, c);
	if (c->pending_first)
		CHECK(pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old) == 0);
	errno = 0;
	c->r = call_str(c->fd, c->arg, NULL, 0);
	c->e = errno;
	pthread_cleanup_pop(0);
	return NULL;
}

static pid_t caller_tid(struct caller *c)
{
	double end = now_seconds() + 10;
	while (atomic_load(&c->tid) == 0) {
		CHECK(now_seconds() < end);
		usleep(1000);
	}
	return atomic_load(&c->tid);
}

/* Joins `t` within `seconds`; 1 if it ended (its value in *ret). */
static int join_within(pthread_t t, void **ret, double seconds)
{
	struct timespec end;
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += (time_t)seconds;
	int r = pthread_timedjoin_np(t, ret, &end);
	CHECK(r == 0 || r == ETIMEDOUT);
	return r == 0;
}

static void *call_p_thread(void *arg)
{
	int fd = *(int *)arg;
	for (int i = 0; i < 10; i++) {
		pid_t p = 0;
		if (call_str(fd, "p", &p, sizeof p) != sizeof p || p <= 0)
			return (void *)1;
	}
	return NULL;
}

/* ---- called ------------------------------------------------------------------ */

static void client_called(void *arg)
{
	pid_t server = *(pid_t *)arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	pid_t p = 0;
	CHECK(call_str(fd, "p", &p, sizeof p) == sizeof p && p == server);

	struct caller c = { .fd = fd, .arg = "b" };
	pthread_t t;
	CHECK(pthread_create(&t, NULL, caller_thread, &c) == 0);
	pid_t tid = caller_tid(&c);
	pid_t in = 0;
	recv_within(&inside, &in, sizeof in, 20);
	wait_asleep(getpid(), tid, 10, "the calling thread");
	CHECK(pthread_cancel(t) == 0);
	void *ret = NULL;
	if (!join_within(t, &ret, 5)) {
		fprintf(stderr, "FAIL %s: a thread cancelled while blocked in door_call (which the procedure holds) did not "
		    "end within 5 s\n", test_name);
		exit(1);
	}
	if (ret != PTHREAD_CANCELED || !atomic_load(&c.cleanup_ran)) {
		fprintf(stderr, "FAIL %s: the thread cancelled in door_call ended with %p (cleanup handler ran: %d); wanted "
		    "PTHREAD_CANCELED and 1 (door_call returned %ld errno %d)\n", test_name, ret, atomic_load(&c.cleanup_ran),
		    c.r, c.e);
		exit(1);
	}
	/* The procedure goes on: its client is gone. */
	gate_open(&release);
	struct report r = report_of(fd, 1);
	if (r.b_done != 1 || r.ucred_rc != -1 || r.ucred_errno != EINVAL) {
		fprintf(stderr, "FAIL %s: after its client was cancelled the procedure went on %d times, door_ucred gave %d "
		    "errno %d; wanted 1 and -1 EINVAL\n", test_name, r.b_done, r.ucred_rc, r.ucred_errno);
		exit(1);
	}
	/* The door works for this thread and for new ones. */
	CHECK(call_str(fd, "p", &p, sizeof p) == sizeof p && p == server);
	pthread_t others[3];
	for (int i = 0; i < 3; i++)
		CHECK(pthread_create(&others[i], NULL, call_p_thread, &fd) == 0);
	for (int i = 0; i < 3; i++) {
		void *v;
		CHECK(pthread_join(others[i], &v) == 0 && v == NULL);
	}
	close(fd);
}

static void part_called(void)
{
	pid_t s = start_server(0);
	int s_fds = count_fds_of(s);
	/* The client's count comes back: the cancelled thread's channel went
	 * with it. */
	pid_t c = spawn_tied_fd_neutral(client_called, &s);
	reap_ok_within(c, 30, "client");
	fds_back_of(s, s_fds, 10, "server, after its client");
	kill_and_reap(s);
}

/* ---- pending ----------------------------------------------------------------- */

static void client_pending(void *arg)
{
	pid_t server = *(pid_t *)arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	pid_t p = 0;
	CHECK(call_str(fd, "p", &p, sizeof p) == sizeof p && p == server);
	struct caller c = { .fd = fd, .arg = "x", .pending_first = 1 };
	pthread_t t;
	CHECK(pthread_create(&t, NULL, caller_thread, &c) == 0);
	void *ret = NULL;
	if (!join_within(t, &ret, 10)) {
		fprintf(stderr, "FAIL %s: a thread with a cancellation pending did not end in door_call\n", test_name);
		exit(1);
	}
	if (ret != PTHREAD_CANCELED || !atomic_load(&c.cleanup_ran)) {
		fprintf(stderr, "FAIL %s: door_call with a cancellation pending: the thread ended with %p (cleanup handler ran: "
		    "%d, door_call returned %ld errno %d); wanted PTHREAD_CANCELED\n", test_name, ret,
		    atomic_load(&c.cleanup_ran), c.r, c.e);
		exit(1);
	}
	struct report r = report_of(fd, 0);
	/* p, q: the cancelled call never ran. */
	if (r.x_runs != 0 || r.calls != 2) {
		fprintf(stderr, "FAIL %s: the call of the cancelled thread ran %d times (%d calls in all); wanted 0 (2)\n",
		    test_name, r.x_runs, r.calls);
		exit(1);
	}
	close(fd);
}

static void part_pending(void)
{
	pid_t s = start_server(0);
	int s_fds = count_fds_of(s);
	pid_t c = spawn_tied_fd_neutral(client_pending, &s);
	reap_ok_within(c, 30, "client");
	fds_back_of(s, s_fds, 10, "server, after its client");
	kill_and_reap(s);
}

/* ---- server / no_cancel ------------------------------------------------------ */

/* A client whose call 'c' (or 's') is interrupted by SIGUSR1. */
static void client_interrupted(void *arg)
{
	const char *what = arg;
	catch_signal(SIGUSR1, on_signal, SA_RESTART);
	int start = count_fds();
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	pid_t p = 0;
	CHECK(call_str(fd, "p", &p, sizeof p) == sizeof p);
	int n0 = count_fds();
	hits = 0;
	errno = 0;
	long r = call_str(fd, what, NULL, 0);
	int e = errno;
	EXPECT_FAIL(r, e, EINTR, "door_call interrupted by a signal");
	CHECK(hits == 1);
	/* A request on the same descriptor after the interruption (libdoor's
	 * server handles its messages in order, so its reaction to the
	 * interruption is done when this returns). */
	door_info_t di;
	CHECK_OK(info_of(fd, &di));
	CHECK(di.di_target == p);
	gate_open(&step1);
	gate_wait_within(&step2, 30);
	expect_result(fd, "f1", "fresh-1");
	for (int i = 2; i < 12; i++) {
		char a[16], w[16];
		snprintf(a, sizeof a, "f%d", i);
		snprintf(w, sizeof w, "fresh-%d", i);
		expect_result(fd, a, w);
	}
	CHECK(count_fds() == n0);
	struct report rep1 = report_of(fd, what[0] == 'c' && (door_attrs & DOOR_NO_CANCEL) ? 1 : 0);
	send_val(&step3, &rep1, sizeof rep1);
	close(fd);
	/* Signalled clients stay on their main thread, which keeps its channel. */
	fds_back(start + CLIENT_CHANNEL_FDS, 10, "client, with its main thread's channel");
}

/* Another client's calls, on a scenario thread: none served by thread *arg. */
static void calls_not_by(void *arg)
{
	pid_t in = *(pid_t *)arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	for (int i = 0; i < 10; i++)
		CHECK(call_tid(fd) != in);
	close(fd);
}

/* Another client's calls, on a scenario thread: all served. */
static void calls_served(void *arg)
{
	(void)arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	for (int i = 0; i < 10; i++)
		CHECK(call_tid(fd) > 0);
	close(fd);
}

static void part_server(void)
{
	pid_t s = start_server(0);
	int s_fds = count_fds_of(s);
	pid_t c = spawn_tied(client_interrupted, "c");
	pid_t in = 0;
	recv_within(&inside, &in, sizeof in, 20);
	wait_asleep(c, c, 10, "the client's door_call");
	CHECK_OK(kill(c, SIGUSR1));
	gate_wait_within(&step1, 10);
	if (!readable_within(cancelled.fd[0], 10)) {
		fprintf(stderr, "FAIL %s: the procedure (thread %d), which enabled cancellation and blocks in read(2), was not "
		    "cancelled within 10 s of its client's EINTR (door without DOOR_NO_CANCEL)\n", test_name, (int)in);
		exit(1);
	}
	pid_t where = 0;
	recv_within(&cancelled, &where, sizeof where, 1);
	CHECK(where == in);
	if (!thread_gone_within(s, in, 10)) {
		fprintf(stderr, "FAIL %s: the cancelled server thread %d still exists\n", test_name, (int)in);
		exit(1);
	}
	gate_open(&step2);
	struct report r;
	recv_within(&step3, &r, sizeof r, 20);
	reap_ok_within(c, 20, "client");
	CHECK(r.c_finished == 0);
	/* The cancelled thread left nothing behind. */
	fds_back_of(s, s_fds, 10, "server, after its client");
	/* Another client, other threads: the pool recovered. */
	fd_neutral("the driver, another client", calls_not_by, &in);
	fds_back_of(s, s_fds, 10, "server, after the driver's calls");
	kill_and_reap(s);
}

static void part_no_cancel(void)
{
	pid_t s = start_server(DOOR_NO_CANCEL);
	int s_fds = count_fds_of(s);
	pid_t c = spawn_tied(client_interrupted, "c");
	pid_t in = 0;
	recv_within(&inside, &in, sizeof in, 20);
	wait_asleep(c, c, 10, "the client's door_call");
	CHECK_OK(kill(c, SIGUSR1));
	gate_wait_within(&step1, 10);
	/* Bounded wait for something that must not happen. */
	if (readable_within(cancelled.fd[0], 1.5)) {
		fprintf(stderr, "FAIL %s: the procedure of a DOOR_NO_CANCEL door was cancelled when its client was "
		    "interrupted\n", test_name);
		exit(1);
	}
	CHECK(thread_state(s, in) == 'S');
	gate_open(&release);
	gate_open(&step2);
	struct report r;
	recv_within(&step3, &r, sizeof r, 20);
	reap_ok_within(c, 20, "client");
	if (r.c_finished != 1 || r.ucred_rc != -1 || r.ucred_errno != EINVAL) {
		fprintf(stderr, "FAIL %s: the released procedure went on %d times, door_ucred gave %d errno %d; wanted 1 and "
		    "-1 EINVAL\n", test_name, r.c_finished, r.ucred_rc, r.ucred_errno);
		exit(1);
	}
	if (r.return_failed) {
		fprintf(stderr, "FAIL %s: door_return with no client failed: errno %d\n", test_name, r.return_errno);
		exit(1);
	}
	if (!r.release_closed) {
		fprintf(stderr, "FAIL %s: the DOOR_RELEASE descriptor of the discarded results is still open in the server\n",
		    test_name);
		exit(1);
	}
	CHECK(!readable_within(cancelled.fd[0], 0));
	/* The discarded results' descriptor, and the client's, are gone. */
	fds_back_of(s, s_fds, 10, "server, after its client");
	/* The thread that finished the abandoned call went on serving. */
	fd_neutral("the driver, another client", calls_served, NULL);
	fds_back_of(s, s_fds, 10, "server, after the driver's calls");
	CHECK(thread_state(s, in) != 0);
	kill_and_reap(s);
}

/* ---- first_call --------------------------------------------------------------- */

struct fc_report {
	int ended;       /* the thread ended */
	int canceled;    /* ...with PTHREAD_CANCELED */
	int cleanup;     /* its cleanup handler ran */
	long r;
	int e;
	double seconds;
};

static void client_first_call(void *arg)
{
	pid_t server = *(pid_t *)arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	gate_open(&step1);
	gate_wait_within(&step2, 20); /* the server is stopped */
	struct caller c = { .fd = fd, .arg = "p" };
	pthread_t t;
	double t0 = now_seconds();
	CHECK(pthread_create(&t, NULL, caller_thread, &c) == 0);
	pid_t tid = caller_tid(&c);
	wait_asleep(getpid(), tid, 10, "the thread making its first door_call");
	CHECK(pthread_cancel(t) == 0);
	void *ret = NULL;
	struct fc_report rep;
	memset(&rep, 0, sizeof rep);   /* padding too: the whole struct goes through a pipe */
	rep.ended = join_within(t, &ret, 5);
	rep.canceled = rep.ended && ret == PTHREAD_CANCELED;
	rep.cleanup = atomic_load(&c.cleanup_ran);
	rep.seconds = now_seconds() - t0;
	send_val(&step3, &rep, sizeof rep);
	gate_wait_within(&step4, 20); /* the server was continued */
	if (!rep.ended) {
		rep.ended = join_within(t, &ret, 10);
		rep.canceled = rep.ended && ret == PTHREAD_CANCELED;
		rep.cleanup = atomic_load(&c.cleanup_ran);
		rep.r = c.r;
		rep.e = c.e;
		rep.seconds = now_seconds() - t0;
		send_val(&step3, &rep, sizeof rep);
	}
	pid_t p = 0;
	CHECK(call_str(fd, "p", &p, sizeof p) == sizeof p && p == server);
	close(fd);
}

static void part_first_call(void)
{
	pid_t s = start_server(0);
	int s_fds = count_fds_of(s);
	/* The client's count comes back: the channel the cancelled thread was
	 * opening went with it. */
	pid_t c = spawn_tied_fd_neutral(client_first_call, &s);
	gate_wait_within(&step1, 20);
	CHECK_OK(kill(s, SIGSTOP));
	wait_stopped(s, 10);
	gate_open(&step2);
	struct fc_report rep;
	recv_within(&step3, &rep, sizeof rep, 30);
	CHECK_OK(kill(s, SIGCONT));
	gate_open(&step4);
	if (rep.ended) {
		reap_ok_within(c, 20, "client");
		/* Nothing is left of the abandoned Hello. */
		fds_back_of(s, s_fds, 10, "server, after its client");
		kill_and_reap(s);
		if (!rep.canceled || !rep.cleanup) {
			fprintf(stderr, "FAIL %s: the cancelled thread ended without PTHREAD_CANCELED (%d) or its cleanup "
			    "handler (%d)\n", test_name, rep.canceled, rep.cleanup);
			exit(1);
		}
		return;
	}
	/* Not cancelled while the server was stopped: find out what the
	 * cancellation did once the server was continued. */
	int status;
	char later[256];
	if (readable_within(step3.fd[0], 12)) {
		recv_within(&step3, &rep, sizeof rep, 1);
		snprintf(later, sizeof later, "once the server was continued the thread %s (PTHREAD_CANCELED %d, cleanup "
		    "handler %d, door_call result %ld errno %d) %.2f s after it started",
		    rep.ended ? "ended" : "still did not end", rep.canceled, rep.cleanup, rep.r, rep.e, rep.seconds);
		status = wait_within(c, 20, "client");
	} else {
		status = wait_within(c, 20, "client");
		if (WIFSIGNALED(status))
			snprintf(later, sizeof later, "once the server was continued the client process was killed by signal %d "
			    "(%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
		else
			snprintf(later, sizeof later, "the client process then ended with status 0x%x", status);
	}
	kill_and_reap(s);
	fprintf(stderr, "FAIL %s: a thread cancelled while its first door_call waited for a stopped server was not "
	    "cancelled within 5 s; %s\n", test_name, later);
	exit(1);
}

/* ---- return ------------------------------------------------------------------ */

/* Part return's second client: its calls and how many the thread with
 * the pending request served. */
struct with_desc { pid_t s, in; int served_by_it; };
static void calls_with_descriptor(void *arg);

static void part_return(void)
{
	pid_t s = start_server(0);
	int s_fds = count_fds_of(s);
	pid_t c = spawn_tied(client_interrupted, "s");
	pid_t in = 0;
	recv_within(&inside, &in, sizeof in, 20);
	wait_asleep(c, c, 10, "the client's door_call");
	CHECK_OK(kill(c, SIGUSR1));
	gate_wait_within(&step1, 10); /* EINTR, and the server has reacted */
	atomic_store(spin_flag, 1);   /* the procedure calls door_return */
	/* Wait until the procedure's thread stops spinning. */
	double end = now_seconds() + 10;
	while (thread_state(s, in) == 'R') {
		CHECK(now_seconds() < end);
		usleep(1000);
	}
	int status;
	if (ended_within(s, 0.5, &status)) {
		fprintf(stderr, "FAIL %s: the server process died (%s %d) when a procedure with cancellation enabled called "
		    "door_return after its client was interrupted (door_return is not a cancellation point)\n", test_name,
		    WIFSIGNALED(status) ? "signal" : "exit status", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		exit(1);
	}
	gate_open(&step2);
	struct report r;
	recv_within(&step3, &r, sizeof r, 20);
	reap_ok_within(c, 20, "client");
	CHECK(!r.return_failed);
	fds_back_of(s, s_fds, 10, "server, after its client");
	/* Calls that carry a descriptor (so they travel the slow way), from
	 * another client: the thread with the pending request may serve some
	 * of them; none may fail, and the server must live on. */
	struct with_desc w = { s, in, 0 };
	fd_neutral("the driver, another client", calls_with_descriptor, &w);
	fds_back_of(s, s_fds, 10, "server, after the driver's calls");
	CHECK(!ended_within(s, 0, &status));
	kill_and_reap(s);
	if (getenv("LIBDOOR_TEST_VERBOSE"))
		printf("%s: the thread with the pending request served %d of 50 calls\n", test_name, w.served_by_it);
}

static void calls_with_descriptor(void *arg)
{
	struct with_desc *w = arg;
	pid_t s = w->s, in = w->in;
	int status;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	int served_by_it = 0;
	for (int i = 0; i < 50; i++) {
		door_desc_t d;
		memset(&d, 0, sizeof d);
		d.d_attributes = DOOR_DESCRIPTOR;
		d.d_data.d_desc.d_descriptor = fd;
		pid_t tid = 0;
		char buf[64];
		door_arg_t a = { "t", 2, &d, 1, buf, sizeof buf };
		if (door_call(fd, &a) == -1) {
			int e = errno;
			int died = ended_within(s, 1, &status);
			fprintf(stderr, "FAIL %s: call %d with a descriptor failed: errno %d (%s)%s\n", test_name, i, e,
			    strerror(e), died ? "; the server process died" : "");
			exit(1);
		}
		CHECK(a.data_size == sizeof tid);
		memcpy(&tid, a.data_ptr, sizeof tid);
		served_by_it += tid == in;
	}
	close(fd);
	w->served_by_it = served_by_it;
}

static const struct part parts[] = {
	{ "called", part_called, "pthread_cancel of a thread blocked in door_call" },
	{ "pending", part_pending, "door_call acts on a pending cancellation before calling" },
	{ "server", part_server, "a cancellable procedure is cancelled when its client is interrupted" },
	{ "no_cancel", part_no_cancel, "DOOR_NO_CANCEL: the procedure is not cancelled" },
	{ "first_call", part_first_call, "cancellation of a first door_call waiting for a stopped server" },
	{ "return", part_return, "door_return with a cancellation pending and enabled" },
};

int main(int argc, char **argv)
{
	watchdog(58);
	int failed = run_parts("cancel", parts, sizeof parts / sizeof parts[0], argc, argv, 30);
	if (failed)
		return 1;
	test_name = "cancel";
	PASS();
}
