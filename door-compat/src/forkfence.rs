//! Keeps `fork` out of the instant between the making of one of libdoor's
//! descriptors and its mark as libdoor's own (sys.rs, `INTERNAL_FDS`). A
//! child forked in that instant would keep the descriptor, unknown to it:
//! the end of a channel, say, which keeps the peer from ever seeing the
//! parent hang up.
//!
//! A making (`making`: a system call or two, then the mark) counts itself
//! in `MAKING` while it lasts. `fork`'s prepare handler raises `FORKING`
//! and waits until no making is counted but its own thread's (a fork from
//! a signal handler that interrupted a making cannot wait for it); a
//! making that begins meanwhile steps back and waits until the fork is
//! done. A making nested in another on one thread (a signal handler's
//! `door_call`) goes ahead: the fork waits for the outer one anyway. No
//! making waits for anything but a fork, and every making is short: its
//! system calls do not block (an `accept` someone made blocking is ended
//! by the accept watchdog within 200 ms).

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::sys;

/// Makings in progress in this process.
static MAKING: AtomicU32 = AtomicU32::new(0);
/// Forks being prepared.
static FORKING: AtomicU32 = AtomicU32::new(0);

std::thread_local! {
    /// How deep in makings this thread is (more than 1: nested by a signal
    /// handler). Raised before the making counts itself and lowered after
    /// it stops counting, so that a fork from a signal handler that lands
    /// in between knows the count it finds may be its own thread's.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// This thread is forking (between `before_fork` and `after_fork_*`):
    /// a making of a signal handler that runs on it meanwhile goes ahead,
    /// since the fork it would wait for is its own thread's.
    static FORKING_HERE: Cell<bool> = const { Cell::new(false) };
}

fn depth() -> u32 {
    DEPTH.try_with(Cell::get).unwrap_or(0)
}

fn set_depth(d: u32) {
    let _ = DEPTH.try_with(|c| c.set(d));
}

fn forking_here() -> bool {
    FORKING_HERE.try_with(Cell::get).unwrap_or(false)
}

fn set_forking_here(on: bool) {
    let _ = FORKING_HERE.try_with(|c| c.set(on));
}

/// One making under way on this thread; its end (even by a panic) stops
/// counting it.
struct Making {
    outer: bool,
}

impl Making {
    fn begin() -> Making {
        let outer = depth() == 0;
        set_depth(depth() + 1);
        if outer {
            enter();
        }
        Making { outer }
    }
}

impl Drop for Making {
    fn drop(&mut self) {
        if self.outer {
            MAKING.fetch_sub(1, Ordering::SeqCst);
            // A fork waiting for the makings to end is woken by the last
            // (it raised FORKING before it looked at MAKING: one of the
            // two sees the other's store).
            if FORKING.load(Ordering::SeqCst) != 0 {
                sys::futex_wake_all(&MAKING);
            }
        }
        set_depth(depth().saturating_sub(1));
    }
}

/// Runs `make`, which makes descriptors and marks them libdoor's own,
/// where no fork can come between the two.
pub fn making<T>(make: impl FnOnce() -> T) -> T {
    let _making = Making::begin();
    make()
}

fn enter() {
    loop {
        MAKING.fetch_add(1, Ordering::SeqCst);
        let forking = FORKING.load(Ordering::SeqCst);
        if forking == 0 || forking_here() {
            return;
        }
        // A fork is being prepared: step back until it is done.
        MAKING.fetch_sub(1, Ordering::SeqCst);
        sys::futex_wake_all(&MAKING);
        let _ = sys::futex_wait(&FORKING, forking, Duration::from_millis(10));
    }
}

/// `fork`'s prepare handler: from now until `after_fork_*`, no making
/// begins (but a signal handler's on this thread), and those under way
/// have ended (but one this thread's signal handler interrupted).
pub fn before_fork() {
    set_forking_here(true);
    FORKING.fetch_add(1, Ordering::SeqCst);
    let mine = u32::from(depth() > 0);
    loop {
        let making = MAKING.load(Ordering::SeqCst);
        if making <= mine {
            return;
        }
        // (A timeout too: a wake-up given just before the wait began is
        // not lost, but a millisecond bounds any other surprise.)
        let _ = sys::futex_wait(&MAKING, making, Duration::from_millis(1));
    }
}

/// `fork`'s parent handler.
pub fn after_fork_in_parent() {
    FORKING.fetch_sub(1, Ordering::SeqCst);
    set_forking_here(false);
    sys::futex_wake_all(&FORKING);
}

/// `fork`'s child handler: the child's only thread is this one, and no
/// fork is being prepared in it. Atomics only.
pub fn after_fork_in_child() {
    MAKING.store(u32::from(depth() > 0), Ordering::SeqCst);
    FORKING.store(0, Ordering::SeqCst);
    set_forking_here(false);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn a_fork_waits_for_makings_and_holds_new_ones() {
        let inside = Arc::new(AtomicBool::new(false));
        let finish = Arc::new(AtomicBool::new(false));
        let (i, f) = (inside.clone(), finish.clone());
        let maker = std::thread::spawn(move || {
            making(|| {
                i.store(true, Ordering::SeqCst);
                while !f.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
            })
        });
        while !inside.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let forked = Arc::new(AtomicBool::new(false));
        let fk = forked.clone();
        let forker = std::thread::spawn(move || {
            before_fork();
            fk.store(true, Ordering::SeqCst);
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!forked.load(Ordering::SeqCst), "the fork went ahead of a making");
        finish.store(true, Ordering::SeqCst);
        maker.join().unwrap();
        forker.join().unwrap();
        assert!(forked.load(Ordering::SeqCst));
        // Held: a new making waits for the fork to be done.
        let made = Arc::new(AtomicBool::new(false));
        let m = made.clone();
        let late = std::thread::spawn(move || making(|| m.store(true, Ordering::SeqCst)));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!made.load(Ordering::SeqCst), "a making began during a fork");
        after_fork_in_parent();
        late.join().unwrap();
        assert!(made.load(Ordering::SeqCst));
        // Nested makings on one thread go ahead.
        assert_eq!(making(|| making(|| 7)), 7);
    }

    static FORKS_IN_HANDLER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

    /// What `fork` from a signal handler does in libdoor: the prepare
    /// handler, then the parent's.
    extern "C" fn fork_in_handler(_: libc::c_int) {
        before_fork();
        after_fork_in_parent();
        FORKS_IN_HANDLER.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn a_fork_from_a_signal_handler_that_interrupted_a_making_goes_ahead() {
        // SAFETY: installs a handler that only runs the fence's own steps;
        // SIGUSR2 goes to no other test's thread.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = fork_in_handler as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut());
        }
        let stop = Arc::new(AtomicBool::new(false));
        let makings = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (st, m) = (stop.clone(), makings.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let maker = std::thread::spawn(move || {
            // SAFETY: pthread_self cannot fail.
            tx.send(unsafe { libc::pthread_self() } as u64).unwrap();
            while !st.load(Ordering::SeqCst) {
                making(|| std::hint::black_box(0));
                m.fetch_add(1, Ordering::Relaxed);
            }
        });
        let thread = rx.recv().unwrap() as libc::pthread_t;
        let start = std::time::Instant::now();
        let mut last = (0, start);
        while start.elapsed() < Duration::from_secs(2) {
            // SAFETY: the thread lives until `stop` (joined below).
            unsafe { libc::pthread_kill(thread, libc::SIGUSR2) };
            std::thread::sleep(Duration::from_micros(20));
            let n = makings.load(Ordering::Relaxed);
            if n != last.0 {
                last = (n, std::time::Instant::now());
            }
            assert!(last.1.elapsed() < Duration::from_secs(1), "a fork in a signal handler hangs the making it interrupted");
        }
        stop.store(true, Ordering::SeqCst);
        maker.join().unwrap();
        assert!(FORKS_IN_HANDLER.load(Ordering::SeqCst) > 0);
    }
}
