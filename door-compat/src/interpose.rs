//! The interposed `open` and `stat` families.
//!
//! libc's `open` of an attached path fails with `ENXIO` (it is a socket);
//! illumos programs expect a door descriptor. libc's `stat` of a door shows
//! a socket; illumos programs expect `S_IFDOOR`. These exported names are
//! tail jumps into C (`csrc/interpose.c`), because `open` and `openat` are
//! variadic and only C can read their `mode` argument portably (variadic
//! definitions are not stable Rust), and because C has glibc's `struct stat`
//! and `struct statx` as they are. The C side calls the next definition
//! (libc's) first, so a file that is not a door costs nothing extra; only on
//! `ENXIO` does it ask `open::begin_open` (through `open::OpenOps`), and
//! only when `stat` succeeded on a socket does it ask `stat::stat_door_hook`.
//!
//! These names are deliberately absent from the headers.

macro_rules! tail_jump {
    ($($name:ident => $target:ident),* $(,)?) => {
        unsafe extern "C" {
            $(fn $target();)*
        }
        $(
            /// Interposed libc entry point; see the module documentation.
            ///
            /// # Safety
            /// Same contract as the libc function of this name.
            #[unsafe(naked)]
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn $name() {
                core::arch::naked_asm!("jmp {t}", t = sym $target)
            }
        )*
    };
}

tail_jump! {
    open => libdoor_open,
    open64 => libdoor_open64,
    openat => libdoor_openat,
    openat64 => libdoor_openat64,
    __open_2 => libdoor___open_2,
    __open64_2 => libdoor___open64_2,
    __openat_2 => libdoor___openat_2,
    __openat64_2 => libdoor___openat64_2,
    creat => libdoor_creat,
    creat64 => libdoor_creat64,
    // csrc/dup.c: duplicated doors count as references (see dup.rs).
    dup => libdoor_dup,
    dup2 => libdoor_dup2,
    dup3 => libdoor_dup3,
    fcntl => libdoor_fcntl,
    fcntl64 => libdoor_fcntl64,
    // csrc/close.c: a closed number is forgotten (see fdmemo.rs).
    close => libdoor_close,
    close_range => libdoor_close_range,
    closefrom => libdoor_closefrom,
    // csrc/setid.c: an id change is counted (see idwatch.rs).
    setuid => libdoor_setuid,
    setgid => libdoor_setgid,
    seteuid => libdoor_seteuid,
    setegid => libdoor_setegid,
    setreuid => libdoor_setreuid,
    setregid => libdoor_setregid,
    setresuid => libdoor_setresuid,
    setresgid => libdoor_setresgid,
    // csrc/sigwatch.c: handlers with SA_RESTART are noted (see sigwatch.rs).
    sigaction => libdoor_sigaction,
    __sigaction => libdoor___sigaction,
    signal => libdoor_signal,
    bsd_signal => libdoor_bsd_signal,
    sysv_signal => libdoor_sysv_signal,
    __sysv_signal => libdoor___sysv_signal,
    sigset => libdoor_sigset,
    stat => libdoor_stat,
    stat64 => libdoor_stat64,
    lstat => libdoor_lstat,
    lstat64 => libdoor_lstat64,
    fstat => libdoor_fstat,
    fstat64 => libdoor_fstat64,
    fstatat => libdoor_fstatat,
    fstatat64 => libdoor_fstatat64,
    statx => libdoor_statx,
    // For programs built against glibc < 2.33.
    __xstat => libdoor___xstat,
    __xstat64 => libdoor___xstat64,
    __lxstat => libdoor___lxstat,
    __lxstat64 => libdoor___lxstat64,
    __fxstat => libdoor___fxstat,
    __fxstat64 => libdoor___fxstat64,
    __fxstatat => libdoor___fxstatat,
    __fxstatat64 => libdoor___fxstatat64,
}

