//! Which door each descriptor number names, remembered.
//!
//! A call must know which door its descriptor names (to find the thread's
//! channel to it), and asking the kernel (`getsockname` and `SO_PEERCRED`,
//! `label::name_of`) is two system calls on every call. What a number names changes only when
//! it is closed or replaced, so this memo remembers the answer per number
//! and forgets it whenever that happens: the interposed `close`,
//! `close_range` and `closefrom` (`csrc/close.c`) and the dup family
//! (`csrc/dup.c`, for the number they fill) report each number they free,
//! and every door descriptor libdoor hands to the application clears its
//! number too (`handed_out`).
//!
//! A number closed behind libc's back (a raw `close` system call) is not
//! seen; if the application then gets another door at that number in a
//! way libdoor does not see either (its own `recvmsg`), a call on it would
//! reach the old door. That takes both, so the memo is trusted.
//!
//! Filling races with closing: a call may read a door's name just before
//! another thread closes the number, and store it just after. Each slot has
//! an epoch that every forgetting bumps: a filler that finds the epoch
//! moved while it asked the kernel takes its entry back. (Whoever forgets
//! bumps the epoch, then clears; a filler stores, then compares: either the
//! filler sees the new epoch, or the clearing comes after its store.)

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use libc::c_int;

use crate::label::{self, DoorName};
use crate::sys::Result;

/// Numbers at or above this are not remembered (asked every time).
const LIMIT: usize = 1 << 14;

struct Slot {
    /// The door's uniquifier; 0: not known.
    uniq: AtomicU64,
    /// The rest of its name (`DoorName`), stored before `uniq`.
    server: AtomicI32,
    family: AtomicU64,
    epoch: AtomicU64,
}

static SLOTS: [Slot; LIMIT] = [const {
    Slot { uniq: AtomicU64::new(0), server: AtomicI32::new(0), family: AtomicU64::new(0), epoch: AtomicU64::new(0) }
}; LIMIT];

/// One above the highest number ever remembered, to bound `forget_from`.
static HIGH: AtomicI32 = AtomicI32::new(0);

fn slot(fd: c_int) -> Option<&'static Slot> {
    usize::try_from(fd).ok().and_then(|i| SLOTS.get(i))
}

/// The name of the door `fd` refers to (`label::name_of`), from the memo
/// when it knows.
pub fn door_of(fd: c_int) -> Result<DoorName> {
    let Some(s) = slot(fd) else { return label::name_of(fd) };
    let epoch = s.epoch.load(Ordering::SeqCst);
    let uniq = s.uniq.load(Ordering::SeqCst);
    if uniq != 0 {
        let server = s.server.load(Ordering::SeqCst);
        let family = s.family.load(Ordering::SeqCst);
        // All from one filling: no forgetting came between the loads.
        if s.epoch.load(Ordering::SeqCst) == epoch {
            return Ok(DoorName { uniq, server, family });
        }
    }
    let name = label::name_of(fd)?;
    HIGH.fetch_max(fd + 1, Ordering::SeqCst);
    s.server.store(name.server, Ordering::SeqCst);
    s.family.store(name.family, Ordering::SeqCst);
    s.uniq.store(name.uniq, Ordering::SeqCst);
    if s.epoch.load(Ordering::SeqCst) != epoch {
        s.uniq.store(0, Ordering::SeqCst);
    }
    Ok(name)
}

/// The uniquifier of the door `fd` refers to, from the memo when it knows.
pub fn door_id(fd: c_int) -> Result<u64> {
    door_of(fd).map(|name| name.uniq)
}

/// Number `fd` was closed or now names something new. Atomics only: safe
/// in signal handlers and forked children.
pub fn forget(fd: c_int) {
    if let Some(s) = slot(fd) {
        s.epoch.fetch_add(1, Ordering::SeqCst);
        s.uniq.store(0, Ordering::SeqCst);
    }
}

/// Numbers `lo..=hi` were closed.
pub fn forget_range(lo: c_int, hi: c_int) {
    let hi = hi.min(HIGH.load(Ordering::SeqCst) - 1);
    for fd in lo.max(0)..=hi {
        forget(fd);
    }
}

/// libdoor gives the application a door descriptor at `fd` (made, opened,
/// received, duplicated): recorded for fork (`sys::DOOR_FDS`), and whatever
/// the memo knew of the number is gone.
pub fn handed_out(fd: c_int) {
    crate::sys::DOOR_FDS.insert(fd);
    forget(fd);
}

unsafe extern "C" {
    fn libdoor_set_close_hooks(
        forget: extern "C" fn(c_int),
        forget_range: extern "C" fn(c_int, c_int),
        next_internal: extern "C" fn(c_int) -> c_int,
    );
}

extern "C" fn forget_hook(fd: c_int) {
    forget(fd);
}

extern "C" fn forget_range_hook(lo: c_int, hi: c_int) {
    forget_range(lo, hi);
}

/// The lowest of libdoor's own descriptors at `from` or above, or -1:
/// `close_range` and `closefrom` leave those open (`csrc/close.c`).
extern "C" fn next_internal_hook(from: c_int) -> c_int {
    crate::sys::next_internal(from).unwrap_or(-1)
}

/// Arms the close interposers and the dup family's report (from the
/// library's constructor).
pub fn install() {
    // SAFETY: the hooks have the signatures C expects and live forever.
    unsafe { libdoor_set_close_hooks(forget_hook, forget_range_hook, next_internal_hook) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys;

    #[test]
    fn remembers_until_forgotten() {
        let (a, _b) = sys::seqpacket_pair().unwrap();
        // Not a door: not remembered.
        assert!(door_id(a.raw()).is_err());
        assert_eq!(slot(a.raw()).unwrap().uniq.load(Ordering::SeqCst), 0);
        // A remembered name is returned without asking the kernel.
        slot(a.raw()).unwrap().server.store(7, Ordering::SeqCst);
        slot(a.raw()).unwrap().uniq.store(42, Ordering::SeqCst);
        HIGH.fetch_max(a.raw() + 1, Ordering::SeqCst);
        assert_eq!(door_of(a.raw()), Ok(DoorName { uniq: 42, server: 7, family: 0 }));
        forget_range(a.raw(), a.raw());
        assert!(door_id(a.raw()).is_err());
        assert!(door_id(-1).is_err() && door_id(LIMIT as c_int).is_err());
    }
}
