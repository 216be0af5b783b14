/*
 * door_revoke: a server retires a door. A forked client calls it once,
 * the server revokes it, and the client's next call fails with EBADF
 * while door_info reports the door revoked.
 */
#include <door.h>
#include <err.h>
#include <errno.h>
#include <stdio.h>
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
	int d, called[2], revoked[2], status;
	char buf[16], c;
	door_arg_t arg = { NULL, 0, NULL, 0, buf, sizeof (buf) };
	door_info_t di;
	pid_t pid;

	if ((d = door_create(hello, NULL, 0)) == -1)
		err(1, "door_create");
	if (pipe(called) == -1 || pipe(revoked) == -1)
		err(1, "pipe");
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		if (door_call(d, &arg) == -1)
			err(1, "door_call");
		(void) printf("first call: %s\n", arg.data_ptr);
		(void) fflush(stdout);
		if (write(called[1], "c", 1) != 1 || read(revoked[0], &c, 1) != 1)
			err(1, "pipe");
		if (door_call(d, &arg) == 0 || errno != EBADF)
			errx(1, "the call after revocation did not fail");
		(void) printf("second call: EBADF\n");
		if (door_info(d, &di) == 0 && (di.di_attributes & DOOR_REVOKED))
			(void) printf("door_info: revoked\n");
		return (0);
	}
	if (read(called[0], &c, 1) != 1)
		errx(1, "the client failed");
	if (door_revoke(d) == -1)	/* also closes d */
		err(1, "door_revoke");
	if (write(revoked[1], "r", 1) != 1)
		err(1, "write");
	if (waitpid(pid, &status, 0) != pid || status != 0)
		errx(1, "the client failed");
	return (0);
}
