/*
 * nsc_door.c: the client side of the name service cache, finding and
 * calling the daemon's door the way illumos libc does
 * (usr/src/lib/libc/port/gen/getxby_door.c):
 *
 *  - the front door is opened from its attached path and the descriptor
 *    cached for the life of the process, kept above 2 (a shell's stdin,
 *    stdout and stderr must never be taken) and close-on-exec;
 *  - before every use door_info must show the agreed cookie and the
 *    uniquifier remembered at open: otherwise the application closed our
 *    descriptor and its number now means something else, which we must
 *    not close. A door that is revoked, or whose server is gone
 *    (di_target == -1), means nscd exited or was replaced: close it and
 *    open the path again;
 *  - a request goes out and its reply comes back in one buffer
 *    (data_ptr == rbuf); a reply that does not fit arrives in a mapping
 *    door_call made, which is unmapped once read;
 *  - a per-user back door arrives as a descriptor in a reply, and is
 *    accepted only with DOOR_DESCRIPTOR and a non-zero d_id.
 */
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nsc.h"

typedef struct nsc_door {
	int		nd_fd;		/* cached descriptor, or -1 */
	door_info_t	nd_info;	/* what door_info said at open */
	pthread_mutex_t	nd_lock;
} nsc_door_t;

static nsc_door_t front = { -1, { 0 }, PTHREAD_MUTEX_INITIALIZER };
static nsc_door_t back = { -1, { 0 }, PTHREAD_MUTEX_INITIALIZER };

static const char *nsc_path = NSC_DOOR;

/* The request buffer, aligned for its header. */
typedef union nsc_buf {
	nsc_hdr_t	nb_hdr;
	char		nb_data[NSC_BUFSIZE];
} nsc_buf_t;

void
nsc_setdoor(const char *path)
{
	nsc_path = path;
}

static void
nsc_forget(nsc_door_t *nd)
{
	nd->nd_fd = -1;
	(void) memset(&nd->nd_info, 0, sizeof (nd->nd_info));
}

/*
 * Open the front door and check that it is nscd's. Called with
 * front.nd_lock held.
 */
static int
nsc_open_front(void)
{
	int fd, tmp;

	if ((fd = open(nsc_path, O_RDONLY)) < 0)
		return (-1);
	if (fd < 3) {
		/* keep clear of stdin, stdout and stderr */
		tmp = fcntl(fd, F_DUPFD, 3);
		(void) close(fd);
		if (tmp < 0)
			return (-1);
		fd = tmp;
	}
	(void) fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (door_info(fd, &front.nd_info) < 0 ||
	    front.nd_info.di_data != NSC_DOOR_COOKIE ||
	    (front.nd_info.di_attributes & DOOR_REVOKED) ||
	    front.nd_info.di_target == -1) {
		/* not a door, not nscd's, or nscd is gone: no server */
		(void) close(fd);
		nsc_forget(&front);
		errno = ECONNREFUSED;
		return (-1);
	}
	front.nd_fd = fd;
	return (fd);
}

/*
 * The descriptor to call through nd after checking that it still is the
 * door we opened or were given; the front door is (re)opened as needed.
 * Returns -1 if there is none.
 */
static int
nsc_door_fd(nsc_door_t *nd)
{
	door_info_t di;
	int fd;

	(void) pthread_mutex_lock(&nd->nd_lock);
	if (nd->nd_fd >= 0) {
		if (door_info(nd->nd_fd, &di) < 0 ||
		    di.di_data != nd->nd_info.di_data ||
		    di.di_uniquifier != nd->nd_info.di_uniquifier) {
			/* the application reused our descriptor: not ours */
			nsc_forget(nd);
		} else if ((di.di_attributes & DOOR_REVOKED) ||
		    di.di_target == -1) {
			/* the daemon exited or was replaced: reconnect */
			(void) close(nd->nd_fd);
			nsc_forget(nd);
		}
	}
	if (nd->nd_fd < 0 && nd == &front)
		(void) nsc_open_front();
	fd = nd->nd_fd;
	(void) pthread_mutex_unlock(&nd->nd_lock);
	if (fd < 0 && nd != &front)
		errno = EBADF;
	return (fd);
}

/* A call through fd failed as through a dead door: drop it if still ours. */
static void
nsc_drop(nsc_door_t *nd, int fd)
{
	(void) pthread_mutex_lock(&nd->nd_lock);
	if (nd->nd_fd == fd) {
		(void) close(fd);
		nsc_forget(nd);
	}
	(void) pthread_mutex_unlock(&nd->nd_lock);
}

/* Close descriptors a reply carried that we did not ask for. */
static void
nsc_close_descs(door_arg_t *da)
{
	uint_t i;

	for (i = 0; i < da->desc_num; i++) {
		if (da->desc_ptr[i].d_attributes & DOOR_DESCRIPTOR)
			(void) close(da->desc_ptr[i].d_data.d_desc.d_descriptor);
	}
}

/*
 * One door_call with the request in buf (len bytes) and the reply in the
 * same buffer if it fits.
 */
static int
nsc_call(int fd, nsc_buf_t *buf, size_t len, door_arg_t *da)
{
	da->data_ptr = buf->nb_data;
	da->data_size = len;
	da->desc_ptr = NULL;
	da->desc_num = 0;
	da->rbuf = buf->nb_data;
	da->rsize = sizeof (buf->nb_data);
	return (door_call(fd, da));
}

static size_t
nsc_request(nsc_buf_t *buf, uint32_t callnumber, const char *name,
    uint32_t id)
{
	size_t keylen = name != NULL ? strlen(name) : 0;

	(void) memset(&buf->nb_hdr, 0, sizeof (buf->nb_hdr));
	buf->nb_hdr.nsc_callnumber = callnumber;
	buf->nb_hdr.nsc_id = id;
	buf->nb_hdr.nsc_keylen = (uint32_t)keylen;
	if (keylen != 0)
		(void) memcpy(buf->nb_data + sizeof (nsc_hdr_t), name, keylen);
	return (sizeof (nsc_hdr_t) + keylen);
}

int
nsc_lookup(uint32_t callnumber, const char *name, uint32_t id,
    nsc_result_t *res)
{
	nsc_buf_t buf;
	nsc_hdr_t rh;
	door_arg_t da;
	nsc_door_t *nd;
	size_t mapped;
	int fd, tries, rc;

	(void) memset(res, 0, sizeof (*res));
	if (name != NULL && strlen(name) > NSC_KEYMAX) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	for (tries = 0; ; tries++) {
		/* the back door, if we hold one, else the front door */
		nd = &back;
		if ((fd = nsc_door_fd(nd)) < 0) {
			nd = &front;
			if ((fd = nsc_door_fd(nd)) < 0)
				return (-1);
		}
		if (nsc_call(fd, &buf, nsc_request(&buf, callnumber, name, id),
		    &da) < 0) {
			/*
			 * EBADF: the door died between door_info and the
			 * call; drop it and try again (the front door is
			 * reopened, a back door falls back to the front).
			 */
			if (errno == EBADF && tries < 3) {
				nsc_drop(nd, fd);
				continue;
			}
			return (-1);
		}
		mapped = da.rbuf != buf.nb_data ? da.rsize : 0;
		nsc_close_descs(&da);
		if (da.data_size < sizeof (rh)) {
			rc = EPROTO;
		} else {
			(void) memcpy(&rh, da.data_ptr, sizeof (rh));
			rc = 0;
		}
		if (rc == 0 && rh.nsc_status == NSC_ALTRESET && nd == &back &&
		    tries < 3) {
			/* the back door turned us away: use the front */
			if (mapped != 0)
				(void) munmap(da.rbuf, da.rsize);
			nsc_drop(nd, fd);
			continue;
		}
		break;
	}
	if (rc == 0) {
		switch (rh.nsc_status) {
		case NSC_SUCCESS:
			if (rh.nsc_datalen > da.data_size - sizeof (rh)) {
				rc = EPROTO;
				break;
			}
			if ((res->nr_data = malloc(rh.nsc_datalen + 1)) == NULL) {
				rc = ENOMEM;
				break;
			}
			(void) memcpy(res->nr_data, da.data_ptr + sizeof (rh),
			    rh.nsc_datalen);
			res->nr_data[rh.nsc_datalen] = '\0';
			res->nr_len = strlen(res->nr_data);
			break;
		case NSC_NOTFOUND:
			break;
		case NSC_ERROR:
			rc = rh.nsc_errno != 0 ? (int)rh.nsc_errno : EIO;
			break;
		default:
			rc = EPROTO;
			break;
		}
	}
	if (rc == 0) {
		res->nr_server = (pid_t)rh.nsc_pid;
		res->nr_backdoor = (rh.nsc_flags & NSC_F_BACKDOOR) != 0;
		res->nr_mapped = mapped;
	}
	/* a reply too large for buf came in door_call's own mapping */
	if (mapped != 0)
		(void) munmap(da.rbuf, da.rsize);
	if (rc != 0) {
		errno = rc;
		return (-1);
	}
	return ((int)rh.nsc_status);
}

void
nsc_free_result(nsc_result_t *res)
{
	free(res->nr_data);
	res->nr_data = NULL;
}

uint64_t
nsc_backdoor(void)
{
	nsc_buf_t buf;
	nsc_hdr_t rh;
	door_arg_t da;
	door_info_t di;
	door_desc_t *dp;
	uint64_t id = 0;
	pid_t server;
	int fd, err = EINVAL;

	if ((fd = nsc_door_fd(&front)) < 0)
		return (0);
	if (nsc_call(fd, &buf, nsc_request(&buf, NSC_GETDOOR, NULL, 0),
	    &da) < 0)
		return (0);
	dp = da.desc_ptr;
	if (da.data_size >= sizeof (rh)) {
		(void) memcpy(&rh, da.data_ptr, sizeof (rh));
		if (rh.nsc_status == NSC_ERROR && rh.nsc_errno != 0)
			err = (int)rh.nsc_errno;
		/*
		 * As libc: a passed door is taken only if it is marked as a
		 * descriptor and carries a door id.
		 */
		if (rh.nsc_status == NSC_ALTRETRY && da.desc_num == 1 &&
		    (dp->d_attributes & DOOR_DESCRIPTOR) &&
		    dp->d_data.d_desc.d_id != 0)
			id = dp->d_data.d_desc.d_id;
	}
	if (id != 0) {
		fd = dp->d_data.d_desc.d_descriptor;
		(void) pthread_mutex_lock(&front.nd_lock);
		server = front.nd_info.di_target;
		(void) pthread_mutex_unlock(&front.nd_lock);
		/* and it must be that door, alive, served by our nscd */
		if (door_info(fd, &di) < 0 || di.di_uniquifier != id ||
		    (di.di_attributes & DOOR_REVOKED) ||
		    di.di_target != server) {
			id = 0;
		} else {
			(void) fcntl(fd, F_SETFD, FD_CLOEXEC);
			(void) pthread_mutex_lock(&back.nd_lock);
			if (back.nd_fd >= 0)
				(void) close(back.nd_fd);
			back.nd_fd = fd;
			back.nd_info = di;
			(void) pthread_mutex_unlock(&back.nd_lock);
			da.desc_num = 0;	/* kept: do not close it */
		}
	}
	nsc_close_descs(&da);
	if (da.rbuf != buf.nb_data)
		(void) munmap(da.rbuf, da.rsize);
	if (id == 0)
		errno = err;
	return (id);
}

void
nsc_release_backdoor(void)
{
	(void) pthread_mutex_lock(&back.nd_lock);
	if (back.nd_fd >= 0)
		(void) close(back.nd_fd);
	nsc_forget(&back);
	(void) pthread_mutex_unlock(&back.nd_lock);
}
