/* Hostile peers on a channel (the socket pair and shared region a client
 * opens to a door with Hello), speaking raw: garbage, truncated and
 * oversized messages; calls claiming sizes far beyond what they send (in
 * the region, a memfd, the bulk buffer, a pipe), unsealed or shrunk
 * memfds, pipes that are not a pipe's read end or end early; stray
 * descriptors and thousands of descriptors; leading descriptors whose call
 * comes late; a client that never reads its replies; a client scribbling
 * on the region's words and on its argument areas while the procedure
 * runs. The procedure's arguments never change under it, the bytes after
 * them up to their page's end are zero, no client ever sees another's
 * data, and the usual checks hold after each scenario (server alive, good
 * client progressing, server descriptor count back to baseline, the
 * offender's channel closed when it broke the protocol). */
#include "hostile.h"

#include <sys/resource.h>

/* A fresh raw channel on a fresh door descriptor. */
static int door_fd = -1;
static void fresh(struct rchan *c)
{
	if (door_fd < 0)
		door_fd = raw_open(door_path);
	raw_channel(door_fd, c);
}

/* Sends `len` raw bytes with `n` descriptors on a fresh channel and
 * requires that the server closes it. */
static void bad_message(const void *buf, size_t len, const int *fds, int n, const char *what)
{
	struct rchan c;
	fresh(&c);
	CHECK(raw_send(c.sock, buf, len, fds, n) == (ssize_t)len);
	expect_closed(c.sock, 20, what);
	close_channel(&c);
	after(what);
}

/* A call claiming `size` bytes with these flags and descriptors, which the
 * server must refuse by closing the channel. */
static void bad_call(uint64_t size, uint32_t flags, const int *fds, int n, uint32_t ndesc, const char *what)
{
	struct rchan c;
	fresh(&c);
	raw_call(&c, 1, size, flags, fds, n, ndesc);
	expect_closed(c.sock, 20, what);
	close_channel(&c);
	after(what);
}

/* Posts call `seq` of `size` bytes in the region as a streamed bulk call
 * round a ring of `window` bytes of the buffer from `start`, with `ready`
 * of its bytes announced, and wakes a lingering thread. */
static void post_streamed_ring(struct rchan *c, uint64_t seq, uint64_t size, uint64_t ready, uint64_t window,
			       uint64_t start)
{
	atomic_store(word64(c, R_BULK_WINDOW), window);
	atomic_store(word64(c, R_BULK_START), start);
	atomic_store(word64(c, R_BULK_TAKEN), 0);
	atomic_store(word64(c, R_BULK_READY), ready);
	atomic_store(word64(c, R_REQ_SIZE), size);
	atomic_store(word32(c, R_REQ_FLAGS), F_DATA_BULK);
	atomic_store(word32(c, R_REQ_VIA), 1);
	atomic_store(word64(c, R_STATE), seq << 2 | 1);
	atomic_fetch_add(word32(c, R_REQ_WORD), 1);
	futex_wake_all(c->region + R_REQ_WORD);
}

/* The same from the start of a ring of `window` bytes. */
static void post_streamed_window(struct rchan *c, uint64_t seq, uint64_t size, uint64_t ready, uint64_t window)
{
	post_streamed_ring(c, seq, size, ready, window, 0);
}

/* The same round the whole of a streaming_channel's 1 MiB buffer. */
static void post_streamed(struct rchan *c, uint64_t seq, uint64_t size, uint64_t ready)
{
	post_streamed_window(c, seq, size, ready, 1 << 20);
}

/* The socket copy of a call already posted (its state word left alone). */
static void raw_call_keep_state(struct rchan *c, uint64_t seq, size_t size, uint32_t flags)
{
	struct wmsg m = wmsg(K_CALL, seq);
	m.a = size;
	m.e = flags;
	(void)raw_send(c->sock, &m, sizeof m, NULL, 0);
}

/* The region's count of bytes written of a streamed reply, as a probe
 * for await_value (`c`: the struct rchan; capped at INT_MAX). */
static int bulk_ready_of(void *c)
{
	uint64_t v = atomic_load(word64(c, R_BULK_READY));
	return v > INT_MAX ? INT_MAX : (int)v;
}

static long server_peak_kib(void)
{
	char p[64], line[256];
	snprintf(p, sizeof p, "/proc/%d/status", (int)server_pid);
	FILE *f = fopen(p, "r");
	CHECK(f != NULL);
	long kib = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* A call through the socket with the arguments in the region; returns the
 * first result byte (or -errno). */
static int region_call(struct rchan *c, const char *arg, size_t len)
{
	memcpy(c->region + R_REQUEST, arg, len);
	raw_call(c, ++c->seq, len, 0, NULL, 0, 0);
	uint64_t size;
	long e = region_answer(c, c->seq, &size, 30);
	CHECK(e != -1);
	if (e != 0)
		return (int)-e;
	CHECK(size >= 1);
	return c->region[R_REPLY];
}

/* A bulk buffer of `len` bytes (sealed against shrinking and growing) and
 * its mapping. */
static char *bulk_buffer(size_t len, int *fd)
{
	*fd = region_memfd(len, F_SEAL_SHRINK | F_SEAL_GROW);
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	CHECK(p != MAP_FAILED);
	return p;
}

/* A fresh channel whose 1 MiB bulk buffer the server has taken (a call
 * sent it and was answered), so calls may stream; returns the buffer. */
static char *streaming_channel(struct rchan *c, int *b)
{
	fresh(c);
	char *bulk = bulk_buffer(1 << 20, b);
	memset(bulk, 0, 1 << 20);
	bulk[0] = 'z';
	raw_call(c, ++c->seq, 200000, F_DATA_BULK | F_NEW_BULK, b, 1, 0);
	uint64_t size;
	CHECK(region_answer(c, c->seq, &size, 30) == 0 && c->region[R_REPLY] == 'Z');
	return bulk;
}

/* Once the held procedure runs, scribbles on `len` bytes at `p` until it
 * has compared its arguments. */
static void scribble_until_done(char *p, size_t len)
{
	double end = now_seconds() + 30;
	while (atomic_load(&sh->hold_done) == 0) {
		CHECK(now_seconds() < end);
		usleep(100); /* polling with a deadline */
	}
	for (unsigned i = 0; atomic_load(&sh->hold_done) != 2; i++) {
		CHECK(now_seconds() < end);
		memset(p, (int)(i & 0xff), len);
		atomic_fetch_add(&sh->scribbles, 1);
	}
}

static void *memmem_any(const char *hay, size_t n)
{
	return memmem(hay, n, SECRET, sizeof SECRET - 1);
}

/* Results that do not fit rbuf come in a fresh mapping whose bytes after
 * the results are zero. */
static void overflow_results(void *arg)
{
	(void)arg;
	int d = open(door_path, O_RDONLY);
	CHECK(d >= 0);
	for (int i = 0; i < 3; i++) {
		char small[16];
		door_arg_t a = { "b", 1, NULL, 0, small, sizeof small };
		CHECK_OK(door_call(d, &a));
		CHECK(a.rbuf != small && a.data_size == 70000 && a.rsize >= 70000);
		for (size_t k = 0; k < a.data_size; k++)
			CHECK(a.data_ptr[k] == 'B');
		for (size_t k = a.data_size; k < a.rsize; k++)
			CHECK(a.rbuf[k] == 0);
		munmap(a.rbuf, a.rsize);
	}
	close(d);
}

int main(void)
{
	hostile_setup("hostile_channel");
	/* The offender's door descriptor stays open throughout: count it. */
	door_fd = raw_open(door_path);
	fd_baseline += 1;
	require_baseline("setup");

	/* Malformed messages. */
	unsigned char junk[48];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (unsigned char)(i * 29 + 5);
	bad_message(junk, sizeof junk, NULL, 0, "garbage");
	struct wmsg call = wmsg(K_CALL, 1);
	bad_message(&call, 17, NULL, 0, "truncated header");
	static char huge[100000];
	memcpy(huge, &call, sizeof call);
	bad_message(huge, sizeof huge, NULL, 0, "oversized header");
	struct wmsg hello = wmsg(K_HELLO, 0);
	bad_message(&hello, sizeof hello, NULL, 0, "wrong kind");

	/* Claimed sizes far beyond what was sent. */
	bad_call(R_REQUEST_CAP + 1, 0, NULL, 0, 0, "region size beyond the area");
	{
		int small = region_memfd(4096, 0);
		bad_call(1ull << 30, F_DATA_MEMFD, &small, 1, 0, "1 GiB claimed, 4 KiB unsealed memfd");
		bad_call(1ull << 40, F_DATA_MEMFD, &small, 1, 0, "1 TiB claimed");
		close(small);
		int sealed = region_memfd(4096, F_SEAL_SHRINK | F_SEAL_GROW);
		bad_call(1ull << 30, F_DATA_MEMFD, &sealed, 1, 0, "1 GiB claimed, 4 KiB sealed memfd");
		close(sealed);
		/* The server never allocated what was claimed. */
		CHECK(server_peak_kib() < 512 * 1024);
		int p[2];
		CHECK_OK(pipe(p));
		bad_call(100, F_DATA_MEMFD, &p[0], 1, 0, "a pipe as the data memfd");
		close_all(p, 2);
		int dir = open("/", O_RDONLY | O_DIRECTORY);
		bad_call(100, F_DATA_MEMFD, &dir, 1, 0, "a directory as the data memfd");
		close(dir);
	}
	{
		/* A memfd shrunk after it was sent. */
		struct rchan c;
		fresh(&c);
		int m = region_memfd(1 << 20, 0);
		raw_call(&c, 1, 1 << 20, F_DATA_MEMFD, &m, 1, 0);
		CHECK_OK(ftruncate(m, 0));
		close(m);
		expect_closed(c.sock, 20, "a memfd shrunk after sending");
		close_channel(&c);
		after("a memfd shrunk after sending");
	}
	bad_call(100000, F_DATA_BULK, NULL, 0, 0, "bulk data without a bulk buffer");
	{
		int unsealed = region_memfd(1 << 20, 0);
		bad_call(100000, F_DATA_BULK | F_NEW_BULK, &unsealed, 1, 0, "an unsealed bulk buffer");
		close(unsealed);
		/* A memfd of huge pages, sealed: its owner could punch its pages
		 * out and use up the huge pages, and the server's mapping would
		 * then fault (SIGBUS). (Skipped where there is no hugetlbfs.) */
		int huge = memfd_create("hostile-huge", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB);
		if (huge >= 0) {
			CHECK_OK(ftruncate(huge, 2 << 20));
			CHECK_OK(fcntl(huge, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW));
			bad_call(100000, F_DATA_BULK | F_NEW_BULK, &huge, 1, 0, "a bulk buffer of huge pages");
			close(huge);
		}
		int b;
		char *p = bulk_buffer(1 << 20, &b);
		bad_call(2 << 20, F_DATA_BULK | F_NEW_BULK, &b, 1, 0, "more than the bulk buffer holds");
		munmap(p, 1 << 20);
		close(b);
	}

	/* Spliced arguments: a pipe of the call's own, its read end. */
	bad_call(100000, F_DATA_PIPE, NULL, 0, 0, "pipe data without a pipe");
	{
		int p[2];
		CHECK_OK(pipe(p));
		bad_call(100000, F_DATA_PIPE, &p[1], 1, 0, "a pipe's write end as the pipe");
		bad_call((64 << 20) + 1, F_DATA_PIPE, &p[0], 1, 0, "more through a pipe than a bulk buffer holds");
		close_all(p, 2);
		int m = region_memfd(1 << 20, F_SEAL_SHRINK | F_SEAL_GROW);
		bad_call(100000, F_DATA_PIPE, &m, 1, 0, "a memfd as the pipe");
		close(m);
		int dir = open("/", O_RDONLY | O_DIRECTORY);
		bad_call(100000, F_DATA_PIPE, &dir, 1, 0, "a directory as the pipe");
		close(dir);
		int sv[2];
		CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
		bad_call(100000, F_DATA_PIPE, &sv[0], 1, 0, "a socket as the pipe");
		close_all(sv, 2);
	}
	{
		/* A pipe that ends before the bytes the call claims: EFAULT, as for
		 * arguments the client could not supply; the channel stays open. */
		struct rchan c;
		fresh(&c);
		int p[2];
		CHECK_OK(pipe(p));
		raw_call(&c, ++c.seq, 100000, F_DATA_PIPE, &p[0], 1, 0);
		close(p[0]);
		CHECK(write(p[1], "ten bytes.", 10) == 10);
		close(p[1]);
		uint64_t size;
		CHECK(region_answer(&c, c.seq, &size, 30) == EFAULT);
		CHECK(region_call(&c, "z", 1) == 'Z');
		close_channel(&c);
		after("a pipe that ends early");
	}
	{
		/* A client that keeps a copy of the pipe's read end and clears
		 * O_NONBLOCK on it (the server shares that flag) once the server
		 * waits for the rest: no server thread may then sleep in read()
		 * for as long as the client keeps the write end open. */
		struct rchan c;
		fresh(&c);
		int p[2];
		CHECK_OK(pipe(p));
		CHECK(write(p[1], "e", 1) == 1);
		raw_call(&c, ++c.seq, 600000, F_DATA_PIPE, &p[0], 1, 0);
		double end = now_seconds() + 30;
		while (!(fcntl(p[0], F_GETFL) & O_NONBLOCK)) /* the server adopted it */
			CHECK(now_seconds() < end);
		CHECK_OK(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) & ~O_NONBLOCK));
		usleep(300000); /* time to reach its next read */
		int reading = threads_in_syscall(server_pid, NULL, SYS_read);
		if (reading != 0) {
			fprintf(stderr, "FAIL %s: %d server threads sleep in read() on a pipe whose client cleared O_NONBLOCK\n", test_name, reading);
			exit(1);
		}
		close_all(p, 2);
		uint64_t size;
		CHECK(region_answer(&c, c.seq, &size, 30) == EFAULT);
		close_channel(&c);
		after("a pipe made blocking by its client");
	}

	/* Stray descriptors, and thousands of descriptors. */
	{
		int fds[12];
		assorted_fds(fds, 12);
		bad_call(10, 0, fds, 12, 0, "descriptors the call does not count");
		bad_call(10, 0, fds, 6, 12, "fewer descriptors than the call counts");
		/* Counted correctly, they reach the procedure, which closes them. */
		struct rchan c;
		fresh(&c);
		memcpy(c.region + R_REQUEST, "e12345", 6);
		raw_call(&c, 1, 6, 0, fds, 12, 12);
		uint64_t size;
		CHECK(region_answer(&c, 1, &size, 30) == 0 && size == 6);
		close_channel(&c);
		close_all(fds, 12);
		after("descriptors of every kind");
	}
	{
		int sv[2];
		CHECK_OK(pipe(sv));
		int fds[253];
		for (int i = 0; i < 253; i++)
			CHECK((fds[i] = dup(sv[i % 2])) >= 0);
		struct rchan c;
		fresh(&c);
		for (int k = 0; k < 20; k++) {
			struct wmsg m = wmsg(K_DESCS, 1);
			m.d = 253;
			if (raw_send(c.sock, &m, sizeof m, fds, 253) == -1)
				break;
		}
		expect_closed(c.sock, 20, "thousands of descriptors");
		close_channel(&c);
		after("thousands of descriptors");

		/* Descriptors whose call comes late: the server waits for nobody,
		 * and the call is served when it comes. */
		fresh(&c);
		struct wmsg m = wmsg(K_DESCS, 1);
		m.d = 253;
		CHECK(raw_send(c.sock, &m, sizeof m, fds, 253) == sizeof m);
		require_progress("a call's descriptors, the call late", 10, 60);
		expect_open(c.sock, "a call's descriptors, the call late");
		memcpy(c.region + R_REQUEST, "e", 1);
		raw_call(&c, 1, 1, 0, fds, 1, 254);
		uint64_t size;
		CHECK(region_answer(&c, 1, &size, 30) == 0 && size == 1);
		close_channel(&c);
		close_all(fds, 253);
		close_all(sv, 2);
		after("a call's descriptors, the call late");
	}

	/* A client that never reads its replies (each carries a descriptor,
	 * so each goes on the socket): the server never waits for it to make
	 * room, and closes its channel once there is none. */
	{
		struct rchan c;
		fresh(&c);
		int closed = 0;
		for (uint64_t seq = 1; seq < 20000 && !closed; seq++) {
			uint32_t word = atomic_fetch_or(word32(&c, R_REP_WORD), R_REP_ARMED) | R_REP_ARMED;
			c.region[R_REQUEST] = 'f';
			atomic_store(word32(&c, R_REQ_VIA), 0);
			atomic_store(word64(&c, R_STATE), seq << 2 | 1);
			struct wmsg m = wmsg(K_CALL, seq);
			m.a = 1;
			if (raw_send(c.sock, &m, sizeof m, NULL, 0) == -1)
				break;
			double end = now_seconds() + 10;
			while (atomic_load(word32(&c, R_REP_WORD)) == word) {
				if (now_seconds() > end) {
					closed = 1; /* no answer: the check below decides */
					break;
				}
				usleep(100); /* polling with a deadline */
			}
		}
		expect_closed(c.sock, 20, "replies never read");
		close_channel(&c);
		after("replies never read");
	}

	/* Large replies announced in the region, their data in the server's
	 * bulk buffer (after the first, which brings the buffer on the
	 * socket), to a client that never maps the buffer and never reads:
	 * each is announced with its size and written whole, and the server,
	 * which waits for no reader, answers every call. */
	{
		struct rchan c;
		fresh(&c);
		for (uint64_t seq = 1; seq <= 200; seq++) {
			c.region[R_REQUEST] = 'b';
			raw_call(&c, seq, 1, 0, NULL, 0, 0);
			if (seq == 1) {
				int fd = -1;
				struct wmsg r;
				CHECK(raw_recv(c.sock, &r, sizeof r, &fd, 1, NULL, 10) == (ssize_t)sizeof r);
				CHECK(r.kind == K_REPLY && r.a == 70000 && fd >= 0);
				close(fd);
				continue;
			}
			uint64_t size = 0;
			CHECK(region_answer(&c, seq, &size, 10) == 0 && size == 70000);
			await_value(bulk_ready_of, &c, 70000, 10, "the announced reply's bytes written");
		}
		expect_open(c.sock, "large replies never read");
		close_channel(&c);
		after("large replies never read");
	}

	/* The procedure's arguments cannot change under it: the offender
	 * scribbles on the region's argument area, on its bulk buffer and on
	 * its data memfd while the procedure holds. */
	{
		struct rchan c;
		fresh(&c);
		memset(c.region + R_REQUEST, 'h', 1000);
		atomic_store(&sh->hold_done, 0);
		raw_call(&c, ++c.seq, 1000, 0, NULL, 0, 0);
		scribble_until_done(c.region + R_REQUEST, 1000);
		uint64_t size;
		CHECK(region_answer(&c, c.seq, &size, 30) == 0 && size == 1);
		CHECK(c.region[R_REPLY] == 'S');

		int b;
		char *bulk = bulk_buffer(1 << 20, &b);
		memset(bulk, 'h', 300000);
		atomic_store(&sh->hold_done, 0);
		raw_call(&c, ++c.seq, 300000, F_DATA_BULK | F_NEW_BULK, &b, 1, 0);
		scribble_until_done(bulk, 300000);
		CHECK(region_answer(&c, c.seq, &size, 30) == 0 && size == 1);
		CHECK(c.region[R_REPLY] == 'S');

		/* Spliced: the pipe holds references to the offender's pages,
		 * which it scribbles on once the procedure runs. */
		static char spliced[600000] __attribute__((aligned(4096)));
		memset(spliced, 'h', sizeof spliced);
		int p[2];
		CHECK_OK(pipe(p));
		CHECK(fcntl(p[1], F_SETPIPE_SZ, 1 << 20) >= (int)sizeof spliced);
		atomic_store(&sh->hold_done, 0);
		raw_call(&c, ++c.seq, sizeof spliced, F_DATA_PIPE, &p[0], 1, 0);
		close(p[0]);
		struct iovec iov = { spliced, sizeof spliced };
		CHECK(vmsplice(p[1], &iov, 1, 0) == (ssize_t)sizeof spliced);
		close(p[1]);
		scribble_until_done(spliced, sizeof spliced);
		CHECK(region_answer(&c, c.seq, &size, 30) == 0 && size == 1);
		CHECK(c.region[R_REPLY] == 'S');

		int m = region_memfd(1 << 20, F_SEAL_SHRINK | F_SEAL_GROW);
		char *mp = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
		CHECK(mp != MAP_FAILED);
		memset(mp, 'h', 1 << 20);
		atomic_store(&sh->hold_done, 0);
		raw_call(&c, ++c.seq, 1 << 20, F_DATA_MEMFD, &m, 1, 0);
		scribble_until_done(mp, 1 << 20);
		CHECK(region_answer(&c, c.seq, &size, 30) == 0 && size == 1);
		CHECK(c.region[R_REPLY] == 'S');
		munmap(mp, 1 << 20);
		close(m);

		/* The bytes after the arguments, up to their page's end, are zero,
		 * though larger calls with other bytes came before. */
		static char arg[60000];
		for (int round = 0; round < 20; round++) {
			size_t big = 50000 - round * 1000, small = 1 + round * 37;
			memset(arg, 0xFF, big);
			arg[0] = 'z';
			CHECK(region_call(&c, arg, big) == 'Z');
			CHECK(region_call(&c, arg, small) == 'Z');
		}
		memset(bulk, 0xFF, 500000);
		bulk[0] = 'z';
		raw_call(&c, ++c.seq, 500000, F_DATA_BULK, NULL, 0, 0);
		CHECK(region_answer(&c, c.seq, &size, 30) == 0 && c.region[R_REPLY] == 'Z');
		CHECK(region_call(&c, arg, 3) == 'Z');

		/* No trace of the good client's data anywhere this client sees. */
		CHECK(memmem_any(c.region, R_LEN) == NULL);
		CHECK(memmem_any(bulk, 1 << 20) == NULL);
		munmap(bulk, 1 << 20);
		close(b);
		close_channel(&c);
		after("arguments scribbled on");
	}

	/* Streamed calls (posted in the region while a server thread lingers
	 * on the channel, the bulk data written after, its progress in
	 * R_BULK_READY): one that claims more than the bulk buffer holds is
	 * refused; one whose data never comes holds at most the thread that
	 * took it, not the door, and is served once the data is there; bytes
	 * announced beyond the claimed size are never read. Whether a thread
	 * lingers when the call is posted is the scheduler's choice, so each
	 * call is also sent on the socket, as libdoor's client does when it
	 * finds no thread lingering (one copy runs); through the socket an
	 * oversized claim closes the channel instead. */
	{
		struct rchan c;
		int b;
		char *bulk = streaming_channel(&c, &b);
		uint64_t size;

		/* More than the buffer holds. */
		uint64_t seq = ++c.seq;
		post_streamed(&c, seq, 2 << 20, 0);
		long e = region_answer(&c, seq, &size, 0.2);
		if (e == -1) {
			/* Nobody lingered: the socket copy, which the server refuses
			 * by closing the channel. */
			raw_call_keep_state(&c, seq, 2 << 20, F_DATA_BULK);
			e = region_answer(&c, seq, &size, 5);
			if (e == -1)
				expect_closed(c.sock, 20, "a streamed call beyond the bulk buffer");
			else
				CHECK(e == EPROTO);
		} else {
			CHECK(e == EPROTO);
		}
		munmap(bulk, 1 << 20);
		close(b);
		close_channel(&c);
		after("a streamed call beyond the bulk buffer");

		/* Data that never comes, then comes; progress claimed beyond the
		 * size. */
		bulk = streaming_channel(&c, &b);
		memset(bulk, 0xFF, 1 << 20);
		bulk[0] = 'z';
		memset(bulk + 1, 0, 300000 - 1);
		seq = ++c.seq;
		post_streamed(&c, seq, 300000, 1000);
		require_progress("a streamed call whose data does not come", 10, 60);
		CHECK(atomic_load(word64(&c, R_REP_SEQ)) != seq);
		atomic_store(word64(&c, R_BULK_READY), 1ull << 40);
		futex_wake_all(c.region + 144);
		e = region_answer(&c, seq, &size, 1);
		if (e == -1) {
			raw_call_keep_state(&c, seq, 300000, F_DATA_BULK);
			e = region_answer(&c, seq, &size, 30);
		}
		/* 'Z': the procedure saw its 300000 bytes and zeros after them to
		 * the page's end, none of the 0xFF beyond. */
		CHECK(e == 0 && size == 1 && c.region[R_REPLY] == 'Z');

		/* A window that is not whole 64 KiB pieces, or larger than the
		 * buffer: refused, taken from the region or from its socket copy
		 * (which says the argument streams). */
		const uint64_t bad_windows[] = { 0, 3, 100000, 2 << 20, UINT64_MAX };
		for (size_t i = 0; i < sizeof bad_windows / sizeof bad_windows[0]; i++) {
			seq = ++c.seq;
			post_streamed_window(&c, seq, 300000, 300000, bad_windows[i]);
			e = region_answer(&c, seq, &size, 0.2);
			if (e == -1) {
				raw_call_keep_state(&c, seq, 300000, F_DATA_BULK | F_DATA_STREAMED);
				e = region_answer(&c, seq, &size, 30);
			}
			CHECK(e == EPROTO);
		}

		/* A start that is not on a piece, or outside the ring: refused
		 * alike. */
		const uint64_t bad_starts[] = { 1, 65535, 1 << 20, (1 << 20) + 65536, UINT64_MAX - 65535 };
		for (size_t i = 0; i < sizeof bad_starts / sizeof bad_starts[0]; i++) {
			seq = ++c.seq;
			post_streamed_ring(&c, seq, 300000, 300000, 1 << 20, bad_starts[i]);
			e = region_answer(&c, seq, &size, 0.2);
			if (e == -1) {
				raw_call_keep_state(&c, seq, 300000, F_DATA_BULK | F_DATA_STREAMED);
				e = region_answer(&c, seq, &size, 30);
			}
			CHECK(e == EPROTO);
		}

		/* Data that never comes, and the client goes away. */
		seq = ++c.seq;
		post_streamed(&c, seq, 300000, 0);
		require_progress("a streamed call abandoned", 10, 60);
		munmap(bulk, 1 << 20);
		close(b);
		close_channel(&c);
		after("a streamed call whose data does not come");
	}

	/* Scribbling on every word of the region's header while calling. */
	{
		struct rchan c;
		fresh(&c);
		unsigned x = 12345;
		for (uint64_t seq = 1; seq < 3000; seq++) {
			for (int w = 0; w < 32; w++) {
				x = x * 1103515245 + 12345;
				((_Atomic uint32_t *)c.region)[w] = x;
			}
			c.region[R_REQUEST] = 'e';
			struct wmsg m = wmsg(K_CALL, seq);
			m.a = x % 3 == 0 ? R_REQUEST_CAP + 5 : 1;
			if (raw_send(c.sock, &m, sizeof m, NULL, 0) == -1)
				break;
		}
		require_progress("header scribbled on", 10, 60);
		CHECK(memmem_any(c.region, R_LEN) == NULL);
		close_channel(&c);
		after("header scribbled on");
	}

	/* The client side, on a scenario thread (its channel goes with it). */
	fd_neutral("results in a fresh mapping", overflow_results, NULL);

	close(door_fd);
	hostile_teardown();
	PASS();
}
