/*
 * doorbench: libdoor's benchmark. Shared declarations.
 *
 * util.c     fatal errors and clean-up, children, pinning, futexes, I/O
 * transports.c  every configuration measured: servers and client loops
 * report.c   statistics, the tables (text and markdown) and the JSON file
 * doorbench.c   options, the list of configurations, the rounds
 */
#ifndef DOORBENCH_H
#define DOORBENCH_H

#define _GNU_SOURCE
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

/* ---- util.c ---- */

/* Prints "doorbench: <message>" (with strerror(errno) for die_errno), then:
 * in the main process, kills every child and removes the work directory;
 * in a child, just exits. Never returns. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void die_errno(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
#define CHECK(cond) do { if (!(cond)) die("%s:%d: check failed: %s", __FILE__, __LINE__, #cond); } while (0)
#define CHECK_OK(call) do { if ((call) == -1) die_errno("%s:%d: %s", __FILE__, __LINE__, #call); } while (0)

/* Sets up the main process: its pid, the work directory (a fresh
 * /tmp/doorbench.XXXXXX), signal handlers that clean up, SIGPIPE ignored. */
void util_init(void);
const char *work_dir(void);
/* "<work dir>/<name>" in a static buffer of the caller's (size PATH_BUF). */
#define PATH_BUF 512
void work_path(char *buf, const char *name);
/* Kills (SIGKILL) and reaps every child still running, removes the work
 * directory. Called at the end and from die() and signal handlers. */
void cleanup_all(void);

/* Forks a child that runs fn(arg) and then exits; the child dies with the
 * main process (PR_SET_PDEATHSIG) and is pinned as `pin` says (as a
 * server). Only from the main thread. cleanup_all() kills it. */
pid_t spawn_child(int pin, void (*fn)(void *), void *arg);
/* Fails (die) if any child has exited. */
void check_children(void);
/* 1 in a child forked by spawn_child. */
int in_child(void);

/* A one-shot "ready" signal from a child to the main process. */
struct gate { int fd[2]; };
void gate_init(struct gate *g);
void gate_open(struct gate *g);
void gate_wait(struct gate *g);   /* dies if the child died first */

/* Pinning. PIN_FREE: the CPUs the program started with. PIN_SAME: client
 * and server both on cpu_a. PIN_DIFF: client on cpu_a, server on cpu_b. */
enum pin { PIN_FREE, PIN_SAME, PIN_DIFF, PIN_COUNT };
extern const char *const pin_name[PIN_COUNT];
extern const char *const pin_title[PIN_COUNT];
void pin_init(void);
int pin_available(int pin);
/* Pins the calling thread as the client (role 0) or server (role 1) of
 * configuration `pin`. */
void pin_self(int pin, int role);
int pin_cpu_count(void);

/* Time. */
static inline double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Futexes on shared (MAP_SHARED) memory: not FUTEX_PRIVATE. */
void futex_wake_all(_Atomic uint32_t *word);
void futex_wake_one(_Atomic uint32_t *word);
/* Waits while *word == val, up to `seconds`; returns 0 when woken (or the
 * value differed), -1 on timeout. EINTR counts as woken. */
int futex_wait(_Atomic uint32_t *word, uint32_t val, int seconds);
/* Waits until *word != val; dies after a minute (a peer died or hung). */
void futex_wait_change(_Atomic uint32_t *word, uint32_t val, const char *what);
/* Waits until *word != val with no timeout: the floor's wait, since a
 * timed FUTEX_WAIT arms a kernel timer on every sleep (about 10% of a
 * same-CPU round trip here). A child's death interrupts it (SIGCHLD has a
 * handler without SA_RESTART) and ends the run. */
void futex_wait_change_untimed(_Atomic uint32_t *word, uint32_t val);
/* Sleeps while *word == val, with no timeout (a server's wait). */
void futex_wait_untimed(_Atomic uint32_t *word, uint32_t val);

/* Anonymous shared memory, zeroed, pre-faulted. */
void *shared_alloc(size_t len);
/* Private memory, pre-faulted. */
void *private_alloc(size_t len);

/* Whole reads and writes; die on error, on end of file (read_full returns 0
 * only when end of file comes before the first byte and eof_ok is set). */
int read_full(int fd, void *buf, size_t len, int eof_ok);
void write_full(int fd, const void *buf, size_t len);
void writev_full(int fd, const void *a, size_t alen, const void *b, size_t blen);

/* Sum of the 64-bit words of buf (len a multiple of 8): how servers read
 * every byte of an argument. */
uint64_t sum_words(const void *buf, size_t len);
/* The word the data pattern holds at index i (results and arguments). */
static inline uint64_t pattern_word(size_t i)
{
	return (uint64_t)i * 0x9E3779B97F4A7C15ull + 0x0123456789ABCDEFull;
}
void fill_pattern(void *buf, size_t len);
/* "4K", "64K", "1M", "16M": sizes in configuration ids. Rotating static
 * buffers: use the result before the fourth next call. */
const char *size_key(size_t size);

/* ---- the benchmark's configurations ---- */

enum section { SEC_NULL, SEC_SIZE, SEC_RESULT, SEC_RATE, SEC_SETUP, SEC_COUNT };
extern const char *const section_name[SEC_COUNT];

struct bench {
	const char *id;          /* unique, e.g. "null.door.same" */
	enum section section;
	const char *transport;   /* door, futex, seqpacket, pipe, stream, memcpy, ... */
	const char *label;       /* human-readable, ASCII */
	int pin;
	size_t bytes;            /* argument or result size (0 if none) */
	int clients;             /* client threads or processes (rate) */
	int rate;                /* samples are one calls/s figure per round */
	int ratio;               /* samples are ratios (no unit), not times */
	int n, warm;             /* measured and warm-up operations per round */
	void (*setup)(struct bench *);
	/* Fills samples[0..n) (ns per operation), or samples[0] (calls/s);
	 * returns how many it filled: fewer than n if the round's time cap
	 * (`deadline`, in now_ns() time) came first. */
	int (*run)(struct bench *, double *samples);
	double deadline;
	void *state;
	/* results, filled by the rounds */
	double *all;             /* every sample of every round */
	int nall;
	double *round_med;       /* one per round */
	int nround;
	int cut_rounds;          /* rounds cut short by the time cap */
	/* statistics, filled by report.c */
	double median, p99, rmin, rmax;
	int done;
};

/* transports.c: appends this section's configurations to the list. */
struct plan {
	int quick;
	int sections;            /* bit per enum section */
	struct bench *list;
	int count, cap;
	double window_s;         /* throughput window per round */
	double cap_s;            /* time cap per configuration per round */
};
struct bench *plan_add(struct plan *p);
void add_null_benches(struct plan *p);
void add_size_benches(struct plan *p);
void add_result_benches(struct plan *p);
void add_rate_benches(struct plan *p);
void add_setup_benches(struct plan *p);
/* Size classes: the argument sizes measured. */
extern const size_t arg_sizes[4];
#define N_RESULT_SIZES 3
extern const size_t result_sizes[N_RESULT_SIZES];

/* ---- report.c ---- */
struct meta {
	const char *commit;
	const char *date;        /* UTC, ISO 8601 */
	const char *mode;        /* quick or full */
	int rounds;
	double seconds;          /* the run's wall time */
	int nproc;
	int cpus_allowed;
	char cpu_model[128];
	char kernel[256];
};
/* Records one round's samples (reordered). */
void add_round(struct bench *b, double *samples, int got);
void compute_stats(struct bench *b);
struct bench *find_bench(struct plan *p, const char *id);
void print_report(FILE *f, int markdown, struct plan *p, const struct meta *m);
void write_json(const char *path, struct plan *p, const struct meta *m);

#endif
