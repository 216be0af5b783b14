/* Large arguments when client and server share a CPU: both processes are
 * pinned to one CPU, and with LIBDOOR_SPLICE=1 the client splices every
 * argument of 512 KiB and more into a pipe of the call's own
 * (door-compat/src/splice.rs) instead of streaming it through the bulk
 * buffer. Checks:
 * - a server that cannot hold a 24 MiB argument (RLIMIT_AS) refuses it with
 *   E2BIG, and the client, which had more to splice than the pipe holds, is
 *   not left waiting for room; the next calls work;
 * - arguments of 512 KiB, 1 MiB + 13 bytes from an unaligned address,
 *   3 MiB + 5 (three pipes full: the client waits for room while the
 *   server reads) and 16 MiB arrive whole and exact (the server hashes
 *   every byte with its position), call after call;
 * - they came through pipes: the server never mapped a bulk buffer;
 * - neither side holds a descriptor more afterwards: a pipe lives for one
 *   call;
 * - a client left to choose (no LIBDOOR_SPLICE; an exec'd copy of this
 *   program, since the setting is read once) takes both ways, measuring
 *   them (door-compat/src/shared_cpu.rs): its arguments arrive exact call
 *   after call, and the server maps a bulk buffer for the streamed ones. */
#include "door_test.h"
#include "pinned_server.h"

#include <sys/resource.h>

#define MIB (1L << 20)
#define ROOM (16 * MIB) /* address space the server leaves itself in part A */
#define REFUSED (24 * MIB)

static char path[512];
static struct gate ready;

static uint64_t hash(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h ^ n;
}

/* Whether this process maps a libdoor bulk buffer. */
static int maps_bulk(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	CHECK(f != NULL);
	char line[512];
	int found = 0;
	while (fgets(line, sizeof line, f) != NULL)
		found |= strstr(line, "libdoor-bulk") != NULL;
	fclose(f);
	return found;
}

/* Ops, the first argument byte: 'h' hash the whole argument; 'm' whether
 * a bulk buffer is mapped; 'q' the descriptor count; 'L' limit the address
 * space to what is used plus ROOM; 'U' lift the limit. */
static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	uint64_t r = 0;
	struct rlimit rl;
	switch (size > 0 ? argp[0] : 0) {
	case 'h':
		r = hash((unsigned char *)argp, size);
		break;
	case 'm':
		r = (uint64_t)maps_bulk();
		break;
	case 'q':
		r = (uint64_t)count_fds();
		break;
	case 'L':
	case 'U':
		CHECK_OK(getrlimit(RLIMIT_AS, &rl));
		rl.rlim_cur = argp[0] == 'U' ? rl.rlim_max : (rlim_t)(proc_status_kib("VmSize") * 1024 + ROOM);
		CHECK_OK(setrlimit(RLIMIT_AS, &rl));
		break;
	}
	door_return((char *)&r, sizeof r, NULL, 0);
}

static uint64_t ask(int fd, char op)
{
	uint64_t r = 0;
	CHECK(call_door(fd, &op, 1, &r, sizeof r) == sizeof r);
	return r;
}

static int server_fds(void *fd)
{
	return (int)ask(*(int *)fd, 'q');
}

/* Fills `n` bytes at `p` with a pattern of `salt`, op 'h' first. */
static void fill(unsigned char *p, size_t n, unsigned salt)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 7 + i / 4093 + salt);
	p[0] = 'h';
}

/* Calls `fd`'s door with arguments of `n` sizes, `rounds` times each,
 * from `buf`; each must arrive exact. */
static void send_sizes(int fd, unsigned char *buf, const size_t *sizes, const size_t *offsets, unsigned n,
    unsigned rounds)
{
	for (unsigned round = 0; round < rounds; round++) {
		for (unsigned i = 0; i < n; i++) {
			unsigned char *arg = buf + offsets[i];
			fill(arg, sizes[i], round * 16 + i);
			uint64_t got = 0;
			CHECK(call_door(fd, arg, sizes[i], &got, sizeof got) == sizeof got);
			CHECK(got == hash(arg, sizes[i]));
		}
	}
}

/* Part C, in the exec'd client (the CPU pinning survives exec). */
static int chooser_main(const char *door)
{
	test_name = "splice_args (chooser)";
	int fd = open(door, O_RDONLY);
	CHECK(fd >= 0);
	/* A small call first: from then on the server has answered from our
	 * CPU, so a bulk buffer can only come from the choice to stream. */
	CHECK(ask(fd, 'm') == 0);
	/* Both size classes see each way measured, then the cheaper taken
	 * and the other tried every 16th call. */
	const size_t sizes[] = { MIB + 13, 3 * MIB + 5 };
	const size_t offsets[] = { 13, 0 };
	unsigned char *buf = malloc(4 * MIB);
	CHECK(buf != NULL);
	send_sizes(fd, buf, sizes, offsets, 2, 40);
	CHECK(ask(fd, 'm') == 1); /* some were streamed, by choice */
	free(buf);
	close(fd);
	return 0;
}

#define ENV_DOOR "SPLICE_ARGS_DOOR"

/* The chooser client's environment (spawn_self): no LIBDOOR_SPLICE, and
 * the door's path. */
static int chooser_env(void *arg)
{
	(void)arg;
	return unsetenv("LIBDOOR_SPLICE") != 0 || setenv(ENV_DOOR, path, 1) != 0;
}

int main(int argc, char **argv)
{
	(void)argc;
	if (getenv(ENV_DOOR) != NULL)
		return chooser_main(getenv(ENV_DOOR));
	test_name = "splice_args";
	watchdog(120);
	/* Both processes, and every thread they make, on this one CPU. */
	cpu_set_t all;
	int first, second;
	usable_cpus(&all, &first, &second);
	pin_to(first, &all);
	/* Read at this process's first large call; the server does not choose. */
	CHECK_OK(setenv("LIBDOOR_SPLICE", "1", 1));

	char *dir = test_dir();
	snprintf(path, sizeof path, "%s/door", dir);
	gate_init(&ready);
	pid_t s = spawn_tied(serve_attached, &(struct attached){ path, server_proc, &ready });
	gate_wait_within(&ready, 20);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	/* A first call: the server has answered from our CPU since. */
	int server_before = (int)ask(fd, 'q');
	int mine = count_fds();

	size_t cap = REFUSED + 64;
	unsigned char *buf = malloc(cap);
	CHECK(buf != NULL);

	/* Part A: an argument the server has no room for. */
	ask(fd, 'L');
	memset(buf, 'h', REFUSED);
	door_arg_t a = { (char *)buf, REFUSED, NULL, 0, NULL, 0 };
	CHECK_ERR(door_call(fd, &a), E2BIG);
	CHECK(ask(fd, 'q') == (uint64_t)server_before);
	ask(fd, 'U');

	/* Part B: arguments of every kind of size arrive exact. */
	const size_t sizes[] = { 512 << 10, MIB + 13, 3 * MIB + 5, 16 * MIB };
	const size_t offsets[] = { 0, 13, 0, 64 };
	send_sizes(fd, buf, sizes, offsets, 4, 3);
	CHECK(ask(fd, 'm') == 0); /* no bulk buffer: every large argument was spliced */
	await_value(server_fds, &fd, server_before, 10, "the server's descriptor count");
	fds_back(mine, 10, "the client's descriptor count");
	free(buf);

	/* Part C: a client left to choose. */
	pid_t child = spawn_self(argv, chooser_env, NULL);
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	close(fd);
	kill_and_reap(s);
	PASS();
}
