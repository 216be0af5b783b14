/* Memory limits on either side of a call (doors-spec §4.3, §4.4, §7.5,
 * §7.6). Each side limits its own address space (RLIMIT_AS, soft limit)
 * to what it uses plus ROOM, then:
 *
 * Part A, a client that cannot map what comes back:
 * - a HUGE result (beyond the bulk buffers: a memfd of its own) for a small
 *   rbuf: door_call fails with EOVERFLOW, as on illumos when the overflow
 *   area cannot be mapped, and the DOOR_RELEASE descriptor that came with
 *   it is closed (the client has no descriptor more than before);
 * - a LARGE result (through the server's bulk buffer, which the client has
 *   no room to map) for a small rbuf: EOVERFLOW too;
 * - the same LARGE result into an rbuf big enough, allocated before the
 *   limit: it succeeds, with the right bytes (illumos needs no mapping
 *   then, and neither may we);
 * - a small call still works, the server closed its DOOR_RELEASE
 *   descriptors, and with the limit lifted a HUGE result arrives.
 *
 * Part B, a server that cannot take the argument:
 * - a LARGE argument (in the client's bulk buffer, which the server cannot
 *   map) and a HUGE one (in a memfd, which it cannot copy out) fail with
 *   E2BIG, the spec's error for arguments the server cannot hold;
 * - the server lives: a small call works, a LARGE result it cannot stage in
 *   a bulk buffer still arrives (in a memfd), no descriptor is left behind,
 *   and with the limit lifted both arguments get through. */
#include "door_test.h"

#include <sys/resource.h>

#define MIB (1L << 20)
#define HUGE (72 * MIB)  /* over the 64 MiB bulk limit */
#define LARGE (24 * MIB) /* in a bulk buffer (of 32 MiB) */
#define ROOM (16 * MIB)  /* address space left above what a side uses */
#define SETTLE 20.0      /* seconds the server may take to close what it dropped */

static char path[512];
static struct gate ready;

/* A request: an operation and a size (a call with a LARGE or HUGE argument
 * carries it in its first bytes). */
struct req {
	char op;
	long size;
	int with_desc;
};

struct report {
	int fds;
	long vm_kib;
	long arg_size; /* 'a': the argument size seen */
	unsigned char last; /* 'a': its last byte */
	int err;       /* 'L', 'U': setrlimit's errno */
};

static unsigned char *results; /* in the server: HUGE bytes */

static unsigned char pattern(long i)
{
	return (unsigned char)(i * 7 + i / 4096);
}

/* Sets this process's soft RLIMIT_AS: what it uses plus `room`, or none. */
static int limit_address_space(long room)
{
	struct rlimit rl;
	CHECK_OK(getrlimit(RLIMIT_AS, &rl));
	rl.rlim_cur = room < 0 ? rl.rlim_max : (rlim_t)(proc_status_kib("VmSize") * 1024 + room);
	return setrlimit(RLIMIT_AS, &rl) == -1 ? errno : 0;
}

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	struct req q;
	CHECK(size >= sizeof q);
	memcpy(&q, argp, sizeof q);
	struct report r = { 0 };
	switch (q.op) {
	case 'r': { /* results of q.size bytes, maybe with a descriptor */
		door_desc_t d;
		d.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
		d.d_data.d_desc.d_descriptor = q.with_desc ? open("/dev/null", O_RDONLY) : -1;
		door_return((char *)results, (size_t)q.size, &d, q.with_desc ? 1 : 0);
		abort(); /* door_return failed */
	}
	case 'a': /* an argument */
		r.arg_size = (long)size;
		r.last = (unsigned char)argp[size - 1];
		break;
	case 'L':
		r.err = limit_address_space(ROOM);
		break;
	case 'U':
		r.err = limit_address_space(-1);
		break;
	}
	r.fds = count_fds();
	r.vm_kib = proc_status_kib("VmSize");
	door_return((char *)&r, sizeof r, NULL, 0);
}

static void server(void *arg)
{
	(void)arg;
	results = malloc(HUGE);
	CHECK(results != NULL);
	for (long i = 0; i < HUGE; i++)
		results[i] = pattern(i);
	attach_new(path, server_proc, NULL, 0);
	gate_open(&ready);
	for (;;)
		pause();
}

/* A call with request `q` (and `extra` argument bytes in all, if larger),
 * results into `rbuf`. Returns door_call's result; *a holds the outcome. */
static int request(int fd, struct req q, long arg_size, door_arg_t *a, void *rbuf, size_t rsize)
{
	static char small[sizeof q];
	char *argp = small;
	if (arg_size > (long)sizeof q) {
		argp = malloc((size_t)arg_size);
		CHECK(argp != NULL);
		memset(argp, 0x5a, (size_t)arg_size);
	} else {
		arg_size = sizeof q;
	}
	/* Field by field into zeroed bytes: the struct's padding is
	 * uninitialised, and the call would send it. */
	struct req sent;
	memset(&sent, 0, sizeof sent);
	sent.op = q.op;
	sent.size = q.size;
	sent.with_desc = q.with_desc;
	memcpy(argp, &sent, sizeof sent);
	*a = (door_arg_t){ argp, (size_t)arg_size, NULL, 0, rbuf, rsize };
	int rc = door_call(fd, a);
	int e = errno;
	if (argp != small)
		free(argp);
	errno = e;
	return rc;
}

static struct report query(int fd, char op)
{
	struct report r;
	door_arg_t a;
	CHECK_OK(request(fd, (struct req){ op, 0, 0 }, 0, &a, &r, sizeof r));
	CHECK(a.data_size == sizeof r && a.rbuf == (char *)&r);
	return r;
}

/* The server's descriptor count, asked through door *fd. */
static int server_fds(void *fd)
{
	return query(*(int *)fd, 'q').fds;
}

/* Waits for the server to close what it dropped: its count back to `want`. */
static void server_settles(int fd, int want)
{
	await_value(server_fds, &fd, want, SETTLE, "the server's descriptor count");
}

/* Checks that `n` result bytes are the server's pattern. */
static void check_bytes(const unsigned char *p, long n)
{
	for (long i = 0; i < n; i += 4093)
		CHECK(p[i] == pattern(i));
	CHECK(p[n - 1] == pattern(n - 1));
}

/* Part A, in a child: the client has no room for results. */
static void small_client(void *arg)
{
	(void)arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	int before = least_value(server_fds, &fd, 0.3);
	unsigned char *big = malloc(LARGE);
	CHECK(big != NULL);
	memset(big, 0, LARGE);
	char rbuf[512];
	door_arg_t a;
	int mine = count_fds();
	CHECK(limit_address_space(ROOM) == 0);
	/* (A channel the client gives up is reopened by its next call: each
	 * count is taken after one.) */

	CHECK_ERR(request(fd, (struct req){ 'r', HUGE, 1 }, 0, &a, rbuf, sizeof rbuf), EOVERFLOW);
	query(fd, 'q');
	fds_back(mine, 10, "client");   /* dropped descriptors may close on the reaper thread */
	CHECK_ERR(request(fd, (struct req){ 'r', LARGE, 1 }, 0, &a, rbuf, sizeof rbuf), EOVERFLOW);
	query(fd, 'q');
	fds_back(mine, 10, "client");   /* dropped descriptors may close on the reaper thread */
	CHECK_OK(request(fd, (struct req){ 'r', LARGE, 0 }, 0, &a, big, LARGE));
	CHECK(a.rbuf == (char *)big && a.data_ptr == (char *)big && a.data_size == LARGE && a.desc_num == 0);
	check_bytes(big, LARGE);
	query(fd, 'q');
	fds_back(mine, 10, "client");   /* dropped descriptors may close on the reaper thread */

	server_settles(fd, before);
	CHECK(limit_address_space(-1) == 0);
	CHECK_OK(request(fd, (struct req){ 'r', HUGE, 1 }, 0, &a, rbuf, sizeof rbuf));
	CHECK(a.rbuf != rbuf && a.data_size == HUGE && a.desc_num == 1);
	check_bytes((unsigned char *)a.data_ptr, HUGE);
	door_desc_t d;
	memcpy(&d, a.desc_ptr, sizeof d);
	CHECK_OK(close(d.d_data.d_desc.d_descriptor));
	CHECK_OK(munmap(a.rbuf, a.rsize));
	fds_back(mine, 10, "client");   /* dropped descriptors may close on the reaper thread */
	free(big);
	close(fd);
}

int main(void)
{
	test_name = "fault_memory";
	watchdog(100);
	char *dir = test_dir();
	snprintf(path, sizeof path, "%s/door", dir);
	gate_init(&ready);
	pid_t s = spawn_tied(server, NULL);
	gate_wait_within(&ready, 20);

	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	int before = least_value(server_fds, &fd, 0.3);
	/* This process is part B's client: its count comes back too (a
	 * channel it gives up is reopened by its next call). */
	int mine = count_fds();

	/* Part A. */
	pid_t c = spawn_tied(small_client, NULL);
	reap_ok_within(c, 60, "the client with a small address space");

	/* Part B, once the server has dropped what the client had. */
	server_settles(fd, before);
	struct report r = query(fd, 'L');
	CHECK(r.err == 0);
	door_arg_t a;
	char rbuf[512];
	CHECK_ERR(request(fd, (struct req){ 'a', 0, 0 }, LARGE, &a, rbuf, sizeof rbuf), E2BIG);
	CHECK_ERR(request(fd, (struct req){ 'a', 0, 0 }, HUGE, &a, rbuf, sizeof rbuf), E2BIG);
	CHECK(query(fd, 'q').vm_kib < r.vm_kib + ROOM / 1024);
	/* Results it cannot stage in a bulk buffer still come (in a memfd). */
	CHECK_OK(request(fd, (struct req){ 'r', LARGE, 0 }, 0, &a, NULL, 0));
	CHECK(a.data_size == LARGE);
	check_bytes((unsigned char *)a.data_ptr, LARGE);
	CHECK_OK(munmap(a.rbuf, a.rsize));
	server_settles(fd, before);

	CHECK(query(fd, 'U').err == 0);
	for (long size = LARGE; size <= HUGE; size += HUGE - LARGE) {
		CHECK_OK(request(fd, (struct req){ 'a', 0, 0 }, size, &a, rbuf, sizeof rbuf));
		struct report got;
		memcpy(&got, a.data_ptr, sizeof got);
		CHECK(got.arg_size == size && got.last == 0x5a);
	}
	server_settles(fd, before);
	fds_back(mine, 10, "the driver, part B's client");
	close(fd);
	kill_and_reap(s);
	PASS();
}
