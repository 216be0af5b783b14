//! illumos doors for Linux, from Rust.
//!
//! A *door* is a procedure in a server process that clients call
//! synchronously, passing bytes and open descriptors both ways. This crate
//! is the safe Rust face of libdoor, which implements the illumos doors API
//! in userspace on Linux; it links libdoor's internals directly (no
//! `libdoor.so` needed), and its doors talk to C programs that use the
//! illumos API through `libdoor.so`, in either role.
//!
//! - Server: [`Door::create`] turns a closure into a door; the closure
//!   receives a [`Request`] (the caller's bytes and descriptors) and
//!   returns a [`Response`]. [`Door::attach`] makes the door reachable at a
//!   path (`fattach`) until the returned [`Attachment`] is dropped.
//! - Client: [`Client::open`] opens an attached path; [`Client::call`]
//!   returns an owned [`Reply`], [`Client::call_into`] places the results in
//!   a buffer of yours when they fit. Results that do not fit arrive in a
//!   fresh mapping, unmapped when the `Reply` is dropped.
//! - Descriptors travel as [`OwnedFd`](std::os::fd::OwnedFd) (given away:
//!   closed once sent, illumos' `DOOR_RELEASE`) or
//!   [`BorrowedFd`](std::os::fd::BorrowedFd) (a copy is sent; yours stays
//!   open). Descriptors received are `OwnedFd`s of the receiver.
//! - [`Client::info`] and [`Door::info`] give `door_info` as a [`DoorInfo`].
//!
//! ```
//! use libdoor::{Door, Response};
//!
//! // The server: answers each call with its bytes doubled.
//! let door = Door::create(|req| Response::new(req.data().iter().map(|b| b * 2).collect::<Vec<u8>>()))?;
//!
//! // A client; in another process it would be `Client::open(path)` of a
//! // path the server attached with `door.attach(path)`.
//! let client = door.client()?;
//! let reply = client.call(&[1u8, 2, 3])?;
//! assert_eq!(reply.data(), [2, 4, 6]);
//!
//! // Results go into your buffer when they fit.
//! let mut buf = [0u8; 16];
//! let reply = client.call_into(&[5u8], &mut buf)?;
//! assert_eq!(reply.data(), [10]);
//! assert!(!reply.is_mapped());
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Server procedures run on libdoor's server threads, several at a time;
//! they must not call `pthread_exit` or enable thread cancellation. A
//! procedure that panics answers its caller with `EINTR`, as illumos does
//! when a server thread dies during a call, and its thread goes on serving.
//!
//! Like a C program linked with `-ldoor`, a program using this crate gets
//! libdoor's `open`, `stat` and `dup` families for its own calls (Rust's
//! `std` included): `File::open` of an attached path gives a door, `fstat`
//! of a door says `S_IFDOOR`, and `OwnedFd::try_clone` of a door descriptor
//! makes a reference of its own. Do not also load `libdoor.so` into the
//! same process (by `LD_PRELOAD` or a C library linked with `-ldoor`): there
//! would be two libdoors with separate state.

mod attach;
mod client;
mod info;
mod server;

pub use attach::{Attachment, detach};
pub use client::{Args, Client, Reply};
pub use info::{Attributes, DoorInfo};
pub use server::{Credentials, Door, Request, Response};

/// An `io::Error` from libdoor's errno.
fn err(e: door::rust::Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.0)
}
