/* Hostile peers on an attached door's path (the listening socket that
 * open() connects to), speaking raw sockets: connections of the wrong
 * socket types; a connection that sends nothing and holds on; garbage,
 * truncated, oversized and empty messages, a message of the wrong kind;
 * an Open carrying stray descriptors of every kind (a memfd shrunk after
 * sending, pipes, sockets, a directory); thousands of descriptors; a flood
 * of silent connections; a listener attached by another holder of the door
 * that makes it blocking again and races the server to accept. Each time: the server lives, a good client's calls
 * go on with the right bytes, the server's descriptor count comes back to
 * its baseline, and the offender's connection is closed. */
#include "hostile.h"

/* Sends `len` raw bytes (with `n` descriptors) on a fresh connection and
 * requires that the server closes it. */
static void bad_message(const void *buf, size_t len, const int *fds, int n, const char *what)
{
	int s = raw_connect(door_path, SOCK_SEQPACKET);
	CHECK(s >= 0);
	CHECK(raw_send(s, buf, len, fds, n) == (ssize_t)len);
	expect_closed(s, 20, what);
	close(s);
	after(what);
}

static void ignore_signal(int sig)
{
	(void)sig;
}

/* Sends SIGUSR1 to `target` every 10 ms until `stop`. */
struct kicker {
	pthread_t target;
	_Atomic int stop;
	double end;
};

/* Whether the server's control thread is in system call `nr` now and
 * still half a second later (the server's watchdog ends an accept on a
 * listener made blocking within 200 ms: it looks once per 100 ms). */
static int control_thread_stuck_in(long nr)
{
	for (double until = now_seconds() + 0.002; now_seconds() < until;)
		usleep(1000); /* lets it reach its accept */
	for (int look = 0; look < 2; look++) {
		if (threads_in_syscall(server_pid, "libdoor-control", nr) == 0)
			return 0;
		/* Still there a moment later? (Slept to a deadline: signals
		 * interrupt usleep.) */
		for (double until = now_seconds() + 0.5; look == 0 && now_seconds() < until;)
			usleep(10000);
	}
	return 1;
}

static void *kick_every_10ms(void *arg)
{
	struct kicker *k = arg;
	while (!atomic_load(&k->stop)) {
		pthread_kill(k->target, SIGUSR1);
		usleep(10000); /* the period */
	}
	return NULL;
}

int main(void)
{
	hostile_setup("hostile_attach");

	/* Other socket types cannot even connect. */
	CHECK(raw_connect(door_path, SOCK_STREAM) == -1);
	CHECK(raw_connect(door_path, SOCK_DGRAM) == -1);
	{
		int s = socket(AF_UNIX, SOCK_DGRAM, 0);
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		strcpy(a.sun_path, door_path);
		CHECK(sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof a) == -1);
		close(s);
	}
	after("other socket types");

	/* Garbage, a truncated header, an oversized one, an empty message, a
	 * message of a kind no opener sends, a claimed size far beyond it. */
	unsigned char junk[48];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (unsigned char)(i * 37 + 11);
	bad_message(junk, sizeof junk, NULL, 0, "garbage");
	struct wmsg open_msg = wmsg(K_OPEN, 0);
	bad_message(&open_msg, 20, NULL, 0, "truncated header");
	static char huge[65536];
	memcpy(huge, &open_msg, sizeof open_msg);
	bad_message(huge, sizeof huge, NULL, 0, "oversized header");
	bad_message("", 0, NULL, 0, "empty message");
	struct wmsg hello = wmsg(K_HELLO, 0);
	bad_message(&hello, sizeof hello, NULL, 0, "wrong kind");
	struct wmsg claim = wmsg(K_CALL, 1);
	claim.a = 1ull << 40;
	bad_message(&claim, sizeof claim, NULL, 0, "claimed size");

	/* An Open carrying stray descriptors of every kind; the memfd is
	 * shrunk after sending. */
	{
		int fds[12];
		assorted_fds(fds, 12);
		CHECK_OK(ftruncate(fds[3], 1 << 20));
		int s = raw_connect(door_path, SOCK_SEQPACKET);
		CHECK(s >= 0);
		send_msg(s, open_msg, fds, 12);
		CHECK_OK(ftruncate(fds[3], 0));
		close_all(fds, 12);
		expect_closed(s, 20, "stray descriptors");
		close(s);
		after("stray descriptors");
	}

	/* Thousands of descriptors: 20 messages of 253 each. */
	{
		int sv[2];
		CHECK_OK(pipe(sv));
		int fds[253];
		for (int i = 0; i < 253; i++)
			CHECK((fds[i] = dup(sv[i % 2])) >= 0);
		int s = raw_connect(door_path, SOCK_SEQPACKET);
		CHECK(s >= 0);
		for (int k = 0; k < 20; k++)
			if (raw_send(s, &open_msg, sizeof open_msg, fds, 253) == -1)
				break; /* closed already */
		close_all(fds, 253);
		close_all(sv, 2);
		expect_closed(s, 20, "thousands of descriptors");
		close(s);
		after("thousands of descriptors");
	}

	/* Nothing at all, holding the connection open: the server disconnects
	 * it while the good client goes on. */
	{
		int s = raw_connect(door_path, SOCK_SEQPACKET);
		CHECK(s >= 0);
		require_progress("silent connection", 5, 60);
		expect_closed(s, 30, "silent connection");
		close(s);
		after("silent connection");
	}

	/* A flood of silent connections: the server keeps only a bounded
	 * number of them (never all its descriptors), new opens still work
	 * meanwhile, and every one is eventually closed. */
	{
		enum { FLOOD = 400 };
		static int conns[FLOOD];
		int made = 0;
		for (; made < FLOOD; made++) {
			conns[made] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
			struct sockaddr_un a = { .sun_family = AF_UNIX };
			strcpy(a.sun_path, door_path);
			if (connect(conns[made], (struct sockaddr *)&a, sizeof a) == -1) {
				CHECK(errno == EAGAIN);
				close(conns[made]);
				break; /* the backlog is full: the server is not keeping up */
			}
		}
		CHECK(made >= 100);
		require_progress("flood", 10, 60);
		CHECK(server_fds() <= fd_baseline + 64 + 8);
		for (int i = 0; i < made; i++) {
			expect_closed(conns[i], 60, "flood");
			close(conns[i]);
		}
		after("flood");
	}

	/* An Open whose answer is never read: the server answers and moves on. */
	{
		int s = raw_connect(door_path, SOCK_SEQPACKET);
		CHECK(s >= 0);
		struct wmsg m = open_msg;
		m.d = O_RDWR;
		send_msg(s, m, NULL, 0);
		require_progress("unread answer", 5, 60);
		close(s);
		after("unread answer");
	}

	/* A listener attached by another holder of the door, which clears the
	 * O_NONBLOCK the server set on the description they share, then
	 * connects to it and takes each connection itself, racing the
	 * server's accept (which then finds nothing to take): the server's
	 * control thread must never wait there for good, or no open, Hello
	 * or door_info of any of its doors would be answered again. */
	{
		int door = raw_open(door_path);
		struct sockaddr_un addr = { .sun_family = AF_UNIX };
		snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "hostile-attach-%d", (int)getpid());
		socklen_t alen = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(addr.sun_path + 1);
		int l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		CHECK_OK(bind(l, (struct sockaddr *)&addr, alen));
		CHECK_OK(listen(l, 16));
		int rp[2];
		CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, rp));
		struct wmsg m = wmsg(K_ATTACH, 0);
		m.a = 0666;
		m.b = getuid();
		m.c = getgid();
		int fds[2] = { l, rp[1] };
		send_msg(door, m, fds, 2);
		struct wmsg r;
		CHECK(raw_recv(rp[0], &r, sizeof r, NULL, 0, NULL, 10) == (ssize_t)sizeof r && r.d == 0);
		close_all(rp, 2);
		CHECK_OK(fcntl(l, F_SETFL, fcntl(l, F_GETFL) & ~O_NONBLOCK));
		/* Our own accept, should the server take a connection first, is
		 * ended by a signal every 10 ms. */
		struct sigaction sa = { .sa_handler = ignore_signal };
		CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
		struct kicker k = { pthread_self(), 0, now_seconds() + 10 };
		pthread_t kt;
		CHECK(pthread_create(&kt, NULL, kick_every_10ms, &k) == 0);
		unsigned seed = 1;
		int refused = 0;
		for (long i = 1; !refused && now_seconds() < k.end; i++) {
			int c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
			if (connect(c, (struct sockaddr *)&addr, alen) != 0) {
				/* The server shut the listener down (ECONNREFUSED):
				 * it caught the tampering. */
				CHECK(errno == ECONNREFUSED);
				refused = 1;
			}
			for (double until = now_seconds() + (rand_r(&seed) % 80) * 1e-6; now_seconds() < until;)
				; /* a random moment after the server's epoll_wait saw it */
			struct pollfd pf = { l, POLLIN, 0 };
			if (!refused && poll(&pf, 1, 0) == 1) {
				int a = accept(l, NULL, NULL);
				if (a >= 0)
					close(a);
			}
			close(c);
			if (i % 20 == 0 && control_thread_stuck_in(SYS_accept4)) {
				fprintf(stderr, "FAIL %s: the control thread waits in accept4 on a listener its attacher made blocking\n", test_name);
				exit(1);
			}
		}
		printf("note: %s\n", refused ? "the server shut the tampered listener down" : "the race was not met in 10 s");
		atomic_store(&k.stop, 1);
		CHECK(pthread_join(kt, NULL) == 0);
		/* Done: the server drops a listener its attacher shut down. */
		CHECK_OK(shutdown(l, SHUT_RDWR));
		close(l);
		close(door);
		after("a listener made blocking by its attacher");
	}

	hostile_teardown();
	PASS();
}
