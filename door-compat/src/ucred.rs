//! `<ucred.h>`: credential records and their accessors, `ucred_get` and
//! `getpeerucred` (doors-spec §4.11, §7.11).
//!
//! A `ucred_t` is one self-contained block of `ucred_size()` bytes, so a
//! caller may supply the buffer (`door_ucred`, `getpeerucred`) and
//! `ucred_free` is plain `free(3)`. Its layout is private to libdoor.
//!
//! Linux has no privilege sets, labels, projects, zones or audit data. The
//! accessors for those report what illumos reports where the information
//! is absent or trivial: no privilege set, no label, no process flags
//! (`EINVAL`), the global zone 0 and the default project 3.
#![allow(non_camel_case_types)]

use std::mem::size_of;
use std::ptr::null_mut;

use libc::{c_int, c_void, gid_t, pid_t, uid_t};

use crate::abi::uint_t;
use crate::boundary::{ffi, ffi_or};
use crate::cred::{self, Creds, UNKNOWN};
use crate::sys::{self, Errno, Result};

/// The most supplementary groups a Linux process can have (the kernel's
/// `NGROUPS_MAX`): every record has room for that many, so a record is
/// never short of one, and `ucred_size()` is a constant (about 256 KiB, of
/// which only the bytes used are ever touched).
const GROUPS_MAX: usize = 65536;

/// A credential record (illumos `struct ucred_s`). Ids the record does not
/// know are `(uid_t)-1`; an unknown pid is -1.
#[repr(C)]
pub struct ucred_s {
    pid: pid_t,
    /// Real, effective, saved.
    uid: [uid_t; 3],
    /// Real, effective, saved.
    gid: [gid_t; 3],
    /// How many of `groups` are valid, or -1 when unknown.
    ngroups: i32,
    groups: [gid_t; GROUPS_MAX],
}

/// `ucred_t`: a self-contained credential record of `ucred_size()` bytes.
pub type ucred_t = ucred_s;

/// An opaque privilege set (illumos `struct priv_set`).
pub struct priv_set {
    _opaque: [u8; 0],
}

/// `priv_set_t`.
pub type priv_set_t = priv_set;

/// A privilege set name, such as `PRIV_EFFECTIVE`.
pub type priv_ptype_t = *const libc::c_char;

/// An opaque security label (illumos `struct _mac_label_impl`).
pub struct _mac_label_impl {
    _opaque: [u8; 0],
}

/// `m_label_t`.
pub type m_label_t = _mac_label_impl;

/// `bslabel_t`, the same type as `m_label_t`.
pub type bslabel_t = _mac_label_impl;

/// Zone id; Linux has one zone, the global zone 0.
pub type zoneid_t = libc::c_int;

/// Project id.
pub type projid_t = libc::c_int;

/// `ucred_get(P_MYID)`: the calling process.
pub const P_MYID: libc::pid_t = -1;

/// The project every credential reports: illumos' `default` project (3),
/// which processes join when no other applies. Linux has no projects.
const DEFAULT_PROJECT: projid_t = 3;

/// Stores `creds` as illumos' `door_ucred` and `getpeerucred` do: into the
/// caller's record when `*out` is not NULL, else into a new one (`malloc`,
/// `ENOMEM`) whose address goes to `*out`. On failure `*out` is unchanged
/// and nothing stays allocated. `EFAULT` when `out` is NULL.
///
/// # Safety
/// `out` must be NULL or point to a writable pointer that is NULL or points
/// to `ucred_size()` writable bytes.
pub unsafe fn store(out: *mut *mut ucred_t, creds: &Creds) -> Result<()> {
    if out.is_null() {
        return Err(Errno(libc::EFAULT));
    }
    let groups = creds.groups.as_deref().unwrap_or_default();
    if groups.len() > GROUPS_MAX {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: out is non-NULL and readable (the caller's promise).
    let mut uc = unsafe { *out };
    let fresh = uc.is_null();
    if fresh {
        // SAFETY: malloc of a non-zero size; NULL is handled below.
        uc = unsafe { libc::malloc(size_of::<ucred_t>()) }.cast::<ucred_t>();
        if uc.is_null() {
            return Err(Errno(libc::ENOMEM));
        }
    }
    // SAFETY: uc points to ucred_size() writable bytes, aligned (malloc's,
    // or the caller's record). Fields are written through the raw pointer,
    // never through a reference to possibly uninitialised memory; only the
    // groups in use are written.
    unsafe {
        (*uc).pid = creds.pid;
        (*uc).uid = creds.uid;
        (*uc).gid = creds.gid;
        (*uc).ngroups = creds.groups.as_ref().map_or(-1, |g| g.len() as i32);
        std::ptr::copy_nonoverlapping(groups.as_ptr(), (&raw mut (*uc).groups).cast::<gid_t>(), groups.len());
    }
    if fresh {
        // SAFETY: out is writable (the caller's promise).
        unsafe { *out = uc };
    }
    Ok(())
}

/// Reads one id from a record: `(uid_t)-1` with `EINVAL` when `uc` is NULL
/// or the record does not know it.
fn id(uc: *const ucred_t, read: impl FnOnce(*const ucred_t) -> u32) -> u32 {
    ffi_or(UNKNOWN, || {
        if uc.is_null() {
            return Err(Errno(libc::EINVAL));
        }
        match read(uc) {
            UNKNOWN => Err(Errno(libc::EINVAL)),
            v => Ok(v),
        }
    })
}

/// The credentials of process `pid`, or of the caller for `P_MYID`, in a
/// new record to release with `ucred_free`. Any user may read any
/// process's credentials, as Linux's `/proc` allows.
///
/// Errors (NULL returned): `ESRCH` (no such process), `EINVAL` (a negative
/// pid other than `P_MYID`), `EACCES` (`/proc` hides the process),
/// `EAGAIN` (its credentials kept changing while read), `EMFILE`,
/// `ENFILE`, `ENOMEM`.
///
/// # Safety
/// Plain integer argument; always safe to call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ucred_get(pid: pid_t) -> *mut ucred_t {
    ffi_or(null_mut(), || {
        let creds = if pid == P_MYID || pid == sys::getpid() {
            cred::of_self()?
        } else if pid < 0 {
            return Err(Errno(libc::EINVAL));
        } else {
            cred::of_process(pid)?
        };
        let mut uc = null_mut();
        // SAFETY: &mut uc is a writable NULL pointer: store allocates.
        unsafe { store(&mut uc, &creds)? };
        Ok(uc)
    })
}

/// Releases a record from `ucred_get`, `getpeerucred` or `door_ucred`:
/// `free(3)`.
///
/// # Safety
/// `uc` must be NULL or a record this library allocated, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ucred_free(uc: *mut ucred_t) {
    // SAFETY: records are allocated with malloc (the caller's promise).
    unsafe { libc::free(uc.cast::<c_void>()) }
}

/// The size of every record, constant for the life of the process.
///
/// # Safety
/// Always safe to call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ucred_size() -> usize {
    size_of::<ucred_t>()
}

/// The effective uid; `(uid_t)-1` with `EINVAL` when unknown.
///
/// # Safety
/// `uc` must be NULL or a valid record.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ucred_geteuid(uc: *const ucred_t) -> uid_t {
    // SAFETY: id() passes uc only when non-NULL; valid by the caller's promise.
    id(uc, |r| unsafe { (*r).uid[1] })
}

/// The real uid; `(uid_t)-1` with `EINVAL` when unknown.
///
/// # Safety
/// `uc` must be NULL or a valid record.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ucred_getruid(uc: *const ucred_t) -> uid_t {
    // SAFETY: as in ucred_geteuid.
    id(uc, |r| unsafe { (*r).uid[0] })
}

/// The saved uid; `(uid_t)-1` with `EINVAL` when unknown.
///
/// # Safety
/// `uc` must be NULL or a valid record.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ucred_getsuid(uc: *const ucred_t) -> uid_t {
    // SAFETY: as in ucred_geteuid.
    id(uc, |r| unsafe { (*r).uid[2] })
}

/// The effective gid; `(gid_t)-1` with `EINVAL` when unknown.
///
/// # Safety
/// `uc` must be NULL or a valid record.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ucred_getegid(uc: *const ucred_t) -> gid_t {
    // SAFETY: as in ucred_geteuid.
    id(uc, |r| unsafe { (*r).gid[1] })
}

/// The real gid; `(gid_t)-1` with `EINVAL` when unknown.
///
/// # Safety
/// `uc` must be NULL or a valid record.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ucred_getrgid(uc: *const ucred_t) -> gid_t {
    // SAFETY: as in ucred_geteuid.
    id(uc, |r| unsafe { (*r).gid[0] })
}

/// The saved gid; `(gid_t)-1` with `EINVAL` when unknown.
///
/// # Safety
/// `uc` must be NULL or a valid record.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ucred_getsgid(uc: *const ucred_t) -> gid_t {
    // SAFETY: as in ucred_geteuid.
    id(uc, |r| unsafe { (*r).gid[2] })
}

/// The number of supplementary groups, with `*groups` pointing at them
/// inside the record (NULL when there are none).
///
/// Errors (-1 returned): `EINVAL` (NULL record, or groups unknown),
/// `EFAULT` (NULL `groups`).
///
/// # Safety
/// `uc` must be NULL or a valid record; `groups` NULL or writable. The
/// pointer stored is valid as long as the record.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ucred_getgroups(uc: *const ucred_t, groups: *mut *const gid_t) -> c_int {
    ffi(|| {
        if uc.is_null() {
            return Err(Errno(libc::EINVAL));
        }
        // SAFETY: uc is a valid record (checked non-NULL; the caller's promise).
        let n = unsafe { (*uc).ngroups };
        if n < 0 {
            return Err(Errno(libc::EINVAL));
        }
        if groups.is_null() {
            return Err(Errno(libc::EFAULT));
        }
        // SAFETY: groups is writable; the address is inside the record.
        unsafe { *groups = if n == 0 { std::ptr::null() } else { (&raw const (*uc).groups).cast::<gid_t>() } };
        Ok(n)
    })
}

/// The process; 0 for the caller of an unreferenced notification; -1 with
/// `EINVAL` when unknown (a socket peer in a pid namespace this process
/// cannot see).
///
/// # Safety
/// `uc` must be NULL or a valid record.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ucred_getpid(uc: *const ucred_t) -> pid_t {
    ffi_or(-1, || {
        if uc.is_null() {
            return Err(Errno(libc::EINVAL));
        }
        // SAFETY: uc is a valid record (checked non-NULL; the caller's promise).
        match unsafe { (*uc).pid } {
            -1 => Err(Errno(libc::EINVAL)),
            pid => Ok(pid),
        }
    })
}

/// The zone: always 0, the global zone (Linux has no zones); -1 with
/// `EINVAL` for a NULL record.
///
/// # Safety
/// `uc` must be NULL or a valid record.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ucred_getzoneid(uc: *const ucred_t) -> zoneid_t {
    ffi_or(-1, || if uc.is_null() { Err(Errno(libc::EINVAL)) } else { Ok(0) })
}

/// The project: always 3, illumos' `default` project (Linux has no
/// projects); -1 with `EINVAL` for a NULL record.
///
/// # Safety
/// `uc` must be NULL or a valid record.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ucred_getprojid(uc: *const ucred_t) -> projid_t {
    ffi_or(-1, || if uc.is_null() { Err(Errno(libc::EINVAL)) } else { Ok(DEFAULT_PROJECT) })
}

/// The security label: always NULL with `EINVAL`, as on an illumos system
/// without Trusted Extensions (Linux has no such labels).
///
/// # Safety
/// Always safe to call; the record is not read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ucred_getlabel(uc: *const ucred_t) -> *mut bslabel_t {
    let _ = uc;
    ffi_or(null_mut(), || Err(Errno(libc::EINVAL)))
}

/// A privilege set: always NULL with `EINVAL`, illumos' answer for a
/// record without privilege sets. Linux has no privilege sets (its
/// capabilities are not the same model), and libdoor provides no
/// `priv_*` functions to examine one; decide on the uids instead.
///
/// # Safety
/// Always safe to call; neither argument is read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ucred_getprivset(uc: *const ucred_t, set: priv_ptype_t) -> *const priv_set_t {
    let _ = (uc, set);
    ffi_or(std::ptr::null(), || Err(Errno(libc::EINVAL)))
}

/// A process flag (`PRIV_AWARE`, `NET_MAC_AWARE`...): always `(uint_t)-1`
/// with `EINVAL`, illumos' answer for a record without them.
///
/// # Safety
/// Always safe to call; the record is not read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ucred_getpflags(uc: *const ucred_t, flags: uint_t) -> uint_t {
    let _ = (uc, flags);
    ffi_or(uint_t::MAX, || Err(Errno(libc::EINVAL)))
}

/// The credentials of the peer of the connected AF_UNIX socket `fd`: its
/// pid, effective ids and groups as the kernel recorded them at `connect`
/// (or `socketpair`), and its real and saved ids when the peer process is
/// still there with those effective ids (else unknown). Stored into
/// `*ucred` when it is not NULL, else into a new record whose address goes
/// to `*ucred`; on failure `*ucred` is unchanged.
///
/// Errors: `EBADF`, `ENOTSUP` (not an AF_UNIX socket; a door descriptor,
/// as on illumos), `ENOTCONN`, `EFAULT` (NULL `ucred`), `ENOMEM`.
///
/// # Safety
/// `ucred` must be NULL or point to a writable pointer that is NULL or
/// points to a record of `ucred_size()` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getpeerucred(fd: c_int, ucred: *mut *mut ucred_t) -> c_int {
    ffi(|| {
        if ucred.is_null() {
            return Err(Errno(libc::EFAULT));
        }
        let creds = cred::of_peer(fd)?;
        // SAFETY: the caller's promise, as documented.
        unsafe { store(ucred, &creds)? };
        Ok(0)
    })
}
