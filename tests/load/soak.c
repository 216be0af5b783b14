/*
 * soak: libdoor's load test (a load test, not a timed test: it measures no
 * latency and has no deadline but a generous watchdog).
 *
 * One server process with a capped pool (at most POOL_CAP threads, made by
 * its own door_server_create function) serves one attached door. P client
 * processes of T threads each make N calls apiece, mixing:
 *   - data calls: arguments of 0 B to 1 MiB, results of 0 B to 1 MiB, so
 *     that most results overflow the caller's 4 KiB rbuf into a mapping
 *     the library makes (which the client unmaps);
 *   - descriptor calls: a memfd passed in, another passed back with
 *     DOOR_RELEASE;
 *   - per-client doors: the server makes a DOOR_UNREF door, keeps its
 *     descriptor (in the cookie) and passes a copy; the client calls the
 *     new door twice and closes it; the unreferenced notification revokes
 *     it (door_revoke closes the server's descriptor).
 * Every argument is checked by the server and every reply by the client
 * (sizes and every byte); the first wrong one ends the run with an error.
 *
 * The parent samples the server's RSS and descriptor count before the load,
 * after the first tenth of the calls (warm: pools, bulk buffers and malloc
 * arenas have grown), every few seconds, and after every client has exited
 * and the server has settled. It fails if the server's descriptor count at
 * the end differs from the start, or if RSS at the end exceeds the warm
 * figure by more than the given slack.
 *
 * Usage: soak [-p procs] [-t threads] [-n calls-per-thread] [-s rss-slack-KiB]
 */
#define _GNU_SOURCE
#include "../c/door_test.h"

#include <dirent.h>
#include <stdatomic.h>
#include <sys/mman.h>

#define POOL_CAP 12
#define MAX_SIZE (1u << 20)
#define SMALL_RBUF 4096

enum op { OP_DATA = 1, OP_DESC = 2, OP_NEWDOOR = 3, OP_CHILD = 4 };

struct request {
	uint32_t op;
	uint32_t arg_size;    /* bytes after this header */
	uint32_t res_size;    /* bytes wanted back */
	uint32_t pad;
	uint64_t seed;
};

struct reply_head {
	uint32_t status;      /* 0, or the line of the server's failed check */
	uint32_t size;        /* bytes of pattern after this header */
	uint64_t seed;
};

/* Progress of the clients, in shared memory. */
struct shared {
	_Atomic uint64_t calls;
	_Atomic uint64_t errors;
};

static struct shared *shared;

/* The byte at offset i of the pattern for `seed`. */
static inline uint8_t pattern_byte(uint64_t seed, size_t i)
{
	uint64_t x = seed + (i / 8) * 0x9E3779B97F4A7C15ull;
	x ^= x >> 31;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 29;
	return (uint8_t)(x >> ((i % 8) * 8));
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern_byte(seed, i);
}

static int matches(const uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pattern_byte(seed, i))
			return 0;
	return 1;
}

static uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A size from 0 to 1 MiB, log-uniform so that every order of magnitude is
 * exercised, with a fifth of them zero. */
static uint32_t random_size(uint64_t *s)
{
	uint64_t r = next_random(s);
	if (r % 5 == 0)
		return 0;
	unsigned bits = (unsigned)((r >> 8) % 21);           /* 0..20 */
	uint32_t size = (uint32_t)((r >> 16) & ((1u << bits) - 1)) + (1u << bits) / 2;
	return size > MAX_SIZE ? MAX_SIZE : size;
}

/* ---------------------------------------------------------------- server */

static _Atomic int pool_threads;

static void *pool_thread(void *arg)
{
	(void)arg;
	door_return(NULL, 0, NULL, 0);
	return NULL;
}

/* The capped pool: a new thread only while fewer than POOL_CAP exist. */
static void capped_create(door_info_t *di)
{
	(void)di;
	if (atomic_fetch_add(&pool_threads, 1) >= POOL_CAP) {
		atomic_fetch_sub(&pool_threads, 1);
		return;
	}
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &a, pool_thread, NULL) != 0)
		atomic_fetch_sub(&pool_threads, 1);
	pthread_attr_destroy(&a);
}

static __thread uint8_t *reply_buf;

static uint8_t *server_buffer(void)
{
	if (reply_buf == NULL)
		reply_buf = malloc(sizeof(struct reply_head) + MAX_SIZE);
	return reply_buf;
}

#define SERVER_FAIL() do { struct reply_head h_ = { __LINE__, 0, 0 }; door_return((char *)&h_, sizeof h_, NULL, 0); } while (0)

/* A per-client door: answers with its seed; its unreferenced notification
 * revokes it (which closes the server's descriptor, kept in the cookie). */
static void child_proc(void *cookie, char *argp, size_t n, door_desc_t *dp, uint_t nd)
{
	(void)dp;
	uint64_t *self = cookie;     /* [0] = descriptor, [1] = seed */
	if (argp == DOOR_UNREF_DATA) {
		int fd = (int)self[0];
		free(self);
		door_revoke(fd);
		door_return(NULL, 0, NULL, 0);
	}
	if (nd != 0 || n != sizeof(struct request))
		SERVER_FAIL();
	struct reply_head h = { 0, 0, self[1] };
	door_return((char *)&h, sizeof h, NULL, 0);
}

static void main_proc(void *cookie, char *argp, size_t n, door_desc_t *dp, uint_t nd)
{
	(void)cookie;
	struct request rq;
	if (argp == DOOR_UNREF_DATA || n < sizeof rq)
		SERVER_FAIL();
	memcpy(&rq, argp, sizeof rq);
	if (rq.arg_size != n - sizeof rq || rq.res_size > MAX_SIZE)
		SERVER_FAIL();
	if (!matches((uint8_t *)argp + sizeof rq, rq.arg_size, rq.seed))
		SERVER_FAIL();
	uint8_t *out = server_buffer();
	struct reply_head *h = (struct reply_head *)out;
	h->status = 0;
	h->size = rq.res_size;
	h->seed = rq.seed ^ 0x5555;
	switch (rq.op) {
	case OP_DATA:
		if (nd != 0)
			SERVER_FAIL();
		fill(out + sizeof *h, rq.res_size, h->seed);
		door_return((char *)out, sizeof *h + rq.res_size, NULL, 0);
		break;
	case OP_DESC: {
		/* In: a memfd holding 64 pattern bytes. Out: a new one, released. */
		uint8_t got[64];
		if (nd != 1 || !(dp[0].d_attributes & DOOR_DESCRIPTOR))
			SERVER_FAIL();
		int in = dp[0].d_data.d_desc.d_descriptor;
		ssize_t r = pread(in, got, sizeof got, 0);
		close(in);
		if (r != (ssize_t)sizeof got || !matches(got, sizeof got, rq.seed))
			SERVER_FAIL();
		int m = memfd_create("soak-reply", MFD_CLOEXEC);
		if (m < 0)
			SERVER_FAIL();
		fill(got, sizeof got, h->seed);
		if (pwrite(m, got, sizeof got, 0) != (ssize_t)sizeof got) {
			close(m);
			SERVER_FAIL();
		}
		door_desc_t d = { .d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE };
		d.d_data.d_desc.d_descriptor = m;
		h->size = 0;
		door_return((char *)out, sizeof *h, &d, 1);
		break;
	}
	case OP_NEWDOOR: {
		if (nd != 0)
			SERVER_FAIL();
		uint64_t *self = malloc(2 * sizeof *self);
		if (self == NULL)
			SERVER_FAIL();
		int d = door_create(child_proc, self, DOOR_UNREF);
		if (d < 0) {
			free(self);
			SERVER_FAIL();
		}
		self[0] = (uint64_t)d;
		self[1] = h->seed;
		door_desc_t dd = { .d_attributes = DOOR_DESCRIPTOR };
		dd.d_data.d_desc.d_descriptor = d;
		h->size = 0;
		door_return((char *)out, sizeof *h, &dd, 1);
		break;
	}
	default:
		SERVER_FAIL();
	}
}

static void server(void *path)
{
	door_server_create(capped_create);
	int d = door_create(main_proc, NULL, 0);
	CHECK(d >= 0);
	make_file(path, 0644);
	CHECK_OK(fattach(d, path));
	door_return(NULL, 0, NULL, 0);
}

/* ---------------------------------------------------------------- client */

struct client_args {
	const char *path;
	int door;
	unsigned index;
	unsigned long calls;
};

#define CLIENT_FAIL(...) do { fprintf(stderr, "FAIL soak: client: " __VA_ARGS__); fputc('\n', stderr); atomic_fetch_add(&shared->errors, 1); exit(1); } while (0)

/* Makes one call and checks the reply head; returns the reply (in rbuf or a
 * mapping the caller must unmap, see unmap_reply). */
static void call(int d, door_arg_t *a, uint8_t *rbuf, const char *what)
{
	a->rbuf = (char *)rbuf;
	a->rsize = SMALL_RBUF;
	if (door_call(d, a) == -1)
		CLIENT_FAIL("%s: door_call: %s", what, strerror(errno));
	if (a->data_size < sizeof(struct reply_head))
		CLIENT_FAIL("%s: short reply of %zu bytes", what, a->data_size);
	struct reply_head h;
	memcpy(&h, a->data_ptr, sizeof h);
	if (h.status != 0)
		CLIENT_FAIL("%s: server check at soak.c:%u failed", what, h.status);
}

static void unmap_reply(door_arg_t *a, uint8_t *rbuf)
{
	if (a->rbuf != (char *)rbuf)
		CHECK_OK(munmap(a->rbuf, a->rsize));
}

static void data_call(int d, uint8_t *args, uint8_t *rbuf, uint64_t *rng)
{
	struct request rq = { OP_DATA, random_size(rng), random_size(rng), 0, next_random(rng) };
	memcpy(args, &rq, sizeof rq);
	fill(args + sizeof rq, rq.arg_size, rq.seed);
	door_arg_t a = { (char *)args, sizeof rq + rq.arg_size, NULL, 0, NULL, 0 };
	call(d, &a, rbuf, "data");
	struct reply_head h;
	memcpy(&h, a.data_ptr, sizeof h);
	if (a.desc_num != 0 || h.size != rq.res_size || a.data_size != sizeof h + rq.res_size
	    || h.seed != (rq.seed ^ 0x5555) || !matches((uint8_t *)a.data_ptr + sizeof h, h.size, h.seed))
		CLIENT_FAIL("data: wrong reply (size %zu, wanted %zu)", a.data_size, sizeof h + rq.res_size);
	if ((sizeof h + rq.res_size > SMALL_RBUF) != (a.rbuf != (char *)rbuf))
		CLIENT_FAIL("data: a reply of %zu bytes %s the 4 KiB rbuf", a.data_size, a.rbuf == (char *)rbuf ? "stayed in" : "left");
	unmap_reply(&a, rbuf);
}

static void desc_call(int d, uint8_t *rbuf, uint64_t *rng)
{
	struct request rq = { OP_DESC, 0, 0, 0, next_random(rng) };
	uint8_t bytes[64];
	int m = memfd_create("soak-arg", MFD_CLOEXEC);
	CHECK(m >= 0);
	fill(bytes, sizeof bytes, rq.seed);
	CHECK(pwrite(m, bytes, sizeof bytes, 0) == (ssize_t)sizeof bytes);
	door_desc_t dd = { .d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE };
	dd.d_data.d_desc.d_descriptor = m;
	door_arg_t a = { (char *)&rq, sizeof rq, &dd, 1, NULL, 0 };
	call(d, &a, rbuf, "desc");
	if (a.desc_num != 1 || !(a.desc_ptr[0].d_attributes & DOOR_DESCRIPTOR))
		CLIENT_FAIL("desc: %u descriptors back", a.desc_num);
	int got = a.desc_ptr[0].d_data.d_desc.d_descriptor;
	uint8_t back[64];
	if (pread(got, back, sizeof back, 0) != (ssize_t)sizeof back || !matches(back, sizeof back, rq.seed ^ 0x5555))
		CLIENT_FAIL("desc: wrong descriptor contents");
	close(got);
	unmap_reply(&a, rbuf);
}

static void newdoor_call(int d, uint8_t *rbuf, uint64_t *rng)
{
	struct request rq = { OP_NEWDOOR, 0, 0, 0, next_random(rng) };
	door_arg_t a = { (char *)&rq, sizeof rq, NULL, 0, NULL, 0 };
	call(d, &a, rbuf, "newdoor");
	if (a.desc_num != 1 || !(a.desc_ptr[0].d_attributes & DOOR_DESCRIPTOR))
		CLIENT_FAIL("newdoor: %u descriptors back", a.desc_num);
	int child = a.desc_ptr[0].d_data.d_desc.d_descriptor;
	unmap_reply(&a, rbuf);
	for (int i = 0; i < 2; i++) {
		struct request cq = { OP_CHILD, 0, 0, 0, 0 };
		door_arg_t c = { (char *)&cq, sizeof cq, NULL, 0, NULL, 0 };
		call(child, &c, rbuf, "per-client door");
		struct reply_head h;
		memcpy(&h, c.data_ptr, sizeof h);
		if (h.seed != (rq.seed ^ 0x5555))
			CLIENT_FAIL("per-client door: wrong seed");
		unmap_reply(&c, rbuf);
	}
	close(child);
}

static void *client_thread(void *arg)
{
	struct client_args *ca = arg;
	uint8_t *args = malloc(sizeof(struct request) + MAX_SIZE);
	uint8_t *rbuf = malloc(SMALL_RBUF);
	CHECK(args != NULL && rbuf != NULL);
	uint64_t rng = 0x1234567ull * (ca->index + 1) + 1;
	for (unsigned long i = 0; i < ca->calls; i++) {
		unsigned kind = (unsigned)(next_random(&rng) % 100);
		if (kind < 80) {
			data_call(ca->door, args, rbuf, &rng);
			atomic_fetch_add(&shared->calls, 1);
		} else if (kind < 92) {
			desc_call(ca->door, rbuf, &rng);
			atomic_fetch_add(&shared->calls, 1);
		} else if (i + 3 <= ca->calls) {
			newdoor_call(ca->door, rbuf, &rng);
			atomic_fetch_add(&shared->calls, 3);
			i += 2;
		} else {
			i--;   /* no room for three calls: draw again */
		}
	}
	free(args);
	free(rbuf);
	return NULL;
}

struct client_setup {
	const char *path;
	unsigned proc, threads;
	unsigned long calls;
};

static void client(void *arg)
{
	struct client_setup *cs = arg;
	int d = open(cs->path, O_RDONLY);
	CHECK(d >= 0);
	pthread_t t[64];
	struct client_args ca[64];
	for (unsigned i = 0; i < cs->threads; i++) {
		ca[i] = (struct client_args){ cs->path, d, cs->proc * 64 + i, cs->calls };
		CHECK(pthread_create(&t[i], NULL, client_thread, &ca[i]) == 0);
	}
	for (unsigned i = 0; i < cs->threads; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	close(d);
}

/* ------------------------------------------------------------- measuring */

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	long kib = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int fd_count(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *dir = opendir(path);
	CHECK(dir != NULL);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static int threads_of(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	int n = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

static void sample(const char *when, pid_t srv, double t0)
{
	printf("%-8s t=%7.1fs calls=%10llu  server: rss=%6ld KiB fds=%3d threads=%2d\n", when, now_seconds() - t0,
	    (unsigned long long)atomic_load(&shared->calls), rss_kib(srv), fd_count(srv), threads_of(srv));
	fflush(stdout);
}

/* Waits (up to `seconds`) for the server's descriptor count to come back to
 * `want`: channels and per-client doors are released by its control thread
 * after the clients' ends close, asynchronously. */
static int settle_fds(pid_t srv, int want, double seconds)
{
	double end = now_seconds() + seconds;
	int n;
	while ((n = fd_count(srv)) != want && now_seconds() < end)
		usleep(20000);   /* polling interval of the deadline loop */
	return n;
}

int main(int argc, char **argv)
{
	test_name = "soak";
	unsigned procs = 8, threads = 8;
	unsigned long calls = 100000;
	long slack_kib = 16384;
	int c;
	while ((c = getopt(argc, argv, "p:t:n:s:")) != -1) {
		switch (c) {
		case 'p': procs = (unsigned)atoi(optarg); break;
		case 't': threads = (unsigned)atoi(optarg); break;
		case 'n': calls = strtoul(optarg, NULL, 10); break;
		case 's': slack_kib = atol(optarg); break;
		default:
			fprintf(stderr, "usage: soak [-p procs] [-t threads] [-n calls-per-thread] [-s rss-slack-KiB]\n");
			return 2;
		}
	}
	CHECK(procs >= 1 && procs <= 64 && threads >= 1 && threads <= 64 && calls >= 1);
	shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(shared != MAP_FAILED);

	char path[512];
	snprintf(path, sizeof path, "%s/soak.door", test_dir());
	pid_t srv = spawn_tied(server, path);
	double end = now_seconds() + 60;
	struct stat st;
	while (!(stat(path, &st) == 0 && S_ISDOOR(st.st_mode))) {
		CHECK(now_seconds() < end);
		usleep(5000);   /* polling interval of the deadline loop */
	}

	unsigned long total = (unsigned long)procs * threads * calls;
	printf("soak: %u processes x %u threads x %lu calls = %lu calls, server pool capped at %d threads\n",
	    procs, threads, calls, total, POOL_CAP);
	double t0 = now_seconds();
	int fds_start = fd_count(srv);
	long rss_start = rss_kib(srv);
	sample("start", srv, t0);

	struct client_setup cs[64];
	for (unsigned p = 0; p < procs; p++) {
		cs[p] = (struct client_setup){ path, p, threads, calls };
		spawn_tied(client, &cs[p]);
	}
	long rss_warm = -1, rss_max = rss_start;
	int fds_max = fds_start;
	double next = now_seconds() + 5;
	unsigned running = procs;
	int failed = 0;
	while (running > 0) {
		int status;
		pid_t r = waitpid(-1, &status, WNOHANG);
		if (r > 0) {
			CHECK(r != srv);
			running--;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				fprintf(stderr, "FAIL soak: client %d ended with status 0x%x\n", (int)r, status);
				failed = 1;
			}
			continue;
		}
		long rss = rss_kib(srv);
		int fds = fd_count(srv);
		rss_max = rss > rss_max ? rss : rss_max;
		fds_max = fds > fds_max ? fds : fds_max;
		if (rss_warm < 0 && atomic_load(&shared->calls) >= total / 10) {
			rss_warm = rss;
			sample("warm", srv, t0);
		}
		if (now_seconds() >= next) {
			sample("during", srv, t0);
			next = now_seconds() + 30;
		}
		usleep(50000);   /* sampling interval */
	}
	int fds_end = settle_fds(srv, fds_start, 60);
	long rss_end = rss_kib(srv);
	sample("end", srv, t0);
	double secs = now_seconds() - t0;
	if (rss_warm < 0)
		rss_warm = rss_start;
	printf("calls %llu in %.1f s (%.0f/s), client errors %llu\n", (unsigned long long)atomic_load(&shared->calls),
	    secs, atomic_load(&shared->calls) / secs, (unsigned long long)atomic_load(&shared->errors));
	printf("server rss KiB: start %ld, warm %ld, max %ld, end %ld; fds: start %d, max %d, end %d\n", rss_start,
	    rss_warm, rss_max, rss_end, fds_start, fds_max, fds_end);
	kill_and_reap(srv);
	if (failed || atomic_load(&shared->errors) != 0)
		return 1;
	CHECK(atomic_load(&shared->calls) == total);
	if (fds_end != fds_start) {
		fprintf(stderr, "FAIL soak: server descriptors %d at the start, %d at the end\n", fds_start, fds_end);
		return 1;
	}
	if (rss_end > rss_warm + slack_kib) {
		fprintf(stderr, "FAIL soak: server RSS grew from %ld KiB (warm) to %ld KiB (end), more than %ld KiB\n",
		    rss_warm, rss_end, slack_kib);
		return 1;
	}
	PASS();
}
