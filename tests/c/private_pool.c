/* Private pools and door_bind/door_unbind (doors-spec §4.6, §4.7, §5.4,
 * §5.11, §7.7). A DOOR_PRIVATE door whose creation function starts two
 * threads that wait for the fd to be published, door_bind it and park in
 * door_return:
 *  - its calls are served only by those two threads, and DOOR_QUERY inside
 *    the procedure describes the private door;
 *  - a third concurrent call waits for one of them: it does not go to the
 *    process-wide pool, which has an idle thread;
 *  - DOOR_QUERY outside a bound thread and door_unbind in an unbound thread
 *    give EBADF; door_bind gives EINVAL on an ordinary door and EBADF on a
 *    descriptor that is not a door;
 *  - in a forked child of the server, door_bind on the parent's private door
 *    gives EINVAL and door_revoke/door_setparam give EPERM;
 *  - a forked child of a bound thread (forking inside the procedure, or from
 *    a thread bound with door_bind) gets EINVAL from door_return until it
 *    calls door_unbind. */
#include "door_test.h"

#define NBOUND 2

static char path_g[512], path_p[512];
static struct gate ready;      /* server -> driver: struct report */
static struct gate arrivals;   /* server -> driver: tid of each held call */
static struct gate release;    /* driver -> server: one byte per held call */

static char cookie_g, cookie_p;

/* In the server. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int priv_fd = -1;
static int nbound, bind_failures;
static pid_t bound_tids[NBOUND];
static door_server_func_t *libdoor_default;
static uint64_t p_uniq;

static void *bound_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	while (priv_fd < 0)
		pthread_cond_wait(&cond, &lock);
	int fd = priv_fd;
	pthread_mutex_unlock(&lock);
	int r = door_bind(fd);
	pthread_mutex_lock(&lock);
	if (r == 0 && nbound < NBOUND)
		bound_tids[nbound++] = thread_id();
	else
		bind_failures++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	if (r == 0)
		door_return(NULL, 0, NULL, 0);
	return NULL;
}

static void my_create(door_info_t *dip)
{
	if (dip == NULL) {
		libdoor_default(NULL);
		return;
	}
	if (dip->di_attributes & DOOR_DEPLETION_CB)
		return;   /* the private pool stays at NBOUND threads */
	for (int i = 0; i < NBOUND; i++) {
		pthread_t t;
		pthread_attr_t a;
		CHECK(pthread_attr_init(&a) == 0);
		CHECK(pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED) == 0);
		CHECK(pthread_create(&t, &a, bound_thread, NULL) == 0);
		pthread_attr_destroy(&a);
	}
}

static int is_bound_tid(pid_t tid)
{
	int found = 0;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nbound; i++)
		found |= bound_tids[i] == tid;
	pthread_mutex_unlock(&lock);
	return found;
}

struct reply {
	pid_t tid;
	int in_bound;         /* the serving thread is one of the bound ones */
	int query_r, query_errno;
	uint64_t q_uniq, q_data;
	uint_t q_attrs;
	pid_t q_target;
	int fork_status;      /* 'f': the forked child's wait status */
};

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)dp; (void)n;
	struct reply r;
	memset(&r, 0, sizeof r);
	r.tid = thread_id();
	r.in_bound = is_bound_tid(r.tid);
	door_info_t di;
	memset(&di, 0, sizeof di);
	errno = 0;
	r.query_r = door_info(DOOR_QUERY, &di);
	r.query_errno = errno;
	r.q_uniq = di.di_uniquifier;
	r.q_data = di.di_data;
	r.q_attrs = di.di_attributes;
	r.q_target = di.di_target;
	char op = argp != NULL && size == 1 ? argp[0] : 'c';
	if (op == 'h' && cookie == &cookie_p) {
		/* Hold: say we are inside, then wait for the driver. */
		send_val(&arrivals, &r.tid, sizeof r.tid);
		char c;
		CHECK(read(release.fd[0], &c, 1) == 1);
	} else if (op == 'f' && cookie == &cookie_p) {
		/* Fork from a bound thread, inside the procedure. */
		pid_t pid = test_fork();
		if (pid == 0) {
			errno = 0;
			int rr = door_return(NULL, 0, NULL, 0);
			if (rr != -1 || errno != EINVAL)
				_exit(10);
			if (door_unbind() != 0)
				_exit(11);
			errno = 0;
			if (door_unbind() != -1 || errno != EBADF)
				_exit(12);
			_exit(0);
		}
		CHECK(pid > 0);
		r.fork_status = wait_within(pid, 10, "child forked in the procedure");
	}
	door_return((char *)&r, sizeof r, NULL, 0);
}

struct report {
	pid_t pid;
	uint64_t p_uniq;
	pid_t bound[NBOUND];
	int bind_failures;
};

static void server(void *arg)
{
	(void)arg;
	libdoor_default = door_server_create(my_create);
	/* The ordinary door first: the process-wide pool gets a thread. */
	int g = door_create(server_proc, &cookie_g, 0);
	CHECK(g >= 0);
	int p = door_create(server_proc, &cookie_p, DOOR_PRIVATE);
	CHECK(p >= 0);
	door_info_t di;
	CHECK_OK(info_of(p, &di));
	CHECK(di.di_attributes & DOOR_PRIVATE);
	p_uniq = di.di_uniquifier;

	struct report rep;
	memset(&rep, 0, sizeof rep);
	rep.pid = getpid();
	rep.p_uniq = p_uniq;
	pthread_mutex_lock(&lock);
	priv_fd = p;
	pthread_cond_broadcast(&cond);
	while (nbound + bind_failures < NBOUND)
		pthread_cond_wait(&cond, &lock);
	memcpy(rep.bound, bound_tids, sizeof rep.bound);
	rep.bind_failures = bind_failures;
	pthread_mutex_unlock(&lock);

	/* The main thread is not bound. */
	CHECK_ERR(door_info(DOOR_QUERY, &di), EBADF);
	CHECK_ERR(door_unbind(), EBADF);
	/* door_bind: only private doors, only doors. */
	CHECK_ERR(door_bind(g), EINVAL);
	int pfd[2];
	CHECK_OK(pipe(pfd));
	CHECK_ERR(door_bind(pfd[0]), EBADF);
	close(pfd[0]);
	close(pfd[1]);
	CHECK_ERR(door_bind(-1), EBADF);
	CHECK_ERR(door_unbind(), EBADF);

	/* A forked child of the server (from an unbound thread): the door is
	 * its parent's. */
	pid_t parent = getpid();
	fflush(NULL);
	pid_t c = test_fork();
	CHECK(c >= 0);
	if (c == 0) {
		CHECK_ERR(door_bind(p), EINVAL);
		CHECK_ERR(door_revoke(p), EPERM);
		CHECK(fcntl(p, F_GETFD) != -1);   /* EPERM leaves the fd open */
		CHECK_ERR(door_setparam(p, DOOR_PARAM_DATA_MAX, 10), EPERM);
		door_info_t ci;
		CHECK_OK(info_of(p, &ci));
		CHECK(ci.di_target == parent);
		CHECK(!(ci.di_attributes & DOOR_LOCAL));
		CHECK(ci.di_uniquifier == p_uniq);
		CHECK_ERR(door_unbind(), EBADF);
		_exit(0);
	}
	reap_ok_within(c, 10, "forked child of the server");

	/* A thread bound with door_bind (here main, before any door_return):
	 * DOOR_QUERY describes the door; its forked copy is bound to an
	 * invalid door until door_unbind. */
	CHECK_OK(door_bind(p));
	CHECK_OK(info_of(DOOR_QUERY, &di));
	CHECK(di.di_uniquifier == p_uniq);
	CHECK(di.di_data == (uint64_t)(uintptr_t)&cookie_p);
	CHECK(di.di_attributes & DOOR_PRIVATE);
	/* Binding again (same door) is allowed. */
	CHECK_OK(door_bind(p));
	fflush(NULL);
	c = test_fork();
	CHECK(c >= 0);
	if (c == 0) {
		CHECK_ERR(door_return(NULL, 0, NULL, 0), EINVAL);
		CHECK_ERR(door_return(NULL, 0, NULL, 0), EINVAL);
		CHECK_OK(door_unbind());
		CHECK_ERR(door_unbind(), EBADF);
		_exit(0);
	}
	reap_ok_within(c, 10, "forked child of a bound thread");
	CHECK_OK(door_unbind());
	CHECK_ERR(door_unbind(), EBADF);
	CHECK_ERR(door_info(DOOR_QUERY, &di), EBADF);

	make_file(path_g, 0644);
	make_file(path_p, 0644);
	CHECK_OK(fattach(g, path_g));
	CHECK_OK(fattach(p, path_p));
	send_val(&ready, &rep, sizeof rep);
	for (;;)
		pause();
}

static struct report rep;

static int bound_in_report(pid_t tid)
{
	for (int i = 0; i < NBOUND; i++)
		if (rep.bound[i] == tid)
			return 1;
	return 0;
}

static void check_private_reply(const struct reply *r)
{
	CHECK(r->in_bound);
	CHECK(bound_in_report(r->tid));
	errno = r->query_errno;
	CHECK(r->query_r == 0);
	CHECK(r->q_uniq == rep.p_uniq);
	CHECK(r->q_data == (uint64_t)(uintptr_t)&cookie_p);
	CHECK((r->q_attrs & (DOOR_PRIVATE | DOOR_LOCAL)) == (DOOR_PRIVATE | DOOR_LOCAL));
	CHECK(r->q_target == rep.pid);
}

static void client_sequential(void *arg)
{
	(void)arg;
	int g = open(path_g, O_RDONLY);
	int p = open(path_p, O_RDONLY);
	CHECK(g >= 0 && p >= 0);
	struct reply r;
	for (int i = 0; i < 10; i++) {
		CHECK(call_door(p, "c", 1, &r, sizeof r) == (long)sizeof r);
		check_private_reply(&r);
	}
	/* The ordinary door: the process-wide pool, not bound. */
	CHECK(call_door(g, "c", 1, &r, sizeof r) == (long)sizeof r);
	CHECK(!r.in_bound);
	CHECK(r.query_r == -1 && r.query_errno == EBADF);

	/* Fork inside the procedure, in a bound thread. */
	CHECK(call_door(p, "f", 1, &r, sizeof r) == (long)sizeof r);
	check_private_reply(&r);
	if (!WIFEXITED(r.fork_status) || WEXITSTATUS(r.fork_status) != 0) {
		fprintf(stderr, "FAIL %s: child forked by a bound thread ended with status 0x%x "
		    "(exit 10: door_return not EINVAL, 11: door_unbind failed, 12: second door_unbind not EBADF)\n",
		    test_name, r.fork_status);
		exit(1);
	}
	/* The pool still works afterwards. */
	CHECK(call_door(p, "c", 1, &r, sizeof r) == (long)sizeof r);
	check_private_reply(&r);
	close(g);
	close(p);
}

struct caller {
	pthread_t thread;
	int fd;
	struct reply r;
	long got;
	int err;
};

static void *hold_thread(void *arg)
{
	struct caller *c = arg;
	errno = 0;
	c->got = call_door(c->fd, "h", 1, &c->r, sizeof c->r);
	c->err = errno;
	return NULL;
}

static void client_concurrent(void *arg)
{
	(void)arg;
	int p = open(path_p, O_RDONLY);
	CHECK(p >= 0);
	struct caller c[NBOUND + 1];
	for (int i = 0; i < NBOUND + 1; i++) {
		c[i] = (struct caller){ .fd = p };
		CHECK(pthread_create(&c[i].thread, NULL, hold_thread, &c[i]) == 0);
	}
	for (int i = 0; i < NBOUND + 1; i++)
		CHECK(pthread_join(c[i].thread, NULL) == 0);
	for (int i = 0; i < NBOUND + 1; i++) {
		errno = c[i].err;
		CHECK(c[i].got == (long)sizeof c[i].r);
		check_private_reply(&c[i].r);
	}
	close(p);
}

int main(void)
{
	test_name = "private_pool";
	watchdog(50);
	char *dir = test_dir();
	snprintf(path_g, sizeof path_g, "%s/g", dir);
	snprintf(path_p, sizeof path_p, "%s/p", dir);
	gate_init(&ready);
	gate_init(&arrivals);
	gate_init(&release);

	pid_t s = spawn_tied(server, NULL);
	recv_within(&ready, &rep, sizeof rep, 20);
	CHECK(rep.bind_failures == 0);
	CHECK(rep.bound[0] != 0 && rep.bound[1] != 0 && rep.bound[0] != rep.bound[1]);

	int s_fds = count_fds_of(s);
	reap_ok_within(spawn_tied_fd_neutral(client_sequential, NULL), 20, "sequential client");

	/* Three concurrent calls, two bound threads: two are taken... */
	pid_t c = spawn_tied_fd_neutral(client_concurrent, NULL);
	pid_t in[NBOUND + 1];
	recv_within(&arrivals, &in[0], sizeof in[0], 10);
	recv_within(&arrivals, &in[1], sizeof in[1], 10);
	CHECK(in[0] != in[1]);
	CHECK(bound_in_report(in[0]) && bound_in_report(in[1]));
	/* ...and the third waits (the global pool has an idle thread). */
	struct pollfd pf = { arrivals.fd[0], POLLIN, 0 };
	int r = poll(&pf, 1, 500);
	if (r != 0) {
		pid_t extra = 0;
		recv_within(&arrivals, &extra, sizeof extra, 1);
		fprintf(stderr, "FAIL %s: a third call was served (by thread %d) while both bound threads were busy\n",
		    test_name, (int)extra);
		exit(1);
	}
	char bytes[NBOUND + 1];
	memset(bytes, 1, sizeof bytes);
	send_val(&release, bytes, sizeof bytes);
	recv_within(&arrivals, &in[2], sizeof in[2], 10);
	CHECK(bound_in_report(in[2]));
	reap_ok_within(c, 20, "concurrent client");
	fds_back_of(s, s_fds, 10, "server, after its clients");
	kill_and_reap(s);
	PASS();
}
