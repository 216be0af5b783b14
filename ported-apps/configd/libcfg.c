/*
 * libcfg: svc.configd's client library (see libcfg.h).
 *
 * A handle is bound while it holds a door of its own, obtained from the
 * main door. door_call is retried while it fails with EINTR (as libscf
 * does). Answers go to a buffer on the caller's stack; one too large for
 * it (a long LIST) arrives in a mapping door_call made instead, which is
 * noticed by rbuf no longer being our buffer, copied and unmapped.
 *
 * When a call fails, door_info on our door tells whether the daemon is
 * still there (di_target is -1 once it is gone). If it is gone, the handle
 * binds again through the door path and retries the call once, unless a
 * transaction was open: that died with the old daemon. The daemon now at
 * the path is a different one if the main door's di_target (its pid) or
 * di_uniquifier differs from what the handle saw at its last bind (a pid
 * can be reused; a door's uniquifier is never).
 */
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <synch.h>
#include <unistd.h>

#include "cfg_protocol.h"
#include "libcfg.h"

#define	CALL_BUFSZ	1024

struct cfg_handle {
	mutex_t		rh_lock;
	char		rh_doorpath[PATH_MAX];
	int		rh_doorfd;	/* our own door, -1 when unbound */
	pid_t		rh_doorpid;	/* our pid when we bound */
	pid_t		rh_server;	/* the daemon: its main door's target */
	door_id_t	rh_mainid;	/* its main door's uniquifier */
	door_id_t	rh_doorid;	/* our door's uniquifier */
	int		rh_in_tx;
	uint32_t	rh_overflows;	/* answers that came in a mapping */
	cfg_restart_func_t *rh_restart;
	void		*rh_restart_arg;
};

/* One answer: header, text, and where it lives. */
typedef struct answer {
	cfg_response_t	a_hdr;
	const char	*a_text;	/* NUL-terminated */
	char		*a_heap;	/* an overflowed answer's copy */
	union {
		char	c[CALL_BUFSZ];
		uint64_t align;
	} a_buf;
} answer_t;

/*
 * door_call, again while a signal interrupts it. The results are at
 * arg->data_ptr: in rbuf if they fit, else in a new mapping.
 */
static int
do_call(int fd, const void *req, size_t req_sz, char *rbuf, size_t rsize,
    door_arg_t *arg)
{
	int r;

	do {
		arg->data_ptr = (char *)req;
		arg->data_size = req_sz;
		arg->desc_ptr = NULL;
		arg->desc_num = 0;
		arg->rbuf = rbuf;
		arg->rsize = rsize;
	} while ((r = door_call(fd, arg)) < 0 && errno == EINTR);
	return (r);
}

/* Closes descriptors nobody asked for. */
static void
close_descs(door_arg_t *arg, int keep)
{
	uint_t i;

	for (i = 0; i < arg->desc_num; i++) {
		door_desc_t *d = &arg->desc_ptr[i];

		if ((d->d_attributes & DOOR_DESCRIPTOR) &&
		    d->d_data.d_desc.d_descriptor != keep)
			(void) close(d->d_data.d_desc.d_descriptor);
	}
}

static void
handle_do_close(cfg_handle_t *h)
{
	(void) close(h->rh_doorfd);
	h->rh_doorfd = -1;
	h->rh_in_tx = 0;
}

/* Bound, and by this process: a forked child must bind for itself. */
static int
handle_is_bound(cfg_handle_t *h)
{
	if (h->rh_doorfd == -1)
		return (0);
	if (h->rh_doorpid == getpid())
		return (1);
	handle_do_close(h);
	return (0);
}

static int
handle_has_server(cfg_handle_t *h)
{
	door_info_t di;

	return (door_info(h->rh_doorfd, &di) == 0 && di.di_target != -1 &&
	    !(di.di_attributes & DOOR_REVOKED));
}

static int
connect_error(uint32_t status)
{
	switch (status) {
	case CFG_DOOR_FAIL_BAD_FLAG:
		return (CFG_ERROR_INVALID_ARGUMENT);
	case CFG_DOOR_FAIL_NO_RESOURCES:
		return (CFG_ERROR_NO_RESOURCES);
	case CFG_DOOR_FAIL_PERMISSION_DENIED:
		return (CFG_ERROR_PERMISSION_DENIED);
	default:	/* success without a door, or a request it refused */
		return (CFG_ERROR_VERSION_MISMATCH);
	}
}

/* Asks the main door for a door of our own. Caller holds rh_lock. */
static int
handle_bind_locked(cfg_handle_t *h)
{
	cfg_door_request_t request;
	cfg_door_response_t response;
	union {
		char c[256];
		uint64_t align;
	} rbuf;
	door_info_t mi, ci;
	door_arg_t arg;
	pid_t old;
	int fd, cfd = -1, r, restarted;

	if ((fd = open(h->rh_doorpath, O_RDONLY)) < 0)
		return (CFG_ERROR_NO_SERVER);
	if (door_info(fd, &mi) < 0 || mi.di_target == -1 ||
	    (mi.di_attributes & DOOR_REVOKED)) {
		(void) close(fd);
		return (CFG_ERROR_NO_SERVER);
	}

	(void) memset(&request, 0, sizeof (request));
	request.rdr_version = CFG_DOOR_VERSION;
	request.rdr_request = CFG_DOOR_REQUEST_CONNECT;
	r = do_call(fd, &request, sizeof (request), rbuf.c, sizeof (rbuf),
	    &arg);
	(void) close(fd);
	if (r < 0)
		return (CFG_ERROR_NO_SERVER);

	if (arg.desc_num == 1 &&
	    (arg.desc_ptr->d_attributes & DOOR_DESCRIPTOR))
		cfd = arg.desc_ptr->d_data.d_desc.d_descriptor;
	close_descs(&arg, cfd);
	(void) memset(&response, 0, sizeof (response));
	(void) memcpy(&response, arg.data_ptr, arg.data_size <
	    sizeof (response) ? arg.data_size : sizeof (response));
	if (arg.rbuf != rbuf.c)
		(void) munmap(arg.rbuf, arg.rsize);
	if (arg.data_size < sizeof (response)) {
		if (cfd >= 0)
			(void) close(cfd);
		return (CFG_ERROR_INTERNAL);
	}
	if (cfd < 0)
		return (connect_error(response.rdr_status));

	(void) fcntl(cfd, F_SETFD, FD_CLOEXEC);
	/* It must be a door, and served by the daemon we asked. */
	if (door_info(cfd, &ci) < 0 || ci.di_target != mi.di_target) {
		(void) close(cfd);
		return (CFG_ERROR_NO_SERVER);
	}

	/* Bound before, to another daemon (or another door of the same pid)? */
	old = h->rh_server;
	restarted = old != 0 && (mi.di_target != old ||
	    mi.di_uniquifier != h->rh_mainid);

	h->rh_doorfd = cfd;
	h->rh_doorpid = getpid();
	h->rh_doorid = ci.di_uniquifier;
	h->rh_in_tx = 0;
	h->rh_server = mi.di_target;
	h->rh_mainid = mi.di_uniquifier;
	if (restarted && h->rh_restart != NULL)
		h->rh_restart(h, old, mi.di_target, h->rh_restart_arg);
	return (CFG_ERROR_NONE);
}

static int
proto_error(uint32_t status)
{
	switch (status) {
	case CFG_SUCCESS:
		return (CFG_ERROR_NONE);
	case CFG_FAIL_BAD_REQUEST:
		return (CFG_ERROR_INVALID_ARGUMENT);
	case CFG_FAIL_NOT_FOUND:
		return (CFG_ERROR_NOT_FOUND);
	case CFG_FAIL_PERMISSION_DENIED:
		return (CFG_ERROR_PERMISSION_DENIED);
	case CFG_FAIL_NO_RESOURCES:
		return (CFG_ERROR_NO_RESOURCES);
	case CFG_FAIL_BAD_TX:
		return (CFG_ERROR_TRANSACTION);
	case CFG_FAIL_TIMEOUT:
		return (CFG_ERROR_TIMEOUT);
	case CFG_FAIL_BACKEND:
		return (CFG_ERROR_BACKEND);
	default:
		return (CFG_ERROR_INTERNAL);
	}
}

/*
 * Sends `rq` through our door and fills `a`; a->a_heap must be freed.
 * Returns a cfg_error_t: the transport's, else the daemon's answer's.
 */
static int
handle_call(cfg_handle_t *h, const cfg_request_t *rq, answer_t *a)
{
	door_arg_t arg;
	int tries, err, in_tx;
	size_t room;

	a->a_heap = NULL;
	a->a_text = "";
	(void) mutex_lock(&h->rh_lock);
	for (tries = 0; ; tries++) {
		if (!handle_is_bound(h) &&
		    (err = handle_bind_locked(h)) != CFG_ERROR_NONE) {
			(void) mutex_unlock(&h->rh_lock);
			return (err);
		}
		if (do_call(h->rh_doorfd, rq, sizeof (*rq), a->a_buf.c,
		    sizeof (a->a_buf), &arg) == 0)
			break;
		if (handle_has_server(h)) {
			/* The daemon is there and refused the call itself. */
			(void) mutex_unlock(&h->rh_lock);
			return (CFG_ERROR_INTERNAL);
		}
		/* Our daemon is gone; whatever was staged went with it. */
		in_tx = h->rh_in_tx;
		handle_do_close(h);
		if (in_tx || tries > 0) {
			(void) mutex_unlock(&h->rh_lock);
			return (CFG_ERROR_CONNECTION_BROKEN);
		}
	}
	(void) mutex_unlock(&h->rh_lock);

	close_descs(&arg, -1);
	err = CFG_ERROR_NONE;
	if (arg.data_size < sizeof (a->a_hdr)) {
		err = CFG_ERROR_INTERNAL;
	} else {
		(void) memcpy(&a->a_hdr, arg.data_ptr, sizeof (a->a_hdr));
		room = arg.data_size - sizeof (a->a_hdr);
		if (a->a_hdr.rs_length > room || (a->a_hdr.rs_length > 0 &&
		    arg.data_ptr[sizeof (a->a_hdr) +
		    a->a_hdr.rs_length - 1] != '\0'))
			err = CFG_ERROR_INTERNAL;
	}
	if (err == CFG_ERROR_NONE && a->a_hdr.rs_length > 0) {
		if (arg.rbuf == a->a_buf.c) {
			a->a_text = arg.data_ptr + sizeof (a->a_hdr);
		} else if ((a->a_heap = malloc(a->a_hdr.rs_length)) != NULL) {
			(void) memcpy(a->a_heap, arg.data_ptr +
			    sizeof (a->a_hdr), a->a_hdr.rs_length);
			a->a_text = a->a_heap;
		} else {
			err = CFG_ERROR_NO_MEMORY;
		}
	}
	/* Too big for our buffer: door_call mapped it; unmap it. */
	if (arg.rbuf != a->a_buf.c) {
		(void) munmap(arg.rbuf, arg.rsize);
		(void) mutex_lock(&h->rh_lock);
		h->rh_overflows++;
		(void) mutex_unlock(&h->rh_lock);
	}
	if (err == CFG_ERROR_NONE)
		err = proto_error(a->a_hdr.rs_status);
	return (err);
}

/* Fills a request; the strings must fit. */
static int
request(cfg_request_t *rq, uint32_t id, const char *name, const char *value)
{
	(void) memset(rq, 0, sizeof (*rq));
	rq->rq_request = id;
	if (name != NULL && strlen(name) >= sizeof (rq->rq_name))
		return (CFG_ERROR_INVALID_ARGUMENT);
	if (value != NULL && strlen(value) >= sizeof (rq->rq_value))
		return (CFG_ERROR_INVALID_ARGUMENT);
	if (name != NULL)
		(void) strcpy(rq->rq_name, name);
	if (value != NULL)
		(void) strcpy(rq->rq_value, value);
	return (CFG_ERROR_NONE);
}

cfg_handle_t *
cfg_handle_create(const char *door_path)
{
	cfg_handle_t *h;

	if (door_path == NULL)
		door_path = CFG_DOOR_NAME;
	if (strlen(door_path) >= PATH_MAX ||
	    (h = calloc(1, sizeof (*h))) == NULL)
		return (NULL);
	(void) mutex_init(&h->rh_lock, USYNC_THREAD, NULL);
	(void) strcpy(h->rh_doorpath, door_path);
	h->rh_doorfd = -1;
	return (h);
}

int
cfg_handle_bind(cfg_handle_t *h)
{
	int err = CFG_ERROR_NONE;

	(void) mutex_lock(&h->rh_lock);
	if (!handle_is_bound(h))
		err = handle_bind_locked(h);
	(void) mutex_unlock(&h->rh_lock);
	return (err);
}

/* Says goodbye, so the daemon frees our state now, and closes our door. */
void
cfg_handle_unbind(cfg_handle_t *h)
{
	cfg_request_t rq;
	union {
		char c[256];
		uint64_t align;
	} rbuf;
	door_arg_t arg;

	(void) mutex_lock(&h->rh_lock);
	if (handle_is_bound(h)) {
		(void) request(&rq, CFG_REQUEST_CLOSE, NULL, NULL);
		if (do_call(h->rh_doorfd, &rq, sizeof (rq), rbuf.c,
		    sizeof (rbuf), &arg) == 0) {
			close_descs(&arg, -1);
			if (arg.rbuf != rbuf.c)
				(void) munmap(arg.rbuf, arg.rsize);
		}
		handle_do_close(h);
	}
	(void) mutex_unlock(&h->rh_lock);
}

void
cfg_handle_destroy(cfg_handle_t *h)
{
	cfg_handle_unbind(h);
	(void) mutex_destroy(&h->rh_lock);
	free(h);
}

void
cfg_handle_on_restart(cfg_handle_t *h, cfg_restart_func_t *func, void *arg)
{
	(void) mutex_lock(&h->rh_lock);
	h->rh_restart = func;
	h->rh_restart_arg = arg;
	(void) mutex_unlock(&h->rh_lock);
}

pid_t
cfg_handle_server(cfg_handle_t *h)
{
	pid_t pid;

	(void) mutex_lock(&h->rh_lock);
	pid = h->rh_server;
	(void) mutex_unlock(&h->rh_lock);
	return (pid);
}

uint32_t
cfg_handle_overflows(cfg_handle_t *h)
{
	uint32_t n;

	(void) mutex_lock(&h->rh_lock);
	n = h->rh_overflows;
	(void) mutex_unlock(&h->rh_lock);
	return (n);
}

/* Copies a text answer out; too long for `size` is an internal error. */
static int
copy_text(const answer_t *a, char *out, size_t size)
{
	if (strlen(a->a_text) >= size)
		return (CFG_ERROR_INTERNAL);
	(void) strcpy(out, a->a_text);
	return (CFG_ERROR_NONE);
}

int
cfg_get(cfg_handle_t *h, const char *name, char *value, size_t size)
{
	cfg_request_t rq;
	answer_t a;
	int err;

	if ((err = request(&rq, CFG_REQUEST_GET, name, NULL)) != 0)
		return (err);
	if ((err = handle_call(h, &rq, &a)) == CFG_ERROR_NONE)
		err = copy_text(&a, value, size);
	free(a.a_heap);
	return (err);
}

/* *stagedp (if not NULL) gets the open transaction's size, else 0. */
int
cfg_set(cfg_handle_t *h, const char *name, const char *value,
    uint32_t *stagedp)
{
	cfg_request_t rq;
	answer_t a;
	int err;

	if ((err = request(&rq, CFG_REQUEST_SET, name, value)) != 0)
		return (err);
	err = handle_call(h, &rq, &a);
	if (err == CFG_ERROR_NONE && stagedp != NULL)
		*stagedp = a.a_hdr.rs_count;
	free(a.a_heap);
	return (err);
}

/* *textp gets "name=value" lines, to be freed. */
int
cfg_list(cfg_handle_t *h, const char *prefix, char **textp, uint32_t *countp)
{
	cfg_request_t rq;
	answer_t a;
	int err;

	if ((err = request(&rq, CFG_REQUEST_LIST, prefix, NULL)) != 0)
		return (err);
	if ((err = handle_call(h, &rq, &a)) == CFG_ERROR_NONE) {
		if ((*textp = strdup(a.a_text)) == NULL)
			err = CFG_ERROR_NO_MEMORY;
		*countp = a.a_hdr.rs_count;
	}
	free(a.a_heap);
	return (err);
}

int
cfg_stats(cfg_handle_t *h, char **textp)
{
	cfg_request_t rq;
	answer_t a;
	int err;

	(void) request(&rq, CFG_REQUEST_STATS, NULL, NULL);
	if ((err = handle_call(h, &rq, &a)) == CFG_ERROR_NONE &&
	    (*textp = strdup(a.a_text)) == NULL)
		err = CFG_ERROR_NO_MEMORY;
	free(a.a_heap);
	return (err);
}

/* Waits for a change under `prefix`: `out` gets "name=value". */
int
cfg_wait(cfg_handle_t *h, const char *prefix, uint32_t timeout, char *out,
    size_t size)
{
	cfg_request_t rq;
	answer_t a;
	int err;

	if ((err = request(&rq, CFG_REQUEST_WAIT, prefix, NULL)) != 0)
		return (err);
	rq.rq_timeout = timeout;
	if ((err = handle_call(h, &rq, &a)) == CFG_ERROR_NONE)
		err = copy_text(&a, out, size);
	free(a.a_heap);
	return (err);
}

static int
tx_request(cfg_handle_t *h, uint32_t id, uint32_t *countp)
{
	cfg_request_t rq;
	answer_t a;
	int err;

	(void) request(&rq, id, NULL, NULL);
	err = handle_call(h, &rq, &a);
	if (err == CFG_ERROR_NONE && countp != NULL)
		*countp = a.a_hdr.rs_count;
	free(a.a_heap);

	/* Whether the daemon holds a transaction of ours now. */
	(void) mutex_lock(&h->rh_lock);
	if (err == CFG_ERROR_NONE)
		h->rh_in_tx = (id == CFG_REQUEST_TX_BEGIN);
	else if (err == CFG_ERROR_TRANSACTION)
		h->rh_in_tx = (id != CFG_REQUEST_TX_BEGIN);
	(void) mutex_unlock(&h->rh_lock);
	return (err);
}

int
cfg_tx_begin(cfg_handle_t *h)
{
	return (tx_request(h, CFG_REQUEST_TX_BEGIN, NULL));
}

int
cfg_tx_commit(cfg_handle_t *h, uint32_t *countp)
{
	return (tx_request(h, CFG_REQUEST_TX_COMMIT, countp));
}

int
cfg_tx_abort(cfg_handle_t *h, uint32_t *countp)
{
	return (tx_request(h, CFG_REQUEST_TX_ABORT, countp));
}

const char *
cfg_strerror(int err)
{
	switch (err) {
	case CFG_ERROR_NONE:
		return ("no error");
	case CFG_ERROR_NO_MEMORY:
		return ("out of memory");
	case CFG_ERROR_NO_SERVER:
		return ("repository server unavailable");
	case CFG_ERROR_CONNECTION_BROKEN:
		return ("repository server went away; transaction lost");
	case CFG_ERROR_VERSION_MISMATCH:
		return ("protocol version mismatch");
	case CFG_ERROR_PERMISSION_DENIED:
		return ("permission denied");
	case CFG_ERROR_NOT_FOUND:
		return ("not found");
	case CFG_ERROR_INVALID_ARGUMENT:
		return ("invalid argument");
	case CFG_ERROR_NO_RESOURCES:
		return ("out of resources");
	case CFG_ERROR_TRANSACTION:
		return ("no transaction open, or one already");
	case CFG_ERROR_TIMEOUT:
		return ("timed out");
	case CFG_ERROR_BACKEND:
		return ("repository file could not be written");
	default:
		return ("internal error");
	}
}
