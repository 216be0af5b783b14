/* A server closes what came from another process on its reaper thread,
 * after answering; the calls that make it do so return only once it has,
 * so a server's descriptor count read at once is final, in every one of
 * ROUNDS rounds:
 * - dup, fork and door_info of a door another process serves ask its
 *   server over a reply socket of their own (a Clone for a new counted
 *   descriptor: the dup, or the copy a forked child makes of each door it
 *   inherited; an Info for the description): the server's count from /proc
 *   is the base count plus one door end for each live copy (before the
 *   client waited for the reply socket's close, a forked child saw it
 *   still open in about one round in 200);
 * - fdetach of a door this process serves: the attachment's listener,
 *   which the server got from fattach, is closed when fdetach returns
 *   (before, about one round in 150 still held it). */
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
	server_pid = spawn_tied(serve_attached, &(struct attached){ path, server_proc, &ready });
	gate_wait_within(&ready, 20);

	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	door_arg_t a = { 0 };
	CHECK_OK(door_call(fd, &a));
	/* The channel and this descriptor's door end: at rest from here. */
	int base = least_value(fds_of_probe, &server_pid, 0.3);

	for (int round = 0; round < ROUNDS; round++) {
		int d = dup(fd);
		CHECK(d >= 0);
		count_is(base + 1, "dup", round);
		CHECK_OK(close(d));
		await_value(fds_of_probe, &server_pid, base, SETTLE, "the server's count after closing the dup");

		door_info_t di;
		CHECK_OK(door_info(fd, &di));
		CHECK(di.di_target == server_pid);
		count_is(base, "door_info", round);

		struct child_arg ca = { base, round };
		reap_ok(spawn(forked, &ca));
		/* (The child's copy and its channels close as it exits.) */
		await_value(fds_of_probe, &server_pid, base, SETTLE, "the server's count after the child");
	}
	CHECK_OK(close(fd));

	char mine[512];
	snprintf(mine, sizeof mine, "%s/mine", test_dir());
	make_file(mine, 0644);
	int d = door_create(server_proc, NULL, 0);
	CHECK(d >= 0);
	CHECK_OK(fattach(d, mine));
	CHECK_OK(fdetach(mine));
	int own = least_value(fds_of_probe, &(pid_t){ 0 }, 0.3);
	for (int round = 0; round < 2 * ROUNDS; round++) {
		CHECK_OK(fattach(d, mine));
		CHECK_OK(fdetach(mine));
		int now = count_fds();
		if (now != own) {
			fprintf(stderr, "FAIL %s: round %d: this server holds %d descriptors right after fdetach, wanted %d\n",
			    test_name, round, now, own);
			exit(1);
		}
	}
	CHECK_OK(door_revoke(d));
	printf("ok: %d rounds of dup, door_info and fork, %d of fattach and fdetach, the server's count final each time\n",
	    ROUNDS, 2 * ROUNDS);
	return 0;
}
