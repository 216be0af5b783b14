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
    /// handler).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

fn depth() -> u32 {
    DEPTH.try_with(Cell::get).unwrap_or(0)
}

fn set_depth(d: u32) {
    let _ = DEPTH.try_with(|c| c.set(d));
}

/// Runs `make`, which makes descriptors and marks them libdoor's own,
/// where no fork can come between the two.
pub fn making<T>(make: impl FnOnce() -> T) -> T {
    let outer = depth() == 0;
    if outer {
        enter();
    }
    set_depth(depth() + 1);
    let made = make();
    set_depth(depth() - 1);
    if outer {
        MAKING.fetch_sub(1, Ordering::SeqCst);
        // A fork waiting for the makings to end is woken by the last (it
        // raised FORKING before it looked at MAKING: one of the two sees
        // the other's store).
        if FORKING.load(Ordering::SeqCst) != 0 {
            sys::futex_wake_all(&MAKING);
        }
    }
    made
}

fn enter() {
    loop {
        MAKING.fetch_add(1, Ordering::SeqCst);
        let forking = FORKING.load(Ordering::SeqCst);
        if forking == 0 {
            return;
        }
        // A fork is being prepared: step back until it is done.
        MAKING.fetch_sub(1, Ordering::SeqCst);
        sys::futex_wake_all(&MAKING);
        let _ = sys::futex_wait(&FORKING, forking, Duration::from_millis(10));
    }
}

/// `fork`'s prepare handler: from now until `after_fork_*`, no making
/// begins, and those under way have ended.
pub fn before_fork() {
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
    sys::futex_wake_all(&FORKING);
}

/// `fork`'s child handler: the child's only thread is this one, and no
/// fork is being prepared in it. Atomics only.
pub fn after_fork_in_child() {
    MAKING.store(u32::from(depth() > 0), Ordering::SeqCst);
    FORKING.store(0, Ordering::SeqCst);
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
}
