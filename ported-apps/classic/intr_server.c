/*
 * intr_server: a slow door procedure, for intr_client to give up on. Each
 * call logs that it started, then waits until someone opens the fifo GATE
 * for writing and closes it again (the stand-in for UNPv2's long sleep,
 * but under the control of whoever runs the demonstration). It then
 * finishes the call as if nothing had happened: computes the square of
 * the argument and returns it, together with the write end of a fresh
 * pipe, marked DOOR_RELEASE.
 *
 * If the client was interrupted meanwhile, the procedure still runs to
 * the end, but there is nobody left to answer: door_cred fails with
 * EINVAL, and door_return discards the results and closes the released
 * descriptor. The server watches the pipe's read end from another
 * thread, so it can tell: a client that got the reply writes to the pipe
 * before closing it; a reply that found no client is closed unread.
 *
 * Usage: intr_server PATH GATE
 */
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stropts.h>
#include <synch.h>
#include <thread.h>
#include <unistd.h>

typedef struct watch {
	long	w_call;		/* which call's reply is watched */
	int	w_fd;		/* the pipe's read end */
} watch_t;

static mutex_t calls_lock = DEFAULTMUTEX;
static long calls;

/* Reports what became of one reply's descriptor. */
static void *
watch_reply(void *arg)
{
	watch_t *w = arg;
	char buf[64];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof (buf) - 1 &&
	    (n = read(w->w_fd, buf + len, sizeof (buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	if (len > 0)
		(void) printf("call %ld: the client got the reply and wrote "
		    "back \"%s\"\n", w->w_call, buf);
	else
		(void) printf("call %ld: door_return found no client: the "
		    "reply's descriptor was closed unread\n", w->w_call);
	(void) fflush(stdout);
	(void) close(w->w_fd);
	free(w);
	return (NULL);
}

static void
slow_proc(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	const char *gate = cookie;
	door_desc_t desc;
	door_cred_t dc;
	watch_t *w;
	long x, call, result;
	int fd, pfd[2];
	char c;

	(void) dp;
	(void) n_desc;
	if (argp == NULL || arg_size != sizeof (x)) {
		(void) door_return(NULL, 0, NULL, 0);
		return;
	}
	(void) memcpy(&x, argp, sizeof (x));
	(void) mutex_lock(&calls_lock);
	call = ++calls;
	(void) mutex_unlock(&calls_lock);
	(void) printf("call %ld: started, argument %ld; waiting on %s\n",
	    call, x, gate);
	(void) fflush(stdout);

	/* Opening a fifo for reading waits for a writer; then read to EOF. */
	if ((fd = open(gate, O_RDONLY)) == -1) {
		perror(gate);
	} else {
		while (read(fd, &c, 1) > 0)
			continue;
		(void) close(fd);
	}
	result = x * x;
	(void) printf("call %ld: gate opened, returning %ld\n", call, result);

	/* Credentials exist only while the caller is still waiting. */
	if (door_cred(&dc) == 0)
		(void) printf("call %ld: client pid %d is still waiting\n",
		    call, (int)dc.dc_pid);
	else
		(void) printf("call %ld: door_cred: %s: the client has gone\n",
		    call, strerror(errno));
	(void) fflush(stdout);

	if (pipe(pfd) == -1 || (w = malloc(sizeof (*w))) == NULL) {
		perror("intr_server");
		(void) door_return((char *)&result, sizeof (result), NULL, 0);
		return;
	}
	w->w_call = call;
	w->w_fd = pfd[0];
	if (thr_create(NULL, 0, watch_reply, w, THR_DETACHED, NULL) != 0) {
		(void) close(pfd[0]);
		free(w);
		(void) close(pfd[1]);
		(void) door_return((char *)&result, sizeof (result), NULL, 0);
		return;
	}
	desc.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
	desc.d_data.d_desc.d_descriptor = pfd[1];
	(void) door_return((char *)&result, sizeof (result), &desc, 1);

	/* door_return failed before passing anything: the end is ours. */
	(void) close(pfd[1]);
	(void) door_return(NULL, 0, NULL, 0);
}

int
main(int argc, char **argv)
{
	int d, fd;

	if (argc != 3) {
		(void) fprintf(stderr, "usage: %s PATH GATE\n", argv[0]);
		return (2);
	}
	/*
	 * DOOR_NO_CANCEL: when a client gives up, don't cancel the server
	 * thread; the procedure is meant to run to completion regardless.
	 * (The default pool's threads have cancellation disabled anyway,
	 * but a thread of the application's own, such as main parked in
	 * door_return, might not.)
	 */
	if ((d = door_create(slow_proc, argv[2], DOOR_NO_CANCEL)) == -1) {
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
	(void) printf("intr_server: pid %d serving %s\n", (int)getpid(),
	    argv[1]);
	(void) fflush(stdout);
	for (;;)
		(void) pause();
	/* NOTREACHED */
}
