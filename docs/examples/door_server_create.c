/*
 * A creation function of one's own, in the manner of svc.configd: server
 * threads with a chosen stack size, cancellation disabled, and at most
 * MAX_THREADS of them. door_create calls it for the first ordinary door;
 * libdoor calls it again whenever a call takes the last idle thread.
 */
#include <door.h>
#include <err.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define	MAX_THREADS	8

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int nthreads;
static __thread int ours;

static void *
server_thread(void *arg)
{
	(void) arg;
	(void) pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	ours = 1;
	(void) door_return(NULL, 0, NULL, 0);
	return (NULL);
}

static void
create_server(door_info_t *dip)
{
	pthread_attr_t attr;
	pthread_t tid;

	(void) dip;	/* NULL: the process's pool of ordinary doors */
	(void) pthread_mutex_lock(&lock);
	if (nthreads == MAX_THREADS) {
		(void) pthread_mutex_unlock(&lock);
		return;
	}
	nthreads++;
	(void) pthread_mutex_unlock(&lock);
	(void) pthread_attr_init(&attr);
	(void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	(void) pthread_attr_setstacksize(&attr, 256 * 1024);
	if (pthread_create(&tid, &attr, server_thread, NULL) != 0) {
		(void) pthread_mutex_lock(&lock);
		nthreads--;
		(void) pthread_mutex_unlock(&lock);
	}
	(void) pthread_attr_destroy(&attr);
}

static void
who(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	char *answer = ours ? "one of ours" : "someone else";

	(void) cookie;
	(void) argp;
	(void) arg_size;
	(void) dp;
	(void) n_desc;
	(void) door_return(answer, strlen(answer) + 1, NULL, 0);
}

int
main(void)
{
	int d, status;
	pid_t pid;

	(void) door_server_create(create_server);
	if ((d = door_create(who, NULL, 0)) == -1)
		err(1, "door_create");
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		char buf[16];
		door_arg_t arg = { NULL, 0, NULL, 0, buf, sizeof (buf) };

		if (door_call(d, &arg) == -1)
			err(1, "door_call");
		(void) printf("served by %s\n", arg.data_ptr);
		return (0);
	}
	if (waitpid(pid, &status, 0) != pid || status != 0)
		errx(1, "the client failed");
	return (0);
}
