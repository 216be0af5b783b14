/*
 * <thread.h>: the Solaris/illumos threads interface (thr_create and
 * friends) as static inline functions over POSIX threads. It includes
 * <synch.h> for the synchronisation objects, as illumos' does.
 *
 * Hand-written, not generated: unlike door.h, sys/door.h, ucred.h and
 * stropts.h, which abi-check generates from libdoor's Rust sources, this
 * header and <synch.h> belong to no library. They are a convenience so
 * that door code ported from illumos (say, a door_server_create function
 * that makes its pool threads with thr_create) builds unchanged; they are
 * not a full emulation of Solaris threads. Link with
 * -pthread; nothing here needs libdoor.
 *
 * Like illumos, every function that can fail returns 0 or an error number,
 * never -1 with errno. Like <synch.h>, it needs the POSIX.1-2008
 * declarations (gcc's default gnu modes, or _POSIX_C_SOURCE=200809L).
 *
 * Differences from illumos:
 *  - thread_t is pthread_t (an unsigned long on glibc, not a small
 *    integer) and thread_key_t is pthread_key_t.
 *  - thr_create: THR_DETACHED and THR_DAEMON make a detached thread;
 *    THR_BOUND asks for system contention scope (the only one Linux has);
 *    THR_NEW_LWP is accepted and ignored (as on illumos today).
 *    THR_SUSPENDED is not implemented: it gives ENOTSUP, and there is no
 *    thr_suspend or thr_continue. A daemon thread is only detached: a
 *    main thread that calls thr_exit waits for it too, where illumos
 *    would let the process end when only daemon threads remain. A
 *    stack_base is the lowest address of the caller's stack, which must
 *    be at least thr_min_stack() bytes (else EINVAL).
 *  - thr_join: waiting for any thread (a thread_t of 0) is not supported
 *    and gives ENOTSUP. Joining a thread that was created detached is
 *    undefined with glibc (illumos answers ESRCH); a join that glibc
 *    refuses with EINVAL is reported as ESRCH. Joining oneself gives
 *    EDEADLK, as on illumos.
 *  - thr_setconcurrency only records the level for thr_getconcurrency,
 *    per translation unit (illumos ignores the hint too).
 *  - thr_min_stack is the system's PTHREAD_STACK_MIN, larger than
 *    illumos'. A door server thread needs far more than that.
 *  - Not provided: thr_main, thr_suspend, thr_continue, thr_setprio,
 *    thr_getprio, thr_stksegment.
 */
#ifndef _THREAD_H
#define	_THREAD_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <unistd.h>
#include <synch.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef pthread_t thread_t;
typedef pthread_key_t thread_key_t;

/* thr_create flags: illumos' values. */
#define	THR_BOUND	0x00000001
#define	THR_NEW_LWP	0x00000002
#define	THR_DETACHED	0x00000040
#define	THR_SUSPENDED	0x00000080
#define	THR_DAEMON	0x00000100

#define	THR_MIN_STACK	thr_min_stack()

/* The value a key for thr_keycreate_once must start with. */
#define	THR_ONCE_KEY	((thread_key_t)-1)

static inline size_t
thr_min_stack(void)
{
	long n = sysconf(_SC_THREAD_STACK_MIN);

	return (n > 0 ? (size_t)n : (size_t)16384);
}

static inline int
thr_create(void *stack_base, size_t stack_size, void *(*start_func)(void *),
    void *arg, long flags, thread_t *new_thread)
{
	const long known = THR_BOUND | THR_NEW_LWP | THR_DETACHED |
	    THR_SUSPENDED | THR_DAEMON;
	pthread_attr_t attr;
	pthread_t tid;
	int err;

	if (start_func == NULL || (flags & ~known) != 0)
		return (EINVAL);
	if (flags & THR_SUSPENDED)
		return (ENOTSUP);
	if ((stack_base != NULL || stack_size != 0) &&
	    stack_size < thr_min_stack())
		return (EINVAL);
	if ((err = pthread_attr_init(&attr)) != 0)
		return (err);
	if (stack_base != NULL)
		err = pthread_attr_setstack(&attr, stack_base, stack_size);
	else if (stack_size != 0)
		err = pthread_attr_setstacksize(&attr, stack_size);
	if (err == 0 && (flags & (THR_DETACHED | THR_DAEMON)))
		err = pthread_attr_setdetachstate(&attr,
		    PTHREAD_CREATE_DETACHED);
	if (err == 0 && (flags & THR_BOUND))
		err = pthread_attr_setscope(&attr, PTHREAD_SCOPE_SYSTEM);
	if (err == 0)
		err = pthread_create(&tid, &attr, start_func, arg);
	(void) pthread_attr_destroy(&attr);
	if (err == 0 && new_thread != NULL)
		*new_thread = tid;
	return (err);
}

/*
 * Waits for `thread` to end; its exit status goes to *status and its id
 * to *departed (either may be NULL).
 */
static inline int
thr_join(thread_t thread, thread_t *departed, void **status)
{
	int err;

	if (thread == (thread_t)0)
		return (ENOTSUP);
	if (pthread_equal(thread, pthread_self()))
		return (EDEADLK);	/* before glibc's check for detached */
	if ((err = pthread_join(thread, status)) == EINVAL)
		err = ESRCH;
	if (err == 0 && departed != NULL)
		*departed = thread;
	return (err);
}

static inline thread_t
thr_self(void)
{
	return (pthread_self());
}

static inline void
thr_yield(void)
{
	(void) sched_yield();
}

static inline void __attribute__((__noreturn__))
thr_exit(void *status)
{
	pthread_exit(status);
}

static inline int
thr_kill(thread_t thread, int sig)
{
	return (pthread_kill(thread, sig));
}

static inline int
thr_sigsetmask(int how, const sigset_t *set, sigset_t *oset)
{
	return (pthread_sigmask(how, set, oset));
}

/*
 * The concurrency level is a hint that illumos ignores today; it is only
 * recorded (once per translation unit, as this header has no library).
 */
static inline int *
_thr_concurrency(void)
{
	static int level;

	return (&level);
}

static inline int
thr_setconcurrency(int new_level)
{
	if (new_level < 0)
		return (EINVAL);
	__atomic_store_n(_thr_concurrency(), new_level, __ATOMIC_RELAXED);
	return (0);
}

static inline int
thr_getconcurrency(void)
{
	return (__atomic_load_n(_thr_concurrency(), __ATOMIC_RELAXED));
}

/* Thread-specific data. */

static inline int
thr_keycreate(thread_key_t *keyp, void (*destructor)(void *))
{
	return (pthread_key_create(keyp, destructor));
}

/*
 * Creates the key once, however many threads race here: *keyp must start
 * as THR_ONCE_KEY. The loser of a race deletes the key it made.
 */
static inline int
thr_keycreate_once(thread_key_t *keyp, void (*destructor)(void *))
{
	thread_key_t key, expected = THR_ONCE_KEY;
	int err;

	if (__atomic_load_n(keyp, __ATOMIC_ACQUIRE) != THR_ONCE_KEY)
		return (0);
	if ((err = pthread_key_create(&key, destructor)) != 0)
		return (err);
	if (!__atomic_compare_exchange_n(keyp, &expected, key, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		(void) pthread_key_delete(key);
	return (0);
}

static inline int
thr_setspecific(thread_key_t key, void *value)
{
	return (pthread_setspecific(key, value));
}

/* Unlike pthread_getspecific, the value comes back through *valuep. */
static inline int
thr_getspecific(thread_key_t key, void **valuep)
{
	*valuep = pthread_getspecific(key);
	return (0);
}

#ifdef __cplusplus
}
#endif

#endif /* _THREAD_H */
