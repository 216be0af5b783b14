/* Descriptor passing: files, pipes and doors in both directions, DOOR_RELEASE,
 * d_id, DOOR_REFUSE_DESC, more descriptors than one SCM_RIGHTS message holds,
 * and the 1024 limit. */
#include "common.h"
#include <sys/socket.h>

static int inner_door;

/* The inner door's procedure: answers "inner". */
static void inner_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	door_return("inner", 5, NULL, 0);
}

/* Protocol: 'r' read one byte from each passed fd and close them, answer the
 * bytes; 'd' return the inner door (and a pipe read end) as descriptors;
 * 'n' report how many descriptors came and close them. */
static void outer_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)size;
	static char out[2048];
	static door_desc_t ret[2];
	switch (argp ? argp[0] : 0) {
	case 'r': {
		uint_t i;
		for (i = 0; i < n; i++) {
			/* (Not close-on-exec, as on illumos: '!' if it is.) */
			if (!(dp[i].d_attributes & DOOR_DESCRIPTOR) || read(dp[i].d_data.d_desc.d_descriptor, &out[i], 1) != 1)
				out[i] = '?';
			else if (fcntl(dp[i].d_data.d_desc.d_descriptor, F_GETFD) != 0)
				out[i] = '!';
			close(dp[i].d_data.d_desc.d_descriptor);
		}
		door_return(out, n, NULL, 0);
		break;
	}
	case 'd': {
		int p[2];
		if (pipe(p) != 0 || write(p[1], "P", 1) != 1)
			door_return(NULL, 0, NULL, 0);
		close(p[1]);
		ret[0].d_attributes = DOOR_DESCRIPTOR;
		ret[0].d_data.d_desc.d_descriptor = inner_door;
		ret[1].d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
		ret[1].d_data.d_desc.d_descriptor = p[0];
		door_return("two", 3, ret, 2);
		break;
	}
	case 'c': { /* call the door passed in, answer what it said */
		static char said[16];
		door_arg_t a = { NULL, 0, NULL, 0, said, sizeof said };
		int ok = n == 1 && (dp[0].d_attributes & DOOR_LOCAL) && door_call(dp[0].d_data.d_desc.d_descriptor, &a) == 0;
		if (n == 1)
			close(dp[0].d_data.d_desc.d_descriptor);
		door_return(ok ? a.data_ptr : "fail", ok ? a.data_size : 4, NULL, 0);
		break;
	}
	case 'n': {
		int len = snprintf(out, sizeof out, "%u", n);
		for (uint_t i = 0; i < n; i++)
			close(dp[i].d_data.d_desc.d_descriptor);
		door_return(out, len, NULL, 0);
		break;
	}
	}
	door_return(NULL, 0, NULL, 0);
}

static char path[512], refuse_path[512];

static void client(void *arg)
{
	(void)arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	char rbuf[4096];

	/* A socket travels too: the server reads from its copy. */
	int sp[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
	CHECK(write(sp[1], "S", 1) == 1);
	door_desc_t sd = { DOOR_DESCRIPTOR | DOOR_RELEASE, { { sp[0], 0 } } };
	door_arg_t sa = { "r", 1, &sd, 1, rbuf, sizeof rbuf };
	CHECK_OK(door_call(fd, &sa));
	CHECK(sa.data_size == 1 && sa.data_ptr[0] == 'S');
	CHECK(fcntl(sp[0], F_GETFD) == -1 && errno == EBADF);
	close(sp[1]);

	/* Pass a pipe and a regular file; DOOR_RELEASE closes our copy. */
	int p[2];
	CHECK_OK(pipe(p));
	CHECK(write(p[1], "A", 1) == 1);
	char fpath[600];
	snprintf(fpath, sizeof fpath, "%s.file", path);
	int f = open(fpath, O_CREAT | O_RDWR | O_TRUNC, 0600);
	CHECK(f >= 0 && write(f, "B", 1) == 1 && lseek(f, 0, SEEK_SET) == 0);
	door_desc_t d[2];
	d[0].d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
	d[0].d_data.d_desc.d_descriptor = p[0];
	d[1].d_attributes = DOOR_DESCRIPTOR;
	d[1].d_data.d_desc.d_descriptor = f;
	door_arg_t a = { "r", 1, d, 2, rbuf, sizeof rbuf };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_size == 2 && memcmp(a.data_ptr, "AB", 2) == 0);
	CHECK(fcntl(p[0], F_GETFD) == -1 && errno == EBADF); /* released */
	CHECK(fcntl(f, F_GETFD) != -1);                      /* kept */
	/* Same open file description: the server's read moved our offset. */
	CHECK(lseek(f, 0, SEEK_CUR) == 1);
	close(f);
	close(p[1]);

	/* Receive a door and a pipe: they land in rbuf after the data, at the
	 * lowest free numbers; the door has d_id == its uniquifier and works. */
	int low = dup(0);
	close(low);
	a = (door_arg_t){ "d", 1, NULL, 0, rbuf, sizeof rbuf };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_size == 3 && a.desc_num == 2);
	CHECK((char *)a.desc_ptr == rbuf + 24); /* roundup(3, sizeof(door_desc_t)) */
	door_desc_t got[2];
	memcpy(got, a.desc_ptr, sizeof got);
	int door_fd = got[0].d_data.d_desc.d_descriptor, pipe_fd = got[1].d_data.d_desc.d_descriptor;
	CHECK(door_fd == low);
	CHECK(got[0].d_attributes & DOOR_DESCRIPTOR);
	CHECK(!(got[0].d_attributes & DOOR_LOCAL));
	door_info_t di;
	CHECK_OK(door_info(door_fd, &di));
	CHECK(got[0].d_data.d_desc.d_id == di.di_uniquifier && di.di_uniquifier != 0);
	CHECK(got[1].d_attributes == DOOR_DESCRIPTOR);
	CHECK(fcntl(door_fd, F_GETFD) == 0 && fcntl(pipe_fd, F_GETFD) == 0); /* not close-on-exec */
	char c;
	CHECK(read(pipe_fd, &c, 1) == 1 && c == 'P');
	a = (door_arg_t){ NULL, 0, NULL, 0, rbuf, sizeof rbuf };
	CHECK_OK(door_call(door_fd, &a));
	CHECK(a.data_size == 5 && memcmp(a.data_ptr, "inner", 5) == 0);
	/* A door we received can be passed on: back to its own server, which
	 * sees it as DOOR_LOCAL and can call it. */
	door_desc_t back = { DOOR_DESCRIPTOR, { { door_fd, 0 } } };
	a = (door_arg_t){ "c", 1, &back, 1, rbuf, sizeof rbuf };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_size == 5 && memcmp(a.data_ptr, "inner", 5) == 0);
	close(door_fd);
	close(pipe_fd);

	/* Descriptors overflow rbuf into the mapping too. */
	a = (door_arg_t){ "d", 1, NULL, 0, rbuf, 8 };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.rbuf != rbuf && a.desc_num == 2 && (char *)a.desc_ptr == a.rbuf + 24);
	memcpy(got, a.desc_ptr, sizeof got);
	close(got[0].d_data.d_desc.d_descriptor);
	close(got[1].d_data.d_desc.d_descriptor);
	CHECK_OK(munmap(a.rbuf, a.rsize));

	/* 600 descriptors: more than one SCM_RIGHTS message carries. */
	static door_desc_t many[1025];
	int devnull = open("/dev/null", O_RDONLY);
	CHECK(devnull >= 0);
	for (int i = 0; i < 1025; i++) {
		many[i].d_attributes = DOOR_DESCRIPTOR;
		many[i].d_data.d_desc.d_descriptor = devnull;
	}
	a = (door_arg_t){ "n", 1, many, 600, rbuf, sizeof rbuf };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_size == 3 && memcmp(a.data_ptr, "600", 3) == 0);
	a = (door_arg_t){ "n", 1, many, 1025, rbuf, sizeof rbuf };
	CHECK_ERR(door_call(fd, &a), E2BIG);
	/* A bad descriptor: EINVAL. */
	many[0].d_attributes = 0;
	a = (door_arg_t){ "n", 1, many, 1, rbuf, sizeof rbuf };
	CHECK_ERR(door_call(fd, &a), EINVAL);

	/* DOOR_REFUSE_DESC: ENOTSUP, and a DOOR_RELEASE descriptor survives. */
	int rfd = open(refuse_path, O_RDONLY);
	CHECK(rfd >= 0);
	d[0].d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
	d[0].d_data.d_desc.d_descriptor = devnull;
	a = (door_arg_t){ "n", 1, d, 1, rbuf, sizeof rbuf };
	CHECK_ERR(door_call(rfd, &a), ENOTSUP);
	CHECK(fcntl(devnull, F_GETFD) != -1);
	/* Results from a DOOR_REFUSE_DESC door may still carry descriptors. */
	a = (door_arg_t){ "d", 1, NULL, 0, rbuf, sizeof rbuf };
	CHECK_OK(door_call(rfd, &a));
	CHECK(a.desc_num == 2);
	close(a.desc_ptr[0].d_data.d_desc.d_descriptor);
	close(a.desc_ptr[1].d_data.d_desc.d_descriptor);
	close(rfd);
	close(devnull);
	close(fd);
}

int main(void)
{
	test_name = "desc_passing";
	char *dir = test_dir();
	snprintf(path, sizeof path, "%s/door", dir);
	snprintf(refuse_path, sizeof refuse_path, "%s/refuse", dir);
	make_file(path, 0644);
	make_file(refuse_path, 0644);
	inner_door = door_create(inner_proc, NULL, 0);
	CHECK(inner_door >= 0);
	int d = door_create(outer_proc, NULL, 0);
	int r = door_create(outer_proc, NULL, DOOR_REFUSE_DESC);
	CHECK(d >= 0 && r >= 0);
	CHECK_OK(fattach(d, path));
	CHECK_OK(fattach(r, refuse_path));
	int before = count_fds();
	reap_ok(spawn_fd_neutral(client, NULL));
	/* Everything the client held here is let go (its channels, the door
	 * ends of its descriptors, what it passed); but the pool thread that
	 * served 'c' called the inner door, and keeps that channel for its
	 * next call, as every thread does: both its ends are ours, two
	 * descriptors. */
	fds_back(before + 2, 10, "server after the client");
	CHECK_OK(fdetach(path));
	CHECK_OK(fdetach(refuse_path));
	PASS();
}
