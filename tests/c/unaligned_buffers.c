/* Arguments and results in buffers at every kind of offset within a page.
 * The library's own buffers (the region's areas, bulk buffers, a server
 * thread's argument buffer) start on a page; a caller's buffer a few bytes
 * before or after a page boundary puts the two 1 to 63 bytes out of step,
 * which the library copies with its own vector loop instead of memcpy
 * (door-compat/src/sys.rs, `just_behind`). Every way a call's data goes
 * is crossed with such offsets, on both sides:
 * - arguments of 17 bytes to 3 MiB + 1 (the region, a bulk buffer,
 *   streamed, spliced on one CPU) from buffers at offsets 0, 1, 15, 16,
 *   17, 48, 63, 64, 4033, 4080 and 4095 into a page reach the procedure
 *   byte for byte;
 * - results of the same sizes, from a server buffer at such an offset,
 *   arrive byte for byte in an rbuf at such an offset, and no byte before
 *   rbuf or after the results is written;
 * - over 64 MiB (data in a memfd of its own, read with pread or, into a
 *   buffer a few bytes into a page, through a mapping): an argument 4080
 *   bytes into a page, results into rbuf 16 bytes into one (not under
 *   valgrind, where it would take minutes);
 * with the client and server on different CPUs, on one CPU, and free. */
#include "door_test.h"
#include "pinned_server.h"

#define MIB (1L << 20)
#define BEYOND_BULK (64 * MIB + 4099)
#define MAX_SIZE BEYOND_BULK
#define GUARD 4096
#define CANARY 0xEE

static char path[512];
static char *dir;

static const size_t sizes[] = { 17, 100, 4096 + 13, 65000, 65536 + 5, 300001, MIB + 7, 3 * MIB + 1 };
static const size_t offsets[] = { 0, 1, 15, 16, 17, 48, 63, 64, 4033, 4080, 4095 };
#define N_OFFSETS (sizeof offsets / sizeof *offsets)

/* Byte `i` of the data with salt `salt`. */
static unsigned char pattern(size_t i, uint32_t salt)
{
	return (unsigned char)(i * 7 + i / 4093 + salt * 13);
}

/* The argument's header; the data follows it, pattern(i, salt) for i
 * counted from the argument's start. */
struct ask {
	uint32_t salt;
	uint64_t result_size;    /* results: pattern(i, salt + 1) */
	uint64_t result_offset;  /* where in a page the server's results start */
};

/* A page-aligned area with room for a guard, an offset of up to a page,
 * MAX_SIZE bytes and a guard after them. */
static unsigned char *new_area(void)
{
	unsigned char *p = mmap(NULL, MAX_SIZE + 3 * GUARD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	return p;
}

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	static unsigned char *area;
	struct ask a;
	if (size < sizeof a) {
		door_return(NULL, 0, NULL, 0);
		return;
	}
	memcpy(&a, argp, sizeof a);
	/* A wrong argument byte gets an empty reply, which the client sees. */
	for (size_t i = sizeof a; i < size; i++)
		if ((unsigned char)argp[i] != pattern(i, a.salt))
			door_return(NULL, 0, NULL, 0);
	if (area == NULL)
		area = new_area();
	CHECK(a.result_size <= MAX_SIZE && a.result_offset < GUARD);
	unsigned char *out = area + a.result_offset;
	for (size_t i = 0; i < a.result_size; i++)
		out[i] = pattern(i, a.salt + 1);
	door_return((char *)out, a.result_size, NULL, 0);
}

/* One call: `size` argument bytes from `arg_offset` into a page, as many
 * bytes of results from `server_offset` into rbuf at `rbuf_offset`. */
static void expect_exact(int fd, unsigned char *args, unsigned char *results, size_t size, size_t arg_offset,
    size_t server_offset, size_t rbuf_offset, uint32_t salt)
{
	struct ask q;
	memset(&q, 0, sizeof q); /* its padding too: all of it is sent */
	q.salt = salt;
	q.result_size = size;
	q.result_offset = server_offset;
	size_t arg_size = size < sizeof q ? sizeof q : size;
	unsigned char *arg = args + arg_offset;
	memcpy(arg, &q, sizeof q);
	for (size_t i = sizeof q; i < arg_size; i++)
		arg[i] = pattern(i, salt);
	unsigned char *rbuf = results + GUARD + rbuf_offset;
	memset(results, CANARY, GUARD + rbuf_offset + size + GUARD);
	door_arg_t a = { (char *)arg, arg_size, NULL, 0, (char *)rbuf, size };
	CHECK_OK(door_call(fd, &a));
	if (a.data_size != size) {
		fprintf(stderr, "FAIL unaligned_buffers: %zu bytes from offset %zu: %zu bytes of results (0: the "
				"server saw a wrong argument byte)\n", arg_size, arg_offset, a.data_size);
		exit(1);
	}
	CHECK(a.rbuf == (char *)rbuf && a.data_ptr == (char *)rbuf);
	for (size_t i = 0; i < size; i++)
		if (rbuf[i] != pattern(i, salt + 1)) {
			fprintf(stderr, "FAIL unaligned_buffers: %zu bytes of results from offset %zu into rbuf at offset "
					"%zu: byte %zu wrong\n", size, server_offset, rbuf_offset, i);
			exit(1);
		}
	for (size_t i = 0; i < GUARD + rbuf_offset; i++)
		CHECK(results[i] == CANARY);
	for (size_t i = 0; i < GUARD; i++)
		CHECK(rbuf[size + i] == CANARY);
}

/* Every size at every offset (each offset once on each side, paired two
 * ways), client and server placed as given. */
static void all_offsets(int client_cpu, int server_cpu, const cpu_set_t *all, const char *how)
{
	static int servers;
	snprintf(path, sizeof path, "%s/door%d", dir, servers++);
	pid_t s;
	int fd = open_pinned_server(path, server_proc, client_cpu, server_cpu, all, &s);
	unsigned char *args = new_area(), *results = new_area();
	uint32_t salt = 1;
	for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++)
		for (size_t i = 0; i < N_OFFSETS; i++) {
			size_t j = (i + 3) % N_OFFSETS, k = (i + 7) % N_OFFSETS;
			expect_exact(fd, args, results, sizes[z], offsets[i], offsets[j], offsets[k], salt++);
			expect_exact(fd, args, results, sizes[z], offsets[k], offsets[i], offsets[j], salt++);
		}
	if (getenv("LIBDOOR_TEST_VALGRIND") == NULL) {
		expect_exact(fd, args, results, BEYOND_BULK, 4080, 0, 16, salt++);
		expect_exact(fd, args, results, BEYOND_BULK, 0, 4080, 4095, salt++);
	}
	close(fd);
	kill_and_reap(s);
	printf("     | %s: exact\n", how);
}

int main(void)
{
	test_name = "unaligned_buffers";
	watchdog(240);
	dir = test_dir();
	cpu_set_t all;
	on_each_placement(all_offsets, &all);
	PASS();
}
