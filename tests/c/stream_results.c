/* Large results through the server's bulk buffer
 * (door-compat/src/serve.rs, stream_results): once the client has that
 * buffer (it comes with the first large reply on a channel), results
 * larger than the region's reply area are announced in the region and
 * their data written to the buffer, piece by piece after the announcement
 * toward a client on another CPU (which copies each piece out meanwhile),
 * whole before it toward a client on the server's CPU. With the two
 * processes pinned to different CPUs, then to one CPU, then free:
 * - results of 70,000 bytes, 1 MiB + 3, 5 MiB + 1 and 20 MiB arrive exact,
 *   call after call, into rbuf and into a fresh mapping (each call's
 *   pattern differs, so bytes left from an earlier call would show); the
 *   fresh mapping is page-rounded, with zeros after the data;
 * - across CPUs, where the client has the reply before the data, a server
 *   that stalls half-way through 20 MiB of results and meanwhile sends
 *   the client signals, caught by a handler without SA_RESTART: the call
 *   ends with EINTR, as a wait for the reply would, and the next works;
 * - a server that dies half-way through writing 20 MiB of results (the
 *   second half of its results cannot be read, and the fault kills it):
 *   the call ends with EINTR and never hangs; the fresh mapping it would
 *   have returned is gone. */
#include "door_test.h"
#include "pinned_server.h"

#define MIB (1L << 20)
#define BIG (20 * MIB)

static char path[512];
static char *dir;

/* Byte `i` of call `salt`'s results. */
static unsigned char pattern(size_t i, uint32_t salt)
{
	return (unsigned char)(i * 11 + i / 4091 + salt * 37);
}

struct ask {
	char op;       /* 'r' results; 'k' the process dies half-way through
	                * them; 's' it stalls half-way and signals the client */
	uint32_t salt;
	uint64_t size;
};

/* Results whose second half cannot be read until the fault handler
 * allows it. */
static unsigned char *half_bad;

/* A fault in the library's copy of the results kills the process, as if
 * it had been killed at that very moment (without a core dump). */
static void die(int sig)
{
	(void)sig;
	raise(SIGKILL);
}

/* Shared by the client and its servers (mapped before they fork): the
 * client's call that a stalled server cuts short has returned; the
 * stalling server sends no more signals. */
struct cut { volatile int call_over, signaller_done; };
static struct cut *cut;

/* A fault in the library's copy of the results stalls it: the client,
 * which already has the reply and waits for the rest, is sent a signal
 * whenever it sleeps there (looked at every 10 ms, for 10 s at most)
 * until its call is over; then the copy goes on. A signal that finds it
 * running does not end its wait, as with any system call: on a loaded
 * machine it can land while the client is between two of the short
 * sleeps its wait for the rest is made of (`bulk::wait_briefly`), and a
 * single signal then left the call to complete (4 runs in 40 with two busy
 * loops). Signals stop once the call is over, and the client waits for
 * that before its next call, which a late one would cut short. (kill,
 * nanosleep, mprotect and the looks, `proc_state`'s open, read and close,
 * are system calls; nothing here touches the interrupted copy's state.) */
static void stall(int sig)
{
	(void)sig;
	for (int looks = 0; looks < 1000 && !cut->call_over; looks++) {
		if (proc_state(getppid()) == 'S') {
			kill(getppid(), SIGUSR1);
			/* Time for it to end the call before another. */
			for (int w = 0; w < 10 && !cut->call_over; w++)
				usleep(10000);
		} else {
			usleep(10000);
		}
	}
	cut->signaller_done = 1;
	mprotect(half_bad + BIG / 2, BIG / 2, PROT_READ | PROT_WRITE);
}

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	static unsigned char *out;
	struct ask a;
	if (size != sizeof a) {
		door_return(NULL, 0, NULL, 0);
		return;
	}
	memcpy(&a, argp, sizeof a);
	if (out == NULL)
		CHECK((out = malloc(BIG)) != NULL);
	CHECK(a.size <= BIG);
	for (size_t i = 0; i < a.size; i++)
		out[i] = pattern(i, a.salt);
	if (a.op == 'k' || a.op == 's') {
		/* The second half of the results cannot be read: the server's
		 * copy of them faults half-way. */
		if (half_bad == NULL) {
			half_bad = mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			CHECK(half_bad != MAP_FAILED);
		}
		CHECK(a.size == BIG);
		memcpy(half_bad, out, BIG);
		CHECK_OK(mprotect(half_bad + BIG / 2, BIG / 2, PROT_NONE));
		struct sigaction sa = { .sa_handler = a.op == 'k' ? die : stall };
		CHECK_OK(sigaction(SIGSEGV, &sa, NULL));
		door_return((char *)half_bad, a.size, NULL, 0);
	}
	door_return((char *)out, a.size, NULL, 0);
}

/* A new server, its door at a path of its own (see open_pinned_server). */
static int open_new_server(int client_cpu, int server_cpu, const cpu_set_t *all, pid_t *server)
{
	static int servers;
	snprintf(path, sizeof path, "%s/door%d", dir, servers++);
	return open_pinned_server(path, server_proc, client_cpu, server_cpu, all, server);
}

/* One call for `size` bytes of results with salt `salt`, into `rbuf` of
 * `rsize` bytes; checks them. */
static void expect_results(int fd, uint64_t size, uint32_t salt, char *rbuf, size_t rsize)
{
	struct ask q = { 'r', salt, size };
	door_arg_t a = { (char *)&q, sizeof q, NULL, 0, rbuf, rsize };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_size == size && a.desc_num == 0);
	const unsigned char *got = (const unsigned char *)a.data_ptr;
	for (size_t i = 0; i < size; i++)
		if (got[i] != pattern(i, salt))
			fail_at(__FILE__, __LINE__, "results exact", 0);
	if (size <= rsize) {
		CHECK(a.rbuf == rbuf && a.rsize == rsize && a.data_ptr == rbuf);
		return;
	}
	long page = sysconf(_SC_PAGESIZE);
	CHECK(a.rbuf != rbuf && a.data_ptr == a.rbuf);
	CHECK(a.rsize == (size + (size_t)page - 1) / (size_t)page * (size_t)page);
	for (size_t i = size; i < a.rsize; i++)
		CHECK(a.rbuf[i] == 0);
	CHECK_OK(munmap(a.rbuf, a.rsize));
}

/* A call for 20 MiB of results, which would go to a fresh mapping, that
 * the server cuts short (op 'k' or 's'): EINTR, rbuf and rsize as they
 * were, no 20 MiB left mapped (allowing for the allocator's own growth). */
static void expect_cut_short(int fd, char op, uint32_t salt)
{
	static char rbuf[64];
	long before = proc_status_kib("VmSize");
	struct ask q = { op, salt, BIG };
	door_arg_t a = { (char *)&q, sizeof q, NULL, 0, rbuf, sizeof rbuf };
	cut->call_over = 0;
	cut->signaller_done = 0;
	int r = door_call(fd, &a);
	int e = errno;
	cut->call_over = 1;
	if (op == 's') {
		double end = now_seconds() + 20 * time_scale();
		while (!cut->signaller_done)
			CHECK(now_seconds() < end);
	}
	if (r != -1 || e != EINTR) {
		fprintf(stderr, "FAIL %s: a call the server cut short (op %c) returned %d errno %d (%s), wanted -1 EINTR\n",
		    test_name, op, r, e, strerror(e));
		exit(1);
	}
	CHECK(a.rbuf == rbuf && a.rsize == sizeof rbuf);
	CHECK(proc_status_kib("VmSize") < before + 4096);
}

/* Every size, into rbuf and into fresh mappings, four times. */
static void sizes_exact(int client_cpu, int server_cpu, const cpu_set_t *all, const char *how)
{
	pid_t s;
	int fd = open_new_server(client_cpu, server_cpu, all, &s);
	static char rbuf[BIG];
	static const uint64_t sizes[] = { 70000, MIB + 3, 5 * MIB + 1, BIG };
	uint32_t salt = 1;
	for (int round = 0; round < 4; round++)
		for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++) {
			expect_results(fd, sizes[i], salt++, rbuf, sizeof rbuf);
			expect_results(fd, sizes[i], salt++, rbuf, 64);
		}
	close(fd);
	kill_and_reap(s);
	printf("     | %s: exact\n", how);
}

/* A server that dies half-way through writing 20 MiB of results, which
 * would go to a fresh mapping. */
static void server_dies(int client_cpu, int server_cpu, const cpu_set_t *all)
{
	pid_t s;
	int fd = open_new_server(client_cpu, server_cpu, all, &s);
	static char rbuf[64];
	/* The first large reply brings the server's bulk buffer. */
	expect_results(fd, BIG, 7, rbuf, sizeof rbuf);
	expect_cut_short(fd, 'k', 8);
	close(fd);
	CHECK(waitpid(s, NULL, 0) == s);
}

static volatile sig_atomic_t signals_caught;

static void caught(int sig)
{
	(void)sig;
	signals_caught++;
}

/* A server that stalls half-way through writing 20 MiB of results toward
 * a client on another CPU, which has the reply by then and sleeps waiting
 * for the rest: a signal it catches meanwhile (a handler without
 * SA_RESTART) ends the call with EINTR, as during the wait for a reply,
 * rbuf untouched and no mapping left; the next call, on a channel of its
 * own, gets its results exact. */
static void signals_mid_results(int client_cpu, int server_cpu, const cpu_set_t *all)
{
	struct sigaction sa = { .sa_handler = caught }, old;
	CHECK_OK(sigaction(SIGUSR1, &sa, &old));
	pid_t s;
	int fd = open_new_server(client_cpu, server_cpu, all, &s);
	static char rbuf[64];
	expect_results(fd, BIG, 9, rbuf, sizeof rbuf); /* brings the bulk buffer */
	signals_caught = 0;
	expect_cut_short(fd, 's', 10);
	CHECK(signals_caught >= 1);
	expect_results(fd, MIB + 3, 11, rbuf, sizeof rbuf);
	close(fd);
	kill_and_reap(s);
	CHECK_OK(sigaction(SIGUSR1, &old, NULL));
}

int main(void)
{
	test_name = "stream_results";
	watchdog(240);
	dir = test_dir();
	cut = mmap(NULL, sizeof *cut, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(cut != MAP_FAILED);
	cpu_set_t all;
	int first, second;
	usable_cpus(&all, &first, &second);
	/* The server's faults mid-copy need a copy that resumes where it
	 * faulted once the handler returns. Under valgrind (memcheck 3.19) it
	 * does not: a program that copies 1 MiB in 128 KiB memcpys from a
	 * buffer whose second half a SIGSEGV handler makes readable ends with
	 * 32 bytes wrong there, none natively. */
	int faults = getenv("LIBDOOR_TEST_VALGRIND") == NULL;
	if (second >= 0) {
		sizes_exact(first, second, &all, "different CPUs");
		for (int i = 0; faults && i < 3; i++)
			server_dies(first, second, &all);
		if (faults)
			signals_mid_results(first, second, &all);
	}
	sizes_exact(first, first, &all, "one CPU");
	if (faults)
		server_dies(first, first, &all);
	sizes_exact(-1, -1, &all, "free");
	PASS();
}
