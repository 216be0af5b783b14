/* Forged door descriptors. A door descriptor names its door by the label
 * its socket is bound to, and every label is public (/proc/net/unix), so
 * any process can bind a socket of its own to a label naming another door
 * and hand it over. Such a forgery must never pass for that door:
 *
 * - a thread that called the forgery first and the genuine door after, or
 *   the other way round, reaches each one's own server (the channel a
 *   thread keeps for a door is the one to that door's server), also in a
 *   process that cannot name either server (a new pid namespace; root
 *   only);
 * - a forgery naming one of the process's own doors is not that door:
 *   door_info reports the forger (no DOOR_LOCAL, not the door's procedure
 *   and cookie), door_setparam and door_revoke fail with EPERM and leave
 *   the door alone, and dup gives another descriptor of the forgery, not a
 *   genuine descriptor of the door;
 * - so is a socket pair this process made and gave away (both ends), one
 *   end bound by the forger to a label naming our door, with a nameplate
 *   the forger wrote through the other: the kernel says we made it, but
 *   the nameplate lacks the seal we give our labels.
 *
 * A forger that never answers Info or Clone (it keeps their reply sockets,
 * as a stopped or hostile server would) holds nobody for long: door_info,
 * door_getparam and dup of its door return, each with what it can tell
 * without the server (fork's copies of inherited doors take the same way
 * as dup's).
 *
 * The forger is a forked child speaking the wire protocol raw: it answers
 * Hello and every call with the results "forged". */
#include "hostile.h"

#include <sched.h>

static char genuine_path[512];

static void genuine_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	door_return("genuine", 8, NULL, 0);
}

static _Atomic int local_calls;

static void local_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	local_calls++;
	door_return("local", 6, NULL, 0);
}

/* What the forger forges: labels for these doors (the genuine door, ours,
 * and one of its own that never answers Info or Clone), handed over on
 * `sock`. */
enum { NFORGED = 3, SILENT = 2 };
#define SILENT_UNIQ 0x5113e47d00a5f00dull
struct forgery {
	int sock;
	uint64_t uniq[NFORGED];
	int given[2]; /* a socket pair the victim gave away */
};

/* Binds end 0 of `pair`, which the victim made, to a label naming the
 * victim's own door, queues a nameplate on it through end 1 (claiming the
 * victim's pid, with a made-up seal), closes end 1 and hands end 0 back. */
static void give_back_labelled(const struct forgery *f, const int pair[2])
{
	struct sockaddr_un label = { .sun_family = AF_UNIX };
	memcpy(label.sun_path, "\0libdoor1:", 10);
	memcpy(label.sun_path + 10, &f->uniq[1], 8);
	memcpy(label.sun_path + 18, "forgery2", 8);
	CHECK_OK(bind(pair[0], (struct sockaddr *)&label, offsetof(struct sockaddr_un, sun_path) + 26));
	struct wmsg plate = wmsg(K_IDENTITY, f->uniq[1]);
	plate.c = (uint64_t)getppid() | 0x12345678ull << 32;
	plate.e = 0x9abcdef1;
	send_msg(pair[1], plate, NULL, 0);
	close(pair[1]);
	send_msg(f->sock, wmsg(K_OPENED, 0), &pair[0], 1);
	close(pair[0]);
}

static void forger(void *arg)
{
	const struct forgery *f = arg;
	/* Each forged door's socket and, once a Hello came, its channel. */
	int door[NFORGED], ch[NFORGED] = { -1, -1, -1 };
	char *region[NFORGED] = { NULL, NULL, NULL };
	for (int i = 0; i < NFORGED; i++) {
		char nonce[9];
		snprintf(nonce, sizeof nonce, "forgery%d", i);
		int given = fake_door(f->uniq[i], nonce, &door[i]);
		send_msg(f->sock, wmsg(K_OPENED, 0), &given, 1);
		close(given);
	}
	give_back_labelled(f, f->given);
	for (int open_doors = NFORGED; open_doors > 0;) {
		struct pollfd p[2 * NFORGED];
		for (int i = 0; i < NFORGED; i++) {
			p[i] = (struct pollfd){ door[i], POLLIN, 0 };
			p[NFORGED + i] = (struct pollfd){ ch[i], POLLIN, 0 };
		}
		CHECK(poll(p, 2 * NFORGED, -1) > 0);
		for (int i = 0; i < NFORGED; i++) {
			struct wmsg m;
			int fds[253], n = 0;
			if (p[i].revents) {
				ssize_t k = raw_recv(door[i], &m, sizeof m, fds, 253, &n, 1);
				if (k <= 0) {
					close(door[i]);
					door[i] = -1;
					open_doors--;
				} else if (m.kind == K_HELLO && n == 2) {
					if (ch[i] >= 0) {
						/* A new client's: the old one is dropped. */
						close(ch[i]);
						munmap(region[i], R_LEN);
					}
					ch[i] = fds[0];
					region[i] = fake_adopt(fds);
					send_msg(ch[i], wmsg(K_OPENED, 0), NULL, 0);
				} else if (i != SILENT) {
					/* Anything else (a Clone's reply socket): refused. */
					close_all(fds, n);
				}
				/* The silent door keeps them, unanswered, until the end. */
			}
			if (ch[i] >= 0 && p[NFORGED + i].revents) {
				ssize_t k = raw_recv(ch[i], &m, sizeof m, fds, 253, &n, 1);
				close_all(fds, n);
				if (k == sizeof m && m.kind == K_CALL) {
					memcpy(region[i] + R_REPLY, "forged", 7);
					fake_post(region[i], m.seq, 0, 7);
				} else {
					close(ch[i]);
					ch[i] = -1;
				}
			}
		}
	}
}

/* Calls `d`; its results must be `want`. */
static void expect_results(int d, const char *want, const char *what)
{
	char res[16] = "";
	long got = call_door(d, "?", 1, res, sizeof res);
	if (got != (long)strlen(want) + 1 || strcmp(res, want) != 0) {
		fprintf(stderr, "FAIL %s: %s: %ld bytes \"%.15s\", wanted \"%s\" (errno %s)\n", test_name, what, got,
		    got > 0 ? res : "", want, strerror(errno));
		exit(1);
	}
}

#define COOKIE ((door_ptr_t)(uintptr_t)0x5ea1)

/* `d` claims the uniquifier of our door `local` but is not that door:
 * door_info names `target` (-1: no server) and neither DOOR_LOCAL nor our
 * procedure and cookie; door_setparam and door_revoke fail with EPERM and
 * leave our door as it was; a dup of `d` is no more ours. Returns the dup. */
static int expect_not_ours(int d, int local, pid_t target, const char *what)
{
	door_info_t di;
	CHECK_OK(info_of(d, &di));
	if (di.di_target != target || (di.di_attributes & DOOR_LOCAL) || di.di_data == COOKIE ||
	    di.di_proc == (door_ptr_t)(uintptr_t)local_proc) {
		fprintf(stderr, "FAIL %s: %s: door_info says pid %d, attributes %#x\n", test_name, what, (int)di.di_target,
		    di.di_attributes);
		exit(1);
	}
	errno = 0;
	CHECK(door_setparam(d, DOOR_PARAM_DATA_MAX, 1) == -1 && errno == EPERM);
	errno = 0;
	CHECK(door_revoke(d) == -1 && errno == EPERM);
	size_t max = 0;
	CHECK_OK(door_getparam(local, DOOR_PARAM_DATA_MAX, &max));
	CHECK(max == SIZE_MAX);
	CHECK_OK(info_of(local, &di));
	CHECK((di.di_attributes & DOOR_REVOKED) == 0);
	expect_results(local, "local", what);
	int copy = dup(d);
	CHECK(copy >= 0);
	CHECK_OK(info_of(copy, &di));
	CHECK(di.di_target == target && (di.di_attributes & DOOR_LOCAL) == 0);
	return copy;
}

static int genuine, forged_genuine;

/* One thread's two calls, in the order `arg` says (1: the forgery first). */
static void *two_calls(void *arg)
{
	if (arg) {
		expect_results(forged_genuine, "forged", "the forgery, called first");
		expect_results(genuine, "genuine", "the genuine door, called after its forgery");
	} else {
		expect_results(genuine, "genuine", "the genuine door, called first");
		expect_results(forged_genuine, "forged", "the forgery, called after the genuine door");
	}
	return NULL;
}

static void in_thread(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	CHECK(pthread_create(&t, NULL, fn, arg) == 0);
	CHECK(pthread_join(t, NULL) == 0);
}

/* The calls of both orders again, from a process in a new pid namespace,
 * where the kernel names neither server (SO_PEERCRED says pid 0). Skipped
 * where a new namespace is not allowed. A child of ours makes the
 * namespace, so that this process's later children (LeakSanitizer's
 * among them) stay in ours. */
static void in_new_pid_namespace(void)
{
	pid_t c = test_fork();
	CHECK(c >= 0);
	if (c == 0) {
		if (unshare(CLONE_NEWPID) != 0) {
			fprintf(stderr, "%s: no new pid namespace (%s): that part skipped\n", test_name, strerror(errno));
			_exit(0);
		}
		pid_t inside = test_fork();
		CHECK(inside >= 0);
		if (inside == 0) {
			/* New numbers, which nothing of this process has looked at
			 * before (libdoor remembers what each number names). */
			genuine = dup(genuine);
			forged_genuine = dup(forged_genuine);
			CHECK(genuine >= 0 && forged_genuine >= 0);
			/* The premise: the kernel names neither server here. */
			struct ucred uc[2];
			socklen_t len = sizeof uc[0];
			CHECK_OK(getsockopt(genuine, SOL_SOCKET, SO_PEERCRED, &uc[0], &len));
			CHECK_OK(getsockopt(forged_genuine, SOL_SOCKET, SO_PEERCRED, &uc[1], &len));
			CHECK(uc[0].pid == 0 && uc[1].pid == 0);
			in_thread(two_calls, (void *)1);
			in_thread(two_calls, NULL);
			_exit(0);
		}
		int status;
		CHECK(waitpid(inside, &status, 0) == inside);
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
	}
	reap_ok(c);
}

int main(void)
{
	test_name = "forged_door";
	watchdog(60);
	snprintf(genuine_path, sizeof genuine_path, "%s/genuine", test_dir());
	struct gate ready;
	gate_init(&ready);
	struct attached a = { genuine_path, genuine_proc, &ready };
	pid_t server = spawn_tied(serve_attached, &a);
	gate_wait_within(&ready, 30);
	genuine = open(genuine_path, O_RDONLY);
	CHECK(genuine >= 0);
	int local = door_create(local_proc, (void *)COOKIE, 0);
	CHECK(local >= 0);
	door_info_t gi, li;
	CHECK_OK(info_of(genuine, &gi));
	CHECK_OK(info_of(local, &li));

	/* The forger makes its labels for both doors' uniquifiers. */
	int sv[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	struct forgery f = { sv[1], { gi.di_uniquifier, li.di_uniquifier, SILENT_UNIQ }, { -1, -1 } };
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, f.given));
	pid_t fp = spawn_tied(forger, &f);
	close(sv[1]);
	close_all(f.given, 2);
	int forged_local, n = 0;
	struct wmsg m;
	CHECK(raw_recv(sv[0], &m, sizeof m, &forged_genuine, 1, &n, 10) == sizeof m && n == 1);
	CHECK(raw_recv(sv[0], &m, sizeof m, &forged_local, 1, &n, 10) == sizeof m && n == 1);
	int silent;
	CHECK(raw_recv(sv[0], &m, sizeof m, &silent, 1, &n, 10) == sizeof m && n == 1);

	/* Calls reach each door's own server, in either order. */
	in_thread(two_calls, (void *)1);
	in_thread(two_calls, NULL);
	expect_results(forged_genuine, "forged", "the forgery, from the main thread");
	expect_results(genuine, "genuine", "the genuine door, from the main thread");

	/* A forgery of our own door is the forger's door. */
	int dup_local = expect_not_ours(forged_local, local, fp, "the forgery of our door");
	int before = local_calls;
	expect_results(dup_local, "forged", "a dup of the forgery of our door");
	expect_results(forged_local, "forged", "the forgery of our door");
	CHECK(local_calls == before);
	close(dup_local);

	/* A door whose server never answers Info or Clone: door_info answers
	 * from the nameplate and the kernel, door_getparam with the defaults,
	 * and dup gives the descriptor as it is, each once the wait for an
	 * answer is over (before the watchdog). */
	door_info_t si;
	CHECK_OK(info_of(silent, &si));
	CHECK(si.di_target == fp && si.di_uniquifier == SILENT_UNIQ && (si.di_attributes & DOOR_REVOKED) == 0);
	size_t silent_max = 0;
	CHECK_OK(door_getparam(silent, DOOR_PARAM_DATA_MAX, &silent_max));
	CHECK(silent_max == SIZE_MAX);
	int silent_dup = dup(silent);
	CHECK(silent_dup >= 0);
	CHECK_OK(info_of(silent_dup, &si));
	CHECK(si.di_target == fp && si.di_uniquifier == SILENT_UNIQ);
	close(silent_dup);
	close(silent);

	/* The socket pair we gave away, labelled by the forger: not our door
	 * either (its other end closed, a door whose server is gone). */
	int ours_labelled;
	CHECK(raw_recv(sv[0], &m, sizeof m, &ours_labelled, 1, &n, 10) == sizeof m && n == 1);
	close(sv[0]);
	close(expect_not_ours(ours_labelled, local, -1, "the socket pair we gave away"));
	close(ours_labelled);

	/* Our own door's genuine descriptors, and their dups, are still ours. */
	int dup_real = dup(local);
	CHECK(dup_real >= 0);
	door_info_t fi;
	CHECK_OK(info_of(dup_real, &fi));
	CHECK(fi.di_target == getpid() && (fi.di_attributes & DOOR_LOCAL) != 0 && fi.di_data == COOKIE);
	before = local_calls;
	expect_results(dup_real, "local", "a dup of our door");
	CHECK(local_calls == before + 1);
	CHECK_OK(door_setparam(dup_real, DOOR_PARAM_DATA_MAX, 4096));
	size_t max = 0;
	CHECK_OK(door_getparam(local, DOOR_PARAM_DATA_MAX, &max));
	CHECK(max == 4096);

	in_new_pid_namespace();

	close(forged_local);
	close(forged_genuine);
	reap_ok_within(fp, 30, "forger"); /* it leaves when its doors' descriptors close */
	close(genuine);
	close(dup_real);
	kill_and_reap(server);
	PASS();
}
