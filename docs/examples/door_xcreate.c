/*
 * door_xcreate: a private door whose server threads the application
 * creates itself. The thread-creation function starts each thread on
 * libdoor's start function; the setup function runs first in every new
 * thread, before it binds to the door and parks. Two threads are made
 * at once; when both are busy, the depletion callback declines to add
 * more.
 */
#include <door.h>
#include <err.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static __thread const char *thread_role = "a stranger";

static int
create_thread(door_info_t *dip, void *(*startf)(void *), void *startf_arg,
    void *crcookie)
{
	pthread_t tid;

	(void) crcookie;
	if (dip->di_attributes & DOOR_DEPLETION_CB)
		return (0);	/* two threads are enough */
	if (pthread_create(&tid, NULL, startf, startf_arg) != 0)
		return (-1);
	(void) pthread_detach(tid);
	return (1);
}

static void
setup_thread(void *crcookie)
{
	(void) pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	thread_role = crcookie;
}

static void
who(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	(void) cookie;
	(void) argp;
	(void) arg_size;
	(void) dp;
	(void) n_desc;
	(void) door_return((char *)thread_role, strlen(thread_role) + 1,
	    NULL, 0);
}

int
main(void)
{
	int d, status;
	door_info_t di;
	pid_t pid;

	d = door_xcreate(who, NULL, DOOR_NO_CANCEL, create_thread,
	    setup_thread, "a thread door_xcreate set up", 2);
	if (d == -1)
		err(1, "door_xcreate");
	if (door_info(d, &di) == -1)
		err(1, "door_info");
	(void) printf("attributes:%s%s\n",
	    di.di_attributes & DOOR_PRIVATE ? " DOOR_PRIVATE" : "",
	    di.di_attributes & DOOR_NO_CANCEL ? " DOOR_NO_CANCEL" : "");
	(void) fflush(stdout);
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		char buf[64];
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
