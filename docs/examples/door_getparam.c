/*
 * door_setparam and door_getparam: a server that takes at most 16 bytes
 * per request and refuses descriptors. A client reads the limits and
 * sees door_call refuse requests that break them, before anything is
 * sent. Only the process that created a door may change its limits.
 */
#include <door.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static void
echo(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	(void) cookie;
	(void) dp;
	(void) n_desc;
	(void) door_return(argp, arg_size, NULL, 0);
}

static void
try_call(int d, size_t size, int with_descriptor)
{
	char buf[32] = "ping";
	door_desc_t desc = { DOOR_DESCRIPTOR, { { 0, 0 } } };
	door_arg_t arg = { buf, size, NULL, 0, buf, sizeof (buf) };

	if (with_descriptor) {
		desc.d_data.d_desc.d_descriptor = STDIN_FILENO;
		arg.desc_ptr = &desc;
		arg.desc_num = 1;
	}
	(void) printf("%zu bytes%s: ", size,
	    with_descriptor ? " and a descriptor" : "");
	if (door_call(d, &arg) == 0)
		(void) printf("ok\n");
	else if (errno == ENOBUFS)
		(void) printf("ENOBUFS\n");
	else if (errno == ENOTSUP)
		(void) printf("ENOTSUP\n");
	else
		err(1, "door_call");
}

int
main(void)
{
	int d, status;
	pid_t pid;

	if ((d = door_create(echo, NULL, DOOR_REFUSE_DESC)) == -1)
		err(1, "door_create");
	if (door_setparam(d, DOOR_PARAM_DATA_MAX, 16) == -1)
		err(1, "door_setparam");
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		size_t data_max, desc_max;

		if (door_getparam(d, DOOR_PARAM_DATA_MAX, &data_max) == -1 ||
		    door_getparam(d, DOOR_PARAM_DESC_MAX, &desc_max) == -1)
			err(1, "door_getparam");
		(void) printf("DATA_MAX %zu, DESC_MAX %zu\n", data_max,
		    desc_max);
		try_call(d, 8, 0);
		try_call(d, 32, 0);
		try_call(d, 8, 1);
		if (door_setparam(d, DOOR_PARAM_DATA_MAX, 64) == -1 &&
		    errno == EPERM)
			(void) printf("door_setparam in the client: EPERM\n");
		return (0);
	}
	if (waitpid(pid, &status, 0) != pid || status != 0)
		errx(1, "the client failed");
	return (0);
}
