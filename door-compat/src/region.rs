//! A channel's shared region: the memory one client thread and its door's
//! server share for the channel's life (made by the client, sealed against
//! shrinking and growing, passed once in Hello, mapped by both sides).
//!
//! Layout (`wire.rs` has the offsets): a header page of atomic words, then
//! the request area, then the reply area. Either side may be hostile to the
//! other, so every word is read once, atomically, and every size is checked
//! against its area before use; data is always copied out, never used in
//! place.
//!
//! The header carries the call's hand-off. The state word arbitrates who
//! owns a call (pending → picked by a server thread, or withdrawn by an
//! interrupted client, or abandoned after it was picked). The futex words
//! let a server thread that *lingers* on the channel after a call take the
//! client's next call without any socket message; a client sleeping for
//! its reply is woken the same way, on `rep_word`, when results (or an
//! error) are in the reply area, are announced with a size beyond it (their
//! data in the server's bulk buffer, streamed: `serve::stream_results`), or
//! a reply was sent on the socket.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::sys::{self, Fd, Mapping, Result};
use crate::wire;

/// The mapping: plain, or (a server's) in a slot whose robust-list node
/// lets the server's death wake the client (`deathwatch.rs`).
pub struct Region {
    /// The mapping's address (kept apart: every word access uses it).
    base: *mut u8,
    map: Map,
}

// SAFETY: the base pointer is the mapping's, which is Send and Sync (an
// address range whose bytes are accessed atomically or under the protocol).
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

enum Map {
    Plain(Mapping),
    Watched(crate::deathwatch::Slot),
}

impl Map {
    fn ptr(&self) -> *mut u8 {
        match self {
            Map::Plain(m) => m.ptr(),
            Map::Watched(s) => s.region(),
        }
    }
}

/// How a request reached the region (`req_via`).
pub const VIA_SOCKET: u32 = 0;
pub const VIA_REGION: u32 = 1;

/// `mode`: whether a server thread lingers on the channel.
pub const POOL: u32 = 0;
pub const LINGER: u32 = 1;

impl Drop for Region {
    /// A watched region is the server's: its channel is being dropped, and
    /// its socket closes (at once, or soon by the reaper thread). A client
    /// sleeping for a reply with no timeout is woken, and finds the word
    /// marked as if the server had died, so that it waits for the socket's
    /// end of file instead of sleeping again. Not a forked child's copy:
    /// the child lets go of its parent's channels (server.rs `abandon`),
    /// which live on in the parent; marked, they would have every client
    /// of the parent believe it dead and poll for its end of file at each
    /// call (100 ms a call, `client::LIVENESS_CHECK`).
    fn drop(&mut self) {
        if let Map::Watched(slot) = &self.map
            && slot.is_ours()
        {
            self.rep_word().fetch_or(wire::REP_OWNER_DIED, Ordering::SeqCst);
            if self.client_waiting().load(Ordering::SeqCst) != 0 {
                sys::futex_wake(self.rep_word());
            }
        }
    }
}

impl Region {
    /// Maps `fd`, which must be `REGION_LEN` bytes.
    pub fn map(fd: &Fd) -> Result<Region> {
        let map = Map::Plain(Mapping::shared(fd, wire::REGION_LEN)?);
        Ok(Region { base: map.ptr(), map })
    }

    /// The server's mapping of a new channel's region: watched if it can
    /// be, and `rep_word` set to say by whom (its id bits; 0: not watched).
    pub fn map_watched(fd: &Fd) -> Result<Region> {
        let region = match crate::deathwatch::Slot::map(fd)? {
            Some(slot) => Region { base: slot.region(), map: Map::Watched(slot) },
            None => Region::map(fd)?,
        };
        let id = match &region.map {
            Map::Watched(slot) => slot.id(),
            Map::Plain(_) => 0,
        };
        region.rep_word().store(id, Ordering::SeqCst);
        Ok(region)
    }

    fn u64_at(&self, off: usize) -> &AtomicU64 {
        debug_assert!(off.is_multiple_of(8) && off + 8 <= wire::REQUEST_OFF);
        // SAFETY: off is 8-aligned within the header page of a mapping that
        // lives as long as self; every access to these words is atomic, so
        // the other process writing them concurrently is no data race.
        unsafe { &*self.base.add(off).cast::<AtomicU64>() }
    }

    fn u32_at(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off.is_multiple_of(4) && off + 4 <= wire::REQUEST_OFF);
        // SAFETY: as for u64_at, 4-aligned.
        unsafe { &*self.base.add(off).cast::<AtomicU32>() }
    }

    /// The state word: `wire::pending(seq)` and its successors.
    pub fn state(&self) -> &AtomicU64 {
        self.u64_at(wire::STATE_OFF)
    }
    /// The server's id for the channel.
    pub fn channel_id(&self) -> &AtomicU64 {
        self.u64_at(wire::CHANNEL_ID_OFF)
    }
    /// Published limit `i` (see `wire::LIMITS_OFF`).
    pub fn limit(&self, i: usize) -> &AtomicU64 {
        self.u64_at(wire::LIMITS_OFF + 8 * i)
    }
    /// `LINGER` while a server thread waits on `req_word` for the next call.
    pub fn mode(&self) -> &AtomicU32 {
        self.u32_at(wire::MODE_OFF)
    }
    /// Bumped by the client after posting a request in the region.
    pub fn req_word(&self) -> &AtomicU32 {
        self.u32_at(wire::REQ_WORD_OFF)
    }
    /// Set while the lingering server sleeps on `req_word`.
    pub fn server_waiting(&self) -> &AtomicU32 {
        self.u32_at(wire::SERVER_WAITING_OFF)
    }
    /// Armed by the client before it waits (`arm`), disarmed by the server
    /// after every reply, in the region or on the socket; marked by the
    /// kernel if the server dies (`wire::REP_*`, `deathwatch.rs`).
    pub fn rep_word(&self) -> &AtomicU32 {
        self.u32_at(wire::REP_WORD_OFF)
    }
    /// Set while the client sleeps on `rep_word`.
    pub fn client_waiting(&self) -> &AtomicU32 {
        self.u32_at(wire::CLIENT_WAITING_OFF)
    }
    /// The CPU the client last ran on, plus one (`spin::current_cpu`).
    pub fn client_cpu(&self) -> &AtomicU32 {
        self.u32_at(wire::CLIENT_CPU_OFF)
    }
    /// The CPU the server thread last ran on, plus one.
    pub fn server_cpu(&self) -> &AtomicU32 {
        self.u32_at(wire::SERVER_CPU_OFF)
    }
    /// Bytes of a streamed bulk call written so far (`wire::BULK_READY_OFF`).
    pub fn bulk_ready(&self) -> &AtomicU64 {
        self.u64_at(wire::BULK_READY_OFF)
    }
    /// Bumped by the client after each piece of a streamed bulk call.
    pub fn bulk_progress(&self) -> &AtomicU32 {
        self.u32_at(wire::BULK_PROGRESS_OFF)
    }
    /// Set while the server sleeps on `bulk_progress`.
    pub fn bulk_waiting(&self) -> &AtomicU32 {
        self.u32_at(wire::BULK_WAITING_OFF)
    }
    /// Bytes of a streamed argument the server has copied out so far.
    pub fn bulk_taken(&self) -> &AtomicU64 {
        self.u64_at(wire::BULK_TAKEN_OFF)
    }
    /// Bumped by the server whenever it frees room in the window, which
    /// wakes a client sleeping on it (`bulk_room_waiting`).
    pub fn bulk_room(&self) -> &AtomicU32 {
        self.u32_at(wire::BULK_ROOM_OFF)
    }
    /// Set while the client sleeps on `bulk_room`.
    pub fn bulk_room_waiting(&self) -> &AtomicU32 {
        self.u32_at(wire::BULK_ROOM_WAITING_OFF)
    }
    /// The ring a streamed argument goes round (`bulk::RING`)...
    pub fn bulk_window(&self) -> &AtomicU64 {
        self.u64_at(wire::BULK_WINDOW_OFF)
    }
    /// ...and where in it the argument starts (`bulk::next_start`).
    pub fn bulk_start(&self) -> &AtomicU64 {
        self.u64_at(wire::BULK_START_OFF)
    }
    /// Where results in the server's bulk buffer start.
    pub fn rep_start(&self) -> &AtomicU64 {
        self.u64_at(wire::REP_START_OFF)
    }
    /// Results of `bulk::RING_FROM` to `REPLY_CAP` bytes are in the
    /// server's bulk buffer (1), not the reply area (0).
    pub fn rep_in_bulk(&self) -> &AtomicU32 {
        self.u32_at(wire::REP_IN_BULK_OFF)
    }
    /// When the client last woke a sleeping server with a request.
    pub fn req_posted_ns(&self) -> &AtomicU64 {
        self.u64_at(wire::REQ_POSTED_NS_OFF)
    }
    /// When the server last woke a sleeping client with a reply.
    pub fn rep_posted_ns(&self) -> &AtomicU64 {
        self.u64_at(wire::REP_POSTED_NS_OFF)
    }
    /// When the server had a streamed or spliced argument whole (`wire::ARG_TAKEN_NS_OFF`).
    pub fn arg_taken_ns(&self) -> &AtomicU64 {
        self.u64_at(wire::ARG_TAKEN_NS_OFF)
    }
    /// The call a region reply answers (written last).
    pub fn rep_seq(&self) -> &AtomicU64 {
        self.u64_at(wire::REP_SEQ_OFF)
    }
    pub fn rep_errno(&self) -> &AtomicU64 {
        self.u64_at(wire::REP_ERRNO_OFF)
    }
    pub fn rep_size(&self) -> &AtomicU64 {
        self.u64_at(wire::REP_SIZE_OFF)
    }
    /// A region request's size and `wire::NO_RESULTS` flag, and how it came.
    pub fn req_size(&self) -> &AtomicU64 {
        self.u64_at(wire::REQ_SIZE_OFF)
    }
    pub fn req_flags(&self) -> &AtomicU32 {
        self.u32_at(wire::REQ_FLAGS_OFF)
    }
    pub fn req_via(&self) -> &AtomicU32 {
        self.u32_at(wire::REQ_VIA_OFF)
    }

    pub fn request_area(&self) -> *mut u8 {
        // SAFETY: REQUEST_OFF is within the mapping.
        unsafe { self.base.add(wire::REQUEST_OFF) }
    }
    pub fn reply_area(&self) -> *mut u8 {
        // SAFETY: REPLY_OFF is within the mapping.
        unsafe { self.base.add(wire::REPLY_OFF) }
    }

    /// Announces a reply (in the region, or just sent on the socket) and
    /// wakes the client if it sleeps.
    pub fn notify_client(&self) {
        self.rep_word().fetch_and(!wire::REP_ARMED, Ordering::SeqCst);
        if self.client_waiting().load(Ordering::SeqCst) != 0 {
            self.rep_posted_ns().store(sys::monotonic_ns(), Ordering::Relaxed);
            sys::futex_wake(self.rep_word());
        }
    }

    /// The client's side of `rep_word`: sets the armed bit and returns the
    /// word as armed, which the next reply changes (or the server's death).
    /// A read-modify-write, so that a death mark is never overwritten.
    pub fn arm(&self) -> u32 {
        self.rep_word().fetch_or(wire::REP_ARMED, Ordering::SeqCst) | wire::REP_ARMED
    }

    /// Announces a request (in the region, or just sent on the socket) and
    /// wakes a lingering server thread if it sleeps.
    pub fn notify_server(&self) {
        self.req_word().fetch_add(1, Ordering::SeqCst);
        if self.server_waiting().load(Ordering::SeqCst) != 0 {
            self.req_posted_ns().store(sys::monotonic_ns(), Ordering::Relaxed);
            sys::futex_wake(self.req_word());
        }
    }

    /// Puts a reply of `size` bytes already in the reply area (or in, or
    /// on their way to, the server's bulk buffer when larger; or an errno)
    /// in place for call `seq`, then wakes the client.
    #[inline(always)] // once per call (PERFORMANCE.md, "Fewer instructions")
    pub fn post_reply(&self, seq: u64, errno: i32, size: usize) {
        // rep_seq publishes the rest (and the reply area's bytes): a client
        // that reads it with `seq` sees them. The wake-up's order comes from
        // notify_client's read-modify-write.
        self.rep_errno().store(errno as u64, Ordering::Relaxed);
        self.rep_size().store(size as u64, Ordering::Relaxed);
        self.rep_seq().store(seq, Ordering::Release);
        self.server_cpu().store(crate::spin::current_cpu(), Ordering::Relaxed);
        self.notify_client();
    }
}
