/* door_info's fields (doors-spec §4.6, §5.9, §5.7): in the server,
 * di_target is its pid, di_proc the procedure, di_data the exact cookie,
 * DOOR_LOCAL set (for any of its descriptors of the door, also one it opened
 * through the path); in a client, opened through the attached path or
 * inherited over fork from the server, the same values but DOOR_LOCAL clear;
 * di_resv zero; di_uniquifier non-zero, equal for every holder, different
 * between doors; attributes given at creation are reported. After the
 * server process exits, di_target is -1 and DOOR_REVOKED is set, while the
 * procedure, cookie, attributes and uniquifier are still reported.
 *
 * Processes: the driver (a subreaper); the server S with doors A and B; the
 * client C (a child of the driver); and K, a plain fork of S that holds S's
 * own door_create descriptors and outlives S. */
#include "door_test.h"

#define COOKIE_A ((void *)(uintptr_t)(0xdeadbeef ^ 2))
#define COOKIE_B ((void *)(uintptr_t)0x7ffe12345678ull)
#define ATTRS_B (DOOR_REFUSE_DESC | DOOR_NO_CANCEL)

static char path_a[512], path_b[512];
static struct gate ready;  /* S -> driver: K's pid and both uniquifiers */
static struct gate quit;   /* driver -> S: exit now */
static struct gate checked; /* C and K -> driver: live checks done */
static struct gate gone;   /* driver -> C and K: S has exited */

/* What S sends the driver once set up. */
struct ready_msg {
	pid_t k;
	int s_fds;   /* S's descriptor count before it forked K, in /proc */
	door_id_t uniq_a, uniq_b;
};

static door_id_t uniq_a, uniq_b;
static pid_t server_pid;
static int door_a = -1, door_b = -1;

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	pid_t me = getpid();
	door_return((char *)&me, sizeof me, NULL, 0);
}

/* The reserved words must be zero. */
static void check_resv(const door_info_t *di)
{
	for (int i = 0; i < 4; i++)
		CHECK(di->di_resv[i] == 0);
}

/* What every holder of A or B sees while S lives; `local` in S only. */
static void check_live(int fd, int is_a, int local)
{
	door_info_t di;
	CHECK_OK(info_of(fd, &di));
	CHECK(di.di_target == server_pid);
	CHECK(di.di_proc == (door_ptr_t)(uintptr_t)server_proc);
	CHECK(di.di_data == (door_ptr_t)(uintptr_t)(is_a ? COOKIE_A : COOKIE_B));
	CHECK(di.di_uniquifier == (is_a ? uniq_a : uniq_b));
	uint_t want = (is_a ? 0 : ATTRS_B) | (local ? DOOR_LOCAL : 0);
	if (di.di_attributes != want) {
		fprintf(stderr, "FAIL %s: door %c attributes 0x%x, wanted 0x%x (local %d)\n", test_name, is_a ? 'A' : 'B',
		    di.di_attributes, want, local);
		exit(1);
	}
	check_resv(&di);
}

/* What a holder sees after S exited, on a descriptor it held before. */
static void check_dead(int fd, int is_a)
{
	door_info_t di;
	CHECK_OK(info_of(fd, &di));
	CHECK(di.di_target == -1);
	CHECK(di.di_attributes & DOOR_REVOKED);
	CHECK(!(di.di_attributes & DOOR_LOCAL));
	/* The door's own attributes are still reported. */
	CHECK((di.di_attributes & ~(DOOR_REVOKED | DOOR_IS_UNREF)) == (is_a ? 0u : (uint_t)ATTRS_B));
	/* As are the procedure, cookie and uniquifier (the door object lives
	 * on; only its server is gone). */
	CHECK(di.di_proc == (door_ptr_t)(uintptr_t)server_proc);
	CHECK(di.di_data == (door_ptr_t)(uintptr_t)(is_a ? COOKIE_A : COOKIE_B));
	CHECK(di.di_uniquifier == (is_a ? uniq_a : uniq_b));
	check_resv(&di);
	/* And calls fail with EBADF. */
	pid_t p;
	CHECK_ERR(call_door(fd, "x", 1, &p, sizeof p), EBADF);
}

/* K: a fork of S that holds S's door_create descriptors. It drops its copy
 * of `gone`'s write end, so that it also ends (at end of file) if the test
 * dies without telling it. */
/* K's checks of the live doors, on a scenario thread of their own (its
 * channel goes with it, so that S's count can be compared before it exits). */
static void inheritor_live(void *arg)
{
	(void)arg;
	/* Not the server: LOCAL clear, everything else as in S. */
	check_live(door_a, 1, 0);
	check_live(door_b, 0, 0);
	pid_t p = 0;
	CHECK(call_door(door_a, "x", 1, &p, sizeof p) == sizeof p && p == server_pid);
}

static void inheritor_scenario(void *arg)
{
	(void)arg;
	fd_neutral("K, live checks", inheritor_live, NULL);
	gate_open(&checked);
	gate_wait_within(&gone, 30);
	check_dead(door_a, 1);
	check_dead(door_b, 0);
}

static void inheritor(void)
{
	close(gone.fd[1]);
	/* Everything K opens it closes again: the inherited descriptors are
	 * not its to close. */
	fd_neutral("K", inheritor_scenario, NULL);
}

static void server(void *arg)
{
	(void)arg;
	server_pid = getpid();
	door_a = attach_new(path_a, server_proc, COOKIE_A, 0);
	door_b = attach_new(path_b, server_proc, COOKIE_B, ATTRS_B);

	door_info_t ia, ib;
	CHECK_OK(info_of(door_a, &ia));
	CHECK_OK(info_of(door_b, &ib));
	uniq_a = ia.di_uniquifier;
	uniq_b = ib.di_uniquifier;
	CHECK(uniq_a != 0 && uniq_b != 0 && uniq_a != uniq_b);
	check_live(door_a, 1, 1);
	check_live(door_b, 0, 1);
	/* DOOR_LOCAL depends on the process, not the descriptor: the server's
	 * own open() of the path, and a dup, show it too. */
	int s_fds = count_fds();
	int own = open(path_a, O_RDONLY);
	CHECK(own >= 0);
	check_live(own, 1, 1);
	close(own);
	int dupb = dup(door_b);
	CHECK(dupb >= 0);
	check_live(dupb, 0, 1);
	close(dupb);
	/* The door sockets of `own` and `dupb` close as S reads their end of
	 * file, asynchronously. */
	fds_back(s_fds, 10, "S, after its own open and dup");
	/* The count the driver compares with, as it counts: in /proc, which
	 * under valgrind also lists valgrind's own descriptors (a constant),
	 * less the one this count's directory stream takes. */
	int s_proc_fds = count_fds_of(getpid()) - 1;

	/* K is a plain fork: it must outlive S (the driver is a subreaper and
	 * will reap it). It waits at most 30 s for the driver's word. */
	fflush(NULL);
	pid_t k = test_fork();
	CHECK(k >= 0);
	if (k == 0) {
		inheritor();
		_exit(0);
	}
	struct ready_msg msg;
	memset(&msg, 0, sizeof msg);   /* padding too: the whole struct goes through a pipe */
	msg = (struct ready_msg){ k, s_proc_fds, uniq_a, uniq_b };
	send_val(&ready, &msg, sizeof msg);
	gate_wait_within(&quit, 30);
	exit(0);
}

/* C's checks of the live doors, on a scenario thread of their own (its
 * channel goes with it, so that S's count can be compared before it exits). */
static void client_live(void *arg)
{
	int a = ((int *)arg)[0], b = ((int *)arg)[1];
	check_live(a, 1, 0);
	check_live(b, 0, 0);
	pid_t p = 0;
	CHECK(call_door(b, "x", 1, &p, sizeof p) == sizeof p && p == server_pid);
}

static void client(void *arg)
{
	(void)arg;
	int a = open(path_a, O_RDONLY);
	int b = open(path_b, O_RDWR);
	CHECK(a >= 0 && b >= 0);
	int ab[2] = { a, b };
	fd_neutral("C, live checks", client_live, ab);
	gate_open(&checked);

	gate_wait_within(&gone, 30);
	check_dead(a, 1);
	check_dead(b, 0);

	/* A fresh open of the path after the server died: a revoked door with
	 * no server, the same uniquifier. */
	int a2 = open(path_a, O_RDONLY);
	CHECK(a2 >= 0);
	door_info_t di;
	CHECK_OK(info_of(a2, &di));
	CHECK(di.di_target == -1 && (di.di_attributes & DOOR_REVOKED) && !(di.di_attributes & DOOR_LOCAL));
	CHECK(di.di_uniquifier == uniq_a);
	check_resv(&di);
	close(a2);
	close(a);
	close(b);
}

/* A forked child's new doors are not its parent's: each process draws
 * its own random uniquifiers (libdoor keeps a stock of random words per
 * thread, which a fork copies: the child must not use it). */
static void fresh_uniquifiers(void *arg)
{
	(void)arg;
	/* This process's stock is drawn. */
	int d = door_create(server_proc, NULL, 0);
	CHECK(d >= 0);
	int p[2];
	CHECK_OK(pipe(p));
	fflush(NULL);
	pid_t k = test_fork();
	CHECK(k >= 0);
	if (k == 0) {
		door_info_t di;
		int c = door_create(server_proc, NULL, 0);
		int bad = c < 0 || door_info(c, &di) != 0 || write(p[1], &di.di_uniquifier, sizeof di.di_uniquifier) != sizeof di.di_uniquifier;
		_exit(bad);
	}
	door_info_t mine;
	int e = door_create(server_proc, NULL, 0);
	CHECK(e >= 0);
	CHECK_OK(door_info(e, &mine));
	door_id_t theirs = 0;
	CHECK(read(p[0], &theirs, sizeof theirs) == sizeof theirs);
	reap_ok_within(k, 20, "the forked door maker");
	if (theirs == mine.di_uniquifier) {
		fprintf(stderr, "FAIL %s: parent and forked child made doors with one uniquifier, %llx\n", test_name, (unsigned long long)theirs);
		exit(1);
	}
}

int main(void)
{
	test_name = "info";
	watchdog(50);
	/* K is reparented to us when S exits, so that we can reap it. */
	CHECK_OK(prctl(PR_SET_CHILD_SUBREAPER, 1));
	char *dir = test_dir();
	snprintf(path_a, sizeof path_a, "%s/a", dir);
	snprintf(path_b, sizeof path_b, "%s/b", dir);
	gate_init(&ready);
	gate_init(&quit);
	gate_init(&gone);
	gate_init(&checked);
	reap_ok_within(spawn_tied(fresh_uniquifiers, NULL), 20, "fresh_uniquifiers");

	server_pid = spawn_tied(server, NULL);
	struct ready_msg msg;
	recv_within(&ready, &msg, sizeof msg, 20);
	uniq_a = msg.uniq_a;
	uniq_b = msg.uniq_b;
	pid_t c = spawn_tied_fd_neutral(client, NULL);

	/* S exits only once C and K have checked the live door. */
	gate_wait_within(&checked, 20);
	gate_wait_within(&checked, 20);
	/* Their channels are gone (their live checks' threads ended). By
	 * design S has 4 door sockets more than before it forked K: K's two
	 * inherited descriptors were replaced at the fork by fresh counted
	 * copies (Clone, answered by S), and C holds its two, a and b. */
	fds_back_of(server_pid, msg.s_fds + 4, 10, "S, with K's and C's door descriptors");
	gate_open(&quit);
	reap_ok_within(server_pid, 20, "server");
	gate_open(&gone);
	gate_open(&gone);
	reap_ok_within(c, 20, "client");
	reap_ok_within(msg.k, 20, "inheritor");
	PASS();
}
