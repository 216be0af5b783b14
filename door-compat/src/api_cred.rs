//! The credential functions of `<door.h>`: `door_ucred` and `door_cred`
//! (doors-spec §4.10, §5.10). Both describe the immediate caller of the
//! invocation this thread is serving, as the kernel knows it (`cred.rs`).

use crate::abi::door_cred_t;
use crate::boundary::ffi;
use crate::cred;
use crate::sys::Errno;
use crate::ucred::{self, ucred_t};

/// The credentials of the caller of the invocation this thread is serving:
/// real, effective and saved uid and gid, supplementary groups, and pid.
/// During an unreferenced notification: pid 0 and the server's own.
/// When `*info` is NULL a new record of `ucred_size()` bytes is allocated
/// (release it with `ucred_free`) and its address stored in `*info`;
/// otherwise the record `*info` points to is filled. On failure `*info` is
/// unchanged.
///
/// Errors: `EINVAL` (this thread serves no call, or its client gave up or
/// died, or changed its credentials while calling), `EFAULT` (NULL `info`),
/// `ENOMEM`, `EAGAIN` (out of descriptors).
///
/// # Safety
/// `info` must be NULL or point to a writable pointer that is NULL or points
/// to a record of `ucred_size()` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn door_ucred(info: *mut *mut ucred_t) -> libc::c_int {
    ffi(|| {
        if info.is_null() {
            return Err(Errno(libc::EFAULT));
        }
        let creds = cred::of_invocation()?;
        // SAFETY: the caller's promise, as documented.
        unsafe { ucred::store(info, &creds)? };
        Ok(0)
    })
}

/// The obsolete form of `door_ucred`: the caller's effective and real uid
/// and gid and its pid. `dc_resv` is left untouched.
///
/// Errors: `EINVAL` (as `door_ucred`), `EFAULT` (NULL `info`), `EAGAIN`.
///
/// # Safety
/// `info` must be NULL or point to a writable `door_cred_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn door_cred(info: *mut door_cred_t) -> libc::c_int {
    ffi(|| {
        if info.is_null() {
            return Err(Errno(libc::EFAULT));
        }
        let c = cred::of_invocation()?;
        // SAFETY: info is writable (checked non-NULL; the caller's promise);
        // fields are written one by one so dc_resv is not touched.
        unsafe {
            (*info).dc_euid = c.uid[1];
            (*info).dc_egid = c.gid[1];
            (*info).dc_ruid = c.uid[0];
            (*info).dc_rgid = c.gid[0];
            (*info).dc_pid = c.pid;
        }
        Ok(0)
    })
}
