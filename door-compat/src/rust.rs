//! The internals the safe Rust API (the `libdoor` crate, `libdoor/`) is
//! built on, with `Result<_, Errno>` instead of `-1` and `errno`.
//!
//! Nothing here is a C export. Each function makes sure the library's
//! constructor has run (`ensure_init`), so a Rust program that links this
//! crate as an rlib works whether or not its linker kept our `.init_array`
//! entry (rustc does keep it; a test in `libdoor/` checks).
//!
//! Server procedures of the Rust API do not call `door_return`: they answer
//! with `reply` (or `fail`) and return to the C service loop, which then
//! serves the next invocation. So no Rust frame is ever jumped over.

use std::ffi::CStr;

use libc::{c_char, c_int};

use crate::abi::*;
use crate::sys::Result;

pub use crate::cred::Creds;
pub use crate::sys::Errno;

/// Whether the library's constructor has run (for tests of the linkage).
pub fn initialised() -> bool {
    crate::INIT_DONE.is_completed()
}

/// Creates a door whose invocations run `procedure(cookie, ...)`, with
/// `door_create`'s attributes and errors. The procedure must answer with
/// `reply` or `fail` and then return (see the module documentation).
pub fn create(procedure: ServerProcedure, cookie: usize, attributes: uint_t) -> Result<c_int> {
    crate::ensure_init();
    crate::api::create_door(procedure as usize, cookie, attributes)
}

/// `door_call`, driven by the same C loop (signals, cancellation); the
/// results are placed in `arg` as `door_call` places them.
pub fn call(d: c_int, arg: &mut door_arg_t) -> Result<()> {
    crate::ensure_init();
    // SAFETY: arg is a valid door_arg_t whose buffers the caller vouches for.
    if unsafe { crate::csrc::libdoor_door_call(d, arg) } == 0 { Ok(()) } else { Err(Errno::last()) }
}

/// Answers the invocation the calling server thread is serving, from inside
/// a Rust API procedure, which must then return to the service loop. The
/// data and descriptors are sent before this returns; descriptors marked
/// `DOOR_RELEASE` are closed. Errors as `door_return`'s (`E2BIG` when the
/// caller accepts no results); the invocation is then still unanswered.
pub fn reply(data: &[u8], descs: &[door_desc_t]) -> Result<()> {
    crate::ensure_init();
    let n = u32::try_from(descs.len()).map_err(|_| Errno(libc::E2BIG))?;
    let r = crate::serve::reply(data.as_ptr() as *mut c_char, data.len(), descs.as_ptr() as *mut door_desc_t, n, std::ptr::null_mut());
    if r != 0 {
        return Err(Errno(r));
    }
    // SAFETY: sets a thread-local flag in door_loop.c.
    unsafe { crate::csrc::libdoor_invocation_answered() };
    Ok(())
}

/// Answers the invocation the calling server thread is serving with
/// `errno` (the caller's `door_call` fails with it), from inside a Rust API
/// procedure, which must then return to the service loop.
pub fn fail(errno: c_int) {
    crate::ensure_init();
    crate::serve::fail_current(errno);
    // SAFETY: sets a thread-local flag in door_loop.c.
    unsafe { crate::csrc::libdoor_invocation_answered() };
}

/// Whether the caller of the current invocation accepts results.
pub fn accepts_results() -> bool {
    crate::serve::current_accepts_results()
}

/// `door_ucred` for the current invocation, as a plain record.
pub fn caller() -> Result<Creds> {
    crate::ensure_init();
    crate::cred::of_invocation()
}

/// `door_info`.
pub fn info(d: c_int) -> Result<door_info_t> {
    crate::ensure_init();
    crate::api::info_of(d)
}

/// `door_revoke` (which closes `d`).
pub fn revoke(d: c_int) -> Result<()> {
    crate::ensure_init();
    crate::api::revoke(d)
}

/// `fattach`.
pub fn fattach(d: c_int, path: &CStr) -> Result<()> {
    crate::ensure_init();
    crate::attach::fattach(d, path.as_ptr())
}

/// `fdetach`.
pub fn fdetach(path: &CStr) -> Result<()> {
    crate::ensure_init();
    crate::attach::fdetach(path.as_ptr())
}

/// Opens the door attached at `path`, close-on-exec, as `open` does for an
/// attached path. `ENOTSUP` when `path` is not an attached door; the usual
/// lookup errors when it cannot be reached.
pub fn open(path: &CStr) -> Result<c_int> {
    crate::ensure_init();
    let flags = libc::O_RDONLY | libc::O_CLOEXEC;
    match crate::open::open_door(libc::AT_FDCWD, path.as_ptr(), flags)? {
        crate::open::Opened::Door(fd) => Ok(fd),
        crate::open::Opened::NotADoor => {
            // Tell a missing or unreachable path from one that is no door.
            let fd = crate::sys::openat(libc::AT_FDCWD, path, libc::O_PATH | libc::O_CLOEXEC, 0)?;
            drop(fd);
            Err(Errno(libc::ENOTSUP))
        }
    }
}

/// The door's uniquifier, or `EBADF` when `d` is not a door descriptor.
pub fn door_id(d: c_int) -> Result<u64> {
    crate::label::door_id(d)
}

/// A new descriptor for the door behind `d`, counted as a reference of its
/// own (as `dup` of a door descriptor gives), close-on-exec.
pub fn duplicate(d: c_int) -> Result<c_int> {
    crate::ensure_init();
    let uniq = crate::label::door_id(d)?;
    let fd = crate::descriptors::copy_door(d, uniq)?;
    let fd = crate::sys::dupfd(fd.raw(), 0, true)?;
    crate::fdmemo::handed_out(fd);
    Ok(fd)
}
