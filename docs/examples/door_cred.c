/*
 * door_cred, the older form of door_ucred: the caller's effective and
 * real ids and its pid, in a door_cred_t. The server answers with what
 * it sees; the client compares that with its own ids.
 */
#include <door.h>
#include <err.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static void
whoami(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	door_cred_t dc;

	(void) cookie;
	(void) argp;
	(void) arg_size;
	(void) dp;
	(void) n_desc;
	if (door_cred(&dc) == -1)
		(void) door_return(NULL, 0, NULL, 0);
	(void) door_return((char *)&dc, sizeof (dc), NULL, 0);
}

int
main(void)
{
	int d, status;
	pid_t pid;

	if ((d = door_create(whoami, NULL, 0)) == -1)
		err(1, "door_create");
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		door_cred_t dc;
		door_arg_t arg = { NULL, 0, NULL, 0, (char *)&dc, sizeof (dc) };

		if (door_call(d, &arg) == -1 || arg.data_size != sizeof (dc))
			err(1, "door_call");
		dc = *(door_cred_t *)arg.data_ptr;
		(void) printf("pid %s\n", dc.dc_pid == getpid() ?
		    "matches" : "differs");
		(void) printf("effective uid and gid %s\n",
		    dc.dc_euid == geteuid() && dc.dc_egid == getegid() ?
		    "match" : "differ");
		(void) printf("real uid and gid %s\n",
		    dc.dc_ruid == getuid() && dc.dc_rgid == getgid() ?
		    "match" : "differ");
		return (0);
	}
	if (waitpid(pid, &status, 0) != pid || status != 0)
		errx(1, "the client failed");
	return (0);
}
