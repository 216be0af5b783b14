/*
 * intr_client: a door_call cut short by a signal, after UNPv2's
 * clientintr2. The client catches SIGCHLD with a handler that does
 * nothing, forks a child, and calls intr_server. The child exits when
 * someone opens the fifo CHILD for writing and closes it, so whoever runs
 * the demonstration decides whether its SIGCHLD arrives during the call
 * (door_call fails with EINTR; the server carries on regardless, and its
 * results are lost) or after it (the call succeeds). door_call is never
 * restarted, SA_RESTART or not: the server may already have done the
 * work.
 *
 * A successful reply carries a pipe's write end; the client writes
 * "received" into it, which tells the server its reply arrived.
 *
 * Usage: intr_client PATH CHILD NUMBER
 */
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got_chld;

static void
sig_chld(int signo)
{
	(void) signo;
	got_chld = 1;	/* nothing else: the point is to interrupt */
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	door_arg_t arg;
	long x, res;
	/*
	 * Room for the reply: the long, then (at the next multiple of
	 * sizeof (door_desc_t)) the descriptor. door_desc_t elements keep
	 * the descriptor aligned.
	 */
	door_desc_t rbuf[2];
	char c;
	pid_t pid;
	int fd, cfd, ret, status = 0;

	if (argc != 4) {
		(void) fprintf(stderr, "usage: %s PATH CHILD NUMBER\n",
		    argv[0]);
		return (2);
	}
	x = atol(argv[3]);
	if ((fd = open(argv[1], O_RDONLY)) == -1) {
		perror(argv[1]);
		return (1);
	}
	(void) memset(&sa, 0, sizeof (sa));
	sa.sa_handler = sig_chld;
	(void) sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;	/* makes no difference to door_call */
	if (sigaction(SIGCHLD, &sa, NULL) == -1) {
		perror("sigaction");
		return (1);
	}

	switch (pid = fork()) {
	case -1:
		perror("fork");
		return (1);
	case 0:
		/* The child: wait to be released, then exit (SIGCHLD). */
		if ((cfd = open(argv[2], O_RDONLY)) != -1)
			while (read(cfd, &c, 1) > 0)
				continue;
		_exit(0);
	}

	arg.data_ptr = (char *)&x;
	arg.data_size = sizeof (x);
	arg.desc_ptr = NULL;
	arg.desc_num = 0;
	arg.rbuf = (char *)rbuf;
	arg.rsize = sizeof (rbuf);
	ret = door_call(fd, &arg);
	if (ret == -1 && errno == EINTR) {
		(void) printf("door_call: interrupted (EINTR)%s\n",
		    got_chld ? " by SIGCHLD" : "");
		status = 3;
	} else if (ret == -1) {
		perror("door_call");
		status = 1;
	} else if (arg.data_size != sizeof (res)) {
		(void) fprintf(stderr, "bad reply\n");
		status = 1;
	} else {
		(void) memcpy(&res, arg.data_ptr, sizeof (res));
		(void) printf("result: %ld\n", res);
		if (arg.desc_num == 1) {
			cfd = arg.desc_ptr->d_data.d_desc.d_descriptor;
			if (write(cfd, "received", 8) != 8)
				perror("write");
			(void) close(cfd);
		}
		if (arg.rbuf != (char *)rbuf)
			(void) munmap(arg.rbuf, arg.rsize);
	}
	(void) fflush(stdout);

	/* Reap the child, whenever it is released. */
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		continue;
	(void) printf("child exited%s\n", got_chld ? ", SIGCHLD caught" : "");
	(void) close(fd);
	return (status);
}
