//! Bulk buffers: for data too large for a channel's region (up to
//! `wire::BULK_MAX`), each channel keeps one buffer per direction — the
//! client's for arguments, the server's for results. The side that writes
//! makes it (a memfd of a power-of-two size, at least 2 MiB, sealed against
//! shrinking and growing), sends it once with the message that first needs
//! it, and reuses it after, so large calls make no memfd each time. The
//! reader checks the seals and the size before mapping it, so reading can
//! never fault, and copies out what it needs.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::region::Region;
use crate::spin;
use crate::sys::{self, Errno, Fd, Mapping, Result};
use crate::wire;

/// A mapped bulk buffer and its size.
pub type Bulk = Option<(Mapping, usize)>;

/// Makes `bulk` at least `len` bytes; returns the memfd when it is new, to
/// go with the message.
pub fn ensure(bulk: &mut Bulk, len: usize) -> Result<Option<Fd>> {
    if bulk.as_ref().is_some_and(|(_, cap)| *cap >= len) {
        return Ok(None);
    }
    let cap = len.next_power_of_two().max(RING);
    let fd = sys::memfd(c"libdoor-bulk", cap)?;
    sys::add_seals(&fd, libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL)?;
    *bulk = Some((Mapping::shared(&fd, cap)?, cap));
    Ok(Some(fd))
}

/// Puts `bytes` where the peer will read them: in `bulk` (made or grown as
/// needed) up to `BULK_MAX`; beyond that, or when no bulk buffer can be
/// made (our address space or descriptor table is full), in a memfd of
/// their own, which needs no mapping. Returns the message's data flags and
/// the descriptor to send with it, if any.
pub fn stage(bulk: &mut Bulk, bytes: &[u8]) -> Result<(u32, Option<Fd>)> {
    if bytes.len() <= wire::BULK_MAX
        && let Ok(new) = ensure(bulk, bytes.len())
    {
        copy_in(bulk, bytes)?;
        let flags = if new.is_some() { wire::DATA_BULK | wire::NEW_BULK } else { wire::DATA_BULK };
        return Ok((flags, new));
    }
    Ok((wire::DATA_MEMFD, Some(crate::descriptors::data_memfd(bytes)?)))
}

/// Takes the peer's new bulk buffer, replacing the old one in `bulk`.
/// `EPROTO` for a buffer that breaks the rules; `mmap`'s error (`ENOMEM`)
/// when it is sound but our address space has no room for it, and then
/// `bulk` is emptied.
pub fn adopt(bulk: &mut Bulk, fd: &Fd) -> Result<()> {
    let len = sys::sealed_len(fd, libc::F_SEAL_SHRINK | libc::F_SEAL_GROW)?;
    if len == 0 || len > wire::BULK_MAX {
        return Err(Errno(libc::EPROTO));
    }
    *bulk = None;
    *bulk = Some((Mapping::shared(fd, len)?, len));
    Ok(())
}

/// Copies `len` bytes out of `bulk` to `dst`.
///
/// # Safety
/// `dst` must be writable for `len` bytes.
pub unsafe fn copy_out(bulk: &Bulk, dst: *mut u8, len: usize) -> Result<()> {
    let (map, cap) = bulk.as_ref().ok_or(Errno(libc::EPROTO))?;
    if len > *cap {
        return Err(Errno(libc::EPROTO));
    }
    // SAFETY: len <= the mapping's length, which is sealed against
    // shrinking; dst is writable per the caller. The peer may write the
    // source concurrently: the copy is what the reader uses.
    unsafe { sys::copy_bytes(map.ptr(), dst, len) };
    Ok(())
}

/// Copies `bytes` into `bulk` (which `ensure` made large enough).
pub fn copy_in(bulk: &Bulk, bytes: &[u8]) -> Result<()> {
    let (map, cap) = bulk.as_ref().ok_or(Errno(libc::EPROTO))?;
    if bytes.len() > *cap {
        return Err(Errno(libc::EPROTO));
    }
    // SAFETY: the mapping holds cap >= len bytes.
    unsafe { sys::copy_bytes(bytes.as_ptr(), map.ptr(), bytes.len()) };
    Ok(())
}

/// Whether `bulk` exists and holds `len` bytes.
pub fn holds(bulk: &Bulk, len: usize) -> bool {
    bulk.as_ref().is_some_and(|(_, cap)| *cap >= len)
}

// Streaming: a call whose data fits the bulk buffer the server already has
// is posted in the region first, and its data written after, a piece at a
// time, each followed by the count of bytes written so far (`bulk_ready`).
// The server, which took the call meanwhile, copies each piece out as soon
// as it is there, so on two CPUs the two copies overlap instead of adding
// up, and the server's wake-up overlaps the client's writing. Large results
// go the same way back, through the server's bulk buffer, once the client
// has it: the reply is posted in the region and the data streamed after it.
// One call streams at a time on a channel, in one direction at a time, so
// both directions share the region's words.

/// How much the writer writes before it says so. Small pieces keep the
/// reader close behind the writer, so on two CPUs the two copies overlap
/// almost whole, and the lines are read before they leave the caches.
/// Both sides copy with `sys::copy_in_vectors`, not `memcpy`: for pieces
/// under the L2 size glibc's `memcpy` uses `rep movsb`, which was slow
/// for seconds at a time on AMD's Zen 3 while the other CPU read what it
/// had just written (1 MiB in 64 KiB pieces across CPUs, to the
/// procedure: 91–103 µs in most runs, 38–40 µs in the others; with the
/// vector loop 37–43 µs in every run). Pieces of 512 KiB, which `memcpy`
/// copies without `rep movsb`, had been the way round it (PERFORMANCE.md,
/// "Streams without `rep movsb`").
const PIECE: usize = 64 << 10;

/// A streamed argument goes round a ring, the bulk buffer's first `RING`
/// bytes (toward a server on another CPU) or all of it (toward one on our
/// CPU), from where the last streamed argument ended: byte `i` of the
/// argument at `(start + i) % ring`, `start` a whole number of pieces into
/// the ring, and a piece is written only once the server has taken what
/// was there (`bulk_taken`).
///
/// Why a ring, and why this size: on this guest (AMD EPYC, two vCPUs),
/// writing a line the other CPU still holds in its L2 is slow, 70 µs for
/// 1 MiB against 21 µs for lines no other CPU holds, while reading lines
/// the other CPU wrote is as fast as reading one's own. So the client
/// should write where the server read longest ago. Writing every argument
/// from the buffer's start, as before, wrote the lines the server had just
/// copied out of (a 64 KiB argument, every call; a 1 MiB one through a
/// 512 KiB window, its second half). Going on from where the last argument
/// ended, round 2 MiB, the lines written were read 2 MiB ago, long gone
/// from the server's 512 KiB L2 (it copies into its own buffer meanwhile).
/// A `/tmp` model, two threads pinned to the two CPUs, one copying in 64
/// KiB pieces what the other copies out, medians of seven alternating
/// rounds: 1 MiB 83 µs from the start through a 512 KiB window, 31 µs
/// round 2 MiB; 16 MiB 1.51 ms and 0.64 ms; 256 KiB 31.5 µs and 8.1 µs
/// (PERFORMANCE.md, "Writing where the other CPU read long ago"). A ring
/// no larger also keeps a 16 MiB argument in the caches, where the whole
/// buffer would not ("A window for streamed arguments"). Toward a server
/// on our own CPU, which cannot take a piece until we stop, the ring is
/// the whole buffer: a smaller one would make the two take turns. The
/// client says which, and where it starts, in the region (`bulk_window`,
/// `bulk_start`). Results, which the server would have to hold its thread
/// to write this way, go round the whole of its buffer, from where the
/// last ended toward a client on another CPU (`serve::stream_results`).
pub const RING: usize = 2 << 20;

/// Arguments from this size up to the region's request area (64 KiB) go
/// round the ring too, toward a server on another CPU, rather than in the
/// request area, which every call writes from its start: on that guest a
/// 64 KiB argument took 9.1 µs written at the start every call and 3.4 µs
/// round the ring, 16 KiB 1.8 and 0.9 µs; at 4 KiB the start was better,
/// 0.4 µs against 0.7 µs, since round the ring each call writes lines no
/// cache holds (the `/tmp` model above).
pub const RING_FROM: usize = 16 << 10;
// Every argument beyond the request area is of a size whose client asks
// where the server is (`client::send_call`).
const _: () = assert!(RING_FROM <= wire::REQUEST_CAP);

/// The ring for an argument in a buffer of `cap` bytes toward a server on
/// another CPU (`far`) or on ours.
pub fn window_for(cap: usize, far: bool) -> usize {
    if far { cap.min(RING) } else { cap }
}

/// Where the next argument starts in a ring of `window` bytes, after one
/// that was `len` bytes long and started at `start`: on the next piece's
/// boundary, so that no piece is split at the ring's end.
pub fn next_start(start: usize, len: usize, window: usize) -> usize {
    (start + len.div_ceil(PIECE) * PIECE) % window
}

/// The part of `bulk` a stream toward `reader` goes through, and where in
/// it the stream starts, both checked (whole pieces, within the buffer: a
/// bad one is the peer breaking the protocol): for an argument, the ring
/// and start the client chose; for results, the whole buffer, from where
/// the server said.
fn span(reader: Reader, cap: usize, region: &Region) -> Result<(usize, usize)> {
    let (w, start) = match reader {
        Reader::Server => (region.bulk_window().load(Ordering::Acquire), region.bulk_start().load(Ordering::Acquire)),
        Reader::Client => (cap as u64, region.rep_start().load(Ordering::Acquire)),
    };
    let w = usize::try_from(w).unwrap_or(0);
    let start = usize::try_from(start).unwrap_or(usize::MAX);
    let sound = w >= PIECE && w <= cap && w.is_multiple_of(PIECE) && start < w && start.is_multiple_of(PIECE);
    if sound { Ok((w, start)) } else { Err(Errno(libc::EPROTO)) }
}

/// Copies `bytes` into `bulk` piece by piece, toward `reader` (round the
/// ring the region names, or through the whole buffer, `span`), publishing progress
/// in `region` and waking the reader if it sleeps waiting for it. When the
/// next piece would overwrite bytes the reader has not taken yet,
/// `no_room` waits (for the predicate it is given, which says whether
/// there is room now) or fails, which ends the stream.
pub fn stream_in(
    bulk: &Bulk,
    bytes: &[u8],
    region: &Region,
    reader: Reader,
    mut no_room: impl FnMut(&dyn Fn() -> bool) -> Result<()>,
) -> Result<()> {
    let (map, cap) = bulk.as_ref().ok_or(Errno(libc::EPROTO))?;
    let (window, start) = span(reader, *cap, region)?;
    if bytes.len() > *cap {
        return Err(Errno(libc::EPROTO));
    }
    let mut done = 0;
    for piece in bytes.chunks(PIECE) {
        let room = || done + piece.len() <= (region.bulk_taken().load(Ordering::Acquire) as usize).saturating_add(window);
        while !room() {
            no_room(&room)?;
        }
        // SAFETY: (start + done) % window + piece.len() <= window <= cap,
        // the mapping's length: pieces are PIECE long but the last, and
        // the window and start multiples of PIECE, so none wraps round
        // the ring's end.
        unsafe { sys::copy_in_vectors(piece.as_ptr(), map.ptr().add((start + done) % window), piece.len()) };
        done += piece.len();
        region.bulk_ready().store(done as u64, Ordering::Release);
        wake(region.bulk_progress(), region.bulk_waiting());
    }
    Ok(())
}

/// After a side of a stream has said it moved on (bytes written, or taken
/// out): bumps the futex word `word`, and wakes the other side if it
/// sleeps on it (`waiting`). The bump comes first and always: it orders
/// what was said before the look at `waiting` (a locked instruction), and
/// a sleeper that read the word before the bump does not sleep.
fn wake(word: &AtomicU32, waiting: &AtomicU32) {
    word.fetch_add(1, Ordering::SeqCst);
    if waiting.load(Ordering::SeqCst) != 0 {
        sys::futex_wake(word);
    }
}

/// A side of a stream waits for `want()` (bytes to copy out, or room to
/// write): spins up to 20 µs when the other side last ran on another CPU
/// (`peer_cpu`), then sleeps on `word` for up to 10 ms, with `waiting` set
/// so that the other side's `wake` wakes it. The sleep's result:
/// `Err(EINTR)` when a signal handler ran meanwhile.
fn wait_briefly(peer_cpu: &AtomicU32, word: &AtomicU32, waiting: &AtomicU32, want: &dyn Fn() -> bool) -> Result<()> {
    if peer_cpu.load(Ordering::Relaxed) != spin::current_cpu() {
        let until = Instant::now() + Duration::from_micros(20);
        while !want() && Instant::now() < until {
            std::hint::spin_loop();
        }
        if want() {
            return Ok(());
        }
    }
    let seen = word.load(Ordering::SeqCst);
    waiting.store(1, Ordering::SeqCst);
    let slept = if want() { Ok(()) } else { sys::futex_wait(word, seen, Duration::from_millis(10)) };
    waiting.store(0, Ordering::SeqCst);
    slept
}

/// A client's wait for room in the window of a streamed argument (the
/// `no_room` of `stream_in`): spins briefly toward a server on another
/// CPU, then sleeps until the server takes a piece. `EPIPE` when the
/// server is gone; `EINTR` when a signal handler ran during the sleep, as
/// while the client waits for the reply.
pub fn await_room(region: &Region, sock: libc::c_int, want: &dyn Fn() -> bool) -> Result<()> {
    let slept = wait_briefly(region.server_cpu(), region.bulk_room(), region.bulk_room_waiting(), want);
    if slept == Err(Errno(libc::EINTR)) {
        return Err(Errno(libc::EINTR));
    }
    if !want() && sys::peer_gone(sock) {
        return Err(Errno(libc::EPIPE));
    }
    Ok(())
}

/// A client that writes nothing of a streamed call for this long loses the
/// call (`EPROTO`): a server thread is not held indefinitely by a client
/// that stalls on purpose (or is stopped) half-way.
pub const STALL: Duration = Duration::from_secs(10);

/// Which side reads a stream, which says whose CPU to compare with ours
/// and how long to wait for a writer that stalls.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// A call's arguments: a stalling client loses the call (`STALL`).
    Server,
    /// A call's results: the client waits while the server lives, as it
    /// waits for a reply, and a signal caught while it sleeps ends the
    /// call (`EINTR`).
    Client,
}

/// Copies the `len` bytes of a stream out of `bulk` to `dst` as the other
/// side writes them (through the part of the buffer `span` says, as
/// `stream_in`), saying after each copy how far it has taken them, and
/// waking a writer that waits for room. `sock` is the channel's socket: a
/// writer that dies meanwhile ends the wait (`EPIPE`).
///
/// # Safety
/// `dst` must be writable for `len` bytes.
pub unsafe fn stream_out(bulk: &Bulk, region: &Region, sock: libc::c_int, reader: Reader, dst: *mut u8, len: usize) -> Result<()> {
    let (map, cap) = bulk.as_ref().ok_or(Errno(libc::EPROTO))?;
    // (Read once: a client that changes it mid-stream only garbles its
    // own argument.)
    let (window, start) = span(reader, *cap, region)?;
    if len > *cap {
        return Err(Errno(libc::EPROTO));
    }
    let writer_cpu = match reader {
        Reader::Server => region.client_cpu(),
        Reader::Client => region.server_cpu(),
    };
    let mut done = 0;
    let mut progressed = Instant::now();
    let ready = || (region.bulk_ready().load(Ordering::Acquire) as usize).min(len);
    while done < len {
        let now_ready = ready();
        if now_ready > done {
            // Up to the ring's end at most; the rest on the next turn.
            let at = (start + done) % window;
            let n = (now_ready - done).min(window - at);
            // SAFETY: at + n <= window <= cap: in the mapping (sealed
            // against shrinking); done + n <= now_ready <= len: in dst. The
            // writer may still write what we copy; only our copy is used.
            unsafe { sys::copy_in_vectors(map.ptr().add(at), dst.add(done), n) };
            done += n;
            region.bulk_taken().store(done as u64, Ordering::Release);
            wake(region.bulk_room(), region.bulk_room_waiting());
            progressed = Instant::now();
            continue;
        }
        // Nothing new: wait for the writer to say more.
        let slept = wait_briefly(writer_cpu, region.bulk_progress(), region.bulk_waiting(), &|| ready() > done);
        // A signal handler ran while we slept: a client's call ends
        // (EINTR), as while it waits for the reply, so that a server that
        // stalls (or never writes what it announced) cannot hold a caller
        // its signals would free. A server thread looks again and waits on.
        if reader == Reader::Client && slept == Err(Errno(libc::EINTR)) {
            return Err(Errno(libc::EINTR));
        }
        if ready() <= done {
            if sys::peer_gone(sock) {
                return Err(Errno(libc::EPIPE));
            }
            if reader == Reader::Server && progressed.elapsed() > STALL {
                return Err(Errno(libc::EPROTO));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_start_on_the_next_piece_round_the_ring() {
        let ring = RING;
        assert_eq!(next_start(0, 1, ring), PIECE);
        assert_eq!(next_start(0, PIECE, ring), PIECE);
        assert_eq!(next_start(0, PIECE + 1, ring), 2 * PIECE);
        // Round the end, and whole laps.
        assert_eq!(next_start(ring - PIECE, PIECE + 1, ring), PIECE);
        assert_eq!(next_start(0, ring, ring), 0);
        assert_eq!(next_start(PIECE, 3 * ring, ring), PIECE);
        // Always a whole number of pieces into the ring, as `span` demands.
        for len in [1, 4093, PIECE - 1, 5 * PIECE + 7, ring + 1] {
            let start = next_start(3 * PIECE, len, ring);
            assert!(start < ring && start.is_multiple_of(PIECE));
        }
    }
}
