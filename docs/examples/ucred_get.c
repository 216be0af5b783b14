/*
 * The ucred functions: this process's own credentials, and those of the
 * peer of a unix socket, as a server with its own socket protocol would
 * check a client. What Linux lacks (privilege sets) reads as absent.
 */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <ucred.h>
#include <unistd.h>

int
main(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	const gid_t *groups;
	ucred_t *uc;
	int lfd, cfd, ngroups, status;
	pid_t pid;

	if ((uc = ucred_get(P_MYID)) == NULL)
		err(1, "ucred_get");
	ngroups = ucred_getgroups(uc, &groups);
	(void) printf("myself: euid %s, %s groups, zone %d\n",
	    ucred_geteuid(uc) == geteuid() ? "right" : "wrong",
	    ngroups == getgroups(0, NULL) ? "right" : "wrong",
	    (int)ucred_getzoneid(uc));
	if (ucred_getprivset(uc, "Effective") == NULL && errno == EINVAL)
		(void) printf("privilege sets: none\n");
	ucred_free(uc);

	/* A listening socket in the abstract namespace; the child connects. */
	(void) snprintf(addr.sun_path + 1, sizeof (addr.sun_path) - 1,
	    "ucred-example-%d", (int)getpid());
	if ((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&addr, sizeof (addr)) == -1 ||
	    listen(lfd, 1) == -1)
		err(1, "socket");
	(void) fflush(stdout);
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		char c;

		if (fd == -1 ||
		    connect(fd, (struct sockaddr *)&addr, sizeof (addr)) == -1)
			err(1, "connect");
		_exit(read(fd, &c, 1) == 0 ? 0 : 1);	/* until closed */
	}
	if ((cfd = accept(lfd, NULL, NULL)) == -1)
		err(1, "accept");
	uc = NULL;
	if (getpeerucred(cfd, &uc) == -1)
		err(1, "getpeerucred");
	(void) printf("peer: pid %s, euid %s\n",
	    ucred_getpid(uc) == pid ? "is the child" : "unexpected",
	    ucred_geteuid(uc) == geteuid() ? "right" : "wrong");
	ucred_free(uc);
	(void) close(cfd);
	if (waitpid(pid, &status, 0) != pid || status != 0)
		errx(1, "the client failed");
	return (0);
}
