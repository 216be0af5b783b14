/*
 * A door server and its client in one program: the parent creates a door
 * that squares numbers, and a forked child, which inherits the door
 * descriptor, calls it. The door asks for an unreferenced notification,
 * which comes when the child's copy of the descriptor is gone.
 */
#include <door.h>
#include <err.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static sem_t unreferenced;

static void
square(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	long x, result;

	(void) cookie;
	(void) dp;
	(void) n_desc;
	if (argp == DOOR_UNREF_DATA) {
		/* Only the creator's descriptor is left. */
		(void) sem_post(&unreferenced);
		(void) door_return(NULL, 0, NULL, 0);
	}
	if (arg_size != sizeof (x))
		(void) door_return(NULL, 0, NULL, 0);
	(void) memcpy(&x, argp, sizeof (x));
	result = x * x;
	(void) door_return((char *)&result, sizeof (result), NULL, 0);
}

int
main(void)
{
	int d, status;
	pid_t pid;

	(void) sem_init(&unreferenced, 0, 0);
	if ((d = door_create(square, NULL, DOOR_UNREF)) == -1)
		err(1, "door_create");

	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		long x = 12, result;
		door_arg_t arg = { (char *)&x, sizeof (x), NULL, 0,
		    (char *)&result, sizeof (result) };

		if (door_call(d, &arg) == -1)
			err(1, "door_call");
		(void) printf("client: %ld squared is %ld\n", x,
		    *(long *)arg.data_ptr);
		return (0);	/* exit closes the child's descriptor */
	}
	if (waitpid(pid, &status, 0) != pid || status != 0)
		errx(1, "the client failed");
	while (sem_wait(&unreferenced) == -1)
		continue;
	(void) printf("server: the door is unreferenced\n");
	return (0);
}
