/* Arguments streamed round a ring of the bulk buffer
 * (door-compat/src/bulk.rs, RING): toward a server thread lingering on
 * another CPU, an argument goes round the buffer's first 2 MiB, starting
 * where the last streamed argument ended, each piece written once the
 * server has copied out what was there; toward one on the client's CPU
 * the ring is the whole buffer.
 * - Arguments of 16 KiB - 1 (the largest that goes in the region's
 *   request area toward a server on another CPU), 16 KiB to 64 KiB (in the
 *   request area toward one on the client's CPU, round the ring toward one
 *   on another), 64 KiB + 1 (the smallest that always streams), around 512 KiB,
 *   just under, at and just over the 2 MiB ring, of 1 MiB + 3, 3 MiB + 5
 *   and 20 MiB + 7 reach the procedure byte for byte, call after call, in
 *   an order that starts them at many places in the ring and wraps them
 *   round its end (each call's pattern differs, so a piece written over
 *   bytes not yet copied out, or copied from the wrong place or lap,
 *   would show), with the client and server on different CPUs, on one
 *   CPU, and free.
 * - Results of the same sizes, which from 16 KiB toward a client on
 *   another CPU go round the server's bulk buffer, starting where the
 *   last such results ended, arrive byte for byte in the caller's rbuf.
 * - Four threads of one client process, free, each calling on its own
 *   channel with arguments of 2 MiB and more: server threads often stop
 *   lingering while such a call streams (the client then sends the call on
 *   the socket too, and a pool thread copies it out). Every argument
 *   arrives exact. */
#include "door_test.h"
#include "pinned_server.h"

#include <pthread.h>

#define KIB 1024L
#define MIB (1L << 20)
#define MAX_SIZE (20 * MIB + 7)

static char path[512];
static char *dir;

/* Byte `i` of an argument with salt `salt` (the salt is its first word). */
static unsigned char pattern(size_t i, uint32_t salt)
{
	return (unsigned char)(i * 7 + i / 4093 + salt * 13);
}

/* The procedure's answer: whether every byte was right, how many, and
 * the salt they bore (bytes of an earlier call, read from the wrong
 * place, are right for their own salt). */
struct verdict {
	char ok;
	uint32_t salt;
	uint64_t size;
};

/* A request for results: their salt and size, which no argument this
 * test checks has. */
struct want_results {
	uint32_t salt;
	uint64_t size;
};

static unsigned char *results_buf;

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	if (size == sizeof(struct want_results)) {
		struct want_results w;
		memcpy(&w, argp, sizeof w);
		if (results_buf == NULL)
			results_buf = malloc(MAX_SIZE);
		if (results_buf == NULL || w.size < sizeof w.salt || w.size > MAX_SIZE)
			door_return(NULL, 0, NULL, 0);
		memcpy(results_buf, &w.salt, sizeof w.salt);
		for (size_t i = sizeof w.salt; i < w.size; i++)
			results_buf[i] = pattern(i, w.salt);
		door_return((char *)results_buf, w.size, NULL, 0);
	}
	struct verdict v = { 'Y', 0, size };
	uint32_t salt;
	if (size < sizeof salt) {
		v.ok = 'N';
		door_return((char *)&v, sizeof v, NULL, 0);
	}
	memcpy(&salt, argp, sizeof salt);
	v.salt = salt;
	for (size_t i = sizeof salt; i < size; i++)
		if ((unsigned char)argp[i] != pattern(i, salt)) {
			v.ok = 'N';
			break;
		}
	door_return((char *)&v, sizeof v, NULL, 0);
}

/* One call with `size` bytes of salt `salt`, from `buf`; checks the verdict. */
static void call_exact(int fd, unsigned char *buf, size_t size, uint32_t salt)
{
	memcpy(buf, &salt, sizeof salt);
	for (size_t i = sizeof salt; i < size; i++)
		buf[i] = pattern(i, salt);
	struct verdict v;
	door_arg_t a = { (char *)buf, size, NULL, 0, (char *)&v, sizeof v };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_ptr == (char *)&v && a.data_size == sizeof v);
	if (v.ok != 'Y' || v.size != size || v.salt != salt) {
		fprintf(stderr, "FAIL %s: %zu bytes (salt %u): the procedure saw %llu bytes of salt %u, %s\n", test_name, size,
		    salt, (unsigned long long)v.size, v.salt, v.ok == 'Y' ? "right" : "wrong");
		exit(1);
	}
}

/* One call for `size` bytes of results of salt `salt`, into `buf`
 * (large enough for them); checks every byte. */
static void results_exact(int fd, unsigned char *buf, size_t size, uint32_t salt)
{
	struct want_results w = { salt, size };
	door_arg_t a = { (char *)&w, sizeof w, NULL, 0, (char *)buf, MAX_SIZE };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_ptr == (char *)buf);
	uint32_t seen = 0;
	memcpy(&seen, buf, sizeof seen);
	size_t wrong = a.data_size;
	for (size_t i = sizeof seen; i < a.data_size && wrong == a.data_size; i++)
		if (buf[i] != pattern(i, salt))
			wrong = i;
	if (a.data_size != size || seen != salt || wrong != a.data_size) {
		fprintf(stderr, "FAIL %s: results of %zu bytes (salt %u): got %zu bytes of salt %u, first wrong byte %zu\n",
		    test_name, size, salt, a.data_size, seen, wrong);
		exit(1);
	}
}

static void sizes_exact(int client_cpu, int server_cpu, const cpu_set_t *all, const char *how)
{
	static int servers;
	snprintf(path, sizeof path, "%s/door%d", dir, servers++);
	pid_t s;
	int fd = open_pinned_server(path, server_proc, client_cpu, server_cpu, all, &s);
	static const size_t sizes[] = { 16 * KIB - 1, 16 * KIB, 40 * KIB + 3, 64 * KIB, 64 * KIB + 1,
				       512 * KIB - 1, 512 * KIB, 512 * KIB + 1, MIB + 3, 2 * MIB - 1,
				       2 * MIB, 2 * MIB + 1, 3 * MIB + 5, MAX_SIZE };
	unsigned char *buf = malloc(MAX_SIZE);
	CHECK(buf != NULL);
	uint32_t salt = 1;
	/* Arguments, then results of the same sizes. The first call of each
	 * larger size brings a larger bulk buffer; the calls after it
	 * stream. Then every size in turn, so that each starts at many
	 * places in the ring. */
	void (*const check[])(int, unsigned char *, size_t, uint32_t) = { call_exact, results_exact };
	for (unsigned c = 0; c < 2; c++) {
		for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++)
			for (int round = 0; round < 3; round++)
				check[c](fd, buf, sizes[i], salt++);
		for (int round = 0; round < 3; round++)
			for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++)
				check[c](fd, buf, sizes[i], salt++);
	}
	free(buf);
	close(fd);
	kill_and_reap(s);
	printf("     | %s: exact\n", how);
}

#define CROWD 4
#define CROWD_CALLS 40

static int crowd_fd;

static void *crowd_caller(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	unsigned char *buf = malloc(3 * MIB);
	CHECK(buf != NULL);
	for (uint32_t k = 0; k < CROWD_CALLS; k++)
		call_exact(crowd_fd, buf, 2 * MIB + (k * 4099 + id * 77) % MIB, 1000 * (id + 1) + k);
	free(buf);
	return NULL;
}

static void crowd(const cpu_set_t *all)
{
	snprintf(path, sizeof path, "%s/crowd", dir);
	pid_t s;
	crowd_fd = open_pinned_server(path, server_proc, -1, -1, all, &s);
	pthread_t t[CROWD];
	for (uintptr_t i = 0; i < CROWD; i++)
		CHECK(pthread_create(&t[i], NULL, crowd_caller, (void *)i) == 0);
	for (int i = 0; i < CROWD; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	close(crowd_fd);
	kill_and_reap(s);
	printf("     | %d threads: exact\n", CROWD);
}

int main(void)
{
	test_name = "stream_window";
	watchdog(240);
	dir = test_dir();
	cpu_set_t all;
	on_each_placement(sizes_exact, &all);
	crowd(&all);
	PASS();
}
