/*
 * squared: the textbook door server, written as it would be on illumos.
 * It attaches a door at PATH; each call carries a long and gets back its
 * square. The main thread parks itself in door_return, as many illumos
 * daemons do; libc's default pool adds threads as calls arrive.
 *
 * Usage: server PATH
 */
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stropts.h>
#include <unistd.h>

static void square(void *cookie, char *argp, size_t arg_size, door_desc_t *dp, uint_t n_desc)
{
	long arg, result;

	(void)cookie;
	(void)dp;
	(void)n_desc;
	if (argp == NULL || arg_size != sizeof (long)) {
		(void) door_return(NULL, 0, NULL, 0);
		return;
	}
	(void) memcpy(&arg, argp, sizeof (long));
	result = arg * arg;
	(void) door_return((char *)&result, sizeof (result), NULL, 0);
}

int main(int argc, char **argv)
{
	int fd, d;

	if (argc != 2) {
		(void) fprintf(stderr, "usage: %s PATH\n", argv[0]);
		return (2);
	}
	if ((d = door_create(square, NULL, DOOR_REFUSE_DESC | DOOR_NO_CANCEL)) < 0) {
		perror("door_create");
		return (1);
	}
	if ((fd = open(argv[1], O_CREAT | O_RDWR, 0644)) < 0) {
		perror(argv[1]);
		return (1);
	}
	(void) close(fd);
	(void) fdetach(argv[1]);
	if (fattach(d, argv[1]) < 0) {
		perror("fattach");
		return (1);
	}
	(void) printf("squared: serving %s (pid %d)\n", argv[1], (int)getpid());
	(void) fflush(stdout);
	(void) door_return(NULL, 0, NULL, 0);
	perror("door_return");
	return (1);
}
