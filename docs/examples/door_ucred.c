/*
 * door_ucred: a server decides on the caller's credentials, which come
 * from the kernel, not from the caller's request. The client claims a
 * pid in its arguments; the server checks the claim. Outside a call
 * there is no caller, and door_ucred fails with EINVAL.
 */
#include <door.h>
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ucred.h>

static void
check_caller(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	ucred_t *uc = NULL;
	pid_t claimed;
	char answer[64];

	(void) cookie;
	(void) dp;
	(void) n_desc;
	if (arg_size != sizeof (claimed) || door_ucred(&uc) == -1)
		(void) door_return(NULL, 0, NULL, 0);
	(void) memcpy(&claimed, argp, sizeof (claimed));
	(void) snprintf(answer, sizeof (answer), "pid %s, uid %s",
	    ucred_getpid(uc) == claimed ? "as claimed" : "NOT as claimed",
	    ucred_geteuid(uc) == geteuid() ? "mine" : "another");
	ucred_free(uc);	/* before door_return, which does not return */
	(void) door_return(answer, strlen(answer) + 1, NULL, 0);
}

int
main(void)
{
	int d, status;
	ucred_t *uc = NULL;
	pid_t pid;

	if (door_ucred(&uc) == -1 && errno == EINVAL)
		(void) printf("outside a call: EINVAL\n");
	(void) fflush(stdout);
	if ((d = door_create(check_caller, NULL, 0)) == -1)
		err(1, "door_create");
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		pid_t claims[2] = { getpid(), getppid() };
		char buf[64];

		for (int i = 0; i < 2; i++) {
			door_arg_t arg = { (char *)&claims[i],
			    sizeof (claims[i]), NULL, 0, buf, sizeof (buf) };

			if (door_call(d, &arg) == -1 || arg.data_size == 0)
				err(1, "door_call");
			(void) printf("claiming to be %s: %s\n",
			    i == 0 ? "myself" : "my parent", arg.data_ptr);
		}
		return (0);
	}
	if (waitpid(pid, &status, 0) != pid || status != 0)
		errx(1, "the client failed");
	return (0);
}
