/* The Solaris threads shim, include/thread.h and include/synch.h, as
 * ported door code uses it:
 *  - a door server whose pool threads all come from a door_server_create
 *    function that makes them with thr_create(THR_BOUND|THR_DETACHED)
 *    under a cap kept with a mutex_t; concurrent calls (from client threads
 *    made with thr_create and collected with thr_join) meet at a cond_t
 *    barrier in the procedure, so each ran in its own thr_create'd thread
 *    (found through thr_getspecific), the pool grew to the cap and no
 *    further;
 *  - thr_create's flags (detached, bound, daemon, stack size and base,
 *    THR_SUSPENDED refused with ENOTSUP, unknown flags EINVAL), thr_join's
 *    status and departed id, thr_exit, thr_join of oneself (EDEADLK) and
 *    of "any thread" (ENOTSUP), thr_sigsetmask, thr_kill;
 *  - keys: per-thread values and their destructor, thr_keycreate_once;
 *  - mutex_t: trylock EBUSY, mutual exclusion, error-checking and
 *    recursive mutexes, a USYNC_PROCESS mutex shared with a child, a
 *    robust one whose owner died (EOWNERDEAD, mutex_consistent);
 *  - cond_t: signal, broadcast, cond_timedwait and cond_reltimedwait
 *    giving illumos' ETIME, a malformed relative time EINVAL;
 *  - rwlock_t: shared readers, exclusive writer, try variants EBUSY;
 *  - sema_t: counts, trywait EBUSY, a waiter woken by sema_post, ETIME.
 * Every function returns an error number, never -1. */
#include "door_test.h"

#include <thread.h>
#include <synch.h>

/* CHECK_RET(call, want): a call returning an error number must give `want`. */
#define CHECK_RET(call, want)                                                    \
	do {                                                                         \
		int r_ = (call);                                                         \
		if (r_ != (want)) {                                                      \
			fprintf(stderr, "FAIL %s: %s:%d: %s returned %d (%s), wanted %d (%s)\n", \
			    test_name, __FILE__, __LINE__, #call, r_, strerror(r_), (want),   \
			    strerror(want));                                                 \
			exit(1);                                                             \
		}                                                                        \
	} while (0)

/* ---- The door part ---- */

#define POOL_CAP 4          /* threads the creation function may make */
#define CALLERS POOL_CAP    /* concurrent calls that must all be in the procedure */
#define POOL_MAGIC 0x7e4d

static char door_path[512];
static struct gate server_ready;

struct pool_thread {
	int magic;
	int index;
};

/* In the server. */
static mutex_t pool_lock = DEFAULTMUTEX;
static cond_t barrier_cv = DEFAULTCV;
static int pool_made, pool_refused, pool_create_err, arrived;
static thread_key_t pool_key;

struct treply {
	int from_pool;   /* served by a thread our creation function made */
	int index;       /* which one */
	int met;         /* all CALLERS were in the procedure at once */
	int wait_err;
	int made, refused, create_err;
};

static void *pool_thread_start(void *arg)
{
	/* The creation function blocked every signal; the thread inherited that. */
	CHECK_RET(thr_setspecific(pool_key, arg), 0);
	(void) door_return(NULL, 0, NULL, 0);
	return NULL;
}

/* svc.configd's way: a capped pool, threads made with thr_create. */
static void pool_create(door_info_t *dip)
{
	struct pool_thread *pt;
	sigset_t all, old;
	thread_t tid;
	int err;

	(void)dip;
	mutex_lock(&pool_lock);
	if (pool_made >= POOL_CAP) {
		pool_refused++;
		mutex_unlock(&pool_lock);
		return;
	}
	pt = malloc(sizeof *pt);
	CHECK(pt != NULL);
	pt->magic = POOL_MAGIC;
	pt->index = pool_made++;
	mutex_unlock(&pool_lock);

	(void) sigfillset(&all);
	CHECK_RET(thr_sigsetmask(SIG_SETMASK, &all, &old), 0);
	err = thr_create(NULL, 0, pool_thread_start, pt, THR_BOUND | THR_DETACHED, &tid);
	CHECK_RET(thr_sigsetmask(SIG_SETMASK, &old, NULL), 0);
	if (err != 0) {
		mutex_lock(&pool_lock);
		pool_create_err = err;
		pool_made--;
		mutex_unlock(&pool_lock);
		free(pt);
	}
}

static void pool_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	struct pool_thread *pt = NULL;
	struct treply r;

	(void)cookie; (void)dp; (void)n;
	memset(&r, 0, sizeof r);
	CHECK_RET(thr_getspecific(pool_key, (void **)&pt), 0);
	r.from_pool = pt != NULL && pt->magic == POOL_MAGIC;
	r.index = pt != NULL ? pt->index : -1;

	mutex_lock(&pool_lock);
	if (size == 1 && argp[0] == 'b') {
		/* A barrier: every caller waits here until all have arrived. */
		timestruc_t deadline;
		CHECK_OK(clock_gettime(CLOCK_REALTIME, &deadline));
		deadline.tv_sec += 20;
		arrived++;
		CHECK_RET(cond_broadcast(&barrier_cv), 0);
		while (arrived < CALLERS && r.wait_err == 0)
			r.wait_err = cond_timedwait(&barrier_cv, &pool_lock, &deadline);
		r.met = arrived >= CALLERS;
	}
	r.made = pool_made;
	r.refused = pool_refused;
	r.create_err = pool_create_err;
	mutex_unlock(&pool_lock);
	door_return((char *)&r, sizeof r, NULL, 0);
}

static void server(void *arg)
{
	(void)arg;
	CHECK_RET(thr_keycreate(&pool_key, NULL), 0);
	(void) door_server_create(pool_create);
	/* The creation function runs inside door_create: one thread now. */
	int d = attach_new(door_path, pool_proc, NULL, DOOR_REFUSE_DESC | DOOR_NO_CANCEL);
	mutex_lock(&pool_lock);
	CHECK(pool_made == 1);
	mutex_unlock(&pool_lock);
	(void)d;
	gate_open(&server_ready);
	for (;;)
		pause();
}

static int client_fd;

static void *caller(void *arg)
{
	struct treply *r = arg;
	CHECK(call_door(client_fd, "b", 1, r, sizeof *r) == (long)sizeof *r);
	return r;
}

static void client(void *arg)
{
	struct treply r[CALLERS], last;
	thread_t tids[CALLERS];
	int seen[POOL_CAP] = { 0 };

	(void)arg;
	client_fd = open(door_path, O_RDONLY);
	CHECK(client_fd >= 0);
	for (int i = 0; i < CALLERS; i++)
		CHECK_RET(thr_create(NULL, 0, caller, &r[i], 0, &tids[i]), 0);
	for (int i = 0; i < CALLERS; i++) {
		thread_t departed = 0;
		void *status = NULL;
		CHECK_RET(thr_join(tids[i], &departed, &status), 0);
		CHECK(departed == tids[i]);
		CHECK(status == &r[i]);
	}
	for (int i = 0; i < CALLERS; i++) {
		CHECK(r[i].wait_err == 0);
		CHECK(r[i].met);
		CHECK(r[i].from_pool);
		CHECK(r[i].index >= 0 && r[i].index < POOL_CAP);
		CHECK(!seen[r[i].index]);   /* each call in its own thread */
		seen[r[i].index] = 1;
	}
	/* One more call: served by the same pool, which stayed at the cap
	 * (the fourth thread's depletion callback was refused). */
	CHECK(call_door(client_fd, "p", 1, &last, sizeof last) == (long)sizeof last);
	CHECK(last.from_pool);
	CHECK(last.create_err == 0);
	CHECK(last.made == POOL_CAP);
	CHECK(last.refused >= 1);
	close(client_fd);
}

static void door_part(void)
{
	char *dir = test_dir();
	snprintf(door_path, sizeof door_path, "%s/pool", dir);
	gate_init(&server_ready);
	pid_t s = spawn_tied(server, NULL);
	gate_wait_within(&server_ready, 20);
	int s_fds = count_fds_of(s);
	reap_ok_within(spawn_tied_fd_neutral(client, NULL), 30, "client");
	fds_back_of(s, s_fds, 10, "server, after its client");
	kill_and_reap(s);
}

/* ---- Threads ---- */

static void *ret_arg_plus_one(void *arg)
{
	return (char *)arg + 1;
}

static void *exits_with_7(void *arg)
{
	(void)arg;
	thr_exit((void *)7);
}

/* Holds a thread alive until released, reporting its view of itself. */
struct held {
	sema_t started, release;
	thread_t self;
	char *local;     /* the address of a local variable: on its stack */
	int join_self;
};

static void *held_thread(void *arg)
{
	struct held *h = arg;
	char here;

	h->self = thr_self();
	h->local = &here;
	h->join_self = thr_join(thr_self(), NULL, NULL);
	CHECK_RET(sema_post(&h->started), 0);
	while (sema_wait(&h->release) == EINTR)
		;
	return NULL;
}

static void held_init(struct held *h)
{
	memset(h, 0, sizeof *h);
	CHECK_RET(sema_init(&h->started, 0, USYNC_THREAD, NULL), 0);
	CHECK_RET(sema_init(&h->release, 0, USYNC_THREAD, NULL), 0);
}

/* Starts held_thread with these arguments and waits until it runs. */
static thread_t held_start(struct held *h, void *stack, size_t size, long flags)
{
	thread_t t;
	held_init(h);
	CHECK_RET(thr_create(stack, size, held_thread, h, flags, &t), 0);
	CHECK_RET(sema_wait(&h->started), 0);
	CHECK(h->self == t);
	CHECK_RET(h->join_self, EDEADLK);
	return t;
}

static void held_release(struct held *h)
{
	CHECK_RET(sema_post(&h->release), 0);
}

static void attr_of(thread_t t, int *detach, int *scope, size_t *stacksize)
{
	pthread_attr_t a;
	CHECK_RET(pthread_getattr_np(t, &a), 0);
	CHECK_RET(pthread_attr_getdetachstate(&a, detach), 0);
	CHECK_RET(pthread_attr_getscope(&a, scope), 0);
	CHECK_RET(pthread_attr_getstacksize(&a, stacksize), 0);
	pthread_attr_destroy(&a);
}

static void threads_part(void)
{
	static struct held h[6];   /* one each: detached ones may still be leaving */
	thread_t t, departed;
	void *status;
	int detach, scope;
	size_t ss;
	static char buf;

	CHECK(thr_min_stack() > 0 && THR_MIN_STACK == thr_min_stack());

	/* Joinable by default: the status and the departed id come back. */
	CHECK_RET(thr_create(NULL, 0, ret_arg_plus_one, &buf, 0, &t), 0);
	departed = 0;
	CHECK_RET(thr_join(t, &departed, &status), 0);
	CHECK(departed == t && status == &buf + 1);
	CHECK_RET(thr_create(NULL, 0, exits_with_7, NULL, THR_NEW_LWP, &t), 0);
	CHECK_RET(thr_join(t, NULL, &status), 0);
	CHECK(status == (void *)7);

	/* Flags, seen from the live thread's attributes. */
	t = held_start(&h[0], NULL, 0, 0);
	attr_of(t, &detach, &scope, &ss);
	CHECK(detach == PTHREAD_CREATE_JOINABLE);
	CHECK_RET(thr_kill(t, 0), 0);
	held_release(&h[0]);
	CHECK_RET(thr_join(t, NULL, NULL), 0);

	t = held_start(&h[1], NULL, 0, THR_BOUND | THR_DETACHED);
	attr_of(t, &detach, &scope, &ss);
	CHECK(detach == PTHREAD_CREATE_DETACHED);
	CHECK(scope == PTHREAD_SCOPE_SYSTEM);
	held_release(&h[1]);

	t = held_start(&h[2], NULL, 0, THR_DAEMON);
	attr_of(t, &detach, &scope, &ss);
	CHECK(detach == PTHREAD_CREATE_DETACHED);
	held_release(&h[2]);

	/* A stack size, and a stack of our own. */
	size_t want = 4 * thr_min_stack() + 65536;
	t = held_start(&h[3], NULL, want, 0);
	attr_of(t, &detach, &scope, &ss);
	CHECK(ss >= want);
	held_release(&h[3]);
	CHECK_RET(thr_join(t, NULL, NULL), 0);

	size_t own_size = 1 << 20;
	char *own = mmap(NULL, own_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(own != MAP_FAILED);
	t = held_start(&h[4], own, own_size, 0);
	CHECK(h[4].local > own && h[4].local < own + own_size);
	held_release(&h[4]);
	CHECK_RET(thr_join(t, NULL, NULL), 0);
	munmap(own, own_size);

	/* Refusals. */
	CHECK_RET(thr_create(NULL, 0, ret_arg_plus_one, NULL, THR_SUSPENDED, &t), ENOTSUP);
	CHECK_RET(thr_create(NULL, 0, ret_arg_plus_one, NULL, 0x10000, &t), EINVAL);
	CHECK_RET(thr_create(NULL, 0, NULL, NULL, 0, &t), EINVAL);
	CHECK_RET(thr_create(NULL, 1, ret_arg_plus_one, NULL, 0, &t), EINVAL);
	CHECK_RET(thr_join(thr_self(), NULL, NULL), EDEADLK);
	CHECK_RET(thr_join((thread_t)0, &departed, &status), ENOTSUP);

	/* thr_sigsetmask is per thread. */
	sigset_t usr1, cur;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	CHECK_RET(thr_sigsetmask(SIG_BLOCK, &usr1, &cur), 0);
	CHECK(!sigismember(&cur, SIGUSR1));
	CHECK_RET(thr_sigsetmask(SIG_BLOCK, NULL, &cur), 0);
	CHECK(sigismember(&cur, SIGUSR1));
	CHECK_RET(thr_sigsetmask(SIG_UNBLOCK, &usr1, NULL), 0);
	CHECK_RET(thr_sigsetmask(12345, &usr1, NULL), EINVAL);

	CHECK_RET(thr_setconcurrency(3), 0);
	CHECK(thr_getconcurrency() == 3);
	CHECK_RET(thr_setconcurrency(-1), EINVAL);
	thr_yield();
}

/* ---- Keys ---- */

static thread_key_t key;
static thread_key_t once_key = THR_ONCE_KEY;
static mutex_t dtor_lock = DEFAULTMUTEX;
static int dtor_calls;
static void *dtor_value;

static void dtor(void *v)
{
	mutex_lock(&dtor_lock);
	dtor_calls++;
	dtor_value = v;
	mutex_unlock(&dtor_lock);
}

static void *key_thread(void *arg)
{
	void *v = &v;
	CHECK_RET(thr_getspecific(key, &v), 0);
	CHECK(v == NULL);                 /* a new thread starts with none */
	CHECK_RET(thr_setspecific(key, arg), 0);
	CHECK_RET(thr_getspecific(key, &v), 0);
	CHECK(v == arg);
	return NULL;
}

static void *once_thread(void *arg)
{
	CHECK_RET(thr_keycreate_once(&once_key, NULL), 0);
	*(thread_key_t *)arg = once_key;
	return NULL;
}

static void keys_part(void)
{
	static int mine, theirs;
	thread_t t[4];
	thread_key_t got[4];
	void *v;

	CHECK_RET(thr_keycreate(&key, dtor), 0);
	CHECK_RET(thr_setspecific(key, &mine), 0);
	CHECK_RET(thr_create(NULL, 0, key_thread, &theirs, 0, &t[0]), 0);
	CHECK_RET(thr_join(t[0], NULL, NULL), 0);
	/* The destructor ran once, at the thread's exit, with its value. */
	CHECK(dtor_calls == 1 && dtor_value == &theirs);
	CHECK_RET(thr_getspecific(key, &v), 0);
	CHECK(v == &mine);

	for (int i = 0; i < 4; i++)
		CHECK_RET(thr_create(NULL, 0, once_thread, &got[i], 0, &t[i]), 0);
	for (int i = 0; i < 4; i++)
		CHECK_RET(thr_join(t[i], NULL, NULL), 0);
	CHECK(once_key != THR_ONCE_KEY);
	for (int i = 0; i < 4; i++)
		CHECK(got[i] == once_key);
	thread_key_t before = once_key;
	CHECK_RET(thr_keycreate_once(&once_key, NULL), 0);
	CHECK(once_key == before);
}

/* ---- Mutexes ---- */

static mutex_t m = DEFAULTMUTEX;
static long counter;

static void *trylock_once(void *arg)
{
	int e = mutex_trylock((mutex_t *)arg);
	if (e == 0)
		CHECK_RET(mutex_unlock((mutex_t *)arg), 0);
	return (void *)(intptr_t)e;
}

/* mutex_trylock from another thread, which unlocks again if it got it. */
static int trylock_elsewhere(mutex_t *mp)
{
	thread_t t;
	void *st;
	CHECK_RET(thr_create(NULL, 0, trylock_once, mp, 0, &t), 0);
	CHECK_RET(thr_join(t, NULL, &st), 0);
	return (int)(intptr_t)st;
}

static void *unlock_once(void *arg)
{
	return (void *)(intptr_t)mutex_unlock((mutex_t *)arg);
}

static void *count_up(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20000; i++) {
		CHECK_RET(mutex_lock(&m), 0);
		counter++;
		CHECK_RET(mutex_unlock(&m), 0);
	}
	return NULL;
}

static struct gate child_tried, parent_unlocked;

static void shared_child(void *arg)
{
	mutex_t *mp = arg;
	if (mutex_trylock(mp) != EBUSY)
		_exit(10);
	gate_open(&child_tried);
	gate_wait(&parent_unlocked);
	if (mutex_lock(mp) != 0 || mutex_unlock(mp) != 0)
		_exit(11);
	_exit(0);
}

static void robust_child(void *arg)
{
	if (mutex_lock((mutex_t *)arg) != 0)
		_exit(12);
	_exit(0);    /* dies holding it */
}

static void mutex_part(void)
{
	thread_t t[4];
	mutex_t em, rm;
	int ceiling = 1;

	/* trylock: EBUSY while another thread holds it. */
	CHECK_RET(mutex_lock(&m), 0);
	CHECK_RET(trylock_elsewhere(&m), EBUSY);
	CHECK_RET(mutex_trylock(&m), EBUSY);
	CHECK_RET(mutex_unlock(&m), 0);
	CHECK_RET(trylock_elsewhere(&m), 0);

	/* Mutual exclusion. */
	for (int i = 0; i < 4; i++)
		CHECK_RET(thr_create(NULL, 0, count_up, NULL, 0, &t[i]), 0);
	for (int i = 0; i < 4; i++)
		CHECK_RET(thr_join(t[i], NULL, NULL), 0);
	CHECK(counter == 4 * 20000);
	CHECK_RET(mutex_destroy(&m), 0);

	/* Error checking: relocking and a stranger's unlock are refused. */
	CHECK_RET(mutex_init(&em, USYNC_THREAD | LOCK_ERRORCHECK, NULL), 0);
	CHECK_RET(mutex_lock(&em), 0);
	CHECK_RET(mutex_lock(&em), EDEADLK);
	CHECK_RET(thr_create(NULL, 0, unlock_once, &em, 0, &t[0]), 0);
	void *st;
	CHECK_RET(thr_join(t[0], NULL, &st), 0);
	CHECK_RET((int)(intptr_t)st, EPERM);
	CHECK_RET(mutex_unlock(&em), 0);
	CHECK_RET(mutex_destroy(&em), 0);

	/* Recursive: as many unlocks as locks before another thread gets it. */
	CHECK_RET(mutex_init(&rm, USYNC_THREAD | LOCK_RECURSIVE | LOCK_ERRORCHECK, NULL), 0);
	CHECK_RET(mutex_lock(&rm), 0);
	CHECK_RET(mutex_lock(&rm), 0);
	CHECK_RET(mutex_trylock(&rm), 0);
	CHECK_RET(mutex_unlock(&rm), 0);
	CHECK_RET(mutex_unlock(&rm), 0);
	CHECK_RET(trylock_elsewhere(&rm), EBUSY);
	CHECK_RET(mutex_unlock(&rm), 0);
	CHECK_RET(trylock_elsewhere(&rm), 0);
	CHECK_RET(mutex_destroy(&rm), 0);

	/* Types illumos refuses. */
	CHECK_RET(mutex_init(&rm, 0x1000, NULL), EINVAL);
	CHECK_RET(mutex_init(&rm, LOCK_PRIO_INHERIT | LOCK_PRIO_PROTECT, &ceiling), EINVAL);

	/* USYNC_PROCESS: one mutex, two processes. */
	mutex_t *sm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(sm != MAP_FAILED);
	CHECK_RET(mutex_init(sm, USYNC_PROCESS, NULL), 0);
	gate_init(&child_tried);
	gate_init(&parent_unlocked);
	CHECK_RET(mutex_lock(sm), 0);
	pid_t c = spawn_tied(shared_child, sm);
	gate_wait_within(&child_tried, 20);
	CHECK_RET(mutex_unlock(sm), 0);
	gate_open(&parent_unlocked);
	reap_ok_within(c, 20, "USYNC_PROCESS child");
	CHECK_RET(mutex_trylock(sm), 0);
	CHECK_RET(mutex_unlock(sm), 0);
	CHECK_RET(mutex_destroy(sm), 0);

	/* A robust mutex whose owner died: EOWNERDEAD, then repaired. */
	CHECK_RET(mutex_init(sm, USYNC_PROCESS | LOCK_ROBUST, NULL), 0);
	reap_ok_within(spawn_tied(robust_child, sm), 20, "robust child");
	CHECK_RET(mutex_lock(sm), EOWNERDEAD);
	CHECK_RET(mutex_consistent(sm), 0);
	CHECK_RET(mutex_unlock(sm), 0);
	CHECK_RET(mutex_lock(sm), 0);
	CHECK_RET(mutex_unlock(sm), 0);
	CHECK_RET(mutex_destroy(sm), 0);
	munmap(sm, 4096);
}

/* ---- Condition variables ---- */

static mutex_t cm = DEFAULTMUTEX;
static cond_t cv = DEFAULTCV;
static int go, woken;

static void *cond_waiter(void *arg)
{
	(void)arg;
	CHECK_RET(mutex_lock(&cm), 0);
	while (!go)
		CHECK_RET(cond_wait(&cv, &cm), 0);
	woken++;
	CHECK_RET(mutex_unlock(&cm), 0);
	return NULL;
}

static void cond_part(void)
{
	thread_t t[3];
	timestruc_t ts;
	cond_t pcv;

	/* Timeouts give ETIME, absolute (CLOCK_REALTIME) or relative. */
	CHECK_RET(mutex_lock(&cm), 0);
	CHECK_OK(clock_gettime(CLOCK_REALTIME, &ts));
	ts.tv_sec -= 1;
	CHECK_RET(cond_timedwait(&cv, &cm, &ts), ETIME);
	ts.tv_sec = 0;
	ts.tv_nsec = 50 * 1000 * 1000;
	double t0 = now_seconds();
	CHECK_RET(cond_reltimedwait(&cv, &cm, &ts), ETIME);
	CHECK(now_seconds() - t0 >= 0.049);
	ts.tv_nsec = 2000000000L;
	CHECK_RET(cond_reltimedwait(&cv, &cm, &ts), EINVAL);
	ts.tv_sec = -1;
	ts.tv_nsec = 0;
	CHECK_RET(cond_reltimedwait(&cv, &cm, &ts), EINVAL);
	CHECK_RET(mutex_unlock(&cm), 0);

	/* cond_signal wakes a waiter. */
	CHECK_RET(thr_create(NULL, 0, cond_waiter, NULL, 0, &t[0]), 0);
	CHECK_RET(mutex_lock(&cm), 0);
	go = 1;
	CHECK_RET(cond_signal(&cv), 0);
	CHECK_RET(mutex_unlock(&cm), 0);
	CHECK_RET(thr_join(t[0], NULL, NULL), 0);
	CHECK(woken == 1);

	/* cond_broadcast wakes them all. */
	go = 0;
	woken = 0;
	for (int i = 0; i < 3; i++)
		CHECK_RET(thr_create(NULL, 0, cond_waiter, NULL, 0, &t[i]), 0);
	CHECK_RET(mutex_lock(&cm), 0);
	go = 1;
	CHECK_RET(cond_broadcast(&cv), 0);
	CHECK_RET(mutex_unlock(&cm), 0);
	for (int i = 0; i < 3; i++)
		CHECK_RET(thr_join(t[i], NULL, NULL), 0);
	CHECK(woken == 3);

	CHECK_RET(cond_init(&pcv, USYNC_PROCESS, NULL), 0);
	CHECK_RET(cond_destroy(&pcv), 0);
	CHECK_RET(cond_init(&pcv, 7, NULL), EINVAL);
}

/* ---- Readers/writer locks ---- */

static rwlock_t rw = DEFAULTRWLOCK;

struct rw_job {
	int write;        /* take it for writing (blocking), else reading */
	sema_t holding, release;
	int try_rd, try_wr;  /* what the try variants gave before locking */
};

static void *rw_holder(void *arg)
{
	struct rw_job *j = arg;
	j->try_rd = rw_tryrdlock(&rw);
	if (j->try_rd == 0)
		CHECK_RET(rw_unlock(&rw), 0);
	j->try_wr = rw_trywrlock(&rw);
	if (j->try_wr == 0)
		CHECK_RET(rw_unlock(&rw), 0);
	CHECK_RET(j->write ? rw_wrlock(&rw) : rw_rdlock(&rw), 0);
	CHECK_RET(sema_post(&j->holding), 0);
	while (sema_wait(&j->release) == EINTR)
		;
	CHECK_RET(rw_unlock(&rw), 0);
	return NULL;
}

static thread_t rw_start(struct rw_job *j, int write)
{
	thread_t t;
	memset(j, 0, sizeof *j);
	j->write = write;
	CHECK_RET(sema_init(&j->holding, 0, USYNC_THREAD, NULL), 0);
	CHECK_RET(sema_init(&j->release, 0, USYNC_THREAD, NULL), 0);
	CHECK_RET(thr_create(NULL, 0, rw_holder, j, 0, &t), 0);
	return t;
}

static void rwlock_part(void)
{
	struct rw_job j;
	thread_t t;
	rwlock_t prw;

	/* A reader elsewhere: readers share, a writer is refused. */
	t = rw_start(&j, 0);
	CHECK_RET(sema_wait(&j.holding), 0);
	CHECK_RET(rw_tryrdlock(&rw), 0);
	CHECK_RET(rw_unlock(&rw), 0);
	CHECK_RET(rw_trywrlock(&rw), EBUSY);
	CHECK_RET(rw_rdlock(&rw), 0);
	CHECK_RET(rw_unlock(&rw), 0);
	CHECK_RET(sema_post(&j.release), 0);
	CHECK_RET(thr_join(t, NULL, NULL), 0);

	/* We write: another thread's try variants are refused, and its
	 * blocking rw_wrlock waits until we unlock. */
	CHECK_RET(rw_wrlock(&rw), 0);
	t = rw_start(&j, 1);
	timestruc_t brief = { 0, 100 * 1000 * 1000 };
	CHECK_RET(sema_reltimedwait(&j.holding, &brief), ETIME);
	CHECK_RET(rw_unlock(&rw), 0);
	CHECK_RET(sema_wait(&j.holding), 0);
	CHECK_RET(j.try_rd, EBUSY);
	CHECK_RET(j.try_wr, EBUSY);
	CHECK_RET(rw_tryrdlock(&rw), EBUSY);   /* now it writes */
	CHECK_RET(rw_trywrlock(&rw), EBUSY);
	CHECK_RET(sema_post(&j.release), 0);
	CHECK_RET(thr_join(t, NULL, NULL), 0);
	CHECK_RET(rw_trywrlock(&rw), 0);
	CHECK_RET(rw_unlock(&rw), 0);

	CHECK_RET(rwlock_init(&prw, USYNC_PROCESS, NULL), 0);
	CHECK_RET(rw_wrlock(&prw), 0);
	CHECK_RET(rw_unlock(&prw), 0);
	CHECK_RET(rwlock_destroy(&prw), 0);
	CHECK_RET(rwlock_init(&prw, 9, NULL), EINVAL);
}

/* ---- Semaphores ---- */

static sema_t sem;

static void *sema_waiter(void *arg)
{
	(void)arg;
	int e;
	while ((e = sema_wait(&sem)) == EINTR)
		;
	return (void *)(intptr_t)e;
}

static void sema_part(void)
{
	thread_t t;
	void *st;
	timestruc_t ts = { 0, 10 * 1000 * 1000 };

	CHECK_RET(sema_init(&sem, 0, USYNC_THREAD, NULL), 0);
	CHECK_RET(sema_trywait(&sem), EBUSY);
	CHECK_RET(sema_reltimedwait(&sem, &ts), ETIME);
	CHECK_OK(clock_gettime(CLOCK_REALTIME, &ts));
	ts.tv_sec -= 1;
	CHECK_RET(sema_timedwait(&sem, &ts), ETIME);
	CHECK_RET(sema_post(&sem), 0);
	CHECK_RET(sema_post(&sem), 0);
	CHECK_RET(sema_trywait(&sem), 0);
	CHECK_RET(sema_trywait(&sem), 0);
	CHECK_RET(sema_trywait(&sem), EBUSY);

	CHECK_RET(thr_create(NULL, 0, sema_waiter, NULL, 0, &t), 0);
	CHECK_RET(sema_post(&sem), 0);
	CHECK_RET(thr_join(t, NULL, &st), 0);
	CHECK_RET((int)(intptr_t)st, 0);
	CHECK_RET(sema_trywait(&sem), EBUSY);   /* the waiter took it */
	CHECK_RET(sema_destroy(&sem), 0);
	CHECK_RET(sema_init(&sem, 0, 5, NULL), EINVAL);
}

int main(void)
{
	test_name = "solaris_threads";
	watchdog(60);
	threads_part();
	keys_part();
	mutex_part();
	cond_part();
	rwlock_part();
	sema_part();
	door_part();
	PASS();
}
