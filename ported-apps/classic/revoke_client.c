/*
 * revoke_client: opens revoke_server's door once and calls it COUNT times
 * through that one descriptor, printing each answer or error. Once the
 * server has revoked the door, door_call fails with EBADF although the
 * descriptor is still open; door_info on it then shows DOOR_REVOKED, with
 * the server's pid still in di_target (only the server's exit clears it).
 *
 * Usage: revoke_client PATH COUNT
 */
#include <door.h>
#include <errno.h>
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
	door_info_t info;
	long count, i, res;
	int fd, failed = 0;

	if (argc != 3 || (count = atol(argv[2])) < 1) {
		(void) fprintf(stderr, "usage: %s PATH COUNT\n", argv[0]);
		return (2);
	}
	if ((fd = open(argv[1], O_RDONLY)) == -1) {
		perror(argv[1]);
		return (1);
	}
	for (i = 1; i <= count; i++) {
		arg.data_ptr = NULL;
		arg.data_size = 0;
		arg.desc_ptr = NULL;
		arg.desc_num = 0;
		arg.rbuf = (char *)&res;
		arg.rsize = sizeof (res);
		if (door_call(fd, &arg) == -1) {
			(void) printf("call %ld: door_call failed: %s%s\n", i,
			    strerror(errno), errno == EBADF ? " (EBADF)" : "");
			failed++;
			continue;
		}
		if (arg.data_size != sizeof (res)) {
			(void) printf("call %ld: bad reply\n", i);
			failed++;
			continue;
		}
		/* It fit, so it is in res already. */
		(void) printf("call %ld: the server counted it as call %ld\n",
		    i, res);
	}
	if (door_info(fd, &info) == -1) {
		perror("door_info");
		return (1);
	}
	(void) printf("door_info: %s, server pid %d\n",
	    (info.di_attributes & DOOR_REVOKED) ? "revoked" : "not revoked",
	    (int)info.di_target);
	(void) close(fd);
	return (failed > 0 ? 3 : 0);
}
