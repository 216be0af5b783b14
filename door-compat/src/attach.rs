//! `fattach` and `fdetach` (`open` of an attached path: open.rs).
//!
//! An attachment is a listening SOCK_SEQPACKET socket at the path, served by
//! the door's control thread. illumos covers the existing file and uncovers
//! it on `fdetach`; we keep the covered file as a hard link in a stash
//! directory beside the path, `.<name>.door/`, which holds:
//!
//! - `covered`: the covered file itself (same inode: content, mode, owner);
//! - `meta`: the attachment's record: the socket's inode, the covered
//!   file's mode/uid/gid (which decide who may open), and the door's id.
//!
//! The socket is swapped in over the path with one `rename`, and `fdetach`
//! swaps the covered file back with another, so the path is never missing.
//! The stash outlives the server, so a dead server's attachment is still
//! recognised: `open` gives a descriptor of a revoked door, `fattach` gives
//! `EBUSY`, until `fdetach` restores the file.
//!
//! The socket file itself is mode 0666 because Linux `connect` needs write
//! permission; the illumos permission check is made by the server against
//! the recorded mode with the kernel's account of the opener (`SO_PEERCRED`,
//! `SO_PEERGROUPS`).

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libc::c_int;

use crate::descriptors;
use crate::label;
use crate::server::Perm;
use crate::sys::{self, Errno, Fd, Result};
use crate::trace::trace;
use crate::wire::{self, Kind, Msg};

const META_MAGIC: &str = "libdoor-attachment 1";

/// An attachment's record, as kept in `meta`: the socket's device and
/// inode, the covered file's (mode, uid, gid), and the door's id.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    pub dev: u64,
    pub ino: u64,
    pub perm: (u32, u32, u32),
    pub uniq: u64,
}

impl Meta {
    pub fn encode(&self) -> String {
        format!(
            "{META_MAGIC}\ndev {}\nino {}\nmode {:o}\nuid {}\ngid {}\nuniq {:x}\n",
            self.dev, self.ino, self.perm.0, self.perm.1, self.perm.2, self.uniq
        )
    }

    pub fn decode(text: &str) -> Option<Meta> {
        let mut lines = text.lines();
        if lines.next()? != META_MAGIC {
            return None;
        }
        let mut field = |name: &str, radix: u32| -> Option<u64> {
            let line = lines.next()?;
            let value = line.strip_prefix(name)?.strip_prefix(' ')?;
            // Digits only: from_str_radix alone would also take a sign.
            if !value.chars().all(|c| c.is_digit(radix)) {
                return None;
            }
            u64::from_str_radix(value, radix).ok()
        };
        // Out of range is malformed, never truncated (uid 2^32 is not root).
        let dev = field("dev", 10)?;
        let ino = field("ino", 10)?;
        let mode = field("mode", 8).filter(|m| m & !0o7777 == 0)? as u32;
        let uid = u32::try_from(field("uid", 10)?).ok()?;
        let gid = u32::try_from(field("gid", 10)?).ok()?;
        let uniq = field("uniq", 16)?;
        Some(Meta { dev, ino, perm: (mode, uid, gid), uniq })
    }

    pub fn perm(&self) -> Perm {
        Perm { mode: self.perm.0, uid: self.perm.1, gid: self.perm.2 }
    }
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Errno(libc::EINVAL))
}

fn stat_path(p: &Path) -> Result<libc::stat> {
    sys::fstatat(libc::AT_FDCWD, &cstr(p)?, 0)
}

fn path_op(r: c_int) -> Result<()> {
    if r != 0 { Err(Errno::last()) } else { Ok(()) }
}

/// The path as `fattach` names it: absolute, resolved against the cwd.
fn absolute(path: *const libc::c_char) -> Result<PathBuf> {
    if path.is_null() {
        return Err(Errno(libc::ENOENT));
    }
    // SAFETY: the caller passed a NUL-terminated string.
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    if bytes.is_empty() {
        return Err(Errno(libc::ENOENT));
    }
    let p = Path::new(std::ffi::OsStr::from_bytes(bytes));
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::ENOENT)))?;
    let abs = cwd.join(p);
    if abs.as_os_str().len() >= libc::PATH_MAX as usize {
        return Err(Errno(libc::ENAMETOOLONG));
    }
    Ok(abs)
}

fn stash_of(path: &Path) -> Result<PathBuf> {
    let name = path.file_name().ok_or(Errno(libc::EINVAL))?;
    let mut stash = std::ffi::OsString::from(".");
    stash.push(name);
    stash.push(".door");
    Ok(path.with_file_name(stash))
}

fn read_file(p: &Path) -> Option<String> {
    let fd = sys::openat(libc::AT_FDCWD, &cstr(p).ok()?, libc::O_RDONLY | libc::O_NOFOLLOW, 0).ok()?;
    let mut buf = vec![0u8; 512];
    let n = sys::read(fd.raw(), &mut buf).ok().filter(|&n| n > 0)?;
    buf.truncate(n);
    String::from_utf8(buf).ok()
}

fn write_new_file(p: &Path, text: &str, mode: libc::mode_t) -> Result<()> {
    let fd = sys::openat(libc::AT_FDCWD, &cstr(p)?, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, mode)?;
    if sys::write(fd.raw(), text.as_bytes())? != text.len() {
        return Err(Errno(libc::EIO));
    }
    Ok(())
}

/// The attachment at `path`, if `path` is one: a socket whose inode the
/// stash's record names.
fn attachment(path: &Path, st: &libc::stat) -> Option<Meta> {
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return None;
    }
    let meta = Meta::decode(&read_file(&stash_of(path).ok()?.join("meta"))?)?;
    (meta.ino == st.st_ino && meta.dev == st.st_dev).then_some(meta)
}

/// The attachment that `fd`, a descriptor of a path (`O_PATH`), names: the
/// path is found through `/proc/self/fd`, so its stash is found even when
/// the descriptor was opened relative to a directory or through a symlink.
pub fn attachment_of(fd: c_int) -> Option<Meta> {
    attachment_through_proc(fd, &sys::fstat(fd).ok()?)
}

/// `attachment_of` for `fd`, an `O_PATH` descriptor of `path` opened
/// relative to `dirfd`, looking first for the stash beside `path` as given
/// (absolute, or relative to the working directory): that saves
/// `/proc/self/fd`'s `readlink`, a twentieth of an `open`. A stash found so
/// is the one `attachment_of` finds whenever its record names the very
/// socket `fd` is (a symlink or a working directory changed meanwhile
/// finds none, or one naming another socket, and the look goes on
/// through `/proc`).
pub fn attachment_at(dirfd: c_int, path: &CStr, fd: c_int) -> Option<Meta> {
    let st = sys::fstat(fd).ok()?;
    let beside_path_as_given = dirfd == libc::AT_FDCWD || path.to_bytes().first() == Some(&b'/');
    beside_path_as_given
        .then(|| attachment(Path::new(std::ffi::OsStr::from_bytes(path.to_bytes())), &st))
        .flatten()
        .or_else(|| attachment_through_proc(fd, &st))
}

/// The attachment of `fd` (an `O_PATH` descriptor whose status is `st`),
/// if it is a socket, whose path `/proc/self/fd` tells.
fn attachment_through_proc(fd: c_int, st: &libc::stat) -> Option<Meta> {
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return None;
    }
    let mut link = vec![0u8; libc::PATH_MAX as usize];
    let proc_path = CString::new(format!("/proc/self/fd/{fd}")).expect("no NUL");
    // SAFETY: proc_path is NUL-terminated; link is writable for its length.
    let n = unsafe { libc::readlink(proc_path.as_ptr(), link.as_mut_ptr().cast(), link.len()) };
    if n <= 0 {
        return None;
    }
    link.truncate(n as usize);
    attachment(Path::new(std::ffi::OsStr::from_bytes(&link)), st)
}

/// Removes the stash of an attachment that is no longer at its path: what
/// a crashed `fattach`/`fdetach` left, or what stays after the attached
/// path was removed by hand (which illumos forbids, and daemons that
/// `unlink` their door file before re-creating it would otherwise trip
/// over). Its covered file is dropped: the path it covered is gone.
fn clear_stale_stash(stash: &Path) -> Result<()> {
    for name in ["covered", "meta", "sock"] {
        if let Ok(c) = cstr(&stash.join(name)) {
            // SAFETY: c is NUL-terminated.
            unsafe { libc::unlink(c.as_ptr()) };
        }
    }
    let c = cstr(stash)?;
    // SAFETY: c is NUL-terminated.
    path_op(unsafe { libc::rmdir(c.as_ptr()) }).map_err(|_| Errno(libc::EBUSY))
}

/// A lock on an attachment's stash (`flock` on its directory, which the
/// kernel drops with its holder), held by the `fattach` that builds the
/// attachment and the `fdetach` that takes it down: two of them on one
/// path take turns, and a stash nobody holds is a finished attachment or
/// what a crashed one left.
struct StashLock {
    /// Held for its close, which unlocks.
    _dir: Fd,
}

/// Locks the stash directory `dir`; `EWOULDBLOCK` if another holds it and
/// `wait` is false.
fn lock_stash(dir: &Path, wait: bool) -> Result<StashLock> {
    let fd = sys::openat(libc::AT_FDCWD, &cstr(dir)?, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0)?;
    let op = if wait { libc::LOCK_EX } else { libc::LOCK_EX | libc::LOCK_NB };
    loop {
        // SAFETY: flock takes no pointers; fd is ours.
        match path_op(unsafe { libc::flock(fd.raw(), op) }) {
            Err(Errno(libc::EINTR)) => continue,
            r => return r.map(|()| StashLock { _dir: fd }),
        }
    }
}

/// Makes the stash of an attachment at `path`, locked: a directory made
/// under a name of our own and locked, then renamed into place unless
/// something is there already (so no other `fattach` ever sees it
/// unlocked). A stash there that nobody holds and that is no attachment
/// at `path` is stale (what a crashed `fattach` left, or the stash of a
/// path removed by hand): it is cleared, once. `EBUSY` when another
/// `fattach` or `fdetach` of the path is under way or won.
fn claim_stash(path: &Path, stash: &Path) -> Result<StashLock> {
    let mut name = stash.file_name().ok_or(Errno(libc::EINVAL))?.to_os_string();
    name.push(format!(".{}.{}", sys::getpid(), sys::gettid()));
    let fresh = stash.with_file_name(name);
    let (cfresh, cstash) = (cstr(&fresh)?, cstr(stash)?);
    for attempt in 0..2 {
        // SAFETY: cfresh is NUL-terminated. (A leftover of a crashed
        // fattach by a thread of the same id goes first.)
        unsafe { libc::rmdir(cfresh.as_ptr()) };
        // SAFETY: as above.
        path_op(unsafe { libc::mkdir(cfresh.as_ptr(), 0o700) })?;
        let lock = lock_stash(&fresh, false).inspect_err(|_| {
            // SAFETY: cfresh is NUL-terminated.
            unsafe { libc::rmdir(cfresh.as_ptr()) };
        })?;
        // SAFETY: both are NUL-terminated.
        let refused = match path_op(unsafe {
            libc::syscall(libc::SYS_renameat2, libc::AT_FDCWD, cfresh.as_ptr(), libc::AT_FDCWD, cstash.as_ptr(), libc::RENAME_NOREPLACE) as c_int
        }) {
            Ok(()) => return Ok(lock),
            Err(e) => e,
        };
        drop(lock);
        // SAFETY: cfresh is NUL-terminated.
        unsafe { libc::rmdir(cfresh.as_ptr()) };
        let taken = matches!(refused.0, libc::EEXIST | libc::ENOTEMPTY);
        if !taken || attempt == 1 {
            return Err(if taken { Errno(libc::EBUSY) } else { refused });
        }
        let held = match lock_stash(stash, false) {
            Ok(held) => held,
            // Taken down meanwhile: try again.
            Err(Errno(libc::ENOENT)) => continue,
            Err(Errno(libc::EWOULDBLOCK)) => return Err(Errno(libc::EBUSY)),
            Err(e) => return Err(e),
        };
        if stat_path(path).is_ok_and(|st| attachment(path, &st).is_some()) {
            return Err(Errno(libc::EBUSY));
        }
        clear_stale_stash(stash)?;
        drop(held);
    }
    Err(Errno(libc::EBUSY))
}

/// `fattach(fd, path)`.
pub fn fattach(fd: c_int, path: *const libc::c_char) -> Result<()> {
    sys::fcntl_int(fd, libc::F_GETFD, 0).map_err(|_| Errno(libc::EBADF))?;
    let uniq = label::door_id(fd).map_err(|_| Errno(libc::EINVAL))?;
    let path = absolute(path)?;
    let st = stat_path(&path)?;
    if attachment(&path, &st).is_some() {
        return Err(Errno(libc::EBUSY));
    }
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        // illumos can mount over a directory; a socket cannot replace one.
        return Err(Errno(libc::ENOTSUP));
    }
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 && euid != st.st_uid {
        return Err(Errno(libc::EPERM));
    }
    let cpath = cstr(&path)?;
    // SAFETY: cpath is NUL-terminated.
    path_op(unsafe { libc::faccessat(libc::AT_FDCWD, cpath.as_ptr(), libc::W_OK, libc::AT_EACCESS) })?;

    let stash = stash_of(&path)?;
    let cstash = cstr(&stash)?;
    // Held until the attachment is built, or taken down again.
    let _lock = claim_stash(&path, &stash)?;
    if euid == 0 {
        // The attachment belongs to the covered file's owner, who may
        // fdetach it (illumos' rule), so the stash is theirs too.
        // SAFETY: cstash is NUL-terminated.
        unsafe { libc::chown(cstash.as_ptr(), st.st_uid, st.st_gid) };
    }
    let r = build_attachment(fd, uniq, &path, &st, &stash);
    if r.is_err() {
        for name in ["sock", "meta", "covered"] {
            if let Ok(c) = cstr(&stash.join(name)) {
                // SAFETY: c is NUL-terminated.
                unsafe { libc::unlink(c.as_ptr()) };
            }
        }
        // SAFETY: cstash is NUL-terminated.
        unsafe { libc::rmdir(cstash.as_ptr()) };
    } else {
        trace!("attach door={uniq:016x} fd={fd} path={path:?}");
    }
    r
}

/// Binds `sock` at `path`, through `/proc/self/fd` when the path is longer
/// than `sun_path` allows.
fn bind_at(sock: &Fd, dir: &Path, name: &str) -> Result<()> {
    let full = dir.join(name);
    match sys::bind(sock, full.as_os_str().as_bytes()) {
        Err(Errno(libc::ENAMETOOLONG)) => {
            let d = sys::openat(libc::AT_FDCWD, &cstr(dir)?, libc::O_PATH | libc::O_DIRECTORY, 0)?;
            sys::bind(sock, format!("/proc/self/fd/{}/{name}", d.raw()).as_bytes())
        }
        r => r,
    }
}

fn build_attachment(fd: c_int, uniq: u64, path: &Path, st: &libc::stat, stash: &Path) -> Result<()> {
    let listener = sys::seqpacket_socket()?;
    bind_at(&listener, stash, "sock")?;
    sys::listen(&listener, 128)?;
    let sock_path = stash.join("sock");
    let csock = cstr(&sock_path)?;
    // SAFETY: csock is NUL-terminated.
    path_op(unsafe { libc::chmod(csock.as_ptr(), 0o666) })?;
    let sst = stat_path(&sock_path)?;
    let meta = Meta {
        dev: sst.st_dev,
        ino: sst.st_ino,
        perm: (st.st_mode & 0o7777, st.st_uid, st.st_gid),
        uniq,
    };
    write_new_file(&stash.join("meta"), &meta.encode(), 0o644)?;
    let (cpath, ccovered) = (cstr(path)?, cstr(&stash.join("covered"))?);
    // SAFETY: both are NUL-terminated.
    path_op(unsafe { libc::link(cpath.as_ptr(), ccovered.as_ptr()) })?;
    let mut m = Msg::new(Kind::Attach);
    m.a = meta.perm.0 as u64;
    m.b = meta.perm.1 as u64;
    m.c = meta.perm.2 as u64;
    let (mine, theirs) = sys::reply_pair()?;
    sys::send_with_fds(fd, &m.encode(), &[listener.raw(), theirs.raw()]).map_err(|_| Errno(libc::EBADF))?;
    drop(theirs);
    let answer = match crate::open::await_answer(mine.raw()) {
        Ok(()) => read_answer(&mine),
        // Interrupted, the server silent for a second: give up. Once our
        // end is shut down the server cannot answer, and it takes the
        // listener only if it could (server.rs, Attach), so it never
        // counts an attachment nobody can reach; an answer it sent before
        // is still here to read.
        Err(e) => {
            // SAFETY: shutdown takes no pointers; mine is our descriptor.
            unsafe { libc::shutdown(mine.raw(), libc::SHUT_RDWR) };
            queued_answer(&mine).ok_or(e)?
        }
    };
    let (answer, _) = answer.map_err(|_| Errno(libc::EBADF))?;
    descriptors::await_peer_close(&mine);
    if answer.d != 0 {
        return Err(Errno(wire::peer_errno(answer.d.into())));
    }
    // SAFETY: both are NUL-terminated.
    path_op(unsafe { libc::rename(csock.as_ptr(), cpath.as_ptr()) })?;
    let cstash = cstr(stash)?;
    // Readable by all, so that openers recognise the attachment after the
    // server is gone.
    // SAFETY: cstash is NUL-terminated.
    unsafe { libc::chmod(cstash.as_ptr(), 0o755) };
    Ok(())
}

/// `fdetach(path)`.
pub fn fdetach(path: *const libc::c_char) -> Result<()> {
    let path = absolute(path)?;
    let st = stat_path(&path)?;
    let meta = attachment(&path, &st).ok_or(Errno(libc::EINVAL))?;
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 && euid != meta.perm.1 {
        return Err(Errno(libc::EPERM));
    }
    // Another fdetach of the path may have taken it down meanwhile.
    let stash = stash_of(&path)?;
    let _lock = lock_stash(&stash, true).map_err(|_| Errno(libc::EINVAL))?;
    let meta = stat_path(&path).ok().and_then(|st| attachment(&path, &st)).ok_or(Errno(libc::EINVAL))?;
    // Connect to a live server first (a dead one has nothing to hear), put
    // the covered file back, and only then tell the server to stop serving
    // the attachment (it drops its reference): a failed rename leaves the
    // attachment working.
    let conn = connect_attachment(&path).ok();
    let (cpath, ccovered) = (cstr(&path)?, cstr(&stash.join("covered"))?);
    // SAFETY: both are NUL-terminated.
    path_op(unsafe { libc::rename(ccovered.as_ptr(), cpath.as_ptr()) })?;
    // Before the server hears of it, so its unreferenced notification
    // comes later in the trace.
    trace!("detach door={:016x} path={path:?}", meta.uniq);
    if let Some(conn) = conn {
        // The server closes the attachment's listener before it answers. A
        // server that does not answer within ANSWER_WAIT (stopped, or
        // hostile) reads the Detach when it runs again: the path is
        // restored already, and on illumos fdetach never waits on the
        // server at all.
        let deadline = std::time::Instant::now() + descriptors::ANSWER_WAIT;
        if sys::send_with_fds(conn.raw(), &Msg::new(Kind::Detach).encode(), &[]).is_ok()
            && descriptors::await_message(&conn, Some(deadline)).is_ok()
        {
            descriptors::await_peer_close(&conn);
        }
    }
    if let Ok(c) = cstr(&stash.join("meta")) {
        // SAFETY: c is NUL-terminated.
        unsafe { libc::unlink(c.as_ptr()) };
    }
    let cstash = cstr(&stash)?;
    // SAFETY: cstash is NUL-terminated.
    unsafe { libc::rmdir(cstash.as_ptr()) };
    Ok(())
}

fn connect_attachment(path: &Path) -> Result<Fd> {
    let s = sys::seqpacket_socket()?;
    match sys::connect(&s, path.as_os_str().as_bytes()) {
        Err(Errno(libc::ENAMETOOLONG)) => {
            let p = sys::openat(libc::AT_FDCWD, &cstr(path)?, libc::O_PATH, 0)?;
            sys::connect(&s, format!("/proc/self/fd/{}", p.raw()).as_bytes())?;
        }
        r => r?,
    }
    Ok(s)
}

/// An answer already queued on `sock`, read without waiting.
fn queued_answer(sock: &Fd) -> Option<Result<(Msg, Vec<Fd>)>> {
    let mut buf = [0u8; wire::MSG_LEN + 1];
    let r = sys::recv_with_fds(sock.raw(), &mut buf, libc::MSG_DONTWAIT).ok()?;
    if r.len == 0 && r.fds.is_empty() {
        return None;
    }
    let msg = Msg::decode(&buf[..r.len]).filter(|m| m.kind == Kind::Opened && !r.truncated);
    Some(msg.map(|m| (m, r.fds)).ok_or(Errno(libc::EPROTO)))
}

/// Reads an Opened answer: its errno in `d`, and any descriptor.
pub fn read_answer(conn: &Fd) -> Result<(Msg, Vec<Fd>)> {
    let (msg, fds) = descriptors::await_message(conn, None)?;
    if msg.kind != Kind::Opened {
        return Err(Errno(libc::EPROTO));
    }
    Ok((msg, fds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trip() {
        let m = Meta { dev: 2049, ino: 123456, perm: (0o4644, 1000, 100), uniq: 0xdead_beef_0000_0001 };
        assert_eq!(Meta::decode(&m.encode()), Some(m.clone()));
        assert_eq!(Meta::decode("libdoor-attachment 1\ndev x\n"), None);
        assert_eq!(Meta::decode("something else\n"), None);
        // Ids out of range, signs and mode bits beyond 07777 are malformed,
        // never truncated.
        let text = m.encode();
        for (from, to) in [("uid 1000", "uid 4294967296"), ("gid 100", "gid +100"), ("mode 4644", "mode 104644")] {
            assert_eq!(Meta::decode(&text.replace(from, to)), None, "{to}");
        }
    }

    #[test]
    fn stash_is_beside_the_path() {
        assert_eq!(stash_of(Path::new("/var/run/name_service_door")).unwrap(), Path::new("/var/run/.name_service_door.door"));
    }
}
