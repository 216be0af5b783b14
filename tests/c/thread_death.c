/* Server threads that leave an invocation without a successful door_return
 * (doors-spec §5.3, §4.3, §4.4, §7.6):
 *
 * - a procedure that returns: the thread ends (its thread-specific data
 *   destructors run), the caller gets EINTR, and the next call is served by
 *   another pool thread;
 * - a procedure that calls pthread_exit: the same;
 * - a call with params == NULL accepts no results: door_return with data,
 *   or with descriptors, fails in the server with E2BIG (consuming no
 *   DOOR_RELEASE descriptor) while the client keeps waiting; the server then
 *   returns empty and the client succeeds.
 *
 * No thread death leaves a descriptor behind in the server. The server is a
 * forked child; the client is the driver. */
#include "door_test.h"

static char path[512];
static struct gate ready;

/* In the server: what happened to earlier invocations, for 'q'. */
struct report {
	pid_t dead_tid;       /* thread whose procedure ended it last */
	pid_t destructed_tid; /* thread in which the TSD destructor last ran */
	int data_rc, data_errno; /* door_return(data) in a params == NULL call */
	int desc_rc, desc_errno; /* door_return(descriptor) in the same */
	int spare_open;          /* its DOOR_RELEASE descriptor survived */
	int null_calls;          /* params == NULL invocations seen */
	int fds;                 /* the server's open descriptors now */
};
static struct report rep;
static pthread_mutex_t rep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t key;
static int spare_fd = -1;

static void destructor(void *p)
{
	(void)p;
	pthread_mutex_lock(&rep_lock);
	rep.destructed_tid = thread_id();
	pthread_mutex_unlock(&rep_lock);
}

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)dp; (void)n;
	if (argp == NULL) {
		/* params == NULL: results of any kind are refused, and the
		 * client stays attached, so the empty return below reaches it. */
		int data_rc = door_return("abc", 3, NULL, 0);
		int data_errno = errno;
		door_desc_t d;
		d.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
		d.d_data.d_desc.d_descriptor = spare_fd;
		int desc_rc = door_return(NULL, 0, &d, 1);
		int desc_errno = errno;
		/* A failed door_return consumes no descriptor (§4.4). */
		int spare_open = fcntl(spare_fd, F_GETFD) != -1;
		pthread_mutex_lock(&rep_lock);
		rep.data_rc = data_rc;
		rep.data_errno = data_errno;
		rep.desc_rc = desc_rc;
		rep.desc_errno = desc_errno;
		rep.spare_open = spare_open;
		rep.null_calls++;
		pthread_mutex_unlock(&rep_lock);
		door_return(NULL, 0, NULL, 0);
		/* Not reached unless the empty return failed too. */
		abort();
	}
	if (size != 1)
		door_return(NULL, 0, NULL, 0);
	switch (argp[0]) {
	case 'r': /* return without door_return */
	case 'x': /* pthread_exit */
		pthread_mutex_lock(&rep_lock);
		rep.dead_tid = thread_id();
		pthread_mutex_unlock(&rep_lock);
		CHECK(pthread_setspecific(key, &rep) == 0);
		if (argp[0] == 'x')
			pthread_exit(NULL);
		return;
	case 't': { /* which thread serves */
		pid_t t = thread_id();
		door_return((char *)&t, sizeof t, NULL, 0);
		break;
	}
	case 'q': { /* the report */
		struct report r;
		pthread_mutex_lock(&rep_lock);
		r = rep;
		pthread_mutex_unlock(&rep_lock);
		r.fds = count_fds();
		door_return((char *)&r, sizeof r, NULL, 0);
		break;
	}
	}
	door_return(NULL, 0, NULL, 0);
}

static void server(void *arg)
{
	(void)arg;
	CHECK(pthread_key_create(&key, destructor) == 0);
	spare_fd = open("/dev/null", O_RDONLY);
	CHECK(spare_fd >= 0);
	attach_new(path, server_proc, NULL, 0);
	gate_open(&ready);
	for (;;)
		pause();
}

static pid_t serving_tid(int fd)
{
	pid_t t = 0;
	CHECK(call_door(fd, "t", 1, &t, sizeof t) == sizeof t);
	CHECK(t > 0);
	return t;
}

static struct report report(int fd)
{
	struct report r;
	CHECK(call_door(fd, "q", 1, &r, sizeof r) == sizeof r);
	return r;
}

/* Waits (up to 10 s) for thread `tid` of `pid` to be gone. */
static void wait_thread_gone(pid_t pid, pid_t tid)
{
	char name[64];
	snprintf(name, sizeof name, "/proc/%d/task/%d", (int)pid, (int)tid);
	double end = now_seconds() + 10;
	while (access(name, F_OK) == 0) {
		if (now_seconds() > end) {
			fprintf(stderr, "FAIL %s: server thread %d still exists\n", test_name, (int)tid);
			exit(1);
		}
		usleep(2000);
	}
}

/* A procedure ending its thread (`how` is 'r' or 'x'). */
static void thread_ends(int fd, pid_t server_pid, char how)
{
	serving_tid(fd);
	int fds_before = report(fd).fds;
	errno = 0;
	long r = call_door(fd, &how, 1, NULL, 0);
	if (r != -1 || errno != EINTR) {
		fprintf(stderr, "FAIL %s: call '%c' returned %ld errno %d (%s), wanted -1 EINTR\n", test_name, how, r,
		    errno, strerror(errno));
		exit(1);
	}
	/* The door still works, through another thread. */
	pid_t next = serving_tid(fd);
	struct report rp = report(fd);
	CHECK(rp.dead_tid > 0);
	CHECK(next != rp.dead_tid);
	/* The thread really ended, running its TSD destructors. */
	wait_thread_gone(server_pid, rp.dead_tid);
	rp = report(fd);
	CHECK(rp.destructed_tid == rp.dead_tid);
	/* Several calls in a row still work. */
	for (int i = 0; i < 20; i++)
		CHECK(serving_tid(fd) != rp.dead_tid);
	/* The dead thread left no descriptor behind. */
	CHECK(report(fd).fds == fds_before);
}

/* The client, on a scenario thread (its channel goes with it). */
static void client(void *arg)
{
	pid_t s = *(pid_t *)arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);

	/* Twice each, so that a replacement thread can die as well. */
	thread_ends(fd, s, 'r');
	thread_ends(fd, s, 'x');
	thread_ends(fd, s, 'r');
	thread_ends(fd, s, 'x');

	/* params == NULL: the call succeeds once the server returns empty. */
	CHECK_OK(door_call(fd, NULL));
	struct report rp = report(fd);
	CHECK(rp.null_calls == 1);
	if (rp.data_rc != -1 || rp.data_errno != E2BIG || rp.desc_rc != -1 || rp.desc_errno != E2BIG) {
		fprintf(stderr, "FAIL %s: door_return for a params == NULL call: data %d errno %d, descriptor %d errno %d; "
		    "wanted -1 E2BIG for both\n", test_name, rp.data_rc, rp.data_errno, rp.desc_rc, rp.desc_errno);
		exit(1);
	}
	CHECK(rp.spare_open);
	CHECK_OK(door_call(fd, NULL));
	CHECK(report(fd).null_calls == 2);
	close(fd);
}

int main(void)
{
	test_name = "thread_death";
	watchdog(50);
	char *dir = test_dir();
	snprintf(path, sizeof path, "%s/door", dir);
	gate_init(&ready);
	pid_t s = spawn_tied(server, NULL);
	gate_wait_within(&ready, 20);
	/* Each thread's death is checked from inside (the server's count
	 * before and after, in thread_ends); both sides' counts also come
	 * back after the whole, the params == NULL calls included. */
	int s_fds = count_fds_of(s);
	fd_neutral("client", client, &s);
	fds_back_of(s, s_fds, 10, "server, after its client");
	kill_and_reap(s);
	PASS();
}
