/* Hostile peers on an attached door's path (the listening socket that
 * open() connects to), speaking raw sockets: connections of the wrong
 * socket types; a connection that sends nothing and holds on; garbage,
 * truncated, oversized and empty messages, a message of the wrong kind;
 * an Open carrying stray descriptors of every kind (a memfd shrunk after
 * sending, pipes, sockets, a directory); thousands of descriptors; a flood
 * of silent connections. Each time: the server lives, a good client's calls
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

	hostile_teardown();
	PASS();
}
