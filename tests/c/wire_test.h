/*
 * libdoor's wire protocol as a hostile peer sees it, for tests that send
 * hand-made messages (docs/ARCHITECTURE.md, "Wire protocol"). The values
 * mirror door-compat/src/wire.rs; a Rust unit test there
 * (c_tests_mirror_the_wire) fails if they drift. Include after door_test.h.
 */
#ifndef LIBDOOR_WIRE_TEST_H
#define LIBDOOR_WIRE_TEST_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#define WIRE_MAGIC 0x37524f44
#define WIRE_MSG_LEN 48
#define WIRE_KIND_INFO 2
#define WIRE_KIND_IDENTITY 3
#define WIRE_KIND_DETACH 6
#define WIRE_KIND_OPENED 7
#define WIRE_KIND_CALL 8
#define WIRE_KIND_PARAMS 11
/* A door descriptor's abstract address: this, the uniquifier and a nonce
 * (8 bytes each, little-endian). */
#define WIRE_LABEL_PREFIX "\0libdoor1:"
#define WIRE_STATE_OFF 0
#define WIRE_REQ_VIA_OFF 88
#define WIRE_REP_SEQ_OFF 96
#define WIRE_REP_ERRNO_OFF 104
#define WIRE_REP_SIZE_OFF 112
#define WIRE_REQUEST_OFF 4096
#define WIRE_REPLY_OFF 69632
#define WIRE_REGION_LEN 135168

/* The state word of a call waiting for a server thread. */
#define WIRE_PENDING(seq) ((uint64_t)(seq) << 2 | 1)

struct wire_msg {
	uint32_t magic, kind;
	uint64_t seq, a, b, c;
	uint32_t d, e;
};
_Static_assert(sizeof(struct wire_msg) == WIRE_MSG_LEN, "wire message size");

/* A channel this process's libdoor opened: its socket end and its region. */
struct wire_channel {
	int sock;
	unsigned char *region;
};

/*
 * Finds the channel libdoor opened for this process's only door call so
 * far: the one unnamed SOCK_SEQPACKET socket among its descriptors (door
 * descriptors are named by their label), and the one mapping of a channel
 * memfd (whose descriptor libdoor closed once it was mapped).
 */
static inline struct wire_channel wire_find_channel(void)
{
	struct wire_channel ch = { -1, NULL };
	for (int fd = 0; fd < 1024; fd++) {
		int type;
		socklen_t len = sizeof type;
		struct sockaddr_un addr;
		socklen_t alen = sizeof addr;
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_SEQPACKET &&
		    getsockname(fd, (struct sockaddr *)&addr, &alen) == 0 && alen == sizeof(sa_family_t)) {
			CHECK(ch.sock == -1);
			ch.sock = fd;
		}
	}
	FILE *maps = fopen("/proc/self/maps", "r");
	CHECK(maps != NULL);
	char line[512];
	while (fgets(line, sizeof line, maps) != NULL) {
		unsigned long start, end;
		if (strstr(line, "/memfd:libdoor-channel") != NULL && sscanf(line, "%lx-%lx", &start, &end) == 2) {
			CHECK(ch.region == NULL && end - start == WIRE_REGION_LEN);
			ch.region = (unsigned char *)start;
		}
	}
	fclose(maps);
	CHECK(ch.sock >= 0 && ch.region != NULL);
	return ch;
}

static inline uint64_t *wire_word(const struct wire_channel *ch, size_t off)
{
	return (uint64_t *)(void *)(ch->region + off);
}

/*
 * Sends a hand-made Call `seq` with `n` argument bytes on the channel, the
 * way libdoor's client would, except for what the caller chooses: the
 * credentials stated (`cred`, or none at all when NULL) and the unused
 * fields b and c. Returns sendmsg's result (-1 with errno when the kernel
 * refuses the credentials).
 */
static inline int wire_call(const struct wire_channel *ch, uint64_t seq, const void *arg, size_t n,
    const struct ucred *cred, uint64_t b, uint64_t c)
{
	CHECK(n <= WIRE_REPLY_OFF - WIRE_REQUEST_OFF);
	memcpy(ch->region + WIRE_REQUEST_OFF, arg, n);
	__atomic_store_n((uint32_t *)(void *)(ch->region + WIRE_REQ_VIA_OFF), 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(wire_word(ch, WIRE_STATE_OFF), WIRE_PENDING(seq), __ATOMIC_SEQ_CST);
	struct wire_msg m = { WIRE_MAGIC, WIRE_KIND_CALL, seq, n, b, c, 0, 0 };
	struct iovec iov = { &m, sizeof m };
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} control;
	memset(&control, 0, sizeof control);
	struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (cred != NULL) {
		h.msg_control = control.buf;
		h.msg_controllen = sizeof control.buf;
		struct cmsghdr *cm = CMSG_FIRSTHDR(&h);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_CREDENTIALS;
		cm->cmsg_len = CMSG_LEN(sizeof(struct ucred));
		memcpy(CMSG_DATA(cm), cred, sizeof *cred);
	}
	return sendmsg(ch->sock, &h, MSG_NOSIGNAL) == (ssize_t)sizeof m ? 0 : -1;
}

/*
 * Waits up to `seconds` for the answer to call `seq`: 1 when it came (its
 * errno in *err, up to `n` result bytes copied to `out`, their count in
 * *size), 0 when the server closed the channel instead.
 */
static inline int wire_answer(const struct wire_channel *ch, uint64_t seq, int *err, void *out, size_t n,
    size_t *size, double seconds)
{
	double end = now_seconds() + seconds;
	for (;;) {
		if (__atomic_load_n(wire_word(ch, WIRE_REP_SEQ_OFF), __ATOMIC_SEQ_CST) == seq) {
			*err = (int)__atomic_load_n(wire_word(ch, WIRE_REP_ERRNO_OFF), __ATOMIC_SEQ_CST);
			*size = (size_t)__atomic_load_n(wire_word(ch, WIRE_REP_SIZE_OFF), __ATOMIC_SEQ_CST);
			memcpy(out, ch->region + WIRE_REPLY_OFF, *size < n ? *size : n);
			return 1;
		}
		struct pollfd p = { ch->sock, POLLRDHUP, 0 };
		CHECK(poll(&p, 1, 0) >= 0);
		if (p.revents & (POLLHUP | POLLRDHUP | POLLERR))
			return 0;
		if (now_seconds() > end) {
			fprintf(stderr, "FAIL %s: no answer to hand-made call %llu within %.0f s\n", test_name,
			    (unsigned long long)seq, seconds);
			exit(1);
		}
		/* Polling interval of the deadline loop, not a synchronisation. */
		usleep(1000);
	}
}

#endif
