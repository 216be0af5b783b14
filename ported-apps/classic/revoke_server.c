/*
 * revoke_server: a door that closes itself. The procedure counts its
 * calls and, on call number LIMIT, revokes its own door before replying.
 * door_revoke(3C) lets the call in progress finish, so that caller still
 * gets its answer; every later call, through any descriptor for the door
 * or through the attached path, fails with EBADF. The path stays attached
 * to the revoked door until the server exits and someone runs fdetach.
 *
 * At startup the server prints its door's procedure, cookie and
 * uniquifier, as door_info reports them to its own process, for
 * comparison with what doorinfo sees from outside.
 *
 * Usage: revoke_server PATH LIMIT
 */
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stropts.h>
#include <synch.h>
#include <unistd.h>

typedef struct counter {
	mutex_t	c_lock;
	long	c_calls;	/* calls taken so far */
	long	c_limit;	/* the call that revokes the door */
	int	c_door;		/* the door's descriptor, until revoked */
} counter_t;

static void
count_proc(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	counter_t *c = cookie;
	long n;
	int revoke;

	(void) argp;
	(void) arg_size;
	(void) dp;
	(void) n_desc;
	/* Calls may run in several threads at once. */
	(void) mutex_lock(&c->c_lock);
	n = ++c->c_calls;
	revoke = (n == c->c_limit);
	(void) mutex_unlock(&c->c_lock);

	if (revoke) {
		/* door_revoke closes the descriptor too: forget it. */
		if (door_revoke(c->c_door) == -1)
			perror("door_revoke");
		else
			(void) printf("call %ld: door revoked\n", n);
		c->c_door = -1;
	} else {
		(void) printf("call %ld\n", n);
	}
	(void) fflush(stdout);
	(void) door_return((char *)&n, sizeof (n), NULL, 0);
}

int
main(int argc, char **argv)
{
	static counter_t counter = { DEFAULTMUTEX, 0, 0, -1 };
	door_info_t info;
	int fd;

	if (argc != 3 || (counter.c_limit = atol(argv[2])) < 1) {
		(void) fprintf(stderr, "usage: %s PATH LIMIT\n", argv[0]);
		return (2);
	}
	counter.c_door = door_create(count_proc, &counter, DOOR_REFUSE_DESC);
	if (counter.c_door == -1) {
		perror("door_create");
		return (1);
	}
	if (door_info(counter.c_door, &info) == -1) {
		perror("door_info");
		return (1);
	}
	if ((fd = open(argv[1], O_CREAT | O_RDWR, 0644)) == -1) {
		perror(argv[1]);
		return (1);
	}
	(void) close(fd);
	(void) fdetach(argv[1]);
	if (fattach(counter.c_door, argv[1]) == -1) {
		perror("fattach");
		return (1);
	}
	(void) printf("revoke_server: pid %d serving %s, revoking on call "
	    "%ld\n", (int)getpid(), argv[1], counter.c_limit);
	(void) printf("procedure %p cookie %p uniquifier %llu\n",
	    (void *)(uintptr_t)info.di_proc, (void *)(uintptr_t)info.di_data,
	    (unsigned long long)info.di_uniquifier);
	(void) fflush(stdout);
	for (;;)
		(void) pause();
	/* NOTREACHED */
}
