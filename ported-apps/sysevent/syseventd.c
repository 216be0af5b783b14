/*
 * syseventd: a user-level system event channel, after illumos syseventd and
 * the event channel (GPEC) half of libsysevent.
 *
 * The daemon attaches one door at PATH.  Subscribers call it with their own
 * event door as a DOOR_DESCRIPTOR; publishers call it with an event.  The
 * daemon keeps, per subscriber, a queue and one delivery thread that
 * door_calls the subscriber's door with each queued event in turn, so every
 * subscriber sees its events in publication order and a slow or hung
 * subscriber holds up nobody else.  This is what the illumos sysevent
 * channel driver does for libevchannel subscribers (one delivery thread per
 * subscription, door upcalls into the subscriber) and what syseventd does
 * for its clients.
 *
 * A subscriber is dropped when:
 *  - a delivery door_call fails with EBADF (its door is revoked or its
 *    process has gone) or EINTR (its server thread died during the call);
 *  - a status request finds, with door_info, that its door is revoked or
 *    that its server has gone (di_target == -1), as libsysevent's
 *    sysevent_cleanup_subscribers pings its subscribers;
 *  - it asked for a subscription handle (SE_SUB_HANDLE) and the handle, a
 *    DOOR_UNREF door of ours, becomes unreferenced: its last reference
 *    outside the daemon closed, which is how svc.configd learns that a
 *    client went away.
 *
 * Usage: syseventd PATH
 * It logs to stdout and runs until SIGTERM, SIGINT or SIGHUP, then detaches.
 */
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stropts.h>
#include <ucred.h>
#include <unistd.h>
#include <sys/mman.h>

#include "sysevent_door.h"

#define	SE_STATUSMAX	8192	/* status text; longer lists are cut */

/* An event, shared by every queue it was put on. */
typedef struct evbuf {
	uint_t eb_refs;			/* queue entries; g_lock */
	size_t eb_size;			/* bytes from eb_ev on */
	se_event_t eb_ev;		/* attributes follow */
} evbuf_t;

typedef struct evq {
	struct evq *q_next;
	evbuf_t *q_buf;
} evq_t;

/*
 * A subscriber lives on g_subs until it is dropped; its delivery thread
 * then frees it, so whoever drops it only unlinks it and wakes the thread.
 */
typedef struct subscriber {
	struct subscriber *s_next;
	uint32_t s_id;
	pid_t s_pid;
	char s_class[SE_MAXCLASS];
	int s_door;			/* the subscriber's event door */
	int s_handle;			/* our DOOR_UNREF handle, or -1 */
	int s_dropped;
	uint64_t s_delivered;
	uint_t s_queued;
	evq_t *s_head;
	evq_t *s_tail;
	pthread_cond_t s_cv;		/* queue not empty, or dropped */
} subscriber_t;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static subscriber_t *g_subs;		/* by id; g_lock */
static uint32_t g_nextid = 1;		/* g_lock */
static uint64_t g_seq;			/* g_lock */

static const char *
errname(int err)
{
	switch (err) {
	case EBADF:
		return ("EBADF");
	case EINTR:
		return ("EINTR");
	case EAGAIN:
		return ("EAGAIN");
	case EINVAL:
		return ("EINVAL");
	case EPERM:
		return ("EPERM");
	case E2BIG:
		return ("E2BIG");
	case ENOTSUP:
		return ("ENOTSUP");
	case EOVERFLOW:
		return ("EOVERFLOW");
	default:
		return (strerror(err));
	}
}

static void
evbuf_rele(evbuf_t *eb)
{
	if (--eb->eb_refs == 0)
		free(eb);
}

static subscriber_t *
find_subscriber(uint32_t id)
{
	subscriber_t *sp;

	for (sp = g_subs; sp != NULL; sp = sp->s_next) {
		if (sp->s_id == id)
			return (sp);
	}
	return (NULL);
}

/*
 * Take a subscriber off the channel (g_lock held).  Revoking the handle
 * means no unreferenced notification can arrive for it later.
 */
static void
drop_subscriber(subscriber_t *sp, const char *why)
{
	subscriber_t **spp;

	for (spp = &g_subs; *spp != NULL; spp = &(*spp)->s_next) {
		if (*spp == sp) {
			*spp = sp->s_next;
			break;
		}
	}
	sp->s_dropped = 1;
	if (sp->s_handle != -1) {
		(void) door_revoke(sp->s_handle);
		sp->s_handle = -1;
	}
	(void) pthread_cond_signal(&sp->s_cv);
	(void) printf("syseventd: dropped subscriber %u (class %s, pid %d): "
	    "%s\n", sp->s_id, sp->s_class, (int)sp->s_pid, why);
	(void) fflush(stdout);
}

/*
 * One door_call into the subscriber.  Returns 0 if it took the event, 1 if
 * it refused it, -1 (with the reason in why) if it can no longer be reached.
 */
static int
deliver(subscriber_t *sp, evbuf_t *eb, char *why, size_t whylen)
{
	door_arg_t da;
	int32_t rval = 0;
	int ret = 0;

	for (;;) {
		da.data_ptr = (char *)&eb->eb_ev;
		da.data_size = eb->eb_size;
		da.desc_ptr = NULL;
		da.desc_num = 0;
		da.rbuf = (char *)&rval;
		da.rsize = sizeof (rval);
		if (door_call(sp->s_door, &da) == 0)
			break;
		/* A signal before any server thread took the call: resend. */
		if (errno == EAGAIN)
			continue;
		(void) snprintf(why, whylen, "door_call failed with %s",
		    errname(errno));
		return (-1);
	}
	if (da.data_size != sizeof (rval)) {
		(void) snprintf(why, whylen, "bad reply of %zu bytes",
		    da.data_size);
		ret = -1;
	} else {
		(void) memcpy(&rval, da.data_ptr, sizeof (rval));
		if (rval != 0) {
			(void) printf("syseventd: subscriber %u refused event "
			    "%llu: %s\n", sp->s_id,
			    (unsigned long long)eb->eb_ev.se_seq,
			    errname(rval));
			(void) fflush(stdout);
			ret = 1;
		}
	}
	/* Results too big for rbuf came in a mapping of their own. */
	if (da.rbuf != (char *)&rval)
		(void) munmap(da.rbuf, da.rsize);
	return (ret);
}

/* The delivery thread of one subscriber: its events, one at a time. */
static void *
deliver_thread(void *arg)
{
	subscriber_t *sp = arg;
	evq_t *qp;
	char why[128];
	int ret;

	(void) pthread_mutex_lock(&g_lock);
	for (;;) {
		while (sp->s_head == NULL && !sp->s_dropped)
			(void) pthread_cond_wait(&sp->s_cv, &g_lock);
		if (sp->s_dropped)
			break;
		qp = sp->s_head;
		(void) pthread_mutex_unlock(&g_lock);

		ret = deliver(sp, qp->q_buf, why, sizeof (why));

		(void) pthread_mutex_lock(&g_lock);
		if ((sp->s_head = qp->q_next) == NULL)
			sp->s_tail = NULL;
		sp->s_queued--;
		evbuf_rele(qp->q_buf);
		free(qp);
		if (ret == 0)
			sp->s_delivered++;
		else if (ret < 0 && !sp->s_dropped)
			drop_subscriber(sp, why);
	}
	while ((qp = sp->s_head) != NULL) {
		sp->s_head = qp->q_next;
		evbuf_rele(qp->q_buf);
		free(qp);
	}
	(void) pthread_mutex_unlock(&g_lock);

	(void) close(sp->s_door);
	(void) pthread_cond_destroy(&sp->s_cv);
	free(sp);
	return (NULL);
}

/*
 * The procedure of a subscription handle.  Its only event of interest is
 * the unreferenced notification: the subscriber's copy is gone.
 */
/* ARGSUSED */
static void
handle_proc(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	subscriber_t *sp;

	(void) arg_size;
	(void) dp;
	(void) n_desc;
	if (argp == DOOR_UNREF_DATA) {
		(void) pthread_mutex_lock(&g_lock);
		if ((sp = find_subscriber((uint32_t)(uintptr_t)cookie)) != NULL)
			drop_subscriber(sp, "subscription handle unreferenced");
		(void) pthread_mutex_unlock(&g_lock);
	}
	(void) door_return(NULL, 0, NULL, 0);
}

static void
close_descs(door_desc_t *dp, uint_t n_desc)
{
	uint_t i;

	for (i = 0; i < n_desc; i++) {
		if (dp[i].d_attributes & DOOR_DESCRIPTOR)
			(void) close(dp[i].d_data.d_desc.d_descriptor);
	}
}

static pid_t
caller_pid(void)
{
	ucred_t *uc = NULL;
	pid_t pid;

	if (door_ucred(&uc) != 0)
		return (-1);
	pid = ucred_getpid(uc);
	ucred_free(uc);
	return (pid);
}

static void
reply(se_reply_t *rp, door_desc_t *dp, uint_t n_desc)
{
	(void) door_return((char *)rp, sizeof (*rp), dp, n_desc);
	/* The caller has gone; nothing more to say. */
	(void) door_return(NULL, 0, NULL, 0);
}

static void
do_subscribe(const se_req_t *req, door_desc_t *dp, uint_t n_desc)
{
	se_reply_t rep;
	door_desc_t hdesc;
	door_info_t di;
	subscriber_t *sp = NULL, **spp;
	pthread_attr_t attr;
	pthread_t tid;
	pid_t pid;
	int fd;

	(void) memset(&rep, 0, sizeof (rep));
	if (n_desc != 1 || !(dp[0].d_attributes & DOOR_DESCRIPTOR) ||
	    !se_name_ok(req->sr_class)) {
		close_descs(dp, n_desc);
		rep.sp_error = EINVAL;
		reply(&rep, NULL, 0);
		return;
	}
	fd = dp[0].d_data.d_desc.d_descriptor;

	/*
	 * The door must be a live door served by the caller itself: nobody
	 * gets to point the daemon at somebody else's door.
	 */
	pid = caller_pid();
	if (door_info(fd, &di) != 0 || (di.di_attributes & DOOR_REVOKED)) {
		rep.sp_error = EBADF;
	} else if (pid == -1 || di.di_target != pid) {
		rep.sp_error = EPERM;
	} else if ((sp = calloc(1, sizeof (*sp))) == NULL) {
		rep.sp_error = ENOMEM;
	}
	if (rep.sp_error != 0) {
		(void) close(fd);
		reply(&rep, NULL, 0);
		return;
	}
	sp->s_pid = pid;
	sp->s_door = fd;
	sp->s_handle = -1;
	(void) strcpy(sp->s_class, req->sr_class);
	(void) pthread_cond_init(&sp->s_cv, NULL);

	(void) pthread_mutex_lock(&g_lock);
	sp->s_id = g_nextid++;
	if (req->sr_flags & SE_SUB_HANDLE) {
		/* The cookie is the id: a stale notification finds nobody. */
		sp->s_handle = door_create(handle_proc,
		    (void *)(uintptr_t)sp->s_id,
		    DOOR_UNREF | DOOR_REFUSE_DESC | DOOR_NO_CANCEL);
		if (sp->s_handle == -1)
			rep.sp_error = errno;
	}
	if (rep.sp_error == 0) {
		(void) pthread_attr_init(&attr);
		(void) pthread_attr_setdetachstate(&attr,
		    PTHREAD_CREATE_DETACHED);
		rep.sp_error = pthread_create(&tid, &attr, deliver_thread, sp);
		(void) pthread_attr_destroy(&attr);
		if (rep.sp_error != 0 && sp->s_handle != -1)
			(void) door_revoke(sp->s_handle);
	}
	if (rep.sp_error != 0) {
		(void) pthread_mutex_unlock(&g_lock);
		(void) close(fd);
		(void) pthread_cond_destroy(&sp->s_cv);
		free(sp);
		reply(&rep, NULL, 0);
		return;
	}
	for (spp = &g_subs; *spp != NULL; spp = &(*spp)->s_next)
		continue;
	*spp = sp;
	rep.sp_id = sp->s_id;
	(void) printf("syseventd: subscriber %u (class %s, pid %d) "
	    "subscribed%s\n", sp->s_id, sp->s_class, (int)pid,
	    sp->s_handle != -1 ? " with a handle" : "");
	(void) fflush(stdout);

	/*
	 * The handle goes back as a counted copy; ours stays open, so the
	 * count falls to one, and the notification comes, when the
	 * subscriber's copy closes (svc.configd's per-client doors work the
	 * same way).
	 */
	if (sp->s_handle != -1) {
		hdesc.d_attributes = DOOR_DESCRIPTOR;
		hdesc.d_data.d_desc.d_descriptor = sp->s_handle;
		(void) pthread_mutex_unlock(&g_lock);
		reply(&rep, &hdesc, 1);
	} else {
		(void) pthread_mutex_unlock(&g_lock);
		reply(&rep, NULL, 0);
	}
}

static void
do_publish(const se_req_t *req, const char *attrs, size_t attrlen)
{
	se_reply_t rep;
	subscriber_t *sp;
	evbuf_t *eb;
	evq_t *qp;

	(void) memset(&rep, 0, sizeof (rep));
	if (req->sr_attrlen != attrlen || attrlen > SE_MAXATTR ||
	    !se_name_ok(req->sr_class) || !se_name_ok(req->sr_subclass) ||
	    !se_attrs_ok(attrs, attrlen)) {
		rep.sp_error = EINVAL;
		reply(&rep, NULL, 0);
		return;
	}
	if ((eb = calloc(1, sizeof (*eb) + attrlen)) == NULL) {
		rep.sp_error = ENOMEM;
		reply(&rep, NULL, 0);
		return;
	}
	eb->eb_size = sizeof (se_event_t) + attrlen;
	eb->eb_ev.se_pubpid = caller_pid();
	eb->eb_ev.se_attrlen = attrlen;
	(void) strcpy(eb->eb_ev.se_class, req->sr_class);
	(void) strcpy(eb->eb_ev.se_subclass, req->sr_subclass);
	(void) memcpy(&eb->eb_ev + 1, attrs, attrlen);

	/*
	 * Numbering and queueing under one lock: every queue then holds its
	 * events in sequence order, whatever the publishers race.
	 */
	(void) pthread_mutex_lock(&g_lock);
	eb->eb_ev.se_seq = ++g_seq;
	eb->eb_refs = 1;		/* ours, until the loop is done */
	for (sp = g_subs; sp != NULL; sp = sp->s_next) {
		if (strcmp(sp->s_class, eb->eb_ev.se_class) != 0)
			continue;
		if ((qp = malloc(sizeof (*qp))) == NULL) {
			(void) printf("syseventd: no memory to queue event "
			    "%llu for subscriber %u\n",
			    (unsigned long long)g_seq, sp->s_id);
			continue;
		}
		qp->q_next = NULL;
		qp->q_buf = eb;
		eb->eb_refs++;
		if (sp->s_tail == NULL)
			sp->s_head = qp;
		else
			sp->s_tail->q_next = qp;
		sp->s_tail = qp;
		sp->s_queued++;
		rep.sp_count++;
		(void) pthread_cond_signal(&sp->s_cv);
	}
	rep.sp_seq = eb->eb_ev.se_seq;
	(void) printf("syseventd: event %llu %s/%s from pid %d queued for "
	    "%u\n", (unsigned long long)rep.sp_seq,
	    eb->eb_ev.se_class, eb->eb_ev.se_subclass,
	    (int)eb->eb_ev.se_pubpid, rep.sp_count);
	(void) fflush(stdout);
	evbuf_rele(eb);
	(void) pthread_mutex_unlock(&g_lock);
	reply(&rep, NULL, 0);
}

/*
 * Check every subscriber's door, drop the dead, and list the living.  The
 * text is built on this thread's stack: door_return copies it out and never
 * comes back, so a heap buffer would leak.
 */
static void
do_status(void)
{
	union {
		se_reply_t rep;
		char buf[sizeof (se_reply_t) + SE_STATUSMAX];
	} u;
	subscriber_t *sp, *next;
	door_info_t di;
	char *text = u.buf + sizeof (se_reply_t);
	size_t len = 0;
	uint_t n = 0;
	int r;

	(void) memset(&u.rep, 0, sizeof (u.rep));
	(void) pthread_mutex_lock(&g_lock);
	for (sp = g_subs; sp != NULL; sp = next) {
		next = sp->s_next;
		if (door_info(sp->s_door, &di) != 0)
			drop_subscriber(sp, "door_info failed");
		else if (di.di_target == -1)
			drop_subscriber(sp, "its process has gone (door_info)");
		else if (di.di_attributes & DOOR_REVOKED)
			drop_subscriber(sp, "its door is revoked (door_info)");
		else
			n++;
	}
	len = snprintf(text, SE_STATUSMAX, "subscribers: %u\n", n);
	for (sp = g_subs; sp != NULL && len < SE_STATUSMAX; sp = sp->s_next) {
		r = snprintf(text + len, SE_STATUSMAX - len,
		    "subscriber %u class %s pid %d delivered %llu queued %u\n",
		    sp->s_id, sp->s_class, (int)sp->s_pid,
		    (unsigned long long)sp->s_delivered, sp->s_queued);
		len = (r < 0 || (size_t)r >= SE_STATUSMAX - len) ?
		    SE_STATUSMAX : len + r;
	}
	(void) pthread_mutex_unlock(&g_lock);
	if (len > SE_STATUSMAX - 1)
		len = SE_STATUSMAX - 1;		/* cut at the last full byte */
	u.rep.sp_count = n;
	u.rep.sp_textlen = len;
	(void) door_return(u.buf, sizeof (se_reply_t) + len, NULL, 0);
	(void) door_return(NULL, 0, NULL, 0);
}

/* The procedure of the daemon's attached door. */
/* ARGSUSED */
static void
sysevent_door(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	se_req_t req;
	se_reply_t rep;

	(void) cookie;
	if (argp == NULL || argp == DOOR_UNREF_DATA ||
	    arg_size < sizeof (req)) {
		close_descs(dp, n_desc);
		(void) memset(&rep, 0, sizeof (rep));
		rep.sp_error = EINVAL;
		reply(&rep, NULL, 0);
		return;
	}
	(void) memcpy(&req, argp, sizeof (req));
	if (req.sr_op == SE_OP_SUBSCRIBE) {
		do_subscribe(&req, dp, n_desc);
		return;
	}
	close_descs(dp, n_desc);
	switch (req.sr_op) {
	case SE_OP_PUBLISH:
		do_publish(&req, argp + sizeof (req), arg_size - sizeof (req));
		break;
	case SE_OP_STATUS:
		do_status();
		break;
	default:
		(void) memset(&rep, 0, sizeof (rep));
		rep.sp_error = ENOTSUP;
		reply(&rep, NULL, 0);
		break;
	}
}

int
main(int argc, char **argv)
{
	sigset_t sigs;
	int d, fd, sig;

	if (argc != 2) {
		(void) fprintf(stderr, "usage: %s PATH\n", argv[0]);
		return (2);
	}

	/*
	 * Block the stop signals before any thread exists, so that every
	 * thread (door servers and delivery threads) inherits the mask and
	 * only sigwait below sees them.
	 */
	(void) sigemptyset(&sigs);
	(void) sigaddset(&sigs, SIGTERM);
	(void) sigaddset(&sigs, SIGINT);
	(void) sigaddset(&sigs, SIGHUP);
	(void) pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	/* Subscribe requests carry a door, so descriptors are welcome. */
	if ((d = door_create(sysevent_door, NULL, DOOR_NO_CANCEL)) == -1) {
		perror("syseventd: door_create");
		return (1);
	}
	if (door_setparam(d, DOOR_PARAM_DATA_MAX,
	    sizeof (se_req_t) + SE_MAXATTR) != 0) {
		perror("syseventd: door_setparam");
		return (1);
	}
	if ((fd = open(argv[1], O_CREAT | O_RDWR, 0644)) == -1) {
		perror(argv[1]);
		return (1);
	}
	(void) close(fd);
	/* A previous daemon that died left its attachment behind. */
	(void) fdetach(argv[1]);
	if (fattach(d, argv[1]) != 0) {
		perror("syseventd: fattach");
		return (1);
	}
	(void) printf("syseventd: ready on %s (pid %d)\n", argv[1],
	    (int)getpid());
	(void) fflush(stdout);

	while (sigwait(&sigs, &sig) != 0)
		continue;
	(void) fdetach(argv[1]);
	(void) printf("syseventd: exiting on signal %d\n", sig);
	(void) fflush(stdout);
	return (0);
}
