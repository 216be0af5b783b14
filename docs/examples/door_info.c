/*
 * door_info as clients use it: to check that a door still has a server.
 * A forked server attaches a door to a path and waits; the client opens
 * the path, sees who serves it, lets the server exit, and then sees the
 * door revoked, with no server process.
 */
#include <door.h>
#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define	COOKIE	((void *)0x5eed)

static void
nothing(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	(void) cookie;
	(void) argp;
	(void) arg_size;
	(void) dp;
	(void) n_desc;
	(void) door_return(NULL, 0, NULL, 0);
}

static void
show(const char *when, const door_info_t *di, pid_t server)
{
	(void) printf("%s: server %s, cookie %s, %s\n", when,
	    di->di_target == server ? "is the child" :
	    di->di_target == -1 ? "gone" : "unexpected",
	    di->di_data == (door_ptr_t)(uintptr_t)COOKIE ? "ok" : "wrong",
	    di->di_attributes & DOOR_REVOKED ? "revoked" : "not revoked");
}

int
main(void)
{
	char dir[] = "/tmp/door_info.XXXXXX", path[64];
	int ready[2], quit[2], fd, status;
	door_info_t di;
	pid_t pid;
	char c;

	if (mkdtemp(dir) == NULL || pipe(ready) == -1 || pipe(quit) == -1)
		err(1, "setup");
	(void) snprintf(path, sizeof (path), "%s/service", dir);
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		int d = door_create(nothing, COOKIE, 0);

		if (d == -1 || close(creat(path, 0644)) == -1 ||
		    fattach(d, path) == -1)
			err(1, "server");
		if (write(ready[1], "r", 1) != 1)
			err(1, "write");
		/* Serve until the client says to quit. */
		_exit(read(quit[0], &c, 1) == 1 ? 0 : 1);
	}
	if (read(ready[0], &c, 1) != 1)
		errx(1, "the server failed");
	if ((fd = open(path, O_RDONLY)) == -1 || door_info(fd, &di) == -1)
		err(1, "%s", path);
	show("running", &di, pid);

	if (write(quit[1], "q", 1) != 1)
		err(1, "write");
	if (waitpid(pid, &status, 0) != pid || status != 0)
		errx(1, "the server failed");
	if (door_info(fd, &di) == -1)
		err(1, "door_info");
	show("exited", &di, pid);

	/* The attachment outlives its server until fdetach. */
	if (fdetach(path) == -1 || unlink(path) == -1 || rmdir(dir) == -1)
		err(1, "cleanup");
	return (0);
}
