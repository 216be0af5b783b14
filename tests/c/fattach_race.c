/* Two fattach calls of one path at once (two daemons starting together):
 * exactly one attaches and the other fails with EBUSY, as on illumos;
 * open of the path reaches the winner's door from another process;
 * fdetach gives back the covered file, its content whole, and leaves no
 * stash. Then two fdetach calls at once: one succeeds, the other fails with
 * EINVAL, and the file comes back once. 100 rounds of each. */
#include "door_test.h"

static void named(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)argp; (void)size; (void)dp; (void)n;
	door_return(cookie, 1, NULL, 0);
}

static char path[512], stash[600];
static pthread_barrier_t start;
static int doors[2], results[2];

static void *attach_one(void *arg)
{
	int i = (int)(intptr_t)arg;
	pthread_barrier_wait(&start);
	results[i] = fattach(doors[i], path) == 0 ? 0 : errno;
	return NULL;
}

static void *detach_one(void *arg)
{
	int i = (int)(intptr_t)arg;
	pthread_barrier_wait(&start);
	results[i] = fdetach(path) == 0 ? 0 : errno;
	return NULL;
}

/* Runs `body` on two threads at once. */
static void both(void *(*body)(void *))
{
	pthread_t t[2];
	for (intptr_t i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, body, (void *)i) == 0);
	for (int i = 0; i < 2; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
}

/* In another process: the door at `path` answers `expect`. */
static void reaches(void *arg)
{
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	char rbuf[8];
	door_arg_t a = { "?", 1, NULL, 0, rbuf, sizeof rbuf };
	CHECK_OK(door_call(fd, &a));
	CHECK(a.data_size == 1 && a.data_ptr[0] == *(char *)arg);
	CHECK_OK(close(fd));
}

static void expect_precious(int round)
{
	char buf[16] = { 0 };
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || read(fd, buf, sizeof buf - 1) != 8 || strcmp(buf, "precious") != 0 || fstat(fd, &st) != 0 ||
	    !S_ISREG(st.st_mode) || access(stash, F_OK) == 0) {
		fprintf(stderr, "FAIL %s: round %d: after fdetach the path is not the covered file whole, or a stash is left\n", test_name, round);
		exit(1);
	}
	CHECK_OK(close(fd));
}

/* Which of the two racers succeeded; fails the test unless exactly one
 * did and the other got `loser`. */
static int winner(const char *what, int round, int loser)
{
	int won = results[0] == 0 ? 0 : 1;
	if (results[won] != 0 || results[1 - won] != loser) {
		fprintf(stderr, "FAIL %s: round %d: %s at once gave %s and %s, wanted one success and %s\n", test_name, round, what,
		    strerror(results[0]), strerror(results[1]), strerror(loser));
		exit(1);
	}
	return won;
}

int main(void)
{
	test_name = "fattach_race";
	watchdog(120);
	snprintf(path, sizeof path, "%s/door", test_dir());
	snprintf(stash, sizeof stash, "%s/.door.door", test_dir());
	doors[0] = door_create(named, "A", 0);
	doors[1] = door_create(named, "B", 0);
	CHECK(doors[0] >= 0 && doors[1] >= 0);
	CHECK(pthread_barrier_init(&start, NULL, 2) == 0);
	for (int round = 0; round < 100; round++) {
		int f = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
		CHECK(f >= 0 && write(f, "precious", 8) == 8);
		CHECK_OK(close(f));

		both(attach_one);
		int won = winner("fattach", round, EBUSY);
		reap_ok(spawn(reaches, won == 0 ? "A" : "B"));

		both(detach_one);
		winner("fdetach", round, EINVAL);
		expect_precious(round);
		CHECK_OK(unlink(path));
	}
	PASS();
}
