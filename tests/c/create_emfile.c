/* door_create failing for lack of descriptors (EMFILE at any step) leaves
 * nothing behind: a later ordinary door_create still calls the creation
 * function with NULL once (illumos records "the first door" only once
 * one was made), so the door it makes is served; and a failed DOOR_PRIVATE
 * door_create keeps none of the descriptors its pool took. Each trial runs
 * in a child with a small descriptor limit, with 0 to 12 numbers left free
 * before the call, so that every step of door_create meets the limit. */
#include "door_test.h"

#include <stdatomic.h>
#include <sys/resource.h>

static _Atomic int creations;

static void *serve(void *arg)
{
	(void)arg;
	door_return(NULL, 0, NULL, 0);
	return NULL;
}

static void create_thread(door_info_t *info)
{
	(void)info;
	atomic_fetch_add(&creations, 1);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, serve, NULL) == 0);
	CHECK(pthread_detach(t) == 0);
}

static void ok_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	door_return("ok", 3, NULL, 0);
}

static void close_fillers(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		CHECK_OK(close(fds[i]));
}

/* Fills the descriptor table but `free_left` numbers; the fillers. */
static int fill(int *fds, int max, int free_left)
{
	int n = 0, fd;
	while (n < max && (fd = open("/dev/null", O_RDONLY)) >= 0)
		fds[n++] = fd;
	for (int i = 0; i < free_left && n > 0; i++)
		CHECK_OK(close(fds[--n]));
	return n;
}

static void trial(void *arg)
{
	int free_left = (int)(intptr_t)arg;
	door_server_create(create_thread);
	struct rlimit rl = { 48, 48 };
	CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));
	int fds[64];

	/* A private door first: a failure keeps no descriptor. (The first
	 * may start the process's control machinery, which stays; so the
	 * count after a second failure must be the count after the first.) */
	int after_first = -1;
	for (int round = 0; round < 2; round++) {
		int n = fill(fds, 64, free_left);
		int p = door_create(ok_proc, NULL, DOOR_PRIVATE);
		int e = errno;
		close_fillers(fds, n);
		if (p >= 0) {
			CHECK_OK(door_revoke(p));
			break;
		}
		CHECK(e == EMFILE);
		if (round == 0) {
			after_first = count_fds();
		} else if (count_fds() != after_first) {
			fprintf(stderr, "FAIL %s: %d free: a failed private door_create kept %d descriptors\n", test_name, free_left,
			    count_fds() - after_first);
			exit(1);
		}
	}

	/* Then the first ordinary door. (A private door made above called the
	 * creation function for itself.) */
	atomic_store(&creations, 0);
	int n = fill(fds, 64, free_left);
	int d = door_create(ok_proc, NULL, 0);
	int e = errno;
	close_fillers(fds, n);
	if (d < 0) {
		CHECK(e == EMFILE);
		CHECK(atomic_load(&creations) == 0);
		d = door_create(ok_proc, NULL, 0);
		CHECK(d >= 0);
	}
	if (atomic_load(&creations) != 1) {
		fprintf(stderr, "FAIL %s: %d free: the creation function ran %d times for the first ordinary door\n", test_name,
		    free_left, atomic_load(&creations));
		exit(1);
	}
	char buf[16];
	door_arg_t a = { NULL, 0, NULL, 0, buf, sizeof buf };
	CHECK_OK(door_call(d, &a));
	CHECK(a.data_size == 3 && strcmp(a.data_ptr, "ok") == 0);
}

int main(void)
{
	test_name = "create_emfile";
	watchdog(120);
	for (intptr_t free_left = 0; free_left <= 12; free_left++)
		reap_ok_within(spawn(trial, (void *)free_left), 30, "trial");
	PASS();
}
