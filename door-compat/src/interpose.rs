//! The interposed `open` family.
//!
//! libc's `open` of an attached path fails with `ENXIO` (it is a socket);
//! illumos programs expect a door descriptor. These exported names are tail
//! jumps into C (`csrc/interpose.c`), because `open` and `openat` are
//! variadic and only C can read their `mode` argument portably (variadic
//! definitions are not stable Rust). The C side calls the next definition
//! (libc's) first, so a path that is not a door costs nothing extra; only on
//! `ENXIO` does it ask `attach::open_door`.
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
}
