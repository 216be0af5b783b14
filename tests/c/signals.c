/* Caught signals and door_call (doors-spec §4.3, §4.4 "Signals", §4.10,
 * §5.8, §7.6, §7.12).
 *
 * interrupted  A client with a SIGUSR1 handler installed with SA_RESTART
 *              is signalled while its call blocks inside the procedure:
 *              door_call fails with EINTR (it is not restarted) and the
 *              handler ran once. The procedure keeps running: door_ucred
 *              and door_cred then fail with EINVAL, and its door_return
 *              with data and a DOOR_RELEASE descriptor succeeds, closing the
 *              server's copy. The same client thread's next calls get their
 *              own results, and no stray descriptor reaches the client.
 * retry        After such an EINTR, the same client thread's next call is
 *              answered while the interrupted procedure is still running:
 *              the default pool has an idle thread for it.
 * eagain       A server whose creation function makes exactly one thread;
 *              client 1 holds it busy; client 2 is signalled while its call
 *              waits for a free thread: EAGAIN, and that call never runs.
 *              Once client 1 is released the door works.
 * eagain_private  The same with a DOOR_PRIVATE door served by one bound
 *              thread.
 * idle         Signals sent to an idle server thread (pthread_kill in the
 *              server, and kill of the server process, whose other threads
 *              block the signal) run the handler, installed without
 *              SA_RESTART, in that thread, which goes on serving.
 * hidden       As interrupted, with the handler installed by the rt_sigaction
 *              system call itself, unseen by libc, before the door is opened.
 * stopped      A client whose thread makes its first call to a door while
 *              the server process is stopped is signalled: door_call fails
 *              (EAGAIN, or EINTR) promptly instead of waiting for the server
 *              to be continued; afterwards the door works.
 *
 * Every server and client is a process of its own. */
#include "interrupt_test.h"

static char path[512];
static struct gate ready;    /* server -> part: attached */
static struct gate inside;   /* procedure -> part: a blocking call runs (its tid) */
static struct gate release;  /* part -> procedure: go on, one byte per call */
static struct gate step1;    /* client -> part */
static struct gate step2;    /* part -> client */
static struct gate step3;    /* client -> part */
static struct gate step4;    /* part -> client */

static void init_gates(void)
{
	struct gate *g[] = { &ready, &inside, &release, &step1, &step2, &step3, &step4 };
	for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
		gate_init(g[i]);
}

static void make_path(void)
{
	snprintf(path, sizeof path, "%s/door", test_dir());
}

static volatile sig_atomic_t hits;
static void on_signal(int sig)
{
	(void)sig;
	hits++;
}

/* Reads a pid_t the server sent through `g`. */
static pid_t recv_pid(struct gate *g, double seconds)
{
	pid_t p = 0;
	recv_within(g, &p, sizeof p, seconds);
	return p;
}

/* ---- interrupted / retry ------------------------------------------------ */

struct a_report {
	int b_calls;
	int ucred_rc, ucred_errno;
	int cred_rc, cred_errno;
	int return_failed, return_errno;
	int release_closed;
};

static pthread_mutex_t a_lock = PTHREAD_MUTEX_INITIALIZER;
static struct a_report arep;
static int release_fd = -1;
static struct stat release_st;

/*
 * 'p': the server's pid. 'b<n>': block until released, then check the
 * client is gone and return "stale-<n>" with a DOOR_RELEASE descriptor.
 * 'f<n>': "fresh-<n>". 'q': the report.
 */
static void proc_a(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	if (argp == NULL || size < 2)
		door_return(NULL, 0, NULL, 0);
	char out[32];
	switch (argp[0]) {
	case 'p': {
		pid_t me = getpid();
		door_return((char *)&me, sizeof me, NULL, 0);
		break;
	}
	case 'b': {
		pthread_mutex_lock(&a_lock);
		arep.b_calls++;
		pthread_mutex_unlock(&a_lock);
		pid_t t = thread_id();
		send_val(&inside, &t, sizeof t);
		gate_wait(&release);
		ucred_t *uc = NULL;
		int ur = door_ucred(&uc);
		int ue = errno;
		if (ur == 0)
			ucred_free(uc);
		door_cred_t dc;
		int cr = door_cred(&dc);
		int ce = errno;
		int pfd[2];
		CHECK_OK(pipe(pfd));
		close(pfd[0]);   /* only the write end is returned (and released) */
		struct stat st;
		CHECK_OK(fstat(pfd[1], &st));
		pthread_mutex_lock(&a_lock);
		arep.ucred_rc = ur;
		arep.ucred_errno = ue;
		arep.cred_rc = cr;
		arep.cred_errno = ce;
		release_fd = pfd[1];
		release_st = st;
		pthread_mutex_unlock(&a_lock);
		snprintf(out, sizeof out, "stale-%s", argp + 1);
		door_desc_t d;
		memset(&d, 0, sizeof d);
		d.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
		d.d_data.d_desc.d_descriptor = pfd[1];
		door_return(out, strlen(out) + 1, &d, 1);
		pthread_mutex_lock(&a_lock);
		arep.return_failed = 1;
		arep.return_errno = errno;
		pthread_mutex_unlock(&a_lock);
		door_return(NULL, 0, NULL, 0);
		break;
	}
	case 'f':
		snprintf(out, sizeof out, "fresh-%s", argp + 1);
		door_return(out, strlen(out) + 1, NULL, 0);
		break;
	case 'q': {
		int closed = released_within(&a_lock, &release_fd, &release_st);
		pthread_mutex_lock(&a_lock);
		struct a_report r = arep;
		pthread_mutex_unlock(&a_lock);
		r.release_closed = closed;
		door_return((char *)&r, sizeof r, NULL, 0);
		break;
	}
	}
	door_return(NULL, 0, NULL, 0);
}

static void server_a(void *arg)
{
	(void)arg;
	attach_new(path, proc_a, NULL, 0);
	gate_open(&ready);
	for (;;)
		pause();
}

/* A call that must return exactly `want` (a string), no descriptors. */
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
	CHECK(a.rbuf == buf);
}

/* Makes the blocking call "b1" and requires EINTR from one SIGUSR1. */
static void interrupted_call(int fd)
{
	hits = 0;
	errno = 0;
	long r = call_str(fd, "b1", NULL, 0);
	int e = errno;
	EXPECT_FAIL(r, e, EINTR, "door_call interrupted by a SIGUSR1 handler installed with SA_RESTART");
	CHECK(hits == 1);
}

/* Opens the door of `server`, checks it, and makes the call "b1" that a
 * SIGUSR1 interrupts (interrupted_call). Returns the descriptor. */
static int open_interrupted(pid_t server)
{
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	pid_t p = 0;
	CHECK(call_str(fd, "p", &p, sizeof p) == sizeof p && p == server);
	interrupted_call(fd);
	return fd;
}

static void client_a(void *arg)
{
	pid_t server = *(pid_t *)arg;
	catch_signal(SIGUSR1, on_signal, SA_RESTART);
	int start = count_fds();
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	pid_t p = 0;
	CHECK(call_str(fd, "p", &p, sizeof p) == sizeof p && p == server);
	int n0 = count_fds();
	interrupted_call(fd);
	gate_open(&step1);
	gate_wait_within(&step2, 20); /* the procedure was released */
	/* Our own results, not the stale ones, and no stray descriptor. */
	expect_result(fd, "f2", "fresh-2");
	CHECK(count_fds() == n0);
	struct a_report r;
	CHECK(call_str(fd, "q", &r, sizeof r) == sizeof r);
	if (r.b_calls != 1 || r.ucred_rc != -1 || r.ucred_errno != EINVAL || r.cred_rc != -1 || r.cred_errno != EINVAL) {
		fprintf(stderr, "FAIL %s: in the interrupted procedure: %d calls, door_ucred %d errno %d, door_cred %d errno %d; "
		    "wanted 1 call and -1 EINVAL for both\n", test_name, r.b_calls, r.ucred_rc, r.ucred_errno, r.cred_rc,
		    r.cred_errno);
		exit(1);
	}
	if (r.return_failed) {
		fprintf(stderr, "FAIL %s: door_return with no client failed: errno %d (%s)\n", test_name, r.return_errno,
		    strerror(r.return_errno));
		exit(1);
	}
	if (!r.release_closed) {
		fprintf(stderr, "FAIL %s: the DOOR_RELEASE descriptor of the discarded results is still open in the server\n",
		    test_name);
		exit(1);
	}
	for (int i = 3; i < 23; i++) {
		char a[16], w[16];
		snprintf(a, sizeof a, "f%d", i);
		snprintf(w, sizeof w, "fresh-%d", i);
		expect_result(fd, a, w);
	}
	CHECK(count_fds() == n0);
	close(fd);
	/* Signalled clients stay on their main thread, which keeps its channel. */
	fds_back(start + CLIENT_CHANNEL_FDS, 10, "client, with its main thread's channel");
}

/* The driver's side of an interrupted call: once client `c` sleeps in its
 * call "b1", a SIGUSR1; then the procedure is released and the client
 * finishes. */
static void interrupt_client(pid_t c)
{
	recv_pid(&inside, 20);
	wait_asleep(c, c, 10, "the client's door_call");
	CHECK_OK(kill(c, SIGUSR1));
	gate_wait_within(&step1, 10);
	gate_open(&release);
	gate_open(&step2);
	reap_ok_within(c, 20, "client");
}

/* Fresh gates and path, and server A attached there. */
static pid_t start_server_a(void)
{
	init_gates();
	make_path();
	pid_t s = spawn_tied(server_a, NULL);
	gate_wait_within(&ready, 20);
	return s;
}

static void part_interrupted(void)
{
	pid_t s = start_server_a();
	int s_fds = count_fds_of(s);
	interrupt_client(spawn_tied(client_a, &s));
	/* Nothing of the dead client's is left in the server, nor of the
	 * discarded results (their DOOR_RELEASE descriptor). */
	fds_back_of(s, s_fds, 10, "server, after its client");
	kill_and_reap(s);
}

static void client_retry(void *arg)
{
	pid_t server = *(pid_t *)arg;
	catch_signal(SIGUSR1, on_signal, SA_RESTART);
	int start = count_fds();
	int fd = open_interrupted(server);
	gate_open(&step1);
	/* The interrupted procedure is still blocked; this call must not wait
	 * for it. */
	expect_result(fd, "f2", "fresh-2");
	gate_open(&step3);
	gate_wait_within(&step4, 20);
	expect_result(fd, "f3", "fresh-3");
	close(fd);
	fds_back(start + CLIENT_CHANNEL_FDS, 10, "client, with its main thread's channel");
}

static void part_retry(void)
{
	pid_t s = start_server_a();
	int s_fds = count_fds_of(s);
	pid_t c = spawn_tied(client_retry, &s);
	recv_pid(&inside, 20);
	wait_asleep(c, c, 10, "the client's door_call");
	CHECK_OK(kill(c, SIGUSR1));
	gate_wait_within(&step1, 10);
	int answered = readable_within(step3.fd[0], 5);
	/* Let the interrupted procedure finish either way, so that the rest
	 * of the client's checks run. */
	gate_open(&release);
	if (answered)
		gate_wait_within(&step3, 1);
	else
		gate_wait_within(&step3, 10);
	gate_open(&step4);
	reap_ok_within(c, 20, "client");
	fds_back_of(s, s_fds, 10, "server, after its client");
	kill_and_reap(s);
	if (!answered) {
		fprintf(stderr, "FAIL %s: after door_call failed with EINTR, the same thread's next call on the door was not "
		    "answered within 5 s while the interrupted procedure kept running (it was answered only once that "
		    "procedure called door_return)\n", test_name);
		exit(1);
	}
}

/* ---- eagain ------------------------------------------------------------- */

static int private_door; /* eagain_private */

struct b_report {
	int calls;   /* every invocation, this one included */
	int x_runs;  /* invocations of the call that was withdrawn */
	int threads; /* threads the creation function made */
	int creations;
};

static atomic_int b_calls, b_xruns, b_threads, b_creations;
static pthread_mutex_t b_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t b_cond = PTHREAD_COND_INITIALIZER;
static int b_priv_fd = -1;

static void proc_b(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	atomic_fetch_add(&b_calls, 1);
	if (argp == NULL || size < 2)
		door_return(NULL, 0, NULL, 0);
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
	case 'b': {
		pid_t t = thread_id();
		send_val(&inside, &t, sizeof t);
		gate_wait(&release);
		door_return("b", 2, NULL, 0);
		break;
	}
	case 'x':
		atomic_fetch_add(&b_xruns, 1);
		door_return("x", 2, NULL, 0);
		break;
	case 'n': {
		struct b_report r = { atomic_load(&b_calls), atomic_load(&b_xruns), atomic_load(&b_threads),
			atomic_load(&b_creations) };
		door_return((char *)&r, sizeof r, NULL, 0);
		break;
	}
	}
	door_return(NULL, 0, NULL, 0);
}

static void *one_thread(void *arg)
{
	(void)arg;
	CHECK(pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL) == 0);
	if (private_door) {
		pthread_mutex_lock(&b_lock);
		while (b_priv_fd < 0)
			pthread_cond_wait(&b_cond, &b_lock);
		int fd = b_priv_fd;
		pthread_mutex_unlock(&b_lock);
		CHECK_OK(door_bind(fd));
	}
	door_return(NULL, 0, NULL, 0);
	return NULL;
}

/* Makes exactly one server thread: for the first door (NULL, or the private
 * door's info without DOOR_DEPLETION_CB), never on depletion. */
static void create_one(door_info_t *dip)
{
	atomic_fetch_add(&b_creations, 1);
	if (dip != NULL && (dip->di_attributes & DOOR_DEPLETION_CB))
		return;
	if (atomic_load(&b_threads) > 0)
		return;
	atomic_fetch_add(&b_threads, 1);
	pthread_t t;
	pthread_attr_t a;
	CHECK(pthread_attr_init(&a) == 0);
	CHECK(pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED) == 0);
	CHECK(pthread_create(&t, &a, one_thread, NULL) == 0);
	pthread_attr_destroy(&a);
}

static void server_b(void *arg)
{
	(void)arg;
	door_server_create(create_one);
	make_file(path, 0644);
	int d = door_create(proc_b, NULL, private_door ? DOOR_PRIVATE : 0);
	CHECK(d >= 0);
	pthread_mutex_lock(&b_lock);
	b_priv_fd = d;
	pthread_cond_broadcast(&b_cond);
	pthread_mutex_unlock(&b_lock);
	CHECK_OK(fattach(d, path));
	gate_open(&ready);
	for (;;)
		pause();
}

static struct b_report b_report_of(int fd)
{
	struct b_report r;
	CHECK(call_str(fd, "n", &r, sizeof r) == sizeof r);
	return r;
}

/* Client 1: holds the only server thread. */
static void client_b1(void *arg)
{
	(void)arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	char res[8] = "";
	CHECK(call_str(fd, "b", res, sizeof res) == 2 && strcmp(res, "b") == 0);
	close(fd);
}

/* Client 2: its call waits for a thread and is withdrawn by a signal. */
static void client_b2(void *arg)
{
	pid_t server = *(pid_t *)arg;
	catch_signal(SIGUSR1, on_signal, SA_RESTART);
	int start = count_fds();
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	pid_t p = 0;
	CHECK(call_str(fd, "p", &p, sizeof p) == sizeof p && p == server);
	gate_open(&step1);
	gate_wait_within(&step2, 20); /* client 1 holds the thread */
	hits = 0;
	errno = 0;
	long r = call_str(fd, "x", NULL, 0);
	int e = errno;
	EXPECT_FAIL(r, e, EAGAIN, "door_call signalled while waiting for a free server thread");
	CHECK(hits == 1);
	gate_open(&step3);
	gate_wait_within(&step4, 20); /* client 1 was released and is done */
	/* p, b, n: the withdrawn call never ran. */
	struct b_report rep = b_report_of(fd);
	if (rep.x_runs != 0 || rep.calls != 3) {
		fprintf(stderr, "FAIL %s: %d invocations, the withdrawn call ran %d times; wanted 3 and 0\n", test_name,
		    rep.calls, rep.x_runs);
		exit(1);
	}
	for (int i = 0; i < 20; i++)
		CHECK(call_str(fd, "p", &p, sizeof p) == sizeof p && p == server);
	rep = b_report_of(fd);
	CHECK(rep.x_runs == 0 && rep.calls == 24);
	CHECK(rep.threads == 1);
	close(fd);
	fds_back(start + CLIENT_CHANNEL_FDS, 10, "client 2, with its main thread's channel");
}

static void eagain(int priv)
{
	private_door = priv;
	init_gates();
	make_path();
	pid_t s = spawn_tied(server_b, NULL);
	gate_wait_within(&ready, 20);
	int s_fds = count_fds_of(s);
	pid_t c2 = spawn_tied(client_b2, &s);
	gate_wait_within(&step1, 20);
	pid_t c1 = spawn_tied_fd_neutral(client_b1, NULL);
	recv_pid(&inside, 20);
	gate_open(&step2);
	wait_asleep(c2, c2, 10, "client 2's door_call");
	CHECK_OK(kill(c2, SIGUSR1));
	gate_wait_within(&step3, 10);
	gate_open(&release);
	reap_ok_within(c1, 20, "client 1");
	gate_open(&step4);
	reap_ok_within(c2, 20, "client 2");
	/* The withdrawn call left nothing in the server either. */
	fds_back_of(s, s_fds, 10, "server, after its clients");
	kill_and_reap(s);
}

static void part_eagain(void) { eagain(0); }
static void part_eagain_private(void) { eagain(1); }

/* ---- idle --------------------------------------------------------------- */

static struct gate cmd;      /* part -> server main thread: commands */
static struct gate sigrep;   /* handler -> part: the tid it ran in */
static pthread_t serving;    /* the pool thread, recorded by 't' */
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;

static void report_tid(int sig)
{
	(void)sig;
	int saved = errno;
	pid_t t = (pid_t)syscall(SYS_gettid);
	if (write(sigrep.fd[1], &t, sizeof t) != sizeof t)
		abort();
	errno = saved;
}

static void proc_idle(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	pthread_mutex_lock(&idle_lock);
	serving = pthread_self();
	pthread_mutex_unlock(&idle_lock);
	pid_t t = thread_id();
	door_return((char *)&t, sizeof t, NULL, 0);
}

static void server_idle(void *arg)
{
	(void)arg;
	/* Without SA_RESTART: nothing may depend on restarting. */
	catch_signal(SIGUSR2, report_tid, 0);
	door_server_create(create_one);
	/* The one pool thread is made here, with SIGUSR2 unblocked... */
	attach_new(path, proc_idle, NULL, 0);
	/* ...and from now on this thread blocks it, so that a signal sent to
	 * the process can only be taken by the pool thread (libdoor's own
	 * threads block every signal). */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	CHECK(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0);
	gate_open(&ready);
	for (;;) {
		char c;
		CHECK(read(cmd.fd[0], &c, 1) == 1);
		pthread_mutex_lock(&idle_lock);
		pthread_t t = serving;
		pthread_mutex_unlock(&idle_lock);
		CHECK(pthread_kill(t, SIGUSR2) == 0);
	}
}

static int is_epoll_wait(long nr)
{
#ifdef SYS_epoll_wait
	if (nr == SYS_epoll_wait)
		return 1;
#endif
#ifdef SYS_epoll_pwait2
	if (nr == SYS_epoll_pwait2)
		return 1;
#endif
	return nr == SYS_epoll_pwait;
}

/* Waits until server thread `tid` is idle again: asleep in epoll_wait. */
static void wait_idle(pid_t pid, pid_t tid)
{
	double end = now_seconds() + 10;
	for (;;) {
		char st = thread_state(pid, tid);
		long nr = blocked_syscall(pid, tid);
		if (st == 'S' && (is_epoll_wait(nr) || nr == -2))
			return;
		if (st == 0) {
			fprintf(stderr, "FAIL %s: server thread %d is gone\n", test_name, (int)tid);
			exit(1);
		}
		if (now_seconds() > end) {
			fprintf(stderr, "FAIL %s: server thread %d did not go back to waiting for calls (state %c, syscall %ld)\n",
			    test_name, (int)tid, st, nr);
			exit(1);
		}
		usleep(1000);
	}
}

static pid_t serving_tid(int fd)
{
	pid_t t = 0;
	CHECK(call_str(fd, "t", &t, sizeof t) == sizeof t && t > 0);
	return t;
}

static void idle_rounds(void *arg);

static void part_idle(void)
{
	init_gates();
	gate_init(&cmd);
	gate_init(&sigrep);
	make_path();
	pid_t s = spawn_tied(server_idle, NULL);
	gate_wait_within(&ready, 20);
	/* The driver's calls on a scenario thread: the signals go to the
	 * server, and the driver's channel goes with the thread. */
	int s_fds = count_fds_of(s);
	fd_neutral("the driver, idle's client", idle_rounds, &s);
	fds_back_of(s, s_fds, 10, "server, after the driver's calls");
	kill_and_reap(s);
}

static void idle_rounds(void *arg)
{
	pid_t s = *(pid_t *)arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	pid_t t = serving_tid(fd);
	CHECK(serving_tid(fd) == t); /* one thread serves everything */
	for (int round = 0; round < 10; round++) {
		wait_idle(s, t);
		if (round % 2 == 0)
			gate_open(&cmd);          /* pthread_kill(pool thread) */
		else
			CHECK_OK(kill(s, SIGUSR2)); /* to the process: only the pool thread takes it */
		pid_t where = 0;
		recv_within(&sigrep, &where, sizeof where, 10);
		if (where != t) {
			fprintf(stderr, "FAIL %s: the handler ran in thread %d, not in the idle server thread %d\n", test_name,
			    (int)where, (int)t);
			exit(1);
		}
		/* The same thread goes on serving. */
		wait_idle(s, t);
		for (int i = 0; i < 3; i++)
			CHECK(serving_tid(fd) == t);
	}
	close(fd);
}

/* ---- stopped ------------------------------------------------------------ */

struct d_result {
	long r;
	int e;
	int hits;
	double seconds;
};

static void client_stopped(void *arg)
{
	pid_t server = *(pid_t *)arg;
	catch_signal(SIGUSR1, on_signal, SA_RESTART);
	int start = count_fds();
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	gate_open(&step1);
	gate_wait_within(&step2, 20); /* the server is stopped */
	hits = 0;
	double t0 = now_seconds();
	errno = 0;
	pid_t p = 0;
	struct d_result res;
	res.r = call_str(fd, "p", &p, sizeof p);
	res.e = errno;
	res.hits = hits;
	res.seconds = now_seconds() - t0;
	send_val(&step3, &res, sizeof res);
	gate_wait_within(&step4, 20); /* the server was continued */
	for (int i = 0; i < 5; i++)
		CHECK(call_str(fd, "p", &p, sizeof p) == sizeof p && p == server);
	close(fd);
	fds_back(start + CLIENT_CHANNEL_FDS, 10, "client, with its main thread's channel");
}

static void part_stopped(void)
{
	pid_t s = start_server_a();
	int s_fds = count_fds_of(s);
	pid_t c = spawn_tied(client_stopped, &s);
	gate_wait_within(&step1, 20);
	CHECK_OK(kill(s, SIGSTOP));
	wait_stopped(s, 10);
	gate_open(&step2);
	wait_asleep(c, c, 10, "the client's first door_call");
	CHECK_OK(kill(c, SIGUSR1));
	int prompt = readable_within(step3.fd[0], 5);
	CHECK_OK(kill(s, SIGCONT));
	struct d_result res;
	recv_within(&step3, &res, sizeof res, 20);
	gate_open(&step4);
	reap_ok_within(c, 20, "client");
	/* Nothing is left of the first call's abandoned Hello either. */
	fds_back_of(s, s_fds, 10, "server, after its client");
	kill_and_reap(s);
	if (!prompt) {
		fprintf(stderr, "FAIL %s: a thread's first door_call, made while the server was stopped, was not ended by a "
		    "caught signal within 5 s (the handler ran %d times); it ended %.2f s after it started, once the server "
		    "was continued, with %s %ld (errno %d, %s)\n", test_name, res.hits, res.seconds,
		    res.r >= 0 ? "success, result size" : "failure", res.r, res.e, strerror(res.e));
		exit(1);
	}
	if (res.r != -1 || (res.e != EAGAIN && res.e != EINTR) || res.hits != 1) {
		fprintf(stderr, "FAIL %s: door_call signalled while the server was stopped returned %ld errno %d (%s), handler "
		    "ran %d times; wanted -1 EAGAIN (or EINTR) and 1\n", test_name, res.r, res.e, strerror(res.e), res.hits);
		exit(1);
	}
}

/* ---- hidden ---------------------------------------------------------------- */

#if defined(__x86_64__) || defined(__aarch64__)
#include <sys/syscall.h>

/* The kernel's struct sigaction on these machines. */
struct kernel_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

/* Installs `fn` for `sig` with SA_RESTART by the system call itself, as a
 * runtime that bypasses libc does: libdoor's interposed sigaction never
 * sees it. The restorer is libc's, read back from a handler libc set. */
static void catch_signal_behind_libc(int sig, void (*fn)(int))
{
	catch_signal(SIGUSR2, on_signal, 0);
	struct kernel_sigaction k;
	CHECK_OK(syscall(SYS_rt_sigaction, SIGUSR2, NULL, &k, sizeof k.mask));
	k.handler = fn;
	k.flags |= SA_RESTART;
	k.mask = 0;
	CHECK_OK(syscall(SYS_rt_sigaction, sig, &k, NULL, sizeof k.mask));
}

static void client_hidden(void *arg)
{
	pid_t server = *(pid_t *)arg;
	/* Before the door is opened: opening a channel reads every signal's
	 * disposition again, so the wait keeps its timeout and ends in EINTR
	 * (an untimed wait would be restarted after the handler). */
	catch_signal_behind_libc(SIGUSR1, on_signal);
	int fd = open_interrupted(server);
	gate_open(&step1);
	gate_wait_within(&step2, 20);
	expect_result(fd, "f2", "fresh-2");
}

static void part_hidden(void)
{
	pid_t s = start_server_a();
	interrupt_client(spawn_tied(client_hidden, &s));
	kill_and_reap(s);
}
#endif

static const struct part parts[] = {
	{ "interrupted", part_interrupted, "EINTR under SA_RESTART; the procedure runs on; results discarded" },
	{ "retry", part_retry, "next call answered while the interrupted procedure still runs" },
	{ "eagain", part_eagain, "EAGAIN while waiting for the only server thread" },
	{ "eagain_private", part_eagain_private, "EAGAIN while waiting for a private door's only thread" },
	{ "idle", part_idle, "signals to idle server threads run handlers and do not disturb service" },
	{ "stopped", part_stopped, "a signal ends a first door_call to a stopped server" },
#if defined(__x86_64__) || defined(__aarch64__)
	{ "hidden", part_hidden, "EINTR under an SA_RESTART handler installed behind libc's back" },
#endif
};

int main(int argc, char **argv)
{
	watchdog(55);
	int failed = run_parts("signals", parts, sizeof parts / sizeof parts[0], argc, argv, 25);
	if (failed)
		return 1;
	test_name = "signals";
	PASS();
}
