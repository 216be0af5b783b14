/*
 * Built by tests/install/run.sh with nothing but pkg-config's flags for
 * the installed copy: it includes every installed header, so a header that
 * did not install (or an <sys/stat.h> that is the system's, without
 * S_ISDOOR) fails the build. Then it checks, against the installed
 * library, that PATH is a door served by process SERVER_PID.
 *
 * Usage: installed_headers PATH SERVER_PID
 */
#include <door.h>
#include <stropts.h>
#include <synch.h>
#include <sys/door.h>
#include <sys/stat.h>
#include <thread.h>
#include <ucred.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static mutex_t lock = DEFAULTMUTEX;

int main(int argc, char **argv)
{
	struct stat st;
	door_info_t info;
	ucred_t *cred;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: %s PATH SERVER_PID\n", argv[0]);
		return 2;
	}
	if (mutex_lock(&lock) != 0 || mutex_unlock(&lock) != 0) {
		fprintf(stderr, "<synch.h> mutex_lock failed\n");
		return 1;
	}
	if (stat(argv[1], &st) != 0 || !S_ISDOOR(st.st_mode)) {
		fprintf(stderr, "stat(%s) does not report a door (mode 0%o)\n", argv[1], (unsigned)st.st_mode);
		return 1;
	}
	if ((fd = open(argv[1], O_RDONLY)) < 0 || door_info(fd, &info) != 0) {
		perror(argv[1]);
		return 1;
	}
	if (info.di_target != (pid_t)atol(argv[2])) {
		fprintf(stderr, "door served by pid %d, not %s\n", (int)info.di_target, argv[2]);
		return 1;
	}
	if ((cred = ucred_get(getpid())) == NULL || ucred_getpid(cred) != getpid()) {
		perror("ucred_get");
		return 1;
	}
	ucred_free(cred);
	close(fd);
	printf("installed headers and library: ok\n");
	return 0;
}
