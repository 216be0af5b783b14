/*
 * LIBDOOR_DEBUG: the trace of door operations. The variable is read when
 * the library loads, so each case re-executes this program with it set (or
 * not) to play a scenario: a server creates a DOOR_UNREF door and attaches
 * it, a forked client opens the path and calls, the server detaches (the
 * door becomes unreferenced) and revokes. A file trace must show the
 * events in that order, from the right processes, naming the door; "1"
 * traces to stderr; unset or "0", nothing is written.
 */
#include "door_test.h"

static struct gate unref_seen;

static void echo(void *cookie, char *argp, size_t n, door_desc_t *dp, uint_t nd)
{
	(void)cookie; (void)dp; (void)nd;
	if (argp == DOOR_UNREF_DATA) {
		gate_open(&unref_seen);
		door_return(NULL, 0, NULL, 0);
	}
	door_return(argp, n, NULL, 0);
}

static const char *door_path;

static void client(void *arg)
{
	(void)arg;
	int fd = open(door_path, O_RDONLY);
	CHECK(fd >= 0);
	char res[8];
	CHECK(call_door(fd, "hello", 5, res, sizeof res) == 5 && memcmp(res, "hello", 5) == 0);
	close(fd);
}

/* The traced program: writes "<server pid> <client pid> <door id>" to `ids`. */
static int scenario(const char *dir)
{
	char path[512], ids[512];
	snprintf(path, sizeof path, "%s/door", dir);
	snprintf(ids, sizeof ids, "%s/ids", dir);
	door_path = path;
	gate_init(&unref_seen);
	int d = attach_new(path, echo, NULL, DOOR_UNREF);
	door_info_t di;
	CHECK_OK(door_info(d, &di));
	/* Both counts come back, traced or not: the client's (spawn_fd_neutral),
	 * and the server's after it. */
	int before = count_fds();
	pid_t c = spawn_fd_neutral(client, NULL);
	reap_ok_within(c, 60, "client");
	fds_back(before, 10, "server, after its client");
	CHECK_OK(fdetach(path));
	gate_wait_within(&unref_seen, 60);
	CHECK_OK(door_revoke(d));
	FILE *f = fopen(ids, "w");
	CHECK(f != NULL);
	fprintf(f, "%d %d %016llx\n", (int)getpid(), (int)c, (unsigned long long)di.di_uniquifier);
	CHECK(fclose(f) == 0);
	return 0;
}

/* Runs the scenario in a fresh image with LIBDOOR_DEBUG = `debug` (NULL:
 * unset), its stderr going to `err`. */
static void run_scenario(const char *dir, const char *debug, const char *err)
{
	fflush(NULL);
	pid_t pid = test_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (debug)
			setenv("LIBDOOR_DEBUG", debug, 1);
		else
			unsetenv("LIBDOOR_DEBUG");
		int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(99);
		execl(self_exe(), "trace", "scenario", dir, (char *)NULL);
		_exit(98);
	}
	reap_ok_within(pid, 120, "scenario");
}

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

struct expected { const char *event; int by_client; };

/*
 * Checks that the trace lines in `file` contain the expected events in
 * order (other lines may come between), each from the right process and
 * naming the door. Returns how many lines the file has.
 */
static int check_order(const char *file, const char *dir)
{
	char ids[512];
	snprintf(ids, sizeof ids, "%s/ids", dir);
	FILE *f = fopen(ids, "r");
	CHECK(f != NULL);
	int server, client;
	char door[32], want_door[48];
	CHECK(fscanf(f, "%d %d %31s", &server, &client, door) == 3);
	fclose(f);
	snprintf(want_door, sizeof want_door, " door=%s", door);

	static const struct expected order[] = {
		{ "create", 0 }, { "attach", 0 }, { "open", 1 }, { "call", 1 }, { "invoke", 0 },
		{ "return", 0 }, { "reply", 1 }, { "detach", 0 }, { "unref", 0 }, { "revoke", 0 },
	};
	size_t next = 0;
	int lines = 0;
	char line[2048];
	f = fopen(file, "r");
	CHECK(f != NULL);
	while (fgets(line, sizeof line, f)) {
		lines++;
		int pid, tid;
		char event[32];
		/* libdoor[<pid>:<tid>] <seconds>.<micros> <event> ... */
		CHECK(sscanf(line, "libdoor[%d:%d] %*s %31s", &pid, &tid, event) == 3);
		CHECK(strchr(line, '\n') != NULL);
		if (next < sizeof order / sizeof order[0] && strcmp(event, order[next].event) == 0) {
			if (pid != (order[next].by_client ? client : server) || !strstr(line, want_door)) {
				fprintf(stderr, "FAIL %s: unexpected line for %s: %s", test_name, order[next].event, line);
				exit(1);
			}
			next++;
		}
	}
	fclose(f);
	if (next != sizeof order / sizeof order[0]) {
		fprintf(stderr, "FAIL %s: event '%s' missing or out of order in %s\n", test_name, order[next].event, file);
		exit(1);
	}
	return lines;
}

int main(int argc, char **argv)
{
	test_name = "trace";
	if (argc == 3 && strcmp(argv[1], "scenario") == 0)
		return scenario(argv[2]);
	watchdog(300);
	const char *dir = test_dir();
	char log[512], err[512];
	snprintf(log, sizeof log, "%s/trace.log", dir);
	snprintf(err, sizeof err, "%s/stderr", dir);

	/* To a file: every event, in order; stderr untouched. */
	run_scenario(dir, log, err);
	CHECK(check_order(log, dir) >= 10);
	CHECK(file_size(err) == 0);
	struct stat st;
	CHECK_OK(stat(log, &st));
	CHECK((st.st_mode & 0777) == 0600);

	/* "1": the same lines on stderr. */
	run_scenario(dir, "1", err);
	CHECK(check_order(err, dir) >= 10);

	/* Unset, empty or "0": nothing written anywhere. */
	const char *off[] = { NULL, "", "0" };
	CHECK_OK(unlink(log));
	for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
		run_scenario(dir, off[i], err);
		CHECK(file_size(err) == 0);
		CHECK(file_size(log) == -1);
	}
	PASS();
}
