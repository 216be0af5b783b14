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
 *   peer sees end of file while the child still lives;
 * - and, with the reaper held so again, the application's close_range over
 *   the queued descriptor's number leaves it open (it is still libdoor's)
 *   until the reaper closes it.
 */
#include "hostile.h"

/* Calls the server's door with `len` bytes of `arg` from a process of
 * this test's own, whose channel ends with it; exactly `rlen` bytes of
 * results go to `res`. */
static void call_from_helper(const void *arg, size_t len, void *res, size_t rlen)
{
	int out[2];
	CHECK_OK(pipe(out));
	pid_t helper = test_fork();
	CHECK(helper >= 0);
	if (helper == 0) {
		int door = open(door_path, O_RDONLY);
		CHECK(door >= 0);
		char buf[64];
		CHECK(rlen <= sizeof buf);
		door_arg_t a = { (char *)arg, len, NULL, 0, buf, sizeof buf };
		CHECK_OK(door_call(door, &a));
		CHECK(a.data_size == rlen);
		CHECK(write(out[1], a.data_ptr, rlen) == (ssize_t)rlen);
		_exit(0);
	}
	reap_ok(helper);
	CHECK(read(out[0], res, rlen) == (ssize_t)rlen);
	close_all(out, 2);
}

/* Has the server fork ('k') and waits until the child is past fork (its
 * atfork handlers done). Returns the child's pid. */
static pid_t server_forks(void)
{
	atomic_store(&sh->forked, 0);
	pid_t child = 0;
	call_from_helper("k", 1, &child, sizeof child);
	CHECK(child > 0);
	double end = now_seconds() + 20;
	while (atomic_load(&sh->forked) != child) {
		CHECK(now_seconds() < end);
		usleep(1000); /* polling with a deadline */
	}
	return child;
}

enum { STALLS = 8 }; /* the reaper's most threads (sys.rs) */

/* Reply sockets carrying a lingering TCP socket each, whose closes hold
 * every reaper thread of the server. */
struct stall {
	int l[STALLS], peer[STALLS], carrier[STALLS][2];
};

/* Sends the stalls' Info messages on door descriptor `d` and waits until
 * every reaper thread is in its close. */
static void stall_reapers(int d, struct stall *st)
{
	/* Stopped while the sockets are sent, so that the server's copy of
	 * each is the last (this process's close must not be the one that
	 * waits). */
	stop_server();
	for (int i = 0; i < STALLS; i++) {
		int tcp = lingering_tcp(&st->l[i], &st->peer[i]);
		CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, st->carrier[i]));
		send_msg(st->carrier[i][0], wmsg(0, 0), &tcp, 1);
		CHECK_OK(shutdown(st->carrier[i][0], SHUT_WR));
		send_msg(d, wmsg(K_INFO, 0), &st->carrier[i][1], 1);
		close(st->carrier[i][1]);
		close(tcp);
	}
	CHECK_OK(kill(server_pid, SIGCONT));
	double end = now_seconds() + 30;
	while (threads_in_syscall(server_pid, "libdoor-reaper", SYS_close) < STALLS) {
		CHECK(now_seconds() < end);
		usleep(1000); /* polling with a deadline */
	}
}

/* Ends the blocked closes. */
static void release_reapers(struct stall *st)
{
	for (int i = 0; i < STALLS; i++) {
		close(st->peer[i]);
		close(st->l[i]);
	}
}

static void close_stall(struct stall *st)
{
	for (int i = 0; i < STALLS; i++)
		close(st->carrier[i][0]);
}

/* Has the server answer an Info on `d` with reply socket x[1] and drop it
 * into the reaper's queue: x[1]'s peer is not shut down, so the server
 * cannot tell that it holds nothing. The control thread serves d's
 * messages one after the other, so once the answer to a second Info
 * arrives, x[1] is queued. Returns the inode of x[1]. */
static ino_t queue_reply_socket(int d, int x[2])
{
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, x));
	struct stat st;
	CHECK_OK(fstat(x[1], &st));
	send_msg(d, wmsg(K_INFO, 0), &x[1], 1);
	close(x[1]);
	int z[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, z));
	CHECK_OK(shutdown(z[0], SHUT_WR));
	send_msg(d, wmsg(K_INFO, 0), &z[1], 1);
	close(z[1]);
	struct wmsg m;
	CHECK(raw_recv(z[0], &m, sizeof m, NULL, 0, NULL, 20) == (ssize_t)sizeof m && m.kind == K_IDENTITY);
	close(z[0]);
	return st.st_ino;
}

/* The number under which the server holds the socket of inode `ino`. */
static int server_fd_of(ino_t ino)
{
	char want[64], dir[64];
	snprintf(want, sizeof want, "socket:[%lu]", (unsigned long)ino);
	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)server_pid);
	DIR *dp = opendir(dir);
	CHECK(dp != NULL);
	int found = -1;
	for (struct dirent *e; found < 0 && (e = readdir(dp)) != NULL;) {
		char link[400], target[128];
		snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
		ssize_t k = readlink(link, target, sizeof target - 1);
		if (k > 0) {
			target[k] = 0;
			if (strcmp(target, want) == 0)
				found = atoi(e->d_name);
		}
	}
	closedir(dp);
	CHECK(found > 2);
	return found;
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

/* A reply socket waiting in the server's reaper queue behind stalled
 * reapers: the door descriptor it came on, the stall, its peer x[0], and
 * its number in the server. */
struct queued {
	int d;
	struct stall st;
	int x[2];
	int number;
};

static void queue_behind_stalled_reapers(struct queued *q)
{
	q->d = raw_open(door_path);
	stall_reapers(q->d, &q->st);
	q->number = server_fd_of(queue_reply_socket(q->d, q->x));
}

/* Releases the reapers: the queued socket's peer must then see end of
 * file. */
static void end_queued(struct queued *q, const char *what)
{
	release_reapers(&q->st);
	expect_closed(q->x[0], 20, what);
	close_stall(&q->st);
	close(q->x[0]);
	close(q->d);
}

static void fork_while_closing(void)
{
	const char *what = "a fork while a close waits in the reaper's queue";
	struct queued q;
	queue_behind_stalled_reapers(&q);
	pid_t child = server_forks();
	end_queued(&q, what);
	CHECK_OK(kill(child, 0)); /* the child lived through it */
	CHECK_OK(kill(child, SIGKILL));
	after(what);
}

static void close_range_while_closing(void)
{
	const char *what = "close_range over a descriptor in the reaper's queue";
	struct queued q;
	queue_behind_stalled_reapers(&q);
	char arg[1 + sizeof q.number] = { 'c' };
	memcpy(arg + 1, &q.number, sizeof q.number);
	char answer = 0;
	call_from_helper(arg, sizeof arg, &answer, 1);
	CHECK(answer == 'C');
	/* Still the server's (the reaper holds it): the Info answer is
	 * there to read, but no end of file. */
	struct pollfd p = { q.x[0], POLLRDHUP, 0 };
	if (poll(&p, 1, 0) != 0) {
		fprintf(stderr, "FAIL %s: %s: the application's close_range closed it (revents 0x%x)\n", test_name, what, p.revents);
		exit(1);
	}
	end_queued(&q, what);
	after(what);
}

int main(void)
{
	hostile_setup("server_fork");
	plain_fork();
	fork_while_closing();
	close_range_while_closing();
	hostile_teardown();
	PASS();
}
