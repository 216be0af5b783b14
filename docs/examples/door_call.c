/*
 * door_call and its result buffer: a reply that fits lands in the
 * caller's buffer; a larger one arrives in a new mapping that the caller
 * must unmap. A call with no arguments at all checks that the server is
 * alive.
 */
#include <door.h>
#include <err.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static char reply[100000];

/* Answers a size_t n with n bytes of the reply buffer. */
static void
fill(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	size_t n;

	(void) cookie;
	(void) dp;
	(void) n_desc;
	if (argp == NULL || arg_size != sizeof (n))
		(void) door_return(NULL, 0, NULL, 0);
	(void) memcpy(&n, argp, sizeof (n));
	if (n > sizeof (reply))
		n = sizeof (reply);
	(void) door_return(reply, n, NULL, 0);
}

static void
ask(int d, size_t n)
{
	char buf[64];
	door_arg_t arg;

	/* The argument and the result share one buffer. */
	(void) memcpy(buf, &n, sizeof (n));
	arg.data_ptr = buf;
	arg.data_size = sizeof (n);
	arg.desc_ptr = NULL;
	arg.desc_num = 0;
	arg.rbuf = buf;
	arg.rsize = sizeof (buf);
	if (door_call(d, &arg) == -1)
		err(1, "door_call");
	(void) printf("%zu bytes, starting \"%.4s\", ", arg.data_size,
	    arg.data_ptr);
	if (arg.rbuf == buf) {
		(void) printf("in my buffer\n");
	} else {
		(void) printf("in a new mapping\n");
		(void) munmap(arg.rbuf, arg.rsize);
	}
}

int
main(void)
{
	int d, status;
	pid_t pid;

	(void) memset(reply, 'x', sizeof (reply));
	(void) memcpy(reply, "door", 4);
	if ((d = door_create(fill, NULL, 0)) == -1)
		err(1, "door_create");
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		if (door_call(d, NULL) == -1)
			err(1, "door_call");
		(void) printf("the server is alive\n");
		ask(d, 16);
		ask(d, sizeof (reply));
		return (0);
	}
	if (waitpid(pid, &status, 0) != pid || status != 0)
		errx(1, "the client failed");
	return (0);
}
