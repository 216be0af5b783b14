/*
 * overflow_client: asks overflow_server for the first N squares with a
 * result buffer of RSIZE bytes, then reports where door_call put the
 * reply. When the reply does not fit, door_call leaves the caller's buffer
 * alone, maps a fresh zero-filled region of whole pages, puts the reply at
 * its start, and replaces rbuf and rsize with the new region, which the
 * caller must munmap. UNPv2's client3 shows this with one long and an
 * rsize of sizeof (long) - 1. RSIZE 0 passes no buffer at all (rbuf NULL),
 * so every reply arrives in a new mapping.
 *
 * Usage: overflow_client PATH N RSIZE
 */
#include <door.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define	FILL	0xa5	/* what the caller's own buffer starts with */

int
main(int argc, char **argv)
{
	door_arg_t arg;
	char *buf, *p;
	size_t rsize, i, pagesize;
	long n, first, last;
	int fd, ok;

	if (argc != 4) {
		(void) fprintf(stderr, "usage: %s PATH N RSIZE\n", argv[0]);
		return (2);
	}
	if ((n = atol(argv[2])) < 1) {
		(void) fprintf(stderr, "%s: N must be at least 1\n", argv[0]);
		return (2);
	}
	rsize = (size_t)atol(argv[3]);
	pagesize = (size_t)sysconf(_SC_PAGESIZE);
	buf = NULL;
	if (rsize > 0) {
		if ((buf = malloc(rsize)) == NULL) {
			perror("malloc");
			return (1);
		}
		(void) memset(buf, FILL, rsize);
	}
	if ((fd = open(argv[1], O_RDONLY)) == -1) {
		perror(argv[1]);
		return (1);
	}

	arg.data_ptr = (char *)&n;
	arg.data_size = sizeof (n);
	arg.desc_ptr = NULL;
	arg.desc_num = 0;
	arg.rbuf = buf;
	arg.rsize = rsize;
	if (door_call(fd, &arg) == -1) {
		perror("door_call");
		return (1);
	}
	(void) printf("reply: %zu bytes, result buffer %zu bytes\n",
	    arg.data_size, rsize);
	if (arg.data_size != (size_t)n * sizeof (long)) {
		(void) fprintf(stderr, "expected %zu bytes: refused?\n",
		    (size_t)n * sizeof (long));
		return (1);
	}

	if (arg.rbuf == buf) {
		(void) printf("rbuf: unchanged, the reply fit\n");
	} else {
		(void) printf("rbuf: replaced by a new mapping of %zu bytes "
		    "(%zu pages)\n", arg.rsize, arg.rsize / pagesize);
		/* Whatever follows the reply in the new pages is zero. */
		ok = 1;
		for (i = arg.data_size; i < arg.rsize; i++)
			if (arg.rbuf[i] != 0)
				ok = 0;
		(void) printf("rest of the mapping: %s\n",
		    ok ? "zero" : "NOT ZERO");
		/* ... and the caller's buffer was never written. */
		if (buf != NULL) {
			ok = 1;
			for (i = 0; i < rsize; i++)
				if ((unsigned char)buf[i] != FILL)
					ok = 0;
			(void) printf("own buffer: %s\n",
			    ok ? "untouched" : "WRITTEN");
		}
	}
	(void) printf("data_ptr: %s\n", arg.data_ptr == arg.rbuf ?
	    "start of rbuf" : "ELSEWHERE");

	/* data_ptr may be unaligned for a long in general; copy out. */
	p = arg.data_ptr;
	(void) memcpy(&first, p, sizeof (long));
	(void) memcpy(&last, p + (n - 1) * sizeof (long), sizeof (long));
	(void) printf("squares: first %ld, last %ld\n", first, last);

	if (arg.rbuf != buf) {
		if (munmap(arg.rbuf, arg.rsize) == -1) {
			perror("munmap");
			return (1);
		}
		(void) printf("munmap: done\n");
	}
	free(buf);
	(void) close(fd);
	return (0);
}
