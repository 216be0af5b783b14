//! What `stat` reports for doors.
//!
//! illumos gives doors their own file type, `S_IFDOOR`; Linux sees our
//! doors as sockets. The C `stat` interposers (`csrc/interpose.c`) call
//! libc first and ask here only when it succeeded and reported a socket, so
//! every other file costs nothing extra. The answer is what illumos reports
//! (doors-spec §5.13):
//!
//! - an attached path (`stat`, `lstat`, `fstatat`, `statx`, or an `O_PATH`
//!   descriptor of it): `S_IFDOOR` with the permission bits, uid and gid
//!   recorded from the covered file at `fattach`, one link;
//! - a door descriptor: `S_IFDOOR|0777`, uid and gid 0, size 0, times 0, as
//!   illumos reports for a `door_create` descriptor. illumos reports the
//!   attachment's attributes for a descriptor opened through an attached
//!   path instead, but our descriptors cannot tell where they came from, so
//!   every door descriptor reads like a `door_create` one.
//!
//! Anything else (an ordinary socket, a socket file without a stash) is
//! left as libc reported it.

use std::ffi::CStr;

use libc::{c_char, c_int};

use crate::{attach, label, sys};

/// The illumos file type of a door (`<sys/stat.h>`; also in the headers).
pub const S_IFDOOR: u32 = 0xD000;

/// What the C wrappers write over libc's result for a door. Must match
/// `struct door_stat` in `csrc/interpose.c`.
#[repr(C)]
pub struct DoorStat {
    /// The full `st_mode`: `S_IFDOOR` and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// 1 for a door descriptor, whose times illumos reports as 0.
    pub descriptor: u32,
}

unsafe extern "C" {
    /// Hands `csrc/interpose.c` its hook (`stat_door_fn` there).
    fn libdoor_set_stat_hook(hook: extern "C" fn(c_int, *const c_char, c_int, u64, u64, *mut DoorStat) -> c_int);
}

/// Lets the C `stat` interposers ask `stat_door_hook`; until this runs
/// (from the library's initialiser) they report what libc reports.
pub fn install() {
    // SAFETY: the hook has the C prototype `stat_door_fn` and lives forever.
    unsafe { libdoor_set_stat_hook(stat_door_hook) };
}

/// Called by the C `stat` interposers after libc's call succeeded and
/// reported a socket whose device and inode are `dev`, `ino`. `path` is
/// NULL for `fstat`; otherwise `dirfd`, `path` and `flags` are `fstatat`'s
/// (`AT_SYMLINK_NOFOLLOW` for `lstat`). Fills `*out` and returns 1 if the
/// object is a door, else returns 0. It may change errno (the caller keeps
/// it).
extern "C" fn stat_door_hook(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    dev: u64,
    ino: u64,
    out: *mut DoorStat,
) -> c_int {
    let found = std::panic::catch_unwind(|| {
        // SAFETY: a non-NULL path is NUL-terminated: libc just used it.
        let path = (!path.is_null()).then(|| unsafe { CStr::from_ptr(path) });
        door_stat(dirfd, path, flags, dev, ino)
    });
    match found {
        Ok(Some(ds)) if !out.is_null() => {
            // SAFETY: out is the C caller's writable struct door_stat.
            unsafe { out.write(ds) };
            1
        }
        _ => 0,
    }
}

fn door_stat(dirfd: c_int, path: Option<&CStr>, flags: c_int, dev: u64, ino: u64) -> Option<DoorStat> {
    match path {
        None => descriptor_stat(dirfd, dev, ino),
        Some(p) if p.is_empty() && flags & libc::AT_EMPTY_PATH != 0 => descriptor_stat(dirfd, dev, ino),
        Some(p) => {
            let nofollow = if flags & libc::AT_SYMLINK_NOFOLLOW != 0 { libc::O_NOFOLLOW } else { 0 };
            let opath = sys::openat(dirfd, p, libc::O_PATH | nofollow, 0).ok()?;
            attached_stat(attach::attachment_at(dirfd, p, opath.raw())?, dev, ino)
        }
    }
}

/// `fstat` of a socket descriptor: a door, an `O_PATH` descriptor of an
/// attached path, or neither.
fn descriptor_stat(fd: c_int, dev: u64, ino: u64) -> Option<DoorStat> {
    if label::door_id(fd).is_ok() {
        return Some(DoorStat { mode: S_IFDOOR | 0o777, uid: 0, gid: 0, descriptor: 1 });
    }
    // getsockname refuses O_PATH descriptors, which may name an attached path.
    if sys::fcntl_int(fd, libc::F_GETFL, 0).ok()? & libc::O_PATH != 0 {
        return attached_stat(attach::attachment_of(fd)?, dev, ino);
    }
    None
}

/// What to report for the attachment `meta`, if its socket is the very
/// one libc just reported on.
fn attached_stat(meta: attach::Meta, dev: u64, ino: u64) -> Option<DoorStat> {
    if (meta.dev, meta.ino) != (dev, ino) {
        return None;
    }
    let (mode, uid, gid) = meta.perm;
    Some(DoorStat { mode: S_IFDOOR | (mode & 0o7777), uid, gid, descriptor: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn stat_of(fd: c_int) -> libc::stat {
        sys::fstat(fd).expect("fstat")
    }

    #[test]
    fn door_type_is_illumos() {
        assert_eq!(S_IFDOOR, 0o150000);
        assert_eq!(S_IFDOOR & libc::S_IFMT, S_IFDOOR);
        for t in [libc::S_IFSOCK, libc::S_IFREG, libc::S_IFDIR, libc::S_IFIFO, libc::S_IFLNK, libc::S_IFCHR, libc::S_IFBLK] {
            assert_ne!(S_IFDOOR, t);
        }
    }

    #[test]
    fn plain_sockets_and_files_are_not_doors() {
        let (a, _b) = sys::seqpacket_pair().unwrap();
        let st = stat_of(a.raw());
        assert!(door_stat(a.raw(), None, 0, st.st_dev, st.st_ino).is_none());
        assert!(door_stat(a.raw(), Some(c""), libc::AT_EMPTY_PATH, st.st_dev, st.st_ino).is_none());

        let dir = std::env::temp_dir().join(format!("libdoor-stat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock_path = dir.join("plain.sock");
        let s = sys::seqpacket_socket().unwrap();
        sys::bind(&s, sock_path.as_os_str().as_bytes()).unwrap();
        let c = std::ffi::CString::new(sock_path.as_os_str().as_bytes()).unwrap();
        let st = sys::fstatat(libc::AT_FDCWD, &c, 0).unwrap();
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFSOCK);
        assert!(door_stat(libc::AT_FDCWD, Some(&c), 0, st.st_dev, st.st_ino).is_none());
        let opath = sys::openat(libc::AT_FDCWD, &c, libc::O_PATH, 0).unwrap();
        assert!(door_stat(opath.raw(), None, 0, st.st_dev, st.st_ino).is_none());
        drop(opath);
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_labelled_descriptor_is_a_door() {
        let (a, _b) = sys::seqpacket_pair().unwrap();
        label::bind(&a, 0x1234).unwrap();
        let st = stat_of(a.raw());
        let ds = door_stat(a.raw(), None, 0, st.st_dev, st.st_ino).expect("a door");
        assert_eq!((ds.mode, ds.uid, ds.gid, ds.descriptor), (S_IFDOOR | 0o777, 0, 0, 1));
        let ds = door_stat(a.raw(), Some(c""), libc::AT_EMPTY_PATH, st.st_dev, st.st_ino).expect("a door");
        assert_eq!(ds.mode, S_IFDOOR | 0o777);
    }
}
