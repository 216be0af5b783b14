/*
 * fattach as a daemon uses it: make the file if it is missing, clear a
 * stale attachment, attach the door. A client then opens the path like a
 * file and gets a door descriptor; stat reports S_IFDOOR.
 */
#include <door.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
	char dir[] = "/tmp/fattach.XXXXXX", path[64];
	int d, fd, status;
	struct stat st;
	pid_t pid;

	if (mkdtemp(dir) == NULL)
		err(1, "mkdtemp");
	(void) snprintf(path, sizeof (path), "%s/hello_door", dir);
	if ((d = door_create(hello, NULL, 0)) == -1)
		err(1, "door_create");
	if ((fd = open(path, O_CREAT | O_RDWR, 0644)) == -1)
		err(1, "%s", path);
	(void) close(fd);
	if (fdetach(path) == -1 && errno != EINVAL)	/* EINVAL: none */
		err(1, "fdetach");
	if (fattach(d, path) == -1)
		err(1, "fattach");

	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		char buf[16];
		door_arg_t arg = { NULL, 0, NULL, 0, buf, sizeof (buf) };

		if ((fd = open(path, O_RDONLY)) == -1)
			err(1, "open");
		if (fstat(fd, &st) == 0 && S_ISDOOR(st.st_mode))
			(void) printf("client: opened a door\n");
		if (door_call(fd, &arg) == -1)
			err(1, "door_call");
		(void) printf("client: %s\n", arg.data_ptr);
		return (0);
	}
	if (waitpid(pid, &status, 0) != pid || status != 0)
		errx(1, "the client failed");
	if (stat(path, &st) == 0 && S_ISDOOR(st.st_mode))
		(void) printf("server: %s is a door, mode %o\n",
		    "hello_door", (unsigned)(st.st_mode & 07777));
	if (fdetach(path) == -1 || unlink(path) == -1 || rmdir(dir) == -1)
		err(1, "cleanup");
	return (0);
}
