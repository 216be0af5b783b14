//! Channels of threads that have ended, kept a moment for other threads'
//! first calls.
//!
//! A channel belongs to the thread that opened it (client.rs), and opening
//! one is the dearest part of a thread's first call to a door: a socket
//! pair, a sealed memfd region mapped by both sides, a Hello answered by the
//! server's control thread, then the call itself on the socket (about
//! 140 µs on the benchmark's machine, PERFORMANCE.md). Closing it costs
//! both sides again. A program whose threads come and go, a thread per
//! request calling a name service door, would pay that on every new
//! thread. So an ending thread hands its idle channels here, and a thread
//! with no channel to a door takes one from here before it opens one.
//!
//! A channel holds nothing of the thread that opened it that another thread
//! of the same process may not have: calls state the caller's pid and ids,
//! and the new owner states its own before it calls in the region
//! (`ChannelState::for_new_thread`).
//!
//! Kept channels are closed after `SPARE_LIFE` untaken, by a thread of
//! their own that sleeps with no timeout while none is kept, and at most
//! `SPARE_MAX` (the newest) are kept: a process's descriptors come back to
//! what its live threads hold soon after its threads end, as they did when
//! a thread's channels closed with it. The main thread's channels are not
//! kept: its end is the process's `exit`. A forked child never uses, nor
//! closes, its parent's (their descriptors were closed at fork; the keeper
//! and its list are the parent's, and the child makes its own).

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::client::ClientChannel;
use crate::label::DoorName;
use crate::perprocess::PerProcess;
use crate::sys;

/// How many channels of ended threads a process keeps.
pub const SPARE_MAX: usize = 8;

/// How long a kept channel waits to be taken.
pub const SPARE_LIFE: Duration = Duration::from_millis(50);

/// A process's kept channels, each with the time it was kept, oldest
/// first, and the thread that closes them when their time is up.
struct Keeper {
    kept: Mutex<Vec<(u64, ClientChannel)>>,
    changed: Condvar,
}

static KEEPER: PerProcess<Keeper> = PerProcess::new();

impl Keeper {
    fn list(&self) -> MutexGuard<'_, Vec<(u64, ClientChannel)>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This process's keeper, if there is one yet.
    fn existing() -> Option<&'static Keeper> {
        KEEPER.existing()
    }

    /// This process's keeper, made with its thread on first use; `None` if
    /// the thread cannot be had.
    fn get() -> Option<&'static Keeper> {
        KEEPER.get("libdoor-spares", || Keeper { kept: Mutex::new(Vec::new()), changed: Condvar::new() }, |k| {
            k.expire_forever()
        })
    }

    /// The keeper thread: closes each kept channel once its time is up.
    fn expire_forever(&self) {
        let life = SPARE_LIFE.as_nanos() as u64;
        let mut list = self.list();
        loop {
            let now = sys::monotonic_ns();
            match list.first() {
                None => list = self.changed.wait(list).unwrap_or_else(|p| p.into_inner()),
                Some(&(since, _)) if since + life <= now => {
                    let due = list.iter().take_while(|(since, _)| since + life <= now).count();
                    close_kept(list.drain(..due));
                }
                Some(&(since, _)) => {
                    let left = Duration::from_nanos(since + life - now);
                    list = self.changed.wait_timeout(list, left).unwrap_or_else(|p| p.into_inner()).0;
                }
            }
        }
    }
}

/// Closes channels taken off the list, unless no longer ours to close.
/// Called with the list's lock held: a channel counts against `SPARE_MAX`
/// until its descriptor is closed, so a process whose threads have all
/// ended and been joined never holds more than `SPARE_MAX` of them, even
/// when the keeper thread would otherwise be preempted between taking
/// expired channels off the list and closing them while ending threads
/// refill it. (A close and a few unmappings: short enough to hold the
/// lock through, on paths that run once per thread.)
fn close_kept(channels: impl Iterator<Item = (u64, ClientChannel)>) {
    channels.for_each(|(_, ch)| drop(ch.usable_here()));
}

/// An ending thread's channels: those still usable are kept (the oldest
/// kept ones make room), the rest dropped.
pub fn keep(channels: impl Iterator<Item = ClientChannel>) {
    let usable: Vec<ClientChannel> = channels.filter_map(|ch| ch.usable_here()).collect();
    // The main thread ends with the process: nobody would take them.
    if usable.is_empty() || sys::gettid() == sys::getpid() {
        return;
    }
    let Some(keeper) = Keeper::get() else { return };
    let now = sys::monotonic_ns();
    let mut list = keeper.list();
    list.extend(usable.into_iter().map(|ch| (now, ch)));
    let excess = list.len().saturating_sub(SPARE_MAX);
    close_kept(list.drain(..excess));
    drop(list);
    keeper.changed.notify_one();
}

/// A kept channel to `door`, made ready for the calling thread, if any.
pub fn take(door: DoorName) -> Option<ClientChannel> {
    let keeper = Keeper::existing()?;
    loop {
        let found = {
            let mut list = keeper.list();
            let at = list.iter().position(|(_, ch)| ch.reaches(door))?;
            list.remove(at).1
        };
        if let Some(ch) = found.usable_here() {
            return Some(ch.for_new_thread());
        }
    }
}
