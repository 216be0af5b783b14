//! The doors API: the exported C functions, with illumos prototypes.
//!
//! Each function is a thin shell: it runs its body inside `boundary::ffi`,
//! which turns `Err(errno)` into `-1` with `errno` set and keeps panics from
//! crossing into C. The work is done in the modules named in each body.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use libc::{c_char, c_int, c_void};

use crate::abi::*;
use crate::boundary::ffi;
use crate::label;
use crate::server::{self, Depletion, Door, Params, Pool, with_server};
use crate::sys::{self, Errno};
use crate::trace::trace;

/// The creation function installed by `door_server_create`; NULL means the
/// default, which starts one detached thread.
static SERVER_FUNC: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

use crate::csrc::{libdoor_default_server_create, libdoor_door_return};

/// The creation function in force.
pub fn server_func() -> ServerFunc {
    let p = SERVER_FUNC.load(Ordering::Acquire);
    if p.is_null() {
        libdoor_default_server_create
    } else {
        // SAFETY: only door_server_create stores here, and it stores function
        // pointers of this type.
        unsafe { std::mem::transmute::<*mut c_void, ServerFunc>(p) }
    }
}

/// Creates a door whose calls run `server_procedure(cookie, ...)` in a
/// server thread of this process. Returns a close-on-exec descriptor.
///
/// Errors: `EINVAL` for attributes outside `DOOR_CREATE_MASK`, both
/// `DOOR_UNREF` and `DOOR_UNREF_MULTI`, or `DOOR_NO_DEPLETION_CB`/
/// `DOOR_PRIVCREATE` (those belong to `door_xcreate`); `EMFILE`.
///
/// # Safety
/// `server_procedure` must be a function with the `door_server_procedure_t`
/// signature; `cookie` is passed to it untouched.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn door_create(
    server_procedure: *mut door_server_procedure_t,
    cookie: *mut c_void,
    attributes: uint_t,
) -> c_int {
    ffi(|| create_door(server_procedure as usize, cookie as usize, attributes))
}

/// `door_create`'s body: the new door's descriptor.
pub fn create_door(procedure: usize, cookie: usize, attributes: uint_t) -> Result<c_int, Errno> {
    if attributes & (DOOR_NO_DEPLETION_CB | DOOR_PRIVCREATE) != 0 {
        return Err(Errno(libc::EINVAL));
    }
    let private = attributes & DOOR_PRIVATE != 0;
    let depletion = if private { Depletion::Private } else { Depletion::Process };
    let (door, fd, first) = create(procedure, cookie, attributes, depletion)?;
    // The creation function runs before door_create returns, as on
    // illumos: for the first ordinary door of the process with NULL,
    // for every private door with the door's info.
    if private {
        let mut info = door.info();
        // SAFETY: a creation function takes a door_info_t pointer.
        unsafe { server_func()(&mut info) };
    } else if first {
        // SAFETY: a creation function takes a door_info_t pointer or NULL.
        unsafe { server_func()(std::ptr::null_mut()) };
    }
    let fd = fd.into_raw();
    crate::fdmemo::handed_out(fd);
    Ok(fd)
}

/// Makes a door and its first descriptor: the shared part of `door_create`
/// and `door_xcreate`. Also says whether this is the process's first
/// ordinary door (whose creation calls the creation function with NULL).
pub fn create(
    procedure: usize,
    cookie: usize,
    attributes: u32,
    depletion: Depletion,
) -> Result<(Arc<Door>, sys::Fd, bool), Errno> {
    if attributes & !DOOR_CREATE_MASK != 0
        || attributes & (DOOR_UNREF | DOOR_UNREF_MULTI) == DOOR_UNREF | DOOR_UNREF_MULTI
    {
        return Err(Errno(libc::EINVAL));
    }
    let private = attributes & DOOR_PRIVATE != 0;
    let door = with_server(|s| {
        let pool = if private { Pool::new(depletion)? } else { s.global_pool()? };
        let uniq = loop {
            let u = sys::random_u64();
            if u != 0 && s.door(u).is_none() {
                break u;
            }
        };
        let door = Arc::new(Door {
            uniq,
            proc_: procedure as u64,
            cookie: cookie as u64,
            attributes: AtomicU32::new(attributes),
            revoked: AtomicBool::new(false),
            pool,
            params: Params::new(attributes),
            refs: AtomicUsize::new(0),
            holds: AtomicUsize::new(0),
            unref_queued: AtomicBool::new(false),
        });
        s.add_door(door.clone())?;
        Ok::<_, Errno>(door)
    })?;
    let fd = server::new_descriptor(&door, true).inspect_err(|_| {
        // (A private door's pool goes with it, its descriptors closed.)
        server::discard_door(door.uniq);
    })?;
    // Only a door that was made counts as the first (illumos decides after
    // `__door_create` succeeded): one that failed (no descriptor left)
    // must not leave the process's pool without its first thread.
    let first = !private && with_server(|s| !std::mem::replace(&mut s.first_door_done, true));
    trace!(
        "create door={uniq:016x} fd={} attributes={attributes:#x} procedure={procedure:#x} cookie={cookie:#x}",
        fd.raw(),
        uniq = door.uniq
    );
    Ok((door, fd, first))
}

/// Calls the door `d`. See door_call(3C): arguments from `params`, results
/// into `rbuf` when they fit, otherwise into a new mapping that replaces
/// `rbuf`/`rsize` and that the caller unmaps. `params` may be NULL.
///
/// Errors: `EBADF` (not a door, revoked, server gone), `E2BIG` (more than
/// 1024 descriptors), `EINVAL` (bad descriptor), `ENOTSUP` (descriptors to a
/// `DOOR_REFUSE_DESC` door), `EINTR` (signal, or the server thread died
/// while serving), `EAGAIN` (signal before a server thread took the call),
/// `EFAULT`, `EMFILE`, `EOVERFLOW`.
///
/// # Safety
/// `params`, if not NULL, must point to a valid `door_arg_t` whose buffers
/// are valid for the sizes it gives.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn door_call(d: c_int, params: *mut door_arg_t) -> c_int {
    // door_call is a cancellation point: it waits in C (`csrc/door_loop.c`),
    // so that cancellation unwinds no Rust frame; the work is in `call.rs`.
    core::arch::naked_asm!("jmp {target}", target = sym crate::csrc::libdoor_door_call)
}

/// Returns results to the caller of the current invocation and waits for
/// the next one. On success it does not return: the thread's stack is reset
/// to where its service loop began, as on illumos. On failure it returns -1
/// with errno (`E2BIG`: the caller accepts no results, or more than 1024
/// descriptors; `EINVAL`: a bad descriptor; `EFAULT`), and the caller keeps
/// waiting.
///
/// # Safety
/// The results are copied before the stack is abandoned, so they may live
/// in the procedure's frame. Nothing that needs cleanup (C++ destructors,
/// `pthread_cleanup_push` handlers, Rust values with `Drop`) may be live in
/// the frames between the service loop and this call: they are abandoned,
/// not unwound.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn door_return(
    data_ptr: *mut c_char,
    data_size: usize,
    desc_ptr: *mut door_desc_t,
    num_desc: uint_t,
) -> c_int {
    // A tail jump, so that no Rust frame sits between the caller and the C
    // loop that will later be jumped back to.
    core::arch::naked_asm!("jmp {target}", target = sym libdoor_door_return)
}

/// Describes door `d` into `*info`: server pid (-1 once the server has
/// exited), procedure, cookie, attributes, uniquifier.
///
/// Errors: `EBADF` (not a door; `DOOR_QUERY` from an unbound thread),
/// `EFAULT` (NULL `info`).
///
/// # Safety
/// `info` must point to writable storage for a `door_info_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn door_info(d: c_int, info: *mut door_info_t) -> c_int {
    ffi(|| {
        let di = info_of(d)?;
        if info.is_null() {
            return Err(Errno(libc::EFAULT));
        }
        // SAFETY: info is writable (checked non-NULL; the caller vouches).
        unsafe { info.write_unaligned(di) };
        Ok(0)
    })
}

/// `door_info`'s body: what `d` (or, for `DOOR_QUERY`, the private door this
/// thread is bound to) is.
pub fn info_of(d: c_int) -> Result<door_info_t, Errno> {
    Ok(if d == DOOR_QUERY {
        crate::serve::bound_door().ok_or(Errno(libc::EBADF))?.info()
    } else {
        let uniq = label::door_id(d)?;
        match server::local_door_of(d, uniq) {
            Some(door) => door.info(),
            None => crate::results::remote_info(d, uniq),
        }
    })
}

/// Revokes door `d`, which this process created, and closes `d`. Calls in
/// progress finish; later calls fail with `EBADF`.
///
/// Errors: `EBADF` (not a door), `EPERM` (another process's door).
///
/// # Safety
/// Plain integer argument; always safe to call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn door_revoke(d: c_int) -> c_int {
    ffi(|| revoke(d).map(|()| 0))
}

/// `door_revoke`'s body.
pub fn revoke(d: c_int) -> Result<(), Errno> {
    let uniq = label::door_id(d)?;
    let door = server::local_door_of(d, uniq).ok_or(Errno(libc::EPERM))?;
    door.revoked.store(true, Ordering::SeqCst);
    server::publish_limits(uniq);
    server::fail_waiting_calls(uniq);
    trace!("revoke door={uniq:016x} fd={d}");
    crate::fdmemo::forget(d);
    sys::close_raw(d);
    // Often the door's last descriptor: freed now, not when the control
    // thread gets to it.
    server::help_release();
    Ok(())
}

/// Installs the process-wide server-thread creation function and returns
/// the previous one.
///
/// # Safety
/// `create_func` must be a function with the `door_server_func_t` signature.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn door_server_create(create_func: *mut door_server_func_t) -> *mut door_server_func_t {
    let old = SERVER_FUNC.swap(create_func.cast(), Ordering::AcqRel);
    if old.is_null() { libdoor_default_server_create as *mut door_server_func_t } else { old.cast() }
}
