//! libdoor: illumos doors on Linux, in userspace.
//!
//! `docs/ARCHITECTURE.md` describes the objects and their lifecycles; each
//! module here has one job:
//!
//! - `abi`: illumos types and constants (the headers are generated from it);
//! - `api`, `stropts`: the exported functions, thin shells over the rest;
//! - `api_cred`, `ucred`: `door_ucred`, `door_cred` and `<ucred.h>`;
//!   `cred`: reading credentials from the kernel;
//! - `boundary`: errno and panic handling at the C boundary;
//! - `sys`: raw system calls and owned descriptors, mappings, the fork set;
//! - `wire`: the message format and the shared region layout;
//! - `label`: how a descriptor tells which door it is;
//! - `server`: doors, pools, channels, attachments, the control thread;
//! - `serve`: server threads: taking calls and `door_return`;
//! - `client`: channels and the call itself; `results`: where results go;
//! - `descriptors`: descriptor passing and bulk data;
//! - `attach`: `fattach`, `fdetach`, and opening an attached path;
//! - `interpose`: the `open` and `stat` families; `stat`: what `stat`
//!   reports for doors;
//! - `rust`: the internals the safe Rust API (the `libdoor` crate) is
//!   built on, as `Result`s;
//! - `trace`: the `LIBDOOR_DEBUG` trace of door operations.

pub mod abi;
mod acceptwatch;
mod api;
mod api_pool;
mod api_cred;
mod attach;
mod boundary;
mod bulk;
mod call;
mod client;
mod cred;
mod deathwatch;
mod descriptors;
mod dup;
mod fdmemo;
mod forkfence;
mod idwatch;
#[cfg(not(test))]
mod interpose;
mod label;
mod linger;
mod open;
mod perprocess;
mod region;
mod results;
pub mod rust;
mod serve;
mod shared_cpu;
mod spin;
mod splice;
mod server;
mod sigwatch;
mod spare;
mod stat;
mod stropts;
mod sys;
mod trace;
pub mod ucred;
mod wire;

/// The pure decoding and validation of what peers send (messages, the
/// fields of Calls and Replies, errnos, attachment records), and the
/// functions that make a door to send hostile messages to, for the fuzz
/// targets in `fuzz/`. Not an API: nothing here is stable.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::api::{door_create, door_return};
    pub use crate::attach::Meta;
    pub use crate::label::Identity;
    pub use crate::wire::{Data, Kind, MAGIC, MSG_LEN, Msg, Payload, REPLY_CAP, REQUEST_CAP, peer_errno};
}

/// Function pointers the C half (`csrc/`) calls back into. Rust functions
/// are handed to C this way rather than by name so they are not exported.
#[repr(C)]
struct Ops {
    next: extern "C" fn(*mut serve::Dispatch, *mut *mut libc::c_void),
    reply: extern "C" fn(*mut libc::c_char, usize, *mut abi::door_desc_t, u32, *mut *mut libc::c_void) -> libc::c_int,
    bind_door: extern "C" fn(u64) -> libc::c_int,
    call_start: extern "C" fn(
        libc::c_int,
        *mut abi::door_arg_t,
        *mut call::InFlight,
        usize,
        *mut *mut call::InFlight,
        *mut call::Sleep,
        *mut libc::c_int,
    ) -> libc::c_int,
    call_step: extern "C" fn(
        *mut *mut call::InFlight,
        libc::c_int,
        libc::c_int,
        *mut call::Sleep,
        *mut libc::c_int,
    ) -> libc::c_int,
    call_cancel: extern "C" fn(*mut call::InFlight),
}

static OPS: Ops = Ops {
    next: serve::next_invocation,
    reply: serve::reply,
    bind_door: api_pool::bind_door_hook,
    call_start: call::start,
    call_step: call::step,
    call_cancel: call::cancel,
};

/// The C half's functions (`csrc/`), hidden inside the library.
mod csrc {
    use crate::abi::{door_desc_t, door_info_t, uint_t};
    use libc::{c_char, c_int, c_void};
    unsafe extern "C" {
        /// Hands C the Rust callbacks (`door_loop.c`).
        pub fn libdoor_set_ops(ops: *const super::Ops);
        /// The default creation function (`door_loop.c`).
        pub fn libdoor_default_server_create(info: *mut door_info_t);
        /// door_xcreate's thread start routine (`door_loop.c`).
        pub fn libdoor_xcreate_startf(arg: *mut c_void) -> *mut c_void;
        /// A start record for door_xcreate's threads (`door_loop.c`).
        pub fn libdoor_xstart_new(door: u64, setup: Option<unsafe extern "C" fn(*mut c_void)>, crcookie: *mut c_void)
        -> *mut c_void;
        /// Frees a start record no thread was started with.
        pub fn libdoor_xstart_free(x: *mut c_void);
        /// Names the door a start record's threads bind to.
        pub fn libdoor_xstart_set_door(x: *mut c_void, door: u64);
        /// Waits for `n` started threads to report; how many failed to bind.
        pub fn libdoor_xstart_wait(x: *mut c_void, n: c_int) -> c_int;
        /// `door_call`'s body: send, wait (a cancellation point), finish (`door_loop.c`).
        pub fn libdoor_door_call(d: c_int, params: *mut crate::abi::door_arg_t) -> c_int;
        /// `door_return`'s body (`door_loop.c`).
        pub fn libdoor_door_return(
            data_ptr: *mut c_char,
            data_size: usize,
            desc_ptr: *mut door_desc_t,
            num_desc: uint_t,
        ) -> c_int;
        /// Tells the service loop that the running procedure has answered
        /// its invocation and will return to it (`door_loop.c`).
        pub fn libdoor_invocation_answered();
        /// Clears the service loop's copy of the thread's record pointer.
        pub fn libdoor_forget_server_thread();
    }
}

/// Set once `init` has run.
static INIT_DONE: std::sync::Once = std::sync::Once::new();

/// Runs when the library is loaded, before `main` or any constructor of a
/// library loaded after us: hands C its callbacks and arms the fork handlers.
/// A Rust program that links the rlib runs it from its own `.init_array`
/// too (rustc keeps `#[used]` statics of every crate it links); the `rust`
/// module's entry points call it again through `ensure_init`, which costs
/// an atomic load once it has run.
extern "C" fn init() {
    INIT_DONE.call_once(|| {
        trace::install();
        stat::install();
        open::install();
        dup::install();
        fdmemo::install();
        idwatch::install();
        // (No sigwatch::scan here: it is read only by a client's wait,
        // and the channel it waits on was opened after a scan. 64 system
        // calls, 28 µs on the AMD guest, spared every process that loads
        // the library and never calls a door.)
        // SAFETY: OPS is a static, valid forever; the atfork handlers are
        // extern "C" functions that take no arguments.
        unsafe {
            csrc::libdoor_set_ops(&OPS);
            libc::pthread_atfork(
                Some(server::atfork_prepare),
                Some(server::atfork_parent),
                Some(server::atfork_child),
            );
        }
    });
}

/// Runs `init` if it has not run yet.
fn ensure_init() {
    if !INIT_DONE.is_completed() {
        init();
    }
}

#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = init;
