/*
 * A C door client for the Rust server of the tests (common::rust_server in
 * tests/common/mod.rs), written against the illumos API as any C client
 * would be. Usage: interop_client PATH SERVER_PID DOOR_ID. Exits 0 when
 * every check passed.
 */
#include "common.h"

#include <inttypes.h>

/* Calls `d` with `arg`; results in `rbuf` (replaced when they do not fit). */
static void call(int d, door_arg_t *a, const char *arg, char *rbuf, size_t rsize)
{
	a->data_ptr = (char *)arg;
	a->data_size = strlen(arg);
	a->desc_ptr = NULL;
	a->desc_num = 0;
	a->rbuf = rbuf;
	a->rsize = rsize;
	CHECK_OK(door_call(d, a));
}

static void expect_contents(int fd, const char *want)
{
	char buf[64] = { 0 };
	ssize_t n = read(fd, buf, sizeof buf - 1);
	CHECK(n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0);
}

int main(int argc, char **argv)
{
	test_name = "interop_client";
	CHECK(argc == 4);
	alarm(60); /* a hung test ends */
	int d = open(argv[1], O_RDONLY);
	CHECK(d >= 0);
	struct stat st;
	CHECK_OK(fstat(d, &st));
	CHECK(S_ISDOOR(st.st_mode));

	door_info_t info;
	CHECK_OK(door_info(d, &info));
	CHECK(info.di_target == atoi(argv[2]));
	CHECK(info.di_uniquifier == strtoull(argv[3], NULL, 10));
	CHECK((info.di_attributes & (DOOR_LOCAL | DOOR_REVOKED)) == 0);

	door_arg_t a;
	char rbuf[256];
	call(d, &a, "echo:hello from C", rbuf, sizeof rbuf);
	CHECK(a.rbuf == rbuf && a.data_ptr == rbuf && a.data_size == 12 && memcmp(rbuf, "hello from C", 12) == 0);

	/* Too large for rbuf: a new mapping, ours to unmap. */
	call(d, &a, "big:1048576", rbuf, sizeof rbuf);
	CHECK(a.rbuf != rbuf && a.data_size == 1048576 && a.rsize >= a.data_size);
	for (size_t i = 0; i < a.data_size; i++)
		CHECK((unsigned char)a.data_ptr[i] == i % 251);
	CHECK_OK(munmap(a.rbuf, a.rsize));

	/* Descriptors both ways: a pipe's write end given away (DOOR_RELEASE),
	 * a memfd lent; back come a pipe's read end and a file. */
	int p[2];
	CHECK_OK(pipe(p));
	int m = memfd_create("client", 0);
	CHECK(m >= 0);
	CHECK(write(m, "from C client", 13) == 13);
	CHECK(lseek(m, 0, SEEK_SET) == 0);
	door_desc_t out[2];
	out[0].d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
	out[0].d_data.d_desc.d_descriptor = p[1];
	out[1].d_attributes = DOOR_DESCRIPTOR;
	out[1].d_data.d_desc.d_descriptor = m;
	a.data_ptr = "fds";
	a.data_size = 3;
	a.desc_ptr = out;
	a.desc_num = 2;
	a.rbuf = rbuf;
	a.rsize = sizeof rbuf;
	CHECK_OK(door_call(d, &a));
	CHECK(a.data_size == 13 && memcmp(a.data_ptr, "from C client", 13) == 0);
	CHECK(a.desc_num == 3 && a.rbuf == rbuf);
	/* "hello" then end of file: the server closed its copy, DOOR_RELEASE ours. */
	char buf[16];
	CHECK(read(p[0], buf, sizeof buf) == 5 && memcmp(buf, "hello", 5) == 0);
	CHECK(read(p[0], buf, sizeof buf) == 0);
	CHECK(fcntl(m, F_GETFD) >= 0);
	door_desc_t back[3];
	memcpy(back, a.desc_ptr, sizeof back);
	CHECK(back[0].d_attributes & DOOR_DESCRIPTOR);
	/* Both ends of the server's pipe: end of file once we close the write
	 * end, as the server gave its copies away. */
	close(back[1].d_data.d_desc.d_descriptor);
	expect_contents(back[0].d_data.d_desc.d_descriptor, "from server");
	CHECK(read(back[0].d_data.d_desc.d_descriptor, buf, sizeof buf) == 0);
	expect_contents(back[2].d_data.d_desc.d_descriptor, "server file");

	/* The caller, as the server's kernel saw it. */
	char pid[32];
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	call(d, &a, "pid", rbuf, sizeof rbuf);
	CHECK(a.data_size == strlen(pid) && memcmp(a.data_ptr, pid, a.data_size) == 0);

	/* No arguments and no results accepted: the server's answer is dropped. */
	CHECK_OK(door_call(d, NULL));

	/* A procedure that panics: EINTR, and the server goes on. */
	a.data_ptr = "panic";
	a.data_size = 5;
	a.desc_num = 0;
	a.rbuf = rbuf;
	a.rsize = sizeof rbuf;
	CHECK_ERR(door_call(d, &a), EINTR);
	call(d, &a, "echo:again", rbuf, sizeof rbuf);
	CHECK(a.data_size == 5 && memcmp(a.data_ptr, "again", 5) == 0);
	printf("client: all checks passed\n");
	return 0;
}
