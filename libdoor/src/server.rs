//! Serving: a door made from a closure, and what each call brings and
//! returns.

use std::borrow::Cow;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::{Arc, RwLock};

use door::abi::{DOOR_DESCRIPTOR, door_desc_t, door_desc_t__d_data, door_desc_t__d_desc};
use door::rust::{self as imp, Errno};
use libc::{c_char, c_void};

use crate::{Attachment, Attributes, Client, DoorInfo, err};

/// What a door runs for each call.
type Procedure = dyn for<'r> Fn(Request<'r>) -> Response<'r> + Send + Sync;

/// Where a door's procedure is found: the door's cookie points here. The
/// slot lives as long as the process (libdoor keeps a door's entry as long
/// too), so a server thread can always read it; the procedure in it is
/// taken out when the `Door` is dropped and freed once the calls running
/// it are over.
struct Slot(RwLock<Option<Arc<Procedure>>>);

impl Slot {
    fn procedure(&self) -> Option<Arc<Procedure>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A door this process serves. Dropping it revokes the door: calls in
/// progress finish, later ones fail with `EBADF`.
pub struct Door {
    /// The descriptor `door_create` gave (closed by the revocation).
    fd: RawFd,
    slot: &'static Slot,
    pid: libc::pid_t,
}

impl Door {
    /// Makes a door whose calls run `procedure`, on libdoor's server
    /// threads (several calls may run at once).
    pub fn create<F>(procedure: F) -> io::Result<Door>
    where
        F: for<'r> Fn(Request<'r>) -> Response<'r> + Send + Sync + 'static,
    {
        Door::create_with(Attributes::empty(), procedure)
    }

    /// Like [`Door::create`], with door attributes: [`Attributes::UNREF`],
    /// [`Attributes::UNREF_MULTI`] (the procedure is also called, with
    /// [`Request::is_unref`], when the last reference other than this
    /// `Door` goes), [`Attributes::REFUSE_DESC`], [`Attributes::NO_CANCEL`].
    /// Others give `EINVAL` (a private pool needs threads bound to it,
    /// which this API does not make).
    pub fn create_with<F>(attributes: Attributes, procedure: F) -> io::Result<Door>
    where
        F: for<'r> Fn(Request<'r>) -> Response<'r> + Send + Sync + 'static,
    {
        let allowed = Attributes::UNREF | Attributes::UNREF_MULTI | Attributes::REFUSE_DESC | Attributes::NO_CANCEL;
        if !allowed.contains(attributes) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let slot = Box::into_raw(Box::new(Slot(RwLock::new(Some(Arc::new(procedure))))));
        let fd = match imp::create(invoke, slot as usize, attributes.bits()) {
            Ok(fd) => fd,
            Err(e) => {
                // SAFETY: no door refers to the slot: take back the box.
                drop(unsafe { Box::from_raw(slot) });
                return Err(err(e));
            }
        };
        // SAFETY: the slot is never freed once a door's cookie names it.
        let slot: &'static Slot = unsafe { &*slot };
        // SAFETY: getpid cannot fail.
        Ok(Door { fd, slot, pid: unsafe { libc::getpid() } })
    }

    /// Attaches the door to the existing file `path` (`fattach`): opening
    /// `path` ([`Client::open`], or `open(2)` in a C program) then gives
    /// this door, subject to the file's permissions. The attachment lasts
    /// until the [`Attachment`] is dropped.
    pub fn attach(&self, path: impl AsRef<Path>) -> io::Result<Attachment> {
        Attachment::new(self.fd, path.as_ref())
    }

    /// `door_info` for this door.
    pub fn info(&self) -> io::Result<DoorInfo> {
        DoorInfo::of(self.fd)
    }

    /// A client of this door, with a descriptor of its own (a reference
    /// that counts for unreferenced notifications while it lives).
    pub fn client(&self) -> io::Result<Client> {
        let fd = imp::duplicate(self.fd).map_err(err)?;
        // SAFETY: duplicate returned a new descriptor that nothing else owns.
        Client::from_fd(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

impl AsFd for Door {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: fd stays open until the Door is dropped.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }
}

impl AsRawFd for Door {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl Drop for Door {
    fn drop(&mut self) {
        // SAFETY: getpid cannot fail.
        let same_process = unsafe { libc::getpid() } == self.pid;
        // In a forked child the door is the parent's: only close our copy.
        if !same_process || imp::revoke(self.fd).is_err() {
            // SAFETY: the descriptor is ours and nothing uses it after this.
            drop(unsafe { OwnedFd::from_raw_fd(self.fd) });
        }
        if same_process {
            self.slot.0.write().unwrap_or_else(|p| p.into_inner()).take();
        }
    }
}

impl std::fmt::Debug for Door {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Door").field("fd", &self.fd).finish()
    }
}

/// One call, as the procedure sees it: the caller's bytes and the
/// descriptors it passed, which now belong to this process.
#[derive(Debug)]
pub struct Request<'r> {
    data: &'r [u8],
    fds: Vec<OwnedFd>,
    unref: bool,
}

impl<'r> Request<'r> {
    /// The caller's bytes. They stay valid until the procedure returns, so
    /// a [`Response`] may borrow them.
    pub fn data(&self) -> &'r [u8] {
        self.data
    }

    /// The descriptors the caller passed; they are closed with the request
    /// unless taken with [`Request::take_fds`].
    pub fn fds(&self) -> &[OwnedFd] {
        &self.fds
    }

    /// Takes the descriptors the caller passed.
    pub fn take_fds(&mut self) -> Vec<OwnedFd> {
        std::mem::take(&mut self.fds)
    }

    /// This is an unreferenced notification (doors made with
    /// [`Attributes::UNREF`] or [`Attributes::UNREF_MULTI`]), not a call:
    /// there is no caller and the response is discarded.
    pub fn is_unref(&self) -> bool {
        self.unref
    }

    /// Who is calling (`door_ucred`), read from the kernel: never anything
    /// the client merely claims. `EINVAL` when the caller gave up or died.
    pub fn caller(&self) -> io::Result<Credentials> {
        let c = imp::caller().map_err(err)?;
        Ok(Credentials {
            pid: c.pid,
            uid: c.uid[0],
            euid: c.uid[1],
            suid: c.uid[2],
            gid: c.gid[0],
            egid: c.gid[1],
            sgid: c.gid[2],
            groups: c.groups.unwrap_or_default(),
        })
    }
}

/// A caller's credentials ([`Request::caller`]). Ids Linux could not tell
/// are `u32::MAX`, as `(uid_t)-1`; the pid is 0 for an unreferenced
/// notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub pid: libc::pid_t,
    pub uid: libc::uid_t,
    pub euid: libc::uid_t,
    pub suid: libc::uid_t,
    pub gid: libc::gid_t,
    pub egid: libc::gid_t,
    pub sgid: libc::gid_t,
    pub groups: Vec<libc::gid_t>,
}

/// What a procedure returns to its caller: bytes and descriptors. It may
/// borrow from the [`Request`] (echo its bytes without a copy).
#[derive(Debug, Default)]
pub struct Response<'r> {
    data: Cow<'r, [u8]>,
    fds: Vec<Passed<'r>>,
}

/// A descriptor to pass, and whether it is given away.
#[derive(Debug)]
pub(crate) enum Passed<'a> {
    /// Sent, then closed (illumos' `DOOR_RELEASE`).
    Given(OwnedFd),
    /// A copy is sent; the original stays open.
    Lent(BorrowedFd<'a>),
}

impl Passed<'_> {
    /// How libdoor is told about it. `DOOR_RELEASE` is never asked of
    /// libdoor: a given descriptor is an `OwnedFd` that closes itself once
    /// the call or reply is over, whatever its outcome.
    pub(crate) fn desc(&self) -> door_desc_t {
        let fd = match self {
            Passed::Given(fd) => fd.as_raw_fd(),
            Passed::Lent(fd) => fd.as_raw_fd(),
        };
        door_desc_t {
            d_attributes: DOOR_DESCRIPTOR,
            d_data: door_desc_t__d_data { d_desc: door_desc_t__d_desc { d_descriptor: fd, d_id: 0 } },
        }
    }
}

impl<'r> Response<'r> {
    /// A response carrying `data`.
    pub fn new(data: impl Into<Cow<'r, [u8]>>) -> Response<'r> {
        Response { data: data.into(), fds: Vec::new() }
    }

    /// A response with no data and no descriptors.
    pub fn empty() -> Response<'r> {
        Response::default()
    }

    /// Adds a descriptor that is passed to the caller and then closed here
    /// (illumos' `DOOR_RELEASE`).
    pub fn give_fd(mut self, fd: OwnedFd) -> Response<'r> {
        self.fds.push(Passed::Given(fd));
        self
    }

    /// Adds a descriptor of which the caller gets a copy; it stays open
    /// here.
    pub fn fd(mut self, fd: BorrowedFd<'r>) -> Response<'r> {
        self.fds.push(Passed::Lent(fd));
        self
    }

    /// Sends the response to the caller of the invocation this thread
    /// serves. A caller that accepts no results (a C `door_call` with NULL
    /// arguments) gets an empty answer, as it asked; other refusals
    /// (`EINVAL` for a descriptor that is not open, `E2BIG` for more than
    /// 1024 descriptors) become the caller's error.
    fn send(self) -> Result<(), Errno> {
        let descs: Vec<door_desc_t> = self.fds.iter().map(Passed::desc).collect();
        match imp::reply(&self.data, &descs) {
            Err(Errno(libc::E2BIG)) if !imp::accepts_results() => imp::reply(&[], &[]),
            r => r,
        }
        // The given descriptors close here, after they were sent.
    }
}

impl<'r> From<&'r [u8]> for Response<'r> {
    fn from(data: &'r [u8]) -> Response<'r> {
        Response::new(data)
    }
}

impl From<Vec<u8>> for Response<'_> {
    fn from(data: Vec<u8>) -> Self {
        Response::new(data)
    }
}

/// `argp` of an unreferenced notification (illumos' `DOOR_UNREF_DATA`).
const DOOR_UNREF_DATA: usize = 1;

/// The procedure libdoor's service loop calls for every door of this
/// crate. It answers the invocation (`imp::reply` or `imp::fail`) and
/// returns to the loop, which serves the next one: nothing is jumped over,
/// and everything the call owned (its request, response, descriptors) is
/// dropped by ordinary Rust scoping before it returns. No panic leaves it.
///
/// # Safety
/// Called only by libdoor, with the cookie `Door::create_with` gave and the
/// invocation's arguments: `arg_size` readable bytes at `argp`, `n_desc`
/// descriptor records at `dp` whose descriptors this process now owns.
unsafe extern "C" fn invoke(cookie: *mut c_void, argp: *mut c_char, arg_size: usize, dp: *mut door_desc_t, n_desc: u64) {
    let served = std::panic::catch_unwind(|| {
        // SAFETY: the cookie is the &'static Slot of create_with.
        let slot = unsafe { &*(cookie as *const Slot) };
        // SAFETY: libdoor's invocation arguments, as documented above.
        let req = unsafe { request(argp, arg_size, dp, n_desc) };
        let Some(procedure) = slot.procedure() else {
            // The Door was dropped (revoked) as this call was taken.
            return Err(Errno(libc::EBADF));
        };
        let response = procedure(req);
        // Let go of the procedure before answering: a caller that has its
        // answer and then drops the Door finds the procedure freed.
        drop(procedure);
        response.send()
    });
    match served {
        Ok(Ok(())) => {}
        Ok(Err(e)) => imp::fail(e.0),
        // As when an illumos server thread dies during a call.
        Err(_) => imp::fail(libc::EINTR),
    }
}

/// The [`Request`] for an invocation.
///
/// # Safety
/// As for [`invoke`]; the returned request must not outlive the invocation.
unsafe fn request<'r>(argp: *mut c_char, arg_size: usize, dp: *mut door_desc_t, n_desc: u64) -> Request<'r> {
    let unref = argp as usize == DOOR_UNREF_DATA;
    let data = if arg_size == 0 || argp.is_null() || unref {
        &[][..]
    } else {
        // SAFETY: libdoor passes arg_size readable bytes at argp, its own
        // copy, unchanged until the thread's next invocation.
        unsafe { std::slice::from_raw_parts(argp.cast::<u8>(), arg_size) }
    };
    let fds = (0..n_desc as usize)
        .map(|i| {
            // SAFETY: dp holds n_desc records (door_desc_t may be unaligned).
            let d = unsafe { dp.add(i).read_unaligned() };
            // SAFETY: every record is a DOOR_DESCRIPTOR whose descriptor was
            // received for this invocation and belongs to this process.
            unsafe { OwnedFd::from_raw_fd(d.d_data.d_desc.d_descriptor) }
        })
        .collect();
    Request { data, fds, unref }
}
