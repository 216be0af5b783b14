/*
 * publish: posts one event to syseventd, as sysevent_evc_publish posts one
 * to an event channel.
 *
 * Usage: publish PATH CLASS SUBCLASS [NAME=VALUE]...
 * Prints the sequence number the daemon gave the event and how many
 * subscribers it was queued for.
 */
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "sysevent_door.h"

int
main(int argc, char **argv)
{
	se_req_t *req;
	se_reply_t rep;
	door_arg_t da;
	size_t attrlen = 0, len;
	char *p;
	int fd, i;

	if (argc < 4 || strlen(argv[2]) >= SE_MAXCLASS || argv[2][0] == '\0' ||
	    strlen(argv[3]) >= SE_MAXCLASS || argv[3][0] == '\0') {
		(void) fprintf(stderr,
		    "usage: %s PATH CLASS SUBCLASS [NAME=VALUE]...\n", argv[0]);
		return (2);
	}
	for (i = 4; i < argc; i++) {
		if ((p = strchr(argv[i], '=')) == NULL || p == argv[i]) {
			(void) fprintf(stderr, "publish: %s: not NAME=VALUE\n",
			    argv[i]);
			return (2);
		}
		attrlen += strlen(argv[i]) + 1;
	}

	/*
	 * No limit on the attributes here: the daemon's door_setparam
	 * makes door_call refuse what it would not take (ENOBUFS).
	 */
	if ((req = calloc(1, sizeof (*req) + attrlen)) == NULL) {
		perror("publish");
		return (1);
	}
	req->sr_op = SE_OP_PUBLISH;
	req->sr_attrlen = attrlen;
	(void) strcpy(req->sr_class, argv[2]);
	(void) strcpy(req->sr_subclass, argv[3]);
	p = (char *)(req + 1);
	for (i = 4; i < argc; i++) {
		len = strlen(argv[i]) + 1;
		(void) memcpy(p, argv[i], len);
		p += len;
	}

	if ((fd = open(argv[1], O_RDONLY)) == -1) {
		perror(argv[1]);
		return (1);
	}
	da.data_ptr = (char *)req;
	da.data_size = sizeof (*req) + attrlen;
	da.desc_ptr = NULL;
	da.desc_num = 0;
	da.rbuf = (char *)&rep;
	da.rsize = sizeof (rep);
	if (door_call(fd, &da) != 0) {
		(void) fprintf(stderr, "publish: door_call: %s\n",
		    errno == ENOBUFS ? "ENOBUFS (event too large)" :
		    strerror(errno));
		return (1);
	}
	(void) close(fd);
	if (da.data_size != sizeof (rep)) {
		(void) fprintf(stderr, "publish: bad reply\n");
		return (1);
	}
	if (da.data_ptr != (char *)&rep) {
		(void) memcpy(&rep, da.data_ptr, sizeof (rep));
		(void) munmap(da.rbuf, da.rsize);
	}
	if (rep.sp_error != 0) {
		(void) fprintf(stderr, "publish: %s\n", strerror(rep.sp_error));
		return (1);
	}
	(void) printf("published seq %llu (%s/%s), queued for %u\n",
	    (unsigned long long)rep.sp_seq, argv[2], argv[3], rep.sp_count);
	free(req);
	return (0);
}
