/*
 * A C door server for the Rust client tests (tests/interop_c.rs), written
 * against the illumos API as any C server would be. It attaches a door at
 * argv[1], prints "ready: <door id> <pid>", serves until its standard input
 * ends, then detaches. What it answers depends on the call's bytes:
 *
 * - "upper:<text>": <text> in upper case;
 * - "big:<n>": n bytes, byte i being i % 251;
 * - "fds": writes "hello from C" into the descriptor passed (a pipe's
 *   write end) and closes it; answers "ok" with a new pipe's read end
 *   holding "from C server", passed with DOOR_RELEASE;
 * - anything else: an empty answer.
 */
#include "common.h"

#include <ctype.h>

static char big[16 << 20];

static void serve(void *cookie, char *argp, size_t arg_size, door_desc_t *dp, uint_t n_desc)
{
	static __thread char out[256];
	(void)cookie;
	if (arg_size > 6 && arg_size - 6 < sizeof out && memcmp(argp, "upper:", 6) == 0) {
		size_t n = arg_size - 6;
		for (size_t i = 0; i < n; i++)
			out[i] = (char)toupper((unsigned char)argp[6 + i]);
		door_return(out, n, NULL, 0);
	} else if (arg_size > 4 && memcmp(argp, "big:", 4) == 0) {
		size_t n = strtoul(argp + 4, NULL, 10);
		if (n > sizeof big)
			n = 0;
		door_return(big, n, NULL, 0);
	} else if (arg_size == 3 && memcmp(argp, "fds", 3) == 0 && n_desc == 1) {
		int w = dp[0].d_data.d_desc.d_descriptor;
		CHECK(write(w, "hello from C", 12) == 12);
		close(w);
		int p[2];
		CHECK_OK(pipe(p));
		CHECK(write(p[1], "from C server", 13) == 13);
		close(p[1]);
		door_desc_t d;
		d.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
		d.d_data.d_desc.d_descriptor = p[0];
		door_return("ok", 2, &d, 1);
	}
	door_return(NULL, 0, NULL, 0);
}

int main(int argc, char **argv)
{
	test_name = "interop_server";
	CHECK(argc == 2);
	alarm(120); /* a hung test ends */
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(i % 251);
	int d = door_create(serve, NULL, 0);
	CHECK(d >= 0);
	CHECK_OK(fattach(d, argv[1]));
	door_info_t info;
	CHECK_OK(door_info(d, &info));
	printf("ready: %llu %d\n", (unsigned long long)info.di_uniquifier, (int)getpid());
	fflush(stdout);
	char buf[64];
	while (read(0, buf, sizeof buf) > 0)
		;
	CHECK_OK(fdetach(argv[1]));
	return 0;
}
