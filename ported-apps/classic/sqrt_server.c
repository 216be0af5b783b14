/*
 * sqrt_server: the first door server of the textbook. Each call carries a
 * double; the reply is its square root and the id of the server thread
 * that computed it, so that a client sees which thread of the pool ran
 * its call. The server also logs every call, which lets the two sides be
 * compared.
 *
 * Usage: sqrt_server PATH
 */
#include <door.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stropts.h>
#include <thread.h>
#include <unistd.h>

#include "sqrt_door.h"

/*
 * Declared as UNPv2 declares its server procedures, with a size_t n_desc
 * where <door.h> says uint_t. The fifth argument is only ever a small
 * count and the procedure ignores it, but the pointer types differ, so
 * door_create gets it through a cast (see main).
 */
static void
sqrt_proc(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    size_t n_desc)
{
	sqrt_res_t res;
	double x;

	(void) cookie;
	(void) dp;
	(void) n_desc;
	if (argp == NULL || arg_size != sizeof (x)) {
		/* Not ours to interpret: an empty reply says so. */
		(void) door_return(NULL, 0, NULL, 0);
		return;
	}
	/* argp need not be aligned for a double. */
	(void) memcpy(&x, argp, sizeof (x));
	res.sr_root = sqrt(x);
	res.sr_thread = (long)thr_self();
	(void) printf("thread %ld: sqrt(%g) = %g\n", res.sr_thread, x,
	    res.sr_root);
	(void) fflush(stdout);
	/* res lives in this frame: door_return copies it out first. */
	(void) door_return((char *)&res, sizeof (res), NULL, 0);
}

int
main(int argc, char **argv)
{
	int d, fd;

	if (argc != 2) {
		(void) fprintf(stderr, "usage: %s PATH\n", argv[0]);
		return (2);
	}
	/*
	 * A cast through void (*)(void), the one function type gcc lets any
	 * other convert to without -Wcast-function-type, keeps -Werror
	 * builds quiet about the size_t n_desc.
	 */
	d = door_create((door_server_procedure_t *)(void (*)(void))sqrt_proc,
	    NULL, 0);
	if (d == -1) {
		perror("door_create");
		return (1);
	}
	/* fattach covers an existing file; drop any stale attachment first. */
	if ((fd = open(argv[1], O_CREAT | O_RDWR, 0644)) == -1) {
		perror(argv[1]);
		return (1);
	}
	(void) close(fd);
	(void) fdetach(argv[1]);
	if (fattach(d, argv[1]) == -1) {
		perror("fattach");
		return (1);
	}
	(void) printf("sqrt_server: pid %d serving %s\n", (int)getpid(),
	    argv[1]);
	(void) fflush(stdout);

	/* The calls run in the door's server threads; main just waits. */
	for (;;)
		(void) pause();
	/* NOTREACHED */
}
