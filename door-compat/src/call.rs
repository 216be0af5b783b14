//! `door_call`, driven from C.
//!
//! `door_call` is a pthread cancellation point, and glibc cancels by
//! unwinding, which must not pass through Rust frames. So the C function
//! (`libdoor_door_call` in `csrc/door_loop.c`) drives the call and acts on
//! cancellation itself (`pthread_testcancel` after every interrupted wait),
//! calling these functions, each of which returns before any unwinding can
//! start:
//!
//! - `start` checks the arguments, sends the call, and waits for the reply;
//! - `step` reads what arrived (or handles the interruption) and, once the
//!   reply is in, places the results; else it waits again;
//! - `cancel`, from a cancellation cleanup handler, gives the call up.
//!
//! The wait (`wait_for_reply`) spins a little toward a server on another
//! CPU, then either sleeps itself (on the region's reply word with a
//! timeout, or on the socket), a caught signal ending the sleep with EINTR,
//! or leaves the C caller to sleep on the reply word with no timeout, as a
//! cancellation point (door_loop.c).
//!
//! Between them the call in flight lives in room on the C caller's stack
//! (a call costs no allocation), owned by the C loop through a raw pointer
//! that is NULL once the call is over.

use libc::c_int;

use crate::abi::*;
use crate::client::{self, Pending, Request, Results, Step};
use crate::descriptors;
use crate::fdmemo;
use crate::sys::{Errno, Result, set_errno};
use crate::trace::{ErrnoName, trace};

/// A call between its sending and its reply.
pub struct InFlight {
    d: c_int,
    params: *mut door_arg_t,
    /// The caller's descriptors, for `DOOR_RELEASE` once the outcome is known.
    descs: Vec<door_desc_t>,
    pending: Pending,
}

/// Turns an outcome into the C return value, setting errno on failure.
fn c_result(r: std::thread::Result<Result<()>>) -> c_int {
    match r {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            set_errno(e);
            -1
        }
        Err(_) => {
            set_errno(Errno(libc::EIO));
            -1
        }
    }
}

/// Checks the arguments, sends the call and waits for the reply
/// (`wait_for_reply`, which sets `*sleep` and `*wait`). `room` is
/// `room_len` bytes, 16-aligned, for the call in flight. Returns 0 with
/// `*out` set to `room` (the caller then calls `step`), or -1 with errno and
/// `*out` NULL.
pub extern "C" fn start(
    d: c_int,
    params: *mut door_arg_t,
    room: *mut InFlight,
    room_len: usize,
    out: *mut *mut InFlight,
    sleep: *mut Sleep,
    wait: *mut c_int,
) -> c_int {
    // SAFETY: out points at the C caller's local.
    unsafe { out.write(std::ptr::null_mut()) };
    trace!("call door={:016x} fd={d} {}", fdmemo::door_id(d).unwrap_or(0), ArgSizes(params));
    let r = std::panic::catch_unwind(|| -> Result<()> {
        // The C loop's room is sized by hand: every call would fail here
        // (and so every test) if InFlight outgrew it.
        if room_len < std::mem::size_of::<InFlight>() || !(room as usize).is_multiple_of(std::mem::align_of::<InFlight>()) {
            return Err(Errno(libc::EINVAL));
        }
        let in_flight = send(d, params)?;
        // SAFETY: room is large and aligned enough (checked) and holds no
        // call (the C loop gives a fresh one to each door_call); out,
        // sleep and wait point at the C caller's locals.
        unsafe { wait_in_room(in_flight, room, out, sleep, wait) };
        Ok(())
    });
    match c_result(r) {
        0 => 0,
        failed => ended(d, params, failed),
    }
}

#[inline(always)] // once per call (PERFORMANCE.md, "Fewer instructions")
fn send(d: c_int, params: *mut door_arg_t) -> Result<InFlight> {
    let door = fdmemo::door_of(d)?;
    // SAFETY: the caller passed a valid door_arg_t or NULL.
    let arg = unsafe { params.as_ref() };
    let (data, descs) = match arg {
        None => (&[][..], Vec::new()),
        Some(a) => {
            let descs = descriptors::read_outgoing(a.desc_ptr, a.desc_num)?;
            let data = if a.data_size == 0 {
                &[][..]
            } else if a.data_ptr.is_null() {
                return Err(Errno(libc::EFAULT));
            } else {
                // SAFETY: the caller guarantees data_size readable bytes.
                unsafe { std::slice::from_raw_parts(a.data_ptr.cast::<u8>(), a.data_size) }
            };
            (data, descs)
        }
    };
    // (A malformed descriptor list fails once the door's limits passed, as
    // on illumos: `client::send_call`.)
    let req = Request { data, descs, accepts_results: arg.is_some() };
    let pending = client::start(d, door, &req)?;
    Ok(InFlight { d, params, descs: req.descs, pending })
}

/// Places a call still waiting for its reply in the caller's `room`,
/// points `*slot` at it, and makes its wait (`wait_for_reply`).
///
/// # Safety
/// `room` is free, and large and aligned enough for an `InFlight`; `slot`,
/// `sleep` and `wait` point at the C caller's locals.
unsafe fn wait_in_room(in_flight: InFlight, room: *mut InFlight, slot: *mut *mut InFlight, sleep: *mut Sleep, wait: *mut c_int) {
    // SAFETY: as the caller vouches; the room then holds the call.
    unsafe {
        room.write(in_flight);
        slot.write(room);
        wait_for_reply(room, sleep, wait);
    }
}

/// Waits (at most a short while) until the reply may be in, and sets
/// `*wait` to 0 (look now), EINTR (a signal handler ran), or `SLEEP`: then
/// the C caller sleeps while `*sleep.word == sleep.value`, with no timeout
/// and asynchronously cancellable, and says so to `step`.
///
/// # Safety
/// `in_flight` is the call in the C caller's room; `sleep` and `wait`
/// point at the caller's locals.
unsafe fn wait_for_reply(in_flight: *mut InFlight, sleep: *mut Sleep, wait: *mut c_int) {
    // SAFETY: the InFlight placed in the caller's room, owned by the
    // caller, not moved while we borrow it.
    let pending = unsafe { &mut (*in_flight).pending };
    let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| client::wait(pending))) {
        Ok(client::Wait::Over(Err(Errno(libc::EINTR)))) => libc::EINTR,
        Ok(client::Wait::Sleep(word, value)) => {
            // SAFETY: sleep points at the C caller's local.
            unsafe { sleep.write(Sleep { word: word.cast(), value }) };
            SLEEP
        }
        _ => 0,
    };
    // SAFETY: wait points at the C caller's local.
    unsafe { wait.write(code) };
}

/// `wait_for_reply`'s answer when the caller is to sleep on a futex word
/// (then it calls `step` with `slept` set).
pub const SLEEP: c_int = -1;

/// Where the C caller sleeps (see `wait_for_reply`). The word is in the channel's
/// region, which the pending call keeps mapped.
#[repr(C)]
pub struct Sleep {
    word: *const u32,
    value: u32,
}

/// One step after the wait: `interrupted` says a signal handler ran;
/// `slept`, that the caller slept on the word the wait gave it. While
/// the reply is not in, `*slot` stays set, the next wait is made
/// (`wait_for_reply`, setting `*sleep` and `*wait`) and 0 is returned; once
/// the call is over `*slot` is NULL and the result is returned.
pub extern "C" fn step(slot: *mut *mut InFlight, interrupted: c_int, slept: c_int, sleep: *mut Sleep, wait: *mut c_int) -> c_int {
    // SAFETY: slot points at the C caller's local, and *slot at the
    // InFlight that start() (or an earlier step) placed in the caller's
    // room. It is moved out here, and the slot is cleared at once, so it
    // is never read twice; a call still waiting is placed back below.
    let room = unsafe { slot.read() };
    // SAFETY: as above.
    let InFlight { d, params, descs, mut pending } = unsafe { room.read() };
    // SAFETY: as above.
    unsafe { slot.write(std::ptr::null_mut()) };
    if slept != 0 {
        // (Bookkeeping only: it cannot panic.)
        client::woken(&mut pending);
    }
    if interrupted != 0 {
        let e = client::interrupted(pending, d);
        return ended(d, params, c_result(Ok(finish(&descs, params, Err(e)))));
    }
    match client::receive(pending, d) {
        Step::Wait(pending) => {
            // SAFETY: the room is free again (moved out above); slot,
            // sleep and wait point at the C caller's locals.
            unsafe { wait_in_room(InFlight { d, params, descs, pending }, room, slot, sleep, wait) };
            0
        }
        Step::Ready => {
            // The new channel is ready: send the call now.
            match std::panic::catch_unwind(|| send(d, params)) {
                Ok(Ok(in_flight)) => {
                    // SAFETY: as above.
                    unsafe { wait_in_room(in_flight, room, slot, sleep, wait) };
                    0
                }
                Ok(Err(e)) => ended(d, params, c_result(Ok(Err(e)))),
                Err(_) => ended(d, params, c_result(Err(Box::new(())))),
            }
        }
        Step::Done(outcome) => ended(d, params, c_result(std::panic::catch_unwind(|| finish(&descs, params, outcome)))),
    }
}

/// A call is over with C result `r` (0, or -1 with errno set): traced, and
/// passed on.
fn ended(d: c_int, params: *mut door_arg_t, r: c_int) -> c_int {
    let errno = if r == 0 { 0 } else { Errno::last().0 };
    trace!("reply door={:016x} fd={d} result={} {}", fdmemo::door_id(d).unwrap_or(0), ErrnoName(errno), ArgSizes(params));
    r
}

/// `size=N descs=M` of a call's `door_arg_t` (NULL: none), for the trace.
struct ArgSizes(*const door_arg_t);

impl std::fmt::Display for ArgSizes {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        // SAFETY: the caller's door_arg_t, or NULL, valid during its call.
        match unsafe { self.0.as_ref() } {
            None => write!(f, "size=0 descs=0"),
            Some(a) => write!(f, "size={} descs={}", a.data_size, a.desc_num),
        }
    }
}

/// The calling thread is being cancelled while it waits: give the call up
/// as a signal would (the server is told; late results are discarded).
pub extern "C" fn cancel(in_flight: *mut InFlight) {
    if in_flight.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: the InFlight in the caller's room, owned by the caller,
        // which forgets it after this (give_up_call clears its pointer).
        let InFlight { d, pending, .. } = unsafe { in_flight.read() };
        client::interrupted(pending, d);
    });
}

/// Ends a call: `DOOR_RELEASE` for the caller's descriptors once the
/// server had them (on success and on the errors illumos raises after
/// translating descriptors; not on those raised before, such as EBADF for a
/// revoked or dead door, EAGAIN, ENOTSUP, ENOBUFS, ENFILE), then the results
/// placed as illumos places them.
#[inline(always)] // once per call (PERFORMANCE.md, "Fewer instructions")
fn finish(descs: &[door_desc_t], params: *mut door_arg_t, outcome: Result<Results>) -> Result<()> {
    if matches!(outcome, Ok(_) | Err(Errno(libc::EINTR | libc::EMFILE | libc::EOVERFLOW))) {
        descriptors::release(descs);
    }
    let mut results = outcome?;
    // SAFETY: the caller's door_arg_t, or NULL, still valid during its call.
    let Some(arg) = (unsafe { params.as_mut() }) else {
        results.finish();
        return Ok(());
    };
    let placed = crate::results::place(arg, &mut results);
    results.finish();
    placed
}
