//! A value each process has one of, served by a thread of its own: the
//! reaper's queue (sys.rs), the accept watchdog's slot (acceptwatch.rs),
//! the kept channels of ended threads (spare.rs).
//!
//! Made on first use, and never freed: the thread serves it for the life
//! of the process, and callers hold `&'static` references to it. A forked
//! child inherits its parent's copy but not the thread, and the copy's
//! lock state may be anything the fork caught, so the child leaves it
//! alone and makes its own (each value records the pid that made it),
//! which keeps a pointer to the copy: never freed either, it stays
//! reachable, so that leak checkers do not count it.

use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};

use crate::sys;

struct Entry<T> {
    pid: libc::pid_t,
    /// STARTING until its thread runs (or failed to start: FAILED).
    state: AtomicU8,
    value: T,
    /// The entry this one replaced in the slot: the parent's, inherited
    /// over fork, if any.
    _replaced: AtomicPtr<Entry<T>>,
}

const STARTING: u8 = 0;
const SERVED: u8 = 1;
const FAILED: u8 = 2;

pub struct PerProcess<T: 'static> {
    slot: AtomicPtr<Entry<T>>,
}

impl<T: Sync + 'static> PerProcess<T> {
    pub const fn new() -> Self {
        PerProcess { slot: AtomicPtr::new(std::ptr::null_mut()) }
    }

    /// This process's entry, if one has been published.
    fn entry(&self) -> Option<&'static Entry<T>> {
        // SAFETY: a published Entry is leaked, never freed.
        let entry = unsafe { self.slot.load(Ordering::Acquire).as_ref() }?;
        (entry.pid == sys::getpid()).then_some(entry)
    }

    /// This process's value, if it has been made and its thread runs.
    pub fn existing(&self) -> Option<&'static T> {
        self.entry().filter(|e| e.state.load(Ordering::Acquire) == SERVED).map(|e| &e.value)
    }

    /// This process's value; on first use made by `make` and handed to a
    /// new thread named `name`, which runs `serve` on it with every signal
    /// blocked. `None` if the thread cannot be had (the next call tries
    /// again). Never a value no thread serves: a caller that finds another
    /// thread starting one waits for the outcome.
    pub fn get(&self, name: &str, make: impl FnOnce() -> T, serve: fn(&'static T)) -> Option<&'static T> {
        if let Some(entry) = self.entry() {
            return Self::outcome(entry);
        }
        let old = self.slot.load(Ordering::Acquire);
        let fresh_ptr = Box::into_raw(Box::new(Entry {
            pid: sys::getpid(),
            state: AtomicU8::new(STARTING),
            value: make(),
            _replaced: AtomicPtr::new(old),
        }));
        if self.slot.compare_exchange(old, fresh_ptr, Ordering::AcqRel, Ordering::Acquire).is_err() {
            // Another thread published one meanwhile. Ours was never
            // shared, and its value (a queue, a slot, a list, all empty)
            // holds nothing.
            // SAFETY: fresh_ptr came from Box::into_raw above and was not
            // published, so this is its only owner.
            drop(unsafe { Box::from_raw(fresh_ptr) });
            return self.entry().and_then(Self::outcome);
        }
        // SAFETY: published, the entry is never freed (see the module's
        // comment).
        let fresh: &'static Entry<T> = unsafe { &*fresh_ptr };
        let value = &fresh.value;
        let started = std::thread::Builder::new().name(name.into()).spawn(move || {
            crate::server::block_all_signals();
            serve(value)
        });
        if started.is_err() {
            // Withdrawn, so that a later call tries again; a caller waiting
            // for it sees it failed.
            let _ = self.slot.compare_exchange(fresh_ptr, old, Ordering::AcqRel, Ordering::Acquire);
            fresh.state.store(FAILED, Ordering::Release);
            return None;
        }
        fresh.state.store(SERVED, Ordering::Release);
        Some(value)
    }

    /// An entry's value once its thread runs; `None` if it failed to
    /// start, or is still starting after a second (the caller may be a
    /// signal handler that interrupted the very thread starting it; every
    /// caller has a way without the value).
    fn outcome(entry: &'static Entry<T>) -> Option<&'static T> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            match entry.state.load(Ordering::Acquire) {
                SERVED => return Some(&entry.value),
                FAILED => return None,
                // (Another thread is starting it: a thread's creation.)
                _ if std::time::Instant::now() < deadline => std::thread::yield_now(),
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    struct Flag(AtomicBool);

    static SERVED: PerProcess<Flag> = PerProcess::new();

    #[test]
    fn made_once_and_served_by_its_thread() {
        assert!(SERVED.existing().is_none());
        let serve: fn(&'static Flag) = |f| {
            f.0.store(true, Ordering::SeqCst);
            loop {
                std::thread::park();
            }
        };
        let first = SERVED.get("perprocess-test", || Flag(AtomicBool::new(false)), serve).expect("a thread");
        let again = SERVED.get("perprocess-test", || panic!("made twice"), serve).expect("the same value");
        assert!(std::ptr::eq(first, again));
        assert!(SERVED.existing().is_some_and(|f| std::ptr::eq(f, first)));
        let end = Instant::now() + Duration::from_secs(10);
        while !first.0.load(Ordering::SeqCst) {
            assert!(Instant::now() < end, "the serving thread never ran");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static DROPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    struct Counted;

    impl Drop for Counted {
        fn drop(&mut self) {
            DROPPED.fetch_add(1, Ordering::SeqCst);
        }
    }

    static RACED: PerProcess<Counted> = PerProcess::new();

    /// Threads that all find no value and make one each: one is published,
    /// every other is freed (none left unreachable, which LeakSanitizer
    /// counted as a leak in forked test programs).
    #[test]
    fn values_that_lose_the_race_are_freed() {
        let serve: fn(&'static Counted) = |_| loop {
            std::thread::park();
        };
        let start = std::sync::Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    let make = || {
                        MADE.fetch_add(1, Ordering::SeqCst);
                        // Long enough for the others to make theirs too.
                        std::thread::sleep(Duration::from_millis(20));
                        Counted
                    };
                    RACED.get("perprocess-race", make, serve).map(|v| v as *const Counted as usize)
                })
            })
            .collect();
        let got: Vec<Option<usize>> = threads.into_iter().map(|t| t.join().expect("no panic")).collect();
        assert!(got.iter().all(|v| v.is_some() && *v == got[0]), "one value for all: {got:?}");
        assert!(MADE.load(Ordering::SeqCst) > 1, "the threads did not race");
        assert_eq!(DROPPED.load(Ordering::SeqCst), MADE.load(Ordering::SeqCst) - 1);
    }
}
