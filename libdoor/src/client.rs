//! Calling: a door descriptor, the call's arguments, and its results.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;

use door::abi::{door_arg_t, door_desc_t};
use door::rust as imp;

use crate::server::Passed;
use crate::{DoorInfo, err};

/// A door descriptor to call. Calls may be made from any number of threads
/// at once.
#[derive(Debug)]
pub struct Client {
    fd: OwnedFd,
}

/// How much room [`Client::call`] offers for results before they go to a
/// fresh mapping.
const INLINE_RESULTS: usize = 4096;

impl Client {
    /// Opens the door attached at `path` (by [`Door::attach`](crate::Door::attach)
    /// or a C server's `fattach`). `ENOTSUP` when `path` is not an attached
    /// door; a door whose server has gone opens, and its calls fail with
    /// `EBADF`.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Client> {
        let path = CString::new(path.as_ref().as_os_str().as_bytes())?;
        let fd = imp::open(&path).map_err(err)?;
        // SAFETY: open returned a new descriptor that nothing else owns.
        Ok(Client { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// A client for a door descriptor obtained otherwise (received in a
    /// call, inherited). `EBADF` when `fd` is not a door descriptor.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Client> {
        imp::door_id(fd.as_raw_fd()).map_err(err)?;
        Ok(Client { fd })
    }

    /// Calls the door and returns its results in a [`Reply`] of their own.
    /// Up to 4 KiB of results (with their descriptors) arrive in an owned
    /// buffer, larger ones in a fresh mapping that the `Reply` unmaps.
    ///
    /// Errors are `door_call`'s: `EBADF` (revoked door, server gone),
    /// `EINTR` (a signal, or the server's procedure panicked), `EAGAIN`,
    /// `ENOTSUP` (descriptors to a door that refuses them), `E2BIG`...
    pub fn call<'a>(&self, args: impl Into<Args<'a>>) -> io::Result<Reply<'static>> {
        let mut buf: Vec<u8> = Vec::with_capacity(INLINE_RESULTS);
        let (placed, fds) = self.call_raw(args.into(), buf.as_mut_ptr(), buf.capacity())?;
        let data = match placed {
            Placed::InBuffer(len) => {
                // SAFETY: libdoor wrote len result bytes at the start of buf.
                unsafe { buf.set_len(len) };
                Data::Owned(buf)
            }
            Placed::Mapped(m) => Data::Mapped(m),
        };
        Ok(Reply { data, fds })
    }

    /// Calls the door with `buf` for the results: when they fit (data, then
    /// descriptor records at a 24-byte boundary, as `door_call` places
    /// them), the [`Reply`] borrows `buf`; otherwise they arrive in a fresh
    /// mapping, unmapped when the `Reply` is dropped.
    pub fn call_into<'a, 'b>(&self, args: impl Into<Args<'a>>, buf: &'b mut [u8]) -> io::Result<Reply<'b>> {
        let (placed, fds) = self.call_raw(args.into(), buf.as_mut_ptr(), buf.len())?;
        let data = match placed {
            Placed::InBuffer(len) => Data::Borrowed(&buf[..len]),
            Placed::Mapped(m) => Data::Mapped(m),
        };
        Ok(Reply { data, fds })
    }

    /// The call itself: results in `rbuf` (`rsize` writable bytes) when
    /// they fit, else in a new mapping.
    fn call_raw(&self, args: Args<'_>, rbuf: *mut u8, rsize: usize) -> io::Result<(Placed, Vec<OwnedFd>)> {
        let descs: Vec<door_desc_t> = args.fds.iter().map(Passed::desc).collect();
        let mut arg = door_arg_t {
            data_ptr: args.data.as_ptr().cast_mut().cast(),
            data_size: args.data.len(),
            desc_ptr: if descs.is_empty() { std::ptr::null_mut() } else { descs.as_ptr().cast_mut() },
            desc_num: descs.len().try_into().map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?,
            rbuf: rbuf.cast(),
            rsize,
        };
        let called = imp::call(self.fd.as_raw_fd(), &mut arg);
        // The descriptors given away close now, whatever the outcome.
        drop(args);
        called.map_err(err)?;
        let placed = if arg.rbuf.cast::<u8>() == rbuf {
            Placed::InBuffer(arg.data_size)
        } else {
            // SAFETY: libdoor mapped rsize bytes at rbuf for us (never NULL
            // on success) and gave them to us to unmap.
            Placed::Mapped(Mapping { ptr: unsafe { NonNull::new_unchecked(arg.rbuf.cast()) }, len: arg.rsize, data: arg.data_size })
        };
        let fds = (0..arg.desc_num as usize)
            .map(|i| {
                // SAFETY: desc_ptr points at desc_num records within the
                // results (possibly unaligned).
                let d = unsafe { arg.desc_ptr.add(i).read_unaligned() };
                // SAFETY: each received descriptor is new in this process
                // and belongs to the caller.
                unsafe { OwnedFd::from_raw_fd(d.d_data.d_desc.d_descriptor) }
            })
            .collect();
        Ok((placed, fds))
    }

    /// `door_info` for the door: its server, attributes and id.
    pub fn info(&self) -> io::Result<DoorInfo> {
        DoorInfo::of(self.fd.as_raw_fd())
    }

    /// Another client of the same door, with a descriptor that counts as a
    /// reference of its own (as `dup` of a door descriptor does).
    pub fn try_clone(&self) -> io::Result<Client> {
        let fd = imp::duplicate(self.fd.as_raw_fd()).map_err(err)?;
        // SAFETY: duplicate returned a new descriptor that nothing else owns.
        Ok(Client { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }
}

impl AsFd for Client {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Client {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl From<Client> for OwnedFd {
    fn from(c: Client) -> OwnedFd {
        c.fd
    }
}

impl TryFrom<OwnedFd> for Client {
    type Error = io::Error;
    fn try_from(fd: OwnedFd) -> io::Result<Client> {
        Client::from_fd(fd)
    }
}

/// A call's arguments: bytes and descriptors.
#[derive(Debug, Default)]
pub struct Args<'a> {
    data: &'a [u8],
    fds: Vec<Passed<'a>>,
}

impl<'a> Args<'a> {
    /// Arguments carrying `data`.
    pub fn new(data: &'a [u8]) -> Args<'a> {
        Args { data, fds: Vec::new() }
    }

    /// Adds a descriptor of which the server gets a copy; yours stays open.
    pub fn fd(mut self, fd: BorrowedFd<'a>) -> Args<'a> {
        self.fds.push(Passed::Lent(fd));
        self
    }

    /// Adds a descriptor that is passed and then closed (illumos'
    /// `DOOR_RELEASE`). It is closed when the call ends, even if the call
    /// failed before the server got it.
    pub fn give_fd(mut self, fd: OwnedFd) -> Args<'a> {
        self.fds.push(Passed::Given(fd));
        self
    }
}

impl<'a> From<&'a [u8]> for Args<'a> {
    fn from(data: &'a [u8]) -> Args<'a> {
        Args::new(data)
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for Args<'a> {
    fn from(data: &'a [u8; N]) -> Args<'a> {
        Args::new(data)
    }
}

impl<'a> From<&'a Vec<u8>> for Args<'a> {
    fn from(data: &'a Vec<u8>) -> Args<'a> {
        Args::new(data)
    }
}

impl<'a> From<&'a str> for Args<'a> {
    fn from(data: &'a str) -> Args<'a> {
        Args::new(data.as_bytes())
    }
}

/// Where a call's results were placed.
enum Placed {
    /// In the caller's buffer: this many data bytes at its start.
    InBuffer(usize),
    Mapped(Mapping),
}

/// Results that did not fit: a mapping libdoor made, ours to unmap.
#[derive(Debug)]
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    /// How many data bytes are at its start.
    data: usize,
}

// SAFETY: the mapping is private memory owned by this value alone.
unsafe impl Send for Mapping {}
// SAFETY: only read through &self.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len is the mapping door_call made, used by nobody else.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[derive(Debug)]
enum Data<'b> {
    Borrowed(&'b [u8]),
    Owned(Vec<u8>),
    Mapped(Mapping),
}

/// A call's results: data (in your buffer, an owned buffer, or a fresh
/// mapping that is unmapped when the `Reply` is dropped) and the
/// descriptors the server passed, now yours.
#[derive(Debug)]
pub struct Reply<'b> {
    data: Data<'b>,
    fds: Vec<OwnedFd>,
}

impl Reply<'_> {
    /// The result bytes.
    pub fn data(&self) -> &[u8] {
        match &self.data {
            Data::Borrowed(d) => d,
            Data::Owned(v) => v,
            // SAFETY: the mapping holds at least `data` initialised bytes
            // and lives as long as self.
            Data::Mapped(m) => unsafe { std::slice::from_raw_parts(m.ptr.as_ptr(), m.data) },
        }
    }

    /// The descriptors the server passed.
    pub fn fds(&self) -> &[OwnedFd] {
        &self.fds
    }

    /// Takes the descriptors the server passed.
    pub fn take_fds(&mut self) -> Vec<OwnedFd> {
        std::mem::take(&mut self.fds)
    }

    /// The results did not fit the buffer offered and arrived in a fresh
    /// mapping (unmapped on drop).
    pub fn is_mapped(&self) -> bool {
        matches!(self.data, Data::Mapped(_))
    }

    /// The address and length of the fresh mapping, if there is one (for
    /// tests: it is unmapped when the `Reply` is dropped).
    pub fn mapping(&self) -> Option<(*const u8, usize)> {
        match &self.data {
            Data::Mapped(m) => Some((m.ptr.as_ptr(), m.len)),
            _ => None,
        }
    }
}

impl std::ops::Deref for Reply<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.data()
    }
}
