/*
 * subscriber: subscribes to one event class of syseventd and prints every
 * event it receives, numbered in arrival order.
 *
 * Like a libsysevent/libevchannel consumer, it is a door server as well as
 * a client: it creates an event door, passes it to the daemon in its
 * subscribe call as a DOOR_DESCRIPTOR, and the daemon calls back into that
 * door with each event.  By default the door is made as
 * sysevent_evc_xsubscribe makes it: door_xcreate with
 * DOOR_REFUSE_DESC | DOOR_NO_CANCEL | DOOR_NO_DEPLETION_CB and exactly one
 * server thread, so events are handled one at a time, in order.  With -P it
 * is a door_create(DOOR_PRIVATE) door served by one thread of ours that
 * door_binds to it.
 *
 * Usage: subscriber [-P] [-h] [-r N] [-x N] PATH CLASS
 *   -P    DOOR_PRIVATE door and a door_bind thread instead of door_xcreate
 *   -h    ask for a subscription handle and keep it: the daemon learns of
 *         our exit when the handle becomes unreferenced
 *   -r N  after N events, unsubscribe by revoking the event door, then
 *         stay alive until killed
 *   -x N  after N events, unsubscribe (revoke the door) and exit
 */
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucred.h>
#include <unistd.h>
#include <sys/mman.h>

#include "sysevent_door.h"

static pthread_mutex_t sub_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sub_cv = PTHREAD_COND_INITIALIZER;
static int sub_door = -1;		/* our event door */
static int sub_bound;			/* -P: the server thread is bound */
static int sub_revoked;
static uint_t sub_nevents;
static uint_t sub_revoke_after;		/* -r */
static uint_t sub_exit_after;		/* -x */
static pid_t daemon_pid;
static char sub_class[SE_MAXCLASS];

/*
 * The event door's procedure.  Only the daemon may post events here; it
 * answers 0 for an event taken, or an errno value for one refused.
 */
/* ARGSUSED */
static void
event_proc(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	se_event_t ev;
	ucred_t *uc = NULL;
	int32_t rval = 0;
	const char *ap, *end;
	uint_t n;

	(void) cookie;
	(void) dp;
	(void) n_desc;
	if (door_ucred(&uc) != 0 || ucred_getpid(uc) != daemon_pid) {
		rval = EPERM;
	} else if (argp == NULL || argp == DOOR_UNREF_DATA ||
	    arg_size < sizeof (ev)) {
		rval = EINVAL;
	} else {
		(void) memcpy(&ev, argp, sizeof (ev));
		if (ev.se_attrlen != arg_size - sizeof (ev) ||
		    !se_name_ok(ev.se_class) || !se_name_ok(ev.se_subclass) ||
		    !se_attrs_ok(argp + sizeof (ev), ev.se_attrlen))
			rval = EINVAL;
		else if (strcmp(ev.se_class, sub_class) != 0)
			rval = ENOENT;	/* not what we subscribed to */
	}
	if (uc != NULL)
		ucred_free(uc);

	(void) pthread_mutex_lock(&sub_lock);
	if (rval != 0) {
		(void) printf("refused an event: error %d\n", rval);
	} else {
		n = ++sub_nevents;
		(void) printf("event %u: seq %llu %s/%s", n,
		    (unsigned long long)ev.se_seq, ev.se_class,
		    ev.se_subclass);
		end = argp + sizeof (ev) + ev.se_attrlen;
		for (ap = argp + sizeof (ev); ap < end; ap += strlen(ap) + 1)
			(void) printf(" %s", ap);
		(void) printf("\n");

		/*
		 * Unsubscribing is revoking the door: this call still
		 * completes, every later one fails with EBADF.
		 */
		if (n == sub_revoke_after) {
			(void) door_revoke(sub_door);
			sub_revoked = 1;
			(void) printf("unsubscribed: door revoked after %u "
			    "events\n", n);
		}
		if (n == sub_exit_after)
			(void) pthread_cond_broadcast(&sub_cv);
	}
	(void) fflush(stdout);
	(void) pthread_mutex_unlock(&sub_lock);

	(void) door_return((char *)&rval, sizeof (rval), NULL, 0);
	(void) door_return(NULL, 0, NULL, 0);
}

/*
 * door_xcreate's thread creation function: one detached thread running
 * startf(startarg), with every signal blocked so that signals go to the
 * main thread, as libsysevent's default subscriber attributes arrange.
 */
/* ARGSUSED */
static int
xsub_thr_create(door_info_t *dip, void *(*startf)(void *), void *startarg,
    void *cookie)
{
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t all, old;
	int err;

	(void) dip;
	(void) cookie;
	(void) pthread_attr_init(&attr);
	(void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	(void) sigfillset(&all);
	(void) pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&tid, &attr, startf, startarg);
	(void) pthread_sigmask(SIG_SETMASK, &old, NULL);
	(void) pthread_attr_destroy(&attr);
	return (err == 0 ? 1 : -1);
}

/* door_xcreate's setup function, run in the new thread before it binds. */
/* ARGSUSED */
static void
xsub_thr_setup(void *cookie)
{
	(void) cookie;
	(void) pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	(void) pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, NULL);
}

/* -P: the one server thread of the private door. */
static void *
bind_thread(void *arg)
{
	int d = (int)(intptr_t)arg;

	if (door_bind(d) != 0) {
		perror("subscriber: door_bind");
		exit(1);
	}
	(void) pthread_mutex_lock(&sub_lock);
	sub_bound = 1;
	(void) pthread_cond_broadcast(&sub_cv);
	(void) pthread_mutex_unlock(&sub_lock);
	(void) door_return(NULL, 0, NULL, 0);
	perror("subscriber: door_return");
	exit(1);
	/* NOTREACHED */
}

static int
make_private_door(void)
{
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t all, old;
	int d, err;

	d = door_create(event_proc, NULL,
	    DOOR_PRIVATE | DOOR_REFUSE_DESC | DOOR_NO_CANCEL);
	if (d == -1)
		return (-1);
	(void) pthread_attr_init(&attr);
	(void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	(void) sigfillset(&all);
	(void) pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&tid, &attr, bind_thread, (void *)(intptr_t)d);
	(void) pthread_sigmask(SIG_SETMASK, &old, NULL);
	(void) pthread_attr_destroy(&attr);
	if (err != 0) {
		(void) door_revoke(d);
		errno = err;
		return (-1);
	}
	/* Subscribe only once somebody serves the door. */
	(void) pthread_mutex_lock(&sub_lock);
	while (!sub_bound)
		(void) pthread_cond_wait(&sub_cv, &sub_lock);
	(void) pthread_mutex_unlock(&sub_lock);
	return (d);
}

/* Subscribe; returns our subscriber id, and the handle in *handlep. */
static int
subscribe(const char *path, uint_t flags, int *handlep)
{
	union {
		se_reply_t rep;
		char buf[sizeof (se_reply_t) + 2 * sizeof (door_desc_t)];
	} u;
	se_req_t req;
	se_reply_t rep;
	door_desc_t desc;
	door_arg_t da;
	door_info_t di;
	int fd, err;

	if ((fd = open(path, O_RDONLY)) == -1) {
		perror(path);
		return (-1);
	}
	/* An attachment left by a dead daemon opens as a revoked door. */
	if (door_info(fd, &di) != 0 || (di.di_attributes & DOOR_REVOKED) ||
	    di.di_target == -1) {
		(void) fprintf(stderr, "subscriber: no syseventd at %s\n",
		    path);
		(void) close(fd);
		return (-1);
	}
	daemon_pid = di.di_target;

	(void) memset(&req, 0, sizeof (req));
	req.sr_op = SE_OP_SUBSCRIBE;
	req.sr_flags = flags;
	(void) strcpy(req.sr_class, sub_class);
	desc.d_attributes = DOOR_DESCRIPTOR;
	desc.d_data.d_desc.d_descriptor = sub_door;
	da.data_ptr = (char *)&req;
	da.data_size = sizeof (req);
	da.desc_ptr = &desc;
	da.desc_num = 1;
	da.rbuf = u.buf;
	da.rsize = sizeof (u.buf);
	if (door_call(fd, &da) != 0) {
		perror("subscriber: door_call");
		(void) close(fd);
		return (-1);
	}
	(void) close(fd);
	if (da.data_size < sizeof (rep)) {
		(void) fprintf(stderr, "subscriber: short reply\n");
		return (-1);
	}
	(void) memcpy(&rep, da.data_ptr, sizeof (rep));
	*handlep = -1;
	if (da.desc_num == 1 &&
	    (da.desc_ptr[0].d_attributes & DOOR_DESCRIPTOR))
		*handlep = da.desc_ptr[0].d_data.d_desc.d_descriptor;
	if (da.rbuf != u.buf)
		(void) munmap(da.rbuf, da.rsize);
	if ((err = rep.sp_error) != 0) {
		(void) fprintf(stderr, "subscriber: subscribe: %s\n",
		    strerror(err));
		return (-1);
	}
	if ((flags & SE_SUB_HANDLE) && *handlep == -1) {
		(void) fprintf(stderr, "subscriber: no handle in reply\n");
		return (-1);
	}
	return ((int)rep.sp_id);
}

static void
usage(const char *prog)
{
	(void) fprintf(stderr,
	    "usage: %s [-P] [-h] [-r N] [-x N] PATH CLASS\n", prog);
	exit(2);
}

int
main(int argc, char **argv)
{
	door_info_t di;
	uint_t flags = 0;
	int c, id, handle, private = 0;

	while ((c = getopt(argc, argv, "Phr:x:")) != -1) {
		switch (c) {
		case 'P':
			private = 1;
			break;
		case 'h':
			flags |= SE_SUB_HANDLE;
			break;
		case 'r':
			sub_revoke_after = (uint_t)strtoul(optarg, NULL, 10);
			break;
		case 'x':
			sub_exit_after = (uint_t)strtoul(optarg, NULL, 10);
			break;
		default:
			usage(argv[0]);
		}
	}
	if (argc - optind != 2 || strlen(argv[optind + 1]) >= SE_MAXCLASS ||
	    argv[optind + 1][0] == '\0')
		usage(argv[0]);
	(void) strcpy(sub_class, argv[optind + 1]);

	if (private) {
		sub_door = make_private_door();
	} else {
		sub_door = door_xcreate(event_proc, NULL,
		    DOOR_REFUSE_DESC | DOOR_NO_CANCEL | DOOR_NO_DEPLETION_CB,
		    xsub_thr_create, xsub_thr_setup, NULL, 1);
	}
	if (sub_door == -1) {
		perror(private ? "subscriber: door_create" :
		    "subscriber: door_xcreate");
		return (1);
	}
	if (door_info(sub_door, &di) != 0) {
		perror("subscriber: door_info");
		return (1);
	}

	/* Hold the lock so that no event is printed before this line. */
	(void) pthread_mutex_lock(&sub_lock);
	if ((id = subscribe(argv[optind], flags, &handle)) == -1)
		return (1);
	(void) printf("subscriber: id %d, class %s, %s door%s%s, pid %d\n",
	    id, sub_class, private ? "DOOR_PRIVATE+door_bind" : "door_xcreate",
	    (di.di_attributes & DOOR_PRIVATE) ? " (private)" : "",
	    handle != -1 ? ", holding a handle" : "", (int)getpid());
	(void) fflush(stdout);

	/*
	 * Wait for the events we were asked to take; without -x, until we
	 * are killed.  The handle stays open all along: closing it would
	 * tell the daemon we are gone.
	 */
	while (sub_exit_after == 0 || sub_nevents < sub_exit_after)
		(void) pthread_cond_wait(&sub_cv, &sub_lock);
	if (!sub_revoked)
		(void) door_revoke(sub_door);
	(void) printf("exiting after %u events\n", sub_nevents);
	(void) fflush(stdout);
	(void) pthread_mutex_unlock(&sub_lock);
	return (0);
}
