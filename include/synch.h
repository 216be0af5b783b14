/*
 * <synch.h>: the Solaris/illumos thread synchronisation interface (mutex_t,
 * cond_t, rwlock_t, sema_t) as static inline functions over POSIX threads.
 *
 * Hand-written, not generated: unlike door.h, sys/door.h, ucred.h and
 * stropts.h, which abi-check generates from libdoor's Rust sources, this
 * header and <thread.h> belong to no library. They are a convenience so
 * that door code ported from illumos (svc.configd, nscd, picld and the
 * like use these names) builds unchanged; they are not a full emulation of
 * Solaris threads. Link with -pthread; nothing here needs libdoor.
 *
 * Like illumos, every function returns 0 or an error number; none returns
 * -1 with errno. The error numbers are illumos' where it differs from
 * POSIX: timed waits that expire give ETIME (not ETIMEDOUT), and
 * sema_trywait on a zero count gives EBUSY (not EAGAIN).
 *
 * The types are the pthread types themselves, so one object may be used
 * through either interface, as on illumos where the layouts are shared.
 *
 * It needs the POSIX.1-2008 declarations of <pthread.h> and <semaphore.h>:
 * gcc's default gnu modes have them; with a strict -std=c99 or c11, define
 * _POSIX_C_SOURCE to 200809L before including anything.
 *
 * Differences from illumos:
 *  - mutex_init: USYNC_THREAD, USYNC_PROCESS, USYNC_PROCESS_ROBUST,
 *    LOCK_ERRORCHECK, LOCK_RECURSIVE, LOCK_ROBUST, LOCK_PRIO_INHERIT and
 *    LOCK_PRIO_PROTECT (arg then points to the int priority ceiling) map to
 *    the matching mutex attributes; any other bit gives EINVAL.
 *  - Static initialisers: DEFAULTMUTEX, DEFAULTCV and DEFAULTRWLOCK (and,
 *    with _GNU_SOURCE, RECURSIVEMUTEX and ERRORCHECKMUTEX). There is no
 *    SHAREDMUTEX, SHAREDCV, SHAREDRWLOCK or DEFAULTSEMA: a process-shared
 *    object or a semaphore must be initialised with *_init.
 *  - rwlock_t prefers readers (glibc's default); illumos prefers writers.
 *  - cond_wait never returns EINTR (POSIX forbids it); a caught signal
 *    gives a spurious wakeup instead, which callers loop on anyway.
 *  - cond_reltimedwait and sema_reltimedwait measure on CLOCK_MONOTONIC
 *    when compiled with _GNU_SOURCE against glibc 2.30 or later, otherwise
 *    on CLOCK_REALTIME, so a clock step can lengthen or shorten them.
 *  - Not provided: MUTEX_HELD, RW_READ_HELD, RW_WRITE_HELD, SEMA_HELD and
 *    the _lwp_* functions.
 */
#ifndef _SYNCH_H
#define	_SYNCH_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef pthread_mutex_t mutex_t;
typedef pthread_cond_t cond_t;
typedef pthread_rwlock_t rwlock_t;
typedef sem_t sema_t;

/* illumos' names for struct timespec (<sys/time_impl.h>). */
typedef struct timespec timestruc_t;
typedef struct timespec timespec_t;

/* Synchronisation types (<sys/synch.h>). */
#define	USYNC_THREAD		0x00	/* private to a process */
#define	USYNC_PROCESS		0x01	/* shared by processes */
#define	LOCK_NORMAL		0x00
#define	LOCK_ERRORCHECK		0x02
#define	LOCK_RECURSIVE		0x04
#define	USYNC_PROCESS_ROBUST	0x08	/* obsolete: PROCESS|ROBUST */
#define	LOCK_PRIO_NONE		0x00
#define	LOCK_PRIO_INHERIT	0x10
#define	LOCK_PRIO_PROTECT	0x20
#define	LOCK_STALL_NP		0x00
#define	LOCK_ROBUST		0x40
#define	LOCK_ROBUST_NP		LOCK_ROBUST

#define	DEFAULTMUTEX		PTHREAD_MUTEX_INITIALIZER
#define	DEFAULTCV		PTHREAD_COND_INITIALIZER
#define	DEFAULTRWLOCK		PTHREAD_RWLOCK_INITIALIZER
#if defined(PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP)
#define	RECURSIVEMUTEX		PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP
#endif
#if defined(PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP)
#define	ERRORCHECKMUTEX		PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP
#endif

/*
 * Whether the relative waits below can use a monotonic clock: glibc 2.30
 * added pthread_cond_clockwait and sem_clockwait, declared with _GNU_SOURCE.
 */
#if defined(__GLIBC__) && defined(__USE_GNU) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 30)
#define	_SYNCH_MONOTONIC_WAITS	1
#endif
#endif

/* USYNC_THREAD or USYNC_PROCESS to a pshared value; -1 if neither. */
static inline int
_synch_pshared(int type)
{
	if (type == USYNC_THREAD)
		return (PTHREAD_PROCESS_PRIVATE);
	if (type == USYNC_PROCESS)
		return (PTHREAD_PROCESS_SHARED);
	return (-1);
}

/*
 * Now on `clock` plus the relative time `rel`, for the timed waits. A
 * negative or malformed `rel` gives EINVAL, as illumos' reltimedwaits do;
 * a sum too large for time_t is clamped.
 */
static inline int
_synch_deadline(clockid_t clock, const timespec_t *rel, struct timespec *abs)
{
	if (rel == NULL || rel->tv_sec < 0 || rel->tv_nsec < 0 ||
	    rel->tv_nsec >= 1000000000L)
		return (EINVAL);
	if (clock_gettime(clock, abs) != 0)
		return (errno);
	abs->tv_nsec += rel->tv_nsec;
	if (abs->tv_nsec >= 1000000000L) {
		abs->tv_nsec -= 1000000000L;
		abs->tv_sec++;
	}
	/* time_t is signed: compare before adding, so nothing overflows. */
	if (rel->tv_sec > ((time_t)1 << (sizeof (time_t) * CHAR_BIT - 2)) -
	    abs->tv_sec)
		abs->tv_sec = (time_t)1 << (sizeof (time_t) * CHAR_BIT - 2);
	else
		abs->tv_sec += rel->tv_sec;
	return (0);
}

/* Mutexes. */

static inline int
mutex_init(mutex_t *mp, int type, void *arg)
{
	const int known = USYNC_PROCESS | LOCK_ERRORCHECK | LOCK_RECURSIVE |
	    USYNC_PROCESS_ROBUST | LOCK_PRIO_INHERIT | LOCK_PRIO_PROTECT |
	    LOCK_ROBUST;
	pthread_mutexattr_t attr;
	int err;

	if ((type & ~known) != 0 ||
	    (type & (LOCK_PRIO_INHERIT | LOCK_PRIO_PROTECT)) ==
	    (LOCK_PRIO_INHERIT | LOCK_PRIO_PROTECT) ||
	    ((type & LOCK_PRIO_PROTECT) && arg == NULL))
		return (EINVAL);
	if (type & USYNC_PROCESS_ROBUST)
		type |= USYNC_PROCESS | LOCK_ROBUST;
	if ((err = pthread_mutexattr_init(&attr)) != 0)
		return (err);
	if (type & USYNC_PROCESS)
		err = pthread_mutexattr_setpshared(&attr,
		    PTHREAD_PROCESS_SHARED);
	if (err == 0 && (type & LOCK_RECURSIVE))
		err = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	else if (err == 0 && (type & LOCK_ERRORCHECK))
		err = pthread_mutexattr_settype(&attr,
		    PTHREAD_MUTEX_ERRORCHECK);
	if (err == 0 && (type & LOCK_ROBUST))
		err = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (err == 0 && (type & LOCK_PRIO_INHERIT))
		err = pthread_mutexattr_setprotocol(&attr,
		    PTHREAD_PRIO_INHERIT);
	if (err == 0 && (type & LOCK_PRIO_PROTECT)) {
		err = pthread_mutexattr_setprotocol(&attr,
		    PTHREAD_PRIO_PROTECT);
		if (err == 0)
			err = pthread_mutexattr_setprioceiling(&attr,
			    *(int *)arg);
	}
	if (err == 0)
		err = pthread_mutex_init(mp, &attr);
	(void) pthread_mutexattr_destroy(&attr);
	return (err);
}

static inline int
mutex_destroy(mutex_t *mp)
{
	return (pthread_mutex_destroy(mp));
}

static inline int
mutex_lock(mutex_t *mp)
{
	return (pthread_mutex_lock(mp));
}

/* EBUSY if another thread holds it (or this one, unless recursive). */
static inline int
mutex_trylock(mutex_t *mp)
{
	return (pthread_mutex_trylock(mp));
}

static inline int
mutex_unlock(mutex_t *mp)
{
	return (pthread_mutex_unlock(mp));
}

/* After EOWNERDEAD from a LOCK_ROBUST mutex: the state is repaired. */
static inline int
mutex_consistent(mutex_t *mp)
{
	return (pthread_mutex_consistent(mp));
}

/* Condition variables. */

static inline int
cond_init(cond_t *cvp, int type, void *arg)
{
	pthread_condattr_t attr;
	int pshared = _synch_pshared(type);
	int err;

	(void) arg;
	if (pshared == -1)
		return (EINVAL);
	if ((err = pthread_condattr_init(&attr)) != 0)
		return (err);
	if ((err = pthread_condattr_setpshared(&attr, pshared)) == 0)
		err = pthread_cond_init(cvp, &attr);
	(void) pthread_condattr_destroy(&attr);
	return (err);
}

static inline int
cond_destroy(cond_t *cvp)
{
	return (pthread_cond_destroy(cvp));
}

static inline int
cond_wait(cond_t *cvp, mutex_t *mp)
{
	return (pthread_cond_wait(cvp, mp));
}

/* Waits until the absolute CLOCK_REALTIME time `abstime`: ETIME after it. */
static inline int
cond_timedwait(cond_t *cvp, mutex_t *mp, const timestruc_t *abstime)
{
	int err = pthread_cond_timedwait(cvp, mp, abstime);

	return (err == ETIMEDOUT ? ETIME : err);
}

/* Waits at most the relative time `reltime`: ETIME when it has passed. */
static inline int
cond_reltimedwait(cond_t *cvp, mutex_t *mp, const timestruc_t *reltime)
{
	struct timespec abs;
	int err;

#ifdef _SYNCH_MONOTONIC_WAITS
	if ((err = _synch_deadline(CLOCK_MONOTONIC, reltime, &abs)) != 0)
		return (err);
	err = pthread_cond_clockwait(cvp, mp, CLOCK_MONOTONIC, &abs);
#else
	if ((err = _synch_deadline(CLOCK_REALTIME, reltime, &abs)) != 0)
		return (err);
	err = pthread_cond_timedwait(cvp, mp, &abs);
#endif
	return (err == ETIMEDOUT ? ETIME : err);
}

static inline int
cond_signal(cond_t *cvp)
{
	return (pthread_cond_signal(cvp));
}

static inline int
cond_broadcast(cond_t *cvp)
{
	return (pthread_cond_broadcast(cvp));
}

/* Readers/writer locks. */

static inline int
rwlock_init(rwlock_t *rwlp, int type, void *arg)
{
	pthread_rwlockattr_t attr;
	int pshared = _synch_pshared(type);
	int err;

	(void) arg;
	if (pshared == -1)
		return (EINVAL);
	if ((err = pthread_rwlockattr_init(&attr)) != 0)
		return (err);
	if ((err = pthread_rwlockattr_setpshared(&attr, pshared)) == 0)
		err = pthread_rwlock_init(rwlp, &attr);
	(void) pthread_rwlockattr_destroy(&attr);
	return (err);
}

static inline int
rwlock_destroy(rwlock_t *rwlp)
{
	return (pthread_rwlock_destroy(rwlp));
}

static inline int
rw_rdlock(rwlock_t *rwlp)
{
	return (pthread_rwlock_rdlock(rwlp));
}

static inline int
rw_wrlock(rwlock_t *rwlp)
{
	return (pthread_rwlock_wrlock(rwlp));
}

/* EBUSY while a writer holds the lock. */
static inline int
rw_tryrdlock(rwlock_t *rwlp)
{
	return (pthread_rwlock_tryrdlock(rwlp));
}

/* EBUSY while anyone holds the lock. */
static inline int
rw_trywrlock(rwlock_t *rwlp)
{
	return (pthread_rwlock_trywrlock(rwlp));
}

static inline int
rw_unlock(rwlock_t *rwlp)
{
	return (pthread_rwlock_unlock(rwlp));
}

/* Semaphores. */

static inline int
sema_init(sema_t *sp, unsigned int count, int type, void *arg)
{
	int pshared = _synch_pshared(type);

	(void) arg;
	if (pshared == -1 || count > (unsigned int)SEM_VALUE_MAX)
		return (EINVAL);
	return (sem_init(sp, pshared == PTHREAD_PROCESS_SHARED, count) == 0 ?
	    0 : errno);
}

static inline int
sema_destroy(sema_t *sp)
{
	return (sem_destroy(sp) == 0 ? 0 : errno);
}

/* EINTR if a caught signal interrupted the wait. */
static inline int
sema_wait(sema_t *sp)
{
	return (sem_wait(sp) == 0 ? 0 : errno);
}

/* EBUSY when the count is zero. */
static inline int
sema_trywait(sema_t *sp)
{
	if (sem_trywait(sp) == 0)
		return (0);
	return (errno == EAGAIN ? EBUSY : errno);
}

/* Waits until the absolute CLOCK_REALTIME time `abstime`: ETIME after it. */
static inline int
sema_timedwait(sema_t *sp, const timestruc_t *abstime)
{
	if (sem_timedwait(sp, abstime) == 0)
		return (0);
	return (errno == ETIMEDOUT ? ETIME : errno);
}

/* Waits at most the relative time `reltime`: ETIME when it has passed. */
static inline int
sema_reltimedwait(sema_t *sp, const timestruc_t *reltime)
{
	struct timespec abs;
	int err, r;

#ifdef _SYNCH_MONOTONIC_WAITS
	if ((err = _synch_deadline(CLOCK_MONOTONIC, reltime, &abs)) != 0)
		return (err);
	r = sem_clockwait(sp, CLOCK_MONOTONIC, &abs);
#else
	if ((err = _synch_deadline(CLOCK_REALTIME, reltime, &abs)) != 0)
		return (err);
	r = sem_timedwait(sp, &abs);
#endif
	if (r == 0)
		return (0);
	return (errno == ETIMEDOUT ? ETIME : errno);
}

/* EOVERFLOW if the count would pass SEM_VALUE_MAX. */
static inline int
sema_post(sema_t *sp)
{
	return (sem_post(sp) == 0 ? 0 : errno);
}

#ifdef __cplusplus
}
#endif

#endif /* _SYNCH_H */
