/* door_call's argument and result rules, server and client in separate
 * processes: results in rbuf, the overflow mapping, NULL params, rbuf NULL,
 * in-place buffers, argp NULL for size 0, the data_ptr/desc_ptr quirks, and
 * a 64 MiB argument. */
#include "common.h"

#define BIG (64u << 20)

/* Echo protocol: first byte selects what the server returns. */
static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)dp; (void)n;
	if (argp == NULL) {
		/* No arguments: report that argp was NULL, unless params was NULL
		 * (then nothing may be returned). */
		door_return(cookie == (void *)1 ? NULL : NULL, 0, NULL, 0);
	}
	switch (argp[0]) {
	case 'e': /* echo */
		door_return(argp, size, NULL, 0);
		break;
	case 'z': /* return nothing */
		door_return(NULL, 0, NULL, 0);
		break;
	case 'b': { /* return n bytes of a pattern, n in the argument */
		size_t want;
		memcpy(&want, argp + 1, sizeof want);
		char *buf = malloc(want);
		for (size_t i = 0; i < want; i++)
			buf[i] = (char)(i * 7 + 3);
		/* The buffer is freed... never: door_return does not return. Use
		 * a static buffer instead to stay leak-free. */
		static char *keep;
		free(keep);
		keep = buf;
		door_return(buf, want, NULL, 0);
		break;
	}
	case 's': { /* sum of a big argument */
		unsigned long long sum = 0;
		for (size_t i = 0; i < size; i++)
			sum += (unsigned char)argp[i];
		char out[32];
		int len = snprintf(out, sizeof out, "%llu:%zu", sum, size);
		door_return(out, len, NULL, 0);
		break;
	}
	}
	door_return(NULL, 0, NULL, 0);
}

static char path[512];

/* This process's mapped size (VmSize), in KiB. */
static long vm_size_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	CHECK(f != NULL);
	char line[256];
	long kb = -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "VmSize:", 7) == 0)
			kb = atol(line + 7);
	fclose(f);
	CHECK(kb > 0);
	return kb;
}

static void client(void *arg)
{
	(void)arg;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);

	/* Small results land in rbuf; data_ptr == rbuf, rbuf/rsize unchanged. */
	char rbuf[64], msg[] = "ehello";
	door_arg_t a = { msg, sizeof msg, NULL, 0, rbuf, sizeof rbuf };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_ptr == rbuf && a.rbuf == rbuf && a.rsize == sizeof rbuf);
	CHECK(a.data_size == sizeof msg && memcmp(rbuf, msg, sizeof msg) == 0);
	CHECK(a.desc_num == 0);

	/* In place: data_ptr == rbuf. */
	char inplace[64] = "eabcdef";
	a = (door_arg_t){ inplace, 7, NULL, 0, inplace, sizeof inplace };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_ptr == inplace && a.data_size == 7 && memcmp(inplace, "eabcdef", 7) == 0);

	/* Overflow: a fresh mapping replaces rbuf/rsize; the caller unmaps it. */
	char req[1 + sizeof(size_t)];
	req[0] = 'b';
	size_t want = 100000;
	memcpy(req + 1, &want, sizeof want);
	a = (door_arg_t){ req, sizeof req, NULL, 0, rbuf, sizeof rbuf };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.rbuf != rbuf && a.data_ptr == a.rbuf && a.data_size == want);
	CHECK(a.rsize >= want && a.rsize % 4096 == 0);
	for (size_t i = 0; i < want; i++)
		CHECK(a.rbuf[i] == (char)(i * 7 + 3));
	for (size_t i = want; i < a.rsize; i++)
		CHECK(a.rbuf[i] == 0);
	CHECK_OK(munmap(a.rbuf, a.rsize));

	/* Results between the region and 64 MiB come in the server's bulk
	 * buffer, which grows and is reused: into rbuf when they fit, else a
	 * mapping. */
	{
		static const size_t sizes[] = { 70000, 3u << 20, 200000, 1u << 20 };
		static char big_rbuf[4u << 20];
		for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
			want = sizes[k];
			memcpy(req + 1, &want, sizeof want);
			int to_rbuf = k % 2 == 0;
			a = (door_arg_t){ req, sizeof req, NULL, 0, to_rbuf ? big_rbuf : rbuf, to_rbuf ? sizeof big_rbuf : sizeof rbuf };
			CHECK_OK(door_call(fd, &a));
			CHECK(a.data_size == want && (to_rbuf ? a.rbuf == big_rbuf : a.rbuf != rbuf));
			for (size_t i = 0; i < want; i += 997)
				CHECK(a.data_ptr[i] == (char)(i * 7 + 3));
			CHECK(a.data_ptr[want - 1] == (char)((want - 1) * 7 + 3));
			if (!to_rbuf)
				CHECK_OK(munmap(a.rbuf, a.rsize));
		}
	}

	/* Large overflows (made of huge pages where the system gives them,
	 * a last one trimmed to the results: 5 MiB + 12345 bytes ends 1 MiB
	 * into one, 700 KiB + 5 is all in one; 2 MiB + 100 KiB ends in small
	 * pages): still exactly the page-rounded size, zero past the data,
	 * and munmap(rbuf, rsize) takes back all the call mapped, nothing
	 * around it left behind. The first call of each grows the server's
	 * bulk buffer and our mapping of it; the second is measured. */
	static const size_t overflows[] = { (5u << 20) + 12345, (700u << 10) + 5, (2u << 20) + (100u << 10) };
	for (int round = 0; round < 6; round++) {
		want = overflows[round / 2];
		memcpy(req + 1, &want, sizeof want);
		long before = vm_size_kb();
		a = (door_arg_t){ req, sizeof req, NULL, 0, rbuf, sizeof rbuf };
		CHECK_OK(door_call(fd, &a));
		CHECK(a.rbuf != rbuf && a.data_ptr == a.rbuf && a.data_size == want);
		CHECK(a.rsize == (want + 4095) / 4096 * 4096);
		for (size_t i = 0; i < want; i += 997)
			CHECK(a.rbuf[i] == (char)(i * 7 + 3));
		CHECK(a.rbuf[want - 1] == (char)((want - 1) * 7 + 3));
		for (size_t i = want; i < a.rsize; i++)
			CHECK(a.rbuf[i] == 0);
		CHECK_OK(munmap(a.rbuf, a.rsize));
		if (round % 2 == 1)
			CHECK(vm_size_kb() == before);
	}

	/* rbuf == NULL, rsize == 0: results still arrive, in a mapping. */
	want = 10;
	memcpy(req + 1, &want, sizeof want);
	a = (door_arg_t){ req, sizeof req, NULL, 0, NULL, 0 };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.rbuf != NULL && a.data_ptr == a.rbuf && a.data_size == 10 && a.rbuf[1] == 10);
	CHECK_OK(munmap(a.rbuf, a.rsize));

	/* No result data: data_ptr keeps the caller's value, data_size is 0. */
	char zmsg[] = "z";
	a = (door_arg_t){ zmsg, 1, (door_desc_t *)0x10, 0, rbuf, sizeof rbuf };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_ptr == zmsg && a.data_size == 0 && a.desc_num == 0);
	CHECK(a.desc_ptr == (door_desc_t *)0x10);

	/* params NULL: no arguments, no results. */
	CHECK_OK(door_call(fd, NULL));
	/* An all-zero door_arg_t: argp NULL on the server side too. */
	a = (door_arg_t){ 0 };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_size == 0);

	/* Arguments between the region and 64 MiB travel in the channel's bulk
	 * buffer, which grows as needed and is then reused. */
	{
		static const size_t sizes[] = { 100000, 1u << 20, 3u << 20, 200000, 3u << 20 };
		for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
			size_t n = sizes[k];
			char *buf = malloc(n);
			CHECK(buf != NULL);
			unsigned long long s = 0;
			for (size_t i = 0; i < n; i++) {
				buf[i] = (char)((i * 13 + k) % 251);
				s += (unsigned char)buf[i];
			}
			s = s - (unsigned char)buf[0] + 's';
			buf[0] = 's';
			a = (door_arg_t){ buf, n, NULL, 0, rbuf, sizeof rbuf };
			CHECK_OK(door_call(fd, &a));
			char want[64];
			snprintf(want, sizeof want, "%llu:%zu", s, n);
			CHECK(a.data_size == strlen(want) && memcmp(a.data_ptr, want, a.data_size) == 0);
			free(buf);
		}
	}

	/* A 64 MiB argument. */
	char *big = malloc(BIG);
	CHECK(big != NULL);
	unsigned long long sum = 0;
	for (size_t i = 0; i < BIG; i++) {
		big[i] = (char)(i % 251);
		sum += (unsigned char)big[i];
	}
	big[0] = 's';
	sum = sum - 0 + 's';
	a = (door_arg_t){ big, BIG, NULL, 0, rbuf, sizeof rbuf };
	CHECK_OK(door_call(fd, &a));
	char expect[64];
	snprintf(expect, sizeof expect, "%llu:%u", sum, BIG);
	CHECK(a.data_size == strlen(expect) && memcmp(a.data_ptr, expect, a.data_size) == 0);
	free(big);

	/* A 64 MiB result, in place over a small buffer. */
	want = BIG;
	memcpy(req + 1, &want, sizeof want);
	a = (door_arg_t){ req, sizeof req, NULL, 0, req, sizeof req };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.rbuf != req && a.data_size == BIG && a.rbuf[BIG - 1] == (char)((BIG - 1) * 7 + 3));
	CHECK_OK(munmap(a.rbuf, a.rsize));
	close(fd);
}

int main(void)
{
	test_name = "call_basic";
	char *dir = test_dir();
	snprintf(path, sizeof path, "%s/door", dir);
	serve_one_client(path, server_proc, client);
	PASS();
}
