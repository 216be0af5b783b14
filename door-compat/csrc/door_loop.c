/*
 * The server thread's service loop and door_return, in C because they jump
 * out of the procedure's frames, which Rust cannot do soundly.
 *
 * A thread's first door_return enters serve_forever(), which never returns:
 * it records a jump point, asks Rust for the next invocation, and calls the
 * procedure. A later successful door_return jumps back to that point,
 * abandoning the procedure's frames exactly as illumos resets the server
 * thread's stack, so serving any number of calls never grows the stack.
 * Rust code runs only in calls that return before any jump (ops->next,
 * ops->reply), so no Rust frame is ever jumped over.
 *
 * The jump is GCC's __builtin_setjmp/__builtin_longjmp, which restore the
 * stack and frame pointers and nothing else: no signal mask (as on illumos,
 * where the jump is the kernel resetting the stack), and no walk of
 * glibc's cleanup list (a procedure cannot be inside a libc function when
 * it calls door_return). glibc's longjmp cost 60 of the server's 1,100
 * instructions per call. Under a sanitizer's runtime (AddressSanitizer,
 * ThreadSanitizer...) the loop uses glibc's sigsetjmp/siglongjmp instead,
 * which the runtime intercepts to forget the abandoned frames (their
 * poisoned red zones, their shadow call stack).
 *
 * A procedure of the Rust API (src/rust.rs) does not call door_return: it
 * answers its invocation from Rust, calls libdoor_invocation_answered(),
 * and returns here, so that no Rust frame is jumped over at all; the loop
 * then serves the next invocation.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef void (*procedure_fn)(void *, char *, size_t, void *, uint64_t);
typedef void (*server_fn)(void *);

typedef void *(*start_fn)(void *);
typedef int (*xcreate_fn)(void *, start_fn, void *, void *);

/* Must match serve::Dispatch. */
struct dispatch {
	procedure_fn procedure;
	void *cookie;
	char *argp;
	size_t arg_size;
	void *dp;
	uint64_t n_desc;
	server_fn depletion;
	void *depletion_info;
	xcreate_fn xcreate;
	void *startf_arg;
	void *crcookie;
};

/* Must match call.rs Sleep. */
struct sleep {
	const uint32_t *word;
	uint32_t value;
};
#define CALL_SLEEP (-1) /* call.rs SLEEP */

/* Must match lib.rs Ops. */
struct ops {
	void (*next)(struct dispatch *, void **);
	int (*reply)(char *, size_t, void *, unsigned, void **);
	int (*bind_door)(uint64_t);
	int (*call_start)(int, void *, void *, size_t, void **, struct sleep *, int *);
	int (*call_step)(void **, int, int, struct sleep *, int *);
	void (*call_cancel)(void *);
};

void *libdoor_xcreate_startf(void *arg);

const struct ops *libdoor_ops;

void libdoor_set_ops(const struct ops *ops) { libdoor_ops = ops; }

/*
 * A server thread's loop, in one thread-local record so that the loop finds
 * it once (in a shared library each use of a __thread variable is a call).
 */
struct loop {
	struct dispatch cur;
	/* Rust's record of this thread (serve.rs), kept here for it. */
	void *server_thread;
	/* The jump point: __builtin_setjmp's five words, or glibc's. */
	void *point[5];
	sigjmp_buf sanitized_point;
	int in_service;
	int sanitized;
	/* The running procedure answered its invocation and returns to the loop. */
	int answered;
};

static __thread struct loop loop_state;

void libdoor_invocation_answered(void) { loop_state.answered = 1; }

/* Rust freed its record of this thread (the thread is exiting). */
void libdoor_forget_server_thread(void) { loop_state.server_thread = NULL; }

/* Defined by every sanitizer's runtime (sanitizer_common), when present. */
extern void __sanitizer_set_report_path(const char *) __attribute__((weak));

static void serve_loop(struct loop *me) __attribute__((noreturn));

static void serve_loop(struct loop *me)
{
	for (;;) {
		me->answered = 0;
		libdoor_ops->next(&me->cur, &me->server_thread);
		struct dispatch *cur = &me->cur;
		if (cur->procedure == NULL)
			pthread_exit(NULL);
		if (cur->depletion != NULL)
			cur->depletion(cur->depletion_info);
		if (cur->xcreate != NULL)
			(void)cur->xcreate(cur->depletion_info, libdoor_xcreate_startf, cur->startf_arg, cur->crcookie);
		cur->procedure(cur->cookie, cur->argp, cur->arg_size, cur->dp, cur->n_desc);
		/*
		 * A Rust API procedure returns once it has answered. Any other
		 * procedure that returns instead of calling door_return ends the
		 * thread, as on illumos, and its caller gets EINTR (the Rust key
		 * destructor answers it).
		 */
		if (!me->answered)
			pthread_exit(NULL);
	}
}

/*
 * Every successful door_return lands at the jump point, on this same frame,
 * and runs the loop again. `me` is a parameter, never changed, which the
 * compiler keeps in this frame across the jump (made opaque first: it is
 * always &loop_state, which the compiler would otherwise look up again,
 * with a call, at each use).
 */
static void serve_forever(struct loop *me) __attribute__((noreturn, noinline));

static void serve_forever(struct loop *me)
{
	__asm__("" : "+r"(me));
	me->in_service = 1;
	me->sanitized = __sanitizer_set_report_path != NULL;
	if (me->sanitized)
		(void)sigsetjmp(me->sanitized_point, 0);
	else
		__builtin_setjmp(me->point);
	serve_loop(me);
}

int libdoor_door_return(char *data_ptr, size_t data_size, void *desc_ptr, unsigned num_desc)
{
	struct loop *me = &loop_state;
	int err = libdoor_ops->reply(data_ptr, data_size, desc_ptr, num_desc, &me->server_thread);
	if (err != 0) {
		errno = err;
		return -1;
	}
	if (!me->in_service)
		serve_forever(me);
	if (me->sanitized)
		siglongjmp(me->sanitized_point, 1);
	__builtin_longjmp(me->point, 1);
}

static void *server_thread(void *arg)
{
	(void)arg;
	/* Default server threads are not cancellable, as on illumos. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	libdoor_door_return(NULL, 0, NULL, 0);
	return NULL;
}

/* The default door_server_create function: one more detached thread. */
void libdoor_default_server_create(void *info)
{
	pthread_t t;
	pthread_attr_t attr;

	(void)info;
	if (pthread_attr_init(&attr) != 0)
		return;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	(void)pthread_create(&t, &attr, server_thread, NULL);
	pthread_attr_destroy(&attr);
	sched_yield();
}

/*
 * door_xcreate's threads. The application's creation function starts each
 * with startf(startf_arg); the thread runs the setup function (or disables
 * cancellation, as libc does without one), binds to the door, reports to
 * the creator, and parks in door_return. The argument is a heap record that
 * outlives every thread that may read it: door_xcreate waits for the
 * threads it was told about, and a door's depletion record lives as long as
 * the process (so illumos' dangling-argument crash cannot happen).
 */
struct xstart {
	uint64_t door;
	void (*setup)(void *);
	void *crcookie;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int reported;
	int failed;
};

struct xstart *libdoor_xstart_new(uint64_t door, void (*setup)(void *), void *crcookie)
{
	struct xstart *x = calloc(1, sizeof *x);
	if (x == NULL)
		return NULL;
	x->door = door;
	x->setup = setup;
	x->crcookie = crcookie;
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->cond, NULL);
	return x;
}

/* Frees a record no thread was started with (door_xcreate failed). */
void libdoor_xstart_free(struct xstart *x)
{
	pthread_cond_destroy(&x->cond);
	pthread_mutex_destroy(&x->lock);
	free(x);
}

/* Names the door the record's threads bind to. */
void libdoor_xstart_set_door(struct xstart *x, uint64_t door)
{
	x->door = door;
}

/* Waits until `n` threads have reported; returns how many failed to bind. */
int libdoor_xstart_wait(struct xstart *x, int n)
{
	pthread_mutex_lock(&x->lock);
	while (x->reported < n)
		pthread_cond_wait(&x->cond, &x->lock);
	int failed = x->failed;
	x->reported = 0;
	x->failed = 0;
	pthread_mutex_unlock(&x->lock);
	return failed;
}

void *libdoor_xcreate_startf(void *arg)
{
	struct xstart *x = arg;

	if (x->setup != NULL) {
		x->setup(x->crcookie);
	} else {
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, NULL);
	}
	int ok = libdoor_ops->bind_door(x->door) == 0;
	pthread_mutex_lock(&x->lock);
	x->reported++;
	x->failed += !ok;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
	if (!ok)
		return NULL;
	libdoor_door_return(NULL, 0, NULL, 0);
	return NULL;
}

/*
 * door_call: Rust sends the call, waits and reads the reply, in steps that
 * each return here, so that door_call is a cancellation point whose
 * unwinding passes only C frames: a cancellation request interrupts the
 * wait (EINTR), and pthread_testcancel then acts on it. A caught signal
 * interrupts the wait even under SA_RESTART (a futex wait with a timeout is
 * never restarted).
 */
static void give_up_call(void *arg)
{
	void **in_flight = arg;
	if (*in_flight != NULL)
		libdoor_ops->call_cancel(*in_flight);
	*in_flight = NULL;
}

/*
 * The reply's sleep when nothing but the reply, the server's death (which
 * the kernel announces in the word, src/deathwatch.rs) or a signal can end
 * it: a futex wait with no timeout, which arms no kernel timer. It is made
 * here, in C, with cancellation made asynchronous for its length: a
 * cancellation request then unwinds from the sleep through C frames only
 * (give_up_call withdraws the call), where an untimed sleep would
 * otherwise never return to look for it. Returns 1 if a signal handler
 * ended it (EINTR; the caller ensures none asks for restarts).
 */
static int sleep_untimed(const struct sleep *s)
{
	int type;
	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &type);
	long r = syscall(SYS_futex, s->word, FUTEX_WAIT, s->value, NULL, NULL, 0);
	int e = errno;
	pthread_setcanceltype(type, NULL);
	return r == -1 && e == EINTR;
}

int libdoor_door_call(int d, void *params)
{
	/* Room for the call in flight, so that a call allocates nothing
	 * (call.rs refuses the call if the room is too small). */
	_Alignas(16) unsigned char room[256];
	void *in_flight;
	/* The wait each Rust step made last: sleep here on `s`, or not. */
	struct sleep s;
	int w = 0;

	pthread_testcancel();
	/*
	 * The caller's signal mask stays as it is (changing it would cost two
	 * system calls per call): a handler that runs while the call sleeps
	 * ends the sleep with EINTR and interrupts the call; one that runs
	 * before the thread sleeps does not, as with any system call.
	 */
	int r = libdoor_ops->call_start(d, params, room, sizeof room, &in_flight, &s, &w);
	pthread_cleanup_push(give_up_call, &in_flight);
	while (in_flight != NULL) {
		int slept = w == CALL_SLEEP;
		int interrupted = slept ? sleep_untimed(&s) : w == EINTR;
		/* Each wait is short, so a cancellation request acts soon even
		 * when no signal interrupted the wait. */
		pthread_testcancel();
		r = libdoor_ops->call_step(&in_flight, interrupted, slept, &s, &w);
	}
	pthread_cleanup_pop(0);
	/* A call cut short before it was all sent (a signal while the
	 * server's socket or pipe was full): a cancellation acts now. */
	if (r == -1 && (errno == EINTR || errno == EAGAIN))
		pthread_testcancel();
	return r;
}
