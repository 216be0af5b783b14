/*
 * nscd: a name service cache daemon for the passwd and group databases,
 * built on doors the way illumos nscd is (usr/src/cmd/nscd/nscd_frontend.c):
 *
 *  - its own server thread pool, through door_server_create, capped;
 *  - one door, DOOR_UNREF | DOOR_NO_CANCEL, with a cookie clients check,
 *    attached at a well-known path (creat it if missing, fdetach, fattach,
 *    and fdetach again on EBUSY);
 *  - requests answered in place: the reply goes back in the caller's own
 *    buffer when it fits, in a mapping door_call makes when it does not;
 *  - door_ucred tells who asks: every lookup is logged with the caller's
 *    pid and effective uid, and back doors serve only their own user;
 *  - a per-user back door, created for the caller and passed back as a
 *    descriptor; it is revoked when its last client lets go of it
 *    (DOOR_UNREF_MULTI, DOOR_IS_UNREF);
 *  - when another nscd takes over the path (fdetach, then fattach of its
 *    own door), the attachment was our door's only outside reference, so
 *    the unreferenced notification arrives and we exit ("door slam").
 *
 * Usage: nscd [-d door] [-p passwd] [-g group] [-t maxthreads]
 */
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stropts.h>
#include <sys/stat.h>
#include <ucred.h>
#include <unistd.h>

#include "nsc.h"
#include "nscd.h"

static const char *door_path = NSC_DOOR;

/* Server threads: created by server_create, counted, capped. */
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;
static int num_servers;
static int max_servers = 16;
static pthread_key_t server_key;	/* each thread's reply buffer */

/* A per-user back door; records live as long as the daemon. */
typedef struct peruser {
	struct peruser	*pu_next;
	uid_t		pu_uid;
	int		pu_door;	/* -1 while none is out */
} peruser_t;

static pthread_mutex_t peruser_lock = PTHREAD_MUTEX_INITIALIZER;
static peruser_t *peruser_list;

void
logmsg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	flockfile(stdout);
	(void) printf("nscd[%d]: ", (int)getpid());
	(void) vprintf(fmt, ap);
	(void) putchar('\n');
	(void) fflush(stdout);
	funlockfile(stdout);
	va_end(ap);
}

/*
 * A server thread exits (a procedure returned or the thread gave up after
 * a failed door_return): free its buffer and make room in the pool.
 */
static void
server_destroy(void *arg)
{
	rbuf_t *rb = arg;

	free(rb->rb_buf);
	free(rb);
	(void) pthread_mutex_lock(&create_lock);
	num_servers--;
	(void) pthread_mutex_unlock(&create_lock);
}

static void *
server_thread(void *arg)
{
	rbuf_t *rb = arg;

	/* a client that gives up must not cancel us mid-lookup */
	(void) pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	(void) pthread_setspecific(server_key, rb);
	(void) door_return(NULL, 0, NULL, 0);
	return (NULL);
}

/*
 * The pool's creation function: called for the first door and whenever
 * the last idle server thread takes a call.
 */
static void
server_create(door_info_t *dip)
{
	pthread_attr_t attr;
	pthread_t tid;
	rbuf_t *rb;

	(void) dip;
	(void) pthread_mutex_lock(&create_lock);
	if (num_servers >= max_servers) {
		(void) pthread_mutex_unlock(&create_lock);
		return;
	}
	num_servers++;
	(void) pthread_mutex_unlock(&create_lock);

	(void) pthread_attr_init(&attr);
	(void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if ((rb = calloc(1, sizeof (*rb))) == NULL ||
	    pthread_create(&tid, &attr, server_thread, rb) != 0) {
		free(rb);
		(void) pthread_mutex_lock(&create_lock);
		num_servers--;
		(void) pthread_mutex_unlock(&create_lock);
	}
	(void) pthread_attr_destroy(&attr);
}

/* Send a reply; if that fails, answer nothing rather than fall through. */
static _Noreturn void
reply(char *data, size_t size, door_desc_t *dp, uint_t ndesc)
{
	(void) door_return(data, size, dp, ndesc);
	(void) door_return(NULL, 0, NULL, 0);
	pthread_exit(NULL);
}

static _Noreturn void
reply_status(uint32_t callnumber, uint32_t status, int err, uint32_t flags)
{
	nsc_hdr_t h;

	(void) memset(&h, 0, sizeof (h));
	h.nsc_callnumber = callnumber;
	h.nsc_status = status;
	h.nsc_errno = (uint32_t)err;
	h.nsc_pid = (uint32_t)getpid();
	h.nsc_flags = flags;
	reply((char *)&h, sizeof (h), NULL, 0);
}

/* Who is calling: the kernel's word, not the request's. */
static int
caller(uid_t *euid, pid_t *pid)
{
	ucred_t *uc = NULL;

	*euid = (uid_t)-1;
	*pid = -1;
	if (door_ucred(&uc) != 0) {
		logmsg("door_ucred: %s", strerror(errno));
		return (-1);
	}
	*euid = ucred_geteuid(uc);
	*pid = ucred_getpid(uc);
	ucred_free(uc);
	return (0);
}

static void peruser_switcher(void *, char *, size_t, door_desc_t *, uint_t);

/*
 * NSC_GETDOOR: hand the caller a back door of its own user, making it if
 * none is out. We keep our descriptor, so the door's references are ours
 * plus one per client holding it, and the unreferenced notification says
 * the last client let go.
 */
static _Noreturn void
give_backdoor(uid_t euid, pid_t pid)
{
	door_desc_t desc;
	peruser_t *pu;
	nsc_hdr_t h;
	int d = -1, err = EACCES;

	(void) pthread_mutex_lock(&peruser_lock);
	for (pu = peruser_list; pu != NULL; pu = pu->pu_next) {
		if (pu->pu_uid == euid)
			break;
	}
	if (pu == NULL && euid != (uid_t)-1) {
		err = ENOMEM;
		if ((pu = calloc(1, sizeof (*pu))) != NULL) {
			pu->pu_uid = euid;
			pu->pu_door = -1;
			pu->pu_next = peruser_list;
			peruser_list = pu;
		}
	}
	if (pu != NULL && pu->pu_door < 0) {
		pu->pu_door = door_create(peruser_switcher, pu,
		    DOOR_UNREF_MULTI | DOOR_REFUSE_DESC | DOOR_NO_CANCEL);
		if (pu->pu_door >= 0)
			logmsg("created a back door for uid %d", (int)euid);
	}
	/* the client's reference: a copy, released once passed */
	if (pu != NULL && pu->pu_door >= 0)
		d = dup(pu->pu_door);
	if (d < 0 && pu != NULL)
		err = errno;
	(void) pthread_mutex_unlock(&peruser_lock);

	if (d < 0) {
		logmsg("pid %d uid %d: no back door: %s", (int)pid, (int)euid,
		    strerror(err));
		reply_status(NSC_GETDOOR, NSC_ERROR, err, 0);
	}
	logmsg("pid %d uid %d: handed out the back door", (int)pid, (int)euid);
	(void) memset(&h, 0, sizeof (h));
	h.nsc_callnumber = NSC_GETDOOR;
	h.nsc_status = NSC_ALTRETRY;
	h.nsc_pid = (uint32_t)getpid();
	desc.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
	desc.d_data.d_desc.d_descriptor = d;
	(void) door_return((char *)&h, sizeof (h), &desc, 1);
	/* not sent (the client went away): the copy is still ours */
	(void) close(d);
	reply(NULL, 0, NULL, 0);
}

/* The lookups, and what their key is. */
typedef enum { KEY_NONE, KEY_NAME, KEY_ID } keytype_t;

typedef struct call {
	uint32_t	c_call;
	nsc_dbid_t	c_db;
	keytype_t	c_key;
	const char	*c_what;
} call_t;

static const call_t calls[] = {
	{ NSC_GETPWNAM, NSC_DB_PASSWD, KEY_NAME, "getpwnam" },
	{ NSC_GETPWUID, NSC_DB_PASSWD, KEY_ID, "getpwuid" },
	{ NSC_GETGRNAM, NSC_DB_GROUP, KEY_NAME, "getgrnam" },
	{ NSC_GETGRGID, NSC_DB_GROUP, KEY_ID, "getgrgid" },
	{ NSC_GETPWALL, NSC_DB_PASSWD, KEY_NONE, "getpwent" },
	{ NSC_GETGRALL, NSC_DB_GROUP, KEY_NONE, "getgrent" },
	{ 0, NSC_DB_PASSWD, KEY_NONE, NULL }
};

/* A key is a name: printable, no field separator. */
static int
valid_key(const char *key)
{
	const unsigned char *p;

	for (p = (const unsigned char *)key; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == ':')
			return (0);
	}
	return (1);
}

/*
 * Answer one request, through the front door (pu == NULL) or the back
 * door of pu's user. The reply is built in the thread's own buffer, which
 * door_return copies before the thread serves anyone else.
 */
static _Noreturn void
serve(char *argp, size_t arg_size, peruser_t *pu)
{
	char key[NSC_KEYMAX + 1];
	const char *name = NULL;
	uint32_t flags = pu != NULL ? NSC_F_BACKDOOR : 0;
	rbuf_t *rb = pthread_getspecific(server_key);
	const call_t *c;
	nsc_hdr_t req;
	uid_t euid;
	pid_t pid;
	int n, err;

	if (arg_size < sizeof (req))
		reply_status(0, NSC_ERROR, EINVAL, flags);
	(void) memcpy(&req, argp, sizeof (req));
	if (req.nsc_keylen > NSC_KEYMAX ||
	    req.nsc_keylen > arg_size - sizeof (req))
		reply_status(req.nsc_callnumber, NSC_ERROR, EINVAL, flags);
	(void) memcpy(key, argp + sizeof (req), req.nsc_keylen);
	key[req.nsc_keylen] = '\0';
	if (!valid_key(key))
		reply_status(req.nsc_callnumber, NSC_ERROR, EINVAL, flags);
	(void) caller(&euid, &pid);

	for (c = calls; c->c_call != 0; c++) {
		if (c->c_call == req.nsc_callnumber)
			break;
	}
	if (c->c_call == 0) {
		if (req.nsc_callnumber == NSC_GETDOOR && pu == NULL)
			give_backdoor(euid, pid);	/* does not return */
		/* unknown, or NSC_GETDOOR on a back door */
		logmsg("pid %d uid %d: unexpected call %u", (int)pid,
		    (int)euid, req.nsc_callnumber);
		reply_status(req.nsc_callnumber, NSC_ERROR, EINVAL, flags);
	}
	if (c->c_key == KEY_NAME)
		name = key;

	if (rb == NULL)		/* not one of our server threads */
		reply_status(req.nsc_callnumber, NSC_ERROR, ENOMEM, flags);
	rb->rb_len = 0;
	if (rb_append(rb, &req, sizeof (req)) < 0)
		reply_status(req.nsc_callnumber, NSC_ERROR, ENOMEM, flags);
	n = cache_search(c->c_db, name, c->c_key == KEY_ID, req.nsc_id, rb);
	if (n < 0) {
		err = errno;
		logmsg("pid %d uid %d: %s: %s", (int)pid, (int)euid, c->c_what,
		    strerror(err));
		reply_status(req.nsc_callnumber, NSC_ERROR, err, flags);
	}
	req.nsc_status = n > 0 ? NSC_SUCCESS : NSC_NOTFOUND;
	req.nsc_errno = 0;
	req.nsc_datalen = (uint32_t)(rb->rb_len - sizeof (req));
	req.nsc_pid = (uint32_t)getpid();
	req.nsc_flags = flags;
	(void) memcpy(rb->rb_buf, &req, sizeof (req));

	if (c->c_key == KEY_NAME)
		logmsg("pid %d uid %d: %s %s: %d found%s", (int)pid, (int)euid,
		    c->c_what, name, n, pu != NULL ? " (back door)" : "");
	else if (c->c_key == KEY_ID)
		logmsg("pid %d uid %d: %s %u: %d found%s", (int)pid, (int)euid,
		    c->c_what, req.nsc_id, n, pu != NULL ? " (back door)" : "");
	else
		logmsg("pid %d uid %d: %s: %d entries, %zu bytes%s", (int)pid,
		    (int)euid, c->c_what, n, rb->rb_len,
		    pu != NULL ? " (back door)" : "");
	reply(rb->rb_buf, rb->rb_len, NULL, 0);
}

/* The front door's procedure. */
static void
switcher(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	uint_t i;

	(void) cookie;
	if (argp == DOOR_UNREF_DATA) {
		/*
		 * Our attachment was the last reference besides our own
		 * descriptor: someone detached the path, normally a newer
		 * nscd taking over. Nobody can reach us any more.
		 */
		logmsg("door slam: %s was detached; exiting", door_path);
		exit(0);
	}
	/* we take no descriptors */
	for (i = 0; i < n_desc; i++) {
		if (dp[i].d_attributes & DOOR_DESCRIPTOR)
			(void) close(dp[i].d_data.d_desc.d_descriptor);
	}
	if (argp == NULL || arg_size == 0)	/* a ping */
		reply(NULL, 0, NULL, 0);
	serve(argp, arg_size, NULL);
}

/* A back door's procedure; cookie is its user's record. */
static void
peruser_switcher(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	peruser_t *pu = cookie;
	door_info_t di;
	uid_t euid;
	pid_t pid;

	(void) dp;
	(void) n_desc;		/* DOOR_REFUSE_DESC: always 0 */
	if (argp == DOOR_UNREF_DATA) {
		/*
		 * The last client closed its copy. Another may have been
		 * handed out since the notification was queued, so revoke
		 * only if the door is still unreferenced.
		 */
		(void) pthread_mutex_lock(&peruser_lock);
		if (pu->pu_door >= 0 && door_info(pu->pu_door, &di) == 0 &&
		    (di.di_attributes & DOOR_IS_UNREF)) {
			(void) door_revoke(pu->pu_door);
			pu->pu_door = -1;
			logmsg("back door of uid %d released", (int)pu->pu_uid);
		}
		(void) pthread_mutex_unlock(&peruser_lock);
		reply(NULL, 0, NULL, 0);
	}
	if (argp == NULL || arg_size == 0)
		reply(NULL, 0, NULL, 0);
	if (caller(&euid, &pid) < 0 || euid != pu->pu_uid) {
		logmsg("pid %d uid %d: refused on the back door of uid %d",
		    (int)pid, (int)euid, (int)pu->pu_uid);
		reply_status(0, NSC_ALTRESET, EACCES, NSC_F_BACKDOOR);
	}
	serve(argp, arg_size, pu);
}

/*
 * Attach door d at path the way illumos daemons do. Whatever is attached
 * there is detached first: a dead nscd's door, or a live nscd's, which
 * then gets its unreferenced notification and exits.
 */
static int
attach(int d, const char *path)
{
	struct stat st;
	mode_t omask;
	int fd, tries;

	if (stat(path, &st) < 0) {
		/* readable by all; attaching needs write permission */
		omask = umask(0);
		fd = creat(path, 0644);
		(void) umask(omask);
		if (fd < 0)
			return (-1);
		(void) close(fd);
	}
	(void) fdetach(path);
	for (tries = 0; fattach(d, path) < 0; tries++) {
		/* another daemon attached in between: take it back */
		if (errno != EBUSY || tries == 3 || fdetach(path) < 0)
			return (-1);
	}
	return (0);
}

static void
usage(void)
{
	(void) fprintf(stderr, "usage: nscd [-d door] [-p passwd] [-g group] "
	    "[-t maxthreads]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *passwd = "/etc/passwd", *group = "/etc/group";
	sigset_t sigs;
	int c, d, sig;

	while ((c = getopt(argc, argv, "d:p:g:t:")) != -1) {
		switch (c) {
		case 'd':
			door_path = optarg;
			break;
		case 'p':
			passwd = optarg;
			break;
		case 'g':
			group = optarg;
			break;
		case 't':
			if ((max_servers = atoi(optarg)) < 1)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	(void) signal(SIGPIPE, SIG_IGN);
	/* signals are taken by the main thread alone, in sigwait */
	(void) sigemptyset(&sigs);
	(void) sigaddset(&sigs, SIGHUP);
	(void) sigaddset(&sigs, SIGINT);
	(void) sigaddset(&sigs, SIGTERM);
	(void) pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	if (cache_init(NSC_DB_PASSWD, passwd) < 0) {
		perror(passwd);
		return (1);
	}
	if (cache_init(NSC_DB_GROUP, group) < 0) {
		perror(group);
		return (1);
	}

	if (pthread_key_create(&server_key, server_destroy) != 0) {
		perror("pthread_key_create");
		return (1);
	}
	(void) door_server_create(server_create);
	if ((d = door_create(switcher, (void *)NSC_DOOR_COOKIE,
	    DOOR_UNREF | DOOR_NO_CANCEL)) < 0) {
		perror("door_create");
		return (1);
	}
	if (attach(d, door_path) < 0) {
		perror(door_path);
		(void) door_revoke(d);
		return (1);
	}
	logmsg("serving %s", door_path);

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			cache_invalidate();
			logmsg("caches invalidated");
			continue;
		}
		/*
		 * Like illumos nscd, leave the attachment: clients see a
		 * dead door and the next nscd detaches it.
		 */
		logmsg("stopping on signal %d", sig);
		return (0);
	}
}
