//! The server side of a process: its doors, their pools, their channels and
//! attachments, and the control thread that admits new connections.
//!
//! All of it lives in one per-process table, `SERVER`, stamped with the pid
//! that built it: a forked child finds a stale stamp and starts afresh (its
//! copies of the parent's descriptors were already closed by the atfork
//! handler), so a child never serves, or keeps reachable, its parent's doors.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use libc::{c_int, c_void};

use crate::abi::*;
use crate::label::{self, Identity};
use crate::region::Region;
use crate::sys::{self, Errno, Fd, Result};
use crate::wire::{self, Kind, MSG_LEN, Msg};

/// A door this process created.
pub struct Door {
    pub uniq: u64,
    pub proc_: u64,
    pub cookie: u64,
    pub attributes: AtomicU32,
    pub revoked: AtomicBool,
    pub pool: Arc<Pool>,
    pub params: Params,
    /// References, in illumos' sense (doors-spec §5.6): live descriptor
    /// families that count (the creator's, and each copy passed in a call)
    /// plus attachments. The kernel tells us when a family's last
    /// descriptor closes: its door socket reads end of file.
    pub refs: AtomicUsize,
    /// Descriptor families from `open` of an attached path: holds, which
    /// keep the door referenced (`DOOR_IS_UNREF` clear) but never trigger.
    pub holds: AtomicUsize,
    /// An unreferenced notification is queued and not yet taken.
    pub unref_queued: AtomicBool,
}

/// `door_setparam`'s limits on requests (illumos defaults: no data limit,
/// and no descriptor limit unless the door refuses descriptors).
pub struct Params {
    pub data_max: AtomicUsize,
    pub data_min: AtomicUsize,
    pub desc_max: AtomicUsize,
    /// Held by `door_setparam` from its check to its store, so that two at
    /// once never leave DATA_MIN above DATA_MAX (illumos holds a lock too).
    pub setting: Mutex<()>,
}

impl Params {
    pub fn new(attributes: u32) -> Params {
        let desc_max = if attributes & DOOR_REFUSE_DESC != 0 { 0 } else { c_int::MAX as usize };
        Params {
            data_max: AtomicUsize::new(usize::MAX),
            data_min: AtomicUsize::new(0),
            desc_max: AtomicUsize::new(desc_max),
            setting: Mutex::new(()),
        }
    }
}

impl Door {
    pub fn identity(&self) -> Identity {
        Identity {
            uniq: self.uniq,
            proc_: self.proc_,
            cookie: self.cookie,
            pid: sys::getpid(),
            attributes: self.attributes_now(),
            seal: 0,
        }
    }

    /// The attributes `door_info` reports now, but for `DOOR_LOCAL`.
    pub fn attributes_now(&self) -> u32 {
        let mut attributes = self.attributes.load(Ordering::Relaxed);
        if self.revoked.load(Ordering::Relaxed) {
            attributes |= DOOR_REVOKED;
        }
        if self.refs.load(Ordering::SeqCst) <= 1 && self.holds.load(Ordering::SeqCst) == 0 {
            attributes |= DOOR_IS_UNREF;
        }
        attributes & DOOR_ATTR_MASK
    }

    /// One reference gone: when that leaves exactly one, the door is
    /// unreferenced and, if it asked, its server hears of it (once for
    /// `DOOR_UNREF`, which is then cleared; every time for
    /// `DOOR_UNREF_MULTI`, never twice on the queue). Revoked doors hear
    /// nothing.
    fn drop_ref(self: &Arc<Door>) {
        if self.refs.fetch_sub(1, Ordering::SeqCst) != 2 || self.revoked.load(Ordering::SeqCst) {
            return;
        }
        let attributes = self.attributes.load(Ordering::SeqCst);
        let queue = if attributes & DOOR_UNREF != 0 {
            self.attributes.fetch_and(!DOOR_UNREF, Ordering::SeqCst) & DOOR_UNREF != 0
        } else {
            attributes & DOOR_UNREF_MULTI != 0 && !self.unref_queued.swap(true, Ordering::SeqCst)
        };
        if queue {
            self.unref_queued.store(true, Ordering::SeqCst);
            self.pool.queue_unref(self.clone());
        }
    }

    /// `door_info` as this (the serving) process sees it.
    pub fn info(&self) -> door_info_t {
        let attributes = self.attributes_now() | DOOR_LOCAL;
        door_info_t {
            di_target: sys::getpid(),
            di_proc: self.proc_,
            di_data: self.cookie,
            di_attributes: attributes & DOOR_ATTR_MASK,
            di_uniquifier: self.uniq,
            di_resv: [0; 4],
        }
    }
}

/// A pool of server threads: the process-wide one, or one private door's.
/// Idle threads wait in `epoll_wait` on `epoll`, which holds the channels of
/// the pool's doors, each armed one-shot so exactly one thread takes a call.
pub struct Pool {
    pub epoll: Fd,
    pub idle: AtomicUsize,
    /// Who makes more threads when the last idle one is taken.
    pub depletion: Depletion,
    /// Set when a failed `door_xcreate` dismisses the pool's threads; the
    /// `closing` eventfd in the epoll set wakes them to exit.
    pub closed: AtomicBool,
    closing: Fd,
    /// Unreferenced notifications waiting for a thread of this pool. The
    /// queue holds the doors themselves, so that a notification outlives
    /// the door's table entry (see `forget_if_unreachable`). It is unbounded and never blocks its writer, the
    /// control thread, which queues while it holds the server table: a
    /// bounded queue (it was a socket pair) filled up under a stream of
    /// per-client doors and deadlocked the server (tests/load/soak.c).
    unref_queue: Mutex<VecDeque<Arc<Door>>>,
    /// Readable exactly while `unref_queue` is not empty (both change only
    /// under its lock); it sits in the epoll set, one-shot, under
    /// `UNREF_TOKEN`.
    unref_ready: Fd,
}

/// The creation callback a pool runs on depletion (illumos door_calls.c).
#[derive(Clone, Copy)]
pub enum Depletion {
    /// The process-wide pool: `door_server_create`'s function, with NULL.
    Process,
    /// A `door_create(DOOR_PRIVATE)` door: the same function, with the
    /// door's info marked `DOOR_DEPLETION_CB`.
    Private,
    /// A `door_xcreate` door: its own thread-creation function (unless
    /// `DOOR_NO_DEPLETION_CB`), with `startf` and its argument.
    XCreate { create: XCreateFn, startf_arg: usize, crcookie: usize, enabled: bool },
}

/// `door_xcreate_server_func_t`.
pub type XCreateFn =
    unsafe extern "C" fn(*mut door_info_t, unsafe extern "C" fn(*mut c_void) -> *mut c_void, *mut c_void, *mut c_void) -> c_int;

/// The pool epoll token of the `closing` eventfd.
pub const CLOSING_TOKEN: u64 = 1;
/// The pool epoll token of the unreferenced-notification queue.
pub const UNREF_TOKEN: u64 = 0;

impl Pool {
    pub fn new(depletion: Depletion) -> Result<Arc<Pool>> {
        let epoll = sys::epoll_create()?;
        let closing = sys::eventfd()?;
        sys::epoll_ctl(&epoll, libc::EPOLL_CTL_ADD, closing.raw(), libc::EPOLLIN as u32, CLOSING_TOKEN)?;
        let unref_ready = sys::eventfd()?;
        sys::epoll_ctl(
            &epoll,
            libc::EPOLL_CTL_ADD,
            unref_ready.raw(),
            (libc::EPOLLIN | libc::EPOLLONESHOT) as u32,
            UNREF_TOKEN,
        )?;
        Ok(Arc::new(Pool {
            epoll,
            idle: AtomicUsize::new(0),
            depletion,
            closed: AtomicBool::new(false),
            closing,
            unref_queue: Mutex::new(VecDeque::new()),
            unref_ready,
        }))
    }

    fn queue_unref(&self, door: Arc<Door>) {
        let mut queue = self.unref_queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.push_back(door);
        let _ = sys::write(self.unref_ready.raw(), &1u64.to_ne_bytes());
    }

    /// The next queued unreferenced notification, if any.
    pub fn next_unref(&self) -> Option<Arc<Door>> {
        let mut queue = self.unref_queue.lock().unwrap_or_else(|p| p.into_inner());
        let door = queue.pop_front();
        if queue.is_empty() {
            let mut counter = [0u8; 8];
            let _ = sys::read(self.unref_ready.raw(), &mut counter);
        }
        door
    }

    /// Lets the pool's threads take the next unreferenced notification;
    /// one at a time, so deliveries are serialised as on illumos.
    pub fn rearm_unref(&self) {
        let _ = sys::epoll_ctl(
            &self.epoll,
            libc::EPOLL_CTL_MOD,
            self.unref_ready.raw(),
            (libc::EPOLLIN | libc::EPOLLONESHOT) as u32,
            UNREF_TOKEN,
        );
    }

    /// Dismisses every thread of the pool: each wakes and exits.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = sys::write(self.closing.raw(), &1u64.to_ne_bytes());
    }
}

/// One client thread's private line to one door: a socket pair end and the
/// shared region the client made for it.
pub struct Channel {
    pub id: u64,
    pub sock: Fd,
    pub region: Region,
    pub door: Arc<Door>,
    /// The call being served on this channel, for cancelling the thread
    /// serving it when its client gives up: `seq << 2 | SERVING`, with
    /// `CANCELLING` while a canceller holds the thread, or 0; and the
    /// thread (`start_serving`, `stop_serving`, `abandoned`).
    serving: AtomicU64,
    serving_thread: AtomicU64,
    /// The effective ids the kernel attached to the last Call that came on
    /// the socket (`uid << 32 | gid`, or `NO_CRED`); calls handed over in
    /// the region (which carry none) are made by the same process, the
    /// channel's creator, with these ids (the client sends on the socket
    /// whenever they change; `cred.rs` checks them). One word, so a call
    /// reads them without a lock.
    last_cred: AtomicU64,
    /// The process that made the channel's socket pair (`SO_PEERCRED` of
    /// our end): the only one whose Calls the channel carries. The pid in
    /// a Call's `SCM_CREDENTIALS` must be this one, so a client privileged
    /// enough to state another process's pid (`CAP_SYS_ADMIN`) still
    /// cannot make `door_ucred` report that process.
    pub creator: libc::pid_t,
    /// How long a lingering thread spins for the next call (`spin.rs`).
    pub spin: Mutex<crate::spin::Budget>,
    /// The client's bulk buffer for large arguments...
    pub bulk: Mutex<crate::bulk::Bulk>,
    /// ...and ours for large results.
    pub reply_bulk: Mutex<crate::bulk::Bulk>,
    /// Where in `reply_bulk` the next results streamed toward a client on
    /// another CPU start (`bulk::next_start`; changed under its lock).
    pub reply_next: AtomicUsize,
    /// Descriptors from leading `Descs` messages whose Call has not come
    /// yet: a server thread never waits for the rest of a call.
    pub partial: Mutex<Vec<Fd>>,
    /// Calls (and lingering threads' arrivals) the channel has seen, the
    /// count as the control thread saw it at its last tick, and its word
    /// to the threads lingering on the channel to leave (`linger.rs`).
    pub linger_calls: AtomicU64,
    pub linger_seen: AtomicU64,
    pub linger_kick: AtomicBool,
}

/// `Channel::serving`'s flags.
const SERVING: u64 = 1;
const CANCELLING: u64 = 2;
/// `Channel::last_cred` when no Call has come with credentials (uid and gid
/// -1, which the kernel never attaches).
const NO_CRED: u64 = u64::MAX;

impl Channel {
    /// The request state word at the start of the shared region.
    pub fn state(&self) -> &AtomicU64 {
        self.region.state()
    }

    /// The client gave up on call `seq`: cancel the thread serving it, as
    /// illumos does, unless the door is `DOOR_NO_CANCEL`. Cancellation acts
    /// only if that thread enabled it (library threads do not).
    fn abandoned(&self, seq: u64) {
        if self.door.attributes.load(Ordering::Relaxed) & DOOR_NO_CANCEL != 0
            || self.state().load(Ordering::SeqCst) != wire::abandoned(seq)
        {
            return;
        }
        // Holding CANCELLING keeps the thread in `stop_serving` (so alive)
        // until pthread_cancel has been sent.
        let serving = seq << 2 | SERVING;
        if self
            .serving
            .compare_exchange(serving, serving | CANCELLING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            let thread = self.serving_thread.load(Ordering::Relaxed) as libc::pthread_t;
            // SAFETY: the thread is alive: it cannot leave stop_serving
            // (which it passes before it finishes the call or exits) while
            // CANCELLING is set.
            unsafe { libc::pthread_cancel(thread) };
            self.serving.store(serving, Ordering::Release);
        }
    }

    /// Writes the door's current limits where the client reads them.
    pub fn publish_limits(&self) {
        let d = &self.door;
        let values = [
            u64::from(d.revoked.load(Ordering::SeqCst)),
            d.params.data_min.load(Ordering::SeqCst) as u64,
            d.params.data_max.load(Ordering::SeqCst) as u64,
            d.params.desc_max.load(Ordering::SeqCst) as u64,
            u64::from(d.attributes.load(Ordering::SeqCst) & DOOR_REFUSE_DESC != 0),
        ];
        for (i, v) in values.into_iter().enumerate() {
            self.region.limit(i).store(v, Ordering::SeqCst);
        }
    }

    /// The calling thread serves call `seq` on this channel (plain stores:
    /// the call was taken by a locked instruction just before).
    pub fn start_serving(&self, seq: u64) {
        // SAFETY: pthread_self cannot fail.
        self.serving_thread.store(unsafe { libc::pthread_self() } as u64, Ordering::Relaxed);
        self.serving.store(seq << 2 | SERVING, Ordering::Release);
    }

    /// The serving thread is done with its call (it is about to answer,
    /// or exiting): no cancellation may target it for that call any more.
    /// Waits out a canceller that holds it (a few system calls' time).
    pub fn stop_serving(&self) {
        loop {
            let w = self.serving.load(Ordering::Acquire);
            if w & CANCELLING == 0 && self.serving.compare_exchange(w, 0, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                return;
            }
            std::thread::yield_now();
        }
    }

    /// Records the credentials the kernel attached to a Call (its pid is
    /// the channel's creator's: `take_call` checks).
    pub fn set_last_cred(&self, cred: Option<libc::ucred>) {
        let word = cred.map_or(NO_CRED, |c| u64::from(c.uid) << 32 | u64::from(c.gid));
        self.last_cred.store(word, Ordering::Relaxed);
    }

    /// The credentials of the last Call that came with some.
    pub fn last_cred(&self) -> Option<libc::ucred> {
        let word = self.last_cred.load(Ordering::Relaxed);
        (word != NO_CRED).then_some(libc::ucred { pid: self.creator, uid: (word >> 32) as u32, gid: word as u32 })
    }

    /// Lets the pool's threads take the next call on this channel.
    pub fn rearm(&self) {
        let _ = sys::epoll_ctl(
            &self.door.pool.epoll,
            libc::EPOLL_CTL_MOD,
            self.sock.raw(),
            (libc::EPOLLIN | libc::EPOLLONESHOT) as u32,
            self.id,
        );
    }
}

/// The owner, group and mode of the file an attachment covers, captured at
/// `fattach` time: they decide who may open the door through the path.
#[derive(Clone, Copy, Debug)]
pub struct Perm {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Perm {
    /// The owner/group/other check illumos makes on `open` of an attached
    /// path; the superuser passes, as privileged processes do on illumos.
    /// `groups` (the opener's supplementary groups) is asked only when the
    /// recorded group decides.
    pub fn allows(&self, uid: u32, gid: u32, groups: impl FnOnce() -> Vec<u32>, read: bool, write: bool) -> bool {
        if uid == 0 {
            return true;
        }
        let bits = if uid == self.uid {
            self.mode >> 6
        } else if gid == self.gid || groups().contains(&self.gid) {
            self.mode >> 3
        } else {
            self.mode
        } & 7;
        (!read || bits & 4 != 0) && (!write || bits & 2 != 0)
    }
}

/// Something the control thread watches.
enum Source {
    /// The server end of door descriptors: Hello, Info, Attach and Clone
    /// arrive here. `counted`: a reference (not a hold from `open`).
    DoorSocket { door: Arc<Door>, sock: Fd, counted: bool },
    /// A socket bound at an attached path.
    Listener { door: Arc<Door>, sock: Fd, perm: Perm },
    /// A connection to an attachment, waiting for its Open or Detach
    /// (closed if none comes within `OPEN_TIMEOUT`).
    Opener { door: Arc<Door>, sock: Fd, listener: u64, perm: Perm },
}

/// How long an attachment connection may stay silent. libdoor's `open`
/// sends its Open right after connecting, so only a stalled or hostile
/// peer waits this long; it is then disconnected.
const OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// At most this many attachment connections wait silent for their Open at
/// once; a new one disconnects the oldest silent one (one whose Open has
/// arrived is about to be served, and is never disconnected: under a flood
/// a real opener's Open may wait unread behind the flood's accepts), so a
/// flood of silent connections can
/// take neither the server's descriptors nor the control thread.
const MAX_PENDING_OPENS: usize = 64;

impl Source {
    fn sock(&self) -> &Fd {
        match self {
            Source::DoorSocket { sock, .. } | Source::Listener { sock, .. } | Source::Opener { sock, .. } => sock,
        }
    }
}

pub struct Server {
    pid: libc::pid_t,
    doors: HashMap<u64, Arc<Door>>,
    channels: HashMap<u64, Arc<Channel>>,
    sources: HashMap<u64, Source>,
    control: Option<Arc<Fd>>,
    global_pool: Option<Arc<Pool>>,
    next_token: u64,
    /// Attachment connections in the order they were accepted, with their
    /// deadlines; entries whose connection was served since are skipped.
    openers: std::collections::VecDeque<(std::time::Instant, u64)>,
    /// How many `Source::Opener`s are watched.
    pending_opens: usize,
    /// Whether the first non-private door has been created (and the creation
    /// function called for it).
    pub first_door_done: bool,
}

static SERVER: Mutex<Option<Server>> = Mutex::new(None);

/// The token of the source the control thread is serving, 0 when none.
/// A thread that helps release closed families (`help_release`) leaves it
/// alone; a forked child clears it (its table starts afresh).
static CONTROL_SERVING: AtomicU64 = AtomicU64::new(0);

/// Tables inherited over fork, never dropped (see `Server::abandon`).
static INHERITED: Mutex<Vec<std::mem::ManuallyDrop<Server>>> = Mutex::new(Vec::new());

impl Server {
    fn new() -> Server {
        Server {
            pid: sys::getpid(),
            doors: HashMap::new(),
            channels: HashMap::new(),
            sources: HashMap::new(),
            control: None,
            global_pool: None,
            next_token: 1,
            openers: std::collections::VecDeque::new(),
            pending_opens: 0,
            first_door_done: false,
        }
    }

    /// Retires a table inherited over fork without closing anything: the
    /// atfork handler already closed its descriptors, whose numbers the
    /// child may have reused since. Its channels' mappings are released;
    /// the rest, which holds those numbers, is never dropped but kept in
    /// `INHERITED` (one table per fork generation), so it stays reachable
    /// rather than lost (valgrind counted it as a leak in every forked
    /// child when it was `mem::forget`ten).
    fn abandon(mut self) {
        for (_, ch) in std::mem::take(&mut self.channels) {
            if let Ok(ch) = Arc::try_unwrap(ch) {
                let Channel { sock, region, door, partial, .. } = ch;
                std::mem::forget(sock);
                drop(region);
                std::mem::forget(door);
                std::mem::forget(partial);
            }
        }
        INHERITED.lock().unwrap_or_else(|p| p.into_inner()).push(std::mem::ManuallyDrop::new(self));
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    pub fn global_pool(&mut self) -> Result<Arc<Pool>> {
        if let Some(p) = &self.global_pool {
            return Ok(p.clone());
        }
        let p = Pool::new(Depletion::Process)?;
        self.global_pool = Some(p.clone());
        Ok(p)
    }

    /// The control thread's epoll set, starting the thread on first use.
    fn control(&mut self) -> Result<Arc<Fd>> {
        if let Some(c) = &self.control {
            return Ok(c.clone());
        }
        let ep = Arc::new(sys::epoll_create()?);
        let for_thread = ep.clone();
        // Opened here, not by the thread, so that the process's descriptors
        // are settled when door_create returns (tests compare counts).
        let spare = open_spare();
        // Rung when a server thread starts lingering (`linger.rs`).
        let bell = crate::linger::make_bell(&ep).ok();
        std::thread::Builder::new()
            .name("libdoor-control".into())
            .spawn(move || control_loop(for_thread, spare, bell))
            .map_err(|_| Errno(libc::EAGAIN))?;
        self.control = Some(ep.clone());
        Ok(ep)
    }

    fn watch(&mut self, source: Source) -> Result<u64> {
        let ep = self.control()?;
        let token = self.token();
        sys::mark_internal(source.sock());
        sys::epoll_ctl(&ep, libc::EPOLL_CTL_ADD, source.sock().raw(), libc::EPOLLIN as u32, token)?;
        self.sources.insert(token, source);
        Ok(token)
    }

    fn unwatch(&mut self, token: u64) {
        drop(self.remove_source(token));
    }

    /// Closes a counted source just watched (a door's new copy, an
    /// attachment's listener) that could not be handed over: its reference
    /// is taken back as if it never was, without the unreferenced
    /// notification `unwatch` could bring.
    fn withdraw(&mut self, token: u64) {
        let Some(src) = self.sources.remove(&token) else { return };
        if let Some(ep) = &self.control {
            let _ = sys::epoll_ctl(ep, libc::EPOLL_CTL_DEL, src.sock().raw(), 0, 0);
        }
        if let Source::DoorSocket { door, counted: true, .. } | Source::Listener { door, .. } = &src {
            door.refs.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// `unwatch`, handing the source to the caller instead of closing it.
    fn remove_source(&mut self, token: u64) -> Option<Source> {
        let removed = self.sources.remove(&token);
        // Closing alone would not take it out of the epoll set if another
        // process still shared the socket.
        if let (Some(src), Some(ep)) = (&removed, &self.control) {
            let _ = sys::epoll_ctl(ep, libc::EPOLL_CTL_DEL, src.sock().raw(), 0, 0);
        }
        match &removed {
            Some(Source::DoorSocket { door, counted: true, .. } | Source::Listener { door, .. }) => {
                door.drop_ref();
                self.forget_if_unreachable(door);
            }
            Some(Source::DoorSocket { door, counted: false, .. }) => {
                door.holds.fetch_sub(1, Ordering::SeqCst);
                self.forget_if_unreachable(door);
            }
            Some(Source::Opener { .. }) => self.pending_opens -= 1,
            None => {}
        }
        removed
    }

    /// A door with no references and no holds has no descriptor left in
    /// any process (every family and attachment is gone), so nobody can
    /// call it again, as when illumos frees a door whose last descriptor
    /// closed: its table entry and its channels go (their clients' cached
    /// ends read end of file and are dropped, see `client::take_channel`).
    /// Without this a server handing out per-client doors grew without
    /// bound (tests/load/soak.c). Calls being served keep what they use.
    fn forget_if_unreachable(&mut self, door: &Arc<Door>) {
        if door.refs.load(Ordering::SeqCst) == 0 && door.holds.load(Ordering::SeqCst) == 0 {
            self.doors.remove(&door.uniq);
            self.channels.retain(|_, ch| ch.door.uniq != door.uniq);
        }
    }

    /// Closes the door sockets among the first `HELP_BATCH` sources the
    /// control thread's epoll set reports ready whose every descriptor has
    /// closed and which hold nothing more to read, as the control thread
    /// would on their end of file. The source the control thread is
    /// serving is left to it: it may be handling that socket's last
    /// message, which must come before the reference goes (a Clone's copy,
    /// a Hello's channel).
    fn release_closed_families(&mut self) {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; HELP_BATCH];
        let n = match &self.control {
            Some(ep) => sys::epoll_ready(ep, &mut events),
            None => return,
        };
        let serving = CONTROL_SERVING.load(Ordering::SeqCst);
        for token in events[..n].iter().map(|e| e.u64).filter(|&t| t != serving) {
            if let Some(Source::DoorSocket { sock, .. }) = self.sources.get(&token)
                && sys::drained_and_gone(sock.raw())
            {
                self.unwatch(token);
            }
        }
    }

    /// Watches a new attachment connection, disconnecting the oldest
    /// silent one if too many wait.
    fn watch_opener(&mut self, source: Source) -> Result<u64> {
        if self.pending_opens >= MAX_PENDING_OPENS {
            let silent = self.openers.iter().position(|&(_, token)| match self.sources.get(&token) {
                Some(Source::Opener { sock, .. }) => !sys::readable_now(sock.raw()),
                _ => false,
            });
            if let Some(i) = silent {
                let (_, token) = self.openers.remove(i).expect("a position in the queue");
                self.unwatch(token);
            }
        }
        let token = self.watch(source)?;
        self.pending_opens += 1;
        self.openers.push_back((std::time::Instant::now() + OPEN_TIMEOUT, token));
        Ok(token)
    }

    /// Disconnects the attachment connections that stayed silent too long;
    /// returns how long until the next one's deadline.
    fn expire_openers(&mut self) -> Option<std::time::Duration> {
        let now = std::time::Instant::now();
        while let Some(&(deadline, token)) = self.openers.front() {
            if !matches!(self.sources.get(&token), Some(Source::Opener { .. })) {
                self.openers.pop_front();
            } else if deadline <= now {
                self.openers.pop_front();
                self.unwatch(token);
            } else {
                return Some(deadline - now);
            }
        }
        None
    }

    pub fn door(&self, uniq: u64) -> Option<Arc<Door>> {
        self.doors.get(&uniq).cloned()
    }

    pub fn channel(&self, id: u64) -> Option<Arc<Channel>> {
        self.channels.get(&id).cloned()
    }

    /// Forgets a channel and takes its socket out of its pool's epoll set
    /// (closing alone would not, while the client still holds a copy of
    /// our end).
    pub fn drop_channel(&mut self, id: u64) {
        if let Some(ch) = self.channels.remove(&id) {
            let _ = sys::epoll_ctl(&ch.door.pool.epoll, libc::EPOLL_CTL_DEL, ch.sock.raw(), 0, 0);
        }
    }

    /// Registers a new door; its descriptors come from `new_descriptor`.
    pub fn add_door(&mut self, door: Arc<Door>) -> Result<()> {
        self.control()?;
        self.doors.insert(door.uniq, door);
        Ok(())
    }
}

/// Runs `f` on this process's server table.
pub fn with_server<R>(f: impl FnOnce(&mut Server) -> R) -> R {
    let mut guard = lock();
    if guard.as_ref().map(|s| s.pid) != Some(sys::getpid()) {
        if let Some(stale) = guard.take() {
            stale.abandon();
        }
        *guard = Some(Server::new());
    }
    f(guard.as_mut().expect("server table present"))
}

fn lock() -> MutexGuard<'static, Option<Server>> {
    SERVER.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The door `uniq` if this process serves it.
pub fn local_door(uniq: u64) -> Option<Arc<Door>> {
    with_server(|s| s.door(uniq))
}

/// The door descriptor `fd` (whose label names `uniq`) refers to, if it is
/// one of this process's doors. The uniquifier alone is not enough: anyone
/// may bind a label naming our door to a socket and hand it to us
/// (`label::made_here`).
pub fn local_door_of(fd: c_int, uniq: u64) -> Option<Arc<Door>> {
    local_door(uniq).filter(|_| label::made_here(fd))
}

/// How many ready sources one `help_release` looks at.
const HELP_BATCH: usize = 16;

/// Does the control thread's work for door sockets whose families have
/// all closed: called by every thread that makes a door descriptor (and by
/// `door_revoke`, whose close is often the last). The control thread alone
/// is one thread: threads making and closing or revoking doors without
/// pause outran it, and the server ends of dead families piled up until
/// `EMFILE`. Helping makes each maker pay for what it leaves, as the
/// illumos kernel frees a door's last descriptor in the closing thread.
pub fn help_release() {
    // The control thread itself (answering an Open or a Clone) comes to
    // those sources on its own next look.
    if !ON_CONTROL_THREAD.get() {
        with_server(Server::release_closed_families);
    }
}

std::thread_local! {
    /// Whether this thread is the control thread.
    static ON_CONTROL_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

// ---------------------------------------------------------------------------
// fork: the table's lock is held across fork so the child gets it unlocked
// and consistent.

std::thread_local! {
    static FORK_GUARD: std::cell::RefCell<Option<ForkGuard>> = const { std::cell::RefCell::new(None) };
}

/// The locks held across `fork`, so that the child finds them free: the
/// server table's, the death watch's list and the linger registry (taken
/// in that order everywhere: a channel's slot may be dropped under the
/// table's lock, and a channel under the registry's).
type ForkGuard = (
    MutexGuard<'static, Option<Server>>,
    MutexGuard<'static, crate::deathwatch::Slots>,
    MutexGuard<'static, Vec<std::sync::Weak<Channel>>>,
);

pub extern "C" fn atfork_prepare() {
    let g = lock();
    let w = crate::deathwatch::lock_for_fork();
    let l = crate::linger::lock_for_fork();
    FORK_GUARD.with(|f| *f.borrow_mut() = Some((g, w, l)));
    // Last: a thread making a descriptor may hold one of the locks above.
    crate::forkfence::before_fork();
}

pub extern "C" fn atfork_parent() {
    crate::forkfence::after_fork_in_parent();
    FORK_GUARD.with(|f| f.borrow_mut().take());
}

pub extern "C" fn atfork_child() {
    crate::forkfence::after_fork_in_child();
    CONTROL_SERVING.store(0, Ordering::SeqCst);
    sys::renew_pid();
    sys::close_internal_after_fork();
    FORK_GUARD.with(|f| f.borrow_mut().take());
    crate::linger::forget_after_fork();
    count_inherited_doors();
}

/// On illumos every descriptor is a reference, so a forked child's copies
/// count toward unreferenced notifications. Here an inherited copy would
/// share its parent's descriptor family (one reference for both), so the
/// child replaces each door descriptor it inherited by a fresh counted
/// copy of its own, asked of the door's server (`Clone`), at the same number
/// with the same close-on-exec flag. Doors whose server is gone stay as
/// they are. This runs in the child only, after the table lock is released.
fn count_inherited_doors() {
    let mut fds = Vec::new();
    sys::DOOR_FDS.drain(|fd| fds.push(fd));
    // (A panic leaves the rest as they are: uncounted, still working.)
    let doors = std::panic::catch_unwind(|| crate::dup::replace_all_with_copies(&fds)).unwrap_or(fds);
    for fd in doors {
        if label::door_id(fd).is_ok() {
            sys::DOOR_FDS.insert(fd);
        }
    }
}

// ---------------------------------------------------------------------------
// The control thread.

fn control_loop(ep: Arc<Fd>, mut spare: Option<Fd>, bell: Option<Fd>) {
    block_all_signals();
    ON_CONTROL_THREAD.set(true);
    // This thread lives as long as the process: its exit is the process's
    // death, which the kernel announces in every watched channel.
    crate::deathwatch::register();
    let me = sys::getpid();
    let mut timeout = None;
    while let Ok(event) = sys::epoll_wait_for(&ep, timeout) {
        if sys::getpid() != me {
            return;
        }
        match event {
            Some((_, crate::linger::BELL_TOKEN)) => {
                if let Some(bell) = &bell {
                    sys::eventfd_drain(bell.raw());
                }
            }
            Some((events, token)) => serve_source(token, events, &mut spare),
            None => {}
        }
        let lingering = crate::linger::tick();
        // A refusal that found the table full even without the spare (a
        // pool thread took the freed slot first) left none: take it back
        // as soon as there is room, or the next full table would leave an
        // opener waiting, and the process would hold one descriptor fewer
        // than at rest.
        if spare.is_none() {
            spare = open_spare();
        }
        timeout = match (with_server(|s| s.expire_openers()), lingering) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// A descriptor the control thread keeps in reserve, so that with the
/// process's table full it can still accept an opener and refuse it
/// (`refuse_opener`).
fn open_spare() -> Option<Fd> {
    let fd = sys::openat(libc::AT_FDCWD, c"/dev/null", libc::O_RDONLY, 0).ok()?;
    sys::mark_internal(&fd);
    Some(fd)
}

/// Internal threads take no signals: the application's handlers run on its
/// own threads, as with libc's door threads on illumos.
pub fn block_all_signals() {
    // SAFETY: set is initialised by sigfillset before use; a NULL old set is allowed.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

enum Snapshot {
    DoorSocket(Arc<Door>, c_int),
    Listener(Arc<Door>, c_int, Perm),
    Opener(Arc<Door>, c_int, u64, Perm),
}

fn serve_source(token: u64, events: u32, spare: &mut Option<Fd>) {
    // Other threads remove only sources this thread is not serving (see
    // `help_release`), so a descriptor seen here stays open until this
    // thread lets it go.
    CONTROL_SERVING.store(token, Ordering::SeqCst);
    serve_snapshot(token, events, spare);
    CONTROL_SERVING.store(0, Ordering::SeqCst);
}

fn serve_snapshot(token: u64, events: u32, spare: &mut Option<Fd>) {
    let snap = with_server(|s| {
        s.sources.get(&token).map(|src| match src {
            Source::DoorSocket { door, sock, .. } => Snapshot::DoorSocket(door.clone(), sock.raw()),
            Source::Listener { door, sock, perm } => Snapshot::Listener(door.clone(), sock.raw(), *perm),
            Source::Opener { door, sock, listener, perm } => Snapshot::Opener(door.clone(), sock.raw(), *listener, *perm),
        })
    });
    match snap {
        Some(Snapshot::DoorSocket(door, fd)) => serve_door_socket(token, &door, fd),
        Some(Snapshot::Listener(door, fd, perm)) => serve_listener(&door, fd, token, perm, events, spare),
        Some(Snapshot::Opener(door, fd, listener, perm)) => serve_opener(token, &door, fd, listener, perm),
        None => {}
    }
}

/// What reading a control socket gave.
enum Control {
    /// Nothing yet, or a message dropped because our descriptor table had
    /// no room for what it carried (not the sender's fault).
    Nothing,
    /// End of file or an error: the peer is gone.
    Gone,
    /// A message no libdoor peer sends (`wire::decode_control`): the peer's
    /// connection is closed.
    Malformed,
    Message(Msg, Vec<Fd>),
}

/// Reads one message from a door socket or an attachment connection.
fn read_control(fd: c_int, on_attachment: bool) -> Control {
    let mut buf = [0u8; MSG_LEN + 1];
    match sys::recv_with_fds(fd, &mut buf, libc::MSG_DONTWAIT) {
        Err(Errno(libc::EAGAIN)) => Control::Nothing,
        Err(_) => Control::Gone,
        Ok(r) if r.len == 0 && r.fds.is_empty() && sys::peer_gone(fd) => Control::Gone,
        Ok(r) if r.fds_lost => Control::Nothing,
        Ok(r) => match wire::decode_control(&buf[..r.len], r.fds.len(), on_attachment) {
            Ok(m) => Control::Message(m, r.fds),
            Err(_) => Control::Malformed,
        },
    }
}

/// Serves one message on a door socket. A malformed one closes the socket:
/// the descriptor family it serves (the sender's, and copies the sender
/// made itself with dup or fork or passed on its own) loses the door, as
/// it would had the sender shut the socket down, which it may always do.
fn serve_door_socket(token: u64, door: &Arc<Door>, fd: c_int) {
    let (msg, fds) = match read_control(fd, false) {
        Control::Gone | Control::Malformed => return with_server(|s| s.unwatch(token)),
        Control::Nothing => return,
        Control::Message(m, fds) => (m, fds),
    };
    match msg.kind {
        Kind::Hello => {
            let adopted = adopt_channel(door, fds);
            if adopted == Err(Errno(libc::EPROTO)) {
                with_server(|s| s.unwatch(token));
            }
        }
        Kind::Info => {
            if let Ok([reply]) = <[Fd; 1]>::try_from(fds) {
                let mut id = door.identity().to_msg();
                if door.revoked.load(Ordering::Relaxed) {
                    id.d |= DOOR_REVOKED;
                }
                let mut params = Msg::new(Kind::Params);
                params.a = door.params.data_max.load(Ordering::Relaxed) as u64;
                params.b = door.params.data_min.load(Ordering::Relaxed) as u64;
                params.c = door.params.desc_max.load(Ordering::Relaxed) as u64;
                let _ = sys::send_now(reply.raw(), &id.encode(), &[]);
                let _ = sys::send_now(reply.raw(), &params.encode(), &[]);
                sys::close_answered(reply);
            }
        }
        Kind::Clone => {
            // A copy of the door (dup, passing, fork): a reference of its own.
            if let Ok([reply]) = <[Fd; 1]>::try_from(fds) {
                let mut m = Msg::new(Kind::Opened);
                match new_watched_descriptor(door, true) {
                    Err(e) => {
                        m.d = e.0 as u32;
                        let _ = sys::send_now(reply.raw(), &m.encode(), &[]);
                    }
                    // A copier that gave up waiting (the server was
                    // stopped for a second) has closed its end, so the copy
                    // cannot be sent: its reference is withdrawn as if it
                    // never was, without the unreferenced notification its
                    // end of file would bring.
                    Ok((door_end, token)) => {
                        if sys::send_now(reply.raw(), &m.encode(), &[door_end.raw()]).is_err() {
                            with_server(|s| s.withdraw(token));
                        }
                    }
                }
                sys::close_answered(reply);
            }
        }
        Kind::Abandon => {
            if let Some(ch) = with_server(|s| s.channel(msg.a)).filter(|ch| ch.door.uniq == door.uniq) {
                ch.abandoned(msg.seq);
            }
        }
        Kind::Attach => {
            // fds: [listener, reply socket]; answered once the attachment
            // counts, so fattach returns with the door referenced by it.
            // The listener is made non-blocking: the attacher keeps a copy
            // and could take a connection first, which must not leave the
            // control thread waiting in accept. (It can clear the flag
            // again, on the description we share: `acceptwatch` then ends
            // the wait and the attachment.)
            let mut fds = fds;
            if !is_listening_seqpacket(fds[0].raw()) || sys::set_nonblocking(fds[0].raw()).is_err() {
                with_server(|s| s.unwatch(token));
            } else {
                let reply = fds.pop().expect("two descriptors");
                let sock = fds.pop().expect("two descriptors");
                let perm = Perm { mode: msg.a as u32 & 0o7777, uid: msg.b as u32, gid: msg.c as u32 };
                door.refs.fetch_add(1, Ordering::SeqCst);
                let mut answer = Msg::new(Kind::Opened);
                match with_server(|s| s.watch(Source::Listener { door: door.clone(), sock, perm })) {
                    Err(e) => {
                        door.refs.fetch_sub(1, Ordering::SeqCst);
                        answer.d = e.0 as u32;
                        let _ = sys::send_now(reply.raw(), &answer.encode(), &[]);
                    }
                    // An attacher that gave up waiting (fattach interrupted)
                    // has shut its end down, so the answer cannot be sent:
                    // nobody will ever reach this listener, and its
                    // reference is withdrawn as if it never was (no
                    // unreferenced notification).
                    Ok(token) => {
                        if sys::send_now(reply.raw(), &answer.encode(), &[]).is_err() {
                            with_server(|s| s.withdraw(token));
                        }
                    }
                }
                sys::close_answered(reply);
            }
        }
        _ => {}
    }
}

fn is_seqpacket(fd: c_int) -> bool {
    sys::sockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN) == Ok(libc::AF_UNIX)
        && sys::sockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE) == Ok(libc::SOCK_SEQPACKET)
}

fn is_listening_seqpacket(fd: c_int) -> bool {
    is_seqpacket(fd) && sys::sockopt_int(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN) == Ok(1)
}

/// Takes a client's Hello: checks the socket and the region it sent, maps
/// the region and hands the channel to the door's pool.
fn adopt_channel(door: &Arc<Door>, mut fds: Vec<Fd>) -> Result<()> {
    if fds.len() != 2 {
        return Err(Errno(libc::EPROTO));
    }
    let region_fd = fds.pop().expect("two descriptors");
    let sock = fds.pop().expect("two descriptors");
    if !is_seqpacket(sock.raw()) {
        return Err(Errno(libc::EPROTO));
    }
    // The client must not be able to shrink the region under us (SIGBUS).
    if sys::sealed_len(&region_fd, libc::F_SEAL_SHRINK | libc::F_SEAL_GROW) != Ok(wire::REGION_LEN) {
        return Err(Errno(libc::EPROTO));
    }
    let creator = sys::peer_cred(&sock)?.pid;
    // A region we cannot map writable (sealed against writing) is the
    // client's doing; a lack of memory or descriptors is ours.
    let region = Region::map_watched(&region_fd).map_err(|e| match e {
        Errno(libc::ENOMEM | libc::ENFILE | libc::EMFILE) => e,
        _ => Errno(libc::EPROTO),
    })?;
    // Mapped, the memfd is not needed: closed now, before the client hears
    // Opened, not when this function returns, so that the server has no
    // descriptor more while the client's first call is served than after
    // it (tests count them; a count taken then was one too high).
    drop(region_fd);
    // (`sock` is libdoor's own already: `recv_with_fds` marks what it
    // receives.)
    // Each call then carries the caller's identity, as the kernel knows it.
    let _ = sys::pass_credentials(&sock);
    with_server(|s| {
        let id = s.token();
        region.channel_id().store(id, Ordering::SeqCst);
        let ch = Arc::new(Channel {
            id,
            sock,
            region,
            door: door.clone(),
            serving: AtomicU64::new(0),
            serving_thread: AtomicU64::new(0),
            last_cred: AtomicU64::new(NO_CRED),
            creator,
            spin: Mutex::new(crate::spin::Budget::new()),
            bulk: Mutex::new(None),
            reply_bulk: Mutex::new(None),
            reply_next: AtomicUsize::new(0),
            partial: Mutex::new(Vec::new()),
            linger_calls: AtomicU64::new(0),
            linger_seen: AtomicU64::new(0),
            linger_kick: AtomicBool::new(false),
        });
        ch.publish_limits();
        // Opened goes first, and only then can anything else of the server
        // speak on the channel: a client may send its first call right
        // behind Hello (`client::send_call`), and waits for the answer
        // before any reply. So it is queued before the channel is in the
        // table, where a revocation's sweep of waiting calls
        // (`fail_waiting_calls`) would answer such a call, and before a
        // thread of the pool can see the channel. The limits are published
        // before, so a client that has Opened checks them. Only a client
        // that filled the socket before handing it over leaves no room for
        // the answer; one that gave up meanwhile (interrupted, cancelled)
        // has closed its end. (A channel not kept closes as this returns;
        // its client reads end of file.)
        sys::send_now(ch.sock.raw(), &Msg::new(Kind::Opened).encode(), &[])
            .map_err(|e| if e == Errno(libc::EAGAIN) { Errno(libc::EPROTO) } else { e })?;
        s.channels.insert(id, ch.clone());
        let events = (libc::EPOLLIN | libc::EPOLLONESHOT) as u32;
        sys::epoll_ctl(&door.pool.epoll, libc::EPOLL_CTL_ADD, ch.sock.raw(), events, id).inspect_err(|_| s.drop_channel(id))
    })
}

/// Republishes a door's limits to all its channels (after `door_setparam`
/// or `door_revoke`).
pub fn publish_limits(uniq: u64) {
    let channels: Vec<Arc<Channel>> =
        with_server(|s| s.channels.values().filter(|c| c.door.uniq == uniq).cloned().collect());
    for ch in channels {
        ch.publish_limits();
    }
}

/// Accepts a connection to an attachment and serves its Open at once if it
/// is already there (libdoor's `open` sends it right after connecting).
/// A listener that hangs up or fails for good (its attacher, who keeps a
/// copy, shut it down) is no longer served: it would wake us forever.
fn serve_listener(door: &Arc<Door>, fd: c_int, listener: u64, perm: Perm, events: u32, spare: &mut Option<Fd>) {
    if events & (libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
        return with_server(|s| s.unwatch(listener));
    }
    // SAFETY: fd stays open while this thread works on it (see serve_source);
    // the temporary Fd is forgotten, not closed.
    let l = std::mem::ManuallyDrop::new(unsafe { Fd::from_raw(fd) });
    match crate::acceptwatch::accept(&l) {
        // Its Open is usually there already: answered without ever
        // entering the epoll set (two `epoll_ctl` fewer per `open`).
        Ok(sock) => match read_control(sock.raw(), true) {
            Control::Nothing => {
                let _ = with_server(|s| s.watch_opener(Source::Opener { door: door.clone(), sock, listener, perm }));
            }
            Control::Gone => {}
            said => answer_opener(said, door, sock, listener, perm),
        },
        Err(Errno(libc::EMFILE | libc::ENFILE)) => refuse_opener(&l, spare),
        Err(Errno(libc::EAGAIN | libc::ENOBUFS | libc::ENOMEM)) => {}
        Err(_) => with_server(|s| s.unwatch(listener)),
    }
}

/// Our descriptor table is full, so an opener waiting on the listener
/// cannot get a door (which takes two descriptors here). The spare makes
/// room to accept it and answer `EMFILE` at once, rather than leave it
/// waiting and the listener readable, which would keep this thread busy
/// until a descriptor is freed.
///
/// The accepted connection then takes the spare's place in the table (shut
/// down: it carries nothing more). Closing it and opening a new spare would
/// leave the table one short for a moment after the opener has its answer,
/// and the opener could see the server's count one lower than it is.
fn refuse_opener(listener: &Fd, spare: &mut Option<Fd>) {
    *spare = None;
    match crate::acceptwatch::accept(listener) {
        Ok(conn) => {
            let mut refusal = Msg::new(Kind::Opened);
            refusal.d = libc::EMFILE as u32;
            let _ = sys::send_now(conn.raw(), &refusal.encode(), &[]);
            // SAFETY: shutdown takes no pointers; conn is our descriptor.
            unsafe { libc::shutdown(conn.raw(), libc::SHUT_RDWR) };
            // (libdoor's own already: `sys::accept` marks what it accepts.)
            *spare = Some(conn);
        }
        Err(_) => *spare = open_spare(),
    }
}

/// Serves a watched attachment connection once it is readable.
fn serve_opener(token: u64, door: &Arc<Door>, fd: c_int, listener: u64, perm: Perm) {
    let said = match read_control(fd, true) {
        Control::Gone => return with_server(|s| s.unwatch(token)),
        Control::Nothing => return,
        said => said,
    };
    if let Some(Source::Opener { sock, .. }) = with_server(|s| s.remove_source(token)) {
        answer_opener(said, door, sock, listener, perm);
    }
}

/// Answers what an attachment connection said (an Open or a Detach;
/// anything else gets `EPROTO`), then closes it: it carries one exchange.
fn answer_opener(said: Control, door: &Arc<Door>, conn: Fd, listener: u64, perm: Perm) {
    let msg = match said {
        Control::Message(msg, _) => msg,
        // Answered with EPROTO below.
        _ => Msg::new(Kind::Opened),
    };
    let cred = sys::peer_cred(&conn);
    let mut reply = Msg::new(Kind::Opened);
    let mut door_end = None;
    match (msg.kind, cred) {
        (Kind::Open, Ok(cred)) => {
            let acc = msg.d as c_int & libc::O_ACCMODE;
            let read = acc == libc::O_RDONLY || acc == libc::O_RDWR;
            let write = acc == libc::O_WRONLY || acc == libc::O_RDWR;
            let groups = || sys::peer_groups(&conn).unwrap_or_default();
            if !perm.allows(cred.uid, cred.gid, groups, read, write) {
                reply.d = libc::EACCES as u32;
            } else {
                match new_descriptor(door, false) {
                    Ok(c) => door_end = Some(c),
                    Err(e) => reply.d = e.0 as u32,
                }
            }
        }
        (Kind::Detach, Ok(cred)) => {
            if cred.uid == 0 || cred.uid == perm.uid {
                with_server(|s| s.unwatch(listener));
            } else {
                reply.d = libc::EPERM as u32;
            }
        }
        _ => reply.d = libc::EPROTO as u32,
    }
    let fds: Vec<c_int> = door_end.iter().map(Fd::raw).collect();
    let _ = sys::send_now(conn.raw(), &reply.encode(), &fds);
    // Our copy of the client's end goes before the connection closes: the
    // opener waits for that close, and then counts nothing of ours.
    drop(door_end);
    if msg.kind == Kind::Detach && reply.d == 0 {
        // The listener came from the attacher, so it closes on the reaper
        // thread (its accept queue may hold anything); the detacher waits
        // for this connection's close, which is queued after it, and so
        // counts nothing of ours when fdetach returns.
        sys::close_after_queued(conn);
    }
}

/// Forgets a door that never worked (a failed `door_xcreate`): its table
/// entry, its sockets and its channels go now, so the caller sees no
/// descriptor left behind.
pub fn discard_door(uniq: u64) {
    let leftovers = with_server(|s| {
        let door = s.doors.remove(&uniq);
        let tokens: Vec<u64> = s
            .sources
            .iter()
            .filter(|(_, src)| match src {
                Source::DoorSocket { door, .. } | Source::Listener { door, .. } | Source::Opener { door, .. } => {
                    door.uniq == uniq
                }
            })
            .map(|(t, _)| *t)
            .collect();
        let sources: Vec<Source> = tokens.iter().filter_map(|t| s.sources.remove(t)).collect();
        s.channels.retain(|_, ch| ch.door.uniq != uniq);
        (door, sources)
    });
    drop(leftovers);
}

/// After `door_revoke`: callers whose calls no server thread has taken yet
/// get `EBADF` now, as illumos wakes the callers waiting for a thread. Each
/// waiting call is claimed the way a pool thread claims one (the state
/// word's compare-and-swap), so it is answered exactly once; calls already
/// taken finish normally.
pub fn fail_waiting_calls(uniq: u64) {
    let channels: Vec<Arc<Channel>> =
        with_server(|s| s.channels.values().filter(|c| c.door.uniq == uniq).cloned().collect());
    for ch in channels {
        let state = ch.state().load(Ordering::SeqCst);
        if state & 3 != wire::pending(0) {
            continue;
        }
        let seq = state >> 2;
        if ch.state().compare_exchange(state, wire::picked(seq), Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            let mut m = Msg::new(Kind::Reply);
            m.seq = seq;
            m.c = libc::EBADF as u64;
            let _ = sys::send_now(ch.sock.raw(), &m.encode(), &[]);
            // The client's sleep may have no timeout: wake it to read it.
            ch.region.notify_client();
        }
    }
}

/// A new descriptor for `door`: the client end of a fresh pair, labelled and
/// with its nameplate queued; the server end joins the control thread's set.
///
/// `counted` descriptors are references (`door_create`'s, and copies passed
/// in calls); the others (from `open` of an attached path) are holds.
pub fn new_descriptor(door: &Arc<Door>, counted: bool) -> Result<Fd> {
    new_watched_descriptor(door, counted).map(|(client, _)| client)
}

/// `new_descriptor`, with the token of the server end's source.
fn new_watched_descriptor(door: &Arc<Door>, counted: bool) -> Result<(Fd, u64)> {
    help_release();
    // (The client end is the application's, once it has it.)
    let (client, server) = sys::door_pair()?;
    let nonce = label::bind(&client, door.uniq)?;
    let seal = label::seal(door.uniq, nonce);
    label::put_nameplate(&server, label::Identity { seal, ..door.identity() })?;
    let count = if counted { &door.refs } else { &door.holds };
    count.fetch_add(1, Ordering::SeqCst);
    match with_server(|s| s.watch(Source::DoorSocket { door: door.clone(), sock: server, counted })) {
        Ok(token) => Ok((client, token)),
        Err(e) => {
            count.fetch_sub(1, Ordering::SeqCst);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_bits() {
        let p = Perm { mode: 0o640, uid: 100, gid: 200 };
        assert!(p.allows(100, 1, Vec::new, true, true));
        assert!(p.allows(5, 200, Vec::new, true, false));
        assert!(!p.allows(5, 200, Vec::new, true, true));
        assert!(p.allows(5, 1, || vec![200], true, false));
        assert!(!p.allows(5, 1, Vec::new, true, false));
        assert!(p.allows(0, 0, Vec::new, true, true));
        let ro = Perm { mode: 0o444, uid: 0, gid: 0 };
        assert!(ro.allows(1000, 1000, Vec::new, true, false));
        assert!(!ro.allows(1000, 1000, Vec::new, true, true));
    }
}
