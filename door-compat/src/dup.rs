//! Duplicated door descriptors are references of their own.
//!
//! On illumos every descriptor for a door counts toward its unreferenced
//! notification, so `dup` + `close` of the dup brings one. Here a
//! descriptor family counts once (its server socket reads end of file when
//! the family's last descriptor closes), so the interposed `dup`, `dup2`,
//! `dup3` and `fcntl(F_DUPFD*)` (`csrc/dup.c`) replace a duplicated door
//! descriptor by a fresh counted copy of the door, at the same number and
//! with the same close-on-exec flag. Other descriptors are left alone. A
//! forked child does the same for the doors it inherited
//! (`server::atfork_child`).

use libc::c_int;

use crate::descriptors;
use crate::label;
use crate::sys;

unsafe extern "C" {
    fn libdoor_set_dup_hook(hook: extern "C" fn(c_int, c_int));
}

/// Arms the dup interposers (from the library's constructor).
pub fn install() {
    // SAFETY: dup_door has the hook's signature and lives forever.
    unsafe { libdoor_set_dup_hook(dup_door) };
}

/// `newfd` was just made a duplicate of `oldfd`.
extern "C" fn dup_door(oldfd: c_int, newfd: c_int) {
    let _ = std::panic::catch_unwind(|| replace_with_copy(oldfd, newfd));
}

/// If `oldfd` is a door, puts a fresh counted copy of it at `newfd`
/// (which may be `oldfd` itself), keeping `newfd`'s close-on-exec flag.
pub fn replace_with_copy(oldfd: c_int, newfd: c_int) {
    let Ok(uniq) = label::door_id(oldfd) else { return };
    if let Ok(copy) = descriptors::copy_door(oldfd, uniq) {
        put_copy(copy, newfd);
    }
}

/// Replaces each door descriptor among `fds` by a fresh counted copy at
/// the same number (a forked child's inherited doors). The servers are
/// asked all at once (`descriptors::copy_doors`), so a child inheriting
/// many doors waits for one round of answers, and for a silent server
/// once. Returns the numbers that are doors.
pub fn replace_all_with_copies(fds: &[c_int]) -> Vec<c_int> {
    let doors: Vec<(c_int, u64)> = fds.iter().filter_map(|&fd| label::door_id(fd).ok().map(|uniq| (fd, uniq))).collect();
    let copies = descriptors::copy_doors(doors.iter().copied());
    for (&(fd, _), copy) in doors.iter().zip(copies) {
        if let Ok(copy) = copy {
            put_copy(copy, fd);
        }
    }
    doors.into_iter().map(|(fd, _)| fd).collect()
}

/// Puts `copy` at `newfd`, keeping `newfd`'s close-on-exec flag.
fn put_copy(copy: sys::Fd, newfd: c_int) {
    let cloexec = sys::fcntl_int(newfd, libc::F_GETFD, 0).map(|f| f & libc::FD_CLOEXEC != 0).unwrap_or(false);
    if sys::dup3(copy.raw(), newfd, if cloexec { libc::O_CLOEXEC } else { 0 }).is_ok() {
        crate::fdmemo::handed_out(newfd);
        // Not on the reaper thread: the caller's descriptor count is final
        // when dup (or fork) returns.
        sys::close_duplicated(copy);
    }
}
