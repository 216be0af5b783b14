//! A value each process has one of, served by a thread of its own: the
//! reaper's queue (sys.rs), the accept watchdog's slot (acceptwatch.rs),
//! the kept channels of ended threads (spare.rs).
//!
//! Made on first use, and never freed: the thread serves it for the life
//! of the process, and callers hold `&'static` references to it. A forked
//! child inherits its parent's copy but not the thread, and the copy's
//! lock state may be anything the fork caught, so the child leaves it
//! alone and makes its own (each value records the pid that made it).

use std::sync::atomic::{AtomicPtr, Ordering};

use crate::sys;

struct Entry<T> {
    pid: libc::pid_t,
    value: T,
}

pub struct PerProcess<T: 'static> {
    slot: AtomicPtr<Entry<T>>,
}

impl<T: Sync + 'static> PerProcess<T> {
    pub const fn new() -> Self {
        PerProcess { slot: AtomicPtr::new(std::ptr::null_mut()) }
    }

    /// This process's value, if it has been made.
    pub fn existing(&self) -> Option<&'static T> {
        // SAFETY: a published Entry is leaked, never freed.
        let entry = unsafe { self.slot.load(Ordering::Acquire).as_ref() }?;
        (entry.pid == sys::getpid()).then_some(&entry.value)
    }

    /// This process's value; on first use made by `make` and handed to a
    /// new thread named `name`, which runs `serve` on it with every signal
    /// blocked. `None` if the thread cannot be had (the next call tries
    /// again).
    pub fn get(&self, name: &str, make: impl FnOnce() -> T, serve: fn(&'static T)) -> Option<&'static T> {
        if let Some(value) = self.existing() {
            return Some(value);
        }
        let old = self.slot.load(Ordering::Acquire);
        let fresh: &'static Entry<T> = Box::leak(Box::new(Entry { pid: sys::getpid(), value: make() }));
        let fresh_ptr = (fresh as *const Entry<T>).cast_mut();
        if self.slot.compare_exchange(old, fresh_ptr, Ordering::AcqRel, Ordering::Acquire).is_err() {
            // Another thread made one meanwhile (ours stays leaked, unused).
            return self.existing();
        }
        let value = &fresh.value;
        let started = std::thread::Builder::new().name(name.into()).spawn(move || {
            crate::server::block_all_signals();
            serve(value)
        });
        if started.is_err() {
            // Withdrawn, so that a later call tries again rather than use a
            // value nobody serves.
            let _ = self.slot.compare_exchange(fresh_ptr, old, Ordering::AcqRel, Ordering::Acquire);
            return None;
        }
        Some(value)
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
}
