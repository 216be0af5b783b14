/* Unreferenced notifications: svc.configd's per-client door (dup, pass with
 * DOOR_RELEASE; the client's close or death brings DOOR_UNREF), nscd's
 * attachment (fdetach of the only outside reference brings it), DOOR_UNREF
 * cleared once queued, DOOR_UNREF_MULTI every time, DOOR_IS_UNREF, no
 * notification for revoked doors or for a door only its creator holds. */
#include "common.h"
#include <poll.h>

static int note[2];          /* procedure -> main: one byte per unref */
static int per_client[3];    /* 0: UNREF, 1: UNREF_MULTI, 2: revoked later */
static int in_unref_is_unref = -1, in_unref_e2big = -1;

/* Per-client doors: only unref deliveries are expected. */
static void client_door_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	int which = (int)(intptr_t)cookie;
	if (argp == DOOR_UNREF_DATA) {
		CHECK(size == 0 && dp == NULL && n == 0);
		door_info_t di;
		CHECK_OK(door_info(per_client[which], &di));
		in_unref_is_unref = (di.di_attributes & DOOR_IS_UNREF) != 0;
		/* An unref invocation accepts no results. */
		in_unref_e2big = door_return("x", 1, NULL, 0) == -1 && errno == E2BIG;
		char c = (char)('0' + which);
		CHECK(write(note[1], &c, 1) == 1);
		door_return(NULL, 0, NULL, 0);
	}
	door_return("hi", 2, NULL, 0);
}

/* The main door hands out a dup of per-client door `argp[0]` with DOOR_RELEASE. */
static void main_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)size; (void)dp; (void)n;
	static door_desc_t d;
	int which = argp[0] - '0';
	d.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
	d.d_data.d_desc.d_descriptor = dup(per_client[which]);
	door_return(NULL, 0, &d, 1);
}

/* Waits up to `ms` for one notification; returns its byte or 0. */
static char next_note(int ms)
{
	struct pollfd p = { note[0], POLLIN, 0 };
	if (poll(&p, 1, ms) != 1)
		return 0;
	char c;
	CHECK(read(note[0], &c, 1) == 1);
	return c;
}

static char path[512], nscd_path[512];

/* Gets per-client door `which` from the main door; returns its descriptor. */
static int get_client_door(int main_fd, int which)
{
	char arg = (char)('0' + which), rbuf[64];
	door_arg_t a = { &arg, 1, NULL, 0, rbuf, sizeof rbuf };
	CHECK_OK(door_call(main_fd, &a));
	CHECK(a.desc_num == 1);
	door_desc_t d;
	memcpy(&d, a.desc_ptr, sizeof d);
	int fd = d.d_data.d_desc.d_descriptor;
	a = (door_arg_t){ NULL, 0, NULL, 0, rbuf, sizeof rbuf };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_size == 2);
	return fd;
}

/* In the server: a call on door descriptor 100, on a scenario thread. */
static void call_100(void *arg)
{
	(void)arg;
	char rb[8];
	door_arg_t a = { NULL, 0, NULL, 0, rb, sizeof rb };
	CHECK_OK(door_call(100, &a));
	CHECK(a.data_size == 2);
}

/* In the server: gets per-client door 2 from the main door, into *arg. */
static void *get_copy(void *arg)
{
	int m = open(path, O_RDONLY);
	CHECK(m >= 0);
	*(int *)arg = get_client_door(m, 2);
	close(m);
	return NULL;
}

struct plan { int which; int die; };

static void client(void *arg)
{
	struct plan *p = arg;
	if (p->which < 0) { /* the detacher */
		CHECK_OK(fdetach(nscd_path));
		return;
	}
	int m = open(path, O_RDONLY);
	CHECK(m >= 0);
	int fd = get_client_door(m, p->which);
	close(m);
	if (p->die)
		kill(getpid(), SIGKILL);
	close(fd);
}

/* Clients are forked by a helper process forked before any door exists,
 * so they inherit no door descriptors (inherited copies are references,
 * and their exits would bring notifications of their own). */
static int to_helper[2], from_helper[2];

static void client_helper(void)
{
	struct plan p;
	close(to_helper[1]);
	close(from_helper[0]);
	while (read(to_helper[0], &p, sizeof p) == sizeof p) {
		/* A client that lives to the end must close all it opened
		 * (spawn_fd_neutral); one that kills itself cannot check. */
		pid_t pid = spawn_fd_neutral(client, &p);
		int status;
		CHECK(waitpid(pid, &status, 0) == pid);
		CHECK(write(from_helper[1], &status, sizeof status) == sizeof status);
	}
	_exit(0);
}

static void run_client(int which, int die)
{
	struct plan p = { which, die };
	int status;
	CHECK(write(to_helper[1], &p, sizeof p) == sizeof p);
	CHECK(read(from_helper[0], &status, sizeof status) == sizeof status);
	CHECK(die ? WIFSIGNALED(status) : (WIFEXITED(status) && WEXITSTATUS(status) == 0));
}


int main(void)
{
	test_name = "unref";
	char *dir = test_dir();
	snprintf(path, sizeof path, "%s/main", dir);
	snprintf(nscd_path, sizeof nscd_path, "%s/nscd", dir);
	make_file(path, 0644);
	make_file(nscd_path, 0644);
	CHECK_OK(pipe(note));
	CHECK_OK(pipe(to_helper));
	CHECK_OK(pipe(from_helper));
	fflush(NULL);
	pid_t helper = test_fork();
	CHECK(helper >= 0);
	if (helper == 0)
		client_helper();
	close(to_helper[0]);
	close(from_helper[1]);

	per_client[0] = door_create(client_door_proc, (void *)0, DOOR_UNREF);
	per_client[1] = door_create(client_door_proc, (void *)1, DOOR_UNREF_MULTI);
	per_client[2] = door_create(client_door_proc, (void *)2, DOOR_UNREF);
	int main_door = door_create(main_proc, NULL, 0);
	CHECK(per_client[0] >= 0 && per_client[1] >= 0 && per_client[2] >= 0 && main_door >= 0);
	CHECK_OK(fattach(main_door, path));

	/* Only the creator holds it: unreferenced, and no notification. */
	door_info_t di;
	CHECK_OK(door_info(per_client[0], &di));
	CHECK((di.di_attributes & (DOOR_UNREF | DOOR_IS_UNREF)) == (DOOR_UNREF | DOOR_IS_UNREF));
	CHECK(next_note(200) == 0);
	/* The server's count after each scenario: the dup it passed to a
	 * client (DOOR_RELEASE) is closed, and the door socket of the client's
	 * copy once the client closed it or died. */
	int base = count_fds();
#define SERVER_BACK(n, what) fds_back(base + (n), 10, "server, " what)

	/* svc.configd: the client closes its copy -> one DOOR_UNREF. */
	run_client(0, 0);
	CHECK(next_note(5000) == '0');
	CHECK(in_unref_is_unref == 1 && in_unref_e2big == 1);
	SERVER_BACK(0, "after the first client");
	CHECK_OK(door_info(per_client[0], &di));
	CHECK(!(di.di_attributes & DOOR_UNREF)); /* cleared once queued */
	/* Once only. */
	run_client(0, 0);
	CHECK(next_note(300) == 0);
	SERVER_BACK(0, "after the second client");

	/* DOOR_UNREF_MULTI: every time, including when the client dies. */
	run_client(1, 0);
	CHECK(next_note(5000) == '1');
	SERVER_BACK(0, "after the UNREF_MULTI client");
	run_client(1, 1);
	CHECK(next_note(5000) == '1');
	SERVER_BACK(0, "after the UNREF_MULTI client that died");
	CHECK_OK(door_info(per_client[1], &di));
	CHECK(di.di_attributes & DOOR_UNREF_MULTI);

	/* Every descriptor counts, dups included: dup + close of the dup in the
	 * server brings a notification (the door only its creator holds is
	 * referenced twice while the dup lives). */
	int dups[4];
	dups[0] = dup(per_client[1]);
	dups[1] = fcntl(per_client[1], F_DUPFD_CLOEXEC, 0);
	CHECK(dups[0] >= 0 && dups[1] >= 0);
	CHECK(fcntl(dups[1], F_GETFD) == FD_CLOEXEC && fcntl(dups[0], F_GETFD) == 0);
	CHECK_OK(door_info(dups[0], &di));
	CHECK(!(di.di_attributes & DOOR_IS_UNREF));
	close(dups[0]);
	CHECK(next_note(300) == 0); /* still two: the creator's and dups[1] */
	close(dups[1]);
	CHECK(next_note(5000) == '1');
	/* dup2/dup3 onto a chosen number too, and the copy still works. */
	dups[2] = dup2(per_client[1], 100);
	CHECK(dups[2] == 100);
	fd_neutral("server, calling its door's copy", call_100, NULL);
	close(100);
	CHECK(next_note(5000) == '1');
	CHECK(dup3(per_client[1], 101, O_CLOEXEC) == 101 && fcntl(101, F_GETFD) == FD_CLOEXEC);
	close(101);
	CHECK(next_note(5000) == '1');
	/* An ordinary descriptor's dup is untouched. */
	int p2[2];
	CHECK_OK(pipe(p2));
	int pd = dup(p2[1]);
	CHECK(write(pd, "z", 1) == 1);
	char z;
	CHECK(read(p2[0], &z, 1) == 1 && z == 'z');
	close(pd);
	close(p2[0]);
	close(p2[1]);
	SERVER_BACK(0, "after dup, dup2, dup3, fcntl and close");

	/* A revoked door hears nothing. */
	int keep = dup(per_client[2]);
	/* The server process itself as client, on a thread of its own (its
	 * channels go with it). */
	int copy = -1;
	pthread_t t;
	CHECK(pthread_create(&t, NULL, get_copy, &copy) == 0 && pthread_join(t, NULL) == 0);
	CHECK_OK(door_revoke(per_client[2]));
	close(copy);
	CHECK(next_note(300) == 0);
	close(keep);
	/* By design 2 less: the revoke took door 2's descriptor and its door
	 * socket; the copy's door socket went when it was closed. */
	SERVER_BACK(-2, "after the revoked door");

	/* Copies inherited over fork count too: the child's exit leaves one
	 * (the creator's) and brings the notification (here only for the
	 * UNREF_MULTI door: the one-shot door had its notification, the third
	 * is revoked). */
	pid_t k = test_fork();
	CHECK(k >= 0);
	if (k == 0)
		_exit(0);
	CHECK(waitpid(k, NULL, 0) == k);
	CHECK(next_note(5000) == '1');
	CHECK(next_note(300) == 0);
	/* The child's copies (replaced at the fork by counted ones, each a
	 * door socket here) went with it. */
	SERVER_BACK(-2, "after its forked child");

	/* nscd: the attachment is the only outside reference; fdetach from
	 * another process brings the notification. */
	int nscd = door_create(client_door_proc, (void *)0, DOOR_UNREF);
	per_client[0] = nscd;
	CHECK_OK(fattach(nscd, nscd_path));
	CHECK_OK(door_info(nscd, &di));
	CHECK(!(di.di_attributes & DOOR_IS_UNREF));
	CHECK(next_note(100) == 0);
	run_client(-1, 0);
	CHECK(next_note(5000) == '0');
	/* The new door: its descriptor and door socket; its attachment's
	 * listener went with the detacher's fdetach. */
	SERVER_BACK(0, "after the detacher");

	CHECK_OK(fdetach(path));
	close(to_helper[1]);
	CHECK(waitpid(helper, NULL, 0) == helper);
	PASS();
}
