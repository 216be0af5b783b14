/*
 * sestat: asks syseventd for its subscribers.  The daemon first checks
 * every subscriber's door with door_info and drops the dead ones.
 *
 * The reply buffer is deliberately small: a longer list comes back, as on
 * illumos, in a fresh mapping that replaces rbuf and that we munmap.
 *
 * Usage: sestat PATH
 */
#include <door.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "sysevent_door.h"

int
main(int argc, char **argv)
{
	union {
		se_reply_t rep;
		char buf[128];
	} u;
	se_req_t req;
	se_reply_t rep;
	door_arg_t da;
	int fd;

	if (argc != 2) {
		(void) fprintf(stderr, "usage: %s PATH\n", argv[0]);
		return (2);
	}
	if ((fd = open(argv[1], O_RDONLY)) == -1) {
		perror(argv[1]);
		return (1);
	}
	(void) memset(&req, 0, sizeof (req));
	req.sr_op = SE_OP_STATUS;
	da.data_ptr = (char *)&req;
	da.data_size = sizeof (req);
	da.desc_ptr = NULL;
	da.desc_num = 0;
	da.rbuf = u.buf;
	da.rsize = sizeof (u.buf);
	if (door_call(fd, &da) != 0) {
		perror("sestat: door_call");
		return (1);
	}
	(void) close(fd);
	if (da.data_size < sizeof (rep)) {
		(void) fprintf(stderr, "sestat: short reply\n");
		return (1);
	}
	(void) memcpy(&rep, da.data_ptr, sizeof (rep));
	if (rep.sp_error != 0 ||
	    rep.sp_textlen != da.data_size - sizeof (rep)) {
		(void) fprintf(stderr, "sestat: bad reply\n");
		return (1);
	}
	(void) fwrite(da.data_ptr + sizeof (rep), 1, rep.sp_textlen, stdout);
	if (da.rbuf != u.buf)
		(void) munmap(da.rbuf, da.rsize);
	return (0);
}
