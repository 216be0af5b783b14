//! `door_info`, and door attributes.

use std::io;
use std::os::fd::RawFd;

use door::abi::*;
use door::rust as imp;

use crate::err;

/// Door attributes: what a door was created with ([`Door::create_with`](crate::Door::create_with))
/// and what [`DoorInfo`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Attributes(u32);

impl Attributes {
    /// Deliver one unreferenced notification when the last reference
    /// other than the server's own goes.
    pub const UNREF: Attributes = Attributes(DOOR_UNREF);
    /// Deliver one every time the references fall to the server's own.
    pub const UNREF_MULTI: Attributes = Attributes(DOOR_UNREF_MULTI);
    /// Calls that pass descriptors fail with `ENOTSUP`.
    pub const REFUSE_DESC: Attributes = Attributes(DOOR_REFUSE_DESC);
    /// A server thread is not cancelled when its caller gives up.
    pub const NO_CANCEL: Attributes = Attributes(DOOR_NO_CANCEL);
    /// Reported: the door is served by the calling process.
    pub const LOCAL: Attributes = Attributes(DOOR_LOCAL);
    /// Reported: the door was revoked, or its server has gone.
    pub const REVOKED: Attributes = Attributes(DOOR_REVOKED);
    /// Reported: an unreferenced notification is pending or under way.
    pub const IS_UNREF: Attributes = Attributes(DOOR_IS_UNREF);
    /// Reported: the door has a private pool of server threads.
    pub const PRIVATE: Attributes = Attributes(DOOR_PRIVATE);

    /// No attributes.
    pub const fn empty() -> Attributes {
        Attributes(0)
    }

    /// The `DOOR_*` bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every attribute of `other` is set here.
    pub const fn contains(self, other: Attributes) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Attributes {
    type Output = Attributes;
    fn bitor(self, rhs: Attributes) -> Attributes {
        Attributes(self.0 | rhs.0)
    }
}

/// What `door_info` tells about a door.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DoorInfo {
    /// The server process; `None` once it has gone.
    pub server: Option<libc::pid_t>,
    /// The server's procedure address and cookie, as the server's
    /// `door_create` was given them (meaningful only to the server).
    pub procedure: u64,
    pub cookie: u64,
    pub attributes: Attributes,
    /// The door's id, unique on the machine, stable for its life.
    pub id: u64,
}

impl DoorInfo {
    pub(crate) fn of(fd: RawFd) -> io::Result<DoorInfo> {
        let di = imp::info(fd).map_err(err)?;
        Ok(DoorInfo {
            server: (di.di_target >= 0).then_some(di.di_target),
            procedure: di.di_proc,
            cookie: di.di_data,
            attributes: Attributes(di.di_attributes),
            id: di.di_uniquifier,
        })
    }

    /// The door was revoked, or its server has gone.
    pub fn is_revoked(&self) -> bool {
        self.attributes.contains(Attributes::REVOKED)
    }

    /// The door is served by the calling process.
    pub fn is_local(&self) -> bool {
        self.attributes.contains(Attributes::LOCAL)
    }
}
