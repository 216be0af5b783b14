/* door_revoke racing many threads' first calls. A first call without
 * descriptors goes right behind its channel's Hello, pending before the
 * server has taken the Hello; a revocation's sweep of waiting calls
 * answers such a call with EBADF, and that answer must never reach the
 * client before the answer to its Hello (it took it for a broken
 * protocol: EPROTO). Each trial: the server makes 16 doors, forks a client
 * that inherits them, whose 128 threads each make their first call at
 * once, and revokes the doors after a random delay of up to 8 ms. Every
 * call succeeds or fails with EBADF. (A race: before the fix, 6 trials in
 * 3,000 failed, so this catches a return of it in about half its runs.) */
#include "door_test.h"

#include <pthread.h>

#define THREADS 128
#define DOORS 16
#define TRIALS 400

static int doors[DOORS];
static pthread_barrier_t start;
static int results[THREADS];

static void proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	char r = 'r';
	door_return(&r, 1, NULL, 0);
}

static void *caller(void *arg)
{
	int i = (int)(long)arg;
	char rb[16];
	door_arg_t a = { "hi", 3, NULL, 0, rb, sizeof rb };
	pthread_barrier_wait(&start);
	results[i] = door_call(doors[i % DOORS], &a) == 0 ? 0 : errno;
	return NULL;
}

/* The client: its threads' calls, each result sent back as one byte. */
static void client(int out)
{
	pthread_t t[THREADS];
	CHECK(pthread_barrier_init(&start, NULL, THREADS + 1) == 0);
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, caller, (void *)(long)i) == 0);
	CHECK(write(out, "g", 1) == 1);
	pthread_barrier_wait(&start);
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	for (int i = 0; i < THREADS; i++) {
		unsigned char e = (unsigned char)results[i];
		CHECK(write(out, &e, 1) == 1);
	}
	_exit(0);
}

int main(void)
{
	test_name = "revoke_first_call";
	watchdog(300);
	srand((unsigned)getpid());
	long ok = 0, ebadf = 0;
	for (int trial = 0; trial < TRIALS; trial++) {
		for (int k = 0; k < DOORS; k++)
			CHECK((doors[k] = door_create(proc, NULL, 0)) >= 0);
		int p[2];
		CHECK_OK(pipe(p));
		pid_t c = fork();
		CHECK(c >= 0);
		if (c == 0) {
			close(p[0]);
			client(p[1]);
		}
		close(p[1]);
		char go;
		CHECK(read(p[0], &go, 1) == 1);
		struct timespec d = { 0, (rand() % 8000) * 1000L };
		nanosleep(&d, NULL);
		for (int k = 0; k < DOORS; k++)
			CHECK_OK(door_revoke(doors[k]));
		unsigned char e;
		int got = 0;
		while (read(p[0], &e, 1) == 1) {
			got++;
			if (e == 0) {
				ok++;
			} else if (e == EBADF) {
				ebadf++;
			} else {
				fprintf(stderr, "FAIL %s: trial %d: a first call racing door_revoke failed with %s\n", test_name, trial, strerror(e));
				exit(1);
			}
		}
		CHECK(got == THREADS);
		close(p[0]);
		int status;
		CHECK(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	printf("note: %ld calls succeeded, %ld found the door revoked\n", ok, ebadf);
	PASS();
}
