/*
 * fd_server: a file server in the style of UNPv2's server4. A call carries
 * a pathname; the server opens the file and hands back the open
 * descriptor itself, tagged DOOR_DESCRIPTOR. DOOR_RELEASE makes
 * door_return close the server's copy once it has been passed, so the
 * server keeps nothing open. If the open fails, the reply is the error
 * text and no descriptor.
 *
 * This is a teaching toy: it opens whatever its callers name with its own
 * privileges. A real server would check door_ucred(3C) first.
 *
 * Usage: fd_server PATH
 */
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stropts.h>
#include <unistd.h>

static void
open_proc(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	door_desc_t desc;
	char msg[512];
	int fd;

	(void) cookie;
	(void) dp;
	(void) n_desc;
	/* The pathname must arrive with its terminating NUL. */
	if (argp == NULL || arg_size == 0 || argp[arg_size - 1] != '\0') {
		(void) strcpy(msg, "bad request: no pathname");
		(void) door_return(msg, strlen(msg) + 1, NULL, 0);
		return;
	}
	if ((fd = open(argp, O_RDONLY)) == -1) {
		(void) snprintf(msg, sizeof (msg), "%s: %s", argp,
		    strerror(errno));
		(void) printf("open failed: %s\n", msg);
		(void) fflush(stdout);
		(void) door_return(msg, strlen(msg) + 1, NULL, 0);
		return;
	}
	(void) printf("opened %s, passing it back\n", argp);
	(void) fflush(stdout);
	desc.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
	desc.d_data.d_desc.d_descriptor = fd;
	(void) door_return(NULL, 0, &desc, 1);

	/*
	 * Only a failed door_return gets here, and its failures (E2BIG when
	 * the caller takes no results, EMFILE when it has no room) come
	 * before any descriptor is passed: the file is still ours to close.
	 */
	(void) close(fd);
	(void) door_return(NULL, 0, NULL, 0);
}

int
main(int argc, char **argv)
{
	int d, fd;

	if (argc != 2) {
		(void) fprintf(stderr, "usage: %s PATH\n", argv[0]);
		return (2);
	}
	/*
	 * Callers pass no descriptors, only names; DOOR_REFUSE_DESC limits
	 * what callers send, not what the server returns.
	 */
	if ((d = door_create(open_proc, NULL, DOOR_REFUSE_DESC)) == -1) {
		perror("door_create");
		return (1);
	}
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
	(void) printf("fd_server: pid %d serving %s\n", (int)getpid(),
	    argv[1]);
	(void) fflush(stdout);
	for (;;)
		(void) pause();
	/* NOTREACHED */
}
