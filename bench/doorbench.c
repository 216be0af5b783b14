/*
 * doorbench: libdoor's benchmark. Measures door_call between two processes
 * side by side with the transports a user would otherwise pick (blocking
 * futex ping-pong, SOCK_SEQPACKET, pipe, SOCK_STREAM, memcpy), in rounds:
 * every round runs every configuration once, alternating the order, so
 * drift hits all alike. Reports the median of the per-round medians, the
 * p99 of all calls, and ratios; writes a JSON file with every figure and a
 * markdown section for docs/PERFORMANCE.md.
 *
 *   doorbench [--quick] [--rounds R] [--sections null,size,result,rate,setup]
 *             [--json FILE] [--markdown FILE] [--commit LABEL]
 *
 * A benchmark, never a test: it checks every result and stops at the first
 * wrong one, but it asserts nothing about time.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

const char *const section_name[SEC_COUNT] = { "null", "size", "result", "rate", "setup" };

struct bench *plan_add(struct plan *p)
{
	if (p->count == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 64;
		p->list = realloc(p->list, sizeof *p->list * (size_t)p->cap);
		CHECK(p->list != NULL);
	}
	struct bench *b = &p->list[p->count++];
	memset(b, 0, sizeof *b);
	return b;
}

static void usage(void)
{
	fprintf(stderr,
	    "usage: doorbench [--quick] [--rounds R] [--sections LIST] [--json FILE] [--markdown FILE] [--commit LABEL]\n"
	    "  --quick          fewer calls and rounds (well under a minute on 2 CPUs)\n"
	    "  --rounds R       rounds (default 5 quick, 15 full)\n"
	    "  --sections LIST  comma-separated subset of null,size,result,rate,setup\n"
	    "  --json FILE      every figure, machine-readable (default results.json)\n"
	    "  --markdown FILE  the figures as markdown for docs/PERFORMANCE.md (default results.md)\n"
	    "  --commit LABEL   the library version measured, printed with the figures\n");
	exit(2);
}

static int parse_sections(const char *list)
{
	int mask = 0;
	char *copy = strdup(list), *save = NULL;
	CHECK(copy != NULL);
	for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		int found = 0;
		for (int s = 0; s < SEC_COUNT; s++) {
			if (strcmp(t, section_name[s]) == 0) {
				mask |= 1 << s;
				found = 1;
			}
		}
		if (!found) {
			fprintf(stderr, "doorbench: unknown section '%s'\n", t);
			usage();
		}
	}
	free(copy);
	return mask;
}

static void read_machine(struct meta *m)
{
	m->nproc = (int)sysconf(_SC_NPROCESSORS_ONLN);
	m->cpus_allowed = pin_cpu_count();
	snprintf(m->cpu_model, sizeof m->cpu_model, "unknown");
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f != NULL) {
		char line[512];
		while (fgets(line, sizeof line, f) != NULL) {
			if (strncmp(line, "model name", 10) == 0) {
				char *v = strchr(line, ':');
				if (v != NULL) {
					v++;
					while (*v == ' ' || *v == '\t')
						v++;
					v[strcspn(v, "\n")] = 0;
					snprintf(m->cpu_model, sizeof m->cpu_model, "%s", v);
				}
				break;
			}
		}
		fclose(f);
	}
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(m->kernel, sizeof m->kernel, "%s %s (%s)", u.sysname, u.release, u.machine);
}

int main(int argc, char **argv)
{
	int quick = 0, rounds = 0, sections = (1 << SEC_COUNT) - 1;
	const char *json = "results.json", *markdown = "results.md", *commit = "unknown";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--quick") == 0) {
			quick = 1;
		} else if (strcmp(a, "--rounds") == 0 && v) {
			rounds = atoi(v);
			i++;
			if (rounds < 1)
				usage();
		} else if (strcmp(a, "--sections") == 0 && v) {
			sections = parse_sections(v);
			i++;
		} else if (strcmp(a, "--json") == 0 && v) {
			json = v;
			i++;
		} else if (strcmp(a, "--markdown") == 0 && v) {
			markdown = v;
			i++;
		} else if (strcmp(a, "--commit") == 0 && v) {
			commit = v;
			i++;
		} else {
			usage();
		}
	}
	if (rounds == 0)
		rounds = quick ? 5 : 15;

	util_init();
	pin_init();
	struct meta m = { .commit = commit, .mode = quick ? "quick" : "full", .rounds = rounds };
	read_machine(&m);
	char date[64];
	time_t now = time(NULL);
	strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
	m.date = date;

	/* The cap keeps a pathologically slow configuration from stretching the
	 * run; normally every configuration finishes far sooner. */
	struct plan p = { .quick = quick, .sections = sections, .window_s = quick ? 0.3 : 1.0, .cap_s = quick ? 1 : 5 };
	/* The throughput threads start at the first round, after every fork. */
	if (sections & (1 << SEC_NULL))
		add_null_benches(&p);
	if (sections & (1 << SEC_SIZE))
		add_size_benches(&p);
	if (sections & (1 << SEC_RESULT))
		add_result_benches(&p);
	if (sections & (1 << SEC_RATE))
		add_rate_benches(&p);
	if (sections & (1 << SEC_SETUP))
		add_setup_benches(&p);

	double start = now_ns();
	fprintf(stderr, "doorbench: %s mode, %d rounds, %d configurations; setting up\n", m.mode, rounds, p.count);
	int maxn = 1;
	for (int i = 0; i < p.count; i++) {
		struct bench *b = &p.list[i];
		pin_self(PIN_FREE, 0);
		b->setup(b);
		b->all = malloc(sizeof(double) * (size_t)b->n * (size_t)rounds);
		b->round_med = malloc(sizeof(double) * (size_t)rounds);
		CHECK(b->all != NULL && b->round_med != NULL);
		if (b->n > maxn)
			maxn = b->n;
	}
	double *samples = malloc(sizeof(double) * (size_t)maxn);
	CHECK(samples != NULL);

	for (int r = 0; r < rounds; r++) {
		double t0 = now_ns();
		for (int k = 0; k < p.count; k++) {
			struct bench *b = &p.list[r % 2 ? p.count - 1 - k : k];
			pin_self(b->pin, 0);
			b->deadline = now_ns() + p.cap_s * 1e9;
			int got = b->run(b, samples);
			pin_self(PIN_FREE, 0);
			add_round(b, samples, got);
		}
		check_children();
		fprintf(stderr, "doorbench: round %d/%d done in %.1f s\n", r + 1, rounds, (now_ns() - t0) / 1e9);
	}
	m.seconds = (now_ns() - start) / 1e9;
	cleanup_all();

	for (int i = 0; i < p.count; i++)
		compute_stats(&p.list[i]);
	print_report(stdout, 0, &p, &m);
	fflush(stdout);
	FILE *md = fopen(markdown, "w");
	if (md == NULL)
		die_errno("%s", markdown);
	print_report(md, 1, &p, &m);
	if (fclose(md) != 0)
		die_errno("%s", markdown);
	write_json(json, &p, &m);
	fprintf(stderr, "doorbench: wrote %s and %s\n", json, markdown);
	return 0;
}
