//! Whether a signal handler installed with SA_RESTART exists.
//!
//! A client waits for its reply with no timeout only when nothing but the
//! reply, the server's death or a signal can end the wait, and a signal
//! always ends it with EINTR (client.rs `wait`). A handler installed with
//! SA_RESTART would instead have the kernel restart an untimed futex wait,
//! and door_call would go on waiting, where illumos fails with EINTR. So
//! the sigaction family is interposed (`csrc/sigwatch.c`), which keeps a
//! mask of such handlers; while it is not empty, waits keep a timeout
//! (which the kernel never restarts).
//!
//! Every disposition is read again whenever a thread opens a channel to a
//! door (not when it takes an ended thread's, spare.rs). That is also how
//! a handler installed behind libc's back (a raw `rt_sigaction`) is seen;
//! one installed after the channel opened, and caught during a wait, lets
//! that wait go on until the reply instead of failing with EINTR. Nothing
//! reads the mask before a channel has opened, so the library does not
//! read the dispositions when it loads.

unsafe extern "C" {
    fn libdoor_sigwatch_scan();
    fn libdoor_sigwatch_restarting() -> libc::c_int;
}

/// Reads every signal's disposition (when a channel opens).
pub fn scan() {
    // SAFETY: reads dispositions and updates an atomic mask; no arguments.
    unsafe { libdoor_sigwatch_scan() };
}

/// Whether some signal has a handler installed with SA_RESTART.
pub fn restarting() -> bool {
    // SAFETY: an atomic load; no arguments.
    unsafe { libdoor_sigwatch_restarting() != 0 }
}
