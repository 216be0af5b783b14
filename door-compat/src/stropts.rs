//! `<stropts.h>`: `fattach` and `fdetach`.

use libc::{c_char, c_int};

use crate::attach;
use crate::boundary::ffi;

/// Attaches door descriptor `fildes` to the existing file `path`: opening
/// `path` then yields a descriptor for the door, subject to the file's
/// permissions as they were at attach time.
///
/// Errors: `EBADF` (`fildes` not open), `EINVAL` (not a door), `ENOENT`
/// (missing or empty path), `EBUSY` (already attached, even to a door whose
/// server has exited), `EPERM` (caller does not own `path`), `EACCES` (no
/// write permission on `path`, or none on its directory, where the attachment
/// keeps the covered file), `ENOTSUP` (`path` is a directory), and the usual
/// path lookup errors.
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fattach(fildes: c_int, path: *const c_char) -> c_int {
    ffi(|| attach::fattach(fildes, path).map(|()| 0))
}

/// Detaches whatever door is attached at `path`; the covered file is back,
/// unchanged. Descriptors already opened through `path` keep working.
///
/// Errors: `EINVAL` (nothing attached), `EPERM` (caller is neither the
/// attached file's owner nor root), and the usual path lookup errors.
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fdetach(path: *const c_char) -> c_int {
    ffi(|| attach::fdetach(path).map(|()| 0))
}
