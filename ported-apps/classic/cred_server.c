/*
 * cred_server: tells each caller who it is, as the door saw it. The
 * procedure asks door_cred(3C) (the original interface, from Solaris 2.6
 * and UNPv2) for the caller's effective and real user and group ids and
 * its pid, and door_ucred(3C) (its successor) for the saved ids and the
 * supplementary groups. Both are answered from the caller's process by
 * the system, not from anything the caller sent. The reply is text; the
 * server logs the same line.
 *
 * Usage: cred_server PATH
 */
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stropts.h>
#include <ucred.h>
#include <unistd.h>

static void
cred_proc(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	door_cred_t dc;
	ucred_t *uc = NULL;
	const gid_t *groups;
	char reply[256];
	int len, ng;

	(void) cookie;
	(void) argp;
	(void) arg_size;
	(void) dp;
	(void) n_desc;
	if (door_cred(&dc) == -1) {
		len = snprintf(reply, sizeof (reply), "door_cred: %s",
		    strerror(errno));
	} else {
		len = snprintf(reply, sizeof (reply),
		    "euid %d ruid %d egid %d rgid %d pid %d",
		    (int)dc.dc_euid, (int)dc.dc_ruid, (int)dc.dc_egid,
		    (int)dc.dc_rgid, (int)dc.dc_pid);
	}
	/* door_ucred allocates the record; it is freed before returning. */
	if (door_ucred(&uc) == 0) {
		ng = ucred_getgroups(uc, &groups);
		(void) snprintf(reply + len, sizeof (reply) - len,
		    "; suid %d sgid %d, %d supplementary groups",
		    (int)ucred_getsuid(uc), (int)ucred_getsgid(uc), ng);
		ucred_free(uc);
	}
	(void) printf("caller: %s\n", reply);
	(void) fflush(stdout);
	(void) door_return(reply, strlen(reply) + 1, NULL, 0);
}

int
main(int argc, char **argv)
{
	int d, fd;

	if (argc != 2) {
		(void) fprintf(stderr, "usage: %s PATH\n", argv[0]);
		return (2);
	}
	d = door_create(cred_proc, NULL, DOOR_REFUSE_DESC | DOOR_NO_CANCEL);
	if (d == -1) {
		perror("door_create");
		return (1);
	}
	/* World-readable, so that callers of any uid can open the door. */
	if ((fd = open(argv[1], O_CREAT | O_RDWR, 0644)) == -1) {
		perror(argv[1]);
		return (1);
	}
	(void) close(fd);
	(void) fdetach(argv[1]);
	if (fattach(d, argv[1]) == -1) {
		perror("fattach");
		return (1);
	}
	(void) printf("cred_server: pid %d serving %s\n", (int)getpid(),
	    argv[1]);
	(void) fflush(stdout);
	(void) door_return(NULL, 0, NULL, 0);
	perror("door_return");
	return (1);
}
