//! The C boundary: errors become `-1` with `errno`, panics never cross.

use libc::c_int;

use crate::sys::{Errno, Result, set_errno};

/// Runs an API function's body. `Err(e)` sets `errno = e` and returns -1; a
/// panic (a libdoor bug) is caught and reported as `EIO`. Success leaves
/// `errno` untouched.
pub fn ffi(body: impl FnOnce() -> Result<c_int>) -> c_int {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(Ok(v)) => v,
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

/// Runs the body of an API function that returns a value rather than an
/// int status: `Err(e)` sets `errno = e` and returns `failed`, as does a
/// panic (with `EIO`). Success leaves `errno` untouched.
pub fn ffi_or<T>(failed: T, body: impl FnOnce() -> Result<T>) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            set_errno(e);
            failed
        }
        Err(_) => {
            set_errno(Errno(libc::EIO));
            failed
        }
    }
}
