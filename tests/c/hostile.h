/*
 * Helpers for the hostile-peer tests: a server with a door attached at a
 * path, a well-behaved client that calls it without pause and counts its
 * successes, and the wire protocol spoken raw (docs/ARCHITECTURE.md, "Wire
 * protocol"), so the offender never goes through libdoor's API. Every
 * scenario ends with the same checks: the server lives, the good client
 * progressed during and after the abuse, the server's descriptor count is
 * back to its baseline, and the offender's connection was closed.
 */
#ifndef LIBDOOR_HOSTILE_H
#define LIBDOOR_HOSTILE_H

#include "door_test.h"

#include <dirent.h>
#include <stdatomic.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>

/* ---- The wire protocol, as the library speaks it (wire.rs). ---- */

#define W_MAGIC 0x37524f44u
enum { K_HELLO = 1, K_INFO, K_IDENTITY, K_ATTACH, K_OPEN, K_DETACH, K_OPENED, K_CALL, K_REPLY, K_DESCS, K_PARAMS, K_CLONE, K_ABANDON };
enum { F_DATA_MEMFD = 1, F_NO_RESULTS = 2, F_DATA_BULK = 4, F_NEW_BULK = 8, F_DATA_PIPE = 16, F_DATA_STREAMED = 32 };

struct wmsg {
	uint32_t magic, kind;
	uint64_t seq, a, b, c;
	uint32_t d, e;
};
_Static_assert(sizeof(struct wmsg) == 48, "a message is 48 bytes");

/* The channel region's layout. */
#define R_STATE 0
#define R_MODE 64
#define R_REQ_WORD 68
#define R_REP_WORD 76
#define R_REP_ARMED 0x80000000u /* a client arms rep_word; a reply disarms it */
#define R_REP_OWNER_DIED 0x40000000u /* the server died (or dropped the channel) */
#define R_CLIENT_WAITING 80
#define R_REQ_FLAGS 84
#define R_REQ_VIA 88
#define R_REP_SEQ 96
#define R_REP_ERRNO 104
#define R_REP_SIZE 112
#define R_REQ_SIZE 120
#define R_BULK_READY 136
#define R_BULK_TAKEN 176
#define R_BULK_ROOM 184
#define R_BULK_ROOM_WAITING 188
#define R_BULK_WINDOW 192
#define R_BULK_START 200
#define R_REP_START 208
#define R_REP_IN_BULK 216
#define R_REQUEST 4096
#define R_REQUEST_CAP (64 * 1024)
#define R_REPLY (R_REQUEST + R_REQUEST_CAP)
#define R_REPLY_CAP (64 * 1024)
#define R_LEN (R_REPLY + R_REPLY_CAP)

static inline struct wmsg wmsg(uint32_t kind, uint64_t seq)
{
	struct wmsg m = { W_MAGIC, kind, seq, 0, 0, 0, 0, 0 };
	return m;
}

/* Sends `len` bytes with `n` descriptors; returns sendmsg's result. */
static inline ssize_t raw_send(int sock, const void *buf, size_t len, const int *fds, int n)
{
	struct iovec iov = { (void *)buf, len };
	char cbuf[CMSG_SPACE(253 * sizeof(int))];
	struct msghdr mh = { 0 };
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (n > 0) {
		memset(cbuf, 0, sizeof cbuf);
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL);
}

static inline void send_msg(int sock, struct wmsg m, const int *fds, int n)
{
	CHECK(raw_send(sock, &m, sizeof m, fds, n) == (ssize_t)sizeof m);
}

/* Receives one message within `seconds`: its length (0 at end of file, -1
 * with errno on error), the message in *m, descriptors in fds (up to max,
 * their count in *nfds; the caller closes them). */
static inline ssize_t raw_recv(int sock, void *buf, size_t len, int *fds, int max, int *nfds, double seconds)
{
	struct pollfd p = { sock, POLLIN, 0 };
	int r;
	do
		r = poll(&p, 1, (int)(seconds * 1000));
	while (r == -1 && errno == EINTR);
	CHECK(r >= 0);
	if (r == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	struct iovec iov = { buf, len };
	char cbuf[CMSG_SPACE(253 * sizeof(int))];
	struct msghdr mh = { 0 };
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof cbuf;
	ssize_t k = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	int got = 0;
	if (k >= 0)
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
				int n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				int *in = (int *)CMSG_DATA(cm);
				for (int i = 0; i < n; i++) {
					if (fds != NULL && got < max)
						fds[got++] = in[i];
					else
						close(in[i]);
				}
			}
	if (nfds != NULL)
		*nfds = got;
	return k;
}

/* The offender's connection must be closed within `seconds`: whatever the
 * server still sent is read, then end of file or ECONNRESET. */
static inline void expect_closed(int sock, double seconds, const char *what)
{
	double end = now_seconds() + seconds;
	for (;;) {
		double left = end - now_seconds();
		if (left <= 0) {
			fprintf(stderr, "FAIL %s: %s: the server did not close the connection within %.0f s\n", test_name, what, seconds);
			exit(1);
		}
		char buf[256];
		ssize_t k = raw_recv(sock, buf, sizeof buf, NULL, 0, NULL, left);
		if (k == 0 || (k == -1 && (errno == ECONNRESET || errno == EPIPE)))
			return;
		if (k == -1 && errno != ETIMEDOUT && errno != EAGAIN)
			fail_at(__FILE__, __LINE__, what, errno);
	}
}

/* The connection must still be open (nothing to read but no end of file). */
static inline void expect_open(int sock, const char *what)
{
	struct pollfd p = { sock, POLLRDHUP, 0 };
	if (poll(&p, 1, 0) != 0) {
		fprintf(stderr, "FAIL %s: %s: the connection was closed (revents 0x%x)\n", test_name, what, p.revents);
		exit(1);
	}
}

/* A SOCK_SEQPACKET (or `type`) connection to `path`; -1 with errno. */
static inline int raw_connect(const char *path, int type)
{
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	CHECK(strlen(path) < sizeof a.sun_path);
	strcpy(a.sun_path, path);
	if (connect(s, (struct sockaddr *)&a, sizeof a) == -1) {
		int e = errno;
		close(s);
		errno = e;
		return -1;
	}
	return s;
}

/* Opens the door at `path` the way libdoor's open does, raw: a door
 * descriptor whose socket the offender then speaks on directly. */
static inline int raw_open(const char *path)
{
	int s = raw_connect(path, SOCK_SEQPACKET);
	CHECK(s >= 0);
	struct wmsg m = wmsg(K_OPEN, 0);
	m.d = O_RDWR;
	send_msg(s, m, NULL, 0);
	struct wmsg r;
	int fd = -1, n = 0;
	CHECK(raw_recv(s, &r, sizeof r, &fd, 1, &n, 10) == (ssize_t)sizeof r);
	CHECK(r.kind == K_OPENED && r.d == 0 && n == 1);
	close(s);
	return fd;
}

/* A fresh region memfd, sealed as libdoor's client seals it. */
static inline int region_memfd(size_t len, unsigned seals)
{
	int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	CHECK(fd >= 0);
	CHECK_OK(ftruncate(fd, (off_t)len));
	if (seals)
		CHECK_OK(fcntl(fd, F_ADD_SEALS, seals));
	return fd;
}

/* Wakes whoever sleeps on the 32-bit futex word at `addr` (shared memory). */
static inline void futex_wake_all(void *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* A channel opened raw: our socket end and the mapped region. */
struct rchan {
	int sock;
	char *region;
	uint64_t seq;
};

static inline _Atomic uint64_t *word64(struct rchan *c, size_t off) { return (_Atomic uint64_t *)(c->region + off); }
static inline _Atomic uint32_t *word32(struct rchan *c, size_t off) { return (_Atomic uint32_t *)(c->region + off); }

/* Sends Hello on door descriptor `door` and waits for the server's answer. */
static inline void raw_channel(int door, struct rchan *c)
{
	int sv[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
	int region = region_memfd(R_LEN, F_SEAL_SHRINK | F_SEAL_GROW);
	c->region = mmap(NULL, R_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, region, 0);
	CHECK(c->region != MAP_FAILED);
	int fds[2] = { sv[1], region };
	send_msg(door, wmsg(K_HELLO, 0), fds, 2);
	close(sv[1]);
	close(region);
	c->sock = sv[0];
	c->seq = 0;
	struct wmsg r;
	CHECK(raw_recv(c->sock, &r, sizeof r, NULL, 0, NULL, 10) == (ssize_t)sizeof r);
	CHECK(r.magic == W_MAGIC && r.kind == K_OPENED);
}

static inline void close_channel(struct rchan *c)
{
	close(c->sock);
	munmap(c->region, R_LEN);
}

/* Marks call `seq` pending and sends its Call with these descriptors. */
static inline void raw_call(struct rchan *c, uint64_t seq, size_t size, uint32_t flags, const int *fds, int n, uint32_t ndesc)
{
	atomic_store(word32(c, R_REQ_VIA), 0);
	atomic_store(word64(c, R_STATE), seq << 2 | 1);
	struct wmsg m = wmsg(K_CALL, seq);
	m.a = size;
	m.d = ndesc;
	m.e = flags;
	send_msg(c->sock, m, fds, n);
}

/* Waits for the answer to call `seq` posted in the region (an errno, or
 * results of *size bytes in the reply area); -1 if the server sent it on the
 * socket instead or nothing came within `seconds`. */
static inline long region_answer(struct rchan *c, uint64_t seq, uint64_t *size, double seconds)
{
	double end = now_seconds() + seconds;
	while (atomic_load(word64(c, R_REP_SEQ)) != seq) {
		if (now_seconds() > end)
			return -1;
		/* Polling interval of the deadline loop, not a synchronisation. */
		usleep(500);
	}
	if (size)
		*size = atomic_load(word64(c, R_REP_SIZE));
	return (long)atomic_load(word64(c, R_REP_ERRNO));
}

/* A loopback TCP socket whose close blocks: unsent data and an hour's
 * SO_LINGER. Its listener and its peer (which reads nothing) go to *l and
 * *peer; closing them ends the wait. */
static inline int lingering_tcp(int *l, int *peer)
{
	*l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	CHECK_OK(bind(*l, (struct sockaddr *)&a, sizeof a));
	CHECK_OK(listen(*l, 1));
	socklen_t len = sizeof a;
	CHECK_OK(getsockname(*l, (struct sockaddr *)&a, &len));
	int tcp = socket(AF_INET, SOCK_STREAM, 0), small = 4096;
	CHECK_OK(setsockopt(tcp, SOL_SOCKET, SO_SNDBUF, &small, sizeof small));
	CHECK_OK(connect(tcp, (struct sockaddr *)&a, sizeof a));
	*peer = accept(*l, NULL, NULL);
	CHECK(*peer >= 0);
	CHECK_OK(setsockopt(*peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small));
	char b[4096] = { 0 };
	while (send(tcp, b, sizeof b, MSG_DONTWAIT) > 0)
		;
	struct linger lg = { 1, 3600 };
	CHECK_OK(setsockopt(tcp, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
	return tcp;
}

/* ---- A fake server's side, for fakes that serve doors by hand. ---- */

/* A door descriptor of the fake's own making: a socket pair end bound to a
 * label for `uniq` (with the 8-byte `nonce`), its nameplate naming this
 * process queued on it. Returns that end; *door gets the fake's end. */
static inline int fake_door(uint64_t uniq, const char nonce[8], int *door)
{
	int sv[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
	struct sockaddr_un label = { .sun_family = AF_UNIX };
	memcpy(label.sun_path, "\0libdoor1:", 10);
	memcpy(label.sun_path + 10, &uniq, 8);
	memcpy(label.sun_path + 18, nonce, 8);
	CHECK_OK(bind(sv[0], (struct sockaddr *)&label, offsetof(struct sockaddr_un, sun_path) + 26));
	struct wmsg plate = wmsg(K_IDENTITY, uniq);
	plate.c = (uint64_t)getpid();
	send_msg(sv[1], plate, NULL, 0);
	*door = sv[1];
	return sv[0];
}

/* How many threads of process `pid` whose name starts with `name` (NULL:
 * any thread) are in system call `nr` now (/proc/PID/task/TID/syscall). */
static inline int threads_in_syscall(pid_t pid, const char *name, long nr)
{
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	int n = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (e->d_name[0] == '.')
			continue;
		char path[384], line[256] = "";
		if (name != NULL) {
			snprintf(path, sizeof path, "%s/%s/comm", dir, e->d_name);
			FILE *f = fopen(path, "r");
			int named = f != NULL && fgets(line, sizeof line, f) != NULL && strncmp(line, name, strlen(name)) == 0;
			if (f != NULL)
				fclose(f);
			if (!named)
				continue;
		}
		snprintf(path, sizeof path, "%s/%s/syscall", dir, e->d_name);
		FILE *f = fopen(path, "r");
		if (f != NULL && fgets(line, sizeof line, f) != NULL && strchr(line, ' ') != NULL && atol(line) == nr)
			n++;
		if (f != NULL)
			fclose(f);
	}
	closedir(d);
	return n;
}

/* Takes the channel a Hello brought (its socket end fds[0], its region's
 * memfd fds[1], which is closed): maps the region and publishes the limits
 * of a plain door (not revoked, no data limits, INT_MAX descriptors). The
 * caller answers the Hello. Returns the region. */
static inline char *fake_adopt(const int *fds)
{
	char *region = mmap(NULL, R_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fds[1], 0);
	CHECK(region != MAP_FAILED);
	close(fds[1]);
	uint64_t *limits = (uint64_t *)(region + 16);
	limits[2] = UINT64_MAX;
	limits[3] = INT_MAX;
	return region;
}

/* Answers call `seq` in the region: errno `err`, or `size` bytes of results
 * already in the reply area; wakes the client. */
static inline void fake_post(char *region, uint64_t seq, uint64_t err, uint64_t size)
{
	atomic_store((_Atomic uint64_t *)(region + R_REP_ERRNO), err);
	atomic_store((_Atomic uint64_t *)(region + R_REP_SIZE), size);
	atomic_store((_Atomic uint64_t *)(region + R_REP_SEQ), seq);
	/* As libdoor's server does: the reply clears the client's "armed" bit
	 * and leaves the rest of the word, the death watcher's id (none here). */
	atomic_fetch_and((_Atomic uint32_t *)(region + R_REP_WORD), ~(uint32_t)0x80000000);
	futex_wake_all(region + R_REP_WORD);
}

/* ---- The server, the good client, and the checks. ---- */

/* Shared between all processes of a test (mapped before the forks). */
struct shared {
	_Atomic long good_calls;   /* successful, verified calls by the good client */
	_Atomic int stop;          /* the good client stops */
	_Atomic long scribbles;    /* the offender's writes to shared memory */
	_Atomic int hold_done;     /* a held procedure: 1 running, 2 done comparing */
	_Atomic pid_t forked;      /* the server's child ('k'), once past fork */
	char error[256];           /* the good client's failure, if any */
};
static struct shared *sh;
static char door_path[512];
static pid_t server_pid, good_pid;

/* The secret every good call carries: no other client may ever see it. */
#define SECRET "SECRET-OF-THE-GOOD-CLIENT"

/*
 * The test door's procedure. It closes every descriptor it is given (so
 * the server's descriptor count is a pure function of the library), then:
 *  'e' echoes the arguments;
 *  'z' answers "Z" if the bytes after the arguments up to the end of their
 *      page are all zero, else "N";
 *  'h' holds: copies the arguments, waits (at most 20 s) until the offender
 *      has scribbled `scribbles` times on shared memory, and answers "S" if
 *      its arguments are still what they were, else "C";
 *  'b' answers with 70000 bytes 'B' (more than the region holds: the first
 *      such reply goes on the socket with the server's bulk buffer, later
 *      ones are announced in the region, their data in that buffer);
 *  'f' answers "F" with a descriptor (DOOR_RELEASE), so on the socket;
 *  'c' closes descriptor number N (the int after the 'c') with close_range,
 *      as an application's closefrom would, and answers "C";
 *  'k' forks a child that only waits (at most 60 s) and answers its pid;
 *      the child, once past fork (its atfork handlers done), also writes
 *      its pid to sh->forked.
 */
static void hostile_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie;
	for (uint_t i = 0; i < n; i++)
		if (dp[i].d_attributes & DOOR_DESCRIPTOR)
			close(dp[i].d_data.d_desc.d_descriptor);
	if (argp == NULL || argp == DOOR_UNREF_DATA || size == 0)
		door_return(NULL, 0, NULL, 0);
	switch (argp[0]) {
	case 'z': {
		size_t end = (size + 4095) / 4096 * 4096;
		char ok = 'Z';
		for (size_t i = size; i < end; i++)
			if (argp[i] != 0)
				ok = 'N';
		door_return(&ok, 1, NULL, 0);
		break;
	}
	case 'h': {
		char *copy = malloc(size);
		CHECK(copy != NULL);
		memcpy(copy, argp, size);
		atomic_store(&sh->hold_done, 1);
		long want = atomic_load(&sh->scribbles) + 2000;
		double end = now_seconds() + 20;
		while (atomic_load(&sh->scribbles) < want && now_seconds() < end)
			usleep(1000); /* polling with a deadline */
		char verdict = memcmp(copy, argp, size) == 0 ? 'S' : 'C';
		free(copy);
		atomic_store(&sh->hold_done, 2);
		door_return(&verdict, 1, NULL, 0);
		break;
	}
	case 'b': {
		static char big[70000];
		memset(big, 'B', sizeof big);
		door_return(big, sizeof big, NULL, 0);
		break;
	}
	case 'f': {
		door_desc_t d = { .d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE };
		d.d_data.d_desc.d_descriptor = open("/dev/null", O_RDONLY | O_CLOEXEC);
		CHECK(d.d_data.d_desc.d_descriptor >= 0);
		door_return("F", 1, &d, 1);
		break;
	}
	case 'c': {
		int n = -1;
		if (size >= 1 + sizeof n)
			memcpy(&n, argp + 1, sizeof n);
		CHECK(n > 2);
		CHECK_OK(close_range((unsigned)n, (unsigned)n, 0));
		door_return("C", 1, NULL, 0);
		break;
	}
	case 'k': {
		pid_t child = fork();
		CHECK(child >= 0);
		if (child == 0) {
			atomic_store(&sh->forked, getpid());
			alarm(60);
			for (;;)
				pause();
		}
		door_return((char *)&child, sizeof child, NULL, 0);
		break;
	}
	default:
		door_return(argp, size, NULL, 0);
	}
}

static void server_main(void *arg)
{
	struct gate *ready = arg;
	attach_new(door_path, hostile_proc, NULL, 0);
	gate_open(ready);
	for (;;)
		pause();
}

/* One verified call of `len` bytes of pattern `salt` carrying SECRET. */
static int good_call(int d, size_t len, unsigned salt)
{
	static char arg[300000], res[300000];
	for (size_t i = 0; i < len; i++)
		arg[i] = (char)(i * 13 + salt);
	arg[0] = 'e';
	memcpy(arg + 1, SECRET, sizeof SECRET - 1);
	door_arg_t a = { arg, len, NULL, 0, res, sizeof res };
	if (door_call(d, &a) == -1) {
		snprintf(sh->error, sizeof sh->error, "door_call(%zu bytes): %s", len, strerror(errno));
		return -1;
	}
	int ok = a.data_size == len && memcmp(a.data_ptr, arg, len) == 0;
	if (a.rbuf != res)
		munmap(a.rbuf, a.rsize);
	if (!ok)
		snprintf(sh->error, sizeof sh->error, "wrong results for %zu bytes", len);
	return ok ? 0 : -1;
}

/* The well-behaved client: calls without pause (small arguments through
 * the region, large ones through the bulk buffer), and every few calls
 * opens the path afresh, asks door_info, which needs the server's control
 * thread, and attaches the door to a path of its own and detaches it
 * (each of these waits until the server has closed its end of the
 * exchange, which an offender that holds up the server's closes must not
 * make wait long). Any failure ends it with status 1. */
static void good_client(void *arg)
{
	(void)arg;
	char own_path[sizeof door_path + 8];
	snprintf(own_path, sizeof own_path, "%s.good", door_path);
	int f = open(own_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (f < 0)
		_exit(2);
	close(f);
	int d = open(door_path, O_RDONLY);
	if (d < 0)
		_exit(2);
	static const size_t sizes[] = { 1 + sizeof SECRET, 100, 5000, 70000, 200000 };
	for (unsigned i = 0; !atomic_load(&sh->stop); i++) {
		if (good_call(d, sizes[i % 5], i) == -1)
			_exit(1);
		if (i % 5 == 4) {
			int d2 = open(door_path, O_RDONLY);
			door_info_t di;
			if (d2 < 0 || door_info(d2, &di) == -1 || di.di_target != server_pid) {
				snprintf(sh->error, sizeof sh->error, "fresh open/door_info failed: %s", strerror(errno));
				_exit(1);
			}
			if (fattach(d2, own_path) == -1 || fdetach(own_path) == -1) {
				snprintf(sh->error, sizeof sh->error, "fattach/fdetach failed: %s", strerror(errno));
				_exit(1);
			}
			close(d2);
		}
		atomic_fetch_add(&sh->good_calls, 1);
	}
	close(d);
}

static inline int server_fds(void)
{
	return count_fds_of(server_pid);
}

static inline void require_alive(const char *what)
{
	int status;
	if (kill(server_pid, 0) == -1 || waitpid(server_pid, &status, WNOHANG) != 0) {
		fprintf(stderr, "FAIL %s: %s: the server died\n", test_name, what);
		exit(1);
	}
	if (!atomic_load(&sh->stop) && waitpid(good_pid, &status, WNOHANG) != 0) {
		fprintf(stderr, "FAIL %s: %s: the good client failed: %s\n", test_name, what, sh->error);
		exit(1);
	}
}

/* The good client must complete `calls` more calls within `seconds`. */
static inline void require_progress(const char *what, long calls, double seconds)
{
	long from = atomic_load(&sh->good_calls);
	double end = now_seconds() + seconds;
	while (atomic_load(&sh->good_calls) < from + calls) {
		require_alive(what);
		if (now_seconds() > end) {
			fprintf(stderr, "FAIL %s: %s: the good client made %ld calls in %.0f s, wanted %ld\n", test_name, what,
			    atomic_load(&sh->good_calls) - from, seconds, calls);
			exit(1);
		}
		usleep(1000); /* polling with a deadline */
	}
}

/* Whether every thread of the server is stopped. */
static inline int server_stopped(void)
{
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%d/task", (int)server_pid);
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	int all = 1;
	for (struct dirent *e; all && (e = readdir(d)) != NULL;) {
		if (e->d_name[0] == '.')
			continue;
		char path[400], line[512];
		snprintf(path, sizeof path, "%s/%s/stat", dir, e->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue; /* the thread has gone */
		char *close_paren = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
		fclose(f);
		all = close_paren != NULL && (close_paren[2] == 'T' || close_paren[2] == 't');
	}
	closedir(d);
	return all;
}

/* Stops the server (SIGSTOP) and waits until all its threads are stopped:
 * a signal's delivery is not immediate. */
static inline void stop_server(void)
{
	CHECK_OK(kill(server_pid, SIGSTOP));
	double end = now_seconds() + 30;
	while (!server_stopped()) {
		CHECK(now_seconds() < end);
		usleep(1000); /* polling with a deadline */
	}
}

static int fd_baseline, offender_baseline;

/* The server's descriptor count must come back to the baseline. */
static inline void require_baseline(const char *what)
{
	double end = now_seconds() + 30;
	int n;
	while ((n = server_fds()) != fd_baseline) {
		if (now_seconds() > end) {
			fprintf(stderr, "FAIL %s: %s: the server has %d descriptors, %d before\n", test_name, what, n, fd_baseline);
			char cmd[128];
			snprintf(cmd, sizeof cmd, "ls -l /proc/%d/fd >&2", (int)server_pid);
			if (system(cmd) == -1)
				perror("system");
			exit(1);
		}
		usleep(2000); /* polling with a deadline */
	}
}

/* After the abuse: the server lives, the good client goes on, every
 * descriptor the abuse cost the server is released. */
static inline void after(const char *what)
{
	require_alive(what);
	require_progress(what, 5, 60);
	require_baseline(what);
}

/* Starts the server and the good client; the baseline is taken once the
 * good client has made calls of every size (its channel and both bulk
 * buffers exist). */
static inline void hostile_setup(const char *name)
{
	test_name = name;
	watchdog(110);
	signal(SIGPIPE, SIG_IGN);
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(sh != MAP_FAILED);
	snprintf(door_path, sizeof door_path, "%s/door", test_dir());
	struct gate ready;
	gate_init(&ready);
	server_pid = spawn_tied(server_main, &ready);
	gate_wait_within(&ready, 30);
	/* The good client's count comes back when it stops (its door
	 * descriptors closed, its channel gone with its scenario thread). */
	good_pid = spawn_tied_fd_neutral(good_client, NULL);
	require_progress("setup", 12, 60);
	/* The good client goes on opening and closing door descriptors, so
	 * the server's count moves; its resting count is the least seen over
	 * a while (one look could catch an open under way). */
	fd_baseline = least_value(fds_of_probe, &server_pid, 0.3);
	offender_baseline = count_fds();
}

static inline void hostile_teardown(void)
{
	atomic_store(&sh->stop, 1);
	reap_ok_within(good_pid, 30, "good client");
	require_alive("teardown");
	/* The offender (this process) closed every descriptor it opened: not
	 * after each scenario, since some share descriptors (a door descriptor
	 * for many channels, a set of assorted descriptors for several
	 * messages), but at the end. */
	fds_back(offender_baseline, 30, "the offender, at the end");
	kill_and_reap(server_pid);
}

/* `n` descriptors of assorted kinds, all open: pipes, sockets, a
 * directory, memfds, eventfds, /dev/null. The caller closes them. */
static inline void assorted_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		int sv[2];
		switch (i % 6) {
		case 0: CHECK_OK(pipe(sv)); fds[i] = sv[0]; close(sv[1]); break;
		case 1: CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv)); fds[i] = sv[0]; close(sv[1]); break;
		case 2: fds[i] = open("/", O_RDONLY | O_DIRECTORY); break;
		case 3: fds[i] = region_memfd(4096, 0); break;
		case 4: fds[i] = eventfd(0, 0); break;
		default: fds[i] = open("/dev/null", O_RDWR); break;
		}
		CHECK(fds[i] >= 0);
	}
}

static inline void close_all(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

#endif
