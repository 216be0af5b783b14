/* A door server that forks while its clients' channels are open
 * (docs/ARCHITECTURE.md, "fork"). The child lets go of its parent's
 * channels and descriptors without touching what the parent still serves,
 * and keeps none of them:
 *
 * - a plain fork: the reply word of a client's channel, which the child
 *   shares with its parent, is not marked as if the server had died (a
 *   child that marked it when letting go of its copy of the channel had
 *   every client of the parent poll for its end of file, 100 ms a call,
 *   after any fork of the server); the good client goes on;
 * - a fork while a descriptor the server dropped waits in its reaper's
 *   queue (every reaper thread held in a close that blocks: reply sockets
 *   carrying a lingering TCP socket): the child does not keep that
 *   descriptor; once the blocked closes end and the server closes it, its
 *   peer sees end of file while the child still lives.
 */
#include "hostile.h"

/* Has the server fork ('k', called from a process of this test's own,
 * whose channel ends with it) and waits until the child is past fork (its
 * atfork handlers done). Returns the child's pid. */
static pid_t server_forks(void)
{
	atomic_store(&sh->forked, 0);
	int pids[2];
	CHECK_OK(pipe(pids));
	pid_t caller = test_fork();
	CHECK(caller >= 0);
	if (caller == 0) {
		int door = open(door_path, O_RDONLY);
		CHECK(door >= 0);
		char op = 'k';
		pid_t forked = 0;
		door_arg_t a = { &op, 1, NULL, 0, (char *)&forked, sizeof forked };
		CHECK_OK(door_call(door, &a));
		CHECK(a.data_size == sizeof forked && forked > 0);
		CHECK(write(pids[1], &forked, sizeof forked) == sizeof forked);
		_exit(0);
	}
	reap_ok(caller);
	pid_t child = 0;
	CHECK(read(pids[0], &child, sizeof child) == sizeof child);
	close_all(pids, 2);
	double end = now_seconds() + 20;
	while (atomic_load(&sh->forked) != child) {
		CHECK(now_seconds() < end);
		usleep(1000); /* polling with a deadline */
	}
	return child;
}

static void plain_fork(void)
{
	const char *what = "a fork of the server";
	int d = raw_open(door_path);
	struct rchan c;
	raw_channel(d, &c);
	uint32_t word = atomic_load(word32(&c, R_REP_WORD));
	/* Watched (its id bits name the server's control thread): the case
	 * where the server's death, or its dropping the channel, marks it. */
	CHECK((word & ~(R_REP_ARMED | R_REP_OWNER_DIED)) != 0 && (word & R_REP_OWNER_DIED) == 0);
	pid_t child = server_forks();
	word = atomic_load(word32(&c, R_REP_WORD));
	if (word & R_REP_OWNER_DIED) {
		fprintf(stderr, "FAIL %s: %s: the child marked its parent's channel as dropped (reply word 0x%x)\n",
		    test_name, what, word);
		exit(1);
	}
	require_progress(what, 10, 30);
	CHECK_OK(kill(child, SIGKILL));
	close_channel(&c);
	close(d);
	after(what);
}

static void fork_while_closing(void)
{
	const char *what = "a fork while a close waits in the reaper's queue";
	enum { STALLS = 8 }; /* the reaper's most threads (sys.rs) */
	int l[STALLS], peer[STALLS], carrier[STALLS][2];
	int d = raw_open(door_path);
	/* Stopped while the sockets are sent, so that the server's copy of
	 * each is the last (this process's close must not be the one that
	 * waits). */
	stop_server();
	for (int i = 0; i < STALLS; i++) {
		int tcp = lingering_tcp(&l[i], &peer[i]);
		CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, carrier[i]));
		send_msg(carrier[i][0], wmsg(0, 0), &tcp, 1);
		CHECK_OK(shutdown(carrier[i][0], SHUT_WR));
		send_msg(d, wmsg(K_INFO, 0), &carrier[i][1], 1);
		close(carrier[i][1]);
		close(tcp);
	}
	CHECK_OK(kill(server_pid, SIGCONT));
	double end = now_seconds() + 30;
	while (threads_in_syscall(server_pid, "libdoor-reaper", SYS_close) < STALLS) {
		CHECK(now_seconds() < end);
		usleep(1000); /* polling with a deadline */
	}
	/* x[1]'s peer is not shut down, so the server cannot tell that it
	 * holds nothing: its close goes to the queue. The control thread
	 * serves d's messages one after the other, so once the answer to a
	 * second Info arrives, x[1] is queued. */
	int x[2], z[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, x));
	send_msg(d, wmsg(K_INFO, 0), &x[1], 1);
	close(x[1]);
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, z));
	CHECK_OK(shutdown(z[0], SHUT_WR));
	send_msg(d, wmsg(K_INFO, 0), &z[1], 1);
	close(z[1]);
	struct wmsg m;
	CHECK(raw_recv(z[0], &m, sizeof m, NULL, 0, NULL, 20) == (ssize_t)sizeof m && m.kind == K_IDENTITY);
	pid_t child = server_forks();
	for (int i = 0; i < STALLS; i++) {
		close(peer[i]);
		close(l[i]);
	}
	expect_closed(x[0], 20, what);
	CHECK_OK(kill(child, 0));
	CHECK_OK(kill(child, SIGKILL));
	for (int i = 0; i < STALLS; i++)
		close(carrier[i][0]);
	close_all(x, 1);
	close_all(z, 1);
	close(d);
	after(what);
}

int main(void)
{
	hostile_setup("server_fork");
	plain_fork();
	fork_while_closing();
	hostile_teardown();
	PASS();
}
