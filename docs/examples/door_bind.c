/*
 * A private door served by its own thread. door_create calls the
 * creation function for a DOOR_PRIVATE door before it returns the
 * descriptor, so the thread it starts waits for the descriptor to be
 * published, binds to the door, and parks in door_return. The procedure
 * asks door_info(DOOR_QUERY) which door its thread is bound to.
 */
#include <door.h>
#include <err.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t published = PTHREAD_COND_INITIALIZER;
static int private_door = -1;

static void *
bound_thread(void *arg)
{
	int d;

	(void) arg;
	(void) pthread_mutex_lock(&lock);
	while (private_door == -1)
		(void) pthread_cond_wait(&published, &lock);
	d = private_door;
	(void) pthread_mutex_unlock(&lock);
	if (door_bind(d) == -1)
		err(1, "door_bind");
	(void) door_return(NULL, 0, NULL, 0);
	return (NULL);
}

/* One bound thread per private door; this program has no other doors. */
static void
create_server(door_info_t *dip)
{
	pthread_t tid;

	if (dip == NULL || (dip->di_attributes & DOOR_DEPLETION_CB))
		return;
	if (pthread_create(&tid, NULL, bound_thread, NULL) != 0)
		return;
	(void) pthread_detach(tid);
}

static void
which_door(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	door_info_t di;

	(void) cookie;
	(void) argp;
	(void) arg_size;
	(void) dp;
	(void) n_desc;
	if (door_info(DOOR_QUERY, &di) == -1)
		(void) door_return(NULL, 0, NULL, 0);
	(void) door_return((char *)&di.di_uniquifier,
	    sizeof (di.di_uniquifier), NULL, 0);
}

int
main(void)
{
	int d, status;
	door_info_t di;
	pid_t pid;

	(void) door_server_create(create_server);
	if ((d = door_create(which_door, NULL, DOOR_PRIVATE)) == -1)
		err(1, "door_create");
	(void) pthread_mutex_lock(&lock);
	private_door = d;
	(void) pthread_cond_broadcast(&published);
	(void) pthread_mutex_unlock(&lock);

	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		door_id_t id;
		door_arg_t arg = { NULL, 0, NULL, 0, (char *)&id, sizeof (id) };

		if (door_call(d, &arg) == -1 || arg.data_size != sizeof (id))
			err(1, "door_call");
		if (door_info(d, &di) == -1)
			err(1, "door_info");
		(void) printf("served by a thread bound to this door: %s\n",
		    *(door_id_t *)arg.data_ptr == di.di_uniquifier ? "yes" : "no");
		return (0);
	}
	if (waitpid(pid, &status, 0) != pid || status != 0)
		errx(1, "the client failed");

	/* A thread may leave its private door again. */
	if (door_bind(d) == -1 || door_info(DOOR_QUERY, &di) == -1 ||
	    door_unbind() == -1)
		err(1, "door_bind");
	(void) printf("main thread: bound, then %s\n",
	    door_info(DOOR_QUERY, &di) == -1 ? "unbound" : "still bound");
	return (0);
}
