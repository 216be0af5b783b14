/*
 * svc.configd: a small repository daemon in the manner of illumos'
 * svc.configd. This file starts and stops the process and runs its door
 * thread pool; maindoor.c, client.c and backend.c do the rest.
 *
 * Usage: svc.configd [-d door_path] [-r repository_file] [-t max_threads]
 *
 * Door thread pool
 * ----------------
 * Door server threads come only from new_thread_needed(), installed with
 * door_server_create(). The doors library calls it inside the first
 * door_create, and again whenever a call takes the last idle thread. The
 * default function would start a thread every time, and since a new
 * thread takes a while to reach door_return, a burst of calls would start
 * a crowd of them. So, as svc.configd does, at most two creations may be
 * in flight at once; and the pool never grows past max_servers (-t): once
 * it is full, further calls wait for a thread to come back.
 *
 * Each thread has a thread_info_t, found through thread-specific data: the
 * buffer door_ucred fills (ucred_size() bytes, allocated once, since
 * door_ucred would otherwise allocate for every call) and a buffer for
 * results (door_return never returns, so nothing allocated during a call
 * could be freed after it).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "configd.h"

#define	DEFAULT_MAX_SERVERS	8

static thread_key_t thread_info_key;

static mutex_t	thread_lock = DEFAULTMUTEX;	/* a leaf lock */
static cond_t	thread_cv = DEFAULTCV;		/* calls_active fell to 0 */
static int	num_started;		/* threads running */
static int	num_servers;		/* threads being created or running */
static int	max_servers = DEFAULT_MAX_SERVERS;
static int	peak_servers;		/* the most num_servers ever was */
static int	refused_servers;	/* creations refused by the caps */
static int	calls_active, calls_peak;
static int	finished;		/* a signal asked us to exit */

uid_t		repository_owner;	/* besides root, may write */

/* Whether another thread may be started now; if so it is counted. */
static int
reserve_new_thread(void)
{
	(void) mutex_lock(&thread_lock);
	if (finished || num_servers >= max_servers ||
	    num_servers > num_started + 1) {
		refused_servers++;
		(void) mutex_unlock(&thread_lock);
		return (0);
	}
	if (++num_servers > peak_servers)
		peak_servers = num_servers;
	(void) mutex_unlock(&thread_lock);
	return (1);
}

static void
thread_info_free(thread_info_t *ti)
{
	free(ti->ti_ucred);
	free(ti->ti_buf);
	free(ti);
}

/*
 * A server thread is ending (our threads never do, but a procedure that
 * called thr_exit would), or one could not be started (ti == NULL).
 */
static void
thread_exiting(void *arg)
{
	thread_info_t *ti = arg;

	(void) mutex_lock(&thread_lock);
	if (ti != NULL)
		num_started--;
	num_servers--;
	(void) mutex_unlock(&thread_lock);
	if (ti != NULL)
		thread_info_free(ti);
}

thread_info_t *
thread_self(void)
{
	void *ti;

	(void) thr_getspecific(thread_info_key, &ti);
	return (ti);
}

/* The caller of this thread's current call, read once per call. */
ucred_t *
get_ucred(void)
{
	thread_info_t *ti = thread_self();

	if (ti->ti_ucred_read)
		return (ti->ti_ucred);
	if (door_ucred(&ti->ti_ucred) != 0)
		return (NULL);
	ti->ti_ucred_read = 1;
	return (ti->ti_ucred);
}

/* A door procedure begins serving a call. */
void
thread_newcall(void)
{
	thread_self()->ti_ucred_read = 0;
	(void) mutex_lock(&thread_lock);
	if (++calls_active > calls_peak)
		calls_peak = calls_active;
	(void) mutex_unlock(&thread_lock);
}

/* ... and is about to door_return. */
void
thread_endcall(void)
{
	(void) mutex_lock(&thread_lock);
	if (--calls_active == 0 && finished)
		(void) cond_broadcast(&thread_cv);
	(void) mutex_unlock(&thread_lock);
}

/* This thread's result buffer, at least `size` bytes. */
char *
thread_buffer(size_t size)
{
	thread_info_t *ti = thread_self();

	if (ti->ti_bufsz < size) {
		char *b = realloc(ti->ti_buf, size);

		if (b == NULL)
			return (NULL);
		ti->ti_buf = b;
		ti->ti_bufsz = size;
	}
	return (ti->ti_buf);
}

size_t
thread_stats(char *buf, size_t size)
{
	int n;

	(void) mutex_lock(&thread_lock);
	n = snprintf(buf, size, "threads=%d\nthreads_cap=%d\n"
	    "threads_peak=%d\nthreads_refused=%d\ncalls_active=%d\n"
	    "calls_peak=%d\n", num_started, max_servers, peak_servers,
	    refused_servers, calls_active, calls_peak);
	(void) mutex_unlock(&thread_lock);
	return (n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1);
}

static void *
thread_start(void *arg)
{
	thread_info_t *ti = arg;

	/* Our doors are DOOR_NO_CANCEL anyway; as svc.configd, be sure. */
	(void) pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	ti->ti_thread = thr_self();
	(void) thr_setspecific(thread_info_key, ti);
	(void) mutex_lock(&thread_lock);
	num_started++;
	(void) mutex_unlock(&thread_lock);

	(void) door_return(NULL, 0, NULL, 0);
	return (arg);
}

/*
 * The door_server_create function. dip is NULL: all our doors share the
 * process's pool.
 */
static void
new_thread_needed(door_info_t *dip)
{
	thread_info_t *ti;
	sigset_t new, old;
	int err;

	(void) dip;
	if (!reserve_new_thread())
		return;

	if ((ti = calloc(1, sizeof (*ti))) == NULL ||
	    (ti->ti_ucred = malloc(ucred_size())) == NULL)
		goto fail;

	/* The new thread starts with every signal blocked: main takes them. */
	(void) sigfillset(&new);
	(void) thr_sigsetmask(SIG_SETMASK, &new, &old);
	err = thr_create(NULL, 0, thread_start, ti, THR_BOUND | THR_DETACHED,
	    NULL);
	(void) thr_sigsetmask(SIG_SETMASK, &old, NULL);
	if (err == 0)
		return;
	configd_info("thr_create: %s", strerror(err));
fail:
	thread_exiting(NULL);
	if (ti != NULL)
		thread_info_free(ti);
}

static void
configd_vlog(const char *prefix, const char *message, va_list args)
{
	flockfile(stderr);
	(void) fprintf(stderr, "%s", prefix);
	(void) vfprintf(stderr, message, args);
	if (message[0] == '\0' || message[strlen(message) - 1] != '\n')
		(void) fputc('\n', stderr);
	funlockfile(stderr);
}

void
configd_info(const char *message, ...)
{
	va_list args;

	va_start(args, message);
	configd_vlog("svc.configd: ", message, args);
	va_end(args);
}

void
configd_critical(const char *message, ...)
{
	va_list args;

	va_start(args, message);
	configd_vlog("svc.configd: Fatal error: ", message, args);
	va_end(args);
}

static void
usage(const char *prog)
{
	(void) fprintf(stderr, "usage: %s [-d door_path] [-r repository_file] "
	    "[-t max_threads]\n", prog);
	exit(CONFIGD_EXIT_BAD_ARGS);
}

int
main(int argc, char *argv[])
{
	const char *doorpath = CFG_DOOR_NAME, *dbpath = NULL;
	struct sigaction act;
	sigset_t myset;
	timestruc_t deadline;
	int c, sig, err;

	while ((c = getopt(argc, argv, "d:r:t:")) != -1) {
		switch (c) {
		case 'd':
			doorpath = optarg;
			break;
		case 'r':
			dbpath = optarg;
			break;
		case 't':
			if ((max_servers = atoi(optarg)) < 1)
				usage(argv[0]);
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc)
		usage(argv[0]);

	/* As svc.configd: if not root, our own euid may write too. */
	repository_owner = geteuid();

	(void) sigemptyset(&act.sa_mask);
	act.sa_flags = 0;
	act.sa_handler = SIG_IGN;
	(void) sigaction(SIGPIPE, &act, NULL);

	/* Every thread made from here on inherits these blocked. */
	(void) sigemptyset(&myset);
	(void) sigaddset(&myset, SIGHUP);
	(void) sigaddset(&myset, SIGINT);
	(void) sigaddset(&myset, SIGTERM);
	(void) thr_sigsetmask(SIG_BLOCK, &myset, NULL);

	if ((err = thr_keycreate(&thread_info_key, thread_exiting)) != 0) {
		configd_critical("thr_keycreate: %s", strerror(err));
		exit(CONFIGD_EXIT_INIT_FAILED);
	}
	if (!backend_init(dbpath))
		exit(CONFIGD_EXIT_INIT_FAILED);

	(void) door_server_create(new_thread_needed);
	if (!setup_main_door(doorpath)) {
		configd_critical("setting up the main door failed");
		exit(CONFIGD_EXIT_DOOR_INIT_FAILED);
	}
	configd_info("pid %d serving %s (repository %s, at most %d server "
	    "threads)", (int)getpid(), doorpath,
	    dbpath != NULL ? dbpath : "in memory", max_servers);

	while (sigwait(&myset, &sig) != 0)
		;

	/*
	 * Let calls in progress finish (waiters are sent home at once), but
	 * not for long: a client may be slow to take its answer.
	 */
	configd_info("caught signal %d, exiting", sig);
	backend_shutdown();
	(void) clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	(void) mutex_lock(&thread_lock);
	finished = 1;
	err = 0;
	while (calls_active > 0 && err != ETIME)
		err = cond_timedwait(&thread_cv, &thread_lock, &deadline);
	(void) mutex_unlock(&thread_lock);
	return (CONFIGD_EXIT_OKAY);
}
