//! How a large argument travels when client and server share a CPU:
//! spliced (`splice.rs`: the kernel's one copy, after pinning the pages)
//! or streamed (`bulk.rs`: two copies, which on one CPU add up). Which is
//! faster depends on the machine: where the kernel's page-by-page copy and
//! its pinning are cheap the splice wins from 512 KiB; where they are dear
//! (an AMD guest with SRSO mitigations, PERFORMANCE.md) streaming wins up
//! to several MiB, while the caches still hold the bulk buffer.
//!
//! So the process measures rather than guesses. For each size class (a
//! power of two) it keeps the cost of each way, measured from the start of
//! a call to the moment the server had the whole argument (the server says
//! when, `wire::ARG_TAKEN_NS_OFF`), and takes the cheaper; every
//! `EXPLORE`th call of a class takes the other, so the estimates follow
//! the machine. A server that lies about the time only misleads this
//! choice; both ways deliver the same bytes.
//!
//! `LIBDOOR_SPLICE=1` in the environment makes every such argument
//! spliced, `LIBDOOR_SPLICE=0` streamed (to measure each way, or to test
//! one).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::splice;

/// The two ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    Splice,
    Stream,
}

/// Size classes: [512 KiB, 1 MiB), [1, 2), ... and 32 MiB and over.
const CLASSES: usize = 7;

/// One call in this many takes the way that looked slower.
const EXPLORE: u32 = 16;

/// Per class and way: an average of the cost in nanoseconds per MiB;
/// 0 while unmeasured. Relaxed: a race loses a sample, never a call.
static COST: [[AtomicU64; 2]; CLASSES] = [const { [const { AtomicU64::new(0) }; 2] }; CLASSES];
static CALLS: [AtomicU32; CLASSES] = [const { AtomicU32::new(0) }; CLASSES];

fn class(len: usize) -> usize {
    let log = usize::BITS - 1 - len.max(splice::MIN).leading_zeros();
    ((log - splice::MIN.trailing_zeros()) as usize).min(CLASSES - 1)
}

fn index(way: Way) -> usize {
    match way {
        Way::Splice => 0,
        Way::Stream => 1,
    }
}

/// The way for a `len`-byte argument (at least `splice::MIN`) toward a
/// server on our CPU: an unmeasured way first, then the cheaper, and now
/// and then the other.
pub fn choose(len: usize) -> Way {
    if let Some(way) = forced() {
        return way;
    }
    let c = class(len);
    let splice = COST[c][index(Way::Splice)].load(Ordering::Relaxed);
    let stream = COST[c][index(Way::Stream)].load(Ordering::Relaxed);
    if splice == 0 {
        return Way::Splice;
    }
    if stream == 0 {
        return Way::Stream;
    }
    let (cheaper, dearer) = if splice <= stream { (Way::Splice, Way::Stream) } else { (Way::Stream, Way::Splice) };
    if CALLS[c].fetch_add(1, Ordering::Relaxed) % EXPLORE == EXPLORE - 1 {
        return dearer;
    }
    cheaper
}

/// The way `LIBDOOR_SPLICE` sets, if it does.
fn forced() -> Option<Way> {
    static FORCED: OnceLock<Option<Way>> = OnceLock::new();
    *FORCED.get_or_init(|| match std::env::var_os("LIBDOOR_SPLICE") {
        Some(v) if v == "1" => Some(Way::Splice),
        Some(v) if v == "0" => Some(Way::Stream),
        _ => None,
    })
}

/// Records that a `len`-byte argument sent `way` reached the server `ns`
/// nanoseconds after the call began.
pub fn record(len: usize, way: Way, ns: u64) {
    let per_mib = ns.saturating_mul(1 << 20) / len.max(1) as u64;
    let cost = &COST[class(len)][index(way)];
    let old = cost.load(Ordering::Relaxed);
    // A quarter's weight follows a change within a few samples; a sample
    // counts for at most twice the average, so one preemption cannot
    // condemn a way on its own.
    let new = if old == 0 { per_mib } else { old - old / 4 + per_mib.min(old.saturating_mul(2)) / 4 };
    cost.store(new.max(1), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_powers_of_two_from_the_splice_minimum() {
        assert_eq!(class(splice::MIN), 0);
        assert_eq!(class(1), 0);
        assert_eq!(class((1 << 20) - 1), 0);
        assert_eq!(class(1 << 20), 1);
        assert_eq!(class(16 << 20), 5);
        assert_eq!(class(usize::MAX), CLASSES - 1);
    }

    #[test]
    fn each_way_is_measured_then_the_cheaper_taken_and_the_other_tried_now_and_then() {
        // Its own class, so other tests' calls do not disturb the counts.
        let len = 40 << 20;
        assert_eq!(choose(len), Way::Splice);
        record(len, Way::Splice, 9_000_000);
        assert_eq!(choose(len), Way::Stream);
        record(len, Way::Stream, 3_000_000);
        let picks: Vec<Way> = (0..2 * EXPLORE).map(|_| choose(len)).collect();
        let spliced = picks.iter().filter(|&&w| w == Way::Splice).count();
        assert_eq!(spliced, 2, "one call in {EXPLORE} tries the slower way: {picks:?}");
        // The machine changes: the streamed calls get dear; the choice follows.
        for _ in 0..8 {
            record(len, Way::Stream, 20_000_000);
        }
        assert_eq!(choose(len), Way::Splice);
    }
}
