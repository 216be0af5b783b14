/*
 * Doors made and dropped without pause, in a process with little room for
 * descriptors: one thread creates and revokes, one creates and closes, a
 * third forks back to back, and the pool makes a door for every call of a
 * client process, which calls it once and closes it. The server end of
 * each dropped door must go as fast as doors are made: when the control
 * thread alone closed them, two threads outran it and the process ran out
 * of descriptors within milliseconds (EMFILE at 256), forks or not. At the
 * end the server's descriptor count comes back to where it started.
 */
#include "door_test.h"

#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define SECONDS 1.5
#define FD_LIMIT 256

static _Atomic int stop;
static _Atomic int failure;   /* an errno from door_create, or -1 */

static void echo_proc(void *cookie, char *argp, size_t n, door_desc_t *dp, uint_t nd)
{
	(void)cookie; (void)dp; (void)nd;
	door_return(argp, n, NULL, 0);
}

/* Each call: a new door, handed over (DOOR_RELEASE closes ours). */
static void factory_proc(void *cookie, char *argp, size_t n, door_desc_t *dp, uint_t nd)
{
	(void)cookie; (void)argp; (void)n; (void)dp; (void)nd;
	int d = door_create(echo_proc, NULL, 0);
	if (d < 0) {
		atomic_store(&failure, errno);
		door_return(NULL, 0, NULL, 0);
	}
	door_desc_t desc = { .d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE };
	desc.d_data.d_desc.d_descriptor = d;
	door_return(NULL, 0, &desc, 1);
}

static void *churn(void *revoke)
{
	while (!atomic_load(&stop)) {
		int d = door_create(echo_proc, NULL, 0);
		if (d < 0) {
			atomic_store(&failure, errno);
			return NULL;
		}
		CHECK_OK(revoke != NULL ? door_revoke(d) : close(d));
	}
	return NULL;
}

static void *fork_storm(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		pid_t p = fork();
		CHECK(p >= 0);
		if (p == 0)
			_exit(0);
		CHECK(waitpid(p, NULL, 0) == p);
	}
	return NULL;
}

/* The client: a door from the factory, one call on it, closed; until the
 * time is up. Exits 0 if every call came back right. */
static void client(void *factory)
{
	int f = *(int *)factory;
	double end = now_seconds() + SECONDS;
	int calls = 0;
	while (now_seconds() < end) {
		char rbuf[16];
		door_arg_t a = { NULL, 0, NULL, 0, rbuf, sizeof rbuf };
		CHECK_OK(door_call(f, &a));
		CHECK(a.desc_num == 1);
		int d = a.desc_ptr[0].d_data.d_desc.d_descriptor;
		char got[4];
		CHECK(call_door(d, "ping", 4, got, sizeof got) == 4 && memcmp(got, "ping", 4) == 0);
		CHECK_OK(close(d));
		calls++;
	}
	CHECK(calls > 0);
}

int main(void)
{
	test_name = "door_churn";
	watchdog(120);
	struct rlimit rl;
	CHECK_OK(getrlimit(RLIMIT_NOFILE, &rl));
	rl.rlim_cur = FD_LIMIT;
	CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));

	int factory = door_create(factory_proc, NULL, 0);
	CHECK(factory >= 0);
	pid_t me = 0;
	int before = least_value(fds_of_probe, &me, 0.2);

	pid_t cl = spawn_tied(client, &factory);
	pthread_t t[3];
	CHECK(pthread_create(&t[0], NULL, churn, "revoke") == 0);
	CHECK(pthread_create(&t[1], NULL, churn, NULL) == 0);
	CHECK(pthread_create(&t[2], NULL, fork_storm, NULL) == 0);
	reap_ok_within(cl, 60, "the client");
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	if (atomic_load(&failure) != 0) {
		fprintf(stderr, "FAIL %s: door_create: %s\n", test_name, strerror(atomic_load(&failure)));
		return 1;
	}
	await_value(fds_of_probe, &me, before, 10, "the server's descriptor count");
	PASS();
}
