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

use libc::c_int;

use crate::sys::{self, Errno, Fd, Result};
use crate::wire::{Kind, MSG_LEN, Msg};

pub(crate) const PREFIX: &[u8] = b"\0libdoor1:";
const LABEL_LEN: usize = PREFIX.len() + 16;

/// Binds `fd` to a fresh label for door `uniq`.
pub fn bind(fd: &Fd, uniq: u64) -> Result<()> {
    loop {
        let mut name = [0u8; LABEL_LEN];
        name[..PREFIX.len()].copy_from_slice(PREFIX);
        name[PREFIX.len()..PREFIX.len() + 8].copy_from_slice(&uniq.to_le_bytes());
        name[PREFIX.len() + 8..].copy_from_slice(&sys::random_u64().to_le_bytes());
        match sys::bind(fd, &name) {
            Err(Errno(libc::EADDRINUSE)) => continue,
            r => return r,
        }
    }
}

/// The uniquifier of the door `fd` refers to; `EBADF` if `fd` is not a door.
pub fn door_id(fd: c_int) -> Result<u64> {
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
    let mut id = [0u8; 8];
    id.copy_from_slice(&name[PREFIX.len()..PREFIX.len() + 8]);
    Ok(u64::from_le_bytes(id))
}

/// What a door's nameplate says.
#[derive(Clone, Copy, Debug)]
pub struct Identity {
    pub uniq: u64,
    pub proc_: u64,
    pub cookie: u64,
    pub pid: libc::pid_t,
    pub attributes: u32,
}

impl Identity {
    pub fn to_msg(self) -> Msg {
        Msg {
            kind: Kind::Identity,
            seq: self.uniq,
            a: self.proc_,
            b: self.cookie,
            c: self.pid as i64 as u64,
            d: self.attributes,
            e: 0,
        }
    }
    pub fn from_msg(m: &Msg) -> Option<Identity> {
        (m.kind == Kind::Identity).then_some(Identity {
            uniq: m.seq,
            proc_: m.a,
            cookie: m.b,
            pid: m.c as i64 as libc::pid_t,
            attributes: m.d,
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
    let r = sys::recv_with_fds(fd, &mut buf, libc::MSG_PEEK | libc::MSG_DONTWAIT, true).ok()?;
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
        let id = Identity { uniq: 5, proc_: 6, cookie: 7, pid: -1, attributes: 8 };
        put_nameplate(&b, id).unwrap();
        let seen = nameplate(a.raw()).unwrap();
        assert_eq!((seen.uniq, seen.proc_, seen.cookie, seen.pid, seen.attributes), (5, 6, 7, -1, 8));
        // Peeking leaves it in place.
        assert!(nameplate(a.raw()).is_some());
    }
}
