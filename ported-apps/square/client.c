/*
 * square: asks the squared server at PATH for the square of each NUMBER,
 * and prints what door_info says about the door.
 *
 * Usage: client PATH NUMBER...
 */
#include <door.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	door_info_t info;
	int fd, i;

	if (argc < 3) {
		(void) fprintf(stderr, "usage: %s PATH NUMBER...\n", argv[0]);
		return (2);
	}
	if ((fd = open(argv[1], O_RDONLY)) < 0) {
		perror(argv[1]);
		return (1);
	}
	if (door_info(fd, &info) < 0) {
		perror("door_info");
		return (1);
	}
	(void) printf("door %llx served by pid %d, attributes 0x%x\n",
	    (unsigned long long)info.di_uniquifier, (int)info.di_target, info.di_attributes);
	for (i = 2; i < argc; i++) {
		long arg = atol(argv[i]), result;
		door_arg_t a;

		a.data_ptr = (char *)&arg;
		a.data_size = sizeof (arg);
		a.desc_ptr = NULL;
		a.desc_num = 0;
		a.rbuf = (char *)&result;
		a.rsize = sizeof (result);
		if (door_call(fd, &a) < 0) {
			perror("door_call");
			return (1);
		}
		(void) printf("%ld squared is %ld\n", arg, *(long *)a.data_ptr);
	}
	(void) close(fd);
	return (0);
}
