/* door_server_create and when the creation function runs (doors-spec §4.8,
 * §5.4, §7.7):
 *  - door_server_create returns the previous function (libdoor's default,
 *    non-NULL, the first time) and installs the new one;
 *  - the function is called synchronously inside the first non-private
 *    door_create with NULL, not inside the second, and inside every
 *    door_create(DOOR_PRIVATE) with the new door's info (cookie, uniquifier,
 *    DOOR_PRIVATE), before door_create returns;
 *  - on depletion it runs in the dispatched server thread before the
 *    procedure: with NULL for the process-wide pool, with the door's info
 *    plus DOOR_DEPLETION_CB for a private door;
 *  - in a forked child of the server, the first ordinary door_create calls
 *    the function with NULL again (the state is per process), so the
 *    child's door is served;
 *  - a private door created while the default function is installed has no
 *    threads: a call to it never completes. */
#include "door_test.h"

#define MAX_EV 64

static char path_g1[512], path_g2[512], path_p[512], path_n[512], path_pd[512];
static struct gate ready;     /* server 1 -> driver: struct report */
static struct gate ready2;    /* server 2 -> driver: its view of the default */

/* Cookies: only their addresses matter (the same in every forked process). */
static char cookie_g1, cookie_g2, cookie_p, cookie_n, cookie_pd;

/* One call of the creation function, as the server logged it. */
struct ev {
	pthread_t self;
	int in_create;   /* made by the main thread while inside door_create */
	int null;
	uint_t attrs;
	uint64_t data, uniq;
	pid_t target;
};

/* In server 1. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct ev evs[MAX_EV];
static int nev;
static __thread int creating;
static pthread_t main_thread;
static door_server_func_t *libdoor_default;
static int priv_fd = -1;          /* published once door_create returned it */
static int bind_done, bind_result, bind_errno;
static pthread_t bound_self;

static void *bound_thread(void *arg)
{
	(void)arg;
	/* The creation function ran before door_create returned the fd. */
	pthread_mutex_lock(&lock);
	while (priv_fd < 0)
		pthread_cond_wait(&cond, &lock);
	int fd = priv_fd;
	pthread_mutex_unlock(&lock);
	int r = door_bind(fd);
	int e = errno;
	pthread_mutex_lock(&lock);
	bind_done = 1;
	bind_result = r;
	bind_errno = e;
	bound_self = pthread_self();
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	if (r == 0)
		door_return(NULL, 0, NULL, 0);
	return NULL;
}

static void my_create(door_info_t *dip)
{
	pthread_mutex_lock(&lock);
	if (nev < MAX_EV) {
		struct ev *e = &evs[nev];
		memset(e, 0, sizeof *e);
		e->self = pthread_self();
		e->in_create = creating;
		e->null = dip == NULL;
		if (dip != NULL) {
			e->attrs = dip->di_attributes;
			e->data = dip->di_data;
			e->uniq = dip->di_uniquifier;
			e->target = dip->di_target;
		}
	}
	nev++;
	pthread_mutex_unlock(&lock);
	if (dip == NULL) {
		/* The process-wide pool: the previous (default) function adds a thread. */
		libdoor_default(NULL);
		return;
	}
	if (dip->di_attributes & DOOR_DEPLETION_CB)
		return;   /* the private pool stays at one thread */
	pthread_t t;
	pthread_attr_t a;
	CHECK(pthread_attr_init(&a) == 0);
	CHECK(pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED) == 0);
	CHECK(pthread_create(&t, &a, bound_thread, NULL) == 0);
	pthread_attr_destroy(&a);
}

static void other_create(door_info_t *dip)
{
	(void)dip;
}

struct reply {
	pid_t tid;
	int on_main;
	int count;            /* creation-function calls so far */
	int last_self_match;  /* the last one ran in this (the procedure's) thread */
	int last_null;
	int last_in_create;
	uint_t last_attrs;
	uint64_t last_data, last_uniq;
	int bound_match;      /* this is the thread bound to the private door */
};

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	struct reply r;
	memset(&r, 0, sizeof r);
	r.tid = thread_id();
	r.on_main = pthread_equal(pthread_self(), main_thread);
	pthread_mutex_lock(&lock);
	r.count = nev;
	if (nev > 0 && nev <= MAX_EV) {
		struct ev *e = &evs[nev - 1];
		r.last_self_match = pthread_equal(e->self, pthread_self());
		r.last_null = e->null;
		r.last_in_create = e->in_create;
		r.last_attrs = e->attrs;
		r.last_data = e->data;
		r.last_uniq = e->uniq;
	}
	r.bound_match = bind_done && bind_result == 0 && pthread_equal(bound_self, pthread_self());
	pthread_mutex_unlock(&lock);
	door_return((char *)&r, sizeof r, NULL, 0);
}

struct report {
	uintptr_t d0, d1, d2, mine, other;
	int nev_before, nev_after_g1, nev_after_g2, nev_after_p;
	struct ev ev_g1, ev_p;
	int ev_g1_on_main, ev_p_on_main;
	uint64_t p_uniq;
	pid_t pid;
	int bind_result, bind_errno;
	int fork_status;
};

static int create_logged(void *cookie, uint_t attrs)
{
	creating = 1;
	int d = door_create(server_proc, cookie, attrs);
	creating = 0;
	CHECK(d >= 0);
	return d;
}

/* In a forked child of server 1: its first ordinary door calls the creation
 * function with NULL, inside door_create, and gets a thread. Exit codes
 * name the failed step. */
static void forked_server(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	int before = nev;
	pthread_mutex_unlock(&lock);
	int d = create_logged(&cookie_g2, 0);
	pthread_mutex_lock(&lock);
	int after = nev;
	struct ev e = evs[after - 1];
	pthread_mutex_unlock(&lock);
	if (after != before + 1)
		_exit(20);
	if (!e.null || !e.in_create || !pthread_equal(e.self, pthread_self()))
		_exit(21);
	struct reply r;
	if (call_door(d, "c", 1, &r, sizeof r) != (long)sizeof r)
		_exit(22);
	if (r.count != after + 1 || !r.last_null || !r.last_self_match || r.on_main)
		_exit(23);
	_exit(0);
}

static void server1(void *arg)
{
	(void)arg;
	struct report rep;
	memset(&rep, 0, sizeof rep);
	main_thread = pthread_self();
	rep.pid = getpid();
	rep.mine = (uintptr_t)my_create;
	rep.other = (uintptr_t)other_create;

	/* Each call returns the previous function; the first, libdoor's default. */
	libdoor_default = door_server_create(my_create);
	rep.d0 = (uintptr_t)libdoor_default;
	rep.d1 = (uintptr_t)door_server_create(other_create);
	rep.d2 = (uintptr_t)door_server_create(my_create);

	pthread_mutex_lock(&lock);
	rep.nev_before = nev;
	pthread_mutex_unlock(&lock);

	int g1 = create_logged(&cookie_g1, 0);
	pthread_mutex_lock(&lock);
	rep.nev_after_g1 = nev;
	if (nev >= 1) {
		rep.ev_g1 = evs[nev - 1];
		rep.ev_g1_on_main = pthread_equal(evs[nev - 1].self, main_thread);
	}
	pthread_mutex_unlock(&lock);

	int g2 = create_logged(&cookie_g2, 0);
	pthread_mutex_lock(&lock);
	rep.nev_after_g2 = nev;
	pthread_mutex_unlock(&lock);

	int p = create_logged(&cookie_p, DOOR_PRIVATE);
	pthread_mutex_lock(&lock);
	rep.nev_after_p = nev;
	if (nev >= 1) {
		rep.ev_p = evs[nev - 1];
		rep.ev_p_on_main = pthread_equal(evs[nev - 1].self, main_thread);
	}
	/* Publish the fd to the thread the creation function started. */
	priv_fd = p;
	pthread_cond_broadcast(&cond);
	while (!bind_done)
		pthread_cond_wait(&cond, &lock);
	rep.bind_result = bind_result;
	rep.bind_errno = bind_errno;
	pthread_mutex_unlock(&lock);

	door_info_t di;
	CHECK_OK(info_of(p, &di));
	rep.p_uniq = di.di_uniquifier;

	rep.fork_status = wait_within(spawn_tied(forked_server, NULL), 10, "forked child of server 1");

	make_file(path_g1, 0644);
	make_file(path_g2, 0644);
	make_file(path_p, 0644);
	CHECK_OK(fattach(g1, path_g1));
	CHECK_OK(fattach(g2, path_g2));
	CHECK_OK(fattach(p, path_p));
	send_val(&ready, &rep, sizeof rep);
	for (;;)
		pause();
}

/* Server 2 never installs a creation function: the default one is used. */
static void server2(void *arg)
{
	(void)arg;
	attach_new(path_n, server_proc, &cookie_n, 0);
	attach_new(path_pd, server_proc, &cookie_pd, DOOR_PRIVATE);
	/* The function in force was libdoor's default; put it back. */
	door_server_func_t *d = door_server_create(other_create);
	CHECK(door_server_create(d) == other_create);
	uintptr_t v = (uintptr_t)d;
	send_val(&ready2, &v, sizeof v);
	for (;;)
		pause();
}

static void call_ok(int fd, struct reply *r)
{
	CHECK(call_door(fd, "c", 1, r, sizeof *r) == (long)sizeof *r);
}

static struct report rep;

static void client1(void *arg)
{
	(void)arg;
	int g1 = open(path_g1, O_RDONLY);
	int g2 = open(path_g2, O_RDONLY);
	int p = open(path_p, O_RDONLY);
	CHECK(g1 >= 0 && g2 >= 0 && p >= 0);
	struct reply r;

	/* The global pool has exactly one thread (made inside door_create), so
	 * the first call depletes it: the creation function runs with NULL in
	 * the dispatched thread, before the procedure. */
	int count = rep.nev_after_p;
	call_ok(g1, &r);
	CHECK(r.count == count + 1);
	CHECK(r.last_null);
	CHECK(!r.last_in_create);
	CHECK(r.last_self_match);
	CHECK(!r.on_main);
	CHECK(!r.bound_match);
	count = r.count;

	/* A later call may or may not deplete the (now larger) pool; if it
	 * does, the same holds. */
	call_ok(g1, &r);
	CHECK(r.count == count || r.count == count + 1);
	if (r.count == count + 1)
		CHECK(r.last_null && r.last_self_match && !r.last_in_create);
	count = r.count;

	/* The private door's pool has one bound thread and the function adds
	 * none on depletion: every call depletes it, and each time the
	 * function runs in the bound thread with the door's info plus
	 * DOOR_DEPLETION_CB. */
	for (int i = 0; i < 3; i++) {
		call_ok(p, &r);
		CHECK(r.bound_match);
		CHECK(r.count == count + 1);
		CHECK(r.last_self_match);
		CHECK(!r.last_null);
		CHECK(!r.last_in_create);
		CHECK(r.last_attrs & DOOR_DEPLETION_CB);
		CHECK(r.last_attrs & DOOR_PRIVATE);
		CHECK(r.last_data == (uint64_t)(uintptr_t)&cookie_p);
		CHECK(r.last_uniq == rep.p_uniq);
		count = r.count;
	}

	/* The other ordinary door is served by the process-wide pool. */
	call_ok(g2, &r);
	CHECK(!r.bound_match);
	CHECK(!r.on_main);
	close(g1);
	close(g2);
	close(p);
}

static void client_n(void *arg)
{
	(void)arg;
	int fd = open(path_n, O_RDONLY);
	CHECK(fd >= 0);
	struct reply r;
	call_ok(fd, &r);
	close(fd);
}

static void client_pd(void *arg)
{
	(void)arg;
	int fd = open(path_pd, O_RDONLY);
	CHECK(fd >= 0);
	struct reply r;
	long got = call_door(fd, "c", 1, &r, sizeof r);
	fprintf(stderr, "FAIL %s: a call to a private door with no bound thread completed (%ld, errno %d)\n",
	    test_name, got, errno);
	_exit(1);
}

int main(void)
{
	test_name = "server_create";
	watchdog(50);
	char *dir = test_dir();
	snprintf(path_g1, sizeof path_g1, "%s/g1", dir);
	snprintf(path_g2, sizeof path_g2, "%s/g2", dir);
	snprintf(path_p, sizeof path_p, "%s/p", dir);
	snprintf(path_n, sizeof path_n, "%s/n", dir);
	snprintf(path_pd, sizeof path_pd, "%s/pd", dir);
	gate_init(&ready);
	gate_init(&ready2);

	pid_t s1 = spawn_tied(server1, NULL);
	recv_within(&ready, &rep, sizeof rep, 20);

	/* door_server_create returns the previous function. */
	CHECK(rep.d0 != 0);
	CHECK(rep.d0 != rep.mine && rep.d0 != rep.other);
	CHECK(rep.d1 == rep.mine);
	CHECK(rep.d2 == rep.other);
	CHECK(rep.nev_before == 0);

	/* First ordinary door: called once, with NULL, in door_create's thread. */
	CHECK(rep.nev_after_g1 == 1);
	CHECK(rep.ev_g1.null);
	CHECK(rep.ev_g1.in_create);
	CHECK(rep.ev_g1_on_main);
	/* Second ordinary door: not called. */
	CHECK(rep.nev_after_g2 == rep.nev_after_g1);
	/* Private door: called inside door_create with the new door's info. */
	CHECK(rep.nev_after_p == rep.nev_after_g2 + 1);
	CHECK(!rep.ev_p.null);
	CHECK(rep.ev_p.in_create);
	CHECK(rep.ev_p_on_main);
	CHECK(rep.ev_p.attrs & DOOR_PRIVATE);
	CHECK(!(rep.ev_p.attrs & DOOR_DEPLETION_CB));
	CHECK(rep.ev_p.data == (uint64_t)(uintptr_t)&cookie_p);
	CHECK(rep.ev_p.uniq == rep.p_uniq);
	CHECK(rep.ev_p.target == rep.pid);
	/* Its thread bound once the fd was published. */
	errno = rep.bind_errno;
	CHECK(rep.bind_result == 0);

	/* The forked child's first ordinary door (exit 20: no call inside
	 * door_create, 21: not NULL or not synchronous, 22: its call failed,
	 * 23: its first call did not deplete the one-thread pool). */
	if (!WIFEXITED(rep.fork_status) || WEXITSTATUS(rep.fork_status) != 0) {
		fprintf(stderr, "FAIL %s: forked child of the server ended with status 0x%x\n", test_name, rep.fork_status);
		exit(1);
	}

	int s_fds = count_fds_of(s1);
	reap_ok_within(spawn_tied_fd_neutral(client1, NULL), 20, "client of server 1");
	fds_back_of(s1, s_fds, 10, "server 1, after its client");
	kill_and_reap(s1);

	/* With the default creation function, a private door has no threads. */
	pid_t s2 = spawn_tied(server2, NULL);
	uintptr_t d;
	recv_within(&ready2, &d, sizeof d, 20);
	CHECK(d == rep.d0);
	s_fds = count_fds_of(s2);
	reap_ok_within(spawn_tied_fd_neutral(client_n, NULL), 20, "client of the ordinary door");
	pid_t c = spawn_tied(client_pd, NULL);
	int status;
	if (ended_within(c, 0.5, &status)) {
		fprintf(stderr, "FAIL %s: the private door's client ended (status 0x%x) instead of blocking\n",
		    test_name, status);
		exit(1);
	}
	kill_and_reap(c);
	/* The server still serves its ordinary door. */
	reap_ok_within(spawn_tied_fd_neutral(client_n, NULL), 20, "client of the ordinary door, again");
	/* Plus one by design: the killed client's channel to the private door
	 * (its socket) is in that door's pool, which has no thread to read its
	 * end of file; a thread bound to the pool would. */
	fds_back_of(s2, s_fds + 1, 10, "server 2, after its clients");
	kill_and_reap(s2);
	PASS();
}
