/*
 * doorbench: every configuration measured. Each has a setup (which forks
 * its server process, pinned as the configuration says) and a run, which
 * performs `warm` untimed and then `n` timed operations, checking every
 * result (a wrong answer ends the benchmark). Servers live until the end
 * of the benchmark; cleanup_all() kills them.
 */
#include "bench.h"

#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

const size_t arg_sizes[4] = { 4u << 10, 64u << 10, 1u << 20, 16u << 20 };
const size_t result_sizes[N_RESULT_SIZES] = { 64u << 10, 1u << 20, 16u << 20 };
#define MAX_ARG (16u << 20)
#define MAX_RESULT (16u << 20)
#define REPLY_WORDS 8          /* the 64-byte reply to a large argument */

/* Calls per round: the quick mode's figure, four times that in full mode. */
#define FULL_SCALE 4
static int calls(const struct plan *p, int quick_n)
{
	return p->quick ? quick_n : FULL_SCALE * quick_n;
}

/* Runs `warm` untimed and `n` timed operations (each returns its own time
 * in ns), stopping early at the round's deadline. Returns the number timed. */
static int timed_loop(struct bench *b, double *s, double (*once)(struct bench *))
{
	for (int i = 0; i < b->warm && now_ns() < b->deadline; i++)
		once(b);
	int i = 0;
	while (i < b->n) {
		s[i++] = once(b);
		if (i % 16 == 0 && now_ns() > b->deadline)
			break;
	}
	return i;
}

/* ------------------------------------------------------------------ */
/* Door servers                                                         */
/* ------------------------------------------------------------------ */

/* 8 bytes in, the value plus one out. */
static void null_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp;
	uint64_t v;
	if (argp == NULL || size != sizeof v || n != 0)
		door_return(NULL, 0, NULL, 0);  /* the client sees no result and stops */
	memcpy(&v, argp, sizeof v);
	v++;
	door_return((char *)&v, sizeof v, NULL, 0);
	die_errno("door_return");
}

/* Computation standing for a procedure's own work: a chain of dependent
 * multiply-adds that no compiler folds away, about 20 µs on this VM (the
 * benchmark measures it alone, `rate.work.alone`). */
#define WORK_STEPS 15000

static uint64_t procedure_work(uint64_t x)
{
	for (int i = 0; i < WORK_STEPS; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return x;
}

static volatile uint64_t work_sink;

/* As null_proc, after WORK_STEPS of computation (from a seed the compiler
 * cannot know). */
static void work_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	work_sink = procedure_work(size);
	null_proc(cookie, argp, size, dp, n);
}

/* The reply to a large argument: its word sum, its size, then a pattern. */
static void make_reply(uint64_t *out, uint64_t sum, uint64_t size)
{
	out[0] = sum;
	out[1] = size;
	for (int i = 2; i < REPLY_WORDS; i++)
		out[i] = pattern_word((size_t)i);
}

/* Answers a large argument with `sum` of it: 64 bytes. */
static void answer_sum(char *argp, size_t size, uint_t n, uint64_t (*sum)(const void *, size_t))
{
	uint64_t out[REPLY_WORDS];
	if (argp == NULL || size % 8 != 0 || n != 0)
		door_return(NULL, 0, NULL, 0);
	make_reply(out, sum(argp, size), size);
	door_return((char *)out, sizeof out, NULL, 0);
	die_errno("door_return");
}

/* Reads every byte of the argument; returns 64 bytes. */
static void sum_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp;
	answer_sum(argp, size, n, sum_words);
}

/* One word of each 4 KiB page of an argument, summed. */
static uint64_t sum_page_words(const void *buf, size_t len)
{
	const uint64_t *w = buf;
	uint64_t sum = 0;
	for (size_t i = 0; i < len / 8; i += 512)
		sum += w[i];
	return sum;
}

/* Reads one word of each page of the argument (its first word, the
 * sequence number, among them); returns 64 bytes. With the bytes' own
 * pass left out, the call's time is the transfer's. */
static void touch_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp;
	answer_sum(argp, size, n, sum_page_words);
}

/* A result buffer in the pattern, whose first and last words carry the
 * request's sequence number. Only one call at a time uses it. */
static uint64_t *result_buf;
static size_t result_marked = 0;    /* last word index marked, restored next call */

static void mark_result(uint64_t *buf, size_t size, uint64_t seq)
{
	buf[result_marked] = pattern_word(result_marked);
	buf[0] = seq;
	result_marked = size / 8 - 1;
	buf[result_marked] = seq;
}

/* Argument {size, seq}; returns `size` bytes of result_buf. */
static void give_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp;
	uint64_t req[2];
	if (argp == NULL || size != sizeof req || n != 0)
		door_return(NULL, 0, NULL, 0);
	memcpy(req, argp, sizeof req);
	if (req[0] == 0 || req[0] > MAX_RESULT || req[0] % 8 != 0)
		door_return(NULL, 0, NULL, 0);
	mark_result(result_buf, req[0], req[1]);
	door_return((char *)result_buf, req[0], NULL, 0);
	die_errno("door_return");
}

/* Checks a result made by mark_result: size, both marks, and the pattern
 * at the start of every page. */
static void check_result(const char *what, const uint64_t *w, size_t got, size_t size, uint64_t seq)
{
	size_t last = size / 8 - 1;
	if (got != size)
		die("%s: %zu bytes of result, wanted %zu", what, got, size);
	if (w[0] != seq || w[last] != seq)
		die("%s: wrong result (marks %llx %llx, wanted %llx)", what, (unsigned long long)w[0],
		    (unsigned long long)w[last], (unsigned long long)seq);
	for (size_t i = 512; i < last; i += 512)
		if (w[i] != pattern_word(i))
			die("%s: wrong result byte at %zu", what, i * 8);
}

struct futex_shm;
struct door_server {
	int ndoors;
	const char *names[3];
	door_server_procedure_t *procs[3];
	struct futex_shm *futex;    /* if set, a thread of the server also answers futex ping-pongs */
	struct gate ready;
	pid_t pid;
};

static void *futex_serve_thread(void *shm);

static void door_server_main(void *arg)
{
	struct door_server *s = arg;
	result_buf = private_alloc(MAX_RESULT);
	fill_pattern(result_buf, MAX_RESULT);
	for (int i = 0; i < s->ndoors; i++) {
		char path[PATH_BUF];
		work_path(path, s->names[i]);
		int d = door_create(s->procs[i], NULL, 0);
		if (d < 0)
			die_errno("door_create");
		int f = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
		CHECK(f >= 0);
		close(f);
		if (fattach(d, path) != 0)
			die_errno("fattach %s", path);
	}
	if (s->futex != NULL) {
		pthread_t t;
		if (pthread_create(&t, NULL, futex_serve_thread, s->futex) != 0)
			die("pthread_create (futex partner)");
	}
	gate_open(&s->ready);
	door_return(NULL, 0, NULL, 0);  /* park the main thread as a server thread */
	die_errno("door_return (parking)");
}

static void start_door_server(struct door_server *s, int pin)
{
	gate_init(&s->ready);
	s->pid = spawn_child(pin, door_server_main, s);
	gate_wait(&s->ready);
}

/* Opens an attached door like a real client, and checks what it got. */
static int open_door(const char *name, pid_t server)
{
	char path[PATH_BUF];
	work_path(path, name);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		die_errno("open %s", path);
	door_info_t di;
	if (door_info(fd, &di) != 0)
		die_errno("door_info %s", path);
	if (di.di_target != server)
		die("%s: door served by pid %d, wanted %d", path, (int)di.di_target, (int)server);
	return fd;
}

/* One null door_call with every result checked. Returns its time in ns. */
static double door_null(int fd, uint64_t x)
{
	uint64_t out = 0;
	door_arg_t a = { (char *)&x, sizeof x, NULL, 0, (char *)&out, sizeof out };
	double t0 = now_ns();
	int r = door_call(fd, &a);
	double t1 = now_ns();
	if (r != 0)
		die_errno("door_call (null)");
	if (a.rbuf != (char *)&out || a.data_ptr != (char *)&out || a.data_size != sizeof out || a.desc_num != 0 ||
	    out != x + 1)
		die("door_call (null): wrong result (%zu bytes, %llu for %llu)", a.data_size, (unsigned long long)out,
		    (unsigned long long)x);
	return t1 - t0;
}

/* ------------------------------------------------------------------ */
/* Null round trips: door_call, futex, SOCK_SEQPACKET, pipe             */
/* ------------------------------------------------------------------ */

struct futex_shm {
	_Atomic uint32_t req;
	char pad1[60];
	_Atomic uint32_t resp;
	char pad2[60];
	uint64_t in, out;
	int work;                   /* the server computes as work_proc does */
};

struct null_state {
	pid_t server;
	int fd, rfd;                /* door / socket / pipe ends (rfd: pipe's reading end) */
	int sfd, srfd;              /* the server's ends */
	struct futex_shm *shm;
	struct door_server ds;
	uint64_t x;
	uint32_t seq;
};

/* The floor's server side: blocks with no timeout (see futex_wait_untimed). */
static void futex_serve(struct futex_shm *s)
{
	uint32_t last = 0;
	for (;;) {
		uint32_t v;
		while ((v = atomic_load(&s->req)) == last)
			futex_wait_untimed(&s->req, last);
		if (s->work)
			work_sink = procedure_work(s->in);
		s->out = s->in + 1;
		atomic_store(&s->resp, v);
		futex_wake_one(&s->resp);
		last = v;
	}
}

static void futex_server(void *arg)
{
	futex_serve(((struct null_state *)arg)->shm);
}

static void *futex_serve_thread(void *shm)
{
	futex_serve(shm);
	return NULL;
}

static void socket_server(void *arg)
{
	struct null_state *st = arg;
	close(st->fd);
	for (;;) {
		uint64_t v;
		ssize_t r = recv(st->sfd, &v, sizeof v, 0);
		if (r == 0)
			_exit(0);
		if (r != sizeof v)
			die_errno("seqpacket server: recv");
		v++;
		if (send(st->sfd, &v, sizeof v, MSG_NOSIGNAL) != sizeof v)
			die_errno("seqpacket server: send");
	}
}

static void pipe_server(void *arg)
{
	struct null_state *st = arg;
	for (;;) {
		uint64_t v;
		if (!read_full(st->srfd, &v, sizeof v, 1))
			_exit(0);
		v++;
		write_full(st->sfd, &v, sizeof v);
	}
}

static const char *const null_door_name[PIN_COUNT] = { "null-free", "null-same", "null-diff" };

static void setup_null(struct bench *b)
{
	struct null_state *st = calloc(1, sizeof *st);
	CHECK(st != NULL);
	b->state = st;
	st->x = 1000;
	if (strcmp(b->transport, "door") == 0) {
		st->ds.ndoors = 1;
		st->ds.names[0] = null_door_name[b->pin];
		st->ds.procs[0] = null_proc;
		start_door_server(&st->ds, b->pin);
		st->server = st->ds.pid;
		st->fd = open_door(st->ds.names[0], st->server);
	} else if (strcmp(b->transport, "futex") == 0) {
		st->shm = shared_alloc(sizeof *st->shm);
		st->server = spawn_child(b->pin, futex_server, st);
	} else if (strcmp(b->transport, "seqpacket") == 0) {
		int sv[2];
		CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
		st->fd = sv[0];
		st->sfd = sv[1];
		st->server = spawn_child(b->pin, socket_server, st);
		close(st->sfd);
	} else {
		int req[2], resp[2];
		CHECK_OK(pipe2(req, O_CLOEXEC));
		CHECK_OK(pipe2(resp, O_CLOEXEC));
		st->fd = req[1];
		st->srfd = req[0];
		st->sfd = resp[1];
		st->rfd = resp[0];
		st->server = spawn_child(b->pin, pipe_server, st);
		close(st->srfd);
		close(st->sfd);
	}
}

static double futex_null(struct null_state *st)
{
	struct futex_shm *s = st->shm;
	uint32_t seq = ++st->seq;
	uint64_t x = st->x++;
	s->in = x;
	double t0 = now_ns();
	atomic_store(&s->req, seq);
	futex_wake_one(&s->req);
	uint32_t r;
	while ((r = atomic_load(&s->resp)) != seq)
		futex_wait_change_untimed(&s->resp, r);
	double t1 = now_ns();
	if (s->out != x + 1)
		die("futex ping-pong: wrong answer");
	return t1 - t0;
}

static double seqpacket_null(struct null_state *st)
{
	uint64_t x = st->x++, v = 0;
	double t0 = now_ns();
	if (send(st->fd, &x, sizeof x, MSG_NOSIGNAL) != sizeof x)
		die_errno("seqpacket: send");
	ssize_t r = recv(st->fd, &v, sizeof v, 0);
	double t1 = now_ns();
	if (r != sizeof v || v != x + 1)
		die_errno("seqpacket: wrong answer (%zd bytes)", r);
	return t1 - t0;
}

static double pipe_null(struct null_state *st)
{
	uint64_t x = st->x++, v = 0;
	double t0 = now_ns();
	write_full(st->fd, &x, sizeof x);
	read_full(st->rfd, &v, sizeof v, 0);
	double t1 = now_ns();
	if (v != x + 1)
		die("pipe: wrong answer");
	return t1 - t0;
}

static double null_once(struct bench *b)
{
	struct null_state *st = b->state;
	switch (b->transport[0]) {
	case 'd': return door_null(st->fd, st->x++);
	case 'f': return futex_null(st);
	case 's': return seqpacket_null(st);
	default: return pipe_null(st);
	}
}

static int run_null(struct bench *b, double *s)
{
	return timed_loop(b, s, null_once);
}

/* Interleaved blocks on one CPU: the door and the futex floor served by the
 * same server process (a thread of the door server answers the futex), in
 * alternating blocks of INTERLEAVE_BLOCK round trips; each sample is one
 * pair's ratio, door block time ÷ futex block time. Blocks of a few hundred
 * microseconds put both transports in the same state of the machine, which
 * on this VM shifts between two speeds every few seconds; the separate
 * configurations above compare medians of windows that can fall in
 * different states. */
#define INTERLEAVE_BLOCK 64

static void setup_interleaved(struct bench *b)
{
	struct null_state *st = calloc(1, sizeof *st);
	CHECK(st != NULL);
	b->state = st;
	st->x = 1000;
	st->shm = shared_alloc(sizeof *st->shm);
	st->ds.ndoors = 1;
	st->ds.names[0] = "null-interleaved";
	st->ds.procs[0] = null_proc;
	st->ds.futex = st->shm;
	start_door_server(&st->ds, b->pin);
	st->server = st->ds.pid;
	st->fd = open_door(st->ds.names[0], st->server);
}

static double block_time(struct null_state *st, int door)
{
	double t = 0;
	for (int i = 0; i < INTERLEAVE_BLOCK; i++)
		t += door ? door_null(st->fd, st->x++) : futex_null(st);
	return t;
}

static int run_interleaved(struct bench *b, double *s)
{
	struct null_state *st = b->state;
	for (int i = 0; i < b->warm && now_ns() < b->deadline; i++) {
		block_time(st, 1);
		block_time(st, 0);
	}
	int i = 0;
	while (i < b->n) {
		/* Alternate which goes first, so that neither always follows the other. */
		double d, f;
		if (i % 2) {
			d = block_time(st, 1);
			f = block_time(st, 0);
		} else {
			f = block_time(st, 0);
			d = block_time(st, 1);
		}
		s[i++] = d / f;
		if (now_ns() > b->deadline)
			break;
	}
	return i;
}

/* A cache line handed back and forth between the two CPUs, by this thread
 * and a helper pinned to the other CPU, both spinning: the least a
 * hand-off between the CPUs can cost, which on a virtual machine changes
 * with where the host runs its CPUs (about 50 or about 240 ns on the AMD
 * guest of PERFORMANCE.md, minutes apart). A sample is one way, averaged
 * over a block of round trips. */
#define LINE_BLOCK 64
static _Alignas(64) _Atomic uint64_t line_word;

static void *line_helper(void *arg)
{
	uint64_t trips = *(uint64_t *)arg;
	pin_self(PIN_DIFF, 1);
	for (uint64_t i = 0; i < trips; i++) {
		while (atomic_load_explicit(&line_word, memory_order_acquire) != 2 * i + 1)
			;
		atomic_store_explicit(&line_word, 2 * i + 2, memory_order_release);
	}
	return NULL;
}

static int run_cacheline(struct bench *b, double *s)
{
	/* The helper answers every trip it is told of, so none is cut short. */
	uint64_t trips = (uint64_t)(b->warm + b->n) * LINE_BLOCK;
	atomic_store(&line_word, 0);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, line_helper, &trips) == 0);
	uint64_t i = 0;
	for (int k = 0; k < b->warm + b->n; k++) {
		double t0 = now_ns();
		for (int j = 0; j < LINE_BLOCK; j++, i++) {
			atomic_store_explicit(&line_word, 2 * i + 1, memory_order_release);
			while (atomic_load_explicit(&line_word, memory_order_acquire) != 2 * i + 2)
				;
		}
		if (k >= b->warm)
			s[k - b->warm] = (now_ns() - t0) / (2 * LINE_BLOCK);
	}
	CHECK(pthread_join(t, NULL) == 0);
	return b->n;
}

static void setup_nothing(struct bench *b)
{
	(void)b;
}

void add_null_benches(struct plan *p)
{
	static const char *const transports[] = { "door", "futex", "seqpacket", "pipe" };
	static const char *const labels[] = { "door_call", "futex, blocking", "AF_UNIX SOCK_SEQPACKET", "pipe" };
	static char ids[PIN_COUNT][4][32];
	for (int pin = 0; pin < PIN_COUNT; pin++) {
		if (!pin_available(pin))
			continue;
		for (int t = 0; t < 4; t++) {
			struct bench *b = plan_add(p);
			snprintf(ids[pin][t], sizeof ids[pin][t], "null.%s.%s", transports[t], pin_name[pin]);
			b->id = ids[pin][t];
			b->section = SEC_NULL;
			b->transport = transports[t];
			b->label = labels[t];
			b->pin = pin;
			b->bytes = 8;
			b->clients = 1;
			b->n = calls(p, 5000);
			b->warm = b->n / 10;
			b->setup = setup_null;
			b->run = run_null;
		}
	}
	if (pin_available(PIN_SAME)) {
		struct bench *b = plan_add(p);
		b->id = "null.interleaved.same";
		b->section = SEC_NULL;
		b->transport = "interleaved";
		b->label = "door_call ÷ futex, interleaved blocks";
		b->pin = PIN_SAME;
		b->bytes = 8;
		b->clients = 1;
		b->ratio = 1;
		b->n = calls(p, 100);
		b->warm = 2;
		b->setup = setup_interleaved;
		b->run = run_interleaved;
	}
	if (pin_available(PIN_DIFF)) {
		struct bench *b = plan_add(p);
		b->id = "null.cacheline.diff";
		b->section = SEC_NULL;
		b->transport = "cacheline";
		b->label = "a cache line handed between the two CPUs, one way";
		b->pin = PIN_DIFF;
		b->clients = 1;
		b->n = calls(p, 200);
		b->warm = 20;
		b->setup = setup_nothing;
		b->run = run_cacheline;
	}
}

/* ------------------------------------------------------------------ */
/* Large arguments and results: door_call, SOCK_STREAM, memcpy          */
/* ------------------------------------------------------------------ */

/* Shared by the size and result sections: one door server with a "sum",
 * a "touch" and a "give" door, one SOCK_STREAM server, the client's
 * buffers. */
static struct door_server big_ds;
static int big_sum_fd = -1, big_touch_fd = -1, big_give_fd = -1, stream_fd = -1;
static uint64_t *arg_buf, *dst_buf;
static uint64_t big_seq = 1;

struct stream_hdr {
	uint64_t op;      /* 1: argument of `size` bytes follows, reply 64 B; 2: send `size` bytes */
	uint64_t size;
	uint64_t seq;
};

static void stream_server(void *arg)
{
	int fd = *(int *)arg;
	uint64_t *buf = private_alloc(MAX_ARG);
	result_buf = private_alloc(MAX_RESULT);
	fill_pattern(result_buf, MAX_RESULT);
	for (;;) {
		struct stream_hdr h;
		if (!read_full(fd, &h, sizeof h, 1))
			_exit(0);
		if (h.op == 1 && h.size <= MAX_ARG && h.size % 8 == 0) {
			read_full(fd, buf, h.size, 0);
			uint64_t out[REPLY_WORDS];
			make_reply(out, sum_words(buf, h.size), h.size);
			write_full(fd, out, sizeof out);
		} else if (h.op == 2 && h.size > 0 && h.size <= MAX_RESULT && h.size % 8 == 0) {
			mark_result(result_buf, h.size, h.seq);
			write_full(fd, result_buf, h.size);
		} else {
			die("stream server: bad request");
		}
	}
}

static void setup_big(struct bench *b)
{
	(void)b;
	if (arg_buf != NULL)
		return;
	arg_buf = private_alloc(MAX_ARG);
	fill_pattern(arg_buf, MAX_ARG);
	dst_buf = private_alloc(MAX_ARG);
	big_ds.ndoors = 3;
	big_ds.names[0] = "sum";
	big_ds.procs[0] = sum_proc;
	big_ds.names[1] = "give";
	big_ds.procs[1] = give_proc;
	big_ds.names[2] = "touch";
	big_ds.procs[2] = touch_proc;
	start_door_server(&big_ds, PIN_FREE);
	big_sum_fd = open_door("sum", big_ds.pid);
	big_give_fd = open_door("give", big_ds.pid);
	big_touch_fd = open_door("touch", big_ds.pid);
	int sv[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	spawn_child(PIN_FREE, stream_server, &sv[1]);
	close(sv[1]);
	stream_fd = sv[0];
}

/* The expected reply to arg_buf's first `size` bytes with word 0 = seq:
 * the sum of every word, or (`touch`) of one word a page. */
static void check_reply(const char *what, const uint64_t *out, size_t got, size_t size, uint64_t seq, int touch)
{
	uint64_t want[REPLY_WORDS];
	make_reply(want, touch ? sum_page_words(arg_buf, size) : sum_words(arg_buf + 1, size - 8) + seq, size);
	if (got != sizeof want || memcmp(out, want, sizeof want) != 0)
		die("%s: wrong reply for %zu bytes", what, size);
}

/* A copy of arg_buf's first SKEW_SIZE bytes that starts SKEW_ARG bytes into
 * a page: where the library's page-aligned buffers lie a few bytes past it
 * within a page (`sys::just_behind` in the library). */
#define STR_(x) #x
#define STR(x) STR_(x)
#define SKEW_SIZE (64u << 10)
#define SKEW_ARG 4080
#define SKEW_RESULT 16
static char *skew_arg;

static double door_arg_once(size_t size, int touch, int skew)
{
	uint64_t seq = big_seq++, out[REPLY_WORDS];
	arg_buf[0] = seq;
	char *argp = (char *)arg_buf;
	if (skew) {
		if (skew_arg == NULL) {
			skew_arg = (char *)private_alloc(SKEW_SIZE + 4096) + SKEW_ARG;
			memcpy(skew_arg, arg_buf, SKEW_SIZE);
		}
		memcpy(skew_arg, &seq, sizeof seq);
		argp = skew_arg;
	}
	door_arg_t a = { argp, size, NULL, 0, (char *)out, sizeof out };
	double t0 = now_ns();
	int r = door_call(touch ? big_touch_fd : big_sum_fd, &a);
	double t1 = now_ns();
	if (r != 0)
		die_errno("door_call (%zu-byte argument)", size);
	if (a.rbuf != (char *)out || a.data_ptr != (char *)out)
		die("door_call (%zu-byte argument): results not in rbuf", size);
	check_reply("door_call", out, a.data_size, size, seq, touch);
	return t1 - t0;
}

static double stream_arg_once(size_t size)
{
	uint64_t seq = big_seq++, out[REPLY_WORDS];
	arg_buf[0] = seq;
	struct stream_hdr h = { 1, size, seq };
	double t0 = now_ns();
	writev_full(stream_fd, &h, sizeof h, arg_buf, size);
	read_full(stream_fd, out, sizeof out, 0);
	double t1 = now_ns();
	check_reply("SOCK_STREAM", out, sizeof out, size, seq, 0);
	return t1 - t0;
}

/* How many times an in-process copy of `size` bytes repeats within one
 * timing: small sizes repeat to keep the timer's cost out. */
static int in_process_reps(size_t size)
{
	return size >= (256u << 10) ? 1 : (int)((256u << 10) / size);
}

/* memcpy of `size` bytes in this process. */
static double memcpy_once(size_t size)
{
	int reps = in_process_reps(size);
	double t0 = now_ns();
	for (int r = 0; r < reps; r++) {
		uint64_t seq = big_seq++;
		arg_buf[0] = seq;
		memcpy(dst_buf, arg_buf, size);
		if (dst_buf[0] != seq || dst_buf[size / 8 - 1] != arg_buf[size / 8 - 1])
			die("memcpy: wrong copy");
	}
	return (now_ns() - t0) / reps;
}

/* A memcpy and then the server procedure's sum over the copy, in this
 * process: the least that any transport giving the procedure a copy of its
 * own can cost, since it must make that copy and the procedure reads it. */
static double copysum_once(size_t size)
{
	int reps = in_process_reps(size);
	uint64_t sum = 0;
	double t0 = now_ns();
	for (int r = 0; r < reps; r++) {
		arg_buf[0] = big_seq++;
		memcpy(dst_buf, arg_buf, size);
		sum = sum_words(dst_buf, size);
	}
	double t1 = now_ns();
	if (sum != sum_words(arg_buf, size))
		die("memcpy and sum: wrong sum");
	return (t1 - t0) / reps;
}

static double size_once(struct bench *b)
{
	if (strcmp(b->transport, "door") == 0)
		return door_arg_once(b->bytes, 0, 0);
	if (strcmp(b->transport, "door-skew") == 0)
		return door_arg_once(b->bytes, 0, 1);
	if (strcmp(b->transport, "touch") == 0)
		return door_arg_once(b->bytes, 1, 0);
	if (strcmp(b->transport, "stream") == 0)
		return stream_arg_once(b->bytes);
	if (strcmp(b->transport, "copysum") == 0)
		return copysum_once(b->bytes);
	return memcpy_once(b->bytes);
}

static int run_size(struct bench *b, double *s)
{
	return timed_loop(b, s, size_once);
}

static int calls_for_size(const struct plan *p, size_t size)
{
	return calls(p, size <= (4u << 10) ? 1000 : size <= (64u << 10) ? 500 : size <= (1u << 20) ? 100 : 10);
}

/* One SKEW_SIZE configuration of the size or result section (report.c,
 * "Buffers a few bytes out of step"). */
static void add_skew_bench(struct plan *p, const char *id, enum section section, const char *transport,
    const char *label, int (*run)(struct bench *, double *))
{
	struct bench *b = plan_add(p);
	b->id = id;
	b->section = section;
	b->transport = transport;
	b->label = label;
	b->pin = PIN_FREE;
	b->bytes = SKEW_SIZE;
	b->clients = 1;
	b->n = calls_for_size(p, SKEW_SIZE);
	b->warm = b->n / 10;
	b->setup = setup_big;
	b->run = run;
}

void add_size_benches(struct plan *p)
{
	static const char *const transports[] = { "door", "touch", "stream", "memcpy", "copysum" };
	static const char *const labels[] = { "door_call", "door_call, the procedure reading one word a page",
		"AF_UNIX SOCK_STREAM", "memcpy in one process", "memcpy and the procedure's sum in one process" };
	enum { NT = sizeof transports / sizeof transports[0] };
	static char ids[4][NT][32];
	for (int i = 0; i < 4; i++) {
		for (int t = 0; t < NT; t++) {
			struct bench *b = plan_add(p);
			snprintf(ids[i][t], sizeof ids[i][t], "size.%s.%s", transports[t], size_key(arg_sizes[i]));
			b->id = ids[i][t];
			b->section = SEC_SIZE;
			b->transport = transports[t];
			b->label = labels[t];
			b->pin = PIN_FREE;
			b->bytes = arg_sizes[i];
			b->clients = 1;
			b->n = calls_for_size(p, arg_sizes[i]);
			b->warm = b->n / 10 > 0 ? b->n / 10 : 1;
			b->setup = setup_big;
			b->run = run_size;
		}
	}
	add_skew_bench(p, "size.door-skew.64K", SEC_SIZE, "door-skew",
	    "door_call, the argument " STR(SKEW_ARG) " bytes into a page", run_size);
}

/* Results: into a small rbuf (the overflow mapping, unmapped each call),
 * into an rbuf large enough, and through SOCK_STREAM. */
static double door_result_once(size_t size, int overflow, int skew)
{
	uint64_t seq = big_seq++, req[2] = { size, seq }, small[8];
	char *rbuf = overflow ? (char *)small : (char *)dst_buf + (skew ? SKEW_RESULT : 0);
	size_t rsize = overflow ? sizeof small : size;
	door_arg_t a = { (char *)req, sizeof req, NULL, 0, rbuf, rsize };
	double t0 = now_ns();
	int r = door_call(big_give_fd, &a);
	double t1 = now_ns();
	if (r != 0)
		die_errno("door_call (%zu-byte result)", size);
	if (a.data_ptr != a.rbuf || (overflow ? (a.rbuf == rbuf || a.rsize < size) : (a.rbuf != rbuf || a.rsize != rsize)))
		die("door_call (%zu-byte result): results in the wrong place", size);
	if (skew) {
		/* Checked where its words are aligned (the copy is not timed). */
		memmove(dst_buf, a.rbuf, a.data_size);
		a.rbuf = (char *)dst_buf;
	}
	check_result("door_call", (const uint64_t *)a.rbuf, a.data_size, size, seq);
	if (!overflow)
		return t1 - t0;
	double t2 = now_ns();
	if (munmap(a.rbuf, a.rsize) != 0)
		die_errno("munmap of the result mapping");
	return t1 - t0 + (now_ns() - t2);
}

static double stream_result_once(size_t size)
{
	uint64_t seq = big_seq++;
	struct stream_hdr h = { 2, size, seq };
	double t0 = now_ns();
	write_full(stream_fd, &h, sizeof h);
	read_full(stream_fd, dst_buf, size, 0);
	double t1 = now_ns();
	check_result("SOCK_STREAM", dst_buf, size, size, seq);
	return t1 - t0;
}

static double result_once(struct bench *b)
{
	if (strcmp(b->transport, "door-overflow") == 0)
		return door_result_once(b->bytes, 1, 0);
	if (strcmp(b->transport, "door-rbuf") == 0)
		return door_result_once(b->bytes, 0, 0);
	if (strcmp(b->transport, "door-rbuf-skew") == 0)
		return door_result_once(b->bytes, 0, 1);
	return stream_result_once(b->bytes);
}

static int run_result(struct bench *b, double *s)
{
	return timed_loop(b, s, result_once);
}

void add_result_benches(struct plan *p)
{
	static const char *const transports[] = { "door-overflow", "door-rbuf", "stream" };
	static const char *const labels[] = { "door_call, result in a new mapping (munmap included)",
		"door_call, result in rbuf", "AF_UNIX SOCK_STREAM" };
	static char ids[N_RESULT_SIZES][3][40];
	for (int i = 0; i < N_RESULT_SIZES; i++) {
		for (int t = 0; t < 3; t++) {
			struct bench *b = plan_add(p);
			snprintf(ids[i][t], sizeof ids[i][t], "result.%s.%s", transports[t], size_key(result_sizes[i]));
			b->id = ids[i][t];
			b->section = SEC_RESULT;
			b->transport = transports[t];
			b->label = labels[t];
			b->pin = PIN_FREE;
			b->bytes = result_sizes[i];
			b->clients = 1;
			b->n = calls_for_size(p, result_sizes[i]);
			b->warm = b->n / 10;
			b->setup = setup_big;
			b->run = run_result;
		}
	}
	add_skew_bench(p, "result.door-rbuf-skew.64K", SEC_RESULT, "door-rbuf-skew",
	    "door_call, result in rbuf " STR(SKEW_RESULT) " bytes into a page", run_result);
}

/* ------------------------------------------------------------------ */
/* Throughput: client threads and client processes on one door          */
/* ------------------------------------------------------------------ */

#define CREW_MAX 128
#define PROC_CLIENTS 100
#define MAX_THREADS 16

/* Workers wait for `gen` to move; those below the round's number of
 * active workers call until `stop`, store their count and leave `running`.
 * `gen` holds a round number (low 24 bits) and that round's number of
 * active workers (high 8 bits), so a worker waking late reads both from one
 * value and never joins a round as another's. Lives in shared memory. */
struct crew {
	_Atomic uint32_t gen, stop, running, ready;
	_Atomic uint32_t what;   /* this round's calls: enum crew_calls */
	uint64_t count[CREW_MAX];
};
enum crew_calls { CALL_NULL, CALL_WORK, CALL_FLOOR_NULL, CALL_FLOOR_WORK };
#define CREW_ROUND_MASK 0xFFFFFFu
#define CREW_ACTIVE_SHIFT 24

static struct door_server rate_ds;
static struct crew *proc_crew, *thread_crew;
static int rate_fd = -1, work_fd = -1;
/* The floor for calls from client threads: futex ping-pongs, one per
 * client thread, each answered by a thread of its own in another process
 * (after the same computation, for calls with work). */
static struct futex_shm *floor_shm;
static void floor_server(void *arg);
static int rate_started;
static int thread_crew_started;
static double rate_window;

/* `fd` is the null door, `wfd` the work door and `floor` this worker's
 * futex ping-pong (-1 and NULL: never asked for). */
static void crew_work(struct crew *c, int idx, int fd, int wfd, struct futex_shm *floor)
{
	struct null_state ping = { .shm = floor, .x = (uint64_t)idx << 40 };
	uint32_t seen = atomic_load(&c->gen);
	uint64_t x = (uint64_t)idx << 40;
	for (int i = 0; i < 10; i++) {   /* opens this thread's connections */
		door_null(fd, x++);
		if (wfd >= 0)
			door_null(wfd, x++);
	}
	atomic_fetch_add(&c->ready, 1);
	futex_wake_all(&c->ready);
	for (;;) {
		uint32_t g;
		while ((g = atomic_load(&c->gen)) == seen)
			futex_wait(&c->gen, seen, 3600);
		seen = g;
		if ((uint32_t)idx >= g >> CREW_ACTIVE_SHIFT)
			continue;
		enum crew_calls what = atomic_load(&c->what);
		int door = what == CALL_WORK ? wfd : fd, futex = what == CALL_FLOOR_NULL || what == CALL_FLOOR_WORK;
		CHECK(futex ? floor != NULL : door >= 0);
		if (futex)   /* read by its server after our request's store */
			floor->work = what == CALL_FLOOR_WORK;
		uint64_t n = 0;
		for (;;) {
			if (futex)
				futex_null(&ping);
			else
				door_null(door, x++);
			if (atomic_load(&c->stop))
				break;
			n++;
		}
		c->count[idx] = n;
		if (atomic_fetch_sub(&c->running, 1) == 1)
			futex_wake_all(&c->running);
	}
}

static void wait_ready(struct crew *c, uint32_t want)
{
	uint32_t r;
	while ((r = atomic_load(&c->ready)) < want)
		futex_wait_change(&c->ready, r, "client crew start");
}

struct proc_client { int idx; };

static void proc_client_main(void *arg)
{
	int idx = ((struct proc_client *)arg)->idx;
	int fd = open_door("rate", rate_ds.pid);
	crew_work(proc_crew, idx, fd, -1, NULL);
}

static void *thread_client_main(void *arg)
{
	int idx = (int)(intptr_t)arg;
	crew_work(thread_crew, idx, rate_fd, work_fd, &floor_shm[idx]);
	return NULL;
}

static void setup_rate(struct bench *b)
{
	if (rate_started)
		return;
	rate_started = 1;
	rate_ds.ndoors = 2;
	rate_ds.names[0] = "rate";
	rate_ds.procs[0] = null_proc;
	rate_ds.names[1] = "work";
	rate_ds.procs[1] = work_proc;
	start_door_server(&rate_ds, PIN_FREE);
	rate_fd = open_door("rate", rate_ds.pid);
	work_fd = open_door("work", rate_ds.pid);
	floor_shm = shared_alloc(sizeof *floor_shm * MAX_THREADS);
	spawn_child(PIN_FREE, floor_server, NULL);
	thread_crew = shared_alloc(sizeof *thread_crew);
	proc_crew = shared_alloc(sizeof *proc_crew);
	(void)b;
}

static void setup_rate_procs(struct bench *b)
{
	setup_rate(b);
	for (int i = 0; i < b->clients; i++) {
		struct proc_client pc = { i };
		spawn_child(PIN_FREE, proc_client_main, &pc);
	}
	wait_ready(proc_crew, (uint32_t)b->clients);
}

static void floor_server(void *arg)
{
	(void)arg;
	for (int i = 1; i < MAX_THREADS; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, futex_serve_thread, &floor_shm[i]) != 0)
			die("pthread_create (futex floor)");
	}
	futex_serve(&floor_shm[0]);
}

/* Threads start at the first round, after every fork of the setup. */
static void start_thread_crew(void)
{
	if (thread_crew_started)
		return;
	thread_crew_started = 1;
	pin_self(PIN_FREE, 0);
	for (int i = 0; i < MAX_THREADS; i++) {
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, thread_client_main, (void *)(intptr_t)i) != 0)
			die("pthread_create");
		pthread_attr_destroy(&at);
	}
	wait_ready(thread_crew, MAX_THREADS);
}

/* One round: k workers call for the window; calls/s over the window. */
static double crew_round(struct crew *c, int k)
{
	for (int i = 0; i < k; i++)
		c->count[i] = 0;
	CHECK(k > 0 && k <= CREW_MAX);
	atomic_store(&c->stop, 0);
	atomic_store(&c->running, (uint32_t)k);
	uint32_t next = ((atomic_load(&c->gen) + 1) & CREW_ROUND_MASK) | (uint32_t)k << CREW_ACTIVE_SHIFT;
	double t0 = now_ns();
	atomic_store(&c->gen, next);
	futex_wake_all(&c->gen);
	struct timespec ts = { (time_t)rate_window, (long)((rate_window - (time_t)rate_window) * 1e9) };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
	atomic_store(&c->stop, 1);
	double t1 = now_ns();
	uint32_t r;
	while ((r = atomic_load(&c->running)) != 0)
		futex_wait_change(&c->running, r, "throughput clients");
	uint64_t total = 0;
	for (int i = 0; i < k; i++)
		total += c->count[i];
	if (total == 0)
		die("throughput: no call completed in the window");
	return (double)total / ((t1 - t0) / 1e9);
}

static int run_rate(struct bench *b, double *s)
{
	if (strcmp(b->transport, "door-procs") == 0) {
		s[0] = crew_round(proc_crew, b->clients);
	} else {
		start_thread_crew();
		enum crew_calls what = strcmp(b->transport, "door-work") == 0 ? CALL_WORK
		    : strcmp(b->transport, "futex-work") == 0    ? CALL_FLOOR_WORK
		    : strcmp(b->transport, "futex-threads") == 0 ? CALL_FLOOR_NULL
		                                                 : CALL_NULL;
		atomic_store(&thread_crew->what, what);
		s[0] = crew_round(thread_crew, b->clients);
	}
	return 1;
}

/* The procedure's computation alone, in this process: what a call with
 * work costs at least. */
static double work_alone_once(struct bench *b)
{
	(void)b;
	double t0 = now_ns();
	work_sink = procedure_work((uint64_t)t0);
	return now_ns() - t0;
}

static int run_work_alone(struct bench *b, double *s)
{
	return timed_loop(b, s, work_alone_once);
}

/* Null calls from 1 to 16 threads and from 100 processes; then calls
 * whose procedure computes (`work_proc`) from 1 to 16 threads: with the
 * transport's cost small next to the work, these show whether the pool
 * runs calls on every CPU there is. Beside each from threads, its floor:
 * as many futex ping-pongs, null or with the same work. */
void add_rate_benches(struct plan *p)
{
	static const int threads[] = { 1, 2, 4, MAX_THREADS };
	static char ids[17][32];
	rate_window = p->window_s;
	for (int i = 0; i < 17; i++) {
		struct bench *b = plan_add(p);
		/* 0-7 null calls, 8 processes, 9-16 with work; door and floor alternate */
		int procs = i == 8, work = i > 8, floor = !procs && (i - work) % 2 == 1;
		b->clients = procs ? PROC_CLIENTS : threads[(i - 9 * work) / 2];
		snprintf(ids[i], sizeof ids[i], "rate.%s.%d",
		    procs ? "procs" : work ? (floor ? "floor" : "work") : (floor ? "futex" : "threads"), b->clients);
		b->id = ids[i];
		b->section = SEC_RATE;
		b->transport = procs ? "door-procs"
		    : work       ? (floor ? "futex-work" : "door-work")
		                 : (floor ? "futex-threads" : "door-threads");
		b->label = procs ? "client processes"
		    : work       ? (floor ? "futex ping-pongs with work, one per client thread" : "client threads, calls with work")
		                 : (floor ? "futex ping-pongs, one per client thread" : "client threads");
		b->pin = PIN_FREE;
		b->bytes = 8;
		b->rate = 1;
		b->n = 1;
		b->setup = procs ? setup_rate_procs : setup_rate;
		b->run = run_rate;
	}
	struct bench *b = plan_add(p);
	b->id = "rate.work.alone";
	b->section = SEC_RATE;
	b->transport = "work-alone";
	b->label = "the procedure's work alone";
	b->pin = PIN_FREE;
	b->n = p->quick ? 100 : 400;
	b->warm = 10;
	b->setup = setup_rate;
	b->run = run_work_alone;
}

/* ------------------------------------------------------------------ */
/* Set-up costs                                                         */
/* ------------------------------------------------------------------ */

/* door_create and socketpair run in a helper process (a door server of
 * its own), on command. */
struct creator {
	int cmd[2], done[2];
	double *samples;        /* shared */
	int max;
};
struct creator_cmd { int op, n, warm; double deadline; };
static struct creator creator;
static struct door_server setup_ds;
static int setup_started;

static double door_create_once(struct bench *b)
{
	(void)b;
	double t0 = now_ns();
	int d = door_create(null_proc, NULL, 0);
	double t1 = now_ns();
	if (d < 0)
		die_errno("door_create");
	door_info_t di;
	if (door_info(d, &di) != 0 || di.di_target != getpid() || di.di_proc != (door_ptr_t)(uintptr_t)null_proc)
		die("door_create: door_info disagrees");
	if (door_revoke(d) != 0)
		die_errno("door_revoke");
	return t1 - t0;
}

static double socketpair_once(struct bench *b)
{
	(void)b;
	int sv[2];
	double t0 = now_ns();
	int r = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
	double t1 = now_ns();
	if (r != 0)
		die_errno("socketpair");
	close(sv[0]);
	close(sv[1]);
	return t1 - t0;
}

static void creator_main(void *arg)
{
	struct creator *c = arg;
	close(c->cmd[1]);
	close(c->done[0]);
	for (;;) {
		struct creator_cmd cmd;
		if (!read_full(c->cmd[0], &cmd, sizeof cmd, 1))
			_exit(0);
		CHECK(cmd.n <= c->max);
		struct bench b = { .n = cmd.n, .warm = cmd.warm, .deadline = cmd.deadline };
		int got = timed_loop(&b, c->samples, cmd.op == 1 ? door_create_once : socketpair_once);
		write_full(c->done[1], &got, sizeof got);
	}
}

/* A plain AF_UNIX server: accept, an 8-byte round trip, close. */
static void listen_server(void *arg)
{
	int l = *(int *)arg;
	for (;;) {
		int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (s < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die_errno("accept");
		}
		uint64_t v;
		if (recv(s, &v, sizeof v, 0) == sizeof v) {
			v++;
			if (send(s, &v, sizeof v, MSG_NOSIGNAL) != sizeof v)
				die_errno("listen server: send");
		}
		close(s);
	}
}

#define SETUP_N 400        /* quick mode's calls per round */
#define FIRST_CALL_N 150

static void setup_setup(struct bench *b)
{
	if (setup_started) {
		CHECK(b->n <= creator.max);
		return;
	}
	setup_started = 1;
	creator.max = FULL_SCALE * SETUP_N;
	creator.samples = shared_alloc(sizeof(double) * (size_t)creator.max);
	CHECK_OK(pipe2(creator.cmd, O_CLOEXEC));
	CHECK_OK(pipe2(creator.done, O_CLOEXEC));
	spawn_child(PIN_FREE, creator_main, &creator);
	close(creator.cmd[0]);
	close(creator.done[1]);

	setup_ds.ndoors = 1;
	setup_ds.names[0] = "setup";
	setup_ds.procs[0] = null_proc;
	start_door_server(&setup_ds, PIN_FREE);

	char path[PATH_BUF];
	work_path(path, "listen.sock");
	int l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	CHECK(l >= 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	CHECK(strlen(path) < sizeof sa.sun_path);
	strcpy(sa.sun_path, path);
	CHECK_OK(bind(l, (struct sockaddr *)&sa, sizeof sa));
	CHECK_OK(listen(l, 128));
	spawn_child(PIN_FREE, listen_server, &l);
	close(l);

	work_path(path, "plain.file");
	int f = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(f >= 0);
	close(f);
}

static int run_creator(struct bench *b, double *s, int op)
{
	struct creator_cmd cmd = { op, b->n, b->warm, b->deadline };
	write_full(creator.cmd[1], &cmd, sizeof cmd);
	int got;
	read_full(creator.done[0], &got, sizeof got, 0);
	CHECK(got > 0 && got <= b->n);
	memcpy(s, creator.samples, sizeof(double) * (size_t)got);
	return got;
}

static double open_once(const char *name, int door)
{
	char path[PATH_BUF];
	work_path(path, name);
	double t0 = now_ns();
	int fd = open(path, O_RDONLY);
	double t1 = now_ns();
	if (fd < 0)
		die_errno("open %s", path);
	if (door) {
		door_info_t di;
		if (door_info(fd, &di) != 0 || di.di_target != setup_ds.pid)
			die("open %s: not the server's door", path);
	}
	close(fd);
	return t1 - t0;
}

static double connect_once(void)
{
	char path[PATH_BUF];
	work_path(path, "listen.sock");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	uint64_t x = 77, v = 0;
	double t0 = now_ns();
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		die_errno("socket");
	if (connect(s, (struct sockaddr *)&sa, sizeof sa) != 0)
		die_errno("connect %s", path);
	if (send(s, &x, sizeof x, MSG_NOSIGNAL) != sizeof x)
		die_errno("send");
	ssize_t r = recv(s, &v, sizeof v, 0);
	double t1 = now_ns();
	if (r != sizeof v || v != x + 1)
		die_errno("connect: wrong answer");
	close(s);
	return t1 - t0;
}

/* A new thread opens the door and calls it twice. Its first call takes
 * the connection an ended thread left (the previous sample's), as a
 * program whose threads come and go finds it. */
struct first_call { double first; };

static void *first_call_thread(void *arg)
{
	struct first_call *fc = arg;
	char path[PATH_BUF];
	work_path(path, "setup");
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		die_errno("open %s", path);
	fc->first = door_null(fd, 5);
	door_null(fd, 6);
	close(fd);
	return NULL;
}

static double first_call_once(void)
{
	struct first_call fc;
	pthread_t t;
	if (pthread_create(&t, NULL, first_call_thread, &fc) != 0)
		die("pthread_create");
	if (pthread_join(t, NULL) != 0)
		die("pthread_join");
	return fc.first;
}

/* A forked child opens the door and calls it once: a new process, with no
 * ended thread's connection to take, as a one-shot client. The call alone
 * is timed, in the child, and sent back through a pipe. */
static double first_call_in_child(void)
{
	int p[2];
	CHECK_OK(pipe(p));
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		char path[PATH_BUF];
		work_path(path, "setup");
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			die_errno("open %s", path);
		double t = door_null(fd, 7);
		write_full(p[1], &t, sizeof t);
		_exit(0);
	}
	close(p[1]);
	double t;
	read_full(p[0], &t, sizeof t, 0);
	close(p[0]);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return t;
}

static double setup_once(struct bench *b)
{
	if (strcmp(b->transport, "open-door") == 0)
		return open_once("setup", 1);
	if (strcmp(b->transport, "open-file") == 0)
		return open_once("plain.file", 0);
	if (strcmp(b->transport, "connect") == 0)
		return connect_once();
	if (strcmp(b->transport, "first-call-process") == 0)
		return first_call_in_child();
	return first_call_once();
}

static int run_setup(struct bench *b, double *s)
{
	if (strcmp(b->transport, "door_create") == 0 || strcmp(b->transport, "socketpair") == 0)
		return run_creator(b, s, b->transport[0] == 'd' ? 1 : 2);
	return timed_loop(b, s, setup_once);
}

void add_setup_benches(struct plan *p)
{
	static const struct { const char *id, *transport, *label; } rows[] = {
		{ "setup.door_create", "door_create", "door_create()" },
		{ "setup.socketpair", "socketpair", "socketpair(AF_UNIX, SOCK_SEQPACKET)" },
		{ "setup.open.door", "open-door", "open() of an attached door" },
		{ "setup.open.file", "open-file", "open() of a regular file" },
		{ "setup.connect", "connect", "AF_UNIX connect() + 8-byte round trip" },
		{ "setup.first_call", "first-call", "first door_call of a new thread on a new descriptor" },
		{ "setup.first_call_process", "first-call-process", "first door_call of a new process" },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct bench *b = plan_add(p);
		b->id = rows[i].id;
		b->section = SEC_SETUP;
		b->transport = rows[i].transport;
		b->label = rows[i].label;
		b->pin = PIN_FREE;
		b->clients = 1;
		b->n = calls(p, strncmp(rows[i].transport, "first-call", 10) == 0 ? FIRST_CALL_N : SETUP_N);
		b->warm = b->n / 10;
		b->setup = setup_setup;
		b->run = run_setup;
	}
}
