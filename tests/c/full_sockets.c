/* A server that reads nothing holds no caller past a signal or a
 * cancellation. A call travels through sockets and a pipe whose reader is
 * the server's process, which may leave them full; door_call must then
 * wait for room as it waits for a reply: a caught signal ends the call
 * (EAGAIN while no server thread has it, EINTR once one took it, as on
 * illumos), whether or not the handler asks for SA_RESTART. (A
 * cancellation request acts there only once a signal or room ends the
 * wait: ARCHITECTURE.md, "Signals and cancellation".)
 *
 * - hello: a fake server that kept a copy of the door descriptor it handed
 *   out fills that socket before the first call, so the channel's Hello
 *   cannot go: EAGAIN, with and without SA_RESTART;
 * - abandon: the fake takes the call, then fills the door's socket and
 *   never answers: EINTR (telling the server that the caller left must not
 *   wait for room either);
 * - channel: the fake answers every call in the region and never reads the
 *   channel's socket, which the calls' socket copies fill: a call then ends
 *   at a signal;
 * - splice: a real server, stopped, and a 4 MiB argument spliced toward it
 *   (both on one CPU, LIBDOOR_SPLICE=1), which the pipe cannot hold: EAGAIN.
 */
#include "hostile.h"

#include <sched.h>
#include <sys/time.h>

static int pass_sock[2];
static char part;

/* Fills `s`'s send buffer with messages nobody will read. */
static void fill(int s)
{
	struct wmsg m = wmsg(K_INFO, 0);
	while (send(s, &m, sizeof m, MSG_DONTWAIT | MSG_NOSIGNAL) == sizeof m)
		;
	CHECK(errno == EAGAIN);
}

/* The fake server of parts hello, abandon and channel. */
static void fake(void *arg)
{
	(void)arg;
	int door, given = fake_door(0x1122334455667788ull, "fullsock", &door);
	if (part == 'h')
		fill(given);
	send_msg(pass_sock[1], wmsg(K_OPENED, 0), &given, 1);
	/* `given` stays open here: a copy of the client's end. */
	int ch = -1, door_filled = part == 'h';
	char *region = NULL;
	uint64_t seq = 1;
	for (;;) {
		/* Part channel: calls are taken and answered in the region only. */
		if (part == 'c' && region != NULL) {
			uint64_t want = seq << 2 | 1;
			if (atomic_compare_exchange_strong((_Atomic uint64_t *)(region + R_STATE), &want, seq << 2 | 2)) {
				memcpy(region + R_REPLY, "fine", 4);
				fake_post(region, seq, 0, 4);
				seq++;
			}
		}
		struct pollfd p[2] = { { door_filled ? -1 : door, POLLIN, 0 }, { part == 'c' ? -1 : ch, POLLIN, 0 } };
		if (poll(p, 2, part == 'c' && region != NULL ? 0 : 100) <= 0)
			continue;
		int fds[253], n = 0;
		struct wmsg m;
		if (p[0].revents) {
			ssize_t k = raw_recv(door, &m, sizeof m, fds, 253, &n, 1);
			if (k == 0)
				_exit(0);
			if (k == sizeof m && m.kind == K_HELLO && n == 2) {
				ch = fds[0];
				region = fake_adopt(fds);
				send_msg(ch, wmsg(K_OPENED, 0), NULL, 0);
			} else {
				close_all(fds, n);
			}
			continue;
		}
		ssize_t k = raw_recv(ch, &m, sizeof m, fds, 253, &n, 1);
		close_all(fds, n);
		if (k <= 0) {
			close(ch);
			ch = -1;
			continue;
		}
		if (m.kind == K_CALL && part == 'a') {
			uint64_t want = m.seq << 2 | 1;
			CHECK(atomic_compare_exchange_strong((_Atomic uint64_t *)(region + R_STATE), &want, m.seq << 2 | 2));
			fill(given);
			door_filled = 1;
		}
	}
}

static void on_signal(int sig)
{
	(void)sig;
}

/* A thread that sends SIGUSR1 to `target` every 20 ms until `stop`, and
 * fails the test if that goes on for 20 s. */
struct ticker {
	pthread_t target, thread;
	_Atomic int stop;
	const char *what;
};

static void *tick(void *arg)
{
	struct ticker *t = arg;
	double end = now_seconds() + 20 * time_scale();
	/* The first after 100 ms: a signal while a new channel's Hello is
	 * answered would give the channel up (EAGAIN) before the part's wait. */
	for (double first = now_seconds() + 0.1; now_seconds() < first && !atomic_load(&t->stop);)
		usleep(5000);
	while (!atomic_load(&t->stop)) {
		if (now_seconds() > end) {
			fprintf(stderr, "FAIL %s: %s: door_call still waits 20 s after the first of many signals\n", test_name, t->what);
			_exit(1);
		}
		pthread_kill(t->target, SIGUSR1);
		usleep(20000); /* a signal every 20 ms */
	}
	return NULL;
}

static void start_ticking(struct ticker *t, pthread_t target, const char *what)
{
	t->target = target;
	t->what = what;
	atomic_store(&t->stop, 0);
	CHECK(pthread_create(&t->thread, NULL, tick, t) == 0);
}

static void stop_ticking(struct ticker *t)
{
	atomic_store(&t->stop, 1);
	CHECK(pthread_join(t->thread, NULL) == 0);
}

static void catch_usr1(int flags)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = flags };
	CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
}

/* A door descriptor from a new fake server playing part `p`. */
static int fake_for(char p, pid_t *pid)
{
	part = p;
	*pid = spawn_tied(fake, NULL);
	struct wmsg m;
	int d = -1, n = 0;
	CHECK(raw_recv(pass_sock[0], &m, sizeof m, &d, 1, &n, 10) == sizeof m && n == 1);
	return d;
}

/* Closes the fake's door descriptor `d`, and ends the fake. */
static void end_fake(int d, pid_t pid)
{
	CHECK_OK(close(d));
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, NULL, 0) == pid);
}

/* door_call(d) of one byte while signals come; its errno. */
static int call_under_signals(int d, const char *what)
{
	struct ticker t;
	char res[64];
	door_arg_t a = { "x", 1, NULL, 0, res, sizeof res };
	start_ticking(&t, pthread_self(), what);
	int r = door_call(d, &a);
	int e = errno;
	stop_ticking(&t);
	CHECK(r == -1);
	return e;
}

static void part_hello(void)
{
	pid_t pid;
	int d = fake_for('h', &pid);
	catch_usr1(0);
	CHECK(call_under_signals(d, "hello") == EAGAIN);
	catch_usr1(SA_RESTART);
	CHECK(call_under_signals(d, "hello, SA_RESTART") == EAGAIN);
	end_fake(d, pid);
}

static void part_abandon(void)
{
	pid_t pid;
	int d = fake_for('a', &pid);
	catch_usr1(0);
	CHECK(call_under_signals(d, "abandon") == EINTR);
	end_fake(d, pid);
}

static void part_channel(void)
{
	pid_t pid;
	int d = fake_for('c', &pid);
	catch_usr1(0);
	char res[64];
	/* The channel first, with no signal about (one during Hello would
	 * give the channel up, and the fake with it). */
	door_arg_t first = { "x", 1, NULL, 0, res, sizeof res };
	CHECK_OK(door_call(d, &first));
	long calls = 1;
	struct ticker t;
	start_ticking(&t, pthread_self(), "channel");
	int e;
	for (;;) {
		door_arg_t a = { "x", 1, NULL, 0, res, sizeof res };
		if (door_call(d, &a) == 0) {
			calls++;
			continue;
		}
		e = errno;
		if (e != EINTR && e != EAGAIN)
			break;
		/* The one that met a full socket ended at a signal; others a
		 * signal cut short before the fake took them. */
		if (calls > 0 && e == EAGAIN)
			break;
	}
	stop_ticking(&t);
	if (e != EAGAIN || calls == 0) {
		fprintf(stderr, "FAIL %s: channel: errno %d after %ld calls\n", test_name, e, calls);
		exit(1);
	}
	end_fake(d, pid);
}

static void echo(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	door_return("ok", 2, NULL, 0);
}

static void part_splice(void)
{
	char path[512];
	snprintf(path, sizeof path, "%s/splice", test_dir());
	struct gate ready;
	gate_init(&ready);
	pid_t server = spawn_tied(serve_attached, &(struct attached){ path, echo, &ready });
	gate_wait_within(&ready, 30);
	int d = open(path, O_RDONLY);
	CHECK(d >= 0);
	char res[64];
	door_arg_t a = { "x", 1, NULL, 0, res, sizeof res };
	CHECK_OK(door_call(d, &a)); /* the server has answered from our CPU */
	CHECK_OK(kill(server, SIGSTOP));
	size_t len = 4 << 20;
	char *big = malloc(len);
	CHECK(big != NULL);
	memset(big, 'y', len);
	catch_usr1(0);
	struct ticker t;
	start_ticking(&t, pthread_self(), "splice");
	door_arg_t b = { big, len, NULL, 0, res, sizeof res };
	int r = door_call(d, &b);
	int e = errno;
	stop_ticking(&t);
	CHECK(r == -1 && e == EAGAIN);
	free(big);
	CHECK_OK(close(d));
	kill(server, SIGKILL);
	CHECK(waitpid(server, NULL, 0) == server);
}

int main(void)
{
	test_name = "full_sockets";
	watchdog(120);
	signal(SIGPIPE, SIG_IGN);
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pass_sock));
	part_hello();
	part_abandon();
	part_channel();
	/* Client and server share one CPU, and every large argument is spliced. */
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	CHECK_OK(sched_setaffinity(0, sizeof one, &one));
	CHECK_OK(setenv("LIBDOOR_SPLICE", "1", 1));
	part_splice();
	PASS();
}
