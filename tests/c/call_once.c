/* Every call runs its procedure exactly once, however it travels: back to
 * back calls on one channel alternate between the fast hand-off in the
 * shared region (a server thread lingering on the channel) and the socket
 * (descriptors, large data), with replies of both kinds. The server counts
 * its invocations and the client compares. */
#include "common.h"

static volatile int count;
static int back;

static void proc_(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie;
	static door_desc_t d;
	int mine = __atomic_add_fetch(&count, 1, __ATOMIC_SEQ_CST);
	for (uint_t i = 0; i < n; i++)
		close(dp[i].d_data.d_desc.d_descriptor);
	if (size > 0 && argp[0] == 'd') { /* reply with a descriptor (socket) */
		d.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
		d.d_data.d_desc.d_descriptor = dup(back);
		door_return((char *)&mine, sizeof mine, &d, 1);
	}
	door_return((char *)&mine, sizeof mine, NULL, 0);
}

static void back_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	door_return(NULL, 0, NULL, 0);
}

static char path[512];

static void client(void *arg)
{
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	static char big[100000];
	int devnull = open("/dev/null", O_RDONLY);
	int expect = *(int *)arg, got = 0;
	char rbuf[64];
	for (int i = 0; i < 400; i++) {
		door_arg_t a;
		door_desc_t in = { DOOR_DESCRIPTOR, { { devnull, 0 } } };
		switch (i % 4) {
		case 0: a = (door_arg_t){ "x", 1, NULL, 0, rbuf, sizeof rbuf }; break;       /* region */
		case 1: a = (door_arg_t){ "d", 1, NULL, 0, rbuf, sizeof rbuf }; break;       /* descriptor back */
		case 2: big[0] = 'x'; a = (door_arg_t){ big, sizeof big, NULL, 0, rbuf, sizeof rbuf }; break; /* memfd */
		default: a = (door_arg_t){ "x", 1, &in, 1, rbuf, sizeof rbuf }; break;        /* descriptor in */
		}
		CHECK_OK(door_call(fd, &a));
		expect++;
		CHECK(a.data_size == sizeof got);
		memcpy(&got, a.data_ptr, sizeof got);
		if (a.desc_num == 1) {
			door_desc_t d;
			memcpy(&d, a.desc_ptr, sizeof d);
			close(d.d_data.d_desc.d_descriptor);
		}
		if (got != expect) {
			fprintf(stderr, "FAIL %s: call %d (kind %d) was the server's invocation %d\n", test_name, expect, i % 4, got);
			exit(1);
		}
	}
	close(devnull);
	close(fd);
}

int main(void)
{
	test_name = "call_once";
	char *dir = test_dir();
	snprintf(path, sizeof path, "%s/door", dir);
	make_file(path, 0644);
	back = door_create(back_proc, NULL, DOOR_UNREF_MULTI);
	int d = door_create(proc_, NULL, 0);
	CHECK(back >= 0 && d >= 0);
	CHECK_OK(fattach(d, path));
	int before = 0, after = 400;
	int fds = count_fds();
	reap_ok(spawn_fd_neutral(client, &before));
	reap_ok(spawn_fd_neutral(client, &after));
	fds_back(fds, 10, "server, after its clients");
	CHECK_OK(fdetach(path));
	PASS();
}
