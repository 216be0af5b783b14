/*
 * Many per-client doors unreferenced at once, while the server's only pool
 * thread is busy: every notification arrives (the queue once was a socket
 * pair whose writer, the control thread, blocked when it filled while
 * holding the server table, deadlocking the server), and once the doors
 * are revoked and closed everywhere, the descriptor counts of server and
 * client come back to what they were (a gone door's table entry and
 * channels go; a client thread drops its cached channels to gone doors).
 */
#include "door_test.h"

#include <stdatomic.h>

#define DOORS 200

static struct gate release_busy;   /* client -> server: end the busy call */
static _Atomic int unrefs;
static _Atomic int pool_threads;

static void *pool_thread(void *arg)
{
	(void)arg;
	door_return(NULL, 0, NULL, 0);
	return NULL;
}

/* The pool never has more than one thread. */
static void one_thread(door_info_t *di)
{
	(void)di;
	if (atomic_fetch_add(&pool_threads, 1) != 0)
		return;
	pthread_t t;
	CHECK(pthread_create(&t, NULL, pool_thread, NULL) == 0);
	CHECK(pthread_detach(t) == 0);
}

/* A per-client door; its unreferenced notification revokes it. */
static void client_door_proc(void *cookie, char *argp, size_t n, door_desc_t *dp, uint_t nd)
{
	(void)n; (void)dp; (void)nd;
	int *self = cookie;
	if (argp == DOOR_UNREF_DATA) {
		CHECK_OK(door_revoke(*self));
		free(self);
		atomic_fetch_add(&unrefs, 1);
		door_return(NULL, 0, NULL, 0);
	}
	door_return("ok", 2, NULL, 0);
}

/* 'n': a new per-client door; 'b': busy until released; 'c': the number
 * of notifications so far and the server's descriptor count. */
static void hub_proc(void *cookie, char *argp, size_t n, door_desc_t *dp, uint_t nd)
{
	(void)cookie; (void)dp; (void)nd;
	CHECK(n == 1);
	if (argp[0] == 'n') {
		int *self = malloc(sizeof *self);
		CHECK(self != NULL);
		*self = door_create(client_door_proc, self, DOOR_UNREF);
		CHECK(*self >= 0);
		door_desc_t d = { .d_attributes = DOOR_DESCRIPTOR };
		d.d_data.d_desc.d_descriptor = *self;
		door_return(NULL, 0, &d, 1);
	}
	if (argp[0] == 'b') {
		gate_wait_within(&release_busy, 60);
		door_return(NULL, 0, NULL, 0);
	}
	int counts[2] = { atomic_load(&unrefs), count_fds() };
	door_return((char *)counts, sizeof counts, NULL, 0);
}

static void server(void *path)
{
	door_server_create(one_thread);
	attach_new(path, hub_proc, NULL, 0);
	door_return(NULL, 0, NULL, 0);
}

/* A new per-client door from the hub, called once (so this thread has a
 * channel to it). */
static int new_door(int hub)
{
	char rbuf[64];
	door_arg_t a = { "n", 1, NULL, 0, rbuf, sizeof rbuf };
	CHECK_OK(door_call(hub, &a));
	CHECK(a.desc_num == 1);
	int d = a.desc_ptr[0].d_data.d_desc.d_descriptor;
	char got[2];
	CHECK(call_door(d, "x", 1, got, sizeof got) == 2 && memcmp(got, "ok", 2) == 0);
	return d;
}

static void server_counts(int hub, int counts[2])
{
	CHECK(call_door(hub, "c", 1, counts, 2 * sizeof(int)) == 2 * sizeof(int));
}

static void *busy_call(void *hub)
{
	CHECK(call_door(*(int *)hub, "b", 1, NULL, 0) == 0);
	return NULL;
}

int main(void)
{
	test_name = "unref_flood";
	watchdog(100);
	gate_init(&release_busy);
	char path[512];
	snprintf(path, sizeof path, "%s/hub", test_dir());
	pid_t srv = spawn_tied(server, path);
	await_attached(path, 30);
	int hub = open(path, O_RDONLY);
	CHECK(hub >= 0);
	int counts[2];
	server_counts(hub, counts);
	int server_before = counts[1];

	/* One per-client door made, called, closed and gone: the server is back
	 * where it was; this thread keeps a (dead) channel to it for now. */
	close(new_door(hub));
	double end = now_seconds() + 30;
	do {
		server_counts(hub, counts);
		CHECK(now_seconds() < end);
	} while (counts[0] != 1 || counts[1] != server_before);
	int client_before = count_fds();

	int doors[DOORS];
	for (int i = 0; i < DOORS; i++)
		doors[i] = new_door(hub);

	/* The pool's only thread is taken; every door loses its last outside
	 * reference at once. */
	pthread_t busy;
	CHECK(pthread_create(&busy, NULL, busy_call, &hub) == 0);
	for (int i = 0; i < DOORS; i++)
		close(doors[i]);
	gate_open(&release_busy);
	CHECK(pthread_join(busy, NULL) == 0);

	end = now_seconds() + 60;
	do {
		server_counts(hub, counts);
		if (now_seconds() > end) {
			fprintf(stderr, "FAIL %s: %d of %d notifications after 60 s\n", test_name, counts[0] - 1, DOORS);
			return 1;
		}
	} while (counts[0] != DOORS + 1);
	/* The revoked doors' table entries and channels go as the server reads
	 * end of file on them: its descriptor count comes back. */
	end = now_seconds() + 30;
	do {
		server_counts(hub, counts);
		CHECK(now_seconds() < end);
	} while (counts[1] != server_before);

	/* The state of the baseline again: one more door made, called, closed
	 * (opening its channel dropped this thread's channels to gone doors). */
	close(new_door(hub));
	end = now_seconds() + 30;
	do {
		server_counts(hub, counts);
		CHECK(now_seconds() < end);
	} while (counts[0] != DOORS + 2 || counts[1] != server_before);
	CHECK(count_fds() == client_before);

	close(hub);
	kill_and_reap(srv);
	PASS();
}
