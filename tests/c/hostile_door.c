/* Hostile peers on a door descriptor's socket (the one every holder of the
 * descriptor shares, which carries Hello, Info, Clone, Attach, Abandon),
 * speaking raw: garbage, truncated, oversized and empty messages, kinds no
 * client sends; Hello with too few or too many descriptors or descriptors
 * of the wrong kinds (a pipe for the channel, a directory or an unsealed
 * memfd shrunk after sending for the region); Info, Clone and Hello whose reply socket the offender filled
 * so that the server cannot write to it; an attached listener that the
 * offender shuts down; thousands of descriptors. Each time: the server
 * lives, a good client (whose every fifth step opens the path afresh and
 * asks door_info, which needs the server's control thread) goes on, the
 * server's descriptor count comes back to its baseline, and a malformed
 * sender's door descriptor is closed. */
#include "hostile.h"

/* Sends `len` raw bytes with `n` descriptors on a fresh door descriptor
 * and requires that the server closes it. */
static void refused(const void *buf, size_t len, const int *fds, int n, const char *what)
{
	int d = raw_open(door_path);
	CHECK(raw_send(d, buf, len, fds, n) == (ssize_t)len);
	expect_closed(d, 20, what);
	close(d);
}

/* `refused`, then the server must be as before. */
static void bad_message(const void *buf, size_t len, const int *fds, int n, const char *what)
{
	refused(buf, len, fds, n, what);
	after(what);
}

/* A Hello with these two descriptors (closed here) must be refused: the
 * door descriptor and the channel end are closed. */
static void bad_hello(int sock, int region, const char *what)
{
	int sv[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	int fds[2] = { sock >= 0 ? sock : sv[1], region };
	int d = raw_open(door_path);
	send_msg(d, wmsg(K_HELLO, 0), fds, 2);
	close_all(fds, 2);
	if (sock >= 0)
		close(sv[1]);
	expect_closed(d, 20, what);
	expect_closed(sv[0], 20, what);
	close(sv[0]);
	close(d);
	after(what);
}

/* A seqpacket socket pair whose end sv[1] has a full send buffer. */
static void full_pair(int sv[2])
{
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	int small = 4096;
	CHECK_OK(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small));
	char b[512] = { 0 };
	while (send(sv[1], b, sizeof b, MSG_DONTWAIT) > 0)
		;
	CHECK(errno == EAGAIN);
}

int main(void)
{
	hostile_setup("hostile_door");

	unsigned char junk[48];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (unsigned char)(i * 41 + 7);
	bad_message(junk, sizeof junk, NULL, 0, "garbage");
	struct wmsg info = wmsg(K_INFO, 0);
	bad_message(&info, 30, NULL, 0, "truncated header");
	static char huge[60000];
	memcpy(huge, &info, sizeof info);
	bad_message(huge, sizeof huge, NULL, 0, "oversized header");
	bad_message("", 0, NULL, 0, "empty message");
	struct wmsg call = wmsg(K_CALL, 1);
	call.a = 1ull << 40;
	bad_message(&call, sizeof call, NULL, 0, "a call on the door socket");
	struct wmsg open_msg = wmsg(K_OPEN, 0);
	bad_message(&open_msg, sizeof open_msg, NULL, 0, "wrong kind");
	struct wmsg hello = wmsg(K_HELLO, 0);
	bad_message(&hello, sizeof hello, NULL, 0, "Hello without descriptors");
	{
		int fds[4];
		assorted_fds(fds, 4);
		bad_message(&hello, sizeof hello, fds, 1, "Hello with one descriptor");
		bad_message(&hello, sizeof hello, fds, 3, "Hello with three descriptors");
		bad_message(&info, sizeof info, fds, 4, "Info with stray descriptors");
		close_all(fds, 4);
	}

	/* Hello with descriptors of the wrong kinds. */
	{
		int p[2];
		CHECK_OK(pipe(p));
		close(p[1]);
		bad_hello(p[0], region_memfd(R_LEN, F_SEAL_SHRINK | F_SEAL_GROW), "a pipe for the channel");
		bad_hello(-1, open("/", O_RDONLY | O_DIRECTORY), "a directory for the region");
		int shrinkable = region_memfd(R_LEN, 0);
		int sv[2];
		CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
		int fds[2] = { sv[1], shrinkable };
		int d = raw_open(door_path);
		send_msg(d, hello, fds, 2);
		CHECK_OK(ftruncate(shrinkable, 0));
		close_all(fds, 2);
		expect_closed(d, 20, "an unsealed region shrunk after sending");
		expect_closed(sv[0], 20, "an unsealed region shrunk after sending");
		close(sv[0]);
		close(d);
		after("an unsealed region shrunk after sending");
		bad_hello(-1, region_memfd(R_LEN / 2, F_SEAL_SHRINK | F_SEAL_GROW), "a region of the wrong size");
		char file[600];
		snprintf(file, sizeof file, "%s.region", door_path);
		int f = open(file, O_RDWR | O_CREAT, 0600);
		CHECK(f >= 0);
		unlink(file);
		CHECK_OK(ftruncate(f, R_LEN));
		bad_hello(-1, f, "a regular file of the right size for the region");
	}

	/* Descriptors whose close would block: a loopback TCP socket with
	 * unsent data and a long SO_LINGER, sent in a Hello it does not fit,
	 * alone and in flight inside a local socket sent in its place. The
	 * server is stopped while they are sent, so that its copy is the last
	 * (the offender's close must not be the one that waits). The server
	 * drops them without waiting, and its descriptor count comes back
	 * while the connection still holds the unsent data: the close does
	 * not wait out the linger on some thread of the server, holding up
	 * every descriptor dropped after it (20 Hellos of 200 more follow). */
	for (int nested = 0; nested < 2; nested++) {
		const char *what = nested ? "a socket carrying one whose close blocks" : "a socket whose close blocks";
		int l, peer;
		int tcp = lingering_tcp(&l, &peer);
		int d = raw_open(door_path);
		stop_server();
		int carrier[2] = { -1, -1 }, fds[3];
		if (nested) {
			CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, carrier));
			send_msg(carrier[0], wmsg(0, 0), &tcp, 1);
			fds[0] = carrier[1];
		} else {
			fds[0] = tcp;
		}
		fds[1] = region_memfd(R_LEN, F_SEAL_SHRINK | F_SEAL_GROW);
		fds[2] = open("/dev/null", O_RDWR);
		send_msg(d, hello, fds, 3);
		close_all(fds, 3);
		if (nested) {
			close(tcp);
			close(carrier[0]);
		}
		CHECK_OK(kill(server_pid, SIGCONT));
		expect_closed(d, 20, what);
		require_progress(what, 10, 30);
		close(d);
		for (int i = 0; i < 20; i++) {
			int many[200];
			for (int k = 0; k < 200; k++)
				many[k] = open("/dev/null", O_RDWR);
			refused(&hello, sizeof hello, many, 200, what);
			close_all(many, 200);
		}
		after(what);
		/* The TCP socket itself closed at once (its linger turned off),
		 * holding no thread of the server; the one in flight in a local
		 * socket is released inside that socket's close, which waits on
		 * a reaper thread of its own (RELIABILITY.md, item 30). */
		if (!nested && threads_in_syscall(server_pid, "libdoor-reaper", SYS_close) != 0) {
			fprintf(stderr, "FAIL %s: %s: a reaper thread waits out the linger\n", test_name, what);
			exit(1);
		}
		close(peer);
		close(l);
	}

	/* Reply sockets holding a socket whose close blocks, in flight in a
	 * message queued there, their other end's sending side shut down as
	 * libdoor's own reply sockets have it (so that the server closes those
	 * at once, sys::close_answered): the server must see what is queued
	 * and leave the close to a reaper thread, never its control thread,
	 * which the good client's door_info needs. The server is stopped while
	 * they are sent, so that its copy is the last. */
	for (int kind = K_INFO; kind <= K_CLONE; kind += K_CLONE - K_INFO) {
		const char *what = kind == K_INFO ? "an Info reply socket carrying a socket whose close blocks"
		                                  : "a Clone reply socket carrying a socket whose close blocks";
		int l, peer;
		int tcp = lingering_tcp(&l, &peer);
		int sv[2];
		CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
		send_msg(sv[0], wmsg(0, 0), &tcp, 1);
		CHECK_OK(shutdown(sv[0], SHUT_WR));
		int d = raw_open(door_path);
		stop_server();
		send_msg(d, wmsg(kind, 0), &sv[1], 1);
		close(sv[1]);
		close(tcp);
		CHECK_OK(kill(server_pid, SIGCONT));
		require_progress(what, 10, 30);
		if (threads_in_syscall(server_pid, "libdoor-control", SYS_close) != 0) {
			fprintf(stderr, "FAIL %s: %s: the control thread waits out the linger\n", test_name, what);
			exit(1);
		}
		expect_open(d, what);
		close(d);
		close(sv[0]);
		after(what);
		close(peer);
		close(l);
	}

	/* Reply sockets the server cannot write to: it must not wait. */
	{
		int d = raw_open(door_path);
		for (int kind = K_INFO; kind <= K_CLONE; kind += K_CLONE - K_INFO) {
			int sv[2];
			full_pair(sv);
			send_msg(d, wmsg(kind, 0), &sv[1], 1);
			require_progress("a full reply socket", 10, 60);
			close_all(sv, 2);
		}
		expect_open(d, "a full reply socket");
		close(d);
		after("a full reply socket");
	}
	{
		/* Hello with a channel end the offender filled first. */
		int sv[2];
		full_pair(sv);
		int fds[2] = { sv[1], region_memfd(R_LEN, F_SEAL_SHRINK | F_SEAL_GROW) };
		int d = raw_open(door_path);
		send_msg(d, hello, fds, 2);
		require_progress("a full channel socket", 10, 60);
		expect_closed(d, 20, "a full channel socket");
		close_all(fds, 2);
		close(sv[0]);
		close(d);
		after("a full channel socket");
	}

	/* Attach with a listener (left blocking) that the offender then shuts
	 * down: the control thread must neither wait in accept nor spin. */
	{
		int l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "hostile-%d", (int)getpid());
		CHECK_OK(bind(l, (struct sockaddr *)&a, sizeof a));
		CHECK_OK(listen(l, 8));
		int sv[2];
		CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
		int d = raw_open(door_path);
		struct wmsg m = wmsg(K_ATTACH, 0);
		m.a = 0666;
		int fds[2] = { l, sv[1] };
		send_msg(d, m, fds, 2);
		struct wmsg r;
		CHECK(raw_recv(sv[0], &r, sizeof r, NULL, 0, NULL, 10) == (ssize_t)sizeof r);
		CHECK(r.kind == K_OPENED && r.d == 0);
		CHECK_OK(shutdown(l, SHUT_RDWR));
		require_progress("a shut-down listener", 10, 60);
		close_all(fds, 2);
		close(sv[0]);
		close(d);
		after("a shut-down listener");

		/* A socket that is not listening. */
		CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
		int sv2[2];
		CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv2));
		int fds2[2] = { sv[1], sv2[1] };
		bad_message(&m, sizeof m, fds2, 2, "Attach without a listener");
		close_all(sv, 2);
		close_all(sv2, 2);
	}

	/* Thousands of descriptors: 20 messages of 253. */
	{
		int sv[2];
		CHECK_OK(pipe(sv));
		int fds[253];
		for (int i = 0; i < 253; i++)
			CHECK((fds[i] = dup(sv[i % 2])) >= 0);
		int d = raw_open(door_path);
		for (int k = 0; k < 20; k++)
			if (raw_send(d, &hello, sizeof hello, fds, 253) == -1)
				break;
		close_all(fds, 253);
		close_all(sv, 2);
		expect_closed(d, 20, "thousands of descriptors");
		close(d);
		after("thousands of descriptors");
	}

	/* Abandon naming channels that are not the sender's: nothing happens. */
	{
		int d = raw_open(door_path);
		for (uint64_t id = 0; id < 64; id++) {
			struct wmsg m = wmsg(K_ABANDON, id);
			m.a = id;
			send_msg(d, m, NULL, 0);
		}
		require_progress("Abandon of others' channels", 10, 60);
		expect_open(d, "Abandon of others' channels");
		close(d);
		after("Abandon of others' channels");
	}

	hostile_teardown();
	PASS();
}
