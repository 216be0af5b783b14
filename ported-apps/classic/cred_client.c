/*
 * cred_client: asks cred_server who it is, and prints the answer beside
 * what it knows of itself, in the same format. With -g and -u it first
 * sets its effective group and user ids (which needs privilege), so that
 * effective and real ids differ, as they do in a set-id program, which is
 * how UNPv2 shows the difference.
 *
 * Usage: cred_client [-g EGID] [-u EUID] PATH
 */
#include <door.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	door_arg_t arg;
	char rbuf[256];
	long euid = -1, egid = -1;
	int c, fd;

	while ((c = getopt(argc, argv, "g:u:")) != -1) {
		switch (c) {
		case 'g':
			egid = atol(optarg);
			break;
		case 'u':
			euid = atol(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	/* Open first: the door's file need not be open to the new ids. */
	if ((fd = open(argv[optind], O_RDONLY)) == -1) {
		perror(argv[optind]);
		return (1);
	}
	/* The group first: once the euid is unprivileged it can't change. */
	if (egid != -1 && setegid((gid_t)egid) == -1) {
		perror("setegid");
		return (1);
	}
	if (euid != -1 && seteuid((uid_t)euid) == -1) {
		perror("seteuid");
		return (1);
	}

	/* No arguments; the reply comes back in rbuf. */
	arg.data_ptr = NULL;
	arg.data_size = 0;
	arg.desc_ptr = NULL;
	arg.desc_num = 0;
	arg.rbuf = rbuf;
	arg.rsize = sizeof (rbuf);
	if (door_call(fd, &arg) == -1) {
		perror("door_call");
		return (1);
	}
	if (arg.data_size == 0 || arg.data_ptr[arg.data_size - 1] != '\0') {
		(void) fprintf(stderr, "bad reply\n");
		return (1);
	}
	(void) printf("server says: %s\n", arg.data_ptr);
	(void) printf("I am:        euid %d ruid %d egid %d rgid %d pid %d; "
	    "%d supplementary groups\n", (int)geteuid(), (int)getuid(),
	    (int)getegid(), (int)getgid(), (int)getpid(), getgroups(0, NULL));
	if (arg.rbuf != rbuf)
		(void) munmap(arg.rbuf, arg.rsize);
	(void) close(fd);
	return (0);

usage:
	(void) fprintf(stderr, "usage: %s [-g EGID] [-u EUID] PATH\n",
	    argv[0]);
	return (2);
}
