//! Door descriptors identify themselves.
//!
//! A door descriptor is the client end of an AF_UNIX SOCK_SEQPACKET pair
//! whose other end the server holds. The server binds the client end to an
//! abstract address, its *label*: a fixed prefix, the door's uniquifier and a
//! random nonce (abstract names must be unique). `getsockname` on any
//! descriptor therefore tells, in one system call, whether it is a door and
//! which one, in any process, after dup, fork, exec or SCM_RIGHTS, with no
//! table to keep in sync. A label grants nothing: a bound socket that is not
//! listening refuses connections, so knowing one reaches no door.
//!
//! The client end also holds the door's *nameplate*, an Identity message
//! the server queues on it at creation and that readers only ever peek: it
//! tells the procedure, cookie and server pid even after the server is gone.
//!
//! Labels are public (`/proc/net/unix` lists them) and anyone may bind one
//! to a socket of their own, so a label's uniquifier alone proves nothing.
//! A client names a door by the uniquifier together with the process that
//! made the descriptor's socket pair, which the kernel records and nobody
//! chooses (`DoorName`). A server takes a descriptor for one of its own
//! doors only if it made the socket pair and the nameplate bears the seal
//! it gave that label (`made_here`).

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;

use libc::c_int;

use crate::sys::{self, Errno, Fd, Result};
use crate::wire::{Kind, MSG_LEN, Msg};

pub(crate) const PREFIX: &[u8] = b"\0libdoor1:";
const LABEL_LEN: usize = PREFIX.len() + 16;

/// Binds `fd` to a fresh label for door `uniq`; returns the label's nonce.
pub fn bind(fd: &Fd, uniq: u64) -> Result<u64> {
    loop {
        let nonce = sys::random_u64();
        let mut name = [0u8; LABEL_LEN];
        name[..PREFIX.len()].copy_from_slice(PREFIX);
        name[PREFIX.len()..PREFIX.len() + 8].copy_from_slice(&uniq.to_le_bytes());
        name[PREFIX.len() + 8..].copy_from_slice(&nonce.to_le_bytes());
        match sys::bind(fd, &name) {
            Err(Errno(libc::EADDRINUSE)) => continue,
            r => return r.map(|()| nonce),
        }
    }
}

/// The uniquifier of the door `fd` refers to; `EBADF` if `fd` is not a door.
pub fn door_id(fd: c_int) -> Result<u64> {
    read_label(fd).map(|(uniq, _)| uniq)
}

/// The uniquifier and nonce of `fd`'s label; `EBADF` if it has none.
fn read_label(fd: c_int) -> Result<(u64, u64)> {
    let (addr, len) = sys::sockname(fd).map_err(|_| Errno(libc::EBADF))?;
    let off = std::mem::offset_of!(libc::sockaddr_un, sun_path);
    if addr.sun_family != libc::AF_UNIX as libc::sa_family_t || len as usize != off + LABEL_LEN {
        return Err(Errno(libc::EBADF));
    }
    // No allocation: this runs on every interposed dup, possibly in a
    // signal handler or a forked child.
    let mut name = [0u8; LABEL_LEN];
    for (dst, src) in name.iter_mut().zip(&addr.sun_path[..LABEL_LEN]) {
        *dst = *src as u8;
    }
    if &name[..PREFIX.len()] != PREFIX {
        return Err(Errno(libc::EBADF));
    }
    let word = |at: usize| u64::from_le_bytes(name[at..at + 8].try_into().expect("8 bytes"));
    Ok((word(PREFIX.len()), word(PREFIX.len() + 8)))
}

/// A door as a client tells doors apart: the uniquifier its descriptor's
/// label claims, and the process that made the descriptor's socket pair
/// (its server, in the kernel's word). Two descriptors with the same
/// uniquifier but different servers are different doors: one of them is a
/// forgery. When the kernel cannot name the server in this pid namespace
/// (a server outside it), `server` is 0 and `family` is the label's nonce:
/// each descriptor family is then a door of its own, since two such
/// servers could not be told apart; `family` is 0 otherwise.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct DoorName {
    pub uniq: u64,
    pub server: libc::pid_t,
    pub family: u64,
}

/// The name of the door `fd` refers to; `EBADF` if `fd` is not a door.
pub fn name_of(fd: c_int) -> Result<DoorName> {
    let (uniq, nonce) = read_label(fd)?;
    Ok(match server_pid(fd) {
        Some(server) => DoorName { uniq, server, family: 0 },
        None => DoorName { uniq, server: 0, family: nonce },
    })
}

/// The pid of the process that made door descriptor `fd`'s socket pair (its
/// server), if the kernel can name it in this process's pid namespace.
pub fn server_pid(fd: c_int) -> Option<libc::pid_t> {
    // SAFETY: fd is only borrowed: ManuallyDrop keeps the wrapper from closing it.
    let fd = std::mem::ManuallyDrop::new(unsafe { Fd::from_raw(fd) });
    sys::peer_cred(&fd).ok().map(|c| c.pid).filter(|&pid| pid > 0)
}

/// The seal this process puts on the nameplate of the descriptor it labels
/// `(uniq, nonce)`: a hash of the label keyed with 128 random bits that never
/// leave the process (std's `RandomState`, SipHash keyed from the kernel's
/// random source), never 0. Whoever has not held that very descriptor
/// cannot know it.
pub fn seal(uniq: u64, nonce: u64) -> u64 {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    KEY.get_or_init(RandomState::new).hash_one((uniq, nonce)) | 1
}

/// Whether `fd` is a door descriptor this process made: the kernel says we
/// made its socket pair, and its nameplate bears the seal of its label. A
/// socket someone else made, or one of ours that they bound to a label (a
/// reply socket sent with Info or Clone, a socket pair the application gave
/// away), fails the one or the other: the
/// seal of a label is only ever on the nameplate of the socket bound to it,
/// and a label cannot be bound twice while that socket lives.
pub fn made_here(fd: c_int) -> bool {
    let Ok((uniq, nonce)) = read_label(fd) else { return false };
    server_pid(fd) == Some(sys::getpid())
        && nameplate(fd).is_some_and(|p| p.uniq == uniq && p.seal == seal(uniq, nonce))
}

/// What a door's nameplate says.
#[derive(Clone, Copy, Debug)]
pub struct Identity {
    pub uniq: u64,
    pub proc_: u64,
    pub cookie: u64,
    pub pid: libc::pid_t,
    pub attributes: u32,
    /// On a nameplate this process made: its label's `seal`; else 0.
    pub seal: u64,
}

impl Identity {
    /// The seal travels in the high half of `c` (whose low half is the
    /// pid) and in `e`.
    pub fn to_msg(self) -> Msg {
        Msg {
            kind: Kind::Identity,
            seq: self.uniq,
            a: self.proc_,
            b: self.cookie,
            c: u64::from(self.pid as u32) | (self.seal >> 32) << 32,
            d: self.attributes,
            e: self.seal as u32,
        }
    }
    pub fn from_msg(m: &Msg) -> Option<Identity> {
        (m.kind == Kind::Identity).then_some(Identity {
            uniq: m.seq,
            proc_: m.a,
            cookie: m.b,
            pid: m.c as u32 as libc::pid_t,
            attributes: m.d,
            seal: (m.c >> 32) << 32 | u64::from(m.e),
        })
    }
}

/// Queues `id` on the client end `client` of a door, through its peer `server`.
pub fn put_nameplate(server: &Fd, id: Identity) -> Result<()> {
    sys::send_with_fds(server.raw(), &id.to_msg().encode(), &[])
}

/// Reads the nameplate of door descriptor `fd` without consuming it.
pub fn nameplate(fd: c_int) -> Option<Identity> {
    let mut buf = [0u8; MSG_LEN + 1];
    let r = sys::recv_with_fds(fd, &mut buf, libc::MSG_PEEK | libc::MSG_DONTWAIT).ok()?;
    // A nameplate never carries descriptors; any that came are dropped (closed).
    if r.truncated || !r.fds.is_empty() {
        return None;
    }
    Identity::from_msg(&Msg::decode(&buf[..r.len])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_identify_doors() {
        let (a, b) = sys::seqpacket_pair().unwrap();
        assert_eq!(door_id(a.raw()), Err(Errno(libc::EBADF)));
        bind(&a, 0x1234_5678_9abc_def0).unwrap();
        assert_eq!(door_id(a.raw()), Ok(0x1234_5678_9abc_def0));
        assert_eq!(door_id(b.raw()), Err(Errno(libc::EBADF)));
        assert_eq!(door_id(-1), Err(Errno(libc::EBADF)));
        let id = Identity { uniq: 5, proc_: 6, cookie: 7, pid: -1, attributes: 8, seal: 0xfedc_ba98_7654_3211 };
        put_nameplate(&b, id).unwrap();
        let seen = nameplate(a.raw()).unwrap();
        assert_eq!(
            (seen.uniq, seen.proc_, seen.cookie, seen.pid, seen.attributes, seen.seal),
            (5, 6, 7, -1, 8, 0xfedc_ba98_7654_3211)
        );
        // Peeking leaves it in place.
        assert!(nameplate(a.raw()).is_some());
    }

    #[test]
    fn only_our_sealed_labels_are_made_here() {
        let (a, b) = sys::seqpacket_pair().unwrap();
        let nonce = bind(&a, 77).unwrap();
        assert_eq!(name_of(a.raw()), Ok(DoorName { uniq: 77, server: sys::getpid(), family: 0 }));
        // No nameplate, then one without the seal, then one with another
        // label's seal: not ours.
        assert!(!made_here(a.raw()));
        let plate = Identity { uniq: 77, proc_: 0, cookie: 0, pid: sys::getpid(), attributes: 0, seal: 0 };
        put_nameplate(&b, Identity { seal: seal(77, nonce ^ 1), ..plate }).unwrap();
        assert!(!made_here(a.raw()));
        let (c, d) = sys::seqpacket_pair().unwrap();
        let nonce = bind(&c, 77).unwrap();
        put_nameplate(&d, Identity { seal: seal(77, nonce), ..plate }).unwrap();
        assert!(made_here(c.raw()));
        assert_ne!(seal(77, nonce), seal(78, nonce));
    }
}
