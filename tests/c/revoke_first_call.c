/* door_revoke racing many threads' first calls. A first call without
 * descriptors goes right behind its channel's Hello, pending before the
 * server has taken the Hello; a revocation's sweep of waiting calls
 * answers such a call with EBADF, and that answer must never reach the
 * client before the answer to its Hello (it took it for a broken
 * protocol: EPROTO). Each trial: the client asks the server's factory
 * door for 16 new doors, its 128 threads each make their first call on
 * one at once, and the server revokes the doors after a random delay of
 * up to 2 ms. Every call succeeds or fails with EBADF. (A race: the
 * library before the fix failed this test in 5 runs of 6, at trials 28 to
 * 207.)
 *
 * The client is forked once, before the server has any thread: a fork
 * while another thread allocates hangs the child under gcc 12's ASan,
 * which copies its allocator's lock held (the test forked a client per
 * trial once, and hung 1 run in 10 under ASan). */
#include "door_test.h"

#include <pthread.h>

#define THREADS 128
#define DOORS 16
#define TRIALS 400

static char path[512];
/* The client's results to the server; the server's "revoked, next" back. */
static int results_pipe[2], next_pipe[2];

/* The server's: its descriptors of this trial's doors, to revoke. */
static int made[DOORS];

static void proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	char r = 'r';
	door_return(&r, 1, NULL, 0);
}

/* Makes this trial's doors and hands the client a copy of each. */
static void factory(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	static door_desc_t out[DOORS];
	for (int k = 0; k < DOORS; k++) {
		CHECK((made[k] = door_create(proc, NULL, 0)) >= 0);
		out[k] = (door_desc_t){ .d_attributes = DOOR_DESCRIPTOR };
		out[k].d_data.d_desc.d_descriptor = made[k];
	}
	door_return(NULL, 0, out, DOORS);
}

/* The client's: this trial's doors and each thread's result. */
static int doors[DOORS];
static int results[THREADS];
static pthread_barrier_t start, done;

static void *caller(void *arg)
{
	int i = (int)(long)arg;
	for (int trial = 0; trial < TRIALS; trial++) {
		char rb[16];
		door_arg_t a = { "hi", 3, NULL, 0, rb, sizeof rb };
		pthread_barrier_wait(&start);
		results[i] = door_call(doors[i % DOORS], &a) == 0 ? 0 : errno;
		pthread_barrier_wait(&done);
	}
	return NULL;
}

/* The client: each trial, new doors, all threads' first calls, each
 * result sent back as one byte. */
static void client(void *arg)
{
	(void)arg;
	int out = results_pipe[1];
	await_attached(path, 30);
	int f = open(path, O_RDONLY);
	CHECK(f >= 0);
	CHECK(pthread_barrier_init(&start, NULL, THREADS + 1) == 0);
	CHECK(pthread_barrier_init(&done, NULL, THREADS + 1) == 0);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, caller, (void *)(long)i) == 0);
	for (int trial = 0; trial < TRIALS; trial++) {
		door_desc_t got[DOORS];
		char rb[16];
		door_arg_t a = { NULL, 0, NULL, 0, rb, sizeof rb };
		CHECK_OK(door_call(f, &a));
		CHECK(a.desc_num == DOORS);
		memcpy(got, a.desc_ptr, sizeof got);
		if (a.rbuf != rb)
			munmap(a.rbuf, a.rsize);
		for (int k = 0; k < DOORS; k++)
			doors[k] = got[k].d_data.d_desc.d_descriptor;
		CHECK(write(out, "g", 1) == 1);
		pthread_barrier_wait(&start);
		pthread_barrier_wait(&done);
		for (int i = 0; i < THREADS; i++) {
			unsigned char e = (unsigned char)results[i];
			CHECK(write(out, &e, 1) == 1);
		}
		for (int k = 0; k < DOORS; k++)
			CHECK_OK(close(doors[k]));
		/* (The next trial's doors only once the server is done with
		 * this one's.) */
		char next;
		CHECK(read(next_pipe[0], &next, 1) == 1);
	}
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
}

int main(void)
{
	test_name = "revoke_first_call";
	watchdog(300);
	srand((unsigned)getpid());
	snprintf(path, sizeof path, "%s/factory", test_dir());
	CHECK_OK(pipe(results_pipe));
	CHECK_OK(pipe(next_pipe));
	pid_t c = spawn_tied(client, NULL);
	int *p = results_pipe;
	close(p[1]);
	attach_new(path, factory, NULL, 0);
	long ok = 0, ebadf = 0;
	for (int trial = 0; trial < TRIALS; trial++) {
		char go;
		CHECK(read(p[0], &go, 1) == 1 && go == 'g');
		struct timespec d = { 0, (rand() % 2000) * 1000L };
		nanosleep(&d, NULL);
		for (int k = 0; k < DOORS; k++)
			CHECK_OK(door_revoke(made[k]));
		for (int i = 0; i < THREADS; i++) {
			unsigned char e;
			CHECK(read(p[0], &e, 1) == 1);
			if (e == 0) {
				ok++;
			} else if (e == EBADF) {
				ebadf++;
			} else {
				fprintf(stderr, "FAIL %s: trial %d: a first call racing door_revoke failed with %s\n", test_name, trial, strerror(e));
				exit(1);
			}
		}
		CHECK(write(next_pipe[1], "n", 1) == 1);
	}
	reap_ok_within(c, 60, "the client");
	printf("note: %ld calls succeeded, %ld found the door revoked\n", ok, ebadf);
	PASS();
}
