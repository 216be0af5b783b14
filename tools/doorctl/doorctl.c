/*
 * doorctl: look at libdoor doors from outside, as illumos' pfiles and
 * doorinfo do.
 *
 *   doorctl info PATH          the door attached at PATH (door_info)
 *   doorctl info PID           the doors process PID serves and holds
 *   doorctl list [PID...]      the same for PIDs, or every process we may read
 *   doorctl call [--hex] PATH [DATA]
 *                              calls the door with DATA; dumps the results
 *
 * Exit status: 0 done; 1 a door error (not a door, no such process, the
 * call failed, ...); 2 bad usage. docs/DIAGNOSTICS.md has the details.
 *
 * How a process's doors are found, with nothing published by the library:
 * every door descriptor is a unix socket bound to an abstract name, its
 * label ("\0libdoor1:" + 8 bytes of uniquifier + 8 of nonce); the server
 * holds the other end of each such pair (one per descriptor family); an
 * attachment is a listening socket bound in the stash directory
 * ".<name>.door/" beside the attached path, whose "meta" file names the
 * socket's inode and the door. The kernel's sock_diag interface gives every
 * unix socket's inode, name, peer and bound inode; /proc/<pid>/fd tells
 * which process holds which socket.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_DOOR = 1, EXIT_USAGE = 2 };

static const char usage_text[] =
	"usage: doorctl info PATH|PID\n"
	"       doorctl list [PID...]\n"
	"       doorctl call [--hex] PATH [DATA|-]\n"
	"       doorctl --help\n"
	"\n"
	"  info PATH   describe the door attached at PATH: server, uniquifier,\n"
	"              attributes, procedure and cookie\n"
	"  info PID    the doors process PID serves (with their attachments)\n"
	"              and the door descriptors it holds; same as list PID\n"
	"  list        the same for each PID, or for every process you may read\n"
	"  call        call the door at PATH with DATA (a string; with --hex,\n"
	"              hexadecimal digits; '-': standard input; none: no data)\n"
	"              and print the results as a hex dump, and any descriptors\n"
	"\n"
	"A PID is all digits; write ./123 for a file named 123.\n"
	"Exit status: 0 done, 1 door error, 2 bad usage.\n";

static int usage(void)
{
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

/* Prints "doorctl: what: reason" and gives the door-error status. */
static int fail(const char *what, int err)
{
	fprintf(stderr, "doorctl: %s: %s\n", what, strerror(err));
	return EXIT_DOOR;
}

static int is_pid(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* The command name of process `pid` ("?" if it cannot be read). */
static const char *comm_of(pid_t pid, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	snprintf(buf, size, "?");
	FILE *f = fopen(path, "r");
	if (!f)
		return buf;
	if (fgets(buf, (int)size, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
	return buf;
}

/* The attribute bits door_info reports, by name. */
static void print_attributes(unsigned a)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ DOOR_UNREF, "DOOR_UNREF" }, { DOOR_PRIVATE, "DOOR_PRIVATE" },
		{ DOOR_LOCAL, "DOOR_LOCAL" }, { DOOR_REVOKED, "DOOR_REVOKED" },
		{ DOOR_UNREF_MULTI, "DOOR_UNREF_MULTI" }, { DOOR_IS_UNREF, "DOOR_IS_UNREF" },
		{ DOOR_REFUSE_DESC, "DOOR_REFUSE_DESC" }, { DOOR_NO_CANCEL, "DOOR_NO_CANCEL" },
		{ DOOR_NO_DEPLETION_CB, "DOOR_NO_DEPLETION_CB" }, { DOOR_PRIVCREATE, "DOOR_PRIVCREATE" },
	};
	printf("attributes: 0x%x", a);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (a & names[i].bit)
			printf(" %s", names[i].name);
	printf("\n");
}

/* "door to prog[pid]" or "door to nobody (server gone)". */
static void print_server(pid_t pid)
{
	char comm[64];
	if (pid == -1)
		printf("server: none (the server is gone)\n");
	else
		printf("server: %s[%d]\n", comm_of(pid, comm, sizeof comm), (int)pid);
}

static void print_door_info(const door_info_t *di)
{
	print_server(di->di_target);
	printf("uniquifier: 0x%016" PRIx64 "\n", (uint64_t)di->di_uniquifier);
	print_attributes(di->di_attributes);
	printf("procedure: 0x%" PRIx64 "\n", (uint64_t)di->di_proc);
	printf("cookie: 0x%" PRIx64 "\n", (uint64_t)di->di_data);
}

/* Opens the door at `path` and describes it in *di; -1 after printing why not. */
static int open_door(const char *path, door_info_t *di)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail(path, errno);
		return -1;
	}
	if (door_info(fd, di) != 0) {
		fprintf(stderr, "doorctl: %s: not a door\n", path);
		close(fd);
		return -1;
	}
	return fd;
}

static int info_path(const char *path)
{
	door_info_t di;
	int fd = open_door(path, &di);
	if (fd < 0)
		return EXIT_DOOR;
	printf("path: %s\n", path);
	print_door_info(&di);
	close(fd);
	return EXIT_OK;
}

/* ------------------------------------------------------------------------
 * The machine's unix sockets (sock_diag) and who holds them (/proc).
 */

struct sock {
	uint32_t ino, peer, vfs_ino;
	dev_t vfs_dev;
	uint8_t state;
	uint16_t name_len;
	char name[108];
};

struct holder {
	uint32_t ino;
	pid_t pid;
	int fd;
};

static struct sock *socks;
static size_t nsocks;
static struct holder *holders;
static size_t nholders;

static int by_ino(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static int by_fd(const void *a, const void *b)
{
	int x = ((const struct holder *)a)->fd, y = ((const struct holder *)b)->fd;
	return (x > y) - (x < y);
}

static const struct sock *sock_of(uint32_t ino)
{
	return ino ? bsearch(&ino, socks, nsocks, sizeof *socks, by_ino) : NULL;
}

static void *grow(void *p, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? 2 * *cap : 256;
	p = realloc(p, *cap * size);
	if (!p) {
		perror("doorctl");
		exit(EXIT_DOOR);
	}
	return p;
}

static void add_sock(const struct unix_diag_msg *m, size_t len)
{
	static size_t cap;
	socks = grow(socks, nsocks, &cap, sizeof *socks);
	struct sock *s = &socks[nsocks++];
	memset(s, 0, sizeof *s);
	s->ino = m->udiag_ino;
	s->state = m->udiag_state;
	size_t left = len - NLMSG_ALIGN(sizeof *m);
	for (const struct rtattr *a = (const void *)(m + 1); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
		size_t n = RTA_PAYLOAD(a);
		if (a->rta_type == UNIX_DIAG_NAME) {
			s->name_len = (uint16_t)(n < sizeof s->name ? n : sizeof s->name);
			memcpy(s->name, RTA_DATA(a), s->name_len);
		} else if (a->rta_type == UNIX_DIAG_PEER && n >= 4) {
			memcpy(&s->peer, RTA_DATA(a), 4);
		} else if (a->rta_type == UNIX_DIAG_VFS && n >= sizeof(struct unix_diag_vfs)) {
			struct unix_diag_vfs v;
			memcpy(&v, RTA_DATA(a), sizeof v);
			s->vfs_ino = v.udiag_vfs_ino;
			/* The kernel's internal encoding: 12 bits of major, 20 of minor. */
			s->vfs_dev = makedev(v.udiag_vfs_dev >> 20, v.udiag_vfs_dev & 0xfffff);
		}
	}
}

/* Reads every unix socket of this network namespace. */
static int load_sockets(void)
{
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return fail("sock_diag", errno);
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} q = {
		.nlh = { .nlmsg_len = sizeof q, .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = AF_UNIX, .udiag_states = ~0u,
			 .udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_VFS },
	};
	if (send(nl, &q, sizeof q, 0) != (ssize_t)sizeof q)
		return fail("sock_diag", errno);
	static char buf[65536] __attribute__((aligned(NLMSG_ALIGNTO)));
	for (;;) {
		ssize_t n = recv(nl, buf, sizeof buf, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fail("sock_diag", n < 0 ? errno : EPROTO);
		size_t left = (size_t)n;
		for (const struct nlmsghdr *h = (const void *)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				close(nl);
				qsort(socks, nsocks, sizeof *socks, by_ino);
				return EXIT_OK;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				return fail("sock_diag (is the unix_diag module loaded?)", -e->error);
			}
			if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
				add_sock(NLMSG_DATA(h), h->nlmsg_len - NLMSG_HDRLEN);
		}
	}
}

/* Records the sockets process `pid` holds; the errno of /proc/<pid>/fd if it cannot be read. */
static int load_holder(pid_t pid)
{
	static size_t cap;
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return errno;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!is_pid(e->d_name))
			continue;
		char target[64];
		ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof target - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		unsigned long ino;
		if (sscanf(target, "socket:[%lu]", &ino) != 1)
			continue;
		holders = grow(holders, nholders, &cap, sizeof *holders);
		holders[nholders++] = (struct holder){ (uint32_t)ino, pid, atoi(e->d_name) };
	}
	closedir(d);
	return 0;
}

/* Records the sockets of every process we may read. */
static void load_holders(void)
{
	DIR *d = opendir("/proc");
	if (!d) {
		perror("doorctl: /proc");
		exit(EXIT_DOOR);
	}
	struct dirent *e;
	while ((e = readdir(d)))
		if (is_pid(e->d_name))
			load_holder(atoi(e->d_name));
	closedir(d);
	qsort(holders, nholders, sizeof *holders, by_ino);
}

/* A process holding socket `ino`, or -1 if none we may read. */
static pid_t holder_of(uint32_t ino)
{
	const struct holder *h = bsearch(&ino, holders, nholders, sizeof *holders, by_ino);
	return h ? h->pid : -1;
}

/* The door a socket's name labels it with: 1 and *uniq, or 0. */
static int label_of(const struct sock *s, uint64_t *uniq)
{
	static const char prefix[] = "\0libdoor1:";
	size_t plen = sizeof prefix - 1;
	if (!s || s->name_len != plen + 16 || memcmp(s->name, prefix, plen) != 0)
		return 0;
	memcpy(uniq, s->name + plen, 8); /* little-endian, as x86_64 */
	return 1;
}

/*
 * If listening socket `s` is an attachment: 1, its attached path in
 * `path`, its door in *uniq. Its name is "<dir>/.<name>.door/sock" (where
 * fattach bound it before renaming it over <dir>/<name>), and the stash's
 * meta must name the socket's inode.
 */
static int attachment_of(const struct sock *s, char *path, size_t size, uint64_t *uniq)
{
	if (s->state != 10 /* TCP_LISTEN */ || s->name_len == 0 || s->name[0] != '/')
		return 0;
	char name[sizeof s->name + 1];
	memcpy(name, s->name, s->name_len);
	name[s->name_len] = 0;
	char *stash_end = strstr(name, ".door/sock");
	char *base = strrchr(name, '/');
	if (!stash_end || stash_end[sizeof ".door/sock" - 1] != 0 || !base)
		return 0;
	char meta_path[sizeof name + 8];
	snprintf(meta_path, sizeof meta_path, "%.*s/meta", (int)(stash_end + 5 - name), name);
	FILE *f = fopen(meta_path, "r");
	if (!f)
		return 0;
	unsigned long long dev, ino;
	unsigned mode, uid, gid;
	int ok = fscanf(f, "libdoor-attachment 1\ndev %llu\nino %llu\nmode %o\nuid %u\ngid %u\nuniq %" SCNx64,
			&dev, &ino, &mode, &uid, &gid, uniq) == 6;
	fclose(f);
	if (!ok || ino != s->vfs_ino || dev != s->vfs_dev)
		return 0;
	/* <dir>/.<name>.door/sock -> <dir>/<name> */
	char *slash = memrchr(name, '/', (size_t)(stash_end - name));
	if (!slash || slash[1] != '.')
		return 0;
	snprintf(path, size, "%.*s/%.*s", (int)(slash - name), name, (int)(stash_end - slash - 2), slash + 2);
	return 1;
}

/* One door a process serves: its descriptor families and attachments. */
struct served {
	uint64_t uniq;
	int families;
};

/* Prints what process `pid` serves and holds; 1 if it has anything to do with doors. */
static int list_process(pid_t pid, int always)
{
	struct served *served = NULL;
	size_t nserved = 0, served_cap = 0;
	char comm[64];
	int header = 0;
	/* The process's sockets, in descriptor order. */
	struct holder *mine = NULL;
	size_t nmine = 0, cap = 0;
	for (size_t i = 0; i < nholders; i++)
		if (holders[i].pid == pid) {
			mine = grow(mine, nmine, &cap, sizeof *mine);
			mine[nmine++] = holders[i];
		}
	qsort(mine, nmine, sizeof *mine, by_fd);

	/* Served doors: the far ends of door descriptors, and attachments. */
	for (size_t i = 0; i < nmine; i++) {
		const struct sock *s = sock_of(mine[i].ino);
		uint64_t uniq;
		if (!s || label_of(s, &uniq) || !label_of(sock_of(s->peer), &uniq))
			continue;
		size_t j = 0;
		while (j < nserved && served[j].uniq != uniq)
			j++;
		if (j == nserved) {
			served = grow(served, nserved, &served_cap, sizeof *served);
			served[nserved++] = (struct served){ uniq, 0 };
		}
		served[j].families++;
	}
	if (nserved || always) {
		printf("%d: %s\n", (int)pid, comm_of(pid, comm, sizeof comm));
		header = 1;
	}
	for (size_t j = 0; j < nserved; j++) {
		printf("  serves door 0x%016" PRIx64 " (%d descriptor famil%s)\n", served[j].uniq,
		       served[j].families, served[j].families == 1 ? "y" : "ies");
		for (size_t i = 0; i < nmine; i++) {
			const struct sock *s = sock_of(mine[i].ino);
			char path[PATH_MAX];
			uint64_t uniq;
			if (s && attachment_of(s, path, sizeof path, &uniq) && uniq == served[j].uniq)
				printf("    attached at %s\n", path);
		}
	}
	/* Held door descriptors, pfiles-style. */
	for (size_t i = 0; i < nmine; i++) {
		const struct sock *s = sock_of(mine[i].ino);
		uint64_t uniq;
		if (!label_of(s, &uniq))
			continue;
		if (!header) {
			printf("%d: %s\n", (int)pid, comm_of(pid, comm, sizeof comm));
			header = 1;
		}
		printf("  fd %d: door 0x%016" PRIx64, mine[i].fd, uniq);
		pid_t server = s->peer ? holder_of(s->peer) : -1;
		if (!s->peer)
			printf(" (the server is gone)\n");
		else if (server == -1)
			printf(" to a process you may not read\n");
		else
			printf(" to %s[%d]\n", comm_of(server, comm, sizeof comm), (int)server);
	}
	free(mine);
	free(served);
	return header;
}

static int list(int npids, char **pids)
{
	int r = load_sockets();
	if (r != EXIT_OK)
		return r;
	load_holders();
	if (npids == 0) {
		DIR *d = opendir("/proc");
		struct dirent *e;
		/* In /proc's order, which is by pid. */
		while (d && (e = readdir(d)))
			if (is_pid(e->d_name))
				list_process(atoi(e->d_name), 0);
		if (d)
			closedir(d);
		return EXIT_OK;
	}
	int status = EXIT_OK;
	for (int i = 0; i < npids; i++) {
		pid_t pid = atoi(pids[i]);
		char dir[64];
		snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
		if (access(dir, R_OK) != 0) {
			status = fail(pids[i], errno == ENOENT ? ESRCH : errno);
			continue;
		}
		list_process(pid, 1);
	}
	return status;
}

/* ------------------------------------------------------------------------
 * call
 */

static int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes hex digits (spaces allowed between bytes) in place; -1 if malformed. */
static ssize_t unhex(char *s)
{
	size_t n = 0;
	for (char *p = s; *p;) {
		if (isspace((unsigned char)*p)) {
			p++;
			continue;
		}
		int hi = hex_digit(p[0]), lo = hi < 0 ? -1 : hex_digit(p[1]);
		if (lo < 0)
			return -1;
		s[n++] = (char)(hi << 4 | lo);
		p += 2;
	}
	return (ssize_t)n;
}

/* Reads all of standard input into a malloc'd buffer, NUL-terminated; NULL on error. */
static char *read_stdin(size_t *len)
{
	char *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		buf = grow(buf, n + 1, &cap, 1);
		ssize_t k = read(0, buf + n, cap - n - 1);
		if (k == 0)
			break;
		if (k < 0 && errno != EINTR) {
			free(buf);
			return NULL;
		}
		if (k > 0)
			n += (size_t)k;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

/* 16 bytes a line: offset, hex, and the printable ASCII between bars. */
static void hexdump(const unsigned char *p, size_t n)
{
	for (size_t off = 0; off < n; off += 16) {
		printf("%08zx ", off);
		for (size_t i = 0; i < 16; i++) {
			if (i == 8)
				printf(" ");
			if (off + i < n)
				printf(" %02x", p[off + i]);
			else
				printf("   ");
		}
		printf("  |");
		for (size_t i = 0; i < 16 && off + i < n; i++)
			putchar(isprint(p[off + i]) ? p[off + i] : '.');
		printf("|\n");
	}
}

/* One descriptor that came with the results. */
static void print_descriptor(size_t i, const door_desc_t *d)
{
	if (!(d->d_attributes & DOOR_DESCRIPTOR)) {
		printf("descriptor %zu: attributes 0x%x, not a descriptor\n", i, d->d_attributes);
		return;
	}
	int fd = d->d_data.d_desc.d_descriptor;
	door_info_t di;
	printf("descriptor %zu: fd %d", i, fd);
	if (door_info(fd, &di) == 0) {
		char comm[64];
		printf(", door 0x%016" PRIx64, (uint64_t)di.di_uniquifier);
		if (di.di_target == -1)
			printf(" (the server is gone)\n");
		else
			printf(" to %s[%d]\n", comm_of(di.di_target, comm, sizeof comm), (int)di.di_target);
		return;
	}
	char link[64], target[PATH_MAX];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof target - 1);
	printf(", %.*s\n", n > 0 ? (int)n : 1, n > 0 ? target : "?");
}

static int call(int argc, char **argv)
{
	int hex = 0;
	if (argc > 0 && strcmp(argv[0], "--hex") == 0) {
		hex = 1;
		argc--, argv++;
	}
	if (argc < 1 || argc > 2)
		return usage();
	char *data = argc == 2 ? argv[1] : NULL;
	size_t len = 0;
	if (data && strcmp(data, "-") == 0) {
		if (!(data = read_stdin(&len)))
			return fail("standard input", errno);
	} else if (data) {
		len = strlen(data);
	}
	if (data && hex) {
		ssize_t n = unhex(data);
		if (n < 0) {
			fprintf(stderr, "doorctl: --hex: not pairs of hexadecimal digits\n");
			return usage();
		}
		len = (size_t)n;
	}
	door_info_t di;
	int fd = open_door(argv[0], &di);
	if (fd < 0)
		return EXIT_DOOR;
	char rbuf[4096];
	door_arg_t a = { data, len, NULL, 0, rbuf, sizeof rbuf };
	if (door_call(fd, &a) != 0)
		return fail("door_call", errno);
	printf("result: %zu byte%s, %u descriptor%s\n", a.data_size, a.data_size == 1 ? "" : "s", a.desc_num,
	       a.desc_num == 1 ? "" : "s");
	hexdump((const unsigned char *)a.data_ptr, a.data_size);
	for (unsigned i = 0; i < a.desc_num; i++)
		print_descriptor(i, &a.desc_ptr[i]);
	if (a.rbuf != rbuf)
		munmap(a.rbuf, a.rsize);
	close(fd);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		return EXIT_OK;
	}
	if (strcmp(cmd, "info") == 0) {
		if (argc != 3)
			return usage();
		return is_pid(argv[2]) ? list(1, &argv[2]) : info_path(argv[2]);
	}
	if (strcmp(cmd, "list") == 0) {
		for (int i = 2; i < argc; i++)
			if (!is_pid(argv[i]))
				return usage();
		return list(argc - 2, &argv[2]);
	}
	if (strcmp(cmd, "call") == 0)
		return call(argc - 2, &argv[2]);
	fprintf(stderr, "doorctl: unknown command '%s'\n", cmd);
	return usage();
}
