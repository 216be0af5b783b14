//! Accepting on an attachment's listener without ever waiting for good.
//!
//! The listener comes from the attacher (`Attach`), which may keep a copy:
//! the same socket and the same open file description. The server makes it
//! non-blocking, but `O_NONBLOCK` belongs to that description, so an
//! attacher can clear it again, connect to its own listener and take the
//! connection first, after `epoll_wait` reported it and before the control
//! thread's `accept4`: that would then wait for good, and the control
//! thread serves every door of the process. No per-call flag makes
//! `accept4` non-blocking, so a watchdog thread stands by: an accept that
//! takes longer than `PATIENCE` can only be on a listener someone made
//! blocking, and the watchdog shuts that listener's receiving side down,
//! which ends the wait (`EINVAL`); the control thread then drops the
//! attachment. One watchdog per process, made on first use; a forked child
//! makes its own.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use libc::c_int;

use crate::perprocess::PerProcess;
use crate::sys::{self, Fd, Result};
use crate::trace::trace;

/// How long an accept may take. One on a non-blocking listener takes
/// microseconds, even on a loaded machine well under this.
const PATIENCE: Duration = Duration::from_millis(100);

struct Watch {
    slot: Mutex<Slot>,
    changed: Condvar,
}

/// What the watchdog watches, under `Watch::slot`'s lock.
struct Slot {
    /// The listener being accepted on, if any...
    listener: Option<c_int>,
    /// ...and the number of the latest accept, so that one accept is never
    /// taken for the next.
    number: u64,
    /// The watchdog sleeps until told (no accept to time). Only then is it
    /// woken: while accepts come, it looks at the slot once per `PATIENCE`
    /// on its own, so that an accept costs the control thread no wake-up
    /// of another thread (two context switches, about 30 µs of each `open`
    /// on this guest when every accept woke it).
    asleep: bool,
}

static WATCH: PerProcess<Watch> = PerProcess::new();

fn watch() -> Option<&'static Watch> {
    WATCH.get(
        "libdoor-acceptwatch",
        || Watch { slot: Mutex::new(Slot { listener: None, number: 0, asleep: false }), changed: Condvar::new() },
        stand_by,
    )
}

fn stand_by(w: &'static Watch) {
    let mut slot = w.slot.lock().unwrap_or_else(|p| p.into_inner());
    // The accept last shut down, so that it is shut down once.
    let mut shut = None;
    loop {
        while slot.listener.is_none() {
            slot.asleep = true;
            slot = w.changed.wait(slot).unwrap_or_else(|p| p.into_inner());
        }
        slot.asleep = false;
        let seen = (slot.listener, slot.number);
        // Nobody wakes us now: this sleeps PATIENCE (or less, spuriously,
        // which only makes the next look come sooner).
        slot = w.changed.wait_timeout(slot, PATIENCE).unwrap_or_else(|p| p.into_inner()).0;
        if let (Some(fd), number) = (slot.listener, slot.number)
            && (Some(fd), number) == seen
            && shut != Some(number)
        {
            // The accepting thread clears the slot under this lock before
            // it does anything else with the listener, so `fd` is still
            // that listener here. (The accept may have begun up to
            // PATIENCE after `seen` was taken: it has waited between one
            // and two PATIENCEs.)
            trace!("listener-tampered fd={fd}");
            // SAFETY: shutdown takes no pointers.
            unsafe { libc::shutdown(fd, libc::SHUT_RD) };
            shut = Some(number);
        }
    }
}

/// `sys::accept` on a listener another process may share, under the
/// watchdog's eye (without a watchdog, a plain one).
pub fn accept(listener: &Fd) -> Result<Fd> {
    let Some(w) = watch() else { return sys::accept(listener) };
    let wake = {
        let mut slot = w.slot.lock().unwrap_or_else(|p| p.into_inner());
        slot.listener = Some(listener.raw());
        slot.number += 1;
        slot.asleep
    };
    if wake {
        w.changed.notify_one();
    }
    let r = sys::accept(listener);
    w.slot.lock().unwrap_or_else(|p| p.into_inner()).listener = None;
    r
}
