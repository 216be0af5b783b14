/* A fake server, speaking raw, that a libdoor client opens and calls: it
 * lays out an attachment (a listening socket at the path, the stash's
 * record naming it), hands out a door descriptor of its own making, and
 * then answers the client's Hello and calls with malformed replies: a bad
 * answer to Hello, sizes beyond the reply area, errno values out of range,
 * a data memfd far smaller than claimed or unsealed, an unsealed bulk
 * buffer, results announced in the region for the bulk buffer with a wild
 * progress count, beyond the buffer, starting off a 64 KiB piece or
 * outside the buffer, cut off by a hang-up, or never
 * written (a signal frees the caller), results that fit the reply area
 * said to be in the bulk buffer (they are read from there), a streamed argument it never
 * copies out (a signal frees the caller) or hangs up on, or takes late,
 * once the window is full, from the call's socket copy, descriptor
 * counts that do not match, thousands of descriptors, garbage. Each call
 * fails with an error (never a crash or a hang), every descriptor the fake
 * sent is closed in the client (the client's count of open descriptors
 * comes back to what it was), and afterwards a proper reply still gives
 * the right bytes. The fake also checks that a new channel's first call,
 * when small, comes right behind its Hello, before the answer. */
#include "hostile.h"

#include <sys/time.h>

enum scenario {
	S_GOOD,            /* a proper reply in the region: the bytes "fine" */
	S_HELLO_GARBAGE,   /* garbage instead of the answer to Hello */
	S_SIZE,            /* region reply larger than the reply area */
	S_ERRNO,           /* region reply with an errno out of range */
	S_ERRNO_OK,        /* region reply with ENOENT: the call fails so */
	S_MEMFD_SHORT,     /* data memfd of 4 KiB claiming 1 GiB, unsealed */
	S_MEMFD_SEALED,    /* data memfd of 4 KiB, sealed, claiming 1 GiB */
	S_BULK_UNSEALED,   /* an unsealed bulk buffer */
	S_BULK_BEYOND,     /* bulk data beyond the bulk buffer */
	S_COUNT,           /* 5 descriptors where 2 are counted */
	S_THOUSANDS,       /* 5 batches of 253 descriptors */
	S_GARBAGE,         /* garbage on the channel */
	S_HANGUP,          /* the channel closed mid-call */
	S_BULK_GOOD,       /* a proper reply in a new 1 MiB bulk buffer: "fine" */
	S_STREAM_WILD,     /* 200,000 bytes in the bulk buffer, progress 2^64 - 1 */
	S_STREAM_BEYOND,   /* 2 MiB announced for the 1 MiB bulk buffer */
	S_STREAM_HANGUP,   /* 200,000 bytes announced, 1000 written, hang-up */
	S_STREAM_SILENT,   /* 200,000 bytes announced, 1000 written, then nothing */
	S_STREAM_ODD,      /* 200,000 bytes said to start 1000 bytes into the
	                    * buffer, not on a 64 KiB piece */
	S_STREAM_OUTSIDE,  /* 200,000 bytes said to start at the 1 MiB
	                    * buffer's end */
	S_STREAM_SMALL,    /* 20,000 bytes said to be in the bulk buffer (as
	                    * toward a client on another CPU), the reply area
	                    * holding other bytes */
	S_BIG_GOOD,        /* a proper reply to a call whose 3 MiB argument
	                    * brought the client's bulk buffer */
	S_ARG_UNTAKEN,     /* a thread said to linger, which never takes the call
	                    * nor copies out
	                    * a 3 MiB argument streamed to it */
	S_ARG_HANGUP,      /* the same, and the channel closes meanwhile */
	S_ARG_LATE,        /* the thread said to linger stops before it takes
	                    * the call, once the window is full: the socket
	                    * copy comes, and the fake copies the argument out
	                    * of the window as a pool thread would */
	S_BULK_HUGE,       /* a new 1 MiB bulk buffer said to hold 4 GiB */
	S_BULK_HUGE_OLD,   /* the bulk buffer the client has (1 MiB) said to
	                    * hold 4 GiB */
	S_DESCS_HELD,      /* a descriptor sent ahead of a reply that never
	                    * comes: while the client holds it, it is
	                    * close-on-exec and a forked child has no copy */
};

/* The read end of a pipe that only the fake keeps: the descriptor of
 * S_DESCS_HELD, recognised in the client by its inode. */
static int held_pipe = -1;
static ino_t held_ino;

/* The scenario the fake has applied to the channel's region (whether a
 * thread is said to linger on it: only for S_ARG_*). */
static _Atomic int *applied;
static const uint32_t LINGER = 1;

/* The results each scenario that succeeds gives: "fine", then zeros. */
static size_t results_of(int s)
{
	return s == S_STREAM_WILD ? 200000 : s == S_STREAM_SMALL ? 20000 : 4;
}

static _Atomic int *next_scenario;

/* Of the Hellos that came before a call without descriptors whose
 * argument fits the region, how many had that call right behind them on
 * the new channel (libdoor sends it without waiting for the answer). */
static _Atomic int *small_hellos, *calls_behind;

/* The argument of the scenarios that stream one: larger than the ring
 * the client streams round toward a server on another CPU (2 MiB,
 * door-compat/src/bulk.rs, RING), so that the ring fills. */
#define BIG (3 << 20)

/* Whether the test calls scenario `s` with a BIG argument. */
static int is_big(int s)
{
	return s == S_BIG_GOOD || s == S_ARG_UNTAKEN || s == S_ARG_HANGUP || s == S_ARG_LATE;
}

static void send_fake(int sock, struct wmsg m, const int *fds, int n)
{
	(void)raw_send(sock, &m, sizeof m, fds, n);
}

static _Atomic uint64_t *word64_at(char *region, size_t off)
{
	return (_Atomic uint64_t *)(region + off);
}

static _Atomic uint32_t *word32_at(char *region, size_t off)
{
	return (_Atomic uint32_t *)(region + off);
}

/* Copies a streamed argument of `size` bytes out of the client's bulk
 * buffer `bulk`, round the ring the client chose from where it said, as
 * libdoor's server does (door-compat/src/bulk.rs, stream_out); whether it
 * is the one call_sized sends: 'x', then zeros. */
static int take_streamed(char *region, const unsigned char *bulk, size_t bulk_len, uint64_t size)
{
	uint64_t window = atomic_load(word64_at(region, R_BULK_WINDOW));
	uint64_t start = atomic_load(word64_at(region, R_BULK_START));
	CHECK(window >= 65536 && window <= bulk_len && window % 65536 == 0);
	CHECK(start < window && start % 65536 == 0);
	int right = 1;
	uint64_t done = 0;
	double end = now_seconds() + 30;
	while (done < size) {
		CHECK(now_seconds() < end);
		uint64_t ready = atomic_load(word64_at(region, R_BULK_READY));
		if (ready > size)
			ready = size;
		if (ready <= done)
			continue; /* spinning, with a deadline */
		uint64_t at = (start + done) % window, n = ready - done < window - at ? ready - done : window - at;
		for (uint64_t i = 0; i < n; i++)
			right &= bulk[at + i] == (done + i == 0 ? 'x' : 0);
		done += n;
		atomic_store(word64_at(region, R_BULK_TAKEN), done);
		if (atomic_load(word32_at(region, R_BULK_ROOM_WAITING))) {
			atomic_fetch_add(word32_at(region, R_BULK_ROOM), 1);
			futex_wake_all(region + R_BULK_ROOM);
		}
	}
	return right;
}

/* Answers call `seq` on channel `ch` as scenario `s` says. */
static void answer(int s, int ch, char *region, uint64_t seq)
{
	int fds[253];
	struct wmsg r = wmsg(K_REPLY, seq);
	switch (s) {
	case S_GOOD:
	case S_BIG_GOOD:
		memcpy(region + R_REPLY, "fine", 4);
		fake_post(region, seq, 0, 4);
		break;
	case S_SIZE:
		fake_post(region, seq, 0, 1 << 20);
		break;
	case S_ERRNO:
		fake_post(region, seq, 1ull << 40, 0);
		break;
	case S_ERRNO_OK:
		fake_post(region, seq, ENOENT, 0);
		break;
	case S_MEMFD_SHORT:
	case S_MEMFD_SEALED:
		fds[0] = region_memfd(4096, s == S_MEMFD_SEALED ? F_SEAL_SHRINK | F_SEAL_GROW : 0);
		r.a = 1ull << 30;
		r.e = F_DATA_MEMFD;
		send_fake(ch, r, fds, 1);
		close(fds[0]);
		fake_post(region, 0, 0, 0);
		break;
	case S_STREAM_WILD:
	case S_STREAM_BEYOND:
	case S_STREAM_HANGUP:
	case S_STREAM_SILENT:
	case S_STREAM_ODD:
	case S_STREAM_OUTSIDE:
		atomic_store(word64_at(region, R_REP_START), s == S_STREAM_ODD ? 1000 : s == S_STREAM_OUTSIDE ? 1 << 20 : 0);
		atomic_store((_Atomic uint64_t *)(region + R_BULK_READY), s == S_STREAM_WILD ? UINT64_MAX : 1000);
		fake_post(region, seq, 0, s == S_STREAM_BEYOND ? 2 << 20 : 200000);
		break;
	case S_STREAM_SMALL:
		memset(region + R_REPLY, 0xEE, 20000);
		atomic_store(word64_at(region, R_REP_START), 0);
		atomic_store(word32_at(region, R_REP_IN_BULK), 1);
		atomic_store(word64_at(region, R_BULK_READY), 20000);
		fake_post(region, seq, 0, 20000);
		break;
	case S_BULK_GOOD:
	case S_BULK_UNSEALED:
	case S_BULK_BEYOND:
	case S_BULK_HUGE:
		fds[0] = region_memfd(1 << 20, s == S_BULK_UNSEALED ? 0 : F_SEAL_SHRINK | F_SEAL_GROW);
		if (s == S_BULK_GOOD)
			CHECK(pwrite(fds[0], "fine", 4, 0) == 4);
		r.a = s == S_BULK_GOOD ? 4 : s == S_BULK_BEYOND ? 2 << 20 : s == S_BULK_HUGE ? 4ull << 30 : 100000;
		r.e = F_DATA_BULK | F_NEW_BULK;
		send_fake(ch, r, fds, 1);
		close(fds[0]);
		fake_post(region, 0, 0, 0);
		break;
	case S_DESCS_HELD: {
		struct wmsg m = wmsg(K_DESCS, seq);
		m.d = 1;
		send_fake(ch, m, &held_pipe, 1);
		fake_post(region, 0, 0, 0); /* wakes the client to read them */
		break;
	}
	case S_BULK_HUGE_OLD:
		r.a = 4ull << 30;
		r.e = F_DATA_BULK;
		send_fake(ch, r, NULL, 0);
		fake_post(region, 0, 0, 0);
		break;
	case S_COUNT:
		assorted_fds(fds, 5);
		r.d = 2;
		send_fake(ch, r, fds, 5);
		close_all(fds, 5);
		fake_post(region, 0, 0, 0);
		break;
	case S_THOUSANDS: {
		int p[2];
		CHECK_OK(pipe(p));
		for (int i = 0; i < 253; i++)
			CHECK((fds[i] = dup(p[i % 2])) >= 0);
		for (int k = 0; k < 5; k++) {
			struct wmsg m = wmsg(K_DESCS, seq);
			m.d = 253;
			send_fake(ch, m, fds, 253);
		}
		r.d = 5 * 253;
		send_fake(ch, r, NULL, 0);
		close_all(fds, 253);
		close_all(p, 2);
		fake_post(region, 0, 0, 0);
		break;
	}
	case S_GARBAGE: {
		unsigned char junk[48];
		memset(junk, 0x5A, sizeof junk);
		(void)raw_send(ch, junk, sizeof junk, NULL, 0);
		fake_post(region, 0, 0, 0);
		break;
	}
	default:
		break;
	}
}

static void fake_server(void *arg)
{
	struct gate *ready = arg;
	/* The attachment: a listening socket at the path, and the stash's
	 * record naming its inode. */
	int l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, door_path);
	CHECK_OK(bind(l, (struct sockaddr *)&a, sizeof a));
	CHECK_OK(listen(l, 8));
	CHECK_OK(chmod(door_path, 0666));
	struct stat st;
	CHECK_OK(stat(door_path, &st));
	char stash[600], meta[700];
	snprintf(stash, sizeof stash, "%.*s.door.door", (int)(strrchr(door_path, '/') - door_path + 1), door_path);
	CHECK_OK(mkdir(stash, 0755));
	snprintf(meta, sizeof meta, "%s/meta", stash);
	FILE *f = fopen(meta, "w");
	CHECK(f != NULL);
	const uint64_t uniq = 0x0123456789abcdefull;
	fprintf(f, "libdoor-attachment 1\ndev %llu\nino %llu\nmode 666\nuid %u\ngid %u\nuniq %llx\n",
	    (unsigned long long)st.st_dev, (unsigned long long)st.st_ino, (unsigned)getuid(), (unsigned)getgid(),
	    (unsigned long long)uniq);
	fclose(f);
	gate_open(ready);

	/* Answers the Open with a door descriptor of its own: a socket pair
	 * end bound to a label for `uniq`, its nameplate queued. */
	int conn = accept(l, NULL, NULL);
	CHECK(conn >= 0);
	struct wmsg m;
	CHECK(raw_recv(conn, &m, sizeof m, NULL, 0, NULL, 30) == sizeof m && m.kind == K_OPEN);
	int door, given = fake_door(uniq, "fakenonc", &door);
	send_fake(conn, wmsg(K_OPENED, 0), &given, 1);
	close(given);
	close(conn);

	/* Serves Hellos and calls as the test asks. */
	int ch = -1;
	char *region = NULL;
	unsigned char *bulk = NULL;
	size_t bulk_len = 0;
	for (;;) {
		/* Says a thread lingers only under S_ARG_*; under S_ARG_HANGUP,
		 * once the call is posted in the region, hangs up. */
		int now = atomic_load(next_scenario);
		if (region != NULL) {
			int untaken = now == S_ARG_UNTAKEN || now == S_ARG_HANGUP || now == S_ARG_LATE;
			/* Under S_ARG_LATE, no longer once the window is full. */
			if (now == S_ARG_LATE && atomic_load(word32_at(region, R_REQ_VIA)) == 1 &&
			    atomic_load(word64_at(region, R_BULK_READY)) >= atomic_load(word64_at(region, R_BULK_WINDOW)))
				untaken = 0;
			atomic_store((_Atomic uint32_t *)(region + R_MODE), untaken ? LINGER : 0);
			if (now == S_ARG_HANGUP && (atomic_load((_Atomic uint64_t *)(region + R_STATE)) & 3) == 1 &&
			    atomic_load((_Atomic uint32_t *)(region + R_REQ_VIA)) == 1) {
				close(ch);
				munmap(region, R_LEN);
				ch = -1;
				region = NULL;
			}
		}
		atomic_store(applied, now);
		struct pollfd p[2] = { { door, POLLIN, 0 }, { ch, POLLIN, 0 } };
		int ready = poll(p, ch >= 0 ? 2 : 1, 20);
		CHECK(ready >= 0);
		if (ready == 0)
			continue;
		int fds[253], n = 0;
		if (p[0].revents) {
			ssize_t k = raw_recv(door, &m, sizeof m, fds, 253, &n, 1);
			if (k == 0)
				_exit(0);
			if (k != sizeof m || m.kind != K_HELLO || n != 2) {
				close_all(fds, n);
				continue;
			}
			if (ch >= 0)
				close(ch);
			if (region != NULL)
				munmap(region, R_LEN);
			ch = fds[0];
			region = fake_adopt(fds);
			/* Before answering: a small call should already be on its
			 * way (waited for 2 s at most). */
			if (!is_big(atomic_load(next_scenario))) {
				atomic_fetch_add(small_hellos, 1);
				if (poll(&(struct pollfd){ ch, POLLIN, 0 }, 1, 2000) == 1)
					atomic_fetch_add(calls_behind, 1);
			}
			if (atomic_load(next_scenario) == S_HELLO_GARBAGE)
				send_fake(ch, wmsg(0xdead, 0), NULL, 0);
			else
				send_fake(ch, wmsg(K_OPENED, 0), NULL, 0);
			continue;
		}
		ssize_t k = raw_recv(ch, &m, sizeof m, fds, 253, &n, 1);
		int s = atomic_load(next_scenario);
		if (k == sizeof m && m.kind == K_CALL && s == S_BIG_GOOD && n == 1 && (m.e & F_NEW_BULK)) {
			/* The client's bulk buffer, kept for S_ARG_LATE. */
			struct stat bst;
			CHECK_OK(fstat(fds[0], &bst));
			if (bulk != NULL)
				munmap(bulk, bulk_len);
			bulk_len = (size_t)bst.st_size;
			bulk = mmap(NULL, bulk_len, PROT_READ, MAP_SHARED, fds[0], 0);
			CHECK(bulk != MAP_FAILED);
		}
		close_all(fds, n);
		if (k <= 0 || m.kind != K_CALL) {
			close(ch);
			ch = -1;
			continue;
		}
		if (s == S_ARG_LATE) {
			/* The socket copy of the call posted in the region, its
			 * argument still streaming: taken from the state word as a
			 * pool thread takes it, then copied out. */
			CHECK((m.e & (F_DATA_BULK | F_DATA_STREAMED)) == (F_DATA_BULK | F_DATA_STREAMED));
			CHECK(atomic_compare_exchange_strong(word64_at(region, R_STATE), &(uint64_t){ m.seq << 2 | 1 }, m.seq << 2 | 2));
			CHECK(bulk != NULL && m.a <= bulk_len);
			if (take_streamed(region, bulk, bulk_len, m.a)) {
				memcpy(region + R_REPLY, "fine", 4);
				fake_post(region, m.seq, 0, 4);
			} else {
				fake_post(region, m.seq, EPROTO, 0);
			}
			continue;
		}
		if (s == S_HANGUP) {
			close(ch);
			ch = -1;
			continue;
		}
		answer(s, ch, region, m.seq);
		if (s == S_STREAM_HANGUP) {
			close(ch);
			ch = -1;
		}
	}
}

static void ignore_signal(int sig)
{
	(void)sig;
}

/* One call under scenario `s` with an argument of `size` bytes; its
 * errno, or 0 with the results "fine". */
static int call_sized(int d, int s, size_t size)
{
	static char arg[BIG] = "x";
	atomic_store(next_scenario, s);
	double end = now_seconds() + 30;
	while (atomic_load(applied) != s)
		CHECK(now_seconds() < end);
	char res[64];
	door_arg_t a = { arg, size, NULL, 0, res, sizeof res };
	if (door_call(d, &a) == -1)
		return errno;
	CHECK(a.data_size == results_of(s) && memcmp(a.data_ptr, "fine", 4) == 0);
	for (size_t i = 4; i < a.data_size; i++)
		CHECK(a.data_ptr[i] == 0);
	if (a.rbuf != res)
		munmap(a.rbuf, a.rsize);
	return 0;
}

/* The descriptor of this process with the inode `ino`, or -1. */
static int fd_with_inode(ino_t ino)
{
	DIR *dir = opendir("/proc/self/fd");
	CHECK(dir != NULL);
	int found = -1;
	for (struct dirent *e; found < 0 && (e = readdir(dir)) != NULL;) {
		struct stat st;
		int fd = atoi(e->d_name);
		if (e->d_name[0] != '.' && fd != dirfd(dir) && fstat(fd, &st) == 0 && st.st_ino == ino)
			found = fd;
	}
	closedir(dir);
	return found;
}

/* Under S_DESCS_HELD, beside the caller: once libdoor holds the
 * descriptor sent ahead, checks it, then interrupts the call. */
static void *inspect_held(void *caller)
{
	int fd = -1;
	double end = now_seconds() + 30;
	while ((fd = fd_with_inode(held_ino)) < 0) {
		CHECK(now_seconds() < end);
		usleep(1000); /* polling with a deadline */
	}
	if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC)) {
		fprintf(stderr, "FAIL %s: a descriptor libdoor holds for a call (%d) is not close-on-exec\n", test_name, fd);
		exit(1);
	}
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0)
		_exit(fd_with_inode(held_ino) >= 0);
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "FAIL %s: a child forked during a call kept a descriptor libdoor holds for it\n", test_name);
		exit(1);
	}
	CHECK(pthread_kill(*(pthread_t *)caller, SIGALRM) == 0);
	return NULL;
}

static int call_as(int d, int s)
{
	return call_sized(d, s, is_big(s) ? BIG : 1);
}

int main(void)
{
	test_name = "hostile_fake_server";
	watchdog(100);
	signal(SIGPIPE, SIG_IGN);
	next_scenario = mmap(NULL, 4 * sizeof *next_scenario, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(next_scenario != MAP_FAILED);
	applied = next_scenario + 1;
	small_hellos = next_scenario + 2;
	calls_behind = next_scenario + 3;
	atomic_store(applied, -1);
	snprintf(door_path, sizeof door_path, "%s/door", test_dir());
	int p[2];
	CHECK_OK(pipe(p));
	struct stat pst;
	CHECK_OK(fstat(p[0], &pst));
	held_pipe = p[0];
	held_ino = pst.st_ino;
	struct gate ready;
	gate_init(&ready);
	pid_t fake = spawn_tied(fake_server, &ready);
	close_all(p, 2); /* the fake's now */
	gate_wait_within(&ready, 30);

	int d = open(door_path, O_RDONLY);
	CHECK(d >= 0);
	CHECK(call_as(d, S_GOOD) == 0);
	int baseline = count_fds();

	static const struct { int scenario, err; } want[] = {
		{ S_HELLO_GARBAGE, EPROTO },
		{ S_SIZE, EPROTO },
		{ S_ERRNO, EPROTO },
		{ S_ERRNO_OK, ENOENT },
		{ S_MEMFD_SHORT, EPROTO },
		{ S_MEMFD_SEALED, EPROTO },
		{ S_BULK_UNSEALED, EPROTO },
		{ S_BULK_BEYOND, EPROTO },
		{ S_COUNT, EPROTO },
		{ S_THOUSANDS, EPROTO },
		{ S_GARBAGE, EPROTO },
		{ S_HANGUP, 0 },
		{ S_BULK_GOOD, 0 },
		{ S_STREAM_WILD, 0 },
		{ S_STREAM_BEYOND, EPROTO },
		{ S_BULK_GOOD, 0 },
		{ S_STREAM_HANGUP, EINTR },
		{ S_BULK_GOOD, 0 },
		{ S_STREAM_SILENT, EINTR },
		{ S_BULK_GOOD, 0 },
		{ S_STREAM_ODD, EPROTO },
		{ S_BULK_GOOD, 0 },
		{ S_STREAM_OUTSIDE, EPROTO },
		{ S_BULK_GOOD, 0 },
		{ S_STREAM_SMALL, 0 },
		{ S_BIG_GOOD, 0 },
		{ S_ARG_UNTAKEN, EAGAIN },
		{ S_BIG_GOOD, 0 },
		{ S_ARG_HANGUP, EBADF },
		{ S_BIG_GOOD, 0 },
		{ S_ARG_LATE, 0 },
		{ S_BULK_HUGE, EPROTO },
		{ S_BULK_GOOD, 0 },
		{ S_BULK_HUGE_OLD, EPROTO },
		{ S_DESCS_HELD, EAGAIN },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		int s = want[i].scenario;
		if (s == S_HELLO_GARBAGE)
			CHECK(call_as(d, S_SIZE) == EPROTO); /* drops the channel: the next opens one */
		if (s == S_HANGUP) {
			/* A channel the fake drops mid-call: the call fails. */
			int e = call_as(d, s);
			CHECK(e == EBADF || e == EINTR);
		} else if (s == S_DESCS_HELD) {
			struct sigaction sa = { .sa_handler = ignore_signal }, old;
			CHECK_OK(sigaction(SIGALRM, &sa, &old));
			pthread_t me = pthread_self(), inspector;
			CHECK(pthread_create(&inspector, NULL, inspect_held, &me) == 0);
			int e = call_as(d, s);
			CHECK(pthread_join(inspector, NULL) == 0);
			CHECK_OK(sigaction(SIGALRM, &old, NULL));
			/* (EAGAIN: the fake never marks the call taken.) */
			CHECK(e == EAGAIN);
		} else if (s == S_STREAM_SILENT || s == S_ARG_UNTAKEN) {
			/* A fake that never writes the rest of what it announced,
			 * or never takes the rest of an argument, holds the caller
			 * only until a signal: a timer every 50 ms, caught by a
			 * handler without SA_RESTART. EINTR for results; EAGAIN for
			 * an argument no thread took (the call is withdrawn and never
			 * runs, as on illumos). */
			struct sigaction sa = { .sa_handler = ignore_signal }, old;
			CHECK_OK(sigaction(SIGALRM, &sa, &old));
			struct itimerval every = { { 0, 50000 }, { 0, 50000 } }, off = { { 0, 0 }, { 0, 0 } };
			CHECK_OK(setitimer(ITIMER_REAL, &every, NULL));
			int e = call_as(d, s);
			CHECK_OK(setitimer(ITIMER_REAL, &off, NULL));
			CHECK_OK(sigaction(SIGALRM, &old, NULL));
			CHECK(e == want[i].err);
		} else {
			/* A size beyond the bulk buffer is refused before any
			 * memory is made for results of that size. */
			long peak = proc_status_kib("VmHWM");
			int e = call_as(d, s);
			if (proc_status_kib("VmHWM") - peak > 256 << 10) {
				fprintf(stderr, "FAIL %s: scenario %d: peak memory grew from %ld to %ld KiB\n", test_name, s, peak, proc_status_kib("VmHWM"));
				exit(1);
			}
			if (e != want[i].err) {
				fprintf(stderr, "FAIL %s: scenario %d: errno %d (%s), wanted %d\n", test_name, s, e, strerror(e), want[i].err);
				exit(1);
			}
		}
		CHECK(call_as(d, S_GOOD) == 0);
		/* Dropped descriptors may be closed by libdoor's reaper thread. */
		double end = now_seconds() + 30;
		while (count_fds() != baseline) {
			if (now_seconds() > end) {
				fprintf(stderr, "FAIL %s: scenario %d: %d descriptors, %d before\n", test_name, s, count_fds(), baseline);
				exit(1);
			}
			usleep(1000); /* polling with a deadline */
		}
	}

	close(d);
	reap_ok_within(fake, 30, "fake server"); /* it leaves when the door descriptor closes */
	/* Every new channel whose first call was small had that call sent
	 * right behind its Hello (a round trip sooner). */
	if (atomic_load(small_hellos) < 2 || atomic_load(calls_behind) != atomic_load(small_hellos)) {
		fprintf(stderr, "FAIL %s: of %d first calls that fit the region, %d came right behind their Hello\n", test_name,
		    atomic_load(small_hellos), atomic_load(calls_behind));
		exit(1);
	}
	PASS();
}
