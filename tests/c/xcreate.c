/* door_xcreate (doors-spec §4.2, §5.4, §7.7). A creation function that
 * starts one pthread running startf(startf_arg) and returns 1:
 *  - door_xcreate(nthread = 3) calls it 3 times with the new door's info
 *    (DOOR_PRIVATE | DOOR_PRIVCREATE, the cookie) and returns once the 3
 *    threads have run the setup function (once each, with crcookie, in that
 *    thread, before serving); the door's info has DOOR_PRIVATE and
 *    DOOR_PRIVCREATE; calls are served by those threads;
 *  - errors: DOOR_PRIVCREATE in the attributes, nthread < 1, a NULL creation
 *    function: EINVAL; the function returning 0: EINVAL; -1: EPIPE; a
 *    failure after one thread started: EINVAL and that thread exits; no
 *    descriptor is left behind by any failure;
 *  - depletion: with every thread busy the function is called again in the
 *    dispatched thread with DOOR_DEPLETION_CB (a new thread then serves a
 *    fourth concurrent call, although the application closed its fd: the
 *    thread binds by door identity); returning 0 then is fine; with
 *    DOOR_NO_DEPLETION_CB it is never called again and a fourth call waits. */
#include "door_test.h"

#include <dirent.h>

enum { DX, DY, DW, DZERO, DNEG, DPARTIAL, DBAD, NDOORS };
static const char *door_names[NDOORS] = { "X", "Y", "W", "ZERO", "NEG", "PARTIAL", "BAD" };

static char path_x[512], path_y[512], path_w[512];
static struct gate ready;      /* server -> driver: struct report */
static struct gate arrivals;   /* server -> driver: tid of each held call */
static struct gate release;    /* driver -> server: one byte per held call */

static char cookies[NDOORS];
static char crs[NDOORS];

/* In the server. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;
#define MAX_THREADS 64
static pthread_t created[MAX_THREADS];
static int ncreated;

struct stats {
	int creates[NDOORS];     /* calls of the creation function */
	int depletions[NDOORS];  /* ...with DOOR_DEPLETION_CB */
	int bad_info[NDOORS];    /* ...whose info or crcookie was wrong */
	int started[NDOORS];     /* threads it started */
	int setups[NDOORS];      /* setup function calls, by crcookie */
	int setup_bad;           /* setup in a thread the function did not start, or twice */
	int depletion_off_thread;   /* a depletion call not made by a server thread */
};
static struct stats st;
static uint64_t first_uniq[NDOORS];
static __thread int tl_setups;
static __thread void *tl_cr;
static __thread int tl_serving;   /* set by the procedure: this is a server thread */

static int door_index(uint64_t data)
{
	uintptr_t p = (uintptr_t)data;
	if (p < (uintptr_t)cookies || p >= (uintptr_t)cookies + NDOORS)
		return -1;
	return (int)(p - (uintptr_t)cookies);
}

static int xcf(door_info_t *dip, void *(*startf)(void *), void *arg, void *crcookie)
{
	int i = dip == NULL ? -1 : door_index(dip->di_data);
	if (i < 0) {
		fprintf(stderr, "FAIL %s: creation function called with info %p, cookie not ours\n", test_name, (void *)dip);
		_exit(1);
	}
	uint_t attrs = dip->di_attributes;
	int depl = (attrs & DOOR_DEPLETION_CB) != 0;
	int ret = 1;
	pthread_mutex_lock(&lock);
	st.creates[i]++;
	if (depl) {
		st.depletions[i]++;
		/* Runs in the dispatched server thread: it served a call before. */
		if (!tl_serving && tl_setups == 0 && i != DW)
			st.depletion_off_thread++;
	}
	if ((attrs & (DOOR_PRIVATE | DOOR_PRIVCREATE)) != (DOOR_PRIVATE | DOOR_PRIVCREATE) || crcookie != &crs[i]
	    || dip->di_target != getpid())
		st.bad_info[i]++;
	if (first_uniq[i] == 0)
		first_uniq[i] = dip->di_uniquifier;
	else if (first_uniq[i] != dip->di_uniquifier)
		st.bad_info[i]++;
	if (i == DZERO)
		ret = 0;
	else if (i == DNEG)
		ret = -1;
	else if (i == DPARTIAL && st.creates[i] > 1)
		ret = 0;
	else if (i == DW && depl)
		ret = 0;
	if (ret == 1) {
		pthread_attr_t a;
		CHECK(ncreated < MAX_THREADS);
		CHECK(pthread_attr_init(&a) == 0);
		CHECK(pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED) == 0);
		if (pthread_create(&created[ncreated], &a, startf, arg) == 0) {
			ncreated++;
			st.started[i]++;
		} else {
			ret = -1;
		}
		pthread_attr_destroy(&a);
	}
	pthread_mutex_unlock(&lock);
	return ret;
}

static void setup(void *crcookie)
{
	pthread_mutex_lock(&lock);
	int mine = 0;
	for (int k = 0; k < ncreated; k++)
		mine |= pthread_equal(created[k], pthread_self());
	if (!mine || tl_setups != 0)
		st.setup_bad++;
	uintptr_t c = (uintptr_t)crcookie;
	if (c >= (uintptr_t)crs && c < (uintptr_t)crs + NDOORS)
		st.setups[c - (uintptr_t)crs]++;
	else
		st.setup_bad++;
	tl_setups++;
	tl_cr = crcookie;
	pthread_mutex_unlock(&lock);
}

struct request {
	char op;        /* 'c' call, 'w' wait for `expected` inside, 'h' hold, 's' stats */
	int round;
	int expected;
};

struct reply {
	pid_t tid;
	int setups_here;     /* setup calls in the serving thread */
	int cr_ok;           /* ...with this door's crcookie */
	int query_r;
	uint64_t q_uniq;
	int all_inside, seen;
	struct stats st;
};

static int arrived[8];

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)dp; (void)n;
	tl_serving = 1;
	struct reply r;
	memset(&r, 0, sizeof r);
	struct request rq = { 'c', 0, 0 };
	if (argp != NULL && size == sizeof rq)
		memcpy(&rq, argp, sizeof rq);
	int i = door_index((uintptr_t)cookie);
	r.tid = thread_id();
	r.setups_here = tl_setups;
	r.cr_ok = i >= 0 && tl_cr == &crs[i];
	door_info_t di;
	memset(&di, 0, sizeof di);
	r.query_r = door_info(DOOR_QUERY, &di);
	r.q_uniq = di.di_uniquifier;
	if (rq.op == 'w' && rq.round >= 0 && rq.round < 8) {
		struct timespec deadline;
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += 10;
		pthread_mutex_lock(&lock);
		arrived[rq.round]++;
		pthread_cond_broadcast(&cond);
		int e = 0;
		while (arrived[rq.round] < rq.expected && e == 0)
			e = pthread_cond_timedwait(&cond, &lock, &deadline);
		r.seen = arrived[rq.round];
		r.all_inside = arrived[rq.round] >= rq.expected;
		pthread_mutex_unlock(&lock);
	} else if (rq.op == 'h') {
		send_val(&arrivals, &r.tid, sizeof r.tid);
		char c;
		CHECK(read(release.fd[0], &c, 1) == 1);
	}
	pthread_mutex_lock(&lock);
	r.st = st;
	pthread_mutex_unlock(&lock);
	door_return((char *)&r, sizeof r, NULL, 0);
}

/* How many of this process's descriptors are doors. */
static int count_doors(void)
{
	int k = 0;
	for (int fd = 0; fd < 4096; fd++) {
		door_info_t di;
		if (fcntl(fd, F_GETFD) != -1 && door_info(fd, &di) == 0)
			k++;
	}
	return k;
}

static int count_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	CHECK(d != NULL);
	int k = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			k++;
	closedir(d);
	return k;
}

struct report {
	pid_t pid;
	uint64_t uniq[NDOORS];
	uint_t attrs[NDOORS];
	struct stats after_create;   /* right after the three door_xcreate calls */
	int fds_before, fds_after;   /* around the failing calls */
	int doors_before, doors_after;
	int tasks_before, tasks_after;
	struct stats after_errors;
};

static int xcreate_door(int i, uint_t attrs, door_xcreate_thrsetup_func_t *su)
{
	return door_xcreate(server_proc, &cookies[i], attrs, xcf, su, &crs[i], 3);
}

static void server(void *arg)
{
	(void)arg;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cond, &ca);
	struct report rep;
	memset(&rep, 0, sizeof rep);
	rep.pid = getpid();

	/* An ordinary door first, so the library's own per-process objects
	 * (control thread, process-wide pool) exist before fds are counted. */
	static char warm;
	int g = door_create(server_proc, &warm, 0);
	CHECK(g >= 0);

	int x = xcreate_door(DX, 0, setup);
	CHECK(x >= 0);
	int y = xcreate_door(DY, DOOR_NO_DEPLETION_CB, setup);
	CHECK(y >= 0);
	int w = xcreate_door(DW, 0, NULL);
	CHECK(w >= 0);
	pthread_mutex_lock(&lock);
	rep.after_create = st;
	pthread_mutex_unlock(&lock);
	int fds[3] = { x, y, w };
	for (int i = 0; i < 3; i++) {
		door_info_t di;
		CHECK_OK(info_of(fds[i], &di));
		rep.uniq[i] = di.di_uniquifier;
		rep.attrs[i] = di.di_attributes;
		CHECK(di.di_data == (uint64_t)(uintptr_t)&cookies[i]);
		CHECK(di.di_target == getpid());
		CHECK(first_uniq[i] == di.di_uniquifier);
	}

	/* Errors; none may leave a descriptor (or a thread) behind. */
	rep.fds_before = count_fds();
	rep.doors_before = count_doors();
	rep.tasks_before = count_tasks();
	CHECK_ERR(door_xcreate(server_proc, &cookies[DBAD], DOOR_PRIVCREATE, xcf, setup, &crs[DBAD], 3), EINVAL);
	CHECK_ERR(door_xcreate(server_proc, &cookies[DBAD], DOOR_PRIVATE | DOOR_PRIVCREATE, xcf, setup, &crs[DBAD], 1), EINVAL);
	CHECK_ERR(door_xcreate(server_proc, &cookies[DBAD], 0, xcf, setup, &crs[DBAD], 0), EINVAL);
	CHECK_ERR(door_xcreate(server_proc, &cookies[DBAD], 0, xcf, setup, &crs[DBAD], -1), EINVAL);
	CHECK_ERR(door_xcreate(server_proc, &cookies[DBAD], 0, NULL, setup, &crs[DBAD], 3), EINVAL);
	CHECK_ERR(door_xcreate(server_proc, &cookies[DBAD], 0x8000, xcf, setup, &crs[DBAD], 3), EINVAL);
	CHECK_ERR(xcreate_door(DZERO, 0, setup), EINVAL);
	CHECK_ERR(xcreate_door(DNEG, 0, setup), EPIPE);
	CHECK_ERR(xcreate_door(DPARTIAL, 0, setup), EINVAL);
	/* The thread the partial attempt started exits, and the library may
	 * release its internal descriptors asynchronously: bounded waits. */
	double end = now_seconds() + 5;
	while ((rep.tasks_after = count_tasks()) > rep.tasks_before && now_seconds() < end)
		usleep(2000);   /* polling interval of the deadline loop */
	end = now_seconds() + 3;
	while ((rep.fds_after = count_fds()) > rep.fds_before && now_seconds() < end)
		usleep(2000);   /* polling interval of the deadline loop */
	rep.doors_after = count_doors();
	pthread_mutex_lock(&lock);
	rep.after_errors = st;
	pthread_mutex_unlock(&lock);

	/* X: attached, then the application closes its descriptor. */
	make_file(path_x, 0644);
	make_file(path_y, 0644);
	make_file(path_w, 0644);
	CHECK_OK(fattach(x, path_x));
	CHECK_OK(close(x));
	CHECK_OK(fattach(y, path_y));
	CHECK_OK(fattach(w, path_w));
	send_val(&ready, &rep, sizeof rep);
	for (;;)
		pause();
}

static struct report rep;

/* The common checks on a reply from door `i`'s pool. */
static void check_served(const struct reply *r, int i)
{
	CHECK(r->query_r == 0);
	CHECK(r->q_uniq == rep.uniq[i]);
	if (i == DW) {
		CHECK(r->setups_here == 0);   /* no setup function */
	} else {
		CHECK(r->setups_here == 1);
		CHECK(r->cr_ok);
	}
}

static void call_seq(int fd, int i, int times)
{
	struct request rq = { 'c', 0, 0 };
	struct reply r;
	for (int k = 0; k < times; k++) {
		CHECK(call_door(fd, &rq, sizeof rq, &r, sizeof r) == (long)sizeof r);
		check_served(&r, i);
	}
}

struct caller {
	pthread_t thread;
	int fd;
	struct request rq;
	struct reply r;
	long got;
	int err;
};

static void *call_thread(void *arg)
{
	struct caller *c = arg;
	errno = 0;
	c->got = call_door(c->fd, &c->rq, sizeof c->rq, &c->r, sizeof c->r);
	c->err = errno;
	return NULL;
}

/* `k` concurrent calls of `rq`; checks and returns them in c[]. */
static void call_concurrently(int fd, int i, int k, struct request rq, struct caller *c)
{
	for (int j = 0; j < k; j++) {
		c[j] = (struct caller){ .fd = fd, .rq = rq };
		CHECK(pthread_create(&c[j].thread, NULL, call_thread, &c[j]) == 0);
	}
	for (int j = 0; j < k; j++)
		CHECK(pthread_join(c[j].thread, NULL) == 0);
	for (int j = 0; j < k; j++) {
		errno = c[j].err;
		CHECK(c[j].got == (long)sizeof c[j].r);
		check_served(&c[j].r, i);
		if (rq.op == 'w' && !c[j].r.all_inside) {
			fprintf(stderr, "FAIL %s: door %s: only %d of %d calls were inside at once\n",
			    test_name, door_names[i], c[j].r.seen, rq.expected);
			exit(1);
		}
		/* Calls that were all inside at once ran in distinct threads. */
		for (int m = 0; m < j && rq.op == 'w'; m++)
			CHECK(c[m].r.tid != c[j].r.tid);
	}
}

static struct stats stats_of(int fd, int i)
{
	struct request rq = { 's', 0, 0 };
	struct reply r;
	CHECK(call_door(fd, &rq, sizeof rq, &r, sizeof r) == (long)sizeof r);
	check_served(&r, i);
	return r.st;
}

static void client(void *arg)
{
	(void)arg;
	int x = open(path_x, O_RDONLY);
	int y = open(path_y, O_RDONLY);
	int w = open(path_w, O_RDONLY);
	CHECK(x >= 0 && y >= 0 && w >= 0);
	call_seq(x, DX, 5);
	call_seq(y, DY, 5);
	call_seq(w, DW, 5);

	/* X: four concurrent calls, three threads. Taking the third depletes
	 * the pool; the creation function adds a thread (which binds by door
	 * identity: the server closed its fd), and it takes the fourth. */
	struct caller c[4];
	call_concurrently(x, DX, 4, (struct request){ 'w', 0, 4 }, c);
	struct stats s = stats_of(x, DX);
	CHECK(s.depletions[DX] >= 1);
	CHECK(s.creates[DX] == 3 + s.depletions[DX]);
	CHECK(s.started[DX] == s.creates[DX]);
	CHECK(s.setups[DX] >= 4 && s.setups[DX] <= s.started[DX]);
	CHECK(s.bad_info[DX] == 0);
	CHECK(s.setup_bad == 0);
	CHECK(s.depletion_off_thread == 0);

	/* W: the creation function declines on depletion; the door keeps
	 * working with its three threads. */
	call_concurrently(w, DW, 3, (struct request){ 'w', 1, 3 }, c);
	s = stats_of(w, DW);
	CHECK(s.depletions[DW] >= 1);
	CHECK(s.started[DW] == 3);
	CHECK(s.bad_info[DW] == 0);
	call_seq(w, DW, 3);
	close(x);
	close(y);
	close(w);
}

/* Y (DOOR_NO_DEPLETION_CB): four held calls, three threads. */
static void client_y(void *arg)
{
	(void)arg;
	int y = open(path_y, O_RDONLY);
	CHECK(y >= 0);
	struct caller c[4];
	call_concurrently(y, DY, 4, (struct request){ 'h', 0, 0 }, c);
	struct stats s = stats_of(y, DY);
	CHECK(s.creates[DY] == 3);
	CHECK(s.depletions[DY] == 0);
	CHECK(s.started[DY] == 3);
	CHECK(s.setups[DY] == 3);
	close(y);
}

int main(void)
{
	test_name = "xcreate";
	watchdog(50);
	char *dir = test_dir();
	snprintf(path_x, sizeof path_x, "%s/x", dir);
	snprintf(path_y, sizeof path_y, "%s/y", dir);
	snprintf(path_w, sizeof path_w, "%s/w", dir);
	gate_init(&ready);
	gate_init(&arrivals);
	gate_init(&release);

	pid_t srv = spawn_tied(server, NULL);
	recv_within(&ready, &rep, sizeof rep, 20);

	/* Creation: three calls per door, with the door's info; the setup
	 * function ran in all three threads before door_xcreate returned. */
	const struct stats *a = &rep.after_create;
	for (int i = DX; i <= DW; i++) {
		CHECK(a->creates[i] == 3);
		CHECK(a->depletions[i] == 0);
		CHECK(a->started[i] == 3);
		CHECK(a->bad_info[i] == 0);
		CHECK((rep.attrs[i] & (DOOR_PRIVATE | DOOR_PRIVCREATE | DOOR_LOCAL)) ==
		    (DOOR_PRIVATE | DOOR_PRIVCREATE | DOOR_LOCAL));
		CHECK(!(rep.attrs[i] & DOOR_REVOKED));
	}
	CHECK(a->setups[DX] == 3 && a->setups[DY] == 3);
	CHECK(a->setups[DW] == 0);
	CHECK(a->setup_bad == 0);
	CHECK(rep.attrs[DY] & DOOR_NO_DEPLETION_CB);
	CHECK(!(rep.attrs[DX] & DOOR_NO_DEPLETION_CB));

	/* Failures: the creation function was called only where it had to be. */
	const struct stats *e = &rep.after_errors;
	CHECK(e->creates[DBAD] == 0);
	CHECK(e->creates[DZERO] == 1);
	CHECK(e->creates[DNEG] == 1);
	CHECK(e->creates[DPARTIAL] == 2 && e->started[DPARTIAL] == 1);
	CHECK(e->setups[DPARTIAL] == 1);
	if (rep.doors_after != rep.doors_before) {
		fprintf(stderr, "FAIL %s: failed door_xcreate calls left %d door descriptors open\n",
		    test_name, rep.doors_after - rep.doors_before);
		exit(1);
	}
	if (rep.fds_after != rep.fds_before) {
		fprintf(stderr, "FAIL %s: three failed door_xcreate calls (creation function returning 0, -1, "
		    "1 then 0) left %d descriptors open (%d before, %d after, none of them doors)\n",
		    test_name, rep.fds_after - rep.fds_before, rep.fds_before, rep.fds_after);
		exit(1);
	}
	if (rep.tasks_after != rep.tasks_before) {
		fprintf(stderr, "FAIL %s: the thread started by a failed door_xcreate did not exit (%d threads before, %d after)\n",
		    test_name, rep.tasks_before, rep.tasks_after);
		exit(1);
	}

	int s_fds = count_fds_of(srv);
	reap_ok_within(spawn_tied_fd_neutral(client, NULL), 30, "client");

	/* Y: three calls are taken, the fourth waits: no depletion callback. */
	pid_t cy = spawn_tied_fd_neutral(client_y, NULL);
	pid_t in[4];
	for (int k = 0; k < 3; k++)
		recv_within(&arrivals, &in[k], sizeof in[k], 10);
	struct pollfd pf = { arrivals.fd[0], POLLIN, 0 };
	if (poll(&pf, 1, 500) != 0) {
		fprintf(stderr, "FAIL %s: a fourth call to a DOOR_NO_DEPLETION_CB door with three busy threads was served\n",
		    test_name);
		exit(1);
	}
	char bytes[4];
	memset(bytes, 1, sizeof bytes);
	send_val(&release, bytes, sizeof bytes);
	recv_within(&arrivals, &in[3], sizeof in[3], 10);
	reap_ok_within(cy, 20, "client of Y");
	fds_back_of(srv, s_fds, 10, "server, after its clients");
	kill_and_reap(srv);
	PASS();
}
