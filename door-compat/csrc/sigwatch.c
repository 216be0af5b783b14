/*
 * The signal-disposition family, interposed, so that libdoor knows whether
 * some signal has a handler installed with SA_RESTART (src/sigwatch.rs).
 *
 * door_call must fail with EINTR when a caught signal interrupts its wait,
 * SA_RESTART or not, as on illumos. A futex wait with no timeout is
 * restarted by the kernel after an SA_RESTART handler, so the client sleeps
 * untimed only while no such handler exists, and with a timeout otherwise
 * (a timed wait always ends with EINTR). The next definition (libc's) runs
 * first; on success the disposition is read back from libc and the mask
 * updated, whatever the function's own conventions. glibc's internal
 * signals (cancellation and set*id) are not counted: door_call handles
 * cancellation itself (door_loop.c), and set*id must not interrupt a call.
 */
#define _GNU_SOURCE
#include "next_fn.h"
#include <errno.h>
#include <signal.h>
#include <stdint.h>

/* Bit n-1 set: signal n has a handler installed with SA_RESTART. */
static uint64_t restarting;

typedef int sigaction_fn(int, const struct sigaction *, struct sigaction *);
static void *real_sigaction_slot;

/* Reads signal `sig`'s disposition back into the mask. Async-signal-safe:
 * sigaction and atomics. */
static void refresh(int sig)
{
	if (sig < 1 || sig > 64)
		return;
	sigaction_fn *get = next_fn(&real_sigaction_slot, "sigaction");
	struct sigaction now;
	if (get == NULL || get(sig, NULL, &now) != 0)
		return;  /* glibc's own signals (EINVAL), or no such signal */
	uint64_t bit = (uint64_t)1 << (sig - 1);
	int handler = (now.sa_flags & SA_SIGINFO) ? now.sa_sigaction != NULL
	                                          : now.sa_handler != SIG_DFL && now.sa_handler != SIG_IGN;
	if (handler && (now.sa_flags & SA_RESTART))
		__atomic_fetch_or(&restarting, bit, __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(&restarting, ~bit, __ATOMIC_SEQ_CST);
}

/* Reads every signal's disposition (when a thread opens a
 * channel, which also catches handlers installed behind libc's back). */
void libdoor_sigwatch_scan(void)
{
	int saved = errno;
	for (int sig = 1; sig <= 64; sig++)
		refresh(sig);
	errno = saved;
}

/* Whether some signal has a handler installed with SA_RESTART. */
int libdoor_sigwatch_restarting(void)
{
	return __atomic_load_n(&restarting, __ATOMIC_RELAXED) != 0;
}

/* sigaction or __sigaction (`f`, NULL if libc has none): set, then read back. */
static int set_action(sigaction_fn *f, int sig, const struct sigaction *act, struct sigaction *old)
{
	if (f == NULL) {
		errno = ENOSYS;
		return -1;
	}
	int r = f(sig, act, old);
	int saved = errno;
	if (r == 0 && act != NULL)
		refresh(sig);
	errno = saved;
	return r;
}

int libdoor_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return set_action(next_fn(&real_sigaction_slot, "sigaction"), sig, act, old);
}

int libdoor___sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	static void *slot;
	return set_action(next_fn(&slot, "__sigaction"), sig, act, old);
}

/* signal, bsd_signal, sysv_signal, sigset: set, then read back. */
#define SETTER(wrapper, name)                                                  \
	sighandler_t wrapper(int sig, sighandler_t h)                              \
	{                                                                          \
		static void *slot;                                                     \
		sighandler_t (*f)(int, sighandler_t) = next_fn(&slot, #name);          \
		if (f == NULL) {                                                       \
			errno = ENOSYS;                                                    \
			return SIG_ERR;                                                    \
		}                                                                      \
		sighandler_t r = f(sig, h);                                            \
		int saved = errno;                                                     \
		if (r != SIG_ERR)                                                      \
			refresh(sig);                                                      \
		errno = saved;                                                         \
		return r;                                                              \
	}

SETTER(libdoor_signal, signal)
SETTER(libdoor_bsd_signal, bsd_signal)
SETTER(libdoor_sysv_signal, sysv_signal)
SETTER(libdoor___sysv_signal, __sysv_signal)
SETTER(libdoor_sigset, sigset)
