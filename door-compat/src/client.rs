//! The client side: channels and `door_call`.
//!
//! A door descriptor may be shared by many threads and processes (dup, fork,
//! SCM_RIGHTS), so calls do not travel on it. Each thread opens its own
//! *channel* to each door it calls: a socket pair and a shared region, the
//! far ends sent to the server in one Hello through the door descriptor. The
//! thread keeps the channel for later calls; when the thread ends, another
//! thread of the process may take it (spare.rs), and a forked child never
//! uses its parent's.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use libc::c_int;

use crate::abi::*;
use crate::descriptors;
use crate::idwatch;
use crate::sigwatch;
use crate::label::{self, DoorName, Identity};
use crate::region::{self, Region};
use crate::bulk;
use crate::spin;
use crate::spare;
use crate::shared_cpu;
use crate::splice;
use crate::sys::{self, Errno, Fd, Result};
use crate::wire::{self, Data, Kind, MSG_LEN, Msg, Payload};

/// A channel, boxed: it moves between the thread's cache, the call in
/// flight and the results on every call, and a pointer moves for free.
pub type ClientChannel = Box<ChannelState>;

pub struct ChannelState {
    /// The door this channel reaches: its uniquifier and its server.
    door: DoorName,
    sock: Fd,
    /// `sock`'s inode: whether the number still names our socket, after
    /// the thread that used it ended (the application may have closed
    /// every descriptor since with plain `close`s, and reused the number).
    sock_ino: u64,
    region: Region,
    seq: u64,
    pid: libc::pid_t,
    /// `idwatch::changes()` when this process last stated its ids
    /// (`SCM_CREDENTIALS`) with a call on the socket; calls handed over in
    /// the region carry none, so they are made only while those still hold.
    stated: Option<u64>,
    /// How long to spin for a reply before sleeping (`spin.rs`).
    spin: spin::Budget,
    /// The server answered Hello: the channel is in its pool and the
    /// door's limits are published. Until then no call is sent.
    ready: bool,
    /// The bulk buffer for large arguments (`wire::DATA_BULK`), ours...
    bulk: bulk::Bulk,
    /// ...and the server's, for large results.
    reply_bulk: bulk::Bulk,
    /// The call that sent our bulk buffer to the server, until it is
    /// answered: until then the server may not have the buffer yet (a
    /// withdrawn call's message waits unread), so no call streams into it.
    bulk_unconfirmed: Option<u64>,
    /// Where in its ring the bulk buffer's next streamed argument starts
    /// (`bulk::next_start`), so that we write where the server read
    /// longest ago.
    bulk_next: usize,
    /// The kernel would not give this channel a large enough pipe
    /// (`splice::make`): its large arguments always stream.
    no_pipe: bool,
    /// The call in flight sent its large argument one of the two ways a
    /// server on our CPU can take it (`shared_cpu.rs`): which, the
    /// argument's size, and when the call began, to learn how long the
    /// way took once the reply comes.
    trial: Option<(shared_cpu::Way, usize, u64)>,
    /// When the sleep for a reply began, and on which CPU, while it lasts
    /// (waits toward a server on another CPU only, `spin::wait_began`).
    sleep_began: Option<(u64, u32)>,
    /// The id bits the server put in `rep_word` before it answered Hello:
    /// its death watcher's (`deathwatch.rs`), or 0 if it watches nothing.
    /// A sleep has no timeout only while the word still holds them.
    watch_id: u32,
    /// The size of the call sent right behind the Hello (`send_call`),
    /// whose limits are checked when the server's answer publishes them.
    unchecked: Option<usize>,
}

impl ChannelState {
    /// Opens a channel to the door behind descriptor `door_fd` (sends
    /// Hello; the server's answer is awaited like a reply, see `start`).
    /// `EBADF` when the door's server is gone.
    fn open(door_fd: c_int, door: DoorName) -> Result<ClientChannel> {
        let (mine, theirs) = sys::internal_pair()?;
        let region_fd = sys::memfd(c"libdoor-channel", wire::REGION_LEN)?;
        sys::add_seals(&region_fd, libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL)?;
        let region = Region::map(&region_fd)?;
        // The server's end must ask for credentials before our first call
        // is queued on it, or that call would arrive without them.
        let _ = sys::pass_credentials(&theirs);
        // (A signal while the server does not read its door's socket: the
        // call was never sent, as when one comes while Hello's answer is
        // awaited.)
        sys::send_with_fds(
            door_fd,
            &Msg::new(Kind::Hello).encode(),
            &[theirs.raw(), region_fd.raw()],
        )
            .map_err(|e| Errno(if e.0 == libc::EINTR { libc::EAGAIN } else { libc::EBADF }))?;
        drop(theirs);
        let sock_ino = sys::fstat(mine.raw())?.st_ino;
        Ok(Box::new(ChannelState {
            door,
            sock: mine,
            sock_ino,
            region,
            seq: 0,
            pid: sys::getpid(),
            stated: None,
            spin: spin::Budget::for_client(),
            ready: false,
            bulk: None,
            reply_bulk: None,
            bulk_unconfirmed: None,
            bulk_next: 0,
            trial: None,
            no_pipe: false,
            sleep_began: None,
            watch_id: 0,
            unchecked: None,
        }))
    }

    /// The server's limits, checked before sending as illumos checks them
    /// before choosing a server thread: EBADF (revoked), ENOBUFS (data size
    /// outside DATA_MIN..DATA_MAX), ENOTSUP (descriptors to a door that
    /// refuses them), ENFILE (more than DESC_MAX).
    fn check_limits(&self, size: usize, ndesc: usize) -> Result<()> {
        let word = |i: usize| self.region.limit(i).load(Ordering::SeqCst);
        let (revoked, min, max, desc_max, refuses) = (word(0), word(1), word(2), word(3), word(4));
        if revoked != 0 {
            Err(Errno(libc::EBADF))
        } else if (size as u64) < min || size as u64 > max {
            Err(Errno(libc::ENOBUFS))
        } else if ndesc > 0 && refuses != 0 {
            Err(Errno(libc::ENOTSUP))
        } else if ndesc as u64 > desc_max {
            Err(Errno(libc::ENFILE))
        } else {
            Ok(())
        }
    }

    /// A pipe for the argument `data` (`splice.rs`), if it should be
    /// spliced: it is large, the server last answered from our CPU, so
    /// that streaming's two copies could not overlap, and splicing has been
    /// the faster way here (`shared_cpu.rs`). Notes the way taken in
    /// `trial` when it is one of the two being compared.
    ///
    /// Never when `data` starts a few bytes before a page's end: the
    /// kernel copies the spliced pages into the server's buffer, which
    /// starts on a page, with `rep movsb`, and such a copy crawls (1 MiB
    /// 4080 bytes into a page: 474 µs against 116–148 µs; PERFORMANCE.md,
    /// "Buffers a few bytes out of step"). Streaming copies it with the
    /// library's vector loop.
    fn pipe_for(&mut self, data: &[u8]) -> Option<(Fd, Fd)> {
        let len = data.len();
        if !(splice::MIN..=wire::BULK_MAX).contains(&len)
            || self.region.server_cpu().load(Ordering::Relaxed) != spin::current_cpu()
            // (Address 0 stands for any address at a page's start.)
            || sys::just_behind(data.as_ptr(), std::ptr::null_mut())
        {
            return None;
        }
        let began = sys::monotonic_ns();
        let way = if self.no_pipe { shared_cpu::Way::Stream } else { shared_cpu::choose(len) };
        if way == shared_cpu::Way::Stream {
            // Only a call streamed in the region is timed: the first
            // large call of a channel sends the bulk buffer instead.
            if bulk::holds(&self.bulk, len) && self.bulk_unconfirmed.is_none() {
                self.trial = Some((way, len, began));
            }
            return None;
        }
        let pipe = splice::make();
        // Refused for its size: the user's pipes hold too many pages. This
        // channel streams from now on rather than ask at every call.
        self.no_pipe = matches!(pipe, Err(Errno(libc::EPERM)));
        if pipe.is_ok() {
            self.trial = Some((way, len, began));
        }
        pipe.ok()
    }

    /// The reply to a call came: if it was a trial of a way, the server
    /// said when it had the argument, and the way's cost is learned.
    fn learn_way(&mut self) {
        if let Some((way, len, began)) = self.trial.take() {
            let taken = self.region.arg_taken_ns().load(Ordering::Relaxed);
            let now = sys::monotonic_ns();
            // (0: the server never had it whole, or says nothing.)
            if taken > began && taken <= now {
                shared_cpu::record(len, way, taken - began);
            }
        }
    }

    /// The server's name for this channel, which it wrote in the region.
    fn server_id(&self) -> u64 {
        self.region.channel_id().load(Ordering::SeqCst)
    }

    fn state(&self) -> &AtomicU64 {
        self.region.state()
    }

    /// Whether this is a channel to `door` of this process (not inherited
    /// over fork).
    pub fn reaches(&self, door: DoorName) -> bool {
        self.door == door && self.pid == sys::getpid()
    }

    /// The channel, if another thread of this process may call through it:
    /// it is this process's, its socket is still ours, it answered Hello,
    /// and its server end is open. Otherwise it is dropped, or abandoned if
    /// its number is not ours to close (inherited over fork, or closed
    /// behind our back and perhaps reused).
    pub fn usable_here(self: Box<Self>) -> Option<ClientChannel> {
        let ours = sys::fstat(self.sock.raw()).is_ok_and(|st| st.st_ino == self.sock_ino);
        if self.pid != sys::getpid() || !ours {
            (*self).abandon();
            return None;
        }
        (self.ready && !sys::peer_gone(self.sock.raw())).then_some(self)
    }

    /// An ended thread's channel, for the calling thread (spare.rs): it
    /// states its own ids on the socket before it calls in the region,
    /// since the server knows only the ids the last thread stated.
    pub fn for_new_thread(mut self: Box<Self>) -> ClientChannel {
        self.stated = None;
        self.sleep_began = None;
        self.trial = None;
        self
    }

    /// Forgets a channel inherited over fork: the child closed its
    /// descriptor already, and the number may be in use again.
    fn abandon(self) {
        let ChannelState { sock, region, bulk, reply_bulk, .. } = self;
        std::mem::forget(sock);
        drop((region, bulk, reply_bulk));
    }
}

/// A thread's channels: the one it used last apart, so that a thread
/// calling one door over and over never hashes. Keyed by the door's name,
/// its server included: a forged descriptor claiming another door's
/// uniquifier (label.rs) never reaches that door's channel, nor that door
/// the forger's.
struct Channels {
    recent: Option<ClientChannel>,
    others: HashMap<DoorName, ClientChannel, BuildUniqHasher>,
}

impl Channels {
    fn take(&mut self, door: DoorName) -> Option<ClientChannel> {
        if self.recent.as_ref().is_some_and(|ch| ch.door == door) {
            return self.recent.take();
        }
        self.others.remove(&door)
    }

    /// Keeps `ch`, dropping any channel to the same door that a nested
    /// call (from a signal handler) opened meanwhile.
    fn put(&mut self, ch: ClientChannel) {
        match &self.recent {
            Some(recent) if recent.door != ch.door => {
                self.others.insert(ch.door, ch);
            }
            _ => self.recent = Some(ch),
        }
    }
}

impl Drop for Channels {
    /// The thread is ending: its channels may serve another thread.
    fn drop(&mut self) {
        spare::keep(self.recent.take().into_iter().chain(self.others.drain().map(|(_, ch)| ch)));
    }
}

std::thread_local! {
    /// This thread's channels, by door.
    static CHANNELS: RefCell<Channels> =
        const { RefCell::new(Channels { recent: None, others: HashMap::with_hasher(BuildUniqHasher) }) };
}

/// Uniquifiers are 64 random bits from the kernel: they hash themselves.
#[derive(Default)]
struct UniqHasher(u64);

impl std::hash::Hasher for UniqHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Default, Clone, Copy)]
struct BuildUniqHasher;

impl std::hash::BuildHasher for BuildUniqHasher {
    type Hasher = UniqHasher;
    fn build_hasher(&self) -> UniqHasher {
        UniqHasher::default()
    }
}

/// Takes this thread's channel to `door` out of the cache (so that a nested
/// call from a signal handler opens its own), or opens one.
fn take_channel(door: DoorName, door_fd: c_int) -> Result<ClientChannel> {
    let cached = CHANNELS.try_with(|c| c.borrow_mut().take(door)).ok().flatten();
    match cached {
        Some(ch) if ch.pid == sys::getpid() => Ok(ch),
        Some(stale) => {
            (*stale).abandon();
            ChannelState::open(door_fd, door)
        }
        None => {
            drop_closed_channels();
            spare::take(door).map_or_else(|| ChannelState::open(door_fd, door), Ok)
        }
    }
}

/// Drops this thread's cached channels whose server end is closed (the
/// door is gone: revoked and unreferenced, or its server died). Done
/// whenever the thread opens a channel, so a long-lived thread that calls
/// many short-lived doors (per-client doors) keeps a bounded number of
/// descriptors rather than one channel per door it ever called.
fn drop_closed_channels() {
    let closed: Vec<ClientChannel> = CHANNELS
        .try_with(|c| {
            let mut cache = c.borrow_mut();
            let gone: Vec<DoorName> = cache
                .others
                .values()
                .chain(cache.recent.as_ref())
                .filter(|ch| ch.pid == sys::getpid() && sys::peer_gone(ch.sock.raw()))
                .map(|ch| ch.door)
                .collect();
            gone.iter().filter_map(|door| cache.take(*door)).collect()
        })
        .unwrap_or_default();
    drop(closed);
}

/// Returns a channel to this thread's cache for its next call.
fn put_channel(ch: ClientChannel) {
    let _ = CHANNELS.try_with(|c| c.borrow_mut().put(ch));
}

/// What the caller passed in `door_arg_t`, or nothing (`params == NULL`).
pub struct Request<'a> {
    pub data: &'a [u8],
    pub descs: Vec<door_desc_t>,
    pub accepts_results: bool,
}

/// What came back.
pub struct Results {
    /// Where the data is: the region, or a memfd of its own.
    pub data: ResultData,
    pub size: usize,
    pub fds: Vec<Fd>,
}

pub enum ResultData {
    Region(ClientChannel),
    /// In the server's bulk buffer of this channel.
    Bulk(ClientChannel),
    /// Being written to the server's bulk buffer of this channel
    /// (`serve::stream_results`); `whole` once we have copied it all.
    Streamed { ch: ClientChannel, whole: bool },
    Memfd(Fd),
}

/// A call sent and not yet answered.
pub struct Pending {
    ch: ClientChannel,
    seq: u64,
    /// The reply word as we armed it before we last looked for the reply
    /// (`Region::arm`): any reply since has changed it, so waiting while it
    /// is unchanged never sleeps through one. Without `wire::REP_ARMED`:
    /// not armed since the last wake-up.
    word: u32,
    /// Descriptors received so far (from leading Descs messages).
    fds: Vec<Fd>,
}

/// What one step of waiting gave.
pub enum Step {
    /// Not answered yet: wait again.
    Wait(Pending),
    /// A new channel is ready: start the call again (it will be sent now).
    Ready,
    Done(Result<Results>),
}

/// Sends one call. The caller then waits (`wait`) and calls `receive`, or
/// `interrupted` if a signal handler ran meanwhile.
pub fn start(door_fd: c_int, door: DoorName, req: &Request) -> Result<Pending> {
    let p = send_call(door_fd, door, req)?;
    // A revocation published after our limit check, whose sweep of waiting
    // calls ran before our call was pending, would leave the call waiting
    // for a thread: look again now that it is pending (the sweep and we
    // each store, then read the other's word).
    if p.seq != 0 && p.ch.region.limit(0).load(Ordering::SeqCst) != 0 {
        let (pending, withdrawn) = (wire::pending(p.seq), wire::withdrawn(p.seq));
        if p.ch.state().compare_exchange(pending, withdrawn, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            return Err(refused(p.ch, Errno(libc::EBADF)));
        }
    }
    Ok(p)
}

fn send_call(door_fd: c_int, door: DoorName, req: &Request) -> Result<Pending> {
    let mut ch = take_channel(door, door_fd)?;
    let pipelined = !ch.ready;
    if pipelined && !(req.descs.is_empty() && req.data.len() <= wire::REQUEST_CAP) {
        // A new channel, and a call that may need its limits checked here
        // (descriptors, which illumos releases or not by the order of its
        // checks) or a bulk buffer: first the server's answer to Hello,
        // awaited like a reply (so the wait is interruptible and
        // cancellable); then `receive` says Step::Ready and the call is
        // started again. Handlers installed behind libc's back are seen
        // here at the latest (while the server takes the Hello: the 64
        // system calls, about 45 µs in a new process, overlap that wait).
        sigwatch::scan();
        return Ok(Pending { ch, seq: 0, word: 0, fds: Vec::new() });
    }
    // Otherwise, on a new channel, the call goes right behind Hello, a
    // round trip sooner: the server checks the limits we have not seen
    // yet, with the same errors (serve.rs `prepare`), and answers Hello
    // before any thread can see the call (server.rs `adopt_channel`).
    if !pipelined && let Err(e) = ch.check_limits(req.data.len(), req.descs.len()) {
        return Err(refused(ch, e));
    }
    // Then the descriptors, as illumos translates them only after its
    // limit checks: a malformed list fails (EINVAL), releasing them.
    if let Err(e) = descriptors::check_outgoing(&req.descs) {
        descriptors::release(&req.descs);
        put_channel(ch);
        return Err(e);
    }
    ch.seq += 1;
    let seq = ch.seq;
    let mut msg = Msg::new(Kind::Call);
    msg.seq = seq;
    msg.a = req.data.len() as u64;
    if !req.accepts_results {
        msg.e |= wire::NO_RESULTS;
    }
    // Data up to 64 KiB goes in the region's request area, written from
    // its start every call; from 16 KiB toward a server on another CPU it
    // goes round the bulk buffer's ring instead, where the lines we write
    // are not still in that CPU's cache (`bulk::RING_FROM`). (Not behind
    // a Hello: that call goes in the region.) Where the server is, is
    // asked only of data that size: smaller calls, the null call among
    // them, need not know.
    let far = req.data.len() >= bulk::RING_FROM
        && ch.region.server_cpu().load(Ordering::Relaxed) != spin::current_cpu();
    let rings = far && !pipelined;
    let fits = req.data.len() <= wire::REQUEST_CAP && !rings;
    // A large argument toward a server that last answered from our CPU may
    // go through a pipe of its own, one copy instead of two that cannot
    // overlap, when that has been the cheaper way.
    ch.trial = None;
    let pipe = if fits { None } else { ch.pipe_for(req.data) };
    let splices = pipe.is_some();
    let (pipe_write, pipe_read) = pipe.unzip();
    if ch.trial.is_some() {
        // Ordered before the server's store by the state word's store.
        ch.region.arg_taken_ns().store(0, Ordering::Relaxed);
    }
    if fits {
        // SAFETY: the request area is REQUEST_CAP bytes; len fits.
        unsafe { sys::copy_bytes(req.data.as_ptr(), ch.region.request_area(), req.data.len()) };
    }
    let r = &ch.region;
    // Armed before the call is posted: its reply changes the word.
    let word = r.arm();
    let me = idwatch::changes();
    // The fast way: a server thread lingers on this channel after its last
    // call, so hand the call over in the region and wake it; no socket
    // message. Only for calls without descriptors whose data fits, or
    // fits the bulk buffer the server already has (then the call is posted
    // first and the data streamed after it, piece by piece, so that the
    // server copies each piece out while we write the next), and only
    // while our identity is the one the server last saw.
    let streams = !fits && !splices && ch.bulk_unconfirmed.is_none() && bulk::holds(&ch.bulk, req.data.len());
    let mut posted = false;
    if (fits || streams)
        && req.descs.is_empty()
        && ch.stated == Some(me)
        && r.mode().load(Ordering::SeqCst) == region::LINGER
    {
        if streams {
            msg.e |= wire::DATA_BULK | wire::DATA_STREAMED;
            r.bulk_ready().store(0, Ordering::SeqCst);
            r.bulk_taken().store(0, Ordering::SeqCst);
            // Where we write from, for the server's choice to spin, and
            // the ring: a small one toward a server on another CPU, from
            // where the last argument ended.
            r.client_cpu().store(spin::current_cpu(), Ordering::Relaxed);
            let cap = ch.bulk.as_ref().map_or(0, |(_, cap)| *cap);
            let window = bulk::window_for(cap, far);
            let start = ch.bulk_next % window;
            ch.bulk_next = bulk::next_start(start, req.data.len(), window);
            r.bulk_window().store(window as u64, Ordering::Relaxed);
            r.bulk_start().store(start as u64, Ordering::Relaxed);
        }
        // (The state store publishes these: a server that sees the call
        // pending sees them. Relaxed stores are plain moves; a SeqCst store
        // is a locked exchange, about 20 cycles each.)
        r.req_size().store(req.data.len() as u64, Ordering::Relaxed);
        r.req_flags().store(msg.e, Ordering::Relaxed);
        r.req_via().store(region::VIA_REGION, Ordering::Relaxed);
        r.state().store(wire::pending(seq), Ordering::SeqCst);
        r.notify_server();
        // If the server stopped lingering meanwhile, it looks at the region
        // once more after saying so; if it missed us, the socket carries
        // the call too (the state word makes sure only one copy runs). A
        // streamed argument larger than the window needs a thread copying
        // it out before it can all be written: its socket copy goes as soon
        // as the window is full, no thread lingers and none has taken the
        // call. (A thread takes it, then says POOL: one that did is seen.)
        let mut on_socket = false;
        if streams {
            let sock = ch.sock.raw();
            bulk::stream_in(&ch.bulk, req.data, r, bulk::Reader::Server, |room| {
                if !on_socket
                    && r.mode().load(Ordering::SeqCst) != region::LINGER
                    && r.state().load(Ordering::SeqCst) == wire::pending(seq)
                {
                    if let Err(e) = descriptors::send_message(sock, msg, &[], None) {
                        return Err(if e == Errno(libc::EINTR) { cut_short(r, seq) } else { gone(r, seq) });
                    }
                    r.notify_server();
                    on_socket = true;
                }
                bulk::await_room(r, sock, room).map_err(|e| match e.0 {
                    libc::EPIPE => gone(r, seq),
                    libc::EINTR => cut_short(r, seq),
                    _ => e,
                })
            })?;
        }
        if on_socket {
            ch.stated = Some(me);
            return Ok(Pending { ch, seq, word, fds: Vec::new() });
        }
        if r.mode().load(Ordering::SeqCst) == region::LINGER {
            return Ok(Pending { ch, seq, word, fds: Vec::new() });
        }
        posted = true;
    }
    let data_fd = if splices {
        msg.e |= wire::DATA_PIPE;
        pipe_read
    } else if fits || streams && posted {
        None
    } else {
        let (flags, fd) = bulk::stage(&mut ch.bulk, req.data)?;
        if flags & wire::NEW_BULK != 0 {
            ch.bulk_unconfirmed = Some(seq);
        }
        msg.e |= flags;
        fd
    };
    let (descs, _copies) = descriptors::for_passing(&req.descs);
    if !posted {
        // (A call already posted in the region keeps its state: a thread
        // may have taken it from there, and resetting the state would let
        // the socket copy run it a second time.)
        r.req_via().store(region::VIA_SOCKET, Ordering::Relaxed);
        r.state().store(wire::pending(seq), Ordering::SeqCst);
    }
    if let Err(e) = descriptors::send_message(ch.sock.raw(), msg, &descs, data_fd.as_ref()) {
        if pipelined && e != Errno(libc::EINTR) {
            // The server has dropped the channel already (its descriptor
            // table is full, or it is gone): its answer to Hello, end of
            // file, says which (`receive`). The call was never sent: no
            // sweep of a revocation may find it pending.
            r.state().store(wire::withdrawn(seq), Ordering::SeqCst);
            sigwatch::scan();
            return Ok(Pending { ch, seq: 0, word: 0, fds: Vec::new() });
        }
        return Err(if e == Errno(libc::EINTR) {
            cut_short(r, seq)
        } else if posted {
            gone(r, seq)
        } else {
            Errno(libc::EBADF)
        });
    }
    // (A pipe's read end is the server's now: with ours closed, a server
    // that drops it fails our `vmsplice` instead of leaving it waiting.)
    drop(data_fd);
    ch.stated = Some(me);
    // A server thread lingering on the channel reads the socket when woken.
    r.notify_server();
    if pipelined {
        ch.unchecked = Some(req.data.len());
        // (As above, while the server takes the Hello and the call.)
        sigwatch::scan();
    }
    if let Some(write) = pipe_write {
        // If not all the bytes go in, the server refused the call (its
        // answer says why) or is gone, or the bytes could not be read: the
        // pipe closes with `write`, early, and the server answers EFAULT.
        if splice::push(&write, req.data, ch.sock.raw()) == Err(Errno(libc::EINTR)) {
            // A signal while the server takes none of it (stopped, or all
            // its threads busy): closing the pipe and the channel ends the
            // call there.
            return Err(cut_short(&ch.region, seq));
        }
    }
    Ok(Pending { ch, seq, word, fds: Vec::new() })
}

/// Call `seq`, posted in region `r` and not all sent, is given up because
/// a signal handler ran while we waited to send the rest (the channel is
/// then dropped, which tells the server): withdrawn if no server thread had
/// taken it (`EAGAIN`: it never runs), else `EINTR`, as in `interrupted`.
fn cut_short(r: &Region, seq: u64) -> Errno {
    match give_up(r, seq) {
        GaveUp::Withdrawn => Errno(libc::EAGAIN),
        GaveUp::Abandoned | GaveUp::Over => Errno(libc::EINTR),
    }
}

/// What giving up call `seq` found (`give_up`).
enum GaveUp {
    /// No server thread had taken it: it never runs.
    Withdrawn,
    /// A server thread runs it: that thread now has no client.
    Abandoned,
    /// Neither: it was answered (or withdrawn) already.
    Over,
}

/// Gives up call `seq` in region `r`, with the compare-and-swaps a server
/// thread's taking and answering race against (wire.rs, state word).
fn give_up(r: &Region, seq: u64) -> GaveUp {
    let state = r.state();
    if state.compare_exchange(wire::pending(seq), wire::withdrawn(seq), Ordering::SeqCst, Ordering::SeqCst).is_ok() {
        GaveUp::Withdrawn
    } else if state.compare_exchange(wire::picked(seq), wire::abandoned(seq), Ordering::SeqCst, Ordering::SeqCst).is_ok() {
        GaveUp::Abandoned
    } else {
        GaveUp::Over
    }
}

/// The error of call `seq`, posted in region `r`, whose server is gone or
/// dropped the channel: the door is unusable (EBADF), unless a server
/// thread had taken the call from the region before; then it was cut
/// short (EINTR), as in `server_gone`.
fn gone(r: &Region, seq: u64) -> Errno {
    Errno(if r.state().load(Ordering::SeqCst) == wire::picked(seq) { libc::EINTR } else { libc::EBADF })
}

/// How long a waiting client sleeps before it checks that its server is
/// still there, when the server's death would not wake it (a channel the
/// server could not watch, `deathwatch.rs`), or when a signal handler
/// installed with SA_RESTART could otherwise not interrupt the wait.
pub const LIVENESS_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// What `wait` leaves to its caller.
pub enum Wait {
    /// Look for the reply now (`receive`); `Err(EINTR)`: a signal handler
    /// ran during the sleep.
    Over(Result<()>),
    /// Sleep while the word is unchanged, with no timeout, as a
    /// cancellation point (door_loop.c), then `woken` runs. Only when the
    /// server's death marks the word and wakes us, and when no handler
    /// with SA_RESTART is installed (sigwatch.rs): such a handler would
    /// restart the sleep instead of ending it with EINTR.
    Sleep(*const AtomicU32, u32),
}

/// Waits until something may have arrived for a pending call: a reply in
/// the region, a message on the socket, the server gone (its death marks
/// `rep_word`, or `LIVENESS_CHECK` passes). A caught signal interrupts
/// the wait with EINTR, SA_RESTART or not: a futex wait or `ppoll` with a
/// timeout is never restarted, and the untimed sleep is used only while no
/// handler asks for restarts. (One handled while the thread is still
/// running, before it sleeps, does not, as with any system call.)
#[inline(always)] // once per call (PERFORMANCE.md, "Fewer instructions")
pub fn wait(p: &mut Pending) -> Wait {
    if !p.ch.ready {
        return Wait::Over(sys::wait_readable_for(p.ch.sock.raw(), LIVENESS_CHECK, None).map(drop));
    }
    let r = &p.ch.region;
    if p.word & wire::REP_ARMED == 0 {
        // Woken: arm the word again, then look (`receive`) before sleeping,
        // so that a reply after the look changes the word.
        p.word = r.arm();
        return Wait::Over(Ok(()));
    }
    let word = p.word;
    if word & wire::REP_OWNER_DIED != 0 {
        // The server died: its socket closes as its process ends.
        return Wait::Over(sys::wait_readable_for(p.ch.sock.raw(), LIVENESS_CHECK, None).map(drop));
    }
    let cpu = spin::current_cpu();
    r.client_cpu().store(cpu, Ordering::Relaxed);
    // Only waits toward a server on another CPU spin, or learn from a
    // sleep; only they need the clock.
    let began = spin::wait_began(r.server_cpu().load(Ordering::Relaxed), cpu);
    if began.is_some() && p.ch.spin.spin(|| r.rep_word().load(Ordering::Relaxed) != word) {
        p.word = 0;
        return Wait::Over(Ok(()));
    }
    // The server disarms rep_word, then wakes us if this is set: either it
    // sees the flag, or we see the changed word and do not sleep.
    r.client_waiting().store(1, Ordering::SeqCst);
    p.ch.sleep_began = began.map(|t| (t, cpu));
    if p.ch.watch_id != 0 && word & wire::REP_ID_MASK == p.ch.watch_id && !sigwatch::restarting() {
        return Wait::Sleep(r.rep_word(), word);
    }
    let w = sys::futex_wait(r.rep_word(), word, LIVENESS_CHECK);
    woken(p);
    Wait::Over(w)
}

/// After a sleep of `wait`'s: the spin learns from it.
#[inline(always)] // once per call (PERFORMANCE.md, "Fewer instructions")
pub fn woken(p: &mut Pending) {
    let r = &p.ch.region;
    // (A server that still sees 1 wakes nobody: no order needed.)
    r.client_waiting().store(0, Ordering::Relaxed);
    if let Some((began, cpu)) = p.ch.sleep_began.take()
        && r.rep_word().load(Ordering::SeqCst) != p.word
        && r.server_cpu().load(Ordering::Relaxed) != cpu
    {
        p.ch.spin.slept(began, r.rep_posted_ns().load(Ordering::Relaxed));
    }
    // Not armed: `wait` arms it before the next sleep (after a look).
    p.word = 0;
}

/// Reads what arrived for a pending call (on door `door_fd`): its reply,
/// or not yet (a batch of descriptors, or the late reply to an earlier
/// interrupted call, which is discarded along with its descriptors).
#[inline(always)] // once per call (PERFORMANCE.md, "Fewer instructions")
pub fn receive(p: Pending, door_fd: c_int) -> Step {
    let Pending { mut ch, seq, word, mut fds } = p;
    if !ch.ready {
        // The server answers Hello once the channel is in its pool and the
        // limits are published. End of file means it is gone (EBADF), or,
        // if it lives, that it could not take the channel: its descriptor
        // table is full (illumos' EMFILE when the server cannot take a
        // call's descriptors).
        let mut buf = [0u8; MSG_LEN + 1];
        return match sys::recv_with_fds(ch.sock.raw(), &mut buf, libc::MSG_DONTWAIT) {
            Err(Errno(libc::EAGAIN)) => Step::Wait(Pending { ch, seq, word, fds }),
            Ok(r) if Msg::decode(&buf[..r.len]).is_some_and(|m| m.kind == Kind::Opened) => {
                ch.ready = true;
                ch.watch_id = ch.region.rep_word().load(Ordering::SeqCst) & wire::REP_ID_MASK;
                let unchecked = ch.unchecked.take();
                if seq == 0 {
                    put_channel(ch);
                    return Step::Ready;
                }
                // The call went behind the Hello. Its limits, published
                // now, are checked as for any call: a call that breaks one
                // is withdrawn unless a thread has taken it (illumos fails
                // it before choosing a thread, so it fails even when the
                // pool has none); a thread that has refuses it the same way.
                if let Some(size) = unchecked
                    && let Err(e) = ch.check_limits(size, 0)
                    && ch.state().compare_exchange(wire::pending(seq), wire::withdrawn(seq), Ordering::SeqCst, Ordering::SeqCst).is_ok()
                {
                    return Step::Done(Err(refused(ch, e)));
                }
                // Now its reply is awaited (word 0, not armed: `wait` arms
                // the word, then looks).
                Step::Wait(Pending { ch, seq, word: 0, fds })
            }
            // Something other than the answer: the server broke the protocol.
            Ok(r) if r.len > 0 => Step::Done(Err(Errno(libc::EPROTO))),
            _ if !sys::peer_gone(door_fd) => Step::Done(Err(Errno(libc::EMFILE))),
            _ => Step::Done(Err(Errno(libc::EBADF))),
        };
    }
    let r = &ch.region;
    if fds.is_empty() && r.rep_seq().load(Ordering::SeqCst) == seq {
        confirm_bulk(&mut ch, seq);
        ch.learn_way();
        let r = &ch.region;
        let errno = r.rep_errno().load(Ordering::SeqCst);
        let size = r.rep_size().load(Ordering::SeqCst) as usize;
        if errno != 0 {
            return Step::Done(Err(refused(ch, Errno(wire::peer_errno(errno)))));
        }
        let in_bulk = size > wire::REPLY_CAP
            || size >= bulk::RING_FROM && r.rep_in_bulk().load(Ordering::Relaxed) != 0;
        if in_bulk {
            // Streamed in the server's bulk buffer, which we have.
            if !bulk::holds(&ch.reply_bulk, size) {
                return Step::Done(Err(Errno(libc::EPROTO)));
            }
            return Step::Done(Ok(Results { data: ResultData::Streamed { ch, whole: false }, size, fds }));
        }
        return Step::Done(Ok(Results { data: ResultData::Region(ch), size, fds }));
    }
    let mut buf = [0u8; MSG_LEN + 1];
    let r = match sys::recv_with_fds(ch.sock.raw(), &mut buf, libc::MSG_DONTWAIT) {
        Err(Errno(libc::EAGAIN)) => return Step::Wait(Pending { ch, seq, word, fds }),
        Err(_) => return Step::Done(Err(server_gone(ch, seq))),
        Ok(r) => r,
    };
    if r.len == 0 && r.fds.is_empty() {
        return Step::Done(Err(server_gone(ch, seq)));
    }
    let Some(msg) = Msg::decode(&buf[..r.len]) else { return Step::Done(Err(Errno(libc::EPROTO))) };
    let truncated = r.truncated;
    if msg.seq != seq {
        return Step::Wait(Pending { ch, seq, word, fds });
    }
    fds.extend(r.fds);
    if truncated {
        // Our descriptor table could not take the results. If what was
        // lost was the server's new bulk buffer (which it now counts on our
        // having), or more of the reply is still to come, the channel is
        // given up (the next call opens another); otherwise it is kept.
        drop(fds);
        if msg.kind == Kind::Reply && msg.e & wire::NEW_BULK == 0 {
            confirm_bulk(&mut ch, seq);
            put_channel(ch);
        }
        return Step::Done(Err(Errno(libc::EMFILE)));
    }
    match msg.kind {
        Kind::Descs if fds.len() <= DOOR_MAX_DESC + 1 => return Step::Wait(Pending { ch, seq, word, fds }),
        Kind::Reply => {
            confirm_bulk(&mut ch, seq);
            ch.learn_way();
        }
        _ => return Step::Done(Err(Errno(libc::EPROTO))),
    }
    if msg.c != 0 {
        return Step::Done(Err(refused(ch, Errno(wire::peer_errno(msg.c)))));
    }
    let Some(payload) = Payload::of(&msg, fds.len(), wire::REPLY_CAP) else {
        return Step::Done(Err(Errno(libc::EPROTO)));
    };
    let size = payload.size;
    let data = match payload.data {
        Data::Memfd => {
            let fd = fds.pop().expect("counted by Payload::of");
            if descriptors::check_data_memfd(&fd, size).is_err() {
                return Step::Done(Err(Errno(libc::EPROTO)));
            }
            put_channel(ch);
            ResultData::Memfd(fd)
        }
        Data::Bulk { new: true } => {
            let fd = fds.pop().expect("counted by Payload::of");
            match bulk::adopt(&mut ch.reply_bulk, &fd) {
                Ok(()) => ResultData::Bulk(ch),
                Err(Errno(libc::EPROTO)) => return Step::Done(Err(Errno(libc::EPROTO))),
                Err(_) => {
                    // No room in our address space for the server's buffer:
                    // read this reply straight from it (the caller's `rbuf`
                    // may hold it; if not, placing it fails with EOVERFLOW,
                    // as on illumos). The channel is given up, since its
                    // server now counts on our having the buffer.
                    drop(ch);
                    if descriptors::check_data_memfd(&fd, size).is_err() {
                        return Step::Done(Err(Errno(libc::EPROTO)));
                    }
                    return Step::Done(Ok(Results { data: ResultData::Memfd(fd), size, fds }));
                }
            }
        }
        Data::Bulk { new: false } => ResultData::Bulk(ch),
        Data::Region => ResultData::Region(ch),
        // (`Payload::of` admits pipes for Calls only.)
        Data::Pipe => return Step::Done(Err(Errno(libc::EPROTO))),
    };
    // A size beyond the bulk buffer is refused here, before placing the
    // results could make a mapping of that size for them.
    if let ResultData::Bulk(ch) = &data
        && !bulk::holds(&ch.reply_bulk, size)
    {
        return Step::Done(Err(Errno(libc::EPROTO)));
    }
    Step::Done(Ok(Results { data, size, fds }))
}

/// The server answered call `seq`: if that call sent our bulk buffer, the
/// server has it now (or refused it, and `refused` drops ours).
fn confirm_bulk(ch: &mut ClientChannel, seq: u64) {
    if ch.bulk_unconfirmed == Some(seq) {
        ch.bulk_unconfirmed = None;
    }
}

/// The server answered our call with an error, or our check of its limits
/// refused it: the channel goes back to the cache. `E2BIG` may mean the
/// server could not map our new bulk buffer, `EMFILE` that it could not
/// even receive it: ours is dropped too, so the next large call sends a
/// new one.
fn refused(mut ch: ClientChannel, e: Errno) -> Errno {
    if matches!(e.0, libc::E2BIG | libc::EMFILE) {
        ch.bulk = None;
    }
    // A revoked door stays revoked: its channel is dropped, not kept (with
    // the server's end) for calls that can only fail.
    if e.0 != libc::EBADF {
        put_channel(ch);
    }
    e
}

/// A signal handler ran while we waited, or the thread is being cancelled.
/// If no server thread had taken the call, withdraw it: `EAGAIN`, and it
/// never runs. Otherwise `EINTR`: the server thread has no client now (its
/// `door_ucred` fails, its results are discarded by sequence number), and
/// its server is told, so that it can cancel the thread (`DOOR_NO_CANCEL`
/// doors excepted).
pub fn interrupted(p: Pending, door_fd: c_int) -> Errno {
    let Pending { ch, seq, .. } = p;
    if seq == 0 {
        // Nothing but the Hello was sent yet.
        return Errno(libc::EAGAIN);
    }
    let gave_up = give_up(&ch.region, seq);
    if let GaveUp::Abandoned = gave_up {
        let mut m = Msg::new(Kind::Abandon);
        m.seq = seq;
        m.a = ch.server_id();
        // (Never waiting: if the server's socket is full, closing the
        // channel below tells its thread it has no client all the same.)
        let _ = sys::send_now(door_fd, &m.encode(), &[]);
    }
    if let GaveUp::Withdrawn = gave_up {
        put_channel(ch);
        Errno(libc::EAGAIN)
    } else {
        // The channel stays busy until the server thread finishes the call
        // we gave up on; our next call takes a new channel (and so another
        // server thread, as on illumos). Closing this one tells that thread
        // it has no client: its results are discarded.
        drop(ch);
        Errno(libc::EINTR)
    }
}

/// The channel closed: the server process died (or exec'd) or dropped us.
/// A call a server thread had taken was cut short (`EINTR`); one it never
/// took found the door gone (`EBADF`).
fn server_gone(ch: ClientChannel, seq: u64) -> Errno {
    let taken = ch.state().load(Ordering::SeqCst) == wire::picked(seq);
    drop(ch);
    Errno(if taken { libc::EINTR } else { libc::EBADF })
}

impl Results {
    /// Ends the call: the channel goes back to this thread's cache.
    #[inline(always)] // once per call (PERFORMANCE.md, "Fewer instructions")
    pub fn finish(self) {
        match self.data {
            ResultData::Region(ch) | ResultData::Bulk(ch) | ResultData::Streamed { ch, whole: true } => put_channel(ch),
            // Results left half-read (no room for them, the server died, no
            // `door_arg_t`): the server may still be writing them, sharing
            // the words a next call would use. The channel is given up.
            ResultData::Streamed { whole: false, .. } | ResultData::Memfd(_) => {}
        }
    }
}

impl Results {
    /// Copies the result bytes to `dst` (at least `size` bytes).
    ///
    /// # Safety
    /// `dst` must be writable for `self.size` bytes.
    #[inline(always)] // once per call (PERFORMANCE.md, "Fewer instructions")
    pub unsafe fn copy_data(&mut self, dst: *mut u8) -> Result<()> {
        match &mut self.data {
            ResultData::Region(ch) => {
                // SAFETY: size <= REPLY_CAP was checked, so the source is in
                // the region; dst is writable per the caller.
                unsafe { sys::copy_bytes(ch.region.reply_area(), dst, self.size) };
                Ok(())
            }
            // SAFETY: dst is writable for size bytes per the caller.
            ResultData::Memfd(fd) => unsafe { descriptors::read_data_memfd(fd, dst, self.size) },
            // SAFETY: as above; copy_out checks size against the buffer.
            ResultData::Bulk(ch) => unsafe { bulk::copy_out(&ch.reply_bulk, dst, self.size) },
            ResultData::Streamed { ch, whole } => {
                // SAFETY: as above; stream_out checks size against the buffer.
                match unsafe { bulk::stream_out(&ch.reply_bulk, &ch.region, ch.sock.raw(), bulk::Reader::Client, dst, self.size) } {
                    Ok(()) => {
                        *whole = true;
                        Ok(())
                    }
                    // The server died with the results half-written: the
                    // call was cut short, as illumos says of a server that
                    // dies during a call. (A signal caught while we waited
                    // for the rest gives EINTR too.)
                    Err(Errno(libc::EPIPE)) => Err(Errno(libc::EINTR)),
                    Err(e) => Err(e),
                }
            }
        }
    }
}

/// Asks a live server to describe its door (`door_info` and
/// `door_getparam` from another process): its identity and its limits.
fn query(door_fd: c_int) -> Result<(Identity, Msg)> {
    let (mine, theirs) = sys::reply_pair()?;
    let deadline = std::time::Instant::now() + descriptors::ANSWER_WAIT;
    sys::send_before(door_fd, &Msg::new(Kind::Info).encode(), &[theirs.raw()], deadline)?;
    drop(theirs);
    // The control thread answers at once, with no descriptors.
    let deadline = Some(deadline);
    let read = || -> Result<Msg> {
        let (msg, fds) = descriptors::await_message(&mine, deadline)?;
        if fds.is_empty() { Ok(msg) } else { Err(Errno(libc::EPROTO)) }
    };
    let id = Identity::from_msg(&read()?).ok_or(Errno(libc::EPROTO))?;
    let params = read()?;
    if params.kind != Kind::Params {
        return Err(Errno(libc::EPROTO));
    }
    descriptors::await_peer_close(&mine);
    Ok((id, params))
}

/// `door_info` of another process's live door.
pub fn query_identity(door_fd: c_int) -> Result<Identity> {
    query(door_fd).map(|(id, _)| id)
}

/// `door_getparam` of another process's door: [DATA_MAX, DATA_MIN,
/// DESC_MAX]. Once the server is gone the limits no longer matter; the
/// illumos defaults are reported.
pub fn query_params(door_fd: c_int, uniq: u64) -> [usize; 3] {
    match query(door_fd) {
        Ok((_, p)) => [p.a as usize, p.b as usize, p.c as usize],
        Err(_) => {
            let refuse = nameplate_or_blank(door_fd, uniq).attributes & DOOR_REFUSE_DESC != 0;
            [usize::MAX, 0, if refuse { 0 } else { c_int::MAX as usize }]
        }
    }
}

/// The door descriptor's nameplate, or a blank one.
pub fn nameplate_or_blank(fd: c_int, uniq: u64) -> Identity {
    label::nameplate(fd).unwrap_or(Identity { uniq, proc_: 0, cookie: 0, pid: -1, attributes: 0, seal: 0 })
}
