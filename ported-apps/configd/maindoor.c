/*
 * The main door: attached at the door path, it has one job, handing each
 * client a door of its own (client.c). It is created DOOR_UNREF: besides
 * our own descriptor, its only reference is the attachment, so when
 * another svc.configd detaches it to attach its own, the count falls to
 * one and we are told. We have been replaced, and exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "configd.h"

static int	main_door_fd = -1;

static void
main_switcher(void *cookie, char *argp, size_t arg_size, door_desc_t *desc,
    uint_t n_desc)
{
	cfg_door_request_t request;
	cfg_door_response_t reply;
	door_desc_t reply_desc;
	ucred_t *uc;
	int send_desc = 0;
	int fd;

	(void) cookie;		/* always CFG_DOOR_COOKIE */
	(void) desc;		/* DOOR_REFUSE_DESC: never any */
	(void) n_desc;

	if (argp == DOOR_UNREF_DATA) {
		configd_info("main door unreferenced: another svc.configd has "
		    "taken over; exiting");
		exit(CONFIGD_EXIT_LOST_MAIN_DOOR);
	}
	thread_newcall();

	/*
	 * door_setparam made the doors library refuse calls shorter than
	 * rdr_request or longer than the request; check anyway.
	 */
	(void) memset(&request, 0, sizeof (request));
	if (arg_size > 0)
		(void) memcpy(&request, argp, arg_size < sizeof (request) ?
		    arg_size : sizeof (request));
	if (arg_size < cfg_offsetofend(cfg_door_request_t, rdr_version)) {
		reply.rdr_status = CFG_DOOR_FAIL_BAD_REQUEST;
		goto out;
	}
	if (request.rdr_version != CFG_DOOR_VERSION) {
		reply.rdr_status = CFG_DOOR_FAIL_VERSION_MISMATCH;
		goto out;
	}
	if (arg_size < cfg_offsetofend(cfg_door_request_t, rdr_request)) {
		reply.rdr_status = CFG_DOOR_FAIL_BAD_REQUEST;
		goto out;
	}
	if (request.rdr_flags != 0) {
		reply.rdr_status = CFG_DOOR_FAIL_BAD_FLAG;
		goto out;
	}
	if ((uc = get_ucred()) == NULL) {
		reply.rdr_status = CFG_DOOR_FAIL_PERMISSION_DENIED;
		goto out;
	}

	switch (request.rdr_request) {
	case CFG_DOOR_REQUEST_CONNECT:
		fd = -1;
		reply.rdr_status = create_client(uc, &fd);
		if (reply.rdr_status != CFG_DOOR_SUCCESS)
			break;
		/* The client gets the dup; DOOR_RELEASE closes ours. */
		reply_desc.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
		reply_desc.d_data.d_desc.d_descriptor = fd;
		send_desc = 1;
		break;
	default:
		reply.rdr_status = CFG_DOOR_FAIL_BAD_REQUEST;
		break;
	}
out:
	thread_endcall();
	(void) door_return((char *)&reply, sizeof (reply),
	    send_desc ? &reply_desc : NULL, send_desc ? 1 : 0);
	(void) door_return(NULL, 0, NULL, 0);
}

/*
 * Creates the main door and attaches it at `doorpath`, taking the path
 * over from any earlier svc.configd, live or dead. Returns 0 on failure.
 */
int
setup_main_door(const char *doorpath)
{
	mode_t oldmask;
	int fd;

	if ((main_door_fd = door_create(main_switcher, CFG_DOOR_COOKIE,
	    DOOR_UNREF | DOOR_REFUSE_DESC | DOOR_NO_CANCEL)) < 0) {
		perror("door_create");
		return (0);
	}

	if (door_setparam(main_door_fd, DOOR_PARAM_DATA_MIN,
	    cfg_offsetofend(cfg_door_request_t, rdr_request)) == -1 ||
	    door_setparam(main_door_fd, DOOR_PARAM_DATA_MAX,
	    sizeof (cfg_door_request_t)) == -1) {
		perror("door_setparam");
		return (0);
	}

	/* fattach needs a file to cover; any real problem shows there. */
	oldmask = umask(000);
	fd = open(doorpath, O_RDWR | O_CREAT | O_EXCL, 0644);
	(void) umask(oldmask);
	if (fd >= 0)
		(void) close(fd);

	/*
	 * EBUSY: a door is attached already (a running svc.configd, or a dead
	 * one's). Detaching it tells a live one, through its unreferenced
	 * notification, that it has been replaced.
	 */
	if (fattach(main_door_fd, doorpath) < 0) {
		if (errno != EBUSY || fdetach(doorpath) < 0 ||
		    fattach(main_door_fd, doorpath) < 0) {
			perror("fattach");
			(void) door_revoke(main_door_fd);
			main_door_fd = -1;
			return (0);
		}
	}
	return (1);
}
