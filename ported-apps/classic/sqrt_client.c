/*
 * sqrt_client: calls sqrt_server once for each number on the command line
 * and prints the square root with the id of the server thread that
 * computed it.
 *
 * Usage: sqrt_client PATH NUMBER...
 */
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sqrt_door.h"

int
main(int argc, char **argv)
{
	door_arg_t arg;
	sqrt_res_t res;
	double x;
	char *end;
	int fd, i;

	if (argc < 3) {
		(void) fprintf(stderr, "usage: %s PATH NUMBER...\n", argv[0]);
		return (2);
	}
	if ((fd = open(argv[1], O_RDONLY)) == -1) {
		perror(argv[1]);
		return (1);
	}
	for (i = 2; i < argc; i++) {
		errno = 0;
		x = strtod(argv[i], &end);
		if (errno != 0 || end == argv[i] || *end != '\0') {
			(void) fprintf(stderr, "%s: not a number\n", argv[i]);
			return (2);
		}
		arg.data_ptr = (char *)&x;
		arg.data_size = sizeof (x);
		arg.desc_ptr = NULL;
		arg.desc_num = 0;
		arg.rbuf = (char *)&res;
		arg.rsize = sizeof (res);
		if (door_call(fd, &arg) == -1) {
			perror("door_call");
			return (1);
		}
		if (arg.data_size != sizeof (res)) {
			(void) fprintf(stderr, "%g: bad reply (%zu bytes)\n",
			    x, arg.data_size);
			return (1);
		}
		/* The reply fits rbuf, so it is there; copy in case not. */
		if (arg.data_ptr != (char *)&res)
			(void) memcpy(&res, arg.data_ptr, sizeof (res));
		if (arg.rbuf != (char *)&res)
			(void) munmap(arg.rbuf, arg.rsize);
		(void) printf("sqrt(%g) = %g, computed by server thread %ld\n",
		    x, res.sr_root, res.sr_thread);
	}
	(void) close(fd);
	return (0);
}
