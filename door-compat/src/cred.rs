//! Reading credentials from the kernel: of the caller of the current door
//! invocation, of a process by pid, of this process, and of a socket's peer.
//!
//! Nothing here ever believes what a client says about itself. A door
//! caller is known by the pid and effective uid and gid the kernel attached
//! to its Call message (`SCM_CREDENTIALS`, `serve::current_caller`: the
//! client states them and the kernel refuses ids it does not hold); the
//! rest of its credentials are read from the kernel by that pid, and the
//! reading is trusted only if the pid still names the caller afterwards:
//!
//! 1. `pidfd_open(pid)` pins the process that has the pid now;
//! 2. `/proc/<pid>/status` gives real, effective and saved ids and the
//!    supplementary groups, all from one credential snapshot;
//! 3. `PIDFD_GET_INFO` on the pidfd (Linux 6.13) must then still succeed
//!    and report the same ids. It fails once the pinned process has been
//!    reaped, and the pid number is freed only then, so the `/proc` entry
//!    read in between was the pinned process's. Older kernels: the pidfd
//!    still accepting signal 0 proves the same.
//! 4. For a door caller, `serve::current_caller_attached()` must still hold:
//!    the client process cannot have exited while its channel is connected,
//!    so the pinned process is the caller. Its effective uid and gid must
//!    equal the ones attached to the call; if they differ, the caller
//!    changed credentials (or exec'd a set-user-ID program) while its call
//!    was in flight, and no credentials are reported (`EINVAL`) rather than
//!    a mixture. docs/ARCHITECTURE.md ("Credentials") gives the one case
//!    this leaves open.

use std::ffi::CString;
use std::mem::size_of;

use libc::{c_int, gid_t, pid_t, uid_t};

use crate::label;
use crate::serve;
use crate::sys::{self, Errno, Fd, Result};

/// A process's credentials, as the kernel reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creds {
    /// The process; 0 for an unreferenced notification, -1 when unknown.
    pub pid: pid_t,
    /// Real, effective and saved uid; `uid_t::MAX` ((uid_t)-1) when unknown.
    pub uid: [uid_t; 3],
    /// Real, effective and saved gid; `gid_t::MAX` when unknown.
    pub gid: [gid_t; 3],
    /// Supplementary groups; `None` when unknown.
    pub groups: Option<Vec<gid_t>>,
}

/// (uid_t)-1 and (gid_t)-1: "no such id", never a real one on Linux.
pub const UNKNOWN: u32 = u32::MAX;

/// What `door_ucred` reports in this thread: the caller of the invocation
/// it is serving, or during an unreferenced notification (which has no
/// caller) pid 0 and the server process's own credentials, as illumos
/// reports its unref thread's.
///
/// Errors: `EINVAL` when there is no caller: the thread serves nothing, its
/// client gave up or died, or the client changed its credentials during the
/// call. `EAGAIN` when the server is out of descriptors or memory.
pub fn of_invocation() -> Result<Creds> {
    if serve::serving_unref() {
        return Ok(Creds { pid: 0, ..of_self()? });
    }
    of_caller()
}

/// The caller of the current call, read and checked as the module says.
fn of_caller() -> Result<Creds> {
    let kernel = serve::current_caller().ok_or(Errno(libc::EINVAL))?;
    let creds = of_process(kernel.pid).map_err(|e| match e {
        Errno(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::EAGAIN) => Errno(libc::EAGAIN),
        _ => Errno(libc::EINVAL),
    })?;
    if !serve::current_caller_attached() {
        return Err(Errno(libc::EINVAL));
    }
    if creds.pid != kernel.pid || creds.uid[1] != kernel.uid || creds.gid[1] != kernel.gid {
        return Err(Errno(libc::EINVAL));
    }
    Ok(creds)
}

/// This process's credentials (the calling thread's, which glibc keeps
/// equal across threads).
pub fn of_self() -> Result<Creds> {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: three writable uid_t.
    if unsafe { libc::getresuid(&mut r, &mut e, &mut s) } != 0 {
        return Err(Errno::last());
    }
    let uid = [r, e, s];
    // SAFETY: three writable gid_t.
    if unsafe { libc::getresgid(&mut r, &mut e, &mut s) } != 0 {
        return Err(Errno::last());
    }
    let gid = [r, e, s];
    let groups = loop {
        // SAFETY: a zero count with a NULL list only asks for the count.
        let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
        if n < 0 {
            return Err(Errno::last());
        }
        let mut groups = vec![0 as gid_t; n as usize];
        // SAFETY: groups has room for n entries.
        let got = unsafe { libc::getgroups(n, groups.as_mut_ptr()) };
        if got >= 0 {
            groups.truncate(got as usize);
            break groups;
        }
        // EINVAL: the list grew in between; ask again.
        if Errno::last() != Errno(libc::EINVAL) {
            return Err(Errno::last());
        }
    };
    Ok(Creds { pid: sys::getpid(), uid, gid, groups: Some(groups) })
}

/// The current credentials of process `pid`, read as the module describes
/// (steps 1 to 3). `ESRCH` when there is no such process (or `pid` is a
/// thread that is not a process); `EMFILE`, `ENFILE`, `ENOMEM`; `EAGAIN`
/// when its credentials kept changing while being read. A process that
/// `/proc` hides (hidepid) is described by its pidfd, without its groups
/// (`of_hidden`; `EACCES` on kernels before 6.13).
pub fn of_process(pid: pid_t) -> Result<Creds> {
    if pid <= 0 {
        return Err(Errno(libc::ESRCH));
    }
    let pidfd = match pidfd_open(pid) {
        Ok(fd) => Some(fd),
        // Before Linux 5.3 there are no pidfds: the read below is then
        // unverified (a door caller is still proven by step 4).
        Err(Errno(libc::ENOSYS)) => None,
        Err(Errno(libc::EINVAL)) => return Err(Errno(libc::ESRCH)),
        Err(e) => return Err(e),
    };
    for _ in 0..4 {
        let creds = match (read_status(pid), &pidfd) {
            (Ok(creds), _) => creds,
            // The process lives (its pidfd was had), but /proc hides it
            // (mounted with hidepid): its ids as its pidfd tells them.
            (Err(Errno(libc::ESRCH | libc::EACCES | libc::EPERM)), Some(pidfd)) => return of_hidden(pid, pidfd),
            (Err(e), _) => return Err(e),
        };
        let Some(pidfd) = &pidfd else { return Ok(creds) };
        match pidfd_info(pidfd) {
            Ok(info) => {
                let same = info.pid as pid_t == pid
                    && [info.ruid, info.euid, info.suid] == creds.uid
                    && [info.rgid, info.egid, info.sgid] == creds.gid;
                if same {
                    return Ok(creds);
                }
                // Its credentials changed between the two reads: again.
            }
            // Before Linux 6.13: the pidfd accepting signal 0 (or refusing
            // it for lack of permission) shows the process is still there.
            Err(Errno(libc::ENOTTY | libc::EINVAL)) => {
                return match pidfd_send_signal0(pidfd) {
                    Ok(()) | Err(Errno(libc::EPERM)) => Ok(creds),
                    Err(_) => Err(Errno(libc::ESRCH)),
                };
            }
            Err(e) => return Err(e),
        }
    }
    Err(Errno(libc::EAGAIN))
}

/// The credentials of live process `pid`, which /proc hides from us, from
/// its pidfd (Linux 6.13): its ids, but not its groups, which are unknown.
/// `EACCES` on an older kernel, `ESRCH` once it is gone.
fn of_hidden(pid: pid_t, pidfd: &Fd) -> Result<Creds> {
    match pidfd_info(pidfd) {
        Ok(info) if info.pid as pid_t == pid => {
            Ok(Creds { pid, uid: [info.ruid, info.euid, info.suid], gid: [info.rgid, info.egid, info.sgid], groups: None })
        }
        Ok(_) => Err(Errno(libc::ESRCH)),
        Err(Errno(libc::ENOTTY | libc::EINVAL)) => match pidfd_send_signal0(pidfd) {
            Ok(()) | Err(Errno(libc::EPERM)) => Err(Errno(libc::EACCES)),
            Err(_) => Err(Errno(libc::ESRCH)),
        },
        Err(e) => Err(e),
    }
}

/// The peer of the connected AF_UNIX socket `fd` (`getpeerucred`).
///
/// The kernel recorded the peer's pid, effective uid and gid and its groups
/// when the connection was made (or the pair created): those are reported
/// as they were then, as illumos reports a socket peer. Real and saved ids
/// are not recorded; they are read from the peer process, pinned by
/// `SO_PEERPIDFD` (Linux 6.5), and reported only if its effective ids are
/// still the recorded ones. Otherwise (the peer exited, changed ids, or the
/// kernel is older) they are absent, `(uid_t)-1`, as is the pid of a peer
/// in a pid namespace this process cannot see.
///
/// Errors: `EBADF`; `ENOTSUP` (not an AF_UNIX socket, or a door: illumos
/// `getpeerucred` supports only sockets and streams); `ENOTCONN` (not
/// connected, or listening).
pub fn of_peer(fd: c_int) -> Result<Creds> {
    let domain = sys::sockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN).map_err(|e| match e {
        Errno(libc::EBADF) => e,
        _ => Errno(libc::ENOTSUP),
    })?;
    if domain != libc::AF_UNIX || label::door_id(fd).is_ok() {
        return Err(Errno(libc::ENOTSUP));
    }
    if sys::sockopt_int(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)? != 0 {
        return Err(Errno(libc::ENOTCONN));
    }
    // SAFETY: fd is only borrowed: ManuallyDrop keeps the wrapper from closing it.
    let sock = std::mem::ManuallyDrop::new(unsafe { Fd::from_raw(fd) });
    let peer = sys::peer_cred(&sock)?;
    if peer.uid == UNKNOWN {
        // No peer credentials recorded: never connected.
        return Err(Errno(libc::ENOTCONN));
    }
    let groups = sys::peer_groups(&sock).ok();
    let mut creds = Creds {
        pid: if peer.pid > 0 { peer.pid } else { -1 },
        uid: [UNKNOWN, peer.uid, UNKNOWN],
        gid: [UNKNOWN, peer.gid, UNKNOWN],
        groups,
    };
    if let Some(now) = peer_pidfd(fd).and_then(|pidfd| pidfd_info(&pidfd).ok())
        && now.euid == peer.uid
        && now.egid == peer.gid
        && now.pid as pid_t == peer.pid
    {
        creds.uid = [now.ruid, now.euid, now.suid];
        creds.gid = [now.rgid, now.egid, now.sgid];
    }
    Ok(creds)
}

// ---------------------------------------------------------------------------
// /proc/<pid>/status.

/// Ids and groups from `/proc/<pid>/status`, which prints them from one
/// credential snapshot. `ESRCH` when the entry is gone.
fn read_status(pid: pid_t) -> Result<Creds> {
    let path = CString::new(format!("/proc/{pid}/status")).expect("no NUL in a path made of digits");
    let text = read_file(&path).map_err(|e| if e == Errno(libc::ENOENT) { Errno(libc::ESRCH) } else { e })?;
    let text = String::from_utf8_lossy(&text);
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
    let ids = |name: &str| -> Result<[u32; 3]> {
        let v: Vec<u32> = field(name)
            .ok_or(Errno(libc::ESRCH))?
            .split_whitespace()
            .map(|n| n.parse().map_err(|_| Errno(libc::EIO)))
            .collect::<Result<_>>()?;
        // Real, effective, saved, file system.
        if v.len() < 3 {
            return Err(Errno(libc::EIO));
        }
        Ok([v[0], v[1], v[2]])
    };
    let groups = field("Groups:")
        .ok_or(Errno(libc::ESRCH))?
        .split_whitespace()
        .map(|n| n.parse().map_err(|_| Errno(libc::EIO)))
        .collect::<Result<Vec<gid_t>>>()?;
    Ok(Creds { pid, uid: ids("Uid:")?, gid: ids("Gid:")?, groups: Some(groups) })
}

/// The whole of a (small, `/proc`) file.
fn read_file(path: &std::ffi::CStr) -> Result<Vec<u8>> {
    let fd = sys::openat(libc::AT_FDCWD, path, libc::O_RDONLY, 0)?;
    let mut out = Vec::with_capacity(4096);
    loop {
        out.try_reserve(4096).map_err(|_| Errno(libc::ENOMEM))?;
        let spare = out.spare_capacity_mut();
        // SAFETY: spare is writable memory of the stated length; raw read,
        // not a cancellation point (see sys.rs).
        let n = unsafe { libc::syscall(libc::SYS_read, fd.raw(), spare.as_mut_ptr(), spare.len()) };
        match n {
            0 => return Ok(out),
            n if n > 0 => {
                // SAFETY: read initialised n more bytes after the current length.
                unsafe { out.set_len(out.len() + n as usize) }
            }
            _ if Errno::last() == Errno(libc::EINTR) => continue,
            _ => return Err(Errno::last()),
        }
    }
}

// ---------------------------------------------------------------------------
// pidfds.

/// `struct pidfd_info`, version 0 (include/uapi/linux/pidfd.h, Linux 6.13).
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    spare0: [u32; 1],
}

const _: () = assert!(size_of::<PidfdInfo>() == 64);

/// `_IOWR(PIDFS_IOCTL_MAGIC 0xFF, 11, struct pidfd_info)`.
const PIDFD_GET_INFO: libc::c_ulong = (3 << 30) | ((size_of::<PidfdInfo>() as libc::c_ulong) << 16) | (0xFF << 8) | 11;
/// Ask for the credentials (always returned, but asked for explicitly).
const PIDFD_INFO_CREDS: u64 = 1 << 1;
/// `SO_PEERPIDFD` (Linux 6.5): a pidfd of the process that connected.
const SO_PEERPIDFD: c_int = 77;

fn pidfd_open(pid: pid_t) -> Result<Fd> {
    // SAFETY: pidfd_open takes no pointers. Its descriptors are always
    // close-on-exec (and it refuses O_CLOEXEC).
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_long, 0 as libc::c_long) };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a fresh descriptor that only this Fd owns.
    Ok(unsafe { Fd::from_raw(r as c_int) })
}

/// The kernel's credentials of the pidfd's process; `ESRCH` once it has
/// been reaped; `ENOTTY` or `EINVAL` before Linux 6.13.
fn pidfd_info(pidfd: &Fd) -> Result<PidfdInfo> {
    let mut info = PidfdInfo { mask: PIDFD_INFO_CREDS, ..Default::default() };
    // SAFETY: info is a writable pidfd_info of the size the request encodes.
    let r = unsafe { libc::ioctl(pidfd.raw(), PIDFD_GET_INFO, &raw mut info) };
    if r < 0 {
        return Err(Errno::last());
    }
    if info.mask & PIDFD_INFO_CREDS == 0 {
        return Err(Errno(libc::ENOTTY));
    }
    Ok(info)
}

fn pidfd_send_signal0(pidfd: &Fd) -> Result<()> {
    // SAFETY: signal 0 with a NULL siginfo only checks existence and permission.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.raw() as libc::c_long, 0, 0, 0) };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// A pidfd of the process that connected socket `fd`, if the kernel can say.
fn peer_pidfd(fd: c_int) -> Option<Fd> {
    let mut pidfd: c_int = -1;
    let mut len = size_of::<c_int>() as libc::socklen_t;
    // SAFETY: pidfd/len describe a writable int.
    let r = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, SO_PEERPIDFD, (&raw mut pidfd).cast(), &mut len) };
    if r != 0 || pidfd < 0 {
        return None;
    }
    // SAFETY: the kernel gave us this new (close-on-exec) descriptor.
    Some(unsafe { Fd::from_raw(pidfd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_read_by_pid_matches_its_own_account() {
        let mine = of_self().unwrap();
        let read = of_process(sys::getpid()).unwrap();
        assert_eq!(read.uid, mine.uid);
        assert_eq!(read.gid, mine.gid);
        let (mut a, mut b) = (read.groups.unwrap(), mine.groups.unwrap());
        a.sort();
        b.sort();
        assert_eq!(a, b);
        assert_eq!(of_process(0).err(), Some(Errno(libc::ESRCH)));
        assert_eq!(of_process(i32::MAX).err(), Some(Errno(libc::ESRCH)));
    }

    #[test]
    fn a_socketpair_peer_is_this_process() {
        let (a, _b) = sys::seqpacket_pair().unwrap();
        let peer = of_peer(a.raw()).unwrap();
        let mine = of_self().unwrap();
        assert_eq!((peer.pid, peer.uid[1], peer.gid[1]), (mine.pid, mine.uid[1], mine.gid[1]));
        // Real and saved ids need SO_PEERPIDFD (Linux 6.5): exact, or unknown.
        assert!(peer.uid == mine.uid || peer.uid[0] == UNKNOWN);
        assert!(peer.gid == mine.gid || peer.gid[0] == UNKNOWN);
        assert!(!serve::current_caller_attached());
        assert_eq!(of_invocation().err(), Some(Errno(libc::EINVAL)));
    }
}
