/*
 * overflow_server: answers a count N with the first N squares, as an array
 * of N longs (1, 4, 9, ...). N = 1 gives the single long of UNPv2's
 * server3; larger counts give replies of several pages. overflow_client
 * offers result buffers too small for them to show how door_call places
 * an overflowing reply.
 *
 * Usage: overflow_server PATH
 */
#include <door.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stropts.h>
#include <unistd.h>

/* Replies are built on the server thread's stack; keep them modest. */
#define	MAXSQUARES	4096

static void
squares_proc(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	long sq[MAXSQUARES];
	long n, i;

	(void) cookie;
	(void) dp;
	(void) n_desc;
	if (argp == NULL || arg_size != sizeof (n)) {
		(void) door_return(NULL, 0, NULL, 0);
		return;
	}
	(void) memcpy(&n, argp, sizeof (n));
	if (n < 0 || n > MAXSQUARES) {
		(void) printf("count %ld refused (at most %d)\n", n,
		    MAXSQUARES);
		(void) fflush(stdout);
		(void) door_return(NULL, 0, NULL, 0);
		return;
	}
	for (i = 0; i < n; i++)
		sq[i] = (i + 1) * (i + 1);
	(void) printf("count %ld: replying with %zu bytes\n", n,
	    (size_t)n * sizeof (long));
	(void) fflush(stdout);
	/*
	 * door_return never comes back, so a reply in malloc'd memory would
	 * leak; a frame local is the usual idiom, since the results are
	 * copied before the thread's stack is reset.
	 */
	(void) door_return((char *)sq, (size_t)n * sizeof (long), NULL, 0);
}

int
main(int argc, char **argv)
{
	int d, fd;

	if (argc != 2) {
		(void) fprintf(stderr, "usage: %s PATH\n", argv[0]);
		return (2);
	}
	/* Callers send a count and nothing else. */
	if ((d = door_create(squares_proc, NULL, DOOR_REFUSE_DESC)) == -1) {
		perror("door_create");
		return (1);
	}
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
	(void) printf("overflow_server: pid %d serving %s\n", (int)getpid(),
	    argv[1]);
	(void) fflush(stdout);

	/* Park main in the pool: it serves calls too. */
	(void) door_return(NULL, 0, NULL, 0);
	perror("door_return");
	return (1);
}
