/* Nested calls and calls within one process (doors-spec §5.12), with the
 * default pool (no creation function installed):
 *  - door A's procedure calls door B of the same process;
 *  - door S's procedure calls S itself, five levels deep;
 *  - a chain from a client: C (process 1) calls D (process 2), whose
 *    procedure calls E, back in process 1.
 * Each hop reports its pid and thread; a waiting caller's thread cannot
 * serve, so the threads of one chain in one process all differ. */
#include "door_test.h"
#include <sys/mman.h>

#define MAX_HOPS 8
#define DEPTH 5

static char path_a[512], path_s[512], path_c[512], path_d[512], path_e[512];
static struct gate ready1, ready2;

struct request {
	int depth;   /* S: levels still to go */
};

struct hop {
	pid_t pid, tid;
	int local_ok;   /* the door it called next was (not) local, as expected */
};

struct reply {
	int n;
	struct hop h[MAX_HOPS];
};

/* In each server. */
static int b_fd = -1, s_fd = -1;

/*
 * Which server threads called which door, shared by all the processes: a
 * thread keeps its channel to each door it called (both ends in this
 * process for a door of its own, one in each for the other's), so these
 * pairs say how many descriptors each server holds once the client is gone.
 */
#define MAX_CALLERS 256
struct caller { pid_t pid, tid; char door; };
static struct callers {
	pthread_mutex_t lock;
	int n;
	struct caller c[MAX_CALLERS];
} *callers;

static void note_caller(char door)
{
	pid_t pid = getpid(), tid = thread_id();
	pthread_mutex_lock(&callers->lock);
	int i = 0;
	while (i < callers->n && !(callers->c[i].pid == pid && callers->c[i].tid == tid && callers->c[i].door == door))
		i++;
	if (i == callers->n && i < MAX_CALLERS)
		callers->c[callers->n++] = (struct caller){ pid, tid, door };
	pthread_mutex_unlock(&callers->lock);
}

/* How many of the noted threads called `door`. */
static int callers_of(char door)
{
	int k = 0;
	for (int i = 0; i < callers->n; i++)
		k += callers->c[i].door == door;
	return k;
}

/* Calls `fd` with `rq` and fills `out` with its hops after ours. */
static void call_next(int fd, const struct request *rq, struct reply *out, int expect_local)
{
	struct reply sub;
	memset(&sub, 0, sizeof sub);
	long got = call_door(fd, rq, sizeof *rq, &sub, sizeof sub);
	if (got != (long)sizeof sub || sub.n < 1 || sub.n >= MAX_HOPS) {
		out->n = -1000 - errno;   /* reported to the client */
		return;
	}
	door_info_t di;
	int ok = info_of(fd, &di) == 0;
	if (expect_local)
		ok = ok && (di.di_attributes & DOOR_LOCAL) && di.di_target == getpid();
	else
		ok = ok && !(di.di_attributes & DOOR_LOCAL) && di.di_target != getpid();
	out->h[0].local_ok = ok;
	memcpy(&out->h[1], sub.h, sub.n * sizeof sub.h[0]);
	out->n = 1 + sub.n;
}

static void start_reply(struct reply *r)
{
	memset(r, 0, sizeof *r);
	r->n = 1;
	r->h[0].pid = getpid();
	r->h[0].tid = thread_id();
	r->h[0].local_ok = 1;
}

static void proc_b(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	struct reply r;
	start_reply(&r);
	door_return((char *)&r, sizeof r, NULL, 0);
}

static void proc_a(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	struct reply r;
	start_reply(&r);
	struct request rq = { 0 };
	note_caller('B');
	call_next(b_fd, &rq, &r, 1);
	door_return((char *)&r, sizeof r, NULL, 0);
}

static void proc_s(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	struct reply r;
	start_reply(&r);
	struct request rq = { 0 };
	if (argp != NULL && size == sizeof rq)
		memcpy(&rq, argp, sizeof rq);
	if (rq.depth > 0 && rq.depth < MAX_HOPS) {
		rq.depth--;
		note_caller('S');
		call_next(s_fd, &rq, &r, 1);
	}
	door_return((char *)&r, sizeof r, NULL, 0);
}

/* C (process 1) -> D (process 2) -> E (process 1). The next door is opened
 * by path on first use, inside the procedure. */
static int open_once(int *fd, const char *path)
{
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&m);
	if (*fd < 0)
		*fd = open(path, O_RDONLY);
	int r = *fd;
	pthread_mutex_unlock(&m);
	return r;
}

static int d_fd = -1, e_fd = -1;

static void proc_c(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	struct reply r;
	start_reply(&r);
	struct request rq = { 0 };
	int fd = open_once(&d_fd, path_d);
	if (fd < 0) {
		r.n = -2000 - errno;
	} else {
		note_caller('D');
		call_next(fd, &rq, &r, 0);
	}
	door_return((char *)&r, sizeof r, NULL, 0);
}

static void proc_d(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	struct reply r;
	start_reply(&r);
	struct request rq = { 0 };
	int fd = open_once(&e_fd, path_e);
	if (fd < 0) {
		r.n = -2000 - errno;
	} else {
		note_caller('E');
		call_next(fd, &rq, &r, 0);
	}
	door_return((char *)&r, sizeof r, NULL, 0);
}

static void server1(void *arg)
{
	(void)arg;
	int b = door_create(proc_b, NULL, 0);
	CHECK(b >= 0);
	b_fd = b;
	attach_new(path_a, proc_a, NULL, 0);
	s_fd = attach_new(path_s, proc_s, NULL, 0);
	attach_new(path_c, proc_c, NULL, 0);
	attach_new(path_e, proc_b, NULL, 0);
	gate_open(&ready1);
	for (;;)
		pause();
}

static void server2(void *arg)
{
	(void)arg;
	attach_new(path_d, proc_d, NULL, 0);
	gate_open(&ready2);
	for (;;)
		pause();
}

static pid_t s1, s2;

static void check_reply(const char *what, const struct reply *r, int n, const pid_t *pids)
{
	if (r->n != n) {
		fprintf(stderr, "FAIL %s: %s: %d hops, wanted %d (a negative count is -1000 - errno of a nested "
		    "door_call, or -2000 - errno of an open)\n", test_name, what, r->n, n);
		exit(1);
	}
	for (int i = 0; i < n; i++) {
		if (r->h[i].pid != pids[i] || !r->h[i].local_ok) {
			fprintf(stderr, "FAIL %s: %s: hop %d ran in pid %d (wanted %d), DOOR_LOCAL check %d\n",
			    test_name, what, i, (int)r->h[i].pid, (int)pids[i], r->h[i].local_ok);
			exit(1);
		}
		/* Hops in one process ran in distinct threads. */
		for (int j = 0; j < i; j++)
			if (r->h[j].pid == r->h[i].pid)
				CHECK(r->h[j].tid != r->h[i].tid);
	}
}

static void client(void *arg)
{
	(void)arg;
	int a = open(path_a, O_RDONLY);
	int s = open(path_s, O_RDONLY);
	int c = open(path_c, O_RDONLY);
	CHECK(a >= 0 && s >= 0 && c >= 0);
	struct reply r;
	struct request rq = { 0 };
	pid_t p1[MAX_HOPS];
	for (int i = 0; i < MAX_HOPS; i++)
		p1[i] = s1;
	for (int k = 0; k < 20; k++) {
		/* A -> B, same process. */
		CHECK(call_door(a, &rq, sizeof rq, &r, sizeof r) == (long)sizeof r);
		check_reply("A -> B", &r, 2, p1);

		/* S -> S -> ... six invocations of one door. */
		struct request deep = { DEPTH };
		CHECK(call_door(s, &deep, sizeof deep, &r, sizeof r) == (long)sizeof r);
		check_reply("S -> S", &r, DEPTH + 1, p1);

		/* C (1) -> D (2) -> E (1). */
		pid_t chain[3] = { s1, s2, s1 };
		CHECK(call_door(c, &rq, sizeof rq, &r, sizeof r) == (long)sizeof r);
		check_reply("C -> D -> E", &r, 3, chain);
	}
	close(a);
	close(s);
	close(c);
}

int main(void)
{
	test_name = "nested";
	watchdog(50);
	char *dir = test_dir();
	snprintf(path_a, sizeof path_a, "%s/a", dir);
	snprintf(path_s, sizeof path_s, "%s/s", dir);
	snprintf(path_c, sizeof path_c, "%s/c", dir);
	snprintf(path_d, sizeof path_d, "%s/d", dir);
	snprintf(path_e, sizeof path_e, "%s/e", dir);
	gate_init(&ready1);
	gate_init(&ready2);
	callers = mmap(NULL, sizeof *callers, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(callers != MAP_FAILED);
	pthread_mutexattr_t ma;
	CHECK_OK(pthread_mutexattr_init(&ma));
	CHECK_OK(pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED));
	CHECK_OK(pthread_mutex_init(&callers->lock, &ma));
	s1 = spawn_tied(server1, NULL);
	gate_wait_within(&ready1, 20);
	s2 = spawn_tied(server2, NULL);
	gate_wait_within(&ready2, 20);
	int before1 = count_fds_of(s1), before2 = count_fds_of(s2);
	reap_ok_within(spawn_tied_fd_neutral(client, NULL), 40, "client");
	/* Once the client is gone, each server holds what its own procedures
	 * keep: the first C opened D (the descriptor in 1, its door end in 2)
	 * and the first D opened E (likewise the other way); every thread
	 * that called a door keeps its channel: both ends in 1 for B and S,
	 * one end in each server for D and E. Which threads (so how many
	 * channels) is the scheduler's choice, noted as they called. */
	int de = 2 + callers_of('D') + callers_of('E');
	fds_back_of(s1, before1 + 2 * (callers_of('B') + callers_of('S')) + de, 10, "server 1 after the client");
	fds_back_of(s2, before2 + de, 10, "server 2 after the client");
	kill_and_reap(s1);
	kill_and_reap(s2);
	PASS();
}
