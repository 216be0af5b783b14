//! The illumos doors ABI for amd64: types, layouts and constants exactly as
//! `<sys/door.h>`, `<door.h>` and `<ucred.h>` define them (doors-spec §2, §3).
//!
//! cbindgen turns these definitions into `include/`; `abi-check` fails when
//! the committed headers drift from them. Names are illumos' own, so the
//! C-style casing is deliberate.
#![allow(non_camel_case_types)]

use libc::{c_int, c_uint, c_void, pid_t};

/// `unsigned int`, which illumos calls `uint_t`.
pub type uint_t = c_uint;
/// A pointer carried as a 64-bit integer.
pub type door_ptr_t = u64;
/// A door's system-wide identity.
pub type door_id_t = u64;
/// Door attribute bits.
pub type door_attr_t = c_uint;

/// Deliver one unreferenced notification.
pub const DOOR_UNREF: c_uint = 0x01;
/// The door has its own pool of server threads.
pub const DOOR_PRIVATE: c_uint = 0x02;
/// Reported only: the door is served by the calling process.
pub const DOOR_LOCAL: c_uint = 0x04;
/// Reported only: the door was revoked, or its server exited.
pub const DOOR_REVOKED: c_uint = 0x08;
/// Unreferenced notifications may be delivered more than once.
pub const DOOR_UNREF_MULTI: c_uint = 0x10;
/// Reported only: the door is currently unreferenced.
pub const DOOR_IS_UNREF: c_uint = 0x20;
/// Callers may not pass descriptors.
pub const DOOR_REFUSE_DESC: c_uint = 0x40;
/// Do not cancel the server thread when the client gives up.
pub const DOOR_NO_CANCEL: c_uint = 0x80;
/// `door_xcreate` only: no thread-creation callback on depletion.
pub const DOOR_NO_DEPLETION_CB: c_uint = 0x100;
/// Reported only: the door was made by `door_xcreate`.
pub const DOOR_PRIVCREATE: c_uint = 0x200;
/// Set only in the `door_info_t` handed to a creation function on depletion.
pub const DOOR_DEPLETION_CB: c_uint = 0x400;

/// Attributes `door_create` accepts.
pub const DOOR_CREATE_MASK: c_uint = DOOR_UNREF
    | DOOR_PRIVATE
    | DOOR_UNREF_MULTI
    | DOOR_REFUSE_DESC
    | DOOR_NO_CANCEL
    | DOOR_NO_DEPLETION_CB
    | DOOR_PRIVCREATE;
/// Attributes in-kernel doors accept (kept for header fidelity).
pub const DOOR_KI_CREATE_MASK: c_uint = DOOR_UNREF | DOOR_UNREF_MULTI;
/// Attributes `door_info` may report.
pub const DOOR_ATTR_MASK: c_uint = DOOR_CREATE_MASK | DOOR_LOCAL | DOOR_REVOKED | DOOR_IS_UNREF;

/// `door_desc_t.d_attributes`: a file descriptor is being passed.
pub const DOOR_DESCRIPTOR: c_uint = 0x10000;
/// `door_desc_t.d_attributes`: close the sender's descriptor once passed.
pub const DOOR_RELEASE: c_uint = 0x40000;
/// Internal illumos flag, visible in the header.
pub const DOOR_DELAY: c_uint = 0x80000;
/// Internal illumos flag, visible in the header.
pub const DOOR_UNREF_ACTIVE: c_uint = 0x100000;

/// An invalid door descriptor.
pub const DOOR_INVAL: c_int = -1;
/// Pass to `door_info` to ask about the door this thread is bound to.
pub const DOOR_QUERY: c_int = -2;

/// `door_getparam`/`door_setparam`: most descriptors per call.
pub const DOOR_PARAM_DESC_MAX: c_int = 1;
/// `door_getparam`/`door_setparam`: most argument bytes per call.
pub const DOOR_PARAM_DATA_MAX: c_int = 2;
/// `door_getparam`/`door_setparam`: fewest argument bytes per call.
pub const DOOR_PARAM_DATA_MIN: c_int = 3;

/// illumos syscall subcodes; only debuggers such as truss use them.
pub const DOOR_CREATE: c_int = 0;
/// illumos syscall subcode.
pub const DOOR_REVOKE: c_int = 1;
/// illumos syscall subcode.
pub const DOOR_INFO: c_int = 2;
/// illumos syscall subcode.
pub const DOOR_CALL: c_int = 3;
/// illumos syscall subcode.
pub const DOOR_BIND: c_int = 6;
/// illumos syscall subcode.
pub const DOOR_UNBIND: c_int = 7;
/// illumos syscall subcode.
pub const DOOR_UNREFSYS: c_int = 8;
/// illumos syscall subcode.
pub const DOOR_UCRED: c_int = 9;
/// illumos syscall subcode.
pub const DOOR_RETURN: c_int = 10;
/// illumos syscall subcode.
pub const DOOR_GETPARAM: c_int = 11;
/// illumos syscall subcode.
pub const DOOR_SETPARAM: c_int = 12;

/// Most descriptors one call or one return may carry (illumos `door_max_desc`).
pub const DOOR_MAX_DESC: usize = 1024;

/// The `{ d_descriptor, d_id }` member of `door_desc_t`'s union.
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub struct door_desc_t__d_desc {
    /// The descriptor.
    pub d_descriptor: c_int,
    /// The door's uniquifier, for doors.
    pub d_id: door_id_t,
}

/// The union inside `door_desc_t`; `d_resv` sizes it to 20 bytes.
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub union door_desc_t__d_data {
    /// A passed descriptor.
    pub d_desc: door_desc_t__d_desc,
    /// Reserved; sizes the union.
    pub d_resv: [c_int; 5],
}

/// A descriptor passed in a call or a return. pack(4): 24 bytes, align 4.
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub struct door_desc {
    /// `DOOR_DESCRIPTOR`, optionally with `DOOR_RELEASE`.
    pub d_attributes: door_attr_t,
    /// The descriptor and its door id.
    pub d_data: door_desc_t__d_data,
}

/// What `door_info` reports. pack(4): 48 bytes, align 4.
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub struct door_info {
    /// The server's pid, or -1 once it has exited.
    pub di_target: pid_t,
    /// The server procedure's address.
    pub di_proc: door_ptr_t,
    /// The cookie given to `door_create`.
    pub di_data: door_ptr_t,
    /// Attributes, masked by `DOOR_ATTR_MASK`.
    pub di_attributes: door_attr_t,
    /// The door's system-wide identity.
    pub di_uniquifier: door_id_t,
    /// Reserved, zero.
    pub di_resv: [c_int; 4],
}

/// Arguments in, results out (every field is in/out). Natural layout, 48 bytes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct door_arg {
    /// Argument bytes in; result bytes out.
    pub data_ptr: *mut libc::c_char,
    /// Argument size in; result size out.
    pub data_size: usize,
    /// Argument descriptors in; result descriptors out.
    pub desc_ptr: *mut door_desc_t,
    /// Argument descriptor count in; result count out.
    pub desc_num: uint_t,
    /// The result buffer; replaced by a fresh mapping when results overflow it.
    pub rbuf: *mut libc::c_char,
    /// The result buffer's size; replaced along with `rbuf`.
    pub rsize: usize,
}

/// `door_cred`'s obsolete credential record, 36 bytes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct door_cred {
    /// Effective uid.
    pub dc_euid: libc::uid_t,
    /// Effective gid.
    pub dc_egid: libc::gid_t,
    /// Real uid.
    pub dc_ruid: libc::uid_t,
    /// Real gid.
    pub dc_rgid: libc::gid_t,
    /// Caller's pid.
    pub dc_pid: pid_t,
    /// Reserved.
    pub dc_resv: [c_int; 4],
}

/// `door_desc_t`.
pub type door_desc_t = door_desc;
/// `door_info_t`; the man page writes `struct door_info`.
pub type door_info_t = door_info;
/// `door_arg_t`.
pub type door_arg_t = door_arg;
/// `door_cred_t`.
pub type door_cred_t = door_cred;

/// `door_return_desc_t`.
pub type door_return_desc_t = door_return_desc;

/// libc's hand-off of a result descriptor list (illumos internal, declared for fidelity).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct door_return_desc {
    /// The descriptors.
    pub desc_ptr: *mut door_desc_t,
    /// Their count.
    pub desc_num: uint_t,
}

/// The procedure signature, as the dispatcher calls it: the fifth argument
/// is passed as a full 64-bit value so procedures declared with `size_t
/// n_desc` (UNPv2, saslauthd) read it correctly (spec §7.1).
pub type ServerProcedure =
    unsafe extern "C" fn(*mut c_void, *mut libc::c_char, usize, *mut door_desc_t, u64);

/// `door_server_func_t`: the process-wide server-thread creation function.
pub type ServerFunc = unsafe extern "C" fn(*mut door_info_t);

/// Opaque stand-in for the C function type `door_server_procedure_t`; only
/// pointers to it cross the ABI, so the header's prototypes read exactly as
/// illumos' (`door_server_procedure_t *`). The typedef itself is written in
/// `door.h`'s preamble because cbindgen cannot express function typedefs.
/// cbindgen:ignore
#[repr(C)]
pub struct door_server_procedure_t {
    _opaque: [u8; 0],
}

/// Opaque stand-in for the C function type `door_server_func_t` (see above).
/// cbindgen:ignore
#[repr(C)]
pub struct door_server_func_t {
    _opaque: [u8; 0],
}

/// Opaque stand-in for the C function type `door_xcreate_server_func_t`.
/// cbindgen:ignore
#[repr(C)]
pub struct door_xcreate_server_func_t {
    _opaque: [u8; 0],
}

/// Opaque stand-in for the C function type `door_xcreate_thrsetup_func_t`.
/// cbindgen:ignore
#[repr(C)]
pub struct door_xcreate_thrsetup_func_t {
    _opaque: [u8; 0],
}

const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<door_desc_t>() == 24 && align_of::<door_desc_t>() == 4);
    assert!(offset_of!(door_desc_t, d_data) == 4);
    assert!(size_of::<door_desc_t__d_desc>() == 12);
    assert!(offset_of!(door_desc_t__d_desc, d_id) == 4);
    assert!(size_of::<door_desc_t__d_data>() == 20);
    assert!(size_of::<door_info_t>() == 48 && align_of::<door_info_t>() == 4);
    assert!(offset_of!(door_info_t, di_proc) == 4);
    assert!(offset_of!(door_info_t, di_data) == 12);
    assert!(offset_of!(door_info_t, di_attributes) == 20);
    assert!(offset_of!(door_info_t, di_uniquifier) == 24);
    assert!(offset_of!(door_info_t, di_resv) == 32);
    assert!(size_of::<door_arg_t>() == 48 && align_of::<door_arg_t>() == 8);
    assert!(offset_of!(door_arg_t, desc_num) == 24);
    assert!(offset_of!(door_arg_t, rbuf) == 32);
    assert!(size_of::<door_cred_t>() == 36);
    assert!(size_of::<door_return_desc_t>() == 16);
    assert!(DOOR_CREATE_MASK == 0x3D3 && DOOR_ATTR_MASK == 0x3FF);
};
