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
//! takes longer than `PATIENCE` on a listener someone made blocking, or
//! longer than `PATIENCE_MAX` on any listener (its flag set again behind
//! an accept already blocked), has the listener's receiving side shut down,
//! which ends the wait; the accept then fails with `EINVAL` and the control
//! thread drops the attachment. A healthy accept that is only slow (the
//! control thread descheduled on an overloaded machine) is left alone
//! until `PATIENCE_MAX`. One watchdog per process, made on first use; a
//! forked child makes its own.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use libc::c_int;

use crate::perprocess::PerProcess;
use crate::sys::{self, Errno, Fd, Result};
use crate::trace::trace;

/// How long an accept on a listener made blocking may take. One on a
/// non-blocking listener takes microseconds.
const PATIENCE: Duration = Duration::from_millis(100);

/// How long any accept may take: one on a non-blocking listener only
/// takes this long if the control thread was kept off every CPU (on a
/// guest with 150 busy loops, accepts were seen to take over 100 ms).
const PATIENCE_MAX: Duration = Duration::from_secs(2);

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
    /// The number of the accept whose listener the watchdog shut down.
    shut: Option<u64>,
}

static WATCH: PerProcess<Watch> = PerProcess::new();

fn watch() -> Option<&'static Watch> {
    WATCH.get(
        "libdoor-acceptwatch",
        || Watch { slot: Mutex::new(Slot { listener: None, number: 0, asleep: false, shut: None }), changed: Condvar::new() },
        stand_by,
    )
}

fn stand_by(w: &'static Watch) {
    let mut slot = w.slot.lock().unwrap_or_else(|p| p.into_inner());
    // The accept in progress at the last look, and when it was first seen.
    let mut seen: Option<(c_int, u64, Instant)> = None;
    loop {
        while slot.listener.is_none() {
            seen = None;
            slot.asleep = true;
            slot = w.changed.wait(slot).unwrap_or_else(|p| p.into_inner());
        }
        slot.asleep = false;
        let (fd, number) = (slot.listener.expect("looked at above"), slot.number);
        let since = match seen {
            Some((f, n, since)) if (f, n) == (fd, number) => since,
            _ => Instant::now(),
        };
        seen = Some((fd, number, since));
        let waited = since.elapsed();
        // The accepting thread clears the slot under this lock before it
        // does anything else with the listener, so `fd` is still that
        // listener here.
        if slot.shut != Some(number)
            && (waited >= PATIENCE && !sys::is_nonblocking(fd) || waited >= PATIENCE_MAX)
        {
            trace!("listener-tampered fd={fd}");
            // SAFETY: shutdown takes no pointers.
            unsafe { libc::shutdown(fd, libc::SHUT_RD) };
            slot.shut = Some(number);
        }
        // Nobody wakes us now: this sleeps PATIENCE (or less, spuriously,
        // which only makes the next look come sooner).
        slot = w.changed.wait_timeout(slot, PATIENCE).unwrap_or_else(|p| p.into_inner()).0;
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
    let mut slot = w.slot.lock().unwrap_or_else(|p| p.into_inner());
    slot.listener = None;
    if slot.shut == Some(slot.number) {
        // Shut down under us: whatever the accept gave (a listener shut
        // down answers EAGAIN, and stays readable for good), the
        // attachment is dropped (a connection accepted meanwhile closes).
        return Err(Errno(libc::EINVAL));
    }
    r
}
