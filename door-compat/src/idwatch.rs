//! Changes of this process's ids, counted.
//!
//! A call handed over in a channel's region carries no credentials: the
//! server takes those the kernel attached to the client's last call on the
//! channel's socket (`SCM_CREDENTIALS`), and `door_ucred` refuses to answer
//! if they differ from what `/proc` shows then (cred.rs). So a client makes
//! region calls only while the ids it last stated still hold, and goes
//! through the socket after any change. Rather than ask the kernel for its
//! effective ids on every call (two system calls), it watches the set*id
//! family, interposed (`csrc/setid.c`), which counts each change here.
//!
//! A change made behind libc's back (a raw system call) is not seen; the
//! server then finds the stated ids stale and `door_ucred` fails with
//! EINVAL: a refusal, never another process's or an earlier identity.

use std::sync::atomic::{AtomicU64, Ordering};

static CHANGES: AtomicU64 = AtomicU64::new(0);

/// How many times the ids have changed so far. Read before stating ids: a
/// change after the read makes the count differ at the next call.
pub fn changes() -> u64 {
    CHANGES.load(Ordering::SeqCst)
}

extern "C" fn changed() {
    CHANGES.fetch_add(1, Ordering::SeqCst);
}

unsafe extern "C" {
    fn libdoor_set_id_hook(hook: extern "C" fn());
}

/// Arms the set*id interposers (from the library's constructor).
pub fn install() {
    // SAFETY: changed has the hook's signature and lives forever.
    unsafe { libdoor_set_id_hook(changed) };
}
