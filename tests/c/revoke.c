/* door_revoke (doors-spec §4.5, §5.7): it closes the revoked descriptor;
 * other descriptors of the door (a dup in the server, a client's open() fd,
 * a fresh open() of the attached path) stay open but calls through them
 * fail with EBADF, and door_info shows DOOR_REVOKED with di_target still the
 * server's pid; a call already running when the door is revoked finishes
 * normally; and only the creating process may revoke (EPERM elsewhere, the
 * descriptor left open and working).
 *
 * Processes: the driver; the server S with door A (the one revoked) and
 * door B (whose procedure revokes A, from another server thread); client C1,
 * which holds a call to A open across the revocation; client C2, which
 * calls B; and a forked child of S, which tries to revoke A. */
#include "door_test.h"

static char path_a[512], path_b[512];
static struct gate ready;   /* S -> driver: both doors attached */
static struct gate inside;  /* A's procedure -> driver: C1's call is running */
static struct gate release; /* B's procedure -> A's procedure: finish now */
static pid_t server_pid;

/* In S. */
static int door_a = -1, dup_a = -1;

/* What B's procedure saw when it revoked A. */
struct report {
	int revoke_rc, revoke_errno;   /* door_revoke(door_a) */
	int getfd_rc, getfd_errno;     /* fcntl(door_a, F_GETFD) afterwards */
	int call_rc, call_errno;       /* door_call(dup_a, ...) afterwards */
	int info_rc, info_errno;       /* door_info(dup_a, ...) afterwards */
	door_info_t info;
	pid_t pid;
};

static void proc_a(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	if (argp != NULL && size == 1 && argp[0] == 'b') {
		/* Block until B's procedure has revoked this door. */
		gate_open(&inside);
		gate_wait_within(&release, 30);
		char done[] = "finished";
		door_return(done, sizeof done, NULL, 0);
	}
	door_return(argp, size, NULL, 0);
}

static void proc_b(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	struct report r;
	memset(&r, 0, sizeof r);
	r.pid = getpid();
	errno = 0;
	r.revoke_rc = door_revoke(door_a);
	r.revoke_errno = errno;
	errno = 0;
	r.getfd_rc = fcntl(door_a, F_GETFD);
	r.getfd_errno = errno;
	char rbuf[16];
	door_arg_t a = { "e", 1, NULL, 0, rbuf, sizeof rbuf };
	errno = 0;
	r.call_rc = door_call(dup_a, &a);
	r.call_errno = errno;
	errno = 0;
	r.info_rc = info_of(dup_a, &r.info);
	r.info_errno = errno;
	gate_open(&release);
	door_return((char *)&r, sizeof r, NULL, 0);
}

/* A child of S holds A by inheritance: it is a client, not the creator. */
static void inheritor(void *arg)
{
	(void)arg;
	CHECK_ERR(door_revoke(door_a), EPERM);
	CHECK(fcntl(door_a, F_GETFD) != -1);
	char out[8];
	CHECK(call_door(door_a, "kid", 3, out, sizeof out) == 3 && memcmp(out, "kid", 3) == 0);
}

static void server(void *arg)
{
	(void)arg;
	door_a = attach_new(path_a, proc_a, NULL, 0);
	dup_a = dup(door_a);
	CHECK(dup_a >= 0);
	attach_new(path_b, proc_b, NULL, 0);
	int before = count_fds();
	reap_ok_within(spawn_tied(inheritor, NULL), 20, "inheritor");
	fds_back(before, 10, "server, after the inheritor");
	gate_open(&ready);
	for (;;)
		pause();
}

static void client1(void *arg)
{
	(void)arg;
	int c = open(path_a, O_RDONLY);
	CHECK(c >= 0);
	char out[16];
	CHECK(call_door(c, "e", 1, out, sizeof out) == 1);

	/* Not the creator: EPERM, the descriptor stays open and working. */
	CHECK_ERR(door_revoke(c), EPERM);
	CHECK(fcntl(c, F_GETFD) != -1);
	CHECK(call_door(c, "e", 1, out, sizeof out) == 1 && out[0] == 'e');

	/* This call is running when A is revoked; it finishes normally. */
	long got = call_door(c, "b", 1, out, sizeof out);
	CHECK(got == 9 && strcmp(out, "finished") == 0);

	/* Later calls: EBADF, with and without arguments. */
	CHECK_ERR(call_door(c, "e", 1, out, sizeof out), EBADF);
	CHECK_ERR(door_call(c, NULL), EBADF);
	/* The descriptor is still open; door_info shows the revocation, and
	 * the server's pid, since the server is still alive. */
	CHECK(fcntl(c, F_GETFD) != -1);
	door_info_t di;
	CHECK_OK(info_of(c, &di));
	CHECK(di.di_attributes & DOOR_REVOKED);
	CHECK(!(di.di_attributes & DOOR_LOCAL));
	CHECK(di.di_target == server_pid);
	CHECK(di.di_proc == (door_ptr_t)(uintptr_t)proc_a);
	/* Still EPERM here after the revocation. */
	CHECK_ERR(door_revoke(c), EPERM);
	CHECK(fcntl(c, F_GETFD) != -1);

	/* A fresh open of the path gives the revoked door too. */
	int c2 = open(path_a, O_RDONLY);
	CHECK(c2 >= 0);
	CHECK_ERR(call_door(c2, "e", 1, out, sizeof out), EBADF);
	door_info_t di2;
	CHECK_OK(info_of(c2, &di2));
	CHECK(di2.di_attributes & DOOR_REVOKED);
	CHECK(di2.di_target == server_pid);
	CHECK(di2.di_uniquifier == di.di_uniquifier);
	close(c2);
	close(c);
}

static void client2(void *arg)
{
	(void)arg;
	int b = open(path_b, O_RDONLY);
	CHECK(b >= 0);
	struct report r;
	CHECK(call_door(b, "r", 1, &r, sizeof r) == (long)sizeof r);
	CHECK(r.pid == server_pid);
	/* door_revoke succeeded and closed the creator's descriptor. */
	CHECK(r.revoke_rc == 0);
	CHECK(r.getfd_rc == -1 && r.getfd_errno == EBADF);
	/* The server's own dup: EBADF for calls... */
	CHECK(r.call_rc == -1 && r.call_errno == EBADF);
	/* ...and door_info shows REVOKED and LOCAL, di_target this server. */
	CHECK(r.info_rc == 0);
	CHECK(r.info.di_attributes & DOOR_REVOKED);
	CHECK(r.info.di_attributes & DOOR_LOCAL);
	CHECK(r.info.di_target == server_pid);
	CHECK(r.info.di_proc == (door_ptr_t)(uintptr_t)proc_a);
	/* B is not affected. */
	door_info_t di;
	CHECK_OK(info_of(b, &di));
	CHECK(!(di.di_attributes & DOOR_REVOKED));
	close(b);
}

int main(void)
{
	test_name = "revoke";
	watchdog(50);
	char *dir = test_dir();
	snprintf(path_a, sizeof path_a, "%s/a", dir);
	snprintf(path_b, sizeof path_b, "%s/b", dir);
	gate_init(&ready);
	gate_init(&inside);
	gate_init(&release);

	server_pid = spawn_tied(server, NULL);
	gate_wait_within(&ready, 20);
	int s_fds = count_fds_of(server_pid);
	pid_t c1 = spawn_tied_fd_neutral(client1, NULL);
	/* Revoke only once C1's call is inside A's procedure. */
	gate_wait_within(&inside, 20);
	reap_ok_within(spawn_tied_fd_neutral(client2, NULL), 20, "client2");
	reap_ok_within(c1, 20, "client1");
	/* Less two by design: B's procedure revoked A, which closed A's
	 * descriptor and the server's end of its pair. */
	fds_back_of(server_pid, s_fds - 2, 10, "server, after its clients");
	kill_and_reap(server_pid);
	PASS();
}
