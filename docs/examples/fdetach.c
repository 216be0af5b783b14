/*
 * fdetach: the covered file comes back, unchanged, and a descriptor
 * opened through the path while the door was attached keeps working.
 */
#include <door.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
hello(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	(void) cookie;
	(void) argp;
	(void) arg_size;
	(void) dp;
	(void) n_desc;
	(void) door_return("hello", 6, NULL, 0);
}

int
main(void)
{
	char dir[] = "/tmp/fdetach.XXXXXX", path[64], buf[64];
	door_arg_t arg = { NULL, 0, NULL, 0, buf, sizeof (buf) };
	int d, fd, door_fd;
	ssize_t n;

	if (mkdtemp(dir) == NULL)
		err(1, "mkdtemp");
	(void) snprintf(path, sizeof (path), "%s/service", dir);
	if ((fd = open(path, O_CREAT | O_WRONLY, 0644)) == -1 ||
	    write(fd, "the covered file\n", 17) != 17 || close(fd) == -1)
		err(1, "%s", path);
	if ((d = door_create(hello, NULL, 0)) == -1 || fattach(d, path) == -1)
		err(1, "fattach");
	if ((door_fd = open(path, O_RDONLY)) == -1)
		err(1, "open");

	if (fdetach(path) == -1)
		err(1, "fdetach");
	if ((fd = open(path, O_RDONLY)) == -1 ||
	    (n = read(fd, buf, sizeof (buf))) == -1)
		err(1, "%s", path);
	(void) printf("after fdetach the path holds: %.*s", (int)n, buf);
	(void) close(fd);
	if (door_call(door_fd, &arg) == -1)
		err(1, "door_call");
	(void) printf("the descriptor opened before still calls: %s\n",
	    arg.data_ptr);
	if (fdetach(path) == -1 && errno == EINVAL)
		(void) printf("a second fdetach: EINVAL\n");
	if (unlink(path) == -1 || rmdir(dir) == -1)
		err(1, "cleanup");
	return (0);
}
