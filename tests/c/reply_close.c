/* dup, fork and door_info of a door another process serves ask its server
 * over a reply socket of their own (a Clone for a new counted descriptor:
 * the dup, or the copy a forked child makes of each door it inherited; an
 * Info for the description). The server closes that socket on its reaper
 * thread, after answering. Each of them returns only once it has, so the
 * server's descriptor count, read from /proc at once, is final: the base
 * count plus one door end for each live copy, in every one of ROUNDS
 * rounds. (Before the client waited, a forked child saw the reply socket
 * still open in about one round in 200.) */
#include "door_test.h"

#define ROUNDS 300
#define SETTLE 10.0   /* seconds for the server to let go of a closed copy */

static char path[512];
static struct gate ready;
static pid_t server_pid;

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	door_return(NULL, 0, NULL, 0);
}

static void server(void *arg)
{
	(void)arg;
	attach_new(path, server_proc, NULL, 0);
	gate_open(&ready);
	for (;;)
		pause();
}

static int server_count(void *unused)
{
	(void)unused;
	return count_fds_of(server_pid);
}

/* The server's count now, which must be `want`. */
static void count_is(int want, const char *after, int round)
{
	int now = count_fds_of(server_pid);
	if (now != want) {
		fprintf(stderr, "FAIL %s: round %d: the server holds %d descriptors right after %s, wanted %d\n",
		    test_name, round, now, after, want);
		exit(1);
	}
}

struct child_arg { int base, round; };

/* A forked child: its copy of the inherited door is made by the time fork
 * returns in it. */
static void forked(void *arg)
{
	struct child_arg *a = arg;
	count_is(a->base + 1, "fork, in the child", a->round);
}

int main(void)
{
	test_name = "reply_close";
	watchdog(100);
	snprintf(path, sizeof path, "%s/door", test_dir());
	gate_init(&ready);
	server_pid = spawn_tied(server, NULL);
	gate_wait_within(&ready, 20);

	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	door_arg_t a = { 0 };
	CHECK_OK(door_call(fd, &a));
	/* The channel and this descriptor's door end: at rest from here. */
	int base = least_value(server_count, NULL, 0.3);

	for (int round = 0; round < ROUNDS; round++) {
		int d = dup(fd);
		CHECK(d >= 0);
		count_is(base + 1, "dup", round);
		CHECK_OK(close(d));
		await_value(server_count, NULL, base, SETTLE, "the server's count after closing the dup");

		door_info_t di;
		CHECK_OK(door_info(fd, &di));
		CHECK(di.di_target == server_pid);
		count_is(base, "door_info", round);

		struct child_arg ca = { base, round };
		reap_ok(spawn(forked, &ca));
		/* (The child's copy and its channels close as it exits.) */
		await_value(server_count, NULL, base, SETTLE, "the server's count after the child");
	}
	CHECK_OK(close(fd));
	printf("ok: %d rounds of dup, door_info and fork, the server's count final each time\n", ROUNDS);
	return 0;
}
