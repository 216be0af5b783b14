/* doorbench: statistics, the tables (aligned text or markdown), the JSON. */
#include "bench.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median_of(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void add_round(struct bench *b, double *samples, int got)
{
	CHECK(got > 0 && got <= b->n);
	if (got < b->n)
		b->cut_rounds++;
	memcpy(b->all + b->nall, samples, sizeof(double) * (size_t)got);
	b->nall += got;
	b->round_med[b->nround++] = median_of(samples, got);
}

void compute_stats(struct bench *b)
{
	if (b->nround == 0)
		return;
	double *rm = malloc(sizeof(double) * (size_t)b->nround);
	CHECK(rm != NULL);
	memcpy(rm, b->round_med, sizeof(double) * (size_t)b->nround);
	b->median = median_of(rm, b->nround);
	b->rmin = rm[0];
	b->rmax = rm[b->nround - 1];
	free(rm);
	/* p99 by nearest rank over every call of every round. */
	qsort(b->all, (size_t)b->nall, sizeof(double), cmp_double);
	int k = (int)ceil(0.99 * b->nall) - 1;
	b->p99 = b->all[k < 0 ? 0 : k];
	b->done = 1;
}

struct bench *find_bench(struct plan *p, const char *id)
{
	for (int i = 0; i < p->count; i++)
		if (strcmp(p->list[i].id, id) == 0 && p->list[i].done)
			return &p->list[i];
	return NULL;
}

static struct bench *findf(struct plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static struct bench *findf(struct plan *p, const char *fmt, ...)
{
	char id[96];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(id, sizeof id, fmt, ap);
	va_end(ap);
	return find_bench(p, id);
}

/* ---- formatting ---- */

#define CELL 96
#define SHORT 24   /* one number and its unit */

static void fmt_time(char *s, double ns)
{
	double us = ns / 1e3;
	if (us < 10)
		snprintf(s, SHORT, "%.2f µs", us);
	else if (us < 100)
		snprintf(s, SHORT, "%.1f µs", us);
	else if (us < 1000)
		snprintf(s, SHORT, "%.0f µs", us);
	else if (us < 10000)
		snprintf(s, SHORT, "%.2f ms", us / 1e3);
	else
		snprintf(s, SHORT, "%.1f ms", us / 1e3);
}

/* "median (p99 x)" or "—". */
static void fmt_med_p99(char *s, const struct bench *b)
{
	if (b == NULL) {
		snprintf(s, CELL, "—");
		return;
	}
	char m[SHORT], q[SHORT];
	fmt_time(m, b->median);
	fmt_time(q, b->p99);
	snprintf(s, CELL, "%s (p99 %s)%s", m, q, b->cut_rounds ? " *" : "");
}

static void fmt_med(char *s, const struct bench *b)
{
	if (b == NULL) {
		snprintf(s, CELL, "—");
	} else {
		fmt_time(s, b->median);
		if (b->cut_rounds)
			strcat(s, " *");
	}
}

static void fmt_ratio(char *s, const struct bench *a, const struct bench *b)
{
	if (a == NULL || b == NULL || b->median == 0)
		snprintf(s, CELL, "—");
	else
		snprintf(s, CELL, "%.2f×", a->median / b->median);
}

static void fmt_rate(char *s, double r)
{
	if (r >= 1e6)
		snprintf(s, SHORT, "%.2fM", r / 1e6);
	else
		snprintf(s, SHORT, "%.0f", r);
}

/* Two cells: a throughput's median calls/s, and its rounds' range. */
static void fmt_rate_cells(char (*cell)[CELL], const struct bench *b)
{
	char lo[SHORT], hi[SHORT];
	fmt_rate(cell[0], b->median);
	fmt_rate(lo, b->rmin);
	fmt_rate(hi, b->rmax);
	snprintf(cell[1], CELL, "%s–%s", lo, hi);
}

/* ---- tables ---- */

#define MAX_ROWS 16
#define MAX_COLS 10

struct table {
	int ncols, nrows;
	char cell[MAX_ROWS + 1][MAX_COLS][CELL];   /* row 0: headers */
};

static void table_init(struct table *t, int ncols, ...)
{
	CHECK(ncols <= MAX_COLS);
	memset(t, 0, sizeof *t);
	t->ncols = ncols;
	va_list ap;
	va_start(ap, ncols);
	for (int c = 0; c < ncols; c++)
		snprintf(t->cell[0][c], CELL, "%s", va_arg(ap, const char *));
	va_end(ap);
}

/* A new row; its cells are filled through the returned pointer. */
static char (*table_row(struct table *t))[CELL]
{
	CHECK(t->nrows < MAX_ROWS);
	return t->cell[++t->nrows];
}

/* Display width of a UTF-8 string (code points). */
static int width(const char *s)
{
	int w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

static void table_print(FILE *f, int md, const char *title, const struct table *t, const char *note)
{
	if (md)
		fprintf(f, "#### %s\n\n", title);
	else
		fprintf(f, "\n%s\n", title);
	int w[MAX_COLS] = { 0 };
	for (int r = 0; r <= t->nrows; r++)
		for (int c = 0; c < t->ncols; c++)
			if (width(t->cell[r][c]) > w[c])
				w[c] = width(t->cell[r][c]);
	for (int r = 0; r <= t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			const char *s = t->cell[r][c];
			int pad = w[c] - width(s);
			if (md) {
				fprintf(f, "| %s ", s);
			} else if (c == 0) {
				fprintf(f, "  %s%*s", s, pad, "");
			} else {
				fprintf(f, "  %*s%s", pad, "", s);
			}
		}
		fprintf(f, md ? "|\n" : "\n");
		if (r == 0) {
			if (md) {
				for (int c = 0; c < t->ncols; c++)
					fprintf(f, "|%s", c == 0 ? "---" : "---:");
				fprintf(f, "|\n");
			} else {
				int total = 0;
				for (int c = 0; c < t->ncols; c++)
					total += w[c] + 2;
				fprintf(f, "  %.*s\n", total - 2,
				    "------------------------------------------------------------------------------------------------"
				    "------------------------------------------------------------------------------------------------");
			}
		}
	}
	if (note != NULL && *note)
		fprintf(f, md ? "\n%s\n" : "  %s\n", note);
	if (md)
		fprintf(f, "\n");
}

/* ---- the sections ---- */

static void report_null(FILE *f, int md, struct plan *p)
{
	static const char *const tr[] = { "door", "futex", "seqpacket", "pipe" };
	static const char *const names[] = { "door_call", "futex, blocking (the floor)", "AF_UNIX SOCK_SEQPACKET", "pipe" };
	struct table t;
	table_init(&t, 7, "transport", "free", "× futex", "same CPU", "× futex", "different CPUs", "× futex");
	for (int i = 0; i < 4; i++) {
		char (*row)[CELL] = table_row(&t);
		snprintf(row[0], CELL, "%s", names[i]);
		for (int pin = 0; pin < PIN_COUNT; pin++) {
			struct bench *b = findf(p, "null.%s.%s", tr[i], pin_name[pin]);
			fmt_med_p99(row[1 + 2 * pin], b);
			fmt_ratio(row[2 + 2 * pin], b, findf(p, "null.futex.%s", pin_name[pin]));
		}
	}
	char note[600] = "", r1[CELL], r2[CELL];
	size_t len = 0;
	for (int pin = 0; pin < PIN_COUNT; pin++) {
		struct bench *d = findf(p, "null.door.%s", pin_name[pin]);
		fmt_ratio(r1, d, findf(p, "null.seqpacket.%s", pin_name[pin]));
		fmt_ratio(r2, d, findf(p, "null.pipe.%s", pin_name[pin]));
		len += (size_t)snprintf(note + len, sizeof note - len, "%s%s: %s SOCK_SEQPACKET, %s pipe", pin ? "; " : "",
		    pin_title[pin], r1, r2);
	}
	char full[1400];
	size_t flen = (size_t)snprintf(full, sizeof full, "door_call against the other transports (median ÷ median): %s.", note);
	struct bench *il = find_bench(p, "null.interleaved.same");
	if (il != NULL)
		snprintf(full + flen, sizeof full - flen,
		    "%sInterleaved on one CPU (blocks of door_calls and of futex round trips, alternating, to the same "
		    "server process; median of the per-block ratios): door_call %.2f× futex (rounds %.2f–%.2f×).",
		    md ? "\n\n" : "\n  ", il->median, il->rmin, il->rmax);
	struct bench *cl = find_bench(p, "null.cacheline.diff");
	flen = strlen(full);
	if (cl != NULL)
		snprintf(full + flen, sizeof full - flen,
		    "%sA cache line handed between the two CPUs (both spinning): %.0f ns one way (rounds %.0f–%.0f ns). "
		    "A null call across CPUs hands at least one line each way, so it cannot take less than twice this.",
		    md ? "\n\n" : "\n  ", cl->median, cl->rmin, cl->rmax);
	table_print(f, md, "Null round trip: 8 bytes in, 8 bytes out (median of round medians, p99 of all calls)", &t, full);
}

static const char *size_label(size_t size)
{
	static char s[4][32];
	static int next;
	char *b = s[next++ % 4];
	if (size >= (1u << 20))
		snprintf(b, 32, "%zu MiB", size >> 20);
	else
		snprintf(b, 32, "%zu KiB", size >> 10);
	return b;
}

static void fmt_gbps(char *s, const struct bench *b)
{
	if (b == NULL)
		snprintf(s, CELL, "—");
	else
		snprintf(s, CELL, "%.2f", (double)b->bytes / b->median);
}

static void report_size(FILE *f, int md, struct plan *p)
{
	struct table t;
	table_init(&t, 10, "argument", "door_call", "SOCK_STREAM", "memcpy", "door ÷ stream", "door ÷ memcpy", "door GB/s",
	    "stream GB/s", "transfer alone", "alone ÷ memcpy");
	for (int i = 0; i < 4; i++) {
		const char *k = size_key(arg_sizes[i]);
		struct bench *d = findf(p, "size.door.%s", k), *s = findf(p, "size.stream.%s", k),
			     *m = findf(p, "size.memcpy.%s", k), *a = findf(p, "size.touch.%s", k);
		char (*row)[CELL] = table_row(&t);
		snprintf(row[0], CELL, "%s", size_label(arg_sizes[i]));
		fmt_med_p99(row[1], d);
		fmt_med_p99(row[2], s);
		fmt_med(row[3], m);
		fmt_ratio(row[4], d, s);
		fmt_ratio(row[5], d, m);
		fmt_gbps(row[6], d);
		fmt_gbps(row[7], s);
		fmt_med(row[8], a);
		fmt_ratio(row[9], a, m);
	}
	table_print(f, md, "Argument size: the server reads every byte and returns 64 bytes (processes free)", &t,
	    "memcpy: one copy of the same size within one process, the physical floor. Transfer alone: door_call to "
	    "a procedure that reads one word of each page instead of every byte (the sum is the procedure's own work, "
	    "which the memcpy does not do); the targets are on the door_call column.");

	table_init(&t, 4, "argument", "memcpy + sum", "door ÷ it", "it ÷ SOCK_STREAM");
	for (int i = 0; i < 4; i++) {
		const char *k = size_key(arg_sizes[i]);
		struct bench *d = findf(p, "size.door.%s", k), *s = findf(p, "size.stream.%s", k),
			     *c = findf(p, "size.copysum.%s", k);
		char (*row)[CELL] = table_row(&t);
		snprintf(row[0], CELL, "%s", size_label(arg_sizes[i]));
		fmt_med_p99(row[1], c);
		fmt_ratio(row[2], d, c);
		fmt_ratio(row[3], c, s);
	}
	table_print(f, md, "The least a copy of its own costs: one memcpy and the procedure's sum, in one process", &t,
	    "Any transport that gives the procedure a copy of the argument of its own, as door_call must, makes that "
	    "copy and then the procedure reads it: this is its floor. it ÷ SOCK_STREAM: the lowest door ÷ stream such a "
	    "transport could reach in this run.");
}

static void report_result(FILE *f, int md, struct plan *p)
{
	struct table t;
	table_init(&t, 6, "result", "door_call, new mapping", "door_call, into rbuf", "SOCK_STREAM", "mapping ÷ rbuf",
	    "mapping ÷ stream");
	for (int i = 0; i < N_RESULT_SIZES; i++) {
		const char *k = size_key(result_sizes[i]);
		struct bench *o = findf(p, "result.door-overflow.%s", k), *r = findf(p, "result.door-rbuf.%s", k),
			     *s = findf(p, "result.stream.%s", k);
		char (*row)[CELL] = table_row(&t);
		snprintf(row[0], CELL, "%s", size_label(result_sizes[i]));
		fmt_med_p99(row[1], o);
		fmt_med_p99(row[2], r);
		fmt_med_p99(row[3], s);
		fmt_ratio(row[4], o, r);
		fmt_ratio(row[5], o, s);
	}
	table_print(f, md, "Results larger than rbuf: 16 bytes in, the result out (processes free)", &t,
	    "new mapping: rbuf is 64 bytes, so the result arrives in a fresh mapping that the client munmaps "
	    "(included); into rbuf: rbuf is large enough.");
}

/* The caller's buffer a few bytes into a page, against one that starts a
 * page: rows for what this run measured of the two. */
static void report_skew(FILE *f, int md, struct plan *p)
{
	static const struct { const char *what, *aligned, *skewed; } rows[] = {
		{ "64 KiB argument, 4080 bytes into a page", "size.door.64K", "size.door-skew.64K" },
		{ "64 KiB of results into rbuf, 16 bytes into a page", "result.door-rbuf.64K", "result.door-rbuf-skew.64K" },
	};
	struct table t;
	table_init(&t, 4, "caller's buffer", "door_call", "the same, buffer on a page", "÷ on a page");
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct bench *a = find_bench(p, rows[i].aligned), *k = find_bench(p, rows[i].skewed);
		if (a == NULL || k == NULL || !a->done || !k->done)
			continue;
		char (*row)[CELL] = table_row(&t);
		snprintf(row[0], CELL, "%s", rows[i].what);
		fmt_med_p99(row[1], k);
		fmt_med_p99(row[2], a);
		fmt_ratio(row[3], k, a);
	}
	if (t.nrows > 0)
		table_print(f, md, "Buffers a few bytes out of step with a page (processes free)", &t,
		    "The library's buffers start on a page; a caller's buffer a few bytes before a page's end (an "
		    "argument) or into a page (a large malloc block, 16 bytes in) puts the two a few bytes out of step, "
		    "which `rep movsb` copies about ten times slower on AMD Zen 3.");
}

/* Two cells: the floor's calls/s, and `b`'s over it ("—" without one). */
static void fmt_floor(char (*cell)[CELL], const struct bench *b, const struct bench *floor)
{
	if (floor != NULL && floor->done) {
		fmt_rate(cell[0], floor->median);
		snprintf(cell[1], CELL, "%.2f×", b->median / floor->median);
	} else {
		snprintf(cell[0], CELL, "—");
		snprintf(cell[1], CELL, "—");
	}
}

/* Calls whose procedure computes: how much of the machine the procedures
 * get, which is what scaling with client threads can reach on it. */
static void report_work_rate(FILE *f, int md, struct plan *p)
{
	struct bench *one = find_bench(p, "rate.work.1"), *alone = find_bench(p, "rate.work.alone");
	if (one == NULL || alone == NULL || !one->done || !alone->done)
		return;
	struct table t;
	table_init(&t, 7, "clients", "calls/s", "rounds min–max", "× 1 thread", "CPUs in the procedure", "futex floor",
	    "door ÷ floor");
	for (int i = 0; i < p->count; i++) {
		struct bench *b = &p->list[i];
		if (b->section != SEC_RATE || !b->done || strcmp(b->transport, "door-work") != 0)
			continue;
		char (*row)[CELL] = table_row(&t);
		snprintf(row[0], CELL, "%d %s", b->clients, b->clients == 1 ? "thread" : "threads");
		fmt_rate_cells(row + 1, b);
		snprintf(row[3], CELL, "%.2f×", b->median / one->median);
		snprintf(row[4], CELL, "%.2f of %d", b->median * alone->median / 1e9, pin_cpu_count());
		fmt_floor(row + 5, b, findf(p, "rate.floor.%d", b->clients));
	}
	char w[SHORT], note[600];
	fmt_time(w, alone->median);
	snprintf(note, sizeof note,
	    "Each call's procedure computes for %s (the same work timed alone in one process, median). "
	    "CPUs in the procedure: calls/s × that time, how many CPUs' worth of time the procedures had; "
	    "the rest went to the calls themselves and to waiting. Futex floor: as many blocking futex ping-pongs "
	    "between the two processes, each answered after the same computation.", w);
	table_print(f, md, "Throughput with work: calls whose procedure computes, from client threads on one door", &t, note);
}

static void report_rate(FILE *f, int md, struct plan *p)
{
	struct table t;
	table_init(&t, 7, "clients", "calls/s", "rounds min–max", "µs per call per client", "× 1 thread", "futex floor",
	    "door ÷ floor");
	struct bench *one = find_bench(p, "rate.threads.1");
	for (int i = 0; i < p->count; i++) {
		struct bench *b = &p->list[i];
		if (b->section != SEC_RATE || !b->done || !b->rate ||
		    (strcmp(b->transport, "door-threads") != 0 && strcmp(b->transport, "door-procs") != 0))
			continue;
		char (*row)[CELL] = table_row(&t);
		snprintf(row[0], CELL, "%d %s", b->clients,
		    strcmp(b->transport, "door-procs") == 0 ? "processes" : b->clients == 1 ? "thread" : "threads");
		fmt_rate_cells(row + 1, b);
		fmt_time(row[3], 1e9 * b->clients / b->median);
		if (one != NULL)
			snprintf(row[4], CELL, "%.2f×", b->median / one->median);
		else
			snprintf(row[4], CELL, "—");
		struct bench *fl = strcmp(b->transport, "door-threads") == 0 ? findf(p, "rate.futex.%d", b->clients) : NULL;
		fmt_floor(row + 5, b, fl);
	}
	char note[400];
	snprintf(note, sizeof note, "Null calls on one door from one client process's threads, or from 100 processes; "
	    "%d CPUs available. Futex floor: as many blocking futex ping-pongs between two processes, one per client "
	    "thread, each answered by a thread of its own.", pin_cpu_count());
	table_print(f, md, "Throughput: null calls per second on one door (median of rounds)", &t, note);
	report_work_rate(f, md, p);
}

static void report_setup(FILE *f, int md, struct plan *p)
{
	static const struct { const char *id, *ref; } rows[] = {
		{ "setup.door_create", "setup.socketpair" },
		{ "setup.open.door", "setup.connect" },
		{ "setup.open.door", "setup.open.file" },
		{ "setup.first_call", "setup.connect" },
		{ "setup.first_call", "null.door.free" },
		{ "setup.first_call_process", "setup.connect" },
		{ "setup.first_call_process", "null.door.free" },
	};
	struct table t;
	table_init(&t, 6, "operation", "median", "p99", "compared with", "its median", "ratio");
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct bench *b = find_bench(p, rows[i].id), *r = find_bench(p, rows[i].ref);
		/* A comparison left out of this run is dropped, unless the
		 * operation would then be missing altogether. */
		if (b == NULL || (r == NULL && i > 0 && strcmp(rows[i - 1].id, rows[i].id) == 0))
			continue;
		char (*row)[CELL] = table_row(&t);
		snprintf(row[0], CELL, "%s", b->label);
		fmt_med(row[1], b);
		fmt_time(row[2], b->p99);
		snprintf(row[3], CELL, "%s", r == NULL ? "—" : r->section == SEC_NULL ? "a steady null door_call" : r->label);
		fmt_med(row[4], r);
		fmt_ratio(row[5], b, r);
	}
	table_print(f, md, "Set-up costs (processes free)", &t,
	    "door_create and socketpair run in a process of their own. A new thread's first call takes the connection "
	    "to the door that the previous sample's thread left when it ended; a new process (forked; the call alone "
	    "is timed) has none to take and opens one.");
}

/* The quantified targets of issue 4, against this run's ratios. */
static void report_targets(FILE *f, int md, struct plan *p)
{
	static const struct { const char *what, *a, *b; double limit; int absolute; } rows[] = {
		{ "null door_call ÷ blocking futex, same CPU (both sides block)", "null.door.same", "null.futex.same", 1.15, 0 },
		{ "the same, interleaved blocks (median of paired ratios)", "null.interleaved.same", NULL, 1.15, 2 },
		{ "null door_call ÷ blocking futex, free", "null.door.free", "null.futex.free", 1.15, 0 },
		{ "null door_call median, different CPUs", "null.door.diff", NULL, 2000, 1 },
		{ "1 MiB argument ÷ SOCK_STREAM", "size.door.1M", "size.stream.1M", 0.5, 0 },
		{ "1 MiB argument ÷ memcpy", "size.door.1M", "size.memcpy.1M", 2.5, 0 },
		{ "16 MiB argument ÷ SOCK_STREAM", "size.door.16M", "size.stream.16M", 0.5, 0 },
		{ "16 MiB argument ÷ memcpy", "size.door.16M", "size.memcpy.16M", 2.5, 0 },
	};
	struct table t;
	table_init(&t, 4, "target", "wanted", "measured", "met");
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct bench *a = find_bench(p, rows[i].a), *b = rows[i].b ? find_bench(p, rows[i].b) : NULL;
		if (a == NULL || (rows[i].b != NULL && b == NULL))
			continue;
		double v = rows[i].absolute ? a->median : a->median / b->median;
		char (*row)[CELL] = table_row(&t);
		snprintf(row[0], CELL, "%s", rows[i].what);
		if (rows[i].absolute == 1) {
			char w[SHORT];
			fmt_time(w, rows[i].limit);
			snprintf(row[1], CELL, "< %s", w);
			fmt_time(row[2], v);
		} else {
			snprintf(row[1], CELL, "≤ %.2f×", rows[i].limit);
			snprintf(row[2], CELL, "%.2f×", v);
		}
		snprintf(row[3], CELL, "%s", v <= rows[i].limit ? "yes" : "no");
	}
	/* Whether the SOCK_STREAM targets are within reach on this machine. */
	char note[256] = "";
	struct bench *c1 = find_bench(p, "size.copysum.1M"), *s1 = find_bench(p, "size.stream.1M"),
		     *c16 = find_bench(p, "size.copysum.16M"), *s16 = find_bench(p, "size.stream.16M");
	if (c1 != NULL && s1 != NULL && c16 != NULL && s16 != NULL)
		snprintf(note, sizeof note,
		    "One memcpy and the procedure's sum alone, the floor of any transport that gives the procedure "
		    "its own copy: %.2f× SOCK_STREAM at 1 MiB, %.2f× at 16 MiB.",
		    c1->median / s1->median, c16->median / s16->median);
	if (t.nrows > 0)
		table_print(f, md, "Against the targets of issue 4 (ratios of medians from this run)", &t,
		    note[0] ? note : NULL);
}

void print_report(FILE *f, int md, struct plan *p, const struct meta *m)
{
	if (md) {
		fprintf(f, "### Figures: commit `%s`, %s, %s mode\n\n", m->commit, m->date, m->mode);
		fprintf(f, "Machine: %d CPUs (%d usable), %s, %s. %d rounds, %.0f s. Command: `make -C bench %s`.\n\n",
		    m->nproc, m->cpus_allowed, m->cpu_model, m->kernel, m->rounds, m->seconds,
		    strcmp(m->mode, "quick") == 0 ? "run" : "full");
	} else {
		fprintf(f, "doorbench, %s mode: commit %s, %s; %d rounds in %.0f s\n", m->mode, m->commit, m->date, m->rounds,
		    m->seconds);
		fprintf(f, "machine: %d CPUs (%d usable), %s, %s\n", m->nproc, m->cpus_allowed, m->cpu_model, m->kernel);
	}
	report_targets(f, md, p);
	if (p->sections & (1 << SEC_NULL))
		report_null(f, md, p);
	if (p->sections & (1 << SEC_SIZE))
		report_size(f, md, p);
	if (p->sections & (1 << SEC_RESULT))
		report_result(f, md, p);
	if (p->sections & ((1 << SEC_SIZE) | (1 << SEC_RESULT)))
		report_skew(f, md, p);
	if (p->sections & (1 << SEC_RATE))
		report_rate(f, md, p);
	if (p->sections & (1 << SEC_SETUP))
		report_setup(f, md, p);
	int cut = 0;
	for (int i = 0; i < p->count; i++)
		cut += p->list[i].cut_rounds > 0;
	if (cut)
		fprintf(f, "%s* %d configuration%s hit the time cap (%.0f s per round) before its calls were done; "
		           "its figures come from fewer calls (see \"samples\" in the JSON).\n",
		    md ? "" : "\n", cut, cut == 1 ? "" : "s", p->cap_s);
}

/* ---- JSON ---- */

/* The configurations each one is compared with. */
static int refs_of(struct plan *p, const struct bench *b, struct bench **out)
{
	int n = 0;
	const char *suffix = strrchr(b->id, '.') + 1;
#define REF(...) do { struct bench *r_ = findf(p, __VA_ARGS__); if (r_ != NULL && r_ != b) out[n++] = r_; } while (0)
	switch (b->section) {
	case SEC_NULL:
		if (strcmp(b->transport, "cacheline") == 0)
			break;
		REF("null.futex.%s", suffix);
		REF("null.seqpacket.%s", suffix);
		REF("null.pipe.%s", suffix);
		break;
	case SEC_SIZE:
		REF("size.stream.%s", suffix);
		REF("size.memcpy.%s", suffix);
		REF("size.copysum.%s", suffix);
		break;
	case SEC_RESULT:
		REF("result.door-rbuf.%s", suffix);
		REF("result.stream.%s", suffix);
		break;
	case SEC_RATE:
		if (strcmp(b->transport, "door-work") == 0) {
			REF("rate.work.1");
			REF("rate.floor.%d", b->clients);
		} else if (strcmp(b->transport, "futex-work") == 0) {
			REF("rate.floor.1");
		} else if (strcmp(b->transport, "futex-threads") == 0) {
			REF("rate.futex.1");
		} else if (b->rate) {
			REF("rate.threads.1");
			if (strcmp(b->transport, "door-threads") == 0)
				REF("rate.futex.%d", b->clients);
		}
		break;
	case SEC_SETUP:
		if (strcmp(b->id, "setup.door_create") == 0)
			REF("setup.socketpair");
		if (strcmp(b->id, "setup.open.door") == 0) {
			REF("setup.connect");
			REF("setup.open.file");
		}
		if (strncmp(b->id, "setup.first_call", 16) == 0) {
			REF("setup.connect");
			REF("null.door.free");
		}
		break;
	default:
		break;
	}
#undef REF
	return n;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v, int us)
{
	if (us < 0)
		fprintf(f, "%.4f", v);
	else if (us)
		fprintf(f, "%.4f", v / 1e3);
	else
		fprintf(f, "%.1f", v);
}

void write_json(const char *path, struct plan *p, const struct meta *m)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		die_errno("%s", path);
	fprintf(f, "{\n  \"meta\": {\"tool\": \"doorbench\", \"commit\": ");
	json_str(f, m->commit);
	fprintf(f, ", \"date\": ");
	json_str(f, m->date);
	fprintf(f, ", \"mode\": ");
	json_str(f, m->mode);
	fprintf(f, ", \"rounds\": %d, \"seconds\": %.1f, \"nproc\": %d, \"cpus_allowed\": %d, \"cpu_model\": ", m->rounds,
	    m->seconds, m->nproc, m->cpus_allowed);
	json_str(f, m->cpu_model);
	fprintf(f, ", \"kernel\": ");
	json_str(f, m->kernel);
	fprintf(f, ",\n    \"units\": \"times in microseconds (median of round medians, p99 of all samples); "
	           "rate rows in calls per second (median of rounds)\"},\n  \"results\": [");
	int first = 1;
	for (int i = 0; i < p->count; i++) {
		struct bench *b = &p->list[i];
		if (!b->done)
			continue;
		int us = !b->rate && !b->ratio;
		int num = b->ratio ? -1 : us;   /* json_num's format */
		fprintf(f, "%s\n    {\"id\": ", first ? "" : ",");
		first = 0;
		json_str(f, b->id);
		fprintf(f, ", \"section\": ");
		json_str(f, section_name[b->section]);
		fprintf(f, ", \"transport\": ");
		json_str(f, b->transport);
		fprintf(f, ", \"label\": ");
		json_str(f, b->label);
		fprintf(f, ", \"pin\": ");
		json_str(f, pin_name[b->pin]);
		fprintf(f, ", \"bytes\": %zu, \"clients\": %d, \"unit\": \"%s\", \"per_round\": %d, \"samples\": %d, "
		           "\"rounds_cut_short\": %d,\n     \"median\": ", b->bytes, b->clients, b->ratio ? "ratio" : us ? "us" : "calls/s", b->n, b->nall,
		    b->cut_rounds);
		json_num(f, b->median, num);
		fprintf(f, ", \"p99\": ");
		if (us)
			json_num(f, b->p99, us);
		else
			fprintf(f, "null");
		fprintf(f, ", \"round_min\": ");
		json_num(f, b->rmin, num);
		fprintf(f, ", \"round_max\": ");
		json_num(f, b->rmax, num);
		fprintf(f, ", \"round_medians\": [");
		for (int r = 0; r < b->nround; r++) {
			fprintf(f, "%s", r ? ", " : "");
			json_num(f, b->round_med[r], num);
		}
		fprintf(f, "],\n     \"ratios\": {");
		struct bench *refs[4];
		int n = b->ratio ? 0 : refs_of(p, b, refs);
		for (int r = 0; r < n; r++) {
			fprintf(f, "%s", r ? ", " : "");
			json_str(f, refs[r]->id);
			fprintf(f, ": %.4f", b->median / refs[r]->median);
		}
		fprintf(f, "}}");
	}
	fprintf(f, "\n  ]\n}\n");
	if (fclose(f) != 0)
		die_errno("%s", path);
}
