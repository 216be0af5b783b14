/*
 * door_return with a descriptor: the server answers each call with a
 * message and the read end of a pipe, which it gives away
 * (DOOR_RELEASE closes its own copy). The results live in the server
 * procedure's stack frame: door_return copies them before it abandons
 * the frame.
 */
#include <door.h>
#include <err.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void
give_pipe(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	char msg[] = "read the pipe";
	door_desc_t desc;
	int p[2];

	(void) cookie;
	(void) argp;
	(void) arg_size;
	(void) dp;
	(void) n_desc;
	if (pipe(p) == -1)
		(void) door_return(NULL, 0, NULL, 0);
	if (write(p[1], "hello through a pipe", 20) != 20)
		warn("write");
	(void) close(p[1]);
	desc.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
	desc.d_data.d_desc.d_descriptor = p[0];
	if (door_return(msg, sizeof (msg), &desc, 1) == -1)
		warn("door_return");
	/* Only a failed door_return comes back here. */
	(void) close(p[0]);
	(void) door_return(NULL, 0, NULL, 0);
}

int
main(void)
{
	int d, status;
	pid_t pid;

	if ((d = door_create(give_pipe, NULL, 0)) == -1)
		err(1, "door_create");
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		char buf[256], text[64];
		door_arg_t arg = { NULL, 0, NULL, 0, buf, sizeof (buf) };
		ssize_t n;

		if (door_call(d, &arg) == -1)
			err(1, "door_call");
		if (arg.desc_num != 1 ||
		    !(arg.desc_ptr->d_attributes & DOOR_DESCRIPTOR))
			errx(1, "no descriptor in the reply");
		(void) printf("message: %s\n", arg.data_ptr);
		n = read(arg.desc_ptr->d_data.d_desc.d_descriptor, text,
		    sizeof (text));
		(void) printf("pipe: %.*s\n", (int)n, text);
		(void) close(arg.desc_ptr->d_data.d_desc.d_descriptor);
		return (0);
	}
	if (waitpid(pid, &status, 0) != pid || status != 0)
		errx(1, "the client failed");
	return (0);
}
