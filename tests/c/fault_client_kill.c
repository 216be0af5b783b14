/* A client killed in the middle of a call (doors-spec §4.4, §7.6; the
 * "client death" lifecycle of ARCHITECTURE.md).
 *
 * The server has exactly one server thread (its creation function makes
 * none; main parks itself), so every call after the death is served by the
 * thread that was serving the dead client: that proves its door_return went
 * back to the pool. Each round:
 *
 * - client V opens the attached path and calls with a 1 MiB argument (so
 *   the server maps V's bulk buffer); the procedure blocks;
 * - in odd rounds client W, whose channel is already open, calls too and
 *   waits for the (busy) thread;
 * - V and W are SIGKILLed; the procedure is released and returns 1 MiB of
 *   data (through a new result bulk buffer) and a DOOR_RELEASE descriptor:
 *   door_return must discard them, close the descriptor, and not return;
 * - the driver's next calls are served, by the same thread, and the
 *   server's open descriptors (/proc/self/fd) and mappings (/proc/self/maps)
 *   come back to what they were before the round (polled, with a deadline).
 *   The server keeps each channel's watch slot for the next channel
 *   (ARCHITECTURE.md, "Server death"): two mappings, a private page and a
 *   reservation, per client it served at once (more under valgrind,
 *   whose own writable and executable mappings mapping_count leaves out).
 *   So in the first two rounds (one client, then
 *   two) the mappings may grow by up to 8 per client, and 10 for the
 *   reaper's threads, which start when the server first drops a
 *   descriptor from another process; from then on they
 *   must come back exactly to where those rounds left them.
 *
 * W's call, whose client died while it waited, never runs (as on illumos,
 * where a dead caller leaves the queue). At the end the server's address
 * space has not grown by a channel's worth and no door_return ever
 * returned. Figures are printed. */
#include "door_test.h"

#include <sys/resource.h>

#define BIG (1 << 20)
#define ROUNDS 6
#define SETTLE 20.0 /* seconds the server may take to drop a dead client */

static char path[512];
static struct gate ready;   /* server -> driver: attached */
static struct gate inside;  /* procedure -> driver: V's call is running */
static struct gate release; /* driver -> procedure: return now */
static struct gate w_ready; /* W -> driver: channel open, about to call */
static struct gate w_go;    /* driver -> W: call now */

/* What the server reports ('q'). */
struct report {
	int fds, maps;
	long vm_kib;
	pid_t tid;
	int blocked_runs, waiter_runs; /* 'b' and 'w' invocations */
	int return_failed, return_errno; /* a door_return that returned */
};

/* In the server (one thread serves, so no lock is needed). */
static struct report counters;
static char big[BIG];

static void return_with_descriptor(size_t size)
{
	int fd = open("/dev/null", O_RDONLY);
	CHECK(fd >= 0);
	door_desc_t d;
	d.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
	d.d_data.d_desc.d_descriptor = fd;
	door_return(big, size, &d, 1);
	/* Only a failed door_return gets here. */
	counters.return_failed++;
	counters.return_errno = errno;
	close(fd);
	door_return(NULL, 0, NULL, 0);
}

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	switch (size > 0 ? argp[0] : 0) {
	case 'b': /* the call whose client dies */
		counters.blocked_runs++;
		gate_open(&inside);
		gate_wait_within(&release, 60);
		return_with_descriptor(BIG);
		break;
	case 'w': /* the call that waited for the thread */
		counters.waiter_runs++;
		return_with_descriptor(16);
		break;
	case 'g': /* warm-up: large in both directions */
		door_return(big, BIG, NULL, 0);
		break;
	case 'q': {
		struct report r = counters;
		r.fds = count_fds();
		r.maps = mapping_count();
		r.vm_kib = proc_status_kib("VmSize");
		r.tid = thread_id();
		door_return((char *)&r, sizeof r, NULL, 0);
		break;
	}
	}
	door_return(NULL, 0, NULL, 0);
}

static void no_threads(door_info_t *di)
{
	(void)di;
}

static void server(void *arg)
{
	(void)arg;
	door_server_create(no_threads);
	attach_new(path, server_proc, NULL, 0);
	gate_open(&ready);
	door_return(NULL, 0, NULL, 0);
	_exit(4);
}

static struct report query(int fd)
{
	struct report r;
	CHECK(call_door(fd, "q", 1, &r, sizeof r) == sizeof r);
	return r;
}

/* V: its call blocks until it is killed. */
static void victim(void *arg)
{
	(void)arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	static char buf[BIG];
	buf[0] = 'b';
	call_door(fd, buf, BIG, NULL, 0);
	_exit(3); /* never: it is killed first */
}

/* W: opens its channel, then calls while the only thread is busy. */
static void waiter(void *arg)
{
	(void)arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK(call_door(fd, "q", 1, NULL, 0) == sizeof(struct report));
	gate_open(&w_ready);
	gate_wait_within(&w_go, 60);
	call_door(fd, "w", 1, NULL, 0);
	_exit(3);
}

int main(void)
{
	test_name = "fault_client_kill";
	watchdog(100);
	char *dir = test_dir();
	snprintf(path, sizeof path, "%s/door", dir);
	struct gate *gates[] = { &ready, &inside, &release, &w_ready, &w_go };
	for (size_t i = 0; i < sizeof gates / sizeof gates[0]; i++)
		gate_init(gates[i]);
	pid_t s = spawn_tied(server, NULL);
	gate_wait_within(&ready, 20);

	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	/* Warm up: the driver's channel, with bulk buffers both ways, and the
	 * server thread's argument buffer at full size. */
	static char arg[BIG];
	arg[0] = 'g';
	for (int i = 0; i < 2; i++)
		CHECK(call_door(fd, arg, BIG, NULL, 0) == BIG);
	struct report base = query(fd);
	/* This process's count too: its own calls keep one channel, and the
	 * clients it forks and kills leave nothing here. */
	int mine = count_fds();
	double worst = 0;
	for (int round = 0; round < ROUNDS; round++) {
		pid_t w = -1;
		if (round % 2 == 1) {
			w = spawn_tied(waiter, NULL);
			gate_wait_within(&w_ready, 20);
		}
		pid_t v = spawn_tied(victim, NULL);
		gate_wait_within(&inside, 20);
		if (w > 0) {
			/* W sends its call, then sleeps waiting for the thread. */
			gate_open(&w_go);
			double end = now_seconds() + 20;
			while (proc_state(w) != 'S')
				CHECK(now_seconds() < end);
			kill_and_reap(w);
		}
		kill_and_reap(v);
		double t0 = now_seconds();
		gate_open(&release);
		/* The same (only) thread serves us again; the server drops
		 * everything the dead clients had. */
		struct report r;
		for (;;) {
			r = query(fd);
			CHECK(r.tid == base.tid);
			/* Rounds 0 and 1 fill the free slots: at most one per
			 * client of the round, a few mappings each. And the
			 * reaper's two threads may start then, when the server
			 * first drops a descriptor from another process (the
			 * dead clients' channel ends): a stack, its guard page
			 * and a malloc arena (two mappings) each, and one
			 * arena more for a thread that allocates afresh. */
			int slack = round < 2 ? 8 * (round + 1) + 10 : 0;
			if (r.fds == base.fds && r.maps >= base.maps && r.maps <= base.maps + slack)
				break;
			if (now_seconds() - t0 > SETTLE) {
				fprintf(stderr, "FAIL %s: round %d: server has %d descriptors and %d mappings, %d and %d before\n",
				    test_name, round, r.fds, r.maps, base.fds, base.maps);
				exit(1);
			}
			usleep(1000); /* polling interval, not a synchronisation */
		}
		double dt = now_seconds() - t0;
		if (dt > worst)
			worst = dt;
		if (round == 1) {
			/* The free slots are all made, and the reaper's threads
			 * started (with their stacks and malloc arenas). */
			base.maps = r.maps;
			base.vm_kib = r.vm_kib;
		}
		CHECK(r.return_failed == 0);
		CHECK(r.blocked_runs == round + 1);
		fds_back(mine, 10, "the driver");
	}
	struct report end = query(fd);
	CHECK(end.return_failed == 0);
	/* As on illumos, a call whose client died while it waited for a
	 * thread never starts. */
	CHECK(end.waiter_runs == 0);
	/* A leaked channel would keep at least its 132 KiB region and two
	 * 1 MiB bulk buffers. */
	if (end.vm_kib - base.vm_kib > 512) {
		fprintf(stderr, "FAIL %s: server address space grew from %ld to %ld KiB\n", test_name, base.vm_kib,
		    end.vm_kib);
		exit(1);
	}
	printf("%s: %d rounds: server back to %d descriptors, %d mappings, VmSize %ld -> %ld KiB; "
	       "slowest settle %.1f ms\n",
	    test_name, ROUNDS, end.fds, end.maps, base.vm_kib, end.vm_kib, worst * 1e3);
	close(fd);
	kill_and_reap(s);
	PASS();
}
