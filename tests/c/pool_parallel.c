/* The default server thread pool grows on demand (doors-spec §5.4): the
 * default creation function makes one more thread whenever the last idle
 * one is taken, so N concurrent callers are all served at once. The
 * procedure proves it: each invocation waits (with a timeout) until all N
 * are inside it simultaneously. First N = 8 threads of one client process,
 * then 2 client processes of 4 threads each. */
#include "door_test.h"

#define N 8
#define WAIT_SECONDS 10

static char path[512];
static struct gate ready;
static struct gate tids;   /* round-2 clients -> driver: their serving threads */

struct request {
	int round;
	int expected;
};

struct answer {
	int all_inside;  /* 1 if `expected` invocations were inside at once */
	int seen;        /* how many had arrived when this one left */
	pid_t tid;       /* the serving thread */
};

/* In the server: arrivals per round. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;
static int arrived[4];

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	struct request rq;
	struct answer an = { 0, 0, thread_id() };
	if (argp == NULL || size != sizeof rq)
		door_return(NULL, 0, NULL, 0);
	memcpy(&rq, argp, sizeof rq);
	if (rq.round < 0 || rq.round >= 4)
		door_return(NULL, 0, NULL, 0);

	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += WAIT_SECONDS;
	pthread_mutex_lock(&lock);
	arrived[rq.round]++;
	pthread_cond_broadcast(&cond);
	int r = 0;
	while (arrived[rq.round] < rq.expected && r == 0)
		r = pthread_cond_timedwait(&cond, &lock, &deadline);
	an.seen = arrived[rq.round];
	an.all_inside = arrived[rq.round] >= rq.expected;
	pthread_mutex_unlock(&lock);
	door_return((char *)&an, sizeof an, NULL, 0);
}

static void server(void *arg)
{
	(void)arg;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cond, &ca);
	attach_new(path, server_proc, NULL, 0);
	gate_open(&ready);
	for (;;)
		pause();
}

struct caller {
	pthread_t thread;
	int fd;
	struct request rq;
	struct answer an;
	long got;
	int err;
};

static void *call_thread(void *arg)
{
	struct caller *c = arg;
	errno = 0;
	c->got = call_door(c->fd, &c->rq, sizeof c->rq, &c->an, sizeof c->an);
	c->err = errno;
	return NULL;
}

/* Makes `k` concurrent calls from `k` threads for `round` (expecting
 * `expected` inside at once in all); checks every answer, returns the
 * serving threads in `out`. */
static void call_concurrently(int fd, int k, int round, int expected, pid_t *out)
{
	struct caller c[N];
	CHECK(k <= N);
	for (int i = 0; i < k; i++) {
		c[i] = (struct caller){ .fd = fd, .rq = { round, expected } };
		CHECK(pthread_create(&c[i].thread, NULL, call_thread, &c[i]) == 0);
	}
	for (int i = 0; i < k; i++)
		CHECK(pthread_join(c[i].thread, NULL) == 0);
	for (int i = 0; i < k; i++) {
		errno = c[i].err;
		CHECK(c[i].got == (long)sizeof c[i].an);
		if (!c[i].an.all_inside) {
			fprintf(stderr, "FAIL %s: round %d: only %d of %d calls were inside the procedure at once\n",
			    test_name, round, c[i].an.seen, expected);
			exit(1);
		}
		out[i] = c[i].an.tid;
	}
}

/* The serving threads must all differ. */
static void check_distinct(const pid_t *t, int k)
{
	for (int i = 0; i < k; i++)
		for (int j = i + 1; j < k; j++)
			CHECK(t[i] != t[j]);
}

static void client_one(void *arg)
{
	(void)arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	pid_t t[N];
	call_concurrently(fd, N, 0, N, t);
	check_distinct(t, N);
	close(fd);
}

static void client_half(void *arg)
{
	(void)arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	pid_t t[N / 2];
	call_concurrently(fd, N / 2, 1, N, t);
	send_val(&tids, t, sizeof t);
	close(fd);
}

int main(void)
{
	test_name = "pool_parallel";
	watchdog(50);
	char *dir = test_dir();
	snprintf(path, sizeof path, "%s/door", dir);
	gate_init(&ready);
	gate_init(&tids);
	pid_t s = spawn_tied(server, NULL);
	gate_wait_within(&ready, 20);

	int s_fds = count_fds_of(s);

	/* Round 0: 8 threads of one process. */
	reap_ok_within(spawn_tied_fd_neutral(client_one, NULL), 30, "client");

	/* Round 1: two processes, 4 threads each, all 8 inside at once. */
	pid_t a = spawn_tied_fd_neutral(client_half, NULL);
	pid_t b = spawn_tied_fd_neutral(client_half, NULL);
	reap_ok_within(a, 30, "client a");
	reap_ok_within(b, 30, "client b");
	fds_back_of(s, s_fds, 10, "server, after its clients");
	pid_t t[N];
	recv_within(&tids, t, sizeof t / 2, 5);
	recv_within(&tids, t + N / 2, sizeof t / 2, 5);
	check_distinct(t, N);
	kill_and_reap(s);
	PASS();
}
