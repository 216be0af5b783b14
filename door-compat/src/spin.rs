//! Spin-then-block: before sleeping on a futex, wait a little while
//! actively, because a peer running on another CPU often answers within
//! a microsecond, far sooner than a sleep and wake-up take.
//!
//! The spin is budgeted in time, not iterations, and adapts: a spin that
//! ends in success doubles the budget (up to `MAX_NS`), one that ends in a
//! sleep halves it, down to nothing; with nothing, every `PROBE_EVERY`th
//! wait tries a small spin again, so a peer that moves to another CPU is
//! noticed.
//!
//! A sleep that ended soon (the answer came within `MAX_NS` of the start
//! of the wait) raises the budget to cover that wait next time: where
//! waking a sleeping CPU is slow (tens of microseconds on some virtual
//! machines), every spin shorter than that wake-up fails, and only a spin
//! that outlasts it lets both sides end up running at once, after which
//! each finds the other's answer without sleeping.
//!
//! A client's spin that was preempted (it stopped running for longer than
//! interrupts take) means more runnable threads than CPUs: for a while
//! every client spin of the process is then cut short, so that callers
//! sleep through long calls. Otherwise two callers spinning on one CPU
//! while their two server threads share the other keep both CPUs looking
//! busy, and the scheduler never spreads them (PERFORMANCE.md, "The spin
//! in crowded machines").
//!
//! Each side writes the CPU it runs on into the region; a waiter whose
//! peer was last seen on its own CPU does not spin (the peer cannot run
//! while it spins) and learns nothing from its sleep. So same-CPU calls
//! spin not at all. On a machine with one CPU there is no spinning at all,
//! and `LIBDOOR_SPIN=0` in the environment turns it off (to measure what
//! it buys: `docs/PERFORMANCE.md`).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a waiter that may learn from its sleep notes when the wait began
/// (monotonic ns): only a wait toward a peer seen on another CPU.
///
/// A peer not seen yet (0: a channel's first call) does not count as on
/// another CPU. That call went on the socket, whose wake-up is a "sync"
/// one: the kernel tends to queue the server thread on the caller's own
/// CPU, where a spin only keeps it from running (a fresh process's first
/// call spun its whole 100 µs budget so, PERFORMANCE.md, "A channel's
/// first call").
pub fn wait_began(peer_cpu: u32, my_cpu: u32) -> Option<u64> {
    (peer_cpu != 0 && peer_cpu != my_cpu).then(crate::sys::monotonic_ns)
}

/// The most a waiter spins before it sleeps.
const MAX_NS: u32 = 100_000;
/// A budget below this is not worth a spin.
const MIN_NS: u32 = 500;
/// With no budget, every this-many waits spin `MIN_NS * 2` once.
const PROBE_EVERY: u32 = 256;
/// A spin that stopped running for this long between two looks at the
/// clock was preempted by a thread that wanted its CPU (a scheduler slice
/// is 0.75 ms or more); shorter gaps are interrupts and the hypervisor
/// (50–100 µs gaps, dozens a second, on the VM of PERFORMANCE.md).
const PREEMPTED_NS: u64 = 500_000;
/// After a preemption, every client spin of the process is this short
/// for `CROWDED_FOR_NS`: long enough for a server that is running to
/// answer a null call, too short to keep a CPU from a thread waiting for it.
const CROWDED_NS: u32 = 2_000;
const CROWDED_FOR_NS: u64 = 10_000_000;

/// Until when (monotonic ns) this process's client spins are cut to
/// `CROWDED_NS`. Process-wide: the threads that crowd a CPU are often the
/// process's own (two callers on one CPU), and all of them must sleep for
/// the scheduler to see an idle CPU and move a thread to it.
static CROWDED_UNTIL: AtomicU64 = AtomicU64::new(0);

/// A waiter's spin budget.
#[derive(Default)]
pub struct Budget {
    ns: u32,
    idle_waits: u32,
    /// The budget was last raised by `slept`: the next spin tells whether
    /// that was right.
    raised: bool,
    /// Sleeps to come that may not raise the budget, and how many the next
    /// ban lasts. A raise followed by a failed spin means the peer could
    /// not run while we spun (more runnable threads than CPUs), not that
    /// its CPU was slow to wake: raising is then banned for a while,
    /// longer each time it proves wrong again.
    no_raise: u32,
    ban: u32,
    /// Whether this budget's spins are cut short while the process is
    /// crowded (a client's).
    watches_crowding: bool,
    /// The last spin was cut short so: its outcome, and the sleep after
    /// it, teach the budget nothing.
    crowded: bool,
}

fn spinning_possible() -> bool {
    static POSSIBLE: OnceLock<bool> = OnceLock::new();
    *POSSIBLE.get_or_init(|| {
        // sysconf rather than std's available_parallelism, which opens files
        // through libc's cancellable (and our interposed) open.
        // SAFETY: sysconf takes no pointers.
        let multi_cpu = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) } > 1;
        multi_cpu && std::env::var_os("LIBDOOR_SPIN").is_none_or(|v| v != "0")
    })
}

impl Budget {
    /// A server's budget, for its lingering wait for the next call. It
    /// spins through crowding: cutting those spins short cost null calls
    /// from 100 processes an eighth of their throughput (PERFORMANCE.md).
    ///
    /// Whether this machine can spin at all is asked at the first spin,
    /// not here: a process that makes one call never asks (glibc's sysconf
    /// reads a file in /sys for it, 25–30 µs in a fresh process).
    pub fn new() -> Budget {
        Budget { ns: MAX_NS, ..Budget::default() }
    }

    /// A client's budget, for its wait for the reply: cut short while the
    /// process is crowded.
    pub fn for_client() -> Budget {
        Budget { watches_crowding: true, ..Budget::new() }
    }

    /// Spins until `done()` or the budget runs out; adapts the budget.
    /// Returns whether `done()` became true.
    pub fn spin(&mut self, mut done: impl FnMut() -> bool) -> bool {
        let mut ns = self.ns;
        self.crowded = false;
        if ns == 0 {
            self.idle_waits += 1;
            if self.idle_waits < PROBE_EVERY || !spinning_possible() {
                return done();
            }
            self.idle_waits = 0;
            ns = MIN_NS * 2;
        } else if !spinning_possible() {
            self.ns = 0;
            return done();
        }
        let start = crate::sys::monotonic_ns();
        // (Relaxed: a stale deadline costs one spin of the wrong length.)
        self.crowded = self.watches_crowding && start < CROWDED_UNTIL.load(Ordering::Relaxed);
        let mut limit = u64::from(if self.crowded { ns.min(CROWDED_NS) } else { ns });
        let mut i: u32 = 0;
        let mut last_look = start;
        let won = loop {
            if done() {
                break true;
            }
            std::hint::spin_loop();
            i = i.wrapping_add(1);
            if i.is_multiple_of(16) {
                let now = crate::sys::monotonic_ns();
                if self.watches_crowding && now.saturating_sub(last_look) > PREEMPTED_NS {
                    CROWDED_UNTIL.store(now + CROWDED_FOR_NS, Ordering::Relaxed);
                    self.crowded = true;
                    limit = limit.min(u64::from(CROWDED_NS));
                }
                last_look = now;
                if now.saturating_sub(start) > limit {
                    break false;
                }
            }
        };
        // The budget stays as it was for when the machine is quiet again.
        if self.crowded {
            return won;
        }
        if std::mem::take(&mut self.raised) {
            if won {
                self.ban /= 2;
            } else {
                self.ban = (self.ban * 2).clamp(16, 4096);
                self.no_raise = self.ban;
            }
        }
        self.ns = if won {
            ns.saturating_mul(2).clamp(MIN_NS * 2, MAX_NS)
        } else if ns / 2 < MIN_NS {
            0
        } else {
            ns / 2
        };
        won
    }

    /// After a spin failed and the waiter slept: what it waited for came
    /// from a peer on another CPU, which noted in `posted` when it woke us
    /// (monotonic ns; an older value when it did not). The wait began at
    /// `began`. A wait that a longer spin would have covered raises the
    /// budget to it. Measured to the post, not to our waking: where waking
    /// a sleeping CPU is slow, that delay would hide every wait a spin
    /// could have covered.
    pub fn slept(&mut self, began: u64, posted: u64) {
        if self.crowded {
            return;
        }
        let end = if posted > began { posted } else { crate::sys::monotonic_ns() };
        let ns = u128::from(end.saturating_sub(began));
        if self.no_raise > 0 {
            self.no_raise -= 1;
        } else if spinning_possible() && ns < u128::from(MAX_NS) {
            let cover = ((ns + ns / 4) as u32).clamp(MIN_NS * 2, MAX_NS);
            if cover > self.ns {
                self.ns = cover;
                self.raised = true;
            }
        }
    }
}

/// The CPU this thread runs on, plus one (0: not known), as the region's
/// `client_cpu` and `server_cpu` words hold it. glibc reads it from the
/// thread's rseq area: no system call.
pub fn current_cpu() -> u32 {
    // SAFETY: sched_getcpu takes no arguments.
    let cpu = unsafe { libc::sched_getcpu() };
    if cpu < 0 { 0 } else { cpu as u32 + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_peer_seen_on_another_cpu_is_spun_for() {
        assert!(wait_began(0, 1).is_none(), "a peer not seen yet");
        assert!(wait_began(2, 2).is_none(), "a peer on our CPU");
        assert!(wait_began(2, 1).is_some());
    }

    #[test]
    fn budget_adapts() {
        if !spinning_possible() {
            return;
        }
        let mut b = Budget { ns: MAX_NS, ..Budget::default() };
        assert!(b.spin(|| true));
        assert_eq!(b.ns, MAX_NS);
        for _ in 0..8 {
            assert!(!b.spin(|| false));
        }
        assert_eq!(b.ns, 0);
        // No budget: no spinning until the probe.
        let mut calls = 0;
        assert!(!b.spin(|| {
            calls += 1;
            false
        }));
        assert_eq!(calls, 1);
        // A sleep that a spin could have covered raises the budget to it.
        b.slept(0, 40_000);
        assert!(!spinning_possible() || b.ns >= 40_000);
        b.slept(0, 5_000_000);
        assert!(b.ns <= MAX_NS);
    }

    #[test]
    fn a_wait_counts_to_the_post_not_to_the_wake_up() {
        if !spinning_possible() {
            return;
        }
        // Posted 30 µs into a wait that began a second ago: had we woken
        // only now, nothing would be learnt; the post says a spin of 30 µs
        // would have done.
        let began = crate::sys::monotonic_ns() - 1_000_000_000;
        let mut b = Budget::default();
        b.slept(began, began + 30_000);
        assert!(b.raised && b.ns >= 30_000);
        // No note of this wait's post (an older one): counted to now.
        let mut b = Budget::default();
        b.slept(began, began - 1);
        assert!(!b.raised && b.ns == 0);
    }

    #[test]
    fn a_raise_proved_wrong_bans_raising() {
        if !spinning_possible() {
            return;
        }
        let mut b = Budget::default();
        b.slept(0, 2_000);
        assert!(b.raised && b.ns >= 2_000);
        // The peer could not run while we spun: the raise was wrong.
        assert!(!b.spin(|| false));
        assert!(b.no_raise >= 16);
        let before = b.ns;
        b.slept(0, 50_000);
        assert_eq!(b.ns, before, "no raise during the ban");
        // A raise that a spin then confirms shortens the next ban.
        b.no_raise = 0;
        b.slept(0, 50_000);
        let ban = b.ban;
        assert!(b.spin(|| true));
        assert!(b.ban < ban);
    }

    #[test]
    fn a_preempted_client_spin_cuts_the_process_client_spins() {
        if !spinning_possible() {
            return;
        }
        // The first look at the answer takes a millisecond: to the spin,
        // it was preempted that long.
        let mut client = Budget::for_client();
        let before = crate::sys::monotonic_ns();
        let mut looks = 0;
        assert!(!client.spin(|| {
            looks += 1;
            if looks == 1 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            false
        }));
        assert!(client.crowded);
        assert!(CROWDED_UNTIL.load(Ordering::Relaxed) >= before + PREEMPTED_NS + CROWDED_FOR_NS);
        assert_eq!(client.ns, MAX_NS, "a spin cut short teaches nothing");
        client.slept(0, 40_000);
        assert_eq!(client.ns, MAX_NS);
        // Another client of the process spins briefly while the mark holds
        // (held on here, however slowly the test runs), and keeps its budget.
        CROWDED_UNTIL.store(crate::sys::monotonic_ns() + 3_600_000_000_000, Ordering::Relaxed);
        let mut other = Budget::for_client();
        assert!(!other.spin(|| false));
        assert!(other.crowded && other.ns == MAX_NS);
        // A server's spin is not cut: it fails and halves as ever.
        let mut server = Budget::new();
        assert!(!server.spin(|| false));
        assert!(!server.crowded && server.ns == MAX_NS / 2);
    }
}
