//! `open` of an attached path: the door's server is asked for a descriptor
//! on a connection to the attachment (attach.rs), and `open` waits for its
//! answer.
//!
//! The C `open` interposers (`csrc/interpose.c`) drive it through
//! `OpenOps`: `begin_open` connects and asks, C waits for the answer as a
//! cancellation point (a thread cancelled there unwinds no Rust frame),
//! then `Opening::answered` takes it. If the attachment's queue of
//! connections is full (its server is stopped), C also makes the waiting
//! `connect` itself. Rust callers (`rust::open`) use
//! `open_door`, which waits here.

use std::ffi::{CStr, CString};

use libc::{c_char, c_int};

use crate::abi::*;
use crate::attach::{Meta, attachment_at, read_answer};
use crate::descriptors;
use crate::label::{self, Identity};
use crate::sys::{self, Errno, Fd, Result};
use crate::trace::trace;
use crate::wire::{self, Kind, Msg};

/// Result of trying a path that libc could not open (`ENXIO`: a socket).
pub enum Opened {
    Door(c_int),
    NotADoor,
}

/// How far `open` of an attached path has come.
pub enum OpenStep {
    Done(Opened),
    /// Asked the server for a descriptor: wait until `conn()` is readable,
    /// then `answered`.
    Asking(Box<Opening>),
    /// The attachment's queue of connections is full (its server accepts
    /// none: it is stopped): connect `conn()` to `/proc/self/fd/N`, N being
    /// `target()`, waiting for room, then `answered`.
    Connecting(Box<Opening>),
}

/// An `open` of an attached path that has asked the door's server for a
/// descriptor. The wait for the answer is left to the caller: the C `open`
/// waits as a cancellation point (`interpose.c`), Rust's in `open_door`.
/// Dropping it gives the open up: its connection closes, and a descriptor
/// the server sent on it meanwhile is closed with it by the kernel.
pub struct Opening {
    /// The attachment's socket, held so that every attempt reaches it.
    opath: Fd,
    meta: Meta,
    flags: c_int,
    path: CString,
    attempts: u32,
    conn: Fd,
    /// Whether `conn` is connected and the Open sent.
    connected: bool,
    /// Sending the Open failed so: a server whose descriptor table is full
    /// answers before our message arrives and hangs up, so its answer is
    /// read all the same, and this is the error if there is none.
    send_failed: Option<Errno>,
}

/// How long a signal caught while `open` waits for the server's answer
/// leaves the wait going. A live server answers within microseconds, and
/// on illumos `open` of a door never waits at all, so programs do not
/// expect `EINTR` from it; a server that says nothing for this long is
/// stopped or hostile, and then a caught signal ends the wait (`EINTR`,
/// unless its handler asks for restarts, `SA_RESTART`).
pub const OPEN_PATIENCE: std::time::Duration = descriptors::ANSWER_WAIT;

/// `open(2)` of an attached path: a door descriptor at the lowest free
/// number, close-on-exec only if `O_CLOEXEC` was asked. A dead server's
/// attachment still opens, as a revoked door. Waits for the server's
/// answer here; see `OPEN_PATIENCE` for signals.
pub fn open_door(dirfd: c_int, path: *const libc::c_char, flags: c_int) -> Result<Opened> {
    let mut step = begin_open(dirfd, path, flags)?;
    loop {
        match step {
            OpenStep::Done(opened) => return Ok(opened),
            OpenStep::Asking(opening) => {
                await_answer(opening.conn())?;
                step = (*opening).answered()?;
            }
            OpenStep::Connecting(opening) => {
                await_room(opening.conn(), opening.target())?;
                step = (*opening).answered()?;
            }
        }
    }
}

/// The wait of `open_door` (and of `fattach` for its server's answer):
/// until `conn` is readable (or in error); a caught signal ends it only
/// after `OPEN_PATIENCE`, and only if its handler does not ask for
/// restarts (the kernel restarts a blocking `recv` for those).
/// `interpose.c` waits the same way in C. (Waiting for the hang-up that
/// follows the answer instead, `POLLRDHUP`, which wakes the opener once
/// instead of twice, was no faster: 75.6-97.1 us an `open` against
/// 73.6-80.8 us, and on one CPU 61.3-63.2 against 59.8-61.6 us, in
/// alternating runs; waking at the answer lets the opener's work overlap
/// the server's closing.)
pub fn await_answer(conn: c_int) -> Result<()> {
    let end = std::time::Instant::now() + OPEN_PATIENCE;
    loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        match sys::poll_for(conn, libc::POLLIN, left) {
            Err(Errno(libc::EINTR)) | Ok(0) => {}
            _ => return Ok(()),
        }
    }
    match sys::peek_blocking(conn) {
        Err(Errno(libc::EINTR)) => Err(Errno(libc::EINTR)),
        _ => Ok(()),
    }
}

/// The wait of `open_door` for room in a full queue of connections: a
/// blocking `connect`, which signals end as they end `await_answer`.
/// `interpose.c` waits the same way in C.
fn await_room(conn: c_int, target: c_int) -> Result<()> {
    let end = std::time::Instant::now() + OPEN_PATIENCE;
    let name = format!("/proc/self/fd/{target}");
    loop {
        match sys::connect_once(conn, name.as_bytes()) {
            Err(Errno(libc::EINTR)) if std::time::Instant::now() < end => {}
            Err(Errno(libc::EINTR)) => return Err(Errno(libc::EINTR)),
            // Connected, or failed: `answered` connects again and sees which.
            _ => return Ok(()),
        }
    }
}

/// The first step of `open` of `path`, which libc could not open: not a
/// door, a dead server's door, or the server asked.
pub fn begin_open(dirfd: c_int, path: *const libc::c_char, flags: c_int) -> Result<OpenStep> {
    if path.is_null() {
        return Ok(OpenStep::Done(Opened::NotADoor));
    }
    // SAFETY: path is NUL-terminated (libc already used it).
    let cpath = unsafe { CStr::from_ptr(path) };
    // (libdoor's own while `open` holds it: a child that another thread
    // forks meanwhile does not keep it. Outside the fork fence: a path's
    // lookup may wait on a slow file system, and a fork must not.)
    let opath = sys::openat(dirfd, cpath, libc::O_PATH | (flags & libc::O_NOFOLLOW), 0).inspect(sys::mark_internal);
    let Ok(opath) = opath else {
        return Ok(OpenStep::Done(Opened::NotADoor));
    };
    let Some(meta) = attachment_at(dirfd, cpath, opath.raw()) else { return Ok(OpenStep::Done(Opened::NotADoor)) };
    ask(opath, meta, flags, cpath.to_owned(), 0)
}

/// Asks the attachment's server for a descriptor (attempt number
/// `attempts`) on a new connection.
fn ask(opath: Fd, meta: Meta, flags: c_int, path: CString, attempts: u32) -> Result<OpenStep> {
    let conn = sys::seqpacket_socket()?;
    Opening { opath, meta, flags, path, attempts, conn, connected: false, send_failed: None }.connect()
}

impl Opening {
    /// The connection the answer comes on.
    pub fn conn(&self) -> c_int {
        self.conn.raw()
    }

    /// The attachment's socket, which `conn()` connects to as
    /// `/proc/self/fd/N`.
    pub fn target(&self) -> c_int {
        self.opath.raw()
    }

    /// Connects without waiting, and sends Open. A full queue of
    /// connections is left to the caller to wait out (`Connecting`): a
    /// blocking `connect` here could be neither interrupted nor cancelled.
    fn connect(mut self) -> Result<OpenStep> {
        match sys::connect_nonblocking(&self.conn, format!("/proc/self/fd/{}", self.opath.raw()).as_bytes()) {
            // (Already connected: by the wait for room.)
            Ok(()) | Err(Errno(libc::EISCONN)) => {}
            Err(Errno(libc::EAGAIN)) => return Ok(OpenStep::Connecting(Box::new(self))),
            // No server listens: it died.
            Err(Errno(libc::ECONNREFUSED)) => {
                let Opening { opath, meta, flags, path, conn, .. } = self;
                let door = dead_door(&meta, flags)?;
                drop((conn, opath));
                return opened(door, &meta, flags, &path);
            }
            Err(e) => return Err(e),
        }
        let mut m = Msg::new(Kind::Open);
        m.d = self.flags as u32;
        self.send_failed = sys::send_with_fds(self.conn.raw(), &m.encode(), &[]).err();
        self.connected = true;
        Ok(OpenStep::Asking(Box::new(self)))
    }

    /// Takes the server's answer, once `conn()` is readable (or in error):
    /// the descriptor, the server's refusal, or a new attempt. After a wait
    /// for room (`Connecting`), connects again instead.
    pub fn answered(self) -> Result<OpenStep> {
        if !self.connected {
            return self.connect();
        }
        let Opening { opath, meta, flags, path, attempts, conn, send_failed, .. } = self;
        let answer = read_answer(&conn).map_err(|e| send_failed.unwrap_or(e));
        match answer {
            // Disconnected before an answer: a live server under a flood of
            // silent connections drops the oldest that has said nothing,
            // which may be ours if it accepted us before our Open arrived;
            // connect again (a dead server refuses the connection). Or the
            // server died between our connect and its answer.
            Err(Errno(libc::ECONNRESET | libc::EPIPE)) if attempts < 8 => {
                drop(conn);
                ask(opath, meta, flags, path, attempts + 1)
            }
            Err(Errno(libc::ECONNRESET | libc::EPIPE)) => {
                let door = dead_door(&meta, flags)?;
                drop((conn, opath));
                opened(door, &meta, flags, &path)
            }
            Err(e) => Err(e),
            Ok((reply, mut fds)) => {
                if reply.d != 0 {
                    return Err(Errno(wire::peer_errno(reply.d.into())));
                }
                let door = fds.pop().ok_or(Errno(libc::EPROTO))?;
                if label::door_id(door.raw()) != Ok(meta.uniq) {
                    return Err(Errno(libc::EPROTO));
                }
                descriptors::await_peer_close(&conn);
                drop((conn, opath));
                opened(door, &meta, flags, &path)
            }
        }
    }
}

/// The end of a successful `open`: `door` placed where `open` puts it
/// (the caller has closed what it opened on the way, so that the lowest
/// free number is the one `open` would have chosen).
fn opened(door: Fd, meta: &Meta, flags: c_int, path: &CStr) -> Result<OpenStep> {
    let fd = place(door, flags)?;
    trace!("open door={:016x} fd={fd} path={path:?}", meta.uniq);
    Ok(OpenStep::Done(Opened::Door(fd)))
}

/// Moves a new door descriptor to the lowest free number, as `open` would
/// have chosen, close-on-exec only if `O_CLOEXEC` was asked.
fn place(door: Fd, flags: c_int) -> Result<c_int> {
    let fd = sys::dupfd(door.raw(), 0, flags & libc::O_CLOEXEC != 0)?;
    crate::fdmemo::handed_out(fd);
    // Closed now, not on the reaper thread: `open` leaves no descriptor
    // behind when it returns.
    sys::close_duplicated(door);
    Ok(fd)
}

/// A descriptor for a door whose server is gone: a socket pair end whose
/// peer is closed, labelled with the recorded id, its nameplate saying
/// "revoked, no server". The recorded permissions still apply.
fn dead_door(meta: &Meta, flags: c_int) -> Result<Fd> {
    // SAFETY: these getters cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let groups = || {
        let mut groups = vec![0 as libc::gid_t; 1024];
        // SAFETY: groups is writable for its length.
        let n = unsafe { libc::getgroups(groups.len() as c_int, groups.as_mut_ptr()) };
        groups.truncate(n.max(0) as usize);
        groups
    };
    let acc = flags & libc::O_ACCMODE;
    let (read, write) = (acc != libc::O_WRONLY, acc != libc::O_RDONLY);
    if !meta.perm().allows(uid, gid, groups, read, write) {
        return Err(Errno(libc::EACCES));
    }
    let (client, server) = sys::door_pair()?;
    label::bind(&client, meta.uniq)?;
    label::put_nameplate(&server, Identity { uniq: meta.uniq, proc_: 0, cookie: 0, pid: -1, attributes: DOOR_REVOKED, seal: 0 })?;
    Ok(client)
}

/// What the C `open` interposers call once libc failed with `ENXIO` (the
/// path is a socket): `begin`, then, while the door's server is asked,
/// `answered` each time the connection is readable (or, when the
/// attachment's queue was full, once C has connected it to `target`), or
/// `abandon` when the wait is cut short (a signal, cancellation).
/// `interpose.c` waits in C so that the wait is a cancellation point and
/// cancelling unwinds no Rust frame. Mirrored by `struct open_ops` there.
#[repr(C)]
struct OpenOps {
    begin: extern "C" fn(c_int, *const c_char, c_int, *mut *mut Opening, *mut c_int) -> c_int,
    answered: extern "C" fn(*mut Opening, *mut *mut Opening, *mut c_int) -> c_int,
    abandon: extern "C" fn(*mut Opening),
    target: extern "C" fn(*const Opening) -> c_int,
}

static OPEN_OPS: OpenOps =
    OpenOps { begin: open_begin, answered: open_answered, abandon: open_abandon, target: open_target };

/// The hooks' results besides a descriptor (>= 0) and -1 with errno.
const NOT_A_DOOR: c_int = -2;
const ASKING: c_int = -3;
const CONNECTING: c_int = -4;

unsafe extern "C" {
    fn libdoor_set_open_ops(ops: *const OpenOps);
}

/// Lets the C `open` interposers ask for doors; until this runs (from the
/// library's initialiser) they report what libc reports.
pub fn install() {
    // SAFETY: OPEN_OPS is a static with the layout of `struct open_ops`.
    unsafe { libdoor_set_open_ops(&OPEN_OPS) };
}

/// `begin_open`: a door descriptor, -1 with errno, `NOT_A_DOOR`
/// (the caller restores `ENXIO`), or `ASKING` (`CONNECTING`) with the open
/// in flight in `*opening` and the connection to wait on (to connect) in
/// `*conn`.
extern "C" fn open_begin(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    opening: *mut *mut Opening,
    conn: *mut c_int,
) -> c_int {
    outcome(std::panic::catch_unwind(|| begin_open(dirfd, path, flags)), opening, conn)
}

/// `Opening::answered` on the open `open_begin` (or an earlier call of
/// this) handed out, which this takes back; results as `open_begin`'s.
extern "C" fn open_answered(taken: *mut Opening, opening: *mut *mut Opening, conn: *mut c_int) -> c_int {
    // SAFETY: `taken` came from Box::into_raw in `outcome`, and C hands
    // each such pointer back exactly once (here or to `open_abandon`).
    let taken = unsafe { Box::from_raw(taken) };
    outcome(std::panic::catch_unwind(move || (*taken).answered()), opening, conn)
}

/// `Opening::target` of an open in flight.
extern "C" fn open_target(opening: *const Opening) -> c_int {
    // SAFETY: `opening` came from Box::into_raw in `outcome` and C has not
    // handed it back yet.
    unsafe { (*opening).target() }
}

/// Gives up the open in flight (its connection closes).
extern "C" fn open_abandon(taken: *mut Opening) {
    // SAFETY: as in `open_answered`.
    let taken = unsafe { Box::from_raw(taken) };
    let _ = std::panic::catch_unwind(move || drop(taken));
}

fn outcome(step: std::thread::Result<Result<OpenStep>>, opening: *mut *mut Opening, conn: *mut c_int) -> c_int {
    match step {
        Ok(Ok(OpenStep::Done(Opened::Door(fd)))) => fd,
        Ok(Ok(OpenStep::Done(Opened::NotADoor))) | Err(_) => NOT_A_DOOR,
        Ok(Ok(OpenStep::Asking(o))) => hand_over(o, opening, conn, ASKING),
        Ok(Ok(OpenStep::Connecting(o))) => hand_over(o, opening, conn, CONNECTING),
        Ok(Err(e)) => {
            sys::set_errno(e);
            -1
        }
    }
}

/// Gives C the open in flight and its connection; returns `step`.
fn hand_over(o: Box<Opening>, opening: *mut *mut Opening, conn: *mut c_int, step: c_int) -> c_int {
    // SAFETY: C passes pointers to two variables of its own.
    unsafe {
        *conn = o.conn();
        *opening = Box::into_raw(o);
    }
    step
}
