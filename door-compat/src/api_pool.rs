//! The pool and limit functions: `door_bind`, `door_unbind`, `door_xcreate`,
//! `door_getparam`, `door_setparam`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use libc::{c_int, c_void};

use crate::abi::*;
use crate::api::create;
use crate::boundary::ffi;
use crate::client;
use crate::csrc;
use crate::label;
use crate::serve;
use crate::server::{self, Depletion, Door, XCreateFn};
use crate::sys::Errno;

/// Binds the calling thread to the private pool of door `did`, which this
/// process created with `DOOR_PRIVATE`: from its next `door_return` on, the
/// thread serves only that door.
///
/// Errors: `EBADF` (not a door), `EINVAL` (not a private door, or another
/// process's door).
///
/// # Safety
/// Plain integer argument; always safe to call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn door_bind(did: c_int) -> c_int {
    ffi(|| {
        let uniq = label::door_id(did)?;
        let door = server::local_door_of(did, uniq).ok_or(Errno(libc::EINVAL))?;
        bind(door).map(|()| 0)
    })
}

fn bind(door: Arc<Door>) -> Result<(), Errno> {
    if door.attributes.load(Ordering::Relaxed) & DOOR_PRIVATE == 0 {
        return Err(Errno(libc::EINVAL));
    }
    serve::bind(door);
    Ok(())
}

/// `door_xcreate`'s threads bind by door id, not by descriptor: the
/// application may have closed the descriptor by then.
pub extern "C" fn bind_door_hook(uniq: u64) -> c_int {
    match std::panic::catch_unwind(|| server::local_door(uniq).ok_or(Errno(libc::EINVAL)).and_then(bind)) {
        Ok(Ok(())) => 0,
        _ => -1,
    }
}

/// Unbinds the calling thread from its private door.
///
/// Errors: `EBADF` (the thread is not bound).
///
/// # Safety
/// Always safe to call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn door_unbind() -> c_int {
    ffi(|| serve::unbind().map(|()| 0))
}

/// Creates a private door (`DOOR_PRIVATE` is implied) whose `nthread`
/// server threads are started by `thr_create_func`, each running
/// `thr_setup_func(crcookie)` (if given) before binding to the door. The
/// creation function must start one thread running `startf(startf_arg)` and
/// return 1, or return 0 to decline or -1 on failure. Unless
/// `DOOR_NO_DEPLETION_CB` is set, it is called once more whenever the pool
/// runs out of idle threads (with `DOOR_DEPLETION_CB` in the info; 0 is then
/// an acceptable answer).
///
/// Errors: `EINVAL` (bad attributes, `DOOR_PRIVCREATE`, `nthread < 1`, NULL
/// `thr_create_func`, or the creation function declined), `EPIPE` (it
/// returned -1), `EBADF` (a thread could not bind), `ENOMEM`. On any of
/// these the door is revoked and its threads exit. Any other return value
/// from the creation function aborts the process, as on illumos.
///
/// # Safety
/// The function pointers must have the illumos signatures.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn door_xcreate(
    server_procedure: *mut door_server_procedure_t,
    cookie: *mut c_void,
    attributes: uint_t,
    thr_create_func: *mut door_xcreate_server_func_t,
    thr_setup_func: *mut door_xcreate_thrsetup_func_t,
    crcookie: *mut c_void,
    nthread: c_int,
) -> c_int {
    ffi(|| {
        if thr_create_func.is_null() {
            return Err(Errno(libc::EINVAL));
        }
        // SAFETY: a non-NULL function of the door_xcreate_server_func_t type.
        let create_fn = unsafe { std::mem::transmute::<*mut door_xcreate_server_func_t, XCreateFn>(thr_create_func) };
        // SAFETY: NULL or a function of the door_xcreate_thrsetup_func_t type;
        // Option<fn> has the same representation, NULL being None.
        let thr_setup_func = unsafe {
            std::mem::transmute::<*mut door_xcreate_thrsetup_func_t, Option<unsafe extern "C" fn(*mut c_void)>>(
                thr_setup_func,
            )
        };
        if attributes & DOOR_PRIVCREATE != 0 || nthread < 1 {
            return Err(Errno(libc::EINVAL));
        }
        let attributes = attributes | DOOR_PRIVATE | DOOR_PRIVCREATE;
        // SAFETY: a fresh start record; C owns its layout.
        let start = unsafe { csrc::libdoor_xstart_new(0, thr_setup_func, crcookie) };
        if start.is_null() {
            return Err(Errno(libc::ENOMEM));
        }
        let depletion = Depletion::XCreate {
            create: create_fn,
            startf_arg: start as usize,
            crcookie: crcookie as usize,
            enabled: attributes & DOOR_NO_DEPLETION_CB == 0,
        };
        let (door, fd, _) = create(server_procedure as usize, cookie as usize, attributes, depletion).inspect_err(|_| {
            // SAFETY: start is a live start record no thread has seen.
            unsafe { csrc::libdoor_xstart_free(start) };
        })?;
        // The start record names the door; it lives as long as the process,
        // since depletion callbacks may pass it to new threads at any time.
        // SAFETY: start is a live start record.
        unsafe { csrc::libdoor_xstart_set_door(start, door.uniq) };
        let mut info = door.info();
        let mut started = 0;
        let mut failure = None;
        for _ in 0..nthread {
            // SAFETY: the application's creation function, called as illumos does.
            let r = unsafe { create_fn(&mut info, csrc::libdoor_xcreate_startf, start, crcookie) };
            match r {
                1 => started += 1,
                0 => failure = Some(libc::EINVAL),
                -1 => failure = Some(libc::EPIPE),
                // illumos aborts the process on any other answer.
                _ => std::process::abort(),
            }
            if failure.is_some() {
                break;
            }
        }
        // Every thread reported as started reads the start record; wait for
        // all of them before deciding, so none reads a record we gave up on.
        // SAFETY: start is live; started threads each report once.
        let unbound = unsafe { csrc::libdoor_xstart_wait(start, started) };
        if failure.is_none() && unbound > 0 {
            failure = Some(libc::EBADF);
        }
        if let Some(errno) = failure {
            door.revoked.store(true, Ordering::SeqCst);
            door.pool.close();
            drop(fd);
            server::discard_door(door.uniq);
            return Err(Errno(errno));
        }
        let fd = fd.into_raw();
        crate::fdmemo::handed_out(fd);
        Ok(fd)
    })
}

/// Reads one of door `d`'s limits on requests (`DOOR_PARAM_DATA_MAX`,
/// `DOOR_PARAM_DATA_MIN`, `DOOR_PARAM_DESC_MAX`). Works on any door.
///
/// Errors: `EBADF` (not a door), `EINVAL` (unknown parameter), `EFAULT`.
///
/// # Safety
/// `out` must point to writable storage for a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn door_getparam(d: c_int, param: c_int, out: *mut usize) -> c_int {
    ffi(|| {
        let uniq = label::door_id(d)?;
        let values = match server::local_door_of(d, uniq) {
            Some(door) => [
                door.params.data_max.load(Ordering::Relaxed),
                door.params.data_min.load(Ordering::Relaxed),
                door.params.desc_max.load(Ordering::Relaxed),
            ],
            None => client::query_params(d, uniq),
        };
        let v = match param {
            DOOR_PARAM_DATA_MAX => values[0],
            DOOR_PARAM_DATA_MIN => values[1],
            DOOR_PARAM_DESC_MAX => values[2],
            _ => return Err(Errno(libc::EINVAL)),
        };
        if out.is_null() {
            return Err(Errno(libc::EFAULT));
        }
        // SAFETY: out is non-NULL and writable per the caller.
        unsafe { out.write(v) };
        Ok(0)
    })
}

/// Sets one of door `d`'s limits on requests. Only the creating process may.
///
/// Errors: `EBADF` (not a door, or revoked), `EPERM` (another process's
/// door), `EINVAL` (unknown parameter, `DATA_MIN` above `DATA_MAX` or the
/// reverse), `ENOTSUP` (a non-zero `DESC_MAX` on a `DOOR_REFUSE_DESC` door),
/// `ERANGE` (`DESC_MAX` above `INT_MAX`).
///
/// # Safety
/// Plain arguments; always safe to call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn door_setparam(d: c_int, param: c_int, val: usize) -> c_int {
    ffi(|| {
        let uniq = label::door_id(d)?;
        let door = server::local_door_of(d, uniq).ok_or(Errno(libc::EPERM))?;
        if door.revoked.load(Ordering::SeqCst) {
            return Err(Errno(libc::EBADF));
        }
        let p = &door.params;
        let _setting = p.setting.lock().unwrap_or_else(|e| e.into_inner());
        match param {
            DOOR_PARAM_DESC_MAX => {
                if val > c_int::MAX as usize {
                    return Err(Errno(libc::ERANGE));
                }
                if val != 0 && door.attributes.load(Ordering::Relaxed) & DOOR_REFUSE_DESC != 0 {
                    return Err(Errno(libc::ENOTSUP));
                }
                p.desc_max.store(val, Ordering::Relaxed);
            }
            DOOR_PARAM_DATA_MIN => {
                if val > p.data_max.load(Ordering::Relaxed) {
                    return Err(Errno(libc::EINVAL));
                }
                p.data_min.store(val, Ordering::Relaxed);
            }
            DOOR_PARAM_DATA_MAX => {
                if val < p.data_min.load(Ordering::Relaxed) {
                    return Err(Errno(libc::EINVAL));
                }
                p.data_max.store(val, Ordering::Relaxed);
            }
            _ => return Err(Errno(libc::EINVAL)),
        }
        server::publish_limits(uniq);
        Ok(0)
    })
}
