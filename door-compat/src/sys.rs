//! Raw system calls: the only way libdoor's own code touches descriptors.
//!
//! They go through `syscall(2)` rather than libc's wrappers for two
//! reasons. libc's `sendmsg`, `recvmsg`, `poll`, `connect`, `read` and the
//! like are pthread cancellation points, and a cancellation acting inside
//! them would unwind through Rust frames (which aborts): a server procedure
//! with cancellation enabled calls `door_return`, and a client cancelled in
//! `door_call` runs our code too; only `csrc/door_loop.c` acts on
//! cancellation, with C frames alone. And libdoor interposes `open`, the
//! `stat` family and `dup`, so its own I/O must never go through those libc
//! names. Errors are `Errno` values, turned into `-1` and `errno` only at
//! the C boundary.

use std::mem::{MaybeUninit, size_of};
use std::sync::atomic::{AtomicU64, Ordering};

use libc::{c_int, c_void};

/// An `errno` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub c_int);

pub type Result<T> = std::result::Result<T, Errno>;

impl Errno {
    /// The calling thread's current `errno`.
    pub fn last() -> Errno {
        // SAFETY: __errno_location returns this thread's errno slot, always valid.
        Errno(unsafe { *libc::__errno_location() })
    }
}

/// Sets the calling thread's `errno`.
pub fn set_errno(e: Errno) {
    // SAFETY: __errno_location returns this thread's errno slot, always valid.
    unsafe { *libc::__errno_location() = e.0 };
}

/// Turns a libc-style `-1` return into `Err(errno)`.
fn check(r: libc::c_long) -> Result<libc::c_long> {
    if r < 0 { Err(Errno::last()) } else { Ok(r) }
}

/// Retries a system call interrupted by a signal handler.
fn retry(mut f: impl FnMut() -> libc::c_long) -> Result<libc::c_long> {
    loop {
        match check(f()) {
            Err(Errno(libc::EINTR)) => continue,
            r => return r,
        }
    }
}

/// Closes `fd` without passing through libc's (possibly interposed) `close`.
pub fn close_raw(fd: c_int) {
    // SAFETY: closing a descriptor number has no memory-safety effect; callers
    // only pass descriptors they own.
    unsafe { libc::syscall(libc::SYS_close, fd as libc::c_long) };
}

/// Duplicates `fd` onto the lowest free number >= `min`, close-on-exec if asked.
pub fn dupfd(fd: c_int, min: c_int, cloexec: bool) -> Result<c_int> {
    let cmd = if cloexec { libc::F_DUPFD_CLOEXEC } else { libc::F_DUPFD };
    // SAFETY: fcntl(F_DUPFD*) only creates a descriptor; no memory is passed.
    check(unsafe { libc::syscall(libc::SYS_fcntl, fd as libc::c_long, cmd as libc::c_long, min as libc::c_long) })
        .map(|r| r as c_int)
}

/// `dup3(2)` without passing through libc's (interposed) `dup3`.
pub fn dup3(old: c_int, new: c_int, flags: c_int) -> Result<()> {
    // SAFETY: dup3 only manipulates the descriptor table.
    retry(|| unsafe { libc::syscall(libc::SYS_dup3, old as libc::c_long, new as libc::c_long, flags as libc::c_long) })
        .map(drop)
}

/// `fcntl(fd, cmd, arg)` for integer commands, without libc's `fcntl`.
pub fn fcntl_int(fd: c_int, cmd: c_int, arg: c_int) -> Result<c_int> {
    // SAFETY: the integer fcntl commands used here take no pointers.
    check(unsafe { libc::syscall(libc::SYS_fcntl, fd as libc::c_long, cmd as libc::c_long, arg as libc::c_long) })
        .map(|r| r as c_int)
}

/// `openat(2)` without passing through libc's (interposed) `openat`.
pub fn openat(dirfd: c_int, path: &std::ffi::CStr, flags: c_int, mode: libc::mode_t) -> Result<Fd> {
    // SAFETY: path is a valid NUL-terminated string for the duration of the call.
    retry(|| unsafe {
        libc::syscall(
            libc::SYS_openat,
            dirfd as libc::c_long,
            path.as_ptr(),
            (flags | libc::O_CLOEXEC) as libc::c_long,
            mode as libc::c_long,
        )
    })
    .map(|fd| Fd(fd as c_int))
}

/// An owned descriptor, closed with a raw `close` when dropped.
#[derive(Debug)]
pub struct Fd(c_int);

impl Fd {
    /// Takes ownership of `fd`.
    ///
    /// # Safety
    /// `fd` must be an open descriptor that nothing else will close.
    pub unsafe fn from_raw(fd: c_int) -> Fd {
        Fd(fd)
    }
    pub fn raw(&self) -> c_int {
        self.0
    }
    /// Gives up ownership without closing (to the application, when it
    /// came from another process).
    pub fn into_raw(self) -> c_int {
        let fd = self.0;
        FOREIGN_FDS.remove(fd);
        unmark_internal(fd);
        std::mem::forget(self);
        fd
    }

    /// Hands a descriptor received from another process to the
    /// application, as illumos does: no longer close-on-exec (it was
    /// received close-on-exec, and libdoor's own, so that no program that
    /// another thread spawned meanwhile, nor a forked child, kept it).
    pub fn give_to_application(self) -> c_int {
        // SAFETY: fcntl(F_SETFD) takes no pointers; the descriptor is ours.
        unsafe { libc::fcntl(self.0, libc::F_SETFD, 0) };
        self.into_raw()
    }
}

/// Closes `fd` at once, even if it came from another process: a duplicate
/// of it stays open, so its close releases nothing and cannot block.
pub fn close_duplicated(fd: Fd) {
    close_raw(fd.into_raw());
}

/// Closes `fd` on the reaper thread, after every descriptor queued there
/// before it: a peer that waits for `fd`'s end of file then knows that
/// those are closed too.
pub fn close_after_queued(fd: Fd) {
    FOREIGN_FDS.remove(fd.0);
    mark_internal(&fd);
    let raw = fd.0;
    std::mem::forget(fd);
    reaper::close_later(raw);
}

impl Drop for Fd {
    fn drop(&mut self) {
        if FOREIGN_FDS.take(self.0) && !closes_at_once(self.0) {
            reaper::close_later(self.0);
        } else {
            close_internal(self.0);
        }
    }
}

/// Closes `fd`, libdoor's, forgetting it as such first: once closed, its
/// number may be another thread's, marked by it.
fn close_internal(fd: c_int) {
    unmark_internal(fd);
    close_raw(fd);
}

// ---------------------------------------------------------------------------
// Descriptors from other processes.
//
// Closing a descriptor can block: a TCP socket with SO_LINGER and unsent
// data waits up to its linger time, a file on FUSE or NFS waits for its
// server. A peer may send such a descriptor where we expect something else,
// so every descriptor received is marked foreign until handed to the
// application, and a foreign one we drop is closed by the reaper thread
// unless it is of a kind whose close never waits (a socket other than a
// local one is made such a kind: its linger is turned off). A close that
// waits holds up only the reaper thread making it (see `reaper`).

static FOREIGN_FDS: FdSet = FdSet::new();

/// Whether closing `fd` cannot block: a pipe (it answers F_GETPIPE_SZ),
/// a memfd (F_GET_SEALS), or a socket of another family than AF_UNIX once
/// its linger is off (`lingers_no_more`). Not a local socket: descriptors
/// in flight in its queue are released with it (a lingering TCP socket
/// among them waits out its linger in our close). Anything else (an
/// eventfd too, whose close never blocks) is told apart only by `fstat`,
/// which on a FUSE file waits for its daemon, so it goes to the reaper.
fn closes_at_once(fd: c_int) -> bool {
    fcntl_int(fd, libc::F_GET_SEALS, 0).is_ok() || fcntl_int(fd, libc::F_GETPIPE_SZ, 0).is_ok() || lingers_no_more(fd)
}

/// Turns `SO_LINGER` off on a socket other than a local one, if `fd` is
/// one: its close then returns at once, and the kernel sends what is left
/// in the background. A sender's TCP (or SCTP, vsock...) socket with
/// unsent data and a linger of an hour would otherwise hold the closing
/// thread that long, and with it every descriptor queued behind it.
fn lingers_no_more(fd: c_int) -> bool {
    if !matches!(sockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN), Ok(d) if d != libc::AF_UNIX) {
        return false;
    }
    let off = libc::linger { l_onoff: 0, l_linger: 0 };
    // SAFETY: off is a valid linger for the call's length.
    let r = unsafe {
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, (&raw const off).cast(), size_of::<libc::linger>() as u32)
    };
    r == 0
}

/// A socket pair for one answer from another process: (ours, the end
/// sent with the request). Ours never sends, and its sending side is shut
/// down before the other end leaves, so the answerer can tell with one
/// look that nothing is queued in that end nor ever can be, and close it
/// at once (`close_answered`).
pub fn reply_pair() -> Result<(Fd, Fd)> {
    let (mine, theirs) = internal_pair()?;
    // SAFETY: shutdown takes no pointers; mine is our descriptor.
    check(unsafe { libc::shutdown(mine.raw(), libc::SHUT_WR) } as libc::c_long)?;
    Ok((mine, theirs))
}

/// Closes `sock`, a reply socket another process sent with a request,
/// once answered. As any foreign descriptor (`Drop`) it would go to the
/// reaper thread, since its close releases what is queued in it (a
/// lingering TCP socket in flight there waits out its linger in that
/// close); and the answered process waits for this close
/// (`descriptors::await_peer_close`), so that hop, a wake-up of the reaper
/// and then of the process, lay on every `dup`, `door_info` and `fork` of
/// a door descriptor. When `holds_nothing_for_good` it is closed here.
pub fn close_answered(sock: Fd) {
    if holds_nothing_for_good(&sock) {
        FOREIGN_FDS.take(sock.raw());
    }
    drop(sock);
}

/// Whether `sock` is a local seqpacket socket with nothing queued whose
/// receiving side is shut down (its peer shut its sending side,
/// `reply_pair`): every send to it then fails, so nothing ever will be
/// queued, and its close releases nothing that could wait. With
/// credentials asked for, every queued message, even an empty one without
/// descriptors, reports `MSG_CTRUNC` to a look that offers no room for
/// them; an empty queue reads as end of file (0) once the receiving side
/// is shut down, and `EAGAIN` while it is not.
fn holds_nothing_for_good(sock: &Fd) -> bool {
    let fd = sock.raw();
    matches!(sockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN), Ok(libc::AF_UNIX))
        && matches!(sockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE), Ok(libc::SOCK_SEQPACKET))
        && pass_credentials(sock).is_ok()
        && peek_flags(fd) == Ok((0, 0))
}

/// `peek_byte` without waiting, with the message's `MSG_CTRUNC` flag
/// (`recvmsg`, which `recvfrom` cannot tell it: a blocking `peek_byte`
/// stays a `recvfrom`, where `tests/c/stopped_server.c` expects a waiting
/// `open` or `fattach` to sleep).
fn peek_flags(sock: c_int) -> Result<(usize, c_int)> {
    let mut byte = 0u8;
    let mut iov = libc::iovec { iov_base: (&raw mut byte).cast(), iov_len: 1 };
    // SAFETY: msghdr is plain old data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    // SAFETY: msg describes one writable byte and no control buffer, so no
    // descriptor is received.
    let n = check(unsafe { libc::syscall(libc::SYS_recvmsg, sock, &raw mut msg, libc::MSG_PEEK | libc::MSG_DONTWAIT) })?;
    Ok((n as usize, msg.msg_flags & libc::MSG_CTRUNC))
}

/// The threads that close foreign descriptors whose close may block, so
/// that no server thread (nor the control thread) ever waits for one. Made
/// on first use, per process; a forked child makes its own.
///
/// A worker takes one descriptor at a time. Beside the workers waits a
/// standby thread, which sleeps while descriptors are taken promptly; when
/// the oldest one queued has waited `STALL` (every worker is in a close
/// that waits: a local socket carrying a lingering TCP socket, a file on a
/// stopped FUSE mount), it becomes a worker and leaves a new standby
/// behind, up to `MOST_THREADS`. So such a close holds up its own thread,
/// not every descriptor dropped after it, which would stay open in the
/// queue meanwhile; and a process whose closes never wait keeps one worker
/// and the standby (a thread started whenever no other was free grew every
/// forking server to eight on bursts of drops).
mod reaper {
    use std::collections::VecDeque;
    use std::sync::{Condvar, Mutex, MutexGuard};
    use std::time::{Duration, Instant};

    use libc::c_int;

    use crate::perprocess::PerProcess;

    /// At most this many closes wait at once before the queue waits too.
    const MOST_THREADS: usize = 8;
    /// How long the oldest queued descriptor waits before the standby
    /// takes it.
    const STALL: Duration = Duration::from_millis(10);

    struct Queue {
        /// Each with the time it was queued.
        fds: VecDeque<(c_int, Instant)>,
        /// Workers waiting for a descriptor.
        idle: usize,
        /// Workers and the standby.
        threads: usize,
    }

    struct Reaper {
        queue: Mutex<Queue>,
        /// For the workers: a descriptor was queued.
        more: Condvar,
        /// For the standby: a descriptor waits and no worker was free.
        stalled: Condvar,
    }

    static REAPER: PerProcess<Reaper> = PerProcess::new();

    fn reaper() -> Option<&'static Reaper> {
        let make = || Reaper {
            queue: Mutex::new(Queue { fds: VecDeque::new(), idle: 0, threads: 1 }),
            more: Condvar::new(),
            stalled: Condvar::new(),
        };
        REAPER.get("libdoor-reaper", make, first_worker)
    }

    fn lock(r: &Reaper) -> MutexGuard<'_, Queue> {
        r.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn first_worker(r: &'static Reaper) {
        // (Here, holding no lock: whoever queues a close may hold the
        // server table's.)
        start_standby(r);
        work(r);
    }

    fn work(r: &'static Reaper) {
        loop {
            let fd = {
                let mut q = lock(r);
                q.idle += 1;
                while q.fds.is_empty() {
                    q = r.more.wait(q).unwrap_or_else(|p| p.into_inner());
                }
                q.idle -= 1;
                let fd = q.fds.pop_front().map(|(fd, _)| fd);
                if !q.fds.is_empty() && q.idle == 0 {
                    r.stalled.notify_one();
                }
                fd
            };
            if let Some(fd) = fd {
                super::close_internal(fd);
            }
        }
    }

    /// Waits until the oldest queued descriptor has waited `STALL`, then
    /// works.
    fn stand_by(r: &'static Reaper) {
        let mut q = lock(r);
        loop {
            let waited = q.fds.front().map(|(_, since)| since.elapsed());
            q = match waited {
                None => r.stalled.wait(q).unwrap_or_else(|p| p.into_inner()),
                Some(w) if w < STALL => r.stalled.wait_timeout(q, STALL - w).unwrap_or_else(|p| p.into_inner()).0,
                Some(_) => break,
            };
        }
        drop(q);
        start_standby(r);
        work(r);
    }

    /// Starts a standby thread, unless there are `MOST_THREADS` already.
    fn start_standby(r: &'static Reaper) {
        {
            let mut q = lock(r);
            if q.threads >= MOST_THREADS {
                return;
            }
            q.threads += 1;
        }
        let started = std::thread::Builder::new().name("libdoor-reaper".into()).spawn(move || {
            crate::server::block_all_signals();
            stand_by(r)
        });
        if started.is_err() {
            lock(r).threads -= 1;
        }
    }

    /// Closes `fd` on a reaper thread (here, if none can be had). It stays
    /// marked libdoor's own until then: a child forked while it waits in
    /// the queue closes its copy at once (`close_internal_after_fork`),
    /// where it would otherwise hold the peer's end of file back for its
    /// whole life, and the application's `closefrom` leaves it open,
    /// where it would otherwise free the number for the application's
    /// next descriptor, which the reaper would then close.
    pub fn close_later(fd: c_int) {
        match reaper() {
            Some(r) => {
                let mut q = lock(r);
                q.fds.push_back((fd, Instant::now()));
                r.more.notify_one();
                if q.idle == 0 {
                    r.stalled.notify_one();
                }
            }
            None => super::close_internal(fd),
        }
    }
}

// ---------------------------------------------------------------------------
// Internal descriptors and fork.
//
// Every descriptor libdoor keeps for itself (server sockets, listeners,
// channels, epoll sets, and any queued for the reaper until it is closed)
// is close-on-exec, and is also recorded in this bitmap
// so that a forked child closes it at once (`close_internal_after_fork`): a
// child must never keep its parent's doors reachable, nor hold a client
// channel that its parent's thread still uses. The bitmap is lock-free
// because the child-side atfork handler may only do async-signal-safe work.
// Descriptors at or above `INTERNAL_FD_LIMIT` are moved below it. Each is
// made and recorded inside `forkfence::making`, so that no fork comes
// between the two.

/// A lock-free set of descriptor numbers below `FD_SET_LIMIT` (larger ones
/// are not recorded).
pub struct FdSet([AtomicU64; FD_SET_LIMIT / 64]);

const FD_SET_LIMIT: usize = 1 << 20;

impl FdSet {
    const fn new() -> FdSet {
        FdSet([const { AtomicU64::new(0) }; FD_SET_LIMIT / 64])
    }

    pub fn insert(&self, fd: c_int) {
        let fd = fd as usize;
        if fd < FD_SET_LIMIT {
            self.0[fd / 64].fetch_or(1 << (fd % 64), Ordering::Relaxed);
        }
    }

    fn remove(&self, fd: c_int) {
        self.take(fd);
    }

    /// Removes `fd`; whether it was there.
    fn take(&self, fd: c_int) -> bool {
        let fd = fd as usize;
        fd < FD_SET_LIMIT && self.0[fd / 64].fetch_and(!(1 << (fd % 64)), Ordering::Relaxed) & (1 << (fd % 64)) != 0
    }

    #[cfg(test)]
    fn contains(&self, fd: c_int) -> bool {
        let fd = fd as usize;
        fd < FD_SET_LIMIT && self.0[fd / 64].load(Ordering::Relaxed) & (1 << (fd % 64)) != 0
    }

    /// The lowest member at `from` or above. Atomics only.
    fn next_member(&self, from: c_int) -> Option<c_int> {
        let from = usize::try_from(from).ok()?;
        for i in from / 64..self.0.len() {
            let mut bits = self.0[i].load(Ordering::Relaxed);
            if i == from / 64 {
                bits &= !0u64 << (from % 64);
            }
            if bits != 0 {
                return Some((i * 64 + bits.trailing_zeros() as usize) as c_int);
            }
        }
        None
    }

    /// Empties the set, calling `f` on each member. Atomics only.
    pub fn drain(&self, mut f: impl FnMut(c_int)) {
        for (i, word) in self.0.iter().enumerate() {
            // (A swap is a locked exchange; most words are empty, and a
            // forked child drains 16,384 of them.)
            if word.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let mut bits = word.swap(0, Ordering::Relaxed);
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                f((i * 64 + bit) as c_int);
            }
        }
    }
}

static INTERNAL_FDS: FdSet = FdSet::new();

/// Door descriptors this process handed to the application (made, opened,
/// received, duplicated), so that a forked child can give each its own
/// reference (see `server::atfork_child`). Numbers the application has
/// closed since may linger here; they are checked before use.
pub static DOOR_FDS: FdSet = FdSet::new();

/// Records `fd` as libdoor's own.
pub fn mark_internal(fd: &Fd) {
    INTERNAL_FDS.insert(fd.raw());
}

fn unmark_internal(fd: c_int) {
    INTERNAL_FDS.remove(fd);
}

/// The lowest descriptor libdoor keeps for itself at `from` or above.
/// Atomics only (called from the `close_range` interposer, which may run
/// in a signal handler or a forked child).
pub fn next_internal(from: c_int) -> Option<c_int> {
    INTERNAL_FDS.next_member(from)
}

/// In a forked child: closes every descriptor libdoor owned in the parent,
/// and forgets which numbers held descriptors from other processes there.
/// Those were all libdoor's own (a received descriptor is foreign only
/// until handed to the application), so they are closed here too; a mark
/// left behind would send the child's next descriptor of that number,
/// its own channel's socket, say, to the reaper thread when dropped,
/// closed some time later instead of at once (a forked client briefly
/// held a ninth kept channel that way, `tests/c/thread_churn.c`).
/// Async-signal-safe: atomics and `close` only.
pub fn close_internal_after_fork() {
    INTERNAL_FDS.drain(close_raw);
    FOREIGN_FDS.drain(|_| {});
}

/// Wraps a fresh descriptor that libdoor keeps for itself.
pub fn internal(fd: c_int) -> Fd {
    let fd = Fd(fd);
    mark_internal(&fd);
    fd
}

// ---------------------------------------------------------------------------
// Sockets.

/// A connected pair of close-on-exec AF_UNIX SOCK_SEQPACKET sockets.
pub fn seqpacket_pair() -> Result<(Fd, Fd)> {
    let mut sv = [0 as c_int; 2];
    // SAFETY: sv is a valid 2-element array for socketpair to fill.
    check(unsafe {
        libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) as libc::c_long
    })?;
    Ok((Fd(sv[0]), Fd(sv[1])))
}

/// `seqpacket_pair`, both ends libdoor's own from the start: a child that
/// another thread forks meanwhile must not keep either (holding the
/// peer's end, it would keep the peer from ever seeing us hang up).
pub fn internal_pair() -> Result<(Fd, Fd)> {
    crate::forkfence::making(|| {
        let (a, b) = seqpacket_pair()?;
        mark_internal(&a);
        mark_internal(&b);
        Ok((a, b))
    })
}

/// A door's socket pair: (the client end, for the application; the
/// server end, libdoor's own from the start, see `internal_pair`).
pub fn door_pair() -> Result<(Fd, Fd)> {
    crate::forkfence::making(|| {
        let (client, server) = seqpacket_pair()?;
        mark_internal(&server);
        Ok((client, server))
    })
}

/// A new close-on-exec AF_UNIX SOCK_SEQPACKET socket, libdoor's own (an
/// attachment's listener, a connection to one).
pub fn seqpacket_socket() -> Result<Fd> {
    crate::forkfence::making(|| {
        // SAFETY: socket(2) takes no pointers.
        check(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) as libc::c_long })
            .map(|fd| internal(fd as c_int))
    })
}

/// Builds a `sockaddr_un` for `name` (a path, or an abstract name when it
/// starts with NUL) and its length.
pub fn sockaddr_un(name: &[u8]) -> Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: sockaddr_un is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let abstract_name = name.first() == Some(&0);
    // A path needs room for its terminating NUL; an abstract name does not.
    if name.len() + usize::from(!abstract_name) > addr.sun_path.len() {
        return Err(Errno(libc::ENAMETOOLONG));
    }
    for (dst, src) in addr.sun_path.iter_mut().zip(name) {
        *dst = *src as libc::c_char;
    }
    let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + name.len() + usize::from(!abstract_name);
    Ok((addr, len as libc::socklen_t))
}

pub fn bind(fd: &Fd, name: &[u8]) -> Result<()> {
    let (addr, len) = sockaddr_un(name)?;
    // SAFETY: addr is a valid sockaddr_un of length len.
    check(unsafe { libc::bind(fd.raw(), (&raw const addr).cast(), len) as libc::c_long }).map(drop)
}

pub fn connect(fd: &Fd, name: &[u8]) -> Result<()> {
    loop {
        match connect_once(fd.raw(), name) {
            Err(Errno(libc::EINTR)) => continue,
            r => return r,
        }
    }
}

/// `connect` without waiting for room in the listener's queue of
/// connections: `EAGAIN` when it is full. The socket stays blocking.
pub fn connect_nonblocking(fd: &Fd, name: &[u8]) -> Result<()> {
    fcntl_int(fd.raw(), libc::F_SETFL, libc::O_NONBLOCK)?;
    let r = connect(fd, name);
    fcntl_int(fd.raw(), libc::F_SETFL, 0)?;
    r
}

/// One `connect` of the blocking socket `fd`: waits for room in the
/// listener's queue, and a caught signal ends it (`EINTR`) unless its
/// handler asks for restarts.
pub fn connect_once(fd: c_int, name: &[u8]) -> Result<()> {
    let (addr, len) = sockaddr_un(name)?;
    // SAFETY: addr is a valid sockaddr_un of length len.
    check(unsafe { libc::syscall(libc::SYS_connect, fd, (&raw const addr), len) }).map(drop)
}

pub fn listen(fd: &Fd, backlog: c_int) -> Result<()> {
    // SAFETY: listen(2) takes no pointers.
    check(unsafe { libc::listen(fd.raw(), backlog) as libc::c_long }).map(drop)
}

/// Accepts a connection as a close-on-exec, non-blocking descriptor.
pub fn accept(fd: &Fd) -> Result<Fd> {
    crate::forkfence::making(|| {
        // SAFETY: NULL address pointers are allowed by accept4.
        let r = retry(|| unsafe {
            libc::syscall(
                libc::SYS_accept4,
                fd.raw(),
                std::ptr::null_mut::<libc::sockaddr>(),
                std::ptr::null_mut::<libc::socklen_t>(),
                libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            )
        })?;
        Ok(internal(r as c_int))
    })
}

/// Whether `fd`'s open file description is non-blocking (`O_NONBLOCK`).
pub fn is_nonblocking(fd: c_int) -> bool {
    fcntl_int(fd, libc::F_GETFL, 0).is_ok_and(|flags| flags & libc::O_NONBLOCK != 0)
}

/// The local address of a socket: `Err(ENOTSOCK)` or `Err(EBADF)` for other descriptors.
pub fn sockname(fd: c_int) -> Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: all-zero sockaddr_un is valid; len tells the kernel its size.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: addr/len describe a writable buffer of the stated size.
    check(unsafe { libc::getsockname(fd, (&raw mut addr).cast(), &mut len) as libc::c_long })?;
    Ok((addr, len))
}

/// An integer socket option.
pub fn sockopt_int(fd: c_int, level: c_int, name: c_int) -> Result<c_int> {
    let mut v: c_int = 0;
    let mut len = size_of::<c_int>() as libc::socklen_t;
    // SAFETY: v/len describe a writable int.
    check(unsafe { libc::getsockopt(fd, level, name, (&raw mut v).cast(), &mut len) as libc::c_long })?;
    Ok(v)
}

/// The kernel's record of who connected a socket (`SO_PEERCRED`).
pub fn peer_cred(fd: &Fd) -> Result<libc::ucred> {
    let mut v = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: v/len describe a writable ucred.
    check(unsafe {
        libc::getsockopt(fd.raw(), libc::SOL_SOCKET, libc::SO_PEERCRED, (&raw mut v).cast(), &mut len) as libc::c_long
    })?;
    Ok(v)
}

/// The supplementary groups of the process that connected a socket (`SO_PEERGROUPS`).
pub fn peer_groups(fd: &Fd) -> Result<Vec<libc::gid_t>> {
    let mut groups = vec![0 as libc::gid_t; 64];
    loop {
        let mut len = (groups.len() * size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: groups/len describe a writable buffer of the stated size.
        let r = unsafe {
            libc::getsockopt(fd.raw(), libc::SOL_SOCKET, libc::SO_PEERGROUPS, groups.as_mut_ptr().cast(), &mut len)
        };
        if r == 0 {
            groups.truncate(len as usize / size_of::<libc::gid_t>());
            return Ok(groups);
        }
        match Errno::last() {
            Errno(libc::ERANGE) if groups.len() < 65536 => {
                groups.resize((len as usize / size_of::<libc::gid_t>()).max(groups.len() * 2), 0)
            }
            e => return Err(e),
        }
    }
}

/// Most descriptors Linux carries in one SCM_RIGHTS message (`SCM_MAX_FD`).
pub const MAX_FDS_PER_MSG: usize = 253;

/// Sends one message with `fds` attached. Never raises SIGPIPE.
///
/// The reader is another process, which may never read: while the
/// socket's buffer is full this waits for room in `poll`, and a caught
/// signal ends that wait with `EINTR` (the kernel never restarts a `poll`
/// after a handler), as it ends a blocking `door_call`; a cancellation
/// acts once the caller is back in C. (A blocking `sendmsg` would be
/// restarted after an `SA_RESTART` handler, and is no cancellation point.)
pub fn send_with_fds(sock: c_int, bytes: &[u8], fds: &[c_int]) -> Result<()> {
    send_when_room(sock, bytes, fds, false, None)
}

/// Like `send_with_fds` for a message whose answer is awaited until
/// `deadline` at most: signals do not end the wait for room, the deadline
/// does (`ETIMEDOUT`).
pub fn send_before(sock: c_int, bytes: &[u8], fds: &[c_int], deadline: std::time::Instant) -> Result<()> {
    send_when_room(sock, bytes, fds, false, Some(deadline))
}

fn send_when_room(sock: c_int, bytes: &[u8], fds: &[c_int], creds: bool, deadline: Option<std::time::Instant>) -> Result<()> {
    loop {
        match send(sock, bytes, fds, creds, libc::MSG_DONTWAIT) {
            Err(Errno(libc::EAGAIN)) => {}
            sent => return sent,
        }
        let wait = match deadline {
            // (Woken by room, a hang-up or a signal; the timeout only bounds one poll.)
            None => std::time::Duration::from_secs(1),
            Some(d) => match d.checked_duration_since(std::time::Instant::now()) {
                Some(left) if !left.is_zero() => left,
                _ => return Err(Errno(libc::ETIMEDOUT)),
            },
        };
        match poll_for(sock, libc::POLLOUT, wait) {
            Err(Errno(libc::EINTR)) if deadline.is_none() => return Err(Errno(libc::EINTR)),
            Ok(_) | Err(Errno(libc::EINTR)) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Like `send_with_fds`, but never waits: `EAGAIN` when the socket's send
/// buffer is full. A server sends this way on every socket a client chose
/// (a channel end, a reply socket), so a client that fills one and never
/// reads can block no server thread.
pub fn send_now(sock: c_int, bytes: &[u8], fds: &[c_int]) -> Result<()> {
    send(sock, bytes, fds, false, libc::MSG_DONTWAIT)
}

/// Like `send_with_fds`, and states the sender's pid and effective uid and
/// gid (`SCM_CREDENTIALS`); the kernel refuses ids the sender does not hold
/// at this moment, so the receiver learns them as of the send.
pub fn send_with_creds(sock: c_int, bytes: &[u8], fds: &[c_int]) -> Result<()> {
    send_when_room(sock, bytes, fds, true, None)
}

fn send(sock: c_int, bytes: &[u8], fds: &[c_int], creds: bool, flags: c_int) -> Result<()> {
    assert!(fds.len() <= MAX_FDS_PER_MSG);
    let mut iov = libc::iovec { iov_base: bytes.as_ptr() as *mut c_void, iov_len: bytes.len() };
    // Room for the largest SCM_RIGHTS payload and an SCM_CREDENTIALS, 8-byte aligned.
    let mut cbuf = [0u64; (MAX_FDS_PER_MSG * 4 + 96) / 8];
    // SAFETY: msghdr is plain old data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    let rights = std::mem::size_of_val(fds) as u32;
    let cred_len = size_of::<libc::ucred>() as u32;
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe {
        (if fds.is_empty() { 0 } else { libc::CMSG_SPACE(rights) }) + if creds { libc::CMSG_SPACE(cred_len) } else { 0 }
    } as usize;
    if space > 0 {
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: msg_control points at cbuf, which holds at least `space`
        // bytes, so each header and its payload are in bounds.
        unsafe {
            let mut cm = libc::CMSG_FIRSTHDR(&msg);
            if !fds.is_empty() {
                (*cm).cmsg_level = libc::SOL_SOCKET;
                (*cm).cmsg_type = libc::SCM_RIGHTS;
                (*cm).cmsg_len = libc::CMSG_LEN(rights) as usize;
                std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cm).cast::<c_int>(), fds.len());
                cm = libc::CMSG_NXTHDR(&msg, cm);
            }
            if creds {
                (*cm).cmsg_level = libc::SOL_SOCKET;
                (*cm).cmsg_type = libc::SCM_CREDENTIALS;
                (*cm).cmsg_len = libc::CMSG_LEN(cred_len) as usize;
                let me = libc::ucred { pid: libc::getpid(), uid: libc::geteuid(), gid: libc::getegid() };
                libc::CMSG_DATA(cm).cast::<libc::ucred>().write_unaligned(me);
            }
        }
    }
    // SAFETY: msg describes live buffers (iov, cbuf) for the whole call.
    retry(|| unsafe { libc::syscall(libc::SYS_sendmsg, sock, &raw const msg, libc::MSG_NOSIGNAL | flags) }).map(drop)
}

/// Asks the kernel to attach the sender's pid, uid and gid to every message
/// `fd` receives (`SO_PASSCRED`). A pidfd per message (`SO_PASSPIDFD`)
/// would cost a descriptor per call; the pid suffices while the sender is
/// provably still connected (see `cred.rs`).
pub fn pass_credentials(fd: &Fd) -> Result<()> {
    let one: c_int = 1;
    // SAFETY: one is a valid int option value for the call's duration.
    check(unsafe {
        libc::setsockopt(fd.raw(), libc::SOL_SOCKET, libc::SO_PASSCRED, (&raw const one).cast(), size_of::<c_int>() as u32)
    } as libc::c_long)
    .map(drop)
}

/// One received message.
pub struct Received {
    /// Bytes of payload; 0 with no descriptors means end of file.
    pub len: usize,
    /// Descriptors that came with it, owned (close-on-exec, libdoor's own).
    pub fds: Vec<Fd>,
    /// The payload or the descriptors did not fit (MSG_TRUNC/MSG_CTRUNC).
    pub truncated: bool,
    /// Descriptors did not fit (MSG_CTRUNC): our descriptor table is full,
    /// since the buffer takes the most a sender can attach.
    pub fds_lost: bool,
    /// The sender's pid, uid and gid, as the kernel saw them (only on
    /// sockets set up with `pass_credentials`).
    pub cred: Option<libc::ucred>,
}

/// Receives one message into `buf`, taking at most `MAX_FDS_PER_MSG` descriptors.
/// `flags` adds e.g. `MSG_DONTWAIT` or `MSG_PEEK`. The descriptors come
/// close-on-exec and libdoor's own (a program another thread spawns, or a
/// child it forks, keeps none of them) until they are handed to the
/// application (`Fd::give_to_application`, which clears the flag) or closed.
///
/// Never waits (`MSG_DONTWAIT`): it runs where no fork may come between
/// the receiving and the marking (`forkfence.rs`).
pub fn recv_with_fds(sock: c_int, buf: &mut [u8], flags: c_int) -> Result<Received> {
    crate::forkfence::making(|| receive_marked(sock, buf, flags | libc::MSG_DONTWAIT))
}

fn receive_marked(sock: c_int, buf: &mut [u8], flags: c_int) -> Result<Received> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // Room for a full SCM_RIGHTS and an SCM_CREDENTIALS.
    let mut cbuf = [0u64; (MAX_FDS_PER_MSG * 4 + 128) / 8];
    // SAFETY: msghdr is plain old data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    let flags = flags | libc::MSG_CMSG_CLOEXEC;
    // SAFETY: msg describes live, writable buffers (buf, cbuf) for the whole call.
    let n = retry(|| unsafe { libc::syscall(libc::SYS_recvmsg, sock, &raw mut msg, flags) })? as usize;
    let mut fds = Vec::new();
    let mut cred = None;
    // SAFETY: the kernel filled msg_control with well-formed headers within
    // msg_controllen; CMSG_FIRSTHDR/NXTHDR stay within it, and each payload
    // is as long as its header says.
    unsafe {
        let mut cm = libc::CMSG_FIRSTHDR(&msg);
        while !cm.is_null() {
            let bytes = (*cm).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
            let data = libc::CMSG_DATA(cm);
            match ((*cm).cmsg_level, (*cm).cmsg_type) {
                (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
                    for i in 0..bytes / size_of::<c_int>() {
                        let fd = data.cast::<c_int>().add(i).read_unaligned();
                        FOREIGN_FDS.insert(fd);
                        INTERNAL_FDS.insert(fd);
                        fds.push(Fd(fd));
                    }
                }
                (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) if bytes >= size_of::<libc::ucred>() => {
                    // pid 0: the message was queued before the receiver asked
                    // for credentials; the kernel then attaches none.
                    cred = Some(data.cast::<libc::ucred>().read_unaligned()).filter(|c| c.pid > 0);
                }
                _ => {}
            }
            cm = libc::CMSG_NXTHDR(&msg, cm);
        }
    }
    let truncated = msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0;
    let fds_lost = msg.msg_flags & libc::MSG_CTRUNC != 0;
    Ok(Received { len: n, fds, truncated, fds_lost, cred })
}

/// Whether `fd` has something to read (or is hung up) right now.
pub fn readable_now(fd: c_int) -> bool {
    poll_now(fd, libc::POLLIN) != 0
}

/// Waits until `fd` is readable or hung up, or a signal handler runs.
/// Unlike `recvmsg`, `ppoll` is never restarted after a handler, even under
/// SA_RESTART, which is what an interruptible `door_call` needs.
pub fn wait_readable(fd: c_int) -> Result<libc::c_short> {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: p is one valid pollfd; NULL timeout and sigmask are allowed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ppoll,
            &raw mut p,
            1 as libc::c_long,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<libc::sigset_t>(),
            0 as libc::c_long,
        )
    };
    check(r)?;
    Ok(p.revents)
}

/// Blocks until `sock` has a message to read (left queued, with any
/// descriptors it carries) or an error. A caught signal ends the wait with
/// `EINTR` unless its handler asks for restarts (`SA_RESTART`): then the
/// kernel restarts it, as for any blocking receive.
pub fn peek_blocking(sock: c_int) -> Result<()> {
    peek_byte(sock, 0).map(drop)
}

/// Peeks at the first byte queued on `sock` (`MSG_PEEK` and `flags`): how
/// many bytes came, 0 at end of file or for a zero-length message. The
/// message stays queued, with any descriptors it carries.
fn peek_byte(sock: c_int, flags: c_int) -> Result<usize> {
    let mut byte = 0u8;
    // SAFETY: one writable byte; no control buffer, so no descriptor is
    // received.
    check(unsafe {
        libc::syscall(libc::SYS_recvfrom, sock, &raw mut byte, 1usize, libc::MSG_PEEK | flags, std::ptr::null_mut::<libc::sockaddr>(), std::ptr::null_mut::<libc::socklen_t>())
    })
    .map(|n| n as usize)
}

/// Like `wait_readable`, for at most `timeout`, with the signal mask
/// `sigmask` in force during the wait only (atomically, as `ppoll` does).
pub fn wait_readable_for(
    fd: c_int,
    timeout: std::time::Duration,
    sigmask: Option<&libc::sigset_t>,
) -> Result<libc::c_short> {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let ts = libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as i64 };
    let mask = sigmask.map_or(std::ptr::null(), |m| m as *const libc::sigset_t);
    // SAFETY: p is one valid pollfd; ts and the mask (or NULL) are valid;
    // the kernel's sigset size is 8 bytes.
    let r = unsafe { libc::syscall(libc::SYS_ppoll, &raw mut p, 1 as libc::c_long, &raw const ts, mask, 8) };
    check(r)?;
    Ok(p.revents)
}

/// Waits until `fd` has one of `events` (or an error or hang-up), for at
/// most `timeout`; returns what `poll` reported (0 on timeout).
pub fn poll_for(fd: c_int, events: libc::c_short, timeout: std::time::Duration) -> Result<libc::c_short> {
    let mut p = libc::pollfd { fd, events, revents: 0 };
    let ms = timeout.as_millis().min(c_int::MAX as u128) as c_int;
    // SAFETY: p is one valid pollfd.
    check(unsafe { libc::syscall(libc::SYS_poll, &raw mut p, 1, ms) })?;
    Ok(p.revents)
}

/// Makes `fd` non-blocking (its open file description, shared with
/// whoever else holds it).
pub fn set_nonblocking(fd: c_int) -> Result<()> {
    let flags = fcntl_int(fd, libc::F_GETFL, 0)?;
    fcntl_int(fd, libc::F_SETFL, flags | libc::O_NONBLOCK).map(drop)
}

/// Whether the peer of a connected socket has gone (without blocking).
pub fn peer_gone(fd: c_int) -> bool {
    poll_now(fd, libc::POLLRDHUP) & (libc::POLLHUP | libc::POLLRDHUP | libc::POLLERR) != 0
}

/// Whether a connected socket is finished with: its peer has gone and
/// left nothing to read (a zero-length message counts as nothing, as
/// `read_control` takes it). Without blocking.
pub fn drained_and_gone(fd: c_int) -> bool {
    peek_byte(fd, libc::MSG_DONTWAIT) == Ok(0) && peer_gone(fd)
}

/// What `poll` reports for `fd` right now, asked for `events` (0 on error).
fn poll_now(fd: c_int, events: libc::c_short) -> libc::c_short {
    let mut p = libc::pollfd { fd, events, revents: 0 };
    // SAFETY: p is one valid pollfd.
    let r = unsafe { libc::syscall(libc::SYS_poll, &raw mut p, 1, 0) };
    if r == 1 { p.revents } else { 0 }
}

// ---------------------------------------------------------------------------
// Shared memory.

/// A new close-on-exec memfd of `size` bytes, sealable, libdoor's own
/// (every memfd libdoor makes is, until it is closed).
pub fn memfd(name: &std::ffi::CStr, size: usize) -> Result<Fd> {
    let fd = crate::forkfence::making(|| {
        // SAFETY: name is NUL-terminated.
        check(unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) as libc::c_long })
            .map(|fd| internal(fd as c_int))
    })?;
    // SAFETY: ftruncate takes no pointers.
    retry(|| unsafe { libc::ftruncate(fd.raw(), size as libc::off_t) as libc::c_long })?;
    Ok(fd)
}

pub fn add_seals(fd: &Fd, seals: c_int) -> Result<()> {
    fcntl_int(fd.raw(), libc::F_ADD_SEALS, seals).map(drop)
}

/// The length of a memfd a peer sent, if it carries every seal in `need`
/// (so it cannot shrink, or grow, under us). `EPROTO` otherwise: only a
/// memfd has seals, so no pipe, socket, directory or slow file passes.
/// The seals are asked first: `fstat` of a file on a FUSE mount would wait
/// for its daemon, which the peer may be. A memfd of huge pages passes
/// not: its owner can punch its pages out, and the huge pages it freed
/// may then be gone when we read our mapping of it (SIGBUS).
pub fn sealed_len(fd: &Fd, need: c_int) -> Result<usize> {
    if !fcntl_int(fd.raw(), libc::F_GET_SEALS, 0).is_ok_and(|s| s & need == need) {
        return Err(Errno(libc::EPROTO));
    }
    let mut fs = MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fs is writable storage for one struct statfs.
    let on_hugetlbfs = unsafe { libc::fstatfs(fd.raw(), fs.as_mut_ptr()) } != 0
        // SAFETY: fstatfs succeeded, so fs is initialised.
        || unsafe { fs.assume_init() }.f_type == HUGETLBFS_MAGIC;
    match fstat(fd.raw()) {
        Ok(st) if !on_hugetlbfs && st.st_mode & libc::S_IFMT == libc::S_IFREG => Ok(st.st_size as usize),
        _ => Err(Errno(libc::EPROTO)),
    }
}

/// `f_type` of hugetlbfs (linux/magic.h).
const HUGETLBFS_MAGIC: libc::__fsword_t = 0x9584_58f6;

// On x86_64, glibc's `struct stat` is the kernel's, so the raw system calls
// below fill it directly.
const _: () = assert!(size_of::<libc::stat>() == 144);

/// `fstat(2)` without libc's `fstat`, which libdoor interposes.
pub fn fstat(fd: c_int) -> Result<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: st is writable storage for one kernel struct stat.
    check(unsafe { libc::syscall(libc::SYS_fstat, fd as libc::c_long, st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so st is initialised.
    Ok(unsafe { st.assume_init() })
}

/// `fstatat(2)` without libc's stat family, which libdoor interposes.
pub fn fstatat(dirfd: c_int, path: &std::ffi::CStr, flags: c_int) -> Result<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: path is NUL-terminated; st is writable storage for one kernel
    // struct stat.
    check(unsafe {
        libc::syscall(libc::SYS_newfstatat, dirfd as libc::c_long, path.as_ptr(), st.as_mut_ptr(), flags as libc::c_long)
    })?;
    // SAFETY: fstatat succeeded, so st is initialised.
    Ok(unsafe { st.assume_init() })
}

/// Writes all of `bytes` at `offset`.
pub fn pwrite_all(fd: &Fd, mut bytes: &[u8], mut offset: usize) -> Result<()> {
    while !bytes.is_empty() {
        // SAFETY: bytes is a readable buffer of the given length.
        let n = retry(|| unsafe {
            libc::syscall(libc::SYS_pwrite64, fd.raw(), bytes.as_ptr(), bytes.len(), offset as libc::off_t)
        })? as usize;
        if n == 0 {
            return Err(Errno(libc::EIO));
        }
        bytes = &bytes[n..];
        offset += n;
    }
    Ok(())
}

/// Fills `buf` from `offset`; a short file (e.g. one its owner shrank) is `EPROTO`.
///
/// # Safety
/// `buf`/`len` must describe writable memory.
pub unsafe fn pread_exact(fd: &Fd, buf: *mut u8, len: usize, offset: usize) -> Result<()> {
    let mut done = 0;
    while done < len {
        // SAFETY: the caller guarantees buf..buf+len is writable; done < len.
        let n = retry(|| unsafe {
            libc::syscall(libc::SYS_pread64, fd.raw(), buf.add(done), len - done, (offset + done) as libc::off_t)
        })? as usize;
        if n == 0 {
            return Err(Errno(libc::EPROTO));
        }
        done += n;
    }
    Ok(())
}

/// An owned memory mapping, unmapped when dropped.
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: a Mapping is just an address range; synchronising access to the
// bytes is the users' business (they use atomics or copy under a protocol).
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` shared and writable.
    /// A shared mapping of `len` bytes of `fd`: a region or a bulk buffer,
    /// which a forked child does not inherit (`MADV_DONTFORK`): a child
    /// could otherwise post calls in its parent's region, which the
    /// server would take for the parent's, credentials and all, and read
    /// its parent's later arguments and results. (A child never touches
    /// its parent's channels: it forgets them, `ChannelState::abandon`.)
    pub fn shared(fd: &Fd, len: usize) -> Result<Mapping> {
        // SAFETY: a fresh mapping chosen by the kernel aliases nothing of ours.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd.raw(), 0)
        };
        if p == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        let map = Mapping { ptr: p.cast(), len };
        // SAFETY: the range is the mapping just made, ours.
        if unsafe { libc::madvise(p, len, libc::MADV_DONTFORK) } != 0 {
            return Err(Errno::last());
        }
        Ok(map)
    }
    /// A fresh private anonymous mapping of `len` bytes, zero-filled.
    pub fn anonymous(len: usize) -> Result<Mapping> {
        map_anonymous(len).map(|ptr| Mapping { ptr, len })
    }
    pub fn ptr(&self) -> *mut u8 {
        self.ptr
    }
    pub fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len is a mapping this value owns.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// A fresh private anonymous mapping of `len` bytes (zero-filled), which the
/// caller will own and `munmap`. Its pages are made at once: every caller
/// writes the mapping through right after (results, or a server thread's
/// argument buffer), and one population costs half of a page fault per
/// page (1 MiB: 190–300 µs against 450–500 µs mapped, written and unmapped,
/// on the Intel guest of PERFORMANCE.md).
///
/// From `HUGE_PAGE` up the mapping starts on a huge-page boundary and asks
/// for transparent huge pages (`MADV_HUGEPAGE`, which systems set to
/// "madvise" grant): each whole 2 MiB of it is then one page, made and
/// zeroed in one fault instead of 512 (a loop that maps, writes and
/// unmaps 4 MiB: 0.33 ms against 2.65 ms on the AMD guest), and read
/// through one TLB entry. Its length is still `len`, so `munmap(ptr, len)`
/// frees it all, as illumos callers do with an overflow mapping. Where
/// huge pages are off or none is free, the same mapping is simply made of
/// small pages (where memory is fragmented, the kernel may first compact
/// it, as it does for any program that asks for huge pages).
pub fn map_anonymous(len: usize) -> Result<*mut u8> {
    map_fresh(len, false)
}

/// `map_anonymous` for a mapping the caller gets once (a call's results):
/// a last part of `HUGE_TAIL_MIN` or more short of a whole huge page is
/// made of a huge page too, of which the part past `len` is then unmapped.
/// The huge page is made and zeroed in one fault, and trimming it splits
/// its one entry into small ones, all in less than half the time of making
/// the small pages one by one (results of 1 MiB in a fresh mapping, a loop
/// on the AMD guest: 178–208 µs against 508–677 µs; 512 KiB: 161 µs
/// against 339). The length is still `len`. Until the caller unmaps it,
/// the memory behind the trimmed part stays with the huge page (at most
/// 1.5 MiB a mapping), where the kernel takes it back under memory
/// pressure by splitting the page (its "deferred split"); the argument
/// buffers, which server threads keep, are made without it.
pub fn map_results(len: usize) -> Result<*mut u8> {
    map_fresh(len, true)
}

/// The smallest part short of a huge page that `map_results` makes of one.
/// At 256 KiB the two ways cost about the same (137 against 148 µs).
const HUGE_TAIL_MIN: usize = 512 << 10;

fn map_fresh(len: usize, huge_tail: bool) -> Result<*mut u8> {
    // How much to lay out in huge pages before trimming back to `len`.
    let span = if huge_tail && len % HUGE_PAGE >= HUGE_TAIL_MIN { round_up(len, HUGE_PAGE).ok_or(Errno(libc::ENOMEM))? } else { len };
    if span < HUGE_PAGE {
        return map_populated(len);
    }
    // Room to slide to a boundary, then the slack on either side goes.
    let room = span.checked_add(HUGE_PAGE).ok_or(Errno(libc::ENOMEM))?;
    // SAFETY: a fresh mapping chosen by the kernel aliases nothing of ours.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            room,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return Err(Errno::last());
    }
    let raw = raw.cast::<u8>();
    // (Not `align_offset`, which may answer "impossible".)
    let head = (HUGE_PAGE - raw as usize % HUGE_PAGE) % HUGE_PAGE;
    // SAFETY: head < HUGE_PAGE and head + span <= room, len <= span:
    // [raw, raw + room) is the mapping just made, of which we unmap the
    // parts before and after [start, start + span), advise the rest, and
    // unmap what lies past `len`'s last page once the pages are made; none
    // of it is in use.
    unsafe {
        let start = raw.add(head);
        if head > 0 {
            libc::munmap(raw.cast(), head);
        }
        libc::munmap(start.add(span).cast(), room - head - span);
        // Both advisory: without huge pages the mapping is made of small
        // ones; a kernel without MADV_POPULATE_WRITE (before 5.14) makes
        // the pages as they are first written instead. Only `len` bytes
        // are made: a last huge page is made whole, since the mapping
        // still covers it, but without one no small page past `len` is.
        libc::madvise(start.cast(), span, libc::MADV_HUGEPAGE);
        libc::madvise(start.cast(), len, libc::MADV_POPULATE_WRITE);
        // (At a page boundary: the caller's length is whole pages, or
        // its last page stays mapped with it.)
        // (len <= span, a multiple of the page size: no overflow.)
        let kept = round_up(len, page_size()).unwrap_or(span);
        if span > kept {
            libc::munmap(start.add(kept).cast(), span - kept);
        }
        Ok(start)
    }
}

/// A transparent huge page on x86_64 and aarch64 with 4 KiB pages.
const HUGE_PAGE: usize = 2 << 20;

fn map_populated(len: usize) -> Result<*mut u8> {
    // SAFETY: a fresh mapping chosen by the kernel aliases nothing of ours.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED { Err(Errno::last()) } else { Ok(p.cast()) }
}

pub fn page_size() -> usize {
    4096
}

pub fn round_up(n: usize, to: usize) -> Option<usize> {
    n.checked_add(to - 1).map(|v| v / to * to)
}

// ---------------------------------------------------------------------------
// epoll.

pub fn epoll_create() -> Result<Fd> {
    crate::forkfence::making(|| {
        // SAFETY: epoll_create1 takes no pointers.
        check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) as libc::c_long }).map(|fd| internal(fd as c_int))
    })
}

pub fn epoll_ctl(ep: &Fd, op: c_int, fd: c_int, events: u32, token: u64) -> Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: ev is a valid epoll_event for the call.
    check(unsafe { libc::epoll_ctl(ep.raw(), op, fd, &mut ev) as libc::c_long }).map(drop)
}

/// The events ready in `ep` now, without waiting: how many were put at
/// the start of `events` (0 on error).
pub fn epoll_ready(ep: &Fd, events: &mut [libc::epoll_event]) -> usize {
    let max = events.len().min(c_int::MAX as usize) as libc::c_long;
    // SAFETY: events is writable storage for `max` events.
    let r = unsafe { libc::syscall(libc::SYS_epoll_wait, ep.raw() as libc::c_long, events.as_mut_ptr(), max, 0 as libc::c_long) };
    usize::try_from(r).unwrap_or(0)
}

/// Waits for one event, retrying after signal handlers (idle server threads
/// and the control thread must never surface a signal).
pub fn epoll_wait_one(ep: &Fd) -> Result<(u32, u64)> {
    loop {
        if let Some(event) = epoll_wait_for(ep, None)? {
            return Ok(event);
        }
    }
}

/// Like `epoll_wait_one`, for at most `timeout` (`None`: no limit);
/// `Ok(None)` when it passed with no event.
pub fn epoll_wait_for(ep: &Fd, timeout: Option<std::time::Duration>) -> Result<Option<(u32, u64)>> {
    let ms = timeout.map_or(-1, |t| t.as_millis().saturating_add(1).min(i32::MAX as u128) as libc::c_long);
    loop {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: ev is writable storage for one event.
        let r = unsafe {
            libc::syscall(
                libc::SYS_epoll_wait,
                ep.raw() as libc::c_long,
                &raw mut ev,
                1 as libc::c_long,
                ms,
            )
        };
        match check(r) {
            Ok(1) => return Ok(Some((ev.events, ev.u64))),
            Ok(_) if ms >= 0 => return Ok(None),
            Ok(_) | Err(Errno(libc::EINTR)) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Sleeps while `*word == expected`, at most `timeout`. `Err(EINTR)` when a
/// signal handler ran (FUTEX_WAIT with a timeout is never restarted, even
/// under SA_RESTART); `Ok` on a wake, a changed word or the timeout.
pub fn futex_wait(word: &std::sync::atomic::AtomicU32, expected: u32, timeout: std::time::Duration) -> Result<()> {
    let ts = libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as i64 };
    // SAFETY: word is a live, aligned u32; ts is valid for the call. The
    // word is shared memory, so no FUTEX_PRIVATE_FLAG.
    let r = unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, &raw const ts, 0usize, 0u32)
    };
    match check(r) {
        Err(Errno(libc::EINTR)) => Err(Errno(libc::EINTR)),
        _ => Ok(()),
    }
}

/// The monotonic clock (`CLOCK_MONOTONIC`, the clock of `Instant`) in
/// nanoseconds, comparable between processes.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is writable.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Copies `n` bytes from `src` to `dst`, which do not overlap. Up to 16
/// bytes (a null call's data) are copied inline: a call to `memcpy`
/// through the PLT costs more instructions than such a copy. A destination
/// a few bytes past its source within a page goes by `copy_in_vectors`.
///
/// # Safety
/// As `std::ptr::copy_nonoverlapping`: `src` readable and `dst` writable
/// for `n` bytes, not overlapping.
#[inline]
pub unsafe fn copy_bytes(src: *const u8, dst: *mut u8, n: usize) {
    // SAFETY: the caller's guarantee, and each arm's size range is what
    // copy_ends needs (its word no wider than n).
    unsafe {
        match n {
            0 => {}
            1 => dst.write(src.read()),
            2..=3 => copy_ends::<u16>(src, dst, n),
            4..=7 => copy_ends::<u32>(src, dst, n),
            8..=16 => copy_ends::<u64>(src, dst, n),
            _ if just_behind(src, dst) => copy_in_vectors(src, dst, n),
            _ => std::ptr::copy_nonoverlapping(src, dst, n),
        }
    }
}

/// Whether `dst` lies 1 to 63 bytes past `src`, counted within a page.
/// Such a copy is one that `rep movsb` makes about ten times slower on
/// AMD's Zen 3 (1 MiB in 64 KiB pieces: 350 µs against 29 µs), and glibc
/// 2.36's `memcpy` uses `rep movsb` from about 2 KiB up to the size of
/// the L2 cache. Buffers at such distances are common: the region's areas
/// and bulk buffers start on a page, and a large `malloc` block 16 bytes
/// into one (PERFORMANCE.md, "Buffers a few bytes out of step").
#[inline]
pub fn just_behind(src: *const u8, dst: *mut u8) -> bool {
    cfg!(target_arch = "x86_64") && (1..64).contains(&((dst as usize).wrapping_sub(src as usize) % 4096))
}

/// Copies `n` bytes, 64 at a time, with vector moves that no compiler
/// turns into a call to `memcpy`: unlike `rep movsb`, these keep their
/// speed whatever the two addresses are, and while another CPU reads the
/// lines just written (`bulk::stream_in`). 32-byte moves where the
/// processor has AVX (nearly every x86_64 still in use), 16-byte SSE2
/// moves, which every x86_64 has, elsewhere.
///
/// # Safety
/// As `copy_bytes`.
#[cfg(target_arch = "x86_64")]
pub unsafe fn copy_in_vectors(src: *const u8, dst: *mut u8, n: usize) {
    let done = if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the caller's guarantee; AVX is there.
        unsafe { copy_blocks_avx(src, dst, n) }
    } else {
        // SAFETY: the caller's guarantee.
        unsafe { copy_blocks_sse2(src, dst, n) }
    };
    // The last bytes, fewer than 64: memcpy moves them in registers.
    // SAFETY: done <= n: within the caller's n bytes.
    unsafe { std::ptr::copy_nonoverlapping(src.add(done), dst.add(done), n - done) };
}

/// Copies the whole 64-byte blocks of `n` bytes; returns how many bytes.
///
/// # Safety
/// As `copy_bytes`, on a processor with AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn copy_blocks_avx(src: *const u8, dst: *mut u8, n: usize) -> usize {
    use std::arch::x86_64::{__m256i, _mm256_loadu_si256, _mm256_storeu_si256};
    let mut done = 0;
    while done + 64 <= n {
        // SAFETY: done + 64 <= n, so both 32-byte loads and stores lie
        // within the caller's n bytes; loadu and storeu take any alignment.
        unsafe {
            let (from, to) = (src.add(done).cast::<__m256i>(), dst.add(done).cast::<__m256i>());
            let (a, b) = (_mm256_loadu_si256(from), _mm256_loadu_si256(from.add(1)));
            _mm256_storeu_si256(to, a);
            _mm256_storeu_si256(to.add(1), b);
        }
        done += 64;
    }
    done
}

/// As `copy_blocks_avx`, with the SSE2 moves of every x86_64.
///
/// # Safety
/// As `copy_bytes`.
#[cfg(target_arch = "x86_64")]
unsafe fn copy_blocks_sse2(src: *const u8, dst: *mut u8, n: usize) -> usize {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_storeu_si128};
    let mut done = 0;
    while done + 64 <= n {
        // SAFETY: as in copy_blocks_avx, with four 16-byte moves.
        unsafe {
            let (from, to) = (src.add(done).cast::<__m128i>(), dst.add(done).cast::<__m128i>());
            let words = [_mm_loadu_si128(from), _mm_loadu_si128(from.add(1)), _mm_loadu_si128(from.add(2)), _mm_loadu_si128(from.add(3))];
            for (i, w) in words.into_iter().enumerate() {
                _mm_storeu_si128(to.add(i), w);
            }
        }
        done += 64;
    }
    done
}

/// Elsewhere `memcpy` has no `rep movsb` to avoid.
#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn copy_in_vectors(src: *const u8, dst: *mut u8, n: usize) {
    // SAFETY: as copy_bytes.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, n) };
}

/// Copies `n` bytes as the first and the last word `T` of them (which may
/// overlap, writing the same bytes twice): any `n` from `size_of::<T>()`
/// to twice that.
///
/// # Safety
/// As `copy_bytes`, and `size_of::<T>() <= n`.
#[inline]
unsafe fn copy_ends<T: Copy>(src: *const u8, dst: *mut u8, n: usize) {
    let last = n - std::mem::size_of::<T>();
    // SAFETY: both words lie within the n bytes the caller vouches for.
    unsafe {
        let (head, tail) = (src.cast::<T>().read_unaligned(), src.add(last).cast::<T>().read_unaligned());
        dst.cast::<T>().write_unaligned(head);
        dst.add(last).cast::<T>().write_unaligned(tail);
    }
}

/// Wakes every sleeper on `word`.
pub fn futex_wake_all(word: &std::sync::atomic::AtomicU32) {
    // SAFETY: word is a live, aligned u32.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX, 0usize, 0usize, 0u32) };
}

/// Sleeps while `*word == expected`, with no timeout. A signal handler that
/// runs ends the sleep (or restarts it, under SA_RESTART): either way the
/// caller looks again. For threads that block every signal, or whose
/// waiter is woken by other means.
pub fn futex_wait_untimed(word: &std::sync::atomic::AtomicU32, expected: u32) {
    // SAFETY: word is a live, aligned u32; a NULL timeout is allowed. The
    // word is shared memory, so no FUTEX_PRIVATE_FLAG.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, 0usize, 0usize, 0u32)
    };
}

/// A new eventfd, close-on-exec and non-blocking, libdoor's own.
pub fn eventfd() -> Result<Fd> {
    crate::forkfence::making(|| {
        // SAFETY: eventfd takes no pointers.
        check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) } as libc::c_long)
            .map(|fd| internal(fd as c_int))
    })
}

/// Adds one to eventfd `fd` (it becomes readable).
pub fn eventfd_signal(fd: c_int) {
    let one = 1u64;
    // SAFETY: writes 8 bytes from a live u64. The raw system call, not
    // libc's write, which is a cancellation point (a server thread with a
    // cancellation pending rings this).
    unsafe { libc::syscall(libc::SYS_write, fd, (&raw const one), 8usize) };
}

/// Empties eventfd `fd`.
pub fn eventfd_drain(fd: c_int) {
    let mut v = 0u64;
    // SAFETY: reads 8 bytes into a live u64; the fd is non-blocking. (The
    // raw system call: see eventfd_signal.)
    unsafe { libc::syscall(libc::SYS_read, fd, (&raw mut v), 8usize) };
}

/// Wakes one sleeper on `word`.
pub fn futex_wake(word: &std::sync::atomic::AtomicU32) {
    // SAFETY: word is a live, aligned u32.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1, 0usize, 0usize, 0u32) };
}

/// How many random words one `getrandom` draws for a thread.
const RANDOM_STOCK: usize = 32;

/// A thread's random words not yet used, and the process they were drawn
/// in: a forked child draws its own rather than repeat its parent's.
struct RandomStock {
    words: [std::cell::Cell<u64>; RANDOM_STOCK],
    next: std::cell::Cell<usize>,
    drawn_in: std::cell::Cell<libc::pid_t>,
}

std::thread_local! {
    static STOCK: RandomStock = const {
        RandomStock {
            words: [const { std::cell::Cell::new(0) }; RANDOM_STOCK],
            next: std::cell::Cell::new(RANDOM_STOCK),
            drawn_in: std::cell::Cell::new(0),
        }
    };
}

/// 64 random bits from the kernel, drawn `RANDOM_STOCK` words at a time
/// (every door descriptor made takes one, `door_create` two: the system
/// call per word was a seventh of `door_create`'s).
pub fn random_u64() -> u64 {
    STOCK.with(|stock| {
        let me = getpid();
        if stock.next.get() >= RANDOM_STOCK || stock.drawn_in.get() != me {
            let mut fresh = [0u64; RANDOM_STOCK];
            fill_random(&mut fresh);
            for (word, value) in stock.words.iter().zip(fresh) {
                word.set(value);
            }
            stock.drawn_in.set(me);
            stock.next.set(0);
        }
        let i = stock.next.get();
        stock.next.set(i + 1);
        stock.words[i].get()
    })
}

/// Fills `words` from the kernel's random source.
fn fill_random(words: &mut [u64]) {
    let len = std::mem::size_of_val(words);
    let mut done = 0;
    while done < len {
        // SAFETY: the range [done, len) of words' bytes is writable.
        let r = unsafe { libc::getrandom(words.as_mut_ptr().cast::<u8>().add(done).cast(), len - done, 0) };
        if r > 0 {
            done += r as usize;
        }
    }
}

/// This process's id, kept in memory: it is asked on every call (a forked
/// child must not use its parent's channels), and the system call would be
/// a fifth of a null call's system calls. A forked child learns its own in
/// the atfork handler (`renew_pid`), before anything of libdoor runs there.
static PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

pub fn getpid() -> libc::pid_t {
    match PID.load(Ordering::Relaxed) {
        0 => renew_pid(),
        pid => pid,
    }
}

/// The calling thread's id.
pub fn gettid() -> libc::pid_t {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// Reads this process's id from the kernel again: in a forked child, first
/// thing. Async-signal-safe.
pub fn renew_pid() -> libc::pid_t {
    // SAFETY: getpid cannot fail and takes no pointers.
    let pid = unsafe { libc::getpid() };
    PID.store(pid, Ordering::Relaxed);
    pid
}

/// `read(2)` that is not a cancellation point.
pub fn read(fd: c_int, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: buf is writable for its length.
    retry(|| unsafe { libc::syscall(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len()) }).map(|n| n as usize)
}

/// `write(2)` that is not a cancellation point.
pub fn write(fd: c_int, buf: &[u8]) -> Result<usize> {
    // SAFETY: buf is readable for its length.
    retry(|| unsafe { libc::syscall(libc::SYS_write, fd, buf.as_ptr(), buf.len()) }).map(|n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_bytes_copies_exactly_n_bytes_at_every_size() {
        let src: Vec<u8> = (1..=40).collect();
        for n in 0..=40 {
            let mut dst = [0xeeu8; 48];
            // SAFETY: src has 40 bytes, dst 48; they do not overlap.
            unsafe { copy_bytes(src.as_ptr(), dst.as_mut_ptr(), n) };
            assert_eq!(&dst[..n], &src[..n], "n={n}");
            assert!(dst[n..].iter().all(|&b| b == 0xee), "n={n}: wrote past the end");
        }
    }

    #[test]
    fn copy_bytes_copies_exactly_n_bytes_at_every_distance_within_a_page() {
        let src: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8 + 1).collect();
        let mut space = vec![0u8; 3 * 4096 + 5000];
        for distance in 0..=66usize {
            // dst lies `distance` bytes past src within a page, a page or
            // more into `space` (to see that nothing is written before it).
            let want = (src.as_ptr() as usize + distance) % 4096;
            let start = 4096 + (want + 4096 - space.as_ptr() as usize % 4096) % 4096;
            assert_eq!((space.as_ptr() as usize + start) % 4096, want);
            assert_eq!(just_behind(src.as_ptr(), space[start..].as_mut_ptr()), (1..64).contains(&distance) && cfg!(target_arch = "x86_64"));
            for n in [17, 63, 64, 65, 200, 4109, 5000] {
                space.fill(0xee);
                let dst = &mut space[start..];
                // SAFETY: src holds 5000 bytes; dst, under two pages into
                // space, at least 5000 more; they do not overlap.
                unsafe { copy_bytes(src.as_ptr(), dst.as_mut_ptr(), n) };
                assert_eq!(&dst[..n], &src[..n], "distance {distance}, n={n}");
                assert!(dst[n..].iter().all(|&b| b == 0xee), "distance {distance}, n={n}: wrote past the end");
                assert!(space[..start].iter().all(|&b| b == 0xee), "distance {distance}, n={n}: wrote before the start");
            }
        }
    }

    /// The SSE2 loop, which runs only where AVX is missing: whole blocks,
    /// nothing past them.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sse2_blocks_copy_whole_blocks_only() {
        let src: Vec<u8> = (0..1000u32).map(|i| (i % 253) as u8 + 1).collect();
        for n in [0, 63, 64, 65, 127, 128, 1000] {
            let mut dst = vec![0xeeu8; 1000];
            // SAFETY: both hold 1000 >= n bytes and do not overlap.
            let done = unsafe { copy_blocks_sse2(src.as_ptr(), dst.as_mut_ptr(), n) };
            assert_eq!(done, n / 64 * 64, "n={n}");
            assert_eq!(&dst[..done], &src[..done], "n={n}");
            assert!(dst[done..].iter().all(|&b| b == 0xee), "n={n}: wrote past the blocks");
        }
    }

    #[test]
    fn descriptors_travel_and_truncation_is_reported() {
        let (a, b) = seqpacket_pair().unwrap();
        let (p, q) = seqpacket_pair().unwrap();
        send_with_fds(a.raw(), b"hi", &[p.raw(), q.raw()]).unwrap();
        let mut buf = [0u8; 8];
        let r = recv_with_fds(b.raw(), &mut buf, libc::MSG_DONTWAIT).unwrap();
        assert_eq!((&buf[..r.len], r.fds.len(), r.truncated), (&b"hi"[..], 2, false));
        // A payload longer than the buffer is reported, not silently cut.
        send_with_fds(a.raw(), b"0123456789", &[]).unwrap();
        let mut small = [0u8; 4];
        assert!(recv_with_fds(b.raw(), &mut small, libc::MSG_DONTWAIT).unwrap().truncated);
        // Nothing more: EAGAIN, not a hang.
        assert_eq!(recv_with_fds(b.raw(), &mut buf, libc::MSG_DONTWAIT).err(), Some(Errno(libc::EAGAIN)));
        drop(a);
        assert!(peer_gone(b.raw()));
    }

    #[test]
    fn the_next_member_is_found_across_words() {
        let set = FdSet::new();
        assert_eq!(set.next_member(0), None);
        set.insert(5);
        set.insert(64);
        set.insert(700);
        assert_eq!(set.next_member(0), Some(5));
        assert_eq!(set.next_member(5), Some(5));
        assert_eq!(set.next_member(6), Some(64));
        assert_eq!(set.next_member(65), Some(700));
        assert_eq!(set.next_member(701), None);
        assert_eq!(set.next_member(-1), None);
    }

    #[test]
    fn internal_descriptors_are_tracked_until_closed() {
        let (a, _b) = seqpacket_pair().unwrap();
        mark_internal(&a);
        let fd = a.raw();
        assert!(INTERNAL_FDS.contains(fd));
        drop(a);
        assert!(!INTERNAL_FDS.contains(fd));
    }

    #[test]
    fn only_closes_that_cannot_block_happen_at_once() {
        let (a, _b) = seqpacket_pair().unwrap();
        assert!(!closes_at_once(a.raw()), "a socket may carry descriptors in flight");
        let m = memfd(c"test", 4096).unwrap();
        assert!(closes_at_once(m.raw()));
        let mut ends = [0 as c_int; 2];
        // SAFETY: ends has room for the two descriptors pipe2 writes.
        assert_eq!(unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        let (r, w) = (Fd(ends[0]), Fd(ends[1]));
        assert!(closes_at_once(r.raw()) && closes_at_once(w.raw()));
        // SAFETY: eventfd takes no pointers.
        let e = Fd(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) });
        assert!(!closes_at_once(e.raw()), "told apart only by fstat");
        let dir = openat(libc::AT_FDCWD, c"/", libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
        assert!(!closes_at_once(dir.raw()));
    }

    #[test]
    fn received_descriptors_are_foreign_until_handed_over() {
        let (a, b) = seqpacket_pair().unwrap();
        let (p, _q) = seqpacket_pair().unwrap();
        send_with_fds(a.raw(), b"x", &[p.raw(), p.raw()]).unwrap();
        let mut r = recv_with_fds(b.raw(), &mut [0u8; 4], libc::MSG_DONTWAIT).unwrap();
        let (kept, dropped) = (r.fds.pop().unwrap(), r.fds.pop().unwrap());
        assert!(FOREIGN_FDS.contains(kept.raw()) && FOREIGN_FDS.contains(dropped.raw()));
        assert!(INTERNAL_FDS.contains(kept.raw()) && INTERNAL_FDS.contains(dropped.raw()));
        assert_ne!(fcntl_int(kept.raw(), libc::F_GETFD, 0).unwrap() & libc::FD_CLOEXEC, 0);
        drop(dropped);
        let raw = kept.into_raw();
        assert!(!FOREIGN_FDS.contains(raw) && !INTERNAL_FDS.contains(raw));
        close_raw(raw);
    }

    #[test]
    fn a_forked_child_forgets_foreign_marks() {
        // A number no other test uses, marked as a received descriptor
        // would be (no descriptor needs to be open at it).
        const FD: c_int = 1_000_000;
        FOREIGN_FDS.insert(FD);
        // SAFETY: the child runs only atomics, close and _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            close_internal_after_fork();
            // SAFETY: _exit ends the child without running the parent's
            // atexit handlers or destructors.
            unsafe { libc::_exit(if FOREIGN_FDS.contains(FD) { 1 } else { 0 }) };
        }
        let mut status = 0;
        // SAFETY: status is writable; pid is our child.
        assert_eq!(unsafe { libc::waitpid(pid, &raw mut status, 0) }, pid);
        assert!(FOREIGN_FDS.take(FD), "the parent's mark stays");
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the child kept the mark (status {status:#x})");
    }

    #[test]
    fn sockaddr_lengths() {
        assert!(sockaddr_un(&[b'x'; 107]).is_ok());
        assert_eq!(sockaddr_un(&[b'x'; 108]).err(), Some(Errno(libc::ENAMETOOLONG)));
        let mut abs = vec![0u8];
        abs.extend([b'y'; 107]);
        assert!(sockaddr_un(&abs).is_ok());
        assert_eq!(round_up(1, 4096), Some(4096));
        assert_eq!(round_up(usize::MAX, 4096), None);
    }
}
