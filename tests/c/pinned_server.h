/*
 * A client and a door server placed on chosen CPUs: for tests whose data
 * takes a different way when the two share a CPU than across CPUs
 * (streamed, spliced, written whole). Include after door_test.h.
 */
#ifndef LIBDOOR_PINNED_SERVER_H
#define LIBDOOR_PINNED_SERVER_H

#include <sched.h>

/* Pins this process (and the threads it makes after) to `cpu`, or frees
 * it to every CPU in `all` when cpu is -1. */
static inline void pin_to(int cpu, const cpu_set_t *all)
{
	cpu_set_t m;
	if (cpu < 0) {
		m = *all;
	} else {
		CPU_ZERO(&m);
		CPU_SET(cpu, &m);
	}
	CHECK_OK(sched_setaffinity(0, sizeof m, &m));
}

/* The CPUs this process may use (*all), and the first two of them
 * (*second is -1 when there is only one). */
static inline void usable_cpus(cpu_set_t *all, int *first, int *second)
{
	CHECK_OK(sched_getaffinity(0, sizeof *all, all));
	*first = *second = -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, all)) {
			if (*first < 0)
				*first = c;
			else if (*second < 0)
				*second = c;
		}
}

typedef void placement_run(int client_cpu, int server_cpu, const cpu_set_t *all, const char *how);

/* Runs `run` with the client and server on two different CPUs (when there
 * are two), on one CPU, and free; *all is left holding every usable CPU. */
static inline void on_each_placement(placement_run *run, cpu_set_t *all)
{
	int first, second;
	usable_cpus(all, &first, &second);
	if (second >= 0)
		run(first, second, all, "different CPUs");
	run(first, first, all, "one CPU");
	run(-1, -1, all, "free");
}

struct pinned_server {
	int cpu;
	const cpu_set_t *all;
	struct attached attached;
};

static inline void serve_pinned(void *arg)
{
	struct pinned_server *s = arg;
	pin_to(s->cpu, s->all);
	serve_attached(&s->attached);
}

/* Pins this process to `client_cpu` and starts a new server process
 * pinned to `server_cpu` (-1: free) that attaches a door running `proc`
 * at `path`; returns a descriptor of the door, and the server's pid in
 * *server. */
static inline int open_pinned_server(const char *path, door_server_procedure_t *proc, int client_cpu, int server_cpu,
    const cpu_set_t *all, pid_t *server)
{
	pin_to(client_cpu, all);
	struct gate ready;
	gate_init(&ready);
	*server = spawn_tied(serve_pinned, &(struct pinned_server){ server_cpu, all, { path, proc, &ready } });
	gate_wait_within(&ready, 20);
	gate_close(&ready);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	return fd;
}

#endif
