/*
 * fd_client: cat(1) through a door. It sends FILE's name to fd_server,
 * receives an open descriptor for it in the reply, and copies the file to
 * standard output by reading that descriptor: the client never opens
 * FILE itself. When the server could not open the file, the reply is its
 * error text instead of a descriptor.
 *
 * Usage: fd_client PATH FILE
 */
#include <door.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	door_arg_t arg;
	door_desc_t *dp;
	char rbuf[512], buf[8192];
	ssize_t n;
	int door, fd, status;

	if (argc != 3) {
		(void) fprintf(stderr, "usage: %s PATH FILE\n", argv[0]);
		return (2);
	}
	if ((door = open(argv[1], O_RDONLY)) == -1) {
		perror(argv[1]);
		return (1);
	}
	arg.data_ptr = argv[2];
	arg.data_size = strlen(argv[2]) + 1;
	arg.desc_ptr = NULL;
	arg.desc_num = 0;
	arg.rbuf = rbuf;
	arg.rsize = sizeof (rbuf);
	if (door_call(door, &arg) == -1) {
		perror("door_call");
		return (1);
	}
	(void) close(door);

	status = 0;
	if (arg.desc_num == 0) {
		/* No descriptor: the reply, if any, says why. */
		if (arg.data_size > 0 && arg.data_ptr[arg.data_size - 1] == '\0')
			(void) fprintf(stderr, "%s: %s\n", argv[0],
			    arg.data_ptr);
		else
			(void) fprintf(stderr, "%s: no descriptor in reply\n",
			    argv[0]);
		status = 1;
	} else {
		dp = arg.desc_ptr;
		if (arg.desc_num != 1 ||
		    !(dp->d_attributes & DOOR_DESCRIPTOR)) {
			(void) fprintf(stderr, "%s: unexpected reply\n",
			    argv[0]);
			return (1);
		}
		fd = dp->d_data.d_desc.d_descriptor;
		while ((n = read(fd, buf, sizeof (buf))) > 0) {
			if (write(STDOUT_FILENO, buf, (size_t)n) != n) {
				perror("write");
				return (1);
			}
		}
		if (n == -1) {
			perror("read");
			status = 1;
		}
		(void) close(fd);
	}
	/* A reply larger than rbuf would have come in a new mapping. */
	if (arg.rbuf != rbuf)
		(void) munmap(arg.rbuf, arg.rsize);
	return (status);
}
