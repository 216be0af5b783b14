//! How long a server thread lingers on a channel, kept by the control
//! thread instead of a timeout on every sleep.
//!
//! After answering a call a server thread waits on the channel's request
//! word for the client's next call (serve.rs `linger`), and goes back to
//! the pool once the channel has been quiet for `LINGER`. A futex wait with
//! a timeout would bound that, but arms a kernel timer at every sleep,
//! which on one CPU costs a null call about 3% (docs/PERFORMANCE.md). So
//! lingering threads sleep with no timeout, and the control thread, which
//! sleeps in `epoll_wait` anyway, wakes every `LINGER` while any thread
//! lingers, and kicks the threads of channels quiet since its last tick: it
//! sets the channel's kick flag and wakes its request word. A thread
//! lingers from `LINGER` to twice that after the channel's last call. The
//! channel counts its calls, and the control thread compares the count
//! with what it saw a tick before: a call costs an increment, not a clock
//! read.
//!
//! Lingering is registered per thread, from its first wait on a channel
//! until it leaves the channel (kicked, a call on the socket, the pool's
//! needs) or exits; the calls it takes meanwhile do not register again, so
//! a client calling in a loop costs the control thread nothing but its
//! ticks. When the first registers, the control thread is rung (an eventfd
//! in its epoll set), since it may be sleeping with no timeout. The
//! registry, not the server's table, is what the control thread looks
//! through: a thread may linger on a channel the table has dropped (its
//! door became unreachable), and must still be sent away. A thread stays
//! registered while it runs a call it took lingering, so a procedure that
//! blocks for long keeps the control thread ticking until it returns.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use crate::server::Channel;
use crate::sys::{self, Fd, Result};

/// How long a quiet channel keeps its thread: long enough to catch a
/// client calling in a loop, short enough that an idle channel soon
/// returns its thread to the pool.
pub const LINGER: Duration = Duration::from_millis(10);

/// The control thread's epoll token for the bell.
pub const BELL_TOKEN: u64 = u64::MAX;

/// The channels threads of this process linger on, one entry per thread.
static LINGERING: Mutex<Vec<Weak<Channel>>> = Mutex::new(Vec::new());

fn lingering() -> MutexGuard<'static, Vec<Weak<Channel>>> {
    LINGERING.lock().unwrap_or_else(|p| p.into_inner())
}

/// The bell's descriptor (-1: none yet).
static BELL: AtomicI32 = AtomicI32::new(-1);

/// Makes the bell and adds it to the control thread's epoll set `ep`.
pub fn make_bell(ep: &Fd) -> Result<Fd> {
    let bell = sys::eventfd()?;
    sys::epoll_ctl(ep, libc::EPOLL_CTL_ADD, bell.raw(), libc::EPOLLIN as u32, BELL_TOKEN)?;
    BELL.store(bell.raw(), Ordering::SeqCst);
    Ok(bell)
}

/// Whether threads may linger: only while the control thread can be rung
/// (its bell could be made), or nobody would end their lingers.
pub fn possible() -> bool {
    BELL.load(Ordering::SeqCst) >= 0
}

/// A thread starts lingering on `ch`.
pub fn begin(ch: &Arc<Channel>) {
    let mut all = lingering();
    all.push(Arc::downgrade(ch));
    if all.len() == 1 {
        let bell = BELL.load(Ordering::SeqCst);
        if bell >= 0 {
            sys::eventfd_signal(bell);
        }
    }
}

/// A thread has left `ch` (or exits while lingering there).
pub fn end(ch: &Weak<Channel>) {
    let mut all = lingering();
    if let Some(i) = all.iter().position(|w| w.ptr_eq(ch)) {
        all.swap_remove(i);
    }
}

/// Notes a call (or a lingering thread's arrival) on `ch`: its quiet time
/// starts now, and any kick given before is void.
pub fn active(ch: &Channel) {
    // (Not an atomic increment, a locked instruction: two threads
    // lingering on one channel may count one call where there were two,
    // and any change of the count tells the control thread enough.)
    let calls = ch.linger_calls.load(Ordering::Relaxed);
    ch.linger_calls.store(calls.wrapping_add(1), Ordering::Relaxed);
    // (A locked store only when there is a kick to take back. A tick that
    // read the count before this and kicks after it sends the thread back
    // to the pool a tick early, as one a moment earlier would have.)
    if ch.linger_kick.load(Ordering::Relaxed) {
        ch.linger_kick.store(false, Ordering::SeqCst);
    }
}

/// Whether the control thread told the threads lingering on `ch` to leave.
pub fn kicked(ch: &Channel) -> bool {
    ch.linger_kick.load(Ordering::SeqCst)
}

/// The control thread's tick: kicks the threads of every channel lingered
/// on that has seen no call since the last tick. Returns how long the
/// control thread may sleep: `LINGER` while a thread lingers.
pub fn tick() -> Option<Duration> {
    let mut all = lingering();
    // (A channel gone is no thread's any more: a path that failed to say so
    // would otherwise keep this thread ticking.)
    all.retain(|w| w.strong_count() > 0);
    let channels: Vec<Arc<Channel>> = all.iter().filter_map(Weak::upgrade).collect();
    let any = !all.is_empty();
    // Our upgrade may be a channel's last reference, and dropping a channel
    // takes the death watch's lock, which `fork` takes before this one.
    drop(all);
    for ch in &channels {
        let calls = ch.linger_calls.load(Ordering::Relaxed);
        if ch.linger_seen.swap(calls, Ordering::Relaxed) == calls {
            ch.linger_kick.store(true, Ordering::SeqCst);
            sys::futex_wake_all(ch.region.req_word());
        }
    }
    any.then_some(LINGER)
}

/// Holds the registry's lock across `fork` (server.rs's atfork handlers).
pub fn lock_for_fork() -> MutexGuard<'static, Vec<Weak<Channel>>> {
    lingering()
}

/// In a forked child, once the lock is free again: no thread of the child
/// lingers (the forking one was running, and forgets its channels), and
/// the bell was closed.
pub fn forget_after_fork() {
    // (Weak references: dropping them frees at most the child's copy of a
    // channel's allocation that nothing else holds.)
    lingering().clear();
    BELL.store(-1, Ordering::SeqCst);
}

