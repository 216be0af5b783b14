//! Server threads: taking a call from the pool, and `door_return`.
//!
//! The loop that never returns lives in C (`csrc/door_loop.c`): it
//! `sigsetjmp`s once, then for each invocation calls `next_invocation`
//! below, runs the depletion callback if asked, and calls the procedure.
//! `door_return` is a C function that calls `reply` below and, on success,
//! `siglongjmp`s back to the loop, abandoning the procedure's frames exactly
//! as illumos resets the stack. Both Rust functions return before any jump,
//! so no Rust frame is ever jumped over; nothing they leave behind needs
//! dropping. A thread's state between invocations lives in its heap record.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use libc::{c_char, c_int, c_void};

use crate::abi::*;
use crate::bulk;
use crate::splice;
use crate::descriptors;
use crate::region;
use crate::server::{CLOSING_TOKEN, Channel, Depletion, Door, Pool, UNREF_TOKEN, XCreateFn, with_server};
use crate::sys::{self, Errno, Fd, Mapping, Result};
use crate::trace::{ErrnoName, trace};
use crate::wire::{self, Data, Kind, MSG_LEN, Msg, Payload};

/// What the C loop needs to run one invocation. Shared with `door_loop.c`.
#[repr(C)]
pub struct Dispatch {
    pub procedure: Option<ServerProcedure>,
    pub cookie: *mut c_void,
    pub argp: *mut c_char,
    pub arg_size: usize,
    pub dp: *mut door_desc_t,
    pub n_desc: u64,
    /// The creation function to call first because the pool ran dry...
    pub depletion: Option<ServerFunc>,
    pub depletion_info: *mut door_info_t,
    /// ...or, for a `door_xcreate` door, its own creation function, called
    /// as `xcreate(depletion_info, startf, startf_arg, crcookie)`.
    pub xcreate: Option<XCreateFn>,
    pub startf_arg: *mut c_void,
    pub crcookie: *mut c_void,
}

impl Dispatch {
    /// Nothing to run: the thread exits.
    fn none() -> Dispatch {
        Dispatch {
            procedure: None,
            cookie: std::ptr::null_mut(),
            argp: std::ptr::null_mut(),
            arg_size: 0,
            dp: std::ptr::null_mut(),
            n_desc: 0,
            depletion: None,
            depletion_info: std::ptr::null_mut(),
            xcreate: None,
            startf_arg: std::ptr::null_mut(),
            crcookie: std::ptr::null_mut(),
        }
    }
}

/// The call a server thread is serving.
struct Current {
    channel: Arc<Channel>,
    seq: u64,
    no_results: bool,
    caller: Caller,
}

/// Who made the current call, as the kernel attached it to the Call
/// message (`SCM_CREDENTIALS`): never anything the client merely wrote.
pub struct Caller {
    /// The calling process's pid and its effective uid and gid at the send
    /// (the client states them, and the kernel refuses ids it does not
    /// hold; a client that states none gets its real ids attached).
    pub cred: Option<libc::ucred>,
}

/// A server thread's state, on the heap, found through `RECORD`.
struct ServerThread {
    pid: libc::pid_t,
    current: Option<Current>,
    /// Argument bytes, copied out of the client's reach; `argp` points here.
    /// Private anonymous memory of its own, so that a server under
    /// `RLIMIT_AS` that has no room for an argument fails the call (E2BIG)
    /// whichever way the bytes came, and a larger buffer comes zeroed by
    /// the kernel instead of copied and cleared.
    args: Option<Mapping>,
    /// How far `args` may hold bytes of earlier invocations (beyond this,
    /// all zero): the rest of an argument's last page is zeroed from it,
    /// so no procedure sees one caller's bytes in another's page padding.
    args_dirty: usize,
    descs: Vec<door_desc_t>,
    /// The private door this thread serves (`door_bind`); None: the
    /// process-wide pool.
    bound: Option<Arc<Door>>,
    /// The process-wide pool, once looked up: it never changes in a
    /// process, and looking it up takes the server table's lock.
    global_pool: Option<Arc<Pool>>,
    /// This is a forked copy of a thread that was bound in the parent: its
    /// `door_return` fails with EINVAL until `door_unbind` (illumos).
    bound_stale: bool,
    /// The `door_info_t` handed to a creation function on depletion.
    depletion_info: door_info_t,
    /// The pool whose unreferenced notification this thread is delivering.
    unref: Option<Arc<Pool>>,
    /// The pool whose notification this thread has just delivered: its
    /// queue is still disarmed, and the thread takes the next queued one
    /// before anything else. Re-arming instead put the queue behind every
    /// ready channel of the pool, so under load notifications piled up
    /// (thousands of unreferenced doors, and their descriptors, in
    /// tests/load/soak.c) faster than one was delivered per round.
    unref_next: Option<Arc<Pool>>,
    /// The channel whose call this thread just answered: it waits there
    /// briefly for the client's next call before going back to the pool.
    linger: Option<Arc<Channel>>,
    /// The channel this thread counts as lingering on (`linger.rs`), from
    /// its first wait there until it leaves it; the calls it takes there
    /// meanwhile keep the count.
    /// (Weak: it must never keep a dropped channel's socket open.)
    lingering_on: Option<std::sync::Weak<Channel>>,
}

std::thread_local! {
    static RECORD: Cell<*mut ServerThread> = const { Cell::new(std::ptr::null_mut()) };
}

static KEY: std::sync::OnceLock<libc::pthread_key_t> = std::sync::OnceLock::new();

fn key() -> libc::pthread_key_t {
    *KEY.get_or_init(|| {
        let mut k: libc::pthread_key_t = 0;
        // SAFETY: k is writable; thread_gone has the destructor signature.
        let r = unsafe { libc::pthread_key_create(&mut k, Some(thread_gone)) };
        assert_eq!(r, 0, "pthread_key_create");
        k
    })
}

/// This thread's record, through the C loop's slot for it: a thread-local
/// lookup in a shared library is a call to `__tls_get_addr`, and the slot
/// saves the service loop two of them per call. `slot` is null or points at
/// the calling thread's own slot, which holds null or its record.
fn record_in(slot: *mut *mut c_void) -> &'static mut ServerThread {
    if !slot.is_null() {
        // SAFETY: the slot is this thread's (see above); only this thread
        // reads or writes it.
        let p = unsafe { *slot }.cast::<ServerThread>();
        // SAFETY: a non-null slot holds this thread's live record (as in
        // record()), put there below.
        if !p.is_null() && unsafe { (*p).pid } == sys::getpid() {
            // SAFETY: as above.
            return unsafe { &mut *p };
        }
    }
    // Made, or a forked copy set right (its pid no longer ours).
    let rec = record();
    if !slot.is_null() {
        // SAFETY: as above.
        unsafe { *slot = (rec as *mut ServerThread).cast() };
    }
    rec
}

/// This thread's record, made on its first `door_return`.
fn record() -> &'static mut ServerThread {
    let p = RECORD.with(Cell::get);
    if !p.is_null() {
        // SAFETY: p came from Box::into_raw below, is only used by this
        // thread, and lives until the thread's key destructor frees it.
        let rec = unsafe { &mut *p };
        if rec.pid == sys::getpid() {
            return rec;
        }
        // A forked copy of a server thread: its call belongs to the parent,
        // whose channel descriptors the child has already closed.
        if let Some(cur) = rec.current.take() {
            std::mem::forget(cur);
        }
        if let Some(door) = rec.bound.take() {
            std::mem::forget(door);
            rec.bound_stale = true;
        }
        if let Some(pool) = rec.unref.take() {
            std::mem::forget(pool);
        }
        if let Some(pool) = rec.unref_next.take() {
            std::mem::forget(pool);
        }
        if let Some(ch) = rec.linger.take() {
            std::mem::forget(ch);
        }
        if let Some(ch) = rec.lingering_on.take() {
            std::mem::forget(ch);
        }
        if let Some(pool) = rec.global_pool.take() {
            std::mem::forget(pool);
        }
        rec.pid = sys::getpid();
        return rec;
    }
    let rec = Box::into_raw(Box::new(ServerThread {
        pid: sys::getpid(),
        current: None,
        args: None,
        args_dirty: 0,
        descs: Vec::new(),
        bound: None,
        global_pool: None,
        bound_stale: false,
        // SAFETY: door_info_t is plain old data; all-zero is valid.
        depletion_info: unsafe { std::mem::zeroed() },
        unref: None,
        unref_next: None,
        linger: None,
        lingering_on: None,
    }));
    RECORD.with(|c| c.set(rec));
    // SAFETY: the key exists; rec is the value its destructor will free.
    unsafe { libc::pthread_setspecific(key(), rec.cast()) };
    // SAFETY: just allocated, owned by this thread.
    unsafe { &mut *rec }
}

/// The key destructor: the thread is exiting (its procedure returned, it
/// called `pthread_exit`, or it was cancelled). A caller it was serving gets
/// EINTR, as on illumos, and its channel goes back to the pool.
extern "C" fn thread_gone(p: *mut c_void) {
    // SAFETY: p is the record this thread registered; nothing else frees it.
    let rec = unsafe { Box::from_raw(p.cast::<ServerThread>()) };
    RECORD.with(|c| c.set(std::ptr::null_mut()));
    // SAFETY: clears the C loop's thread-local copy of the pointer, so that
    // nothing (a later key destructor calling door_return) can find it.
    unsafe { crate::csrc::libdoor_forget_server_thread() };
    let mut rec = std::mem::ManuallyDrop::new(rec);
    if rec.pid != sys::getpid() {
        return;
    }
    if let Some(pool) = rec.unref.take().or_else(|| rec.unref_next.take()) {
        pool.rearm_unref();
    }
    if let Some(cur) = rec.current.take() {
        trace!("exit door={:016x} (the thread serving a call exited; its caller gets EINTR)", cur.channel.door.uniq);
        cur.channel.stop_serving();
        answer(&cur.channel, cur.seq, libc::EINTR);
        cur.channel.rearm();
    }
    stop_lingering(&mut rec);
    if let Some(ch) = rec.linger.take() {
        // Gone between door_return and its next call: a call the client
        // posted in the region meanwhile has nobody to run it.
        ch.region.mode().store(region::POOL, Ordering::SeqCst);
        refuse_region_call(&ch, libc::EINTR);
        ch.rearm();
    }
    // SAFETY: rec is the box from above, still owned here.
    drop(unsafe { std::mem::ManuallyDrop::take(&mut rec) });
}

/// The current invocation of this thread, if it still has its client.
fn attached_call() -> Option<&'static Current> {
    let p = RECORD.with(Cell::get);
    if p.is_null() {
        return None;
    }
    // SAFETY: as in record(): this thread's own live record.
    let rec = unsafe { &*p };
    let cur = rec.current.as_ref().filter(|_| rec.pid == sys::getpid())?;
    let attached = cur.channel.state().load(Ordering::SeqCst) == wire::picked(cur.seq)
        && !sys::peer_gone(cur.channel.sock.raw());
    attached.then_some(cur)
}

/// The kernel's account of the caller of the invocation this thread is
/// serving; `None` when it serves none or its client has given up or died
/// (illumos then fails `door_ucred` with EINVAL).
pub fn current_caller() -> Option<libc::ucred> {
    attached_call()?.caller.cred
}

/// Whether this thread's caller is still attached. A pid taken from
/// `current_caller` and then confirmed by this names the calling process
/// itself: while its channel is connected it cannot have exited, so its pid
/// cannot have been reused.
pub fn current_caller_attached() -> bool {
    attached_call().is_some()
}

/// The pool this thread serves: a bound door's, or the process-wide one,
/// which is moved out of the record (a clone would cost two locked
/// instructions a call) until `keep_pool` puts it back.
fn take_pool(rec: &mut ServerThread) -> Result<Arc<Pool>> {
    if let Some(door) = &rec.bound {
        return Ok(door.pool.clone());
    }
    if let Some(pool) = rec.global_pool.take() {
        return Ok(pool);
    }
    with_server(|s| s.global_pool())
}

/// Puts back what `take_pool` gave (a bound door's pool is its door's).
fn keep_pool(rec: &mut ServerThread, pool: Arc<Pool>) {
    if rec.bound.is_none() {
        rec.global_pool = Some(pool);
    }
}

/// `door_bind`: this thread will serve `door`'s private pool.
pub fn bind(door: Arc<Door>) {
    let rec = record();
    rec.bound = Some(door);
    rec.bound_stale = false;
}

/// `door_unbind`: `EBADF` if this thread is not bound.
pub fn unbind() -> Result<()> {
    let rec = record();
    if rec.bound.take().is_none() && !std::mem::take(&mut rec.bound_stale) {
        return Err(Errno(libc::EBADF));
    }
    Ok(())
}

/// The door this thread is bound to (`door_info(DOOR_QUERY)`).
pub fn bound_door() -> Option<Arc<Door>> {
    let p = RECORD.with(Cell::get);
    if p.is_null() {
        return None;
    }
    // SAFETY: as in record(): this thread's own live record.
    let rec = unsafe { &*p };
    if rec.pid != sys::getpid() { None } else { rec.bound.clone() }
}

/// Sets in `d` the creation callback to run before the procedure, because
/// taking this call left the pool without an idle thread (illumos runs it
/// in the dispatched thread, before the procedure).
fn add_depletion(d: &mut Dispatch, rec: &mut ServerThread, pool: &Pool, door: &Door) {
    let mut info = door.info();
    info.di_attributes |= DOOR_DEPLETION_CB;
    rec.depletion_info = info;
    let info_ptr: *mut door_info_t = &mut rec.depletion_info;
    match pool.depletion {
        Depletion::Process => d.depletion = Some(crate::api::server_func()),
        Depletion::Private => {
            d.depletion = Some(crate::api::server_func());
            d.depletion_info = info_ptr;
        }
        Depletion::XCreate { enabled: false, .. } => {}
        Depletion::XCreate { create, startf_arg, crcookie, enabled: true } => {
            d.xcreate = Some(create);
            d.depletion_info = info_ptr;
            d.startf_arg = startf_arg as *mut c_void;
            d.crcookie = crcookie as *mut c_void;
        }
    }
}

/// Called by the C loop: waits for the next call and describes it in `d`
/// (`slot`: the loop's slot for the thread's record, `record_in`).
/// On a failure that leaves the thread nothing to serve (or a dismissed
/// pool), `d.procedure` is NULL and the thread exits.
pub extern "C" fn next_invocation(d: *mut Dispatch, slot: *mut *mut c_void) {
    let r = std::panic::catch_unwind(|| {
        let rec = record_in(slot);
        let pool = take_pool(rec);
        let next = next_for(rec, &pool);
        if let Ok(pool) = pool {
            keep_pool(rec, pool);
        }
        next
    });
    let dispatch = match r {
        Ok(Ok(dispatch)) => dispatch,
        _ => Dispatch::none(),
    };
    // SAFETY: d points at the C loop's dispatch record, valid and writable.
    unsafe { d.write(dispatch) };
}

/// `next_invocation`'s wait, for a thread of `pool`.
fn next_for(rec: &mut ServerThread, pool: &Result<Arc<Pool>>) -> Result<Dispatch> {
    // No longer lingering where it did, unless it goes back there now
    // (its last answer could not be sent, or was no call's).
    if rec.linger.as_ref().map(Arc::as_ptr) != rec.lingering_on.as_ref().map(std::sync::Weak::as_ptr) {
        stop_lingering(rec);
    }
    // A thread that just answered a call lingers on its channel (which
    // door_return already marked LINGER), and in any case takes a call
    // the client has posted there meanwhile.
    if let Some(ch) = rec.linger.take()
        && let Some(dispatch) = linger(rec, pool.as_ref().ok(), ch)
    {
        return Ok(dispatch);
    }
    let pool = pool.as_ref().map_err(|e| *e)?;
    if let Some(unref_pool) = rec.unref_next.take() {
        if let Some((dispatch, _)) = take_unref(rec, &unref_pool) {
            return Ok(dispatch);
        }
        unref_pool.rearm_unref();
    }
    loop {
        if pool.closed.load(Ordering::SeqCst) {
            return Err(Errno(libc::EBADF));
        }
        pool.idle.fetch_add(1, Ordering::SeqCst);
        let waited = sys::epoll_wait_one(&pool.epoll);
        let idle_before = pool.idle.fetch_sub(1, Ordering::SeqCst);
        let (_, id) = waited?;
        if id == CLOSING_TOKEN {
            continue;
        }
        if id == UNREF_TOKEN {
            match take_unref(rec, pool) {
                Some((mut dispatch, door)) => {
                    if idle_before == 1 {
                        add_depletion(&mut dispatch, rec, pool, &door);
                    }
                    return Ok(dispatch);
                }
                None => {
                    pool.rearm_unref();
                    continue;
                }
            }
        }
        let Some(channel) = with_server(|s| s.channel(id)) else { continue };
        match take_call(rec, &channel) {
            Taken::Call(mut dispatch) => {
                if idle_before == 1 {
                    add_depletion(&mut dispatch, rec, pool, &channel.door);
                }
                return Ok(dispatch);
            }
            Taken::Nothing => channel.rearm(),
            Taken::Closed => with_server(|s| s.drop_channel(id)),
        }
    }
}


/// This thread leaves the channel it counted as lingering on, if any.
fn stop_lingering(rec: &mut ServerThread) {
    if let Some(ch) = rec.lingering_on.take() {
        crate::linger::end(&ch);
    }
}

/// Waits on `ch`'s region for the client's next call, which then comes with
/// no socket message, no epoll and no rearm. Only while another thread of
/// the pool is idle, so lingering never keeps a call waiting. Returns the
/// invocation, or None once the channel has been quiet for
/// `linger::LINGER` (the control thread then kicks this thread, whose
/// sleep has no timeout; the channel goes back to the pool's epoll set).
///
/// The region says LINGER from before the reply (`reply`): a client woken
/// by it may run before this thread does (on the same CPU it usually
/// does), and its next call then still goes in the region, not on the
/// socket. A thread that does not linger (no pool, or no other thread
/// idle) takes such a call itself.
fn linger(rec: &mut ServerThread, pool: Option<&Arc<Pool>>, ch: Arc<Channel>) -> Option<Dispatch> {
    let r = &ch.region;
    let mut taken = None;
    if let Some(pool) = pool
        && pool.idle.load(Ordering::SeqCst) > 0
        && !pool.closed.load(Ordering::SeqCst)
        && crate::linger::possible()
    {
        if rec.lingering_on.as_ref().is_none_or(|c| !std::ptr::eq(c.as_ptr(), Arc::as_ptr(&ch))) {
            stop_lingering(rec);
            crate::linger::begin(&ch);
            rec.lingering_on = Some(Arc::downgrade(&ch));
        }
        crate::linger::active(&ch);
        let cpu = crate::spin::current_cpu();
        r.server_cpu().store(cpu, Ordering::Relaxed);
        loop {
            let word = r.req_word().load(Ordering::SeqCst);
            // (Looked at here first: the first look usually finds nothing,
            // and a call of take_region_call costs 35 instructions.)
            if posted_call(r, region::VIA_REGION).is_some()
                && let Some(t) = take_region_call(rec, &ch)
            {
                taken = Some(t);
                break;
            }
            if posted_call(r, region::VIA_SOCKET).is_some() {
                // A call that came on the socket (it has descriptors or
                // large data): read it from there.
                r.mode().store(region::POOL, Ordering::SeqCst);
                stop_lingering(rec);
                return match take_call(rec, &ch) {
                    Taken::Call(d) => Some(depleting(d, rec, Some(pool), &ch.door)),
                    Taken::Nothing => {
                        ch.rearm();
                        None
                    }
                    Taken::Closed => {
                        with_server(|s| s.drop_channel(ch.id));
                        None
                    }
                };
            }
            // A client last seen on this CPU cannot post while we spin (and
            // a wait for it teaches the spin nothing: no clock needed).
            let began = crate::spin::wait_began(r.client_cpu().load(Ordering::Relaxed), cpu);
            if began.is_some() && ch.spin.lock().unwrap_or_else(|p| p.into_inner()).spin(|| r.req_word().load(Ordering::Relaxed) != word) {
                // (A client that bumps the word without ever posting a
                // call wins every spin: the kick must still end the stay.)
                if crate::linger::kicked(&ch) {
                    break;
                }
                continue;
            }
            // A client that died meanwhile is noticed when the channel goes
            // back to the pool's epoll set, once the control thread kicks us:
            // asking the socket here would cost a system call per call.
            if crate::linger::kicked(&ch) {
                break;
            }
            r.server_waiting().store(1, Ordering::SeqCst);
            if r.req_word().load(Ordering::SeqCst) == word {
                sys::futex_wait_untimed(r.req_word(), word);
            }
            // (A client that still sees 1 makes one needless wake-up: no
            // order needed, and a plain store saves a locked exchange.)
            r.server_waiting().store(0, Ordering::Relaxed);
            if let Some(began) = began
                && r.req_word().load(Ordering::SeqCst) != word
                && r.client_cpu().load(Ordering::Relaxed) != cpu
            {
                ch.spin.lock().unwrap_or_else(|p| p.into_inner()).slept(began, r.req_posted_ns().load(Ordering::Relaxed));
            }
        }
    }
    // A client that saw LINGER just before it ended posted in the region:
    // POOL, then a last look at the state word, against the client's state
    // store, then its look at `mode` (both SeqCst, so one of the two sees
    // the other). With a call taken no look follows: a plain store will do.
    r.mode().store(region::POOL, if taken.is_some() { Ordering::Release } else { Ordering::SeqCst });
    if taken.is_none() {
        taken = take_region_call(rec, &ch);
    }
    match taken {
        Some(Taken::Call(d)) => Some(depleting(d, rec, pool, &ch.door)),
        // Nothing to run (or a call refused as it was taken): the thread
        // leaves the channel.
        _ => {
            stop_lingering(rec);
            ch.rearm();
            None
        }
    }
}

/// A call a thread takes on its own channel, lingering or instead of
/// lingering, depletes the pool if no other thread of it is idle, as one
/// taken from epoll by the last idle thread does: the creation function
/// runs first (a private pool whose function adds no thread sees every
/// call deplete it, as on illumos).
fn depleting(mut d: Dispatch, rec: &mut ServerThread, pool: Option<&Arc<Pool>>, door: &Door) -> Dispatch {
    if let Some(pool) = pool
        && pool.idle.load(Ordering::SeqCst) == 0
    {
        add_depletion(&mut d, rec, pool, door);
    }
    d
}

/// The state word, if it says a call is pending that the client sent `via`
/// the region (`region::VIA_REGION`) or the socket.
#[inline]
fn posted_call(r: &region::Region, via: u32) -> Option<u64> {
    let state = r.state().load(Ordering::SeqCst);
    (state & 3 == wire::pending(0) && r.req_via().load(Ordering::SeqCst) == via).then_some(state)
}

/// A call the client posted in the region (no descriptors, data in the
/// request area), if there is one: taken with the state word's
/// compare-and-swap, like a call from the socket.
fn take_region_call(rec: &mut ServerThread, ch: &Arc<Channel>) -> Option<Taken> {
    let r = &ch.region;
    let state = posted_call(r, region::VIA_REGION)?;
    let seq = state >> 2;
    let size = r.req_size().load(Ordering::SeqCst) as usize;
    let flags = r.req_flags().load(Ordering::SeqCst);
    let no_results = flags & wire::NO_RESULTS != 0;
    if r.state().compare_exchange(state, wire::picked(seq), Ordering::SeqCst, Ordering::SeqCst).is_err() {
        return None;
    }
    // Data in the region's request area, or streamed through the bulk
    // buffer we already have (its size is checked against that buffer).
    // (A pipe comes only with a message.)
    let source = if flags & wire::DATA_BULK != 0 { Source::Streamed } else { Source::Region };
    let fits = match source {
        Source::Streamed => bulk::holds(&ch.bulk.lock().unwrap_or_else(|p| p.into_inner()), size),
        _ => size <= wire::REQUEST_CAP && flags & wire::DATA_PIPE == 0,
    };
    if !fits {
        answer(ch, seq, libc::EPROTO);
        return Some(Taken::Nothing);
    }
    let caller = Caller { cred: ch.last_cred() };
    Some(prepare(rec, ch, seq, size, no_results, &source, Vec::new(), caller))
}

/// Answers a call posted in `ch`'s region, if there is one, with `errno`
/// (taken with the state word's compare-and-swap, so it runs nowhere).
fn refuse_region_call(ch: &Channel, errno: c_int) {
    let r = &ch.region;
    if let Some(state) = posted_call(r, region::VIA_REGION)
        && r.state().compare_exchange(state, wire::picked(state >> 2), Ordering::SeqCst, Ordering::SeqCst).is_ok()
    {
        answer(ch, state >> 2, errno);
    }
}

/// Takes one queued unreferenced notification: the procedure runs with
/// `argp == DOOR_UNREF_DATA`, no data and no descriptors (illumos). The
/// queue stays disarmed until this delivery's `door_return`.
fn take_unref(rec: &mut ServerThread, pool: &Arc<Pool>) -> Option<(Dispatch, Arc<Door>)> {
    let door = pool.next_unref()?;
    door.unref_queued.store(false, Ordering::SeqCst);
    if door.revoked.load(Ordering::SeqCst) {
        return None;
    }
    rec.unref = Some(pool.clone());
    trace!("unref door={:016x}", door.uniq);
    let dispatch = Dispatch {
        // SAFETY: proc_ is the procedure address door_create was given.
        procedure: Some(unsafe { std::mem::transmute::<usize, ServerProcedure>(door.proc_ as usize) }),
        cookie: door.cookie as usize as *mut c_void,
        argp: DOOR_UNREF_DATA,
        ..Dispatch::none()
    };
    Some((dispatch, door))
}

/// `argp` of an unreferenced invocation.
const DOOR_UNREF_DATA: *mut c_char = std::ptr::dangling_mut::<c_char>();

/// Whether this thread is delivering an unreferenced notification (during
/// which illumos' `door_ucred` reports pid 0 and the server's own identity).
pub fn serving_unref() -> bool {
    let p = RECORD.with(Cell::get);
    // SAFETY: as in record(): this thread's own live record.
    !p.is_null() && unsafe { (*p).pid == sys::getpid() && (*p).unref.is_some() }
}

// Not boxed: a box would cost an allocation and a free per call, and a
// Taken only ever moves up a few frames.
#[allow(clippy::large_enum_variant)]
enum Taken {
    Call(Dispatch),
    /// Nothing to run (no message yet, a withdrawn call, or one answered
    /// with an error); the channel may be rearmed.
    Nothing,
    /// The client is gone or broke the protocol: drop the channel.
    Closed,
}

/// Reads one call from `channel`, checks it, and prepares its invocation.
/// Descriptors from leading `Descs` messages wait in the channel until
/// their Call comes: the thread never waits for a slow client.
fn take_call(rec: &mut ServerThread, channel: &Arc<Channel>) -> Taken {
    let mut fds: Vec<Fd> = std::mem::take(&mut *channel.partial.lock().unwrap_or_else(|p| p.into_inner()));
    let (msg, caller) = loop {
        let mut buf = [0u8; MSG_LEN + 1];
        let r = match sys::recv_with_fds(channel.sock.raw(), &mut buf, libc::MSG_DONTWAIT) {
            Err(Errno(libc::EAGAIN)) => {
                *channel.partial.lock().unwrap_or_else(|p| p.into_inner()) = fds;
                return Taken::Nothing;
            }
            Err(_) => return Taken::Closed,
            Ok(r) => r,
        };
        if r.len == 0 && r.fds.is_empty() {
            return Taken::Closed;
        }
        let Some(msg) = Msg::decode(&buf[..r.len]) else { return Taken::Closed };
        if r.truncated {
            // Descriptors lost to a full table: answer, keep the channel.
            drop(r.fds);
            drop(fds);
            answer(channel, msg.seq, libc::EMFILE);
            return Taken::Nothing;
        }
        fds.extend(r.fds);
        if fds.len() > DOOR_MAX_DESC + 1 {
            return Taken::Closed;
        }
        match msg.kind {
            Kind::Descs => continue,
            Kind::Call => {
                if r.cred.is_some_and(|c| c.pid != channel.creator) {
                    // Another process's pid, stated by a privileged client
                    // or a process the channel was handed to: no caller
                    // the server could name truthfully.
                    return Taken::Closed;
                }
                channel.set_last_cred(r.cred);
                break (msg, Caller { cred: r.cred });
            }
            _ => return Taken::Closed,
        }
    };
    // A client that died while its call waited for a thread is gone for
    // good: as on illumos, its call never starts.
    if sys::peer_gone(channel.sock.raw()) {
        return Taken::Closed;
    }
    let Some(payload) = Payload::of(&msg, fds.len(), wire::REQUEST_CAP) else { return Taken::Closed };
    let size = payload.size;
    let source = match payload.data {
        Data::Memfd => {
            let fd = fds.pop().expect("counted by Payload::of");
            if descriptors::check_data_memfd(&fd, size).is_err() {
                return Taken::Closed;
            }
            Source::Memfd(fd)
        }
        Data::Bulk { new } => {
            let mut mine = channel.bulk.lock().unwrap_or_else(|p| p.into_inner());
            let adopted = if new { bulk::adopt(&mut mine, &fds.pop().expect("counted by Payload::of")) } else { Ok(()) };
            match adopted {
                Err(Errno(libc::EPROTO)) => return Taken::Closed,
                // No room to map it: the call fails with E2BIG (the client
                // then drops its buffer and sends a new one next time).
                Err(_) => Source::Unmappable,
                Ok(()) if mine.as_ref().is_none_or(|(_, cap)| size > *cap) => return Taken::Closed,
                // The socket copy of a call posted in the region, its
                // argument still streaming in (Payload::of: never with a
                // new buffer).
                Ok(()) if msg.e & wire::DATA_STREAMED != 0 => Source::Streamed,
                Ok(()) => Source::Bulk,
            }
        }
        Data::Pipe => {
            let fd = fds.pop().expect("counted by Payload::of");
            // The client splices only what a bulk buffer could hold.
            if size > wire::BULK_MAX || splice::adopt(&fd).is_err() {
                return Taken::Closed;
            }
            Source::Pipe(fd)
        }
        Data::Region => Source::Region,
    };
    // Take the call, unless the client withdrew it, or a lingering thread
    // took it from the region already.
    if channel
        .state()
        .compare_exchange(wire::pending(msg.seq), wire::picked(msg.seq), Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return Taken::Nothing;
    }
    let no_results = msg.e & wire::NO_RESULTS != 0;
    prepare(rec, channel, msg.seq, size, no_results, &source, fds, caller)
}

/// Where a call's argument bytes are.
enum Source {
    /// The region's request area.
    Region,
    /// The channel's bulk buffer.
    Bulk,
    /// The channel's bulk buffer, still being written (`bulk::stream_out`).
    Streamed,
    /// A memfd of their own.
    Memfd(Fd),
    /// The client's new bulk buffer, which we had no room to map.
    Unmappable,
    /// A pipe of the call's own, still being filled (`splice::pull`).
    Pipe(Fd),
}

/// Checks a call this thread has just taken (by the state word's
/// compare-and-swap) and readies its invocation: the limits, the arguments
/// copied out of the client's reach, the descriptors described.
#[allow(clippy::too_many_arguments)]
#[inline(always)] // once per call (PERFORMANCE.md, "Fewer instructions")
fn prepare(
    rec: &mut ServerThread,
    channel: &Arc<Channel>,
    seq: u64,
    size: usize,
    no_results: bool,
    source: &Source,
    fds: Vec<Fd>,
    caller: Caller,
) -> Taken {
    let msg_seq = seq;
    // illumos checks in this order, before any descriptor is translated.
    let door = &channel.door;
    let p = &door.params;
    let refused = if door.revoked.load(Ordering::SeqCst) {
        Some(libc::EBADF)
    } else if size < p.data_min.load(Ordering::Relaxed) || size > p.data_max.load(Ordering::Relaxed) {
        Some(libc::ENOBUFS)
    } else if !fds.is_empty() && door.attributes.load(Ordering::Relaxed) & DOOR_REFUSE_DESC != 0 {
        Some(libc::ENOTSUP)
    } else if fds.len() > p.desc_max.load(Ordering::Relaxed) {
        Some(libc::ENFILE)
    } else {
        None
    };
    if let Some(errno) = refused {
        answer(channel, msg_seq, errno);
        return Taken::Nothing;
    }
    if let Err(e) = copy_arguments(rec, channel, size, source) {
        answer(channel, msg_seq, e.0);
        return Taken::Nothing;
    }
    rec.descs.clear();
    if fds.capacity() == 0 {
        // A region call's: nothing to describe or free. (Forgotten: its
        // drop glue costs 25 instructions a call, freeing nothing.)
        std::mem::forget(fds);
    } else {
        rec.descs.extend(fds.into_iter().map(|fd| descriptors::describe(fd.give_to_application())));
    }
    channel.start_serving(msg_seq);
    trace!(
        "invoke door={:016x} size={size} descs={} caller={}",
        door.uniq,
        rec.descs.len(),
        caller.cred.map_or(-1, |c| c.pid)
    );
    rec.current = Some(Current { channel: channel.clone(), seq: msg_seq, no_results, caller });
    Taken::Call(Dispatch {
        // SAFETY: proc_ is the procedure address door_create was given.
        procedure: Some(unsafe { std::mem::transmute::<usize, ServerProcedure>(door.proc_ as usize) }),
        cookie: door.cookie as usize as *mut c_void,
        argp: match &rec.args {
            Some(args) if size > 0 => args.ptr().cast(),
            _ => std::ptr::null_mut(),
        },
        arg_size: size,
        dp: if rec.descs.is_empty() { std::ptr::null_mut() } else { rec.descs.as_mut_ptr() },
        n_desc: rec.descs.len() as u64,
        ..Dispatch::none()
    })
}

/// Copies the argument bytes into the thread's own buffer, so the procedure
/// sees bytes the client can no longer change, with zeroes after them.
#[inline(always)] // once per call (PERFORMANCE.md, "Fewer instructions")
fn copy_arguments(rec: &mut ServerThread, channel: &Channel, size: usize, source: &Source) -> Result<()> {
    // (Before the buffer grows for arguments it will never hold.)
    if let Source::Unmappable = source {
        return Err(Errno(libc::E2BIG));
    }
    let page = sys::page_size();
    let want = sys::round_up(size.max(1), page).ok_or(Errno(libc::E2BIG))?;
    if rec.args.as_ref().is_none_or(|args| args.len() < want) {
        // The old buffer goes first, making room; its bytes are not needed.
        rec.args = None;
        rec.args = Some(Mapping::anonymous(want).map_err(|_| Errno(libc::E2BIG))?);
        rec.args_dirty = 0;
    }
    let dst = rec.args.as_ref().expect("made above").ptr();
    // Only up to the page's end: zeroing all an earlier, larger argument
    // left would cost a 4 KiB call after a 16 MiB one four milliseconds.
    let padding_end = rec.args_dirty.min(want);
    // Raised before the copy: one that fails half-way has written bytes
    // all the same, which the next call's padding must not show.
    rec.args_dirty = rec.args_dirty.max(size);
    match source {
        Source::Memfd(fd) => {
            // SAFETY: dst, the argument buffer, holds at least `size` writable bytes.
            unsafe { descriptors::read_data_memfd(fd, dst, size)? }
        }
        Source::Bulk => {
            let bulk = channel.bulk.lock().unwrap_or_else(|p| p.into_inner());
            // SAFETY: dst, the argument buffer, holds at least size bytes.
            unsafe { bulk::copy_out(&bulk, dst, size)? }
        }
        Source::Streamed => {
            let bulk = channel.bulk.lock().unwrap_or_else(|p| p.into_inner());
            // SAFETY: dst, the argument buffer, holds at least size bytes.
            unsafe { bulk::stream_out(&bulk, &channel.region, channel.sock.raw(), bulk::Reader::Server, dst, size)? }
            // For the client's choice of way (`shared_cpu.rs`).
            channel.region.arg_taken_ns().store(sys::monotonic_ns(), Ordering::Relaxed);
        }
        Source::Pipe(pipe) => {
            // SAFETY: dst, the argument buffer, holds at least size bytes.
            unsafe { splice::pull(pipe, channel.sock.raw(), dst, size)? }
            channel.region.arg_taken_ns().store(sys::monotonic_ns(), Ordering::Relaxed);
        }
        Source::Unmappable => return Err(Errno(libc::E2BIG)),
        Source::Region => {
            // SAFETY: the region is REGION_LEN bytes and size <= REQUEST_CAP,
            // so the source is in bounds; dst holds at least size bytes. The
            // client may write the source concurrently: we copy whatever
            // bytes are there, and only our copy is used.
            unsafe { sys::copy_bytes(channel.region.request_area(), dst, size) }
        }
    }
    if padding_end > size {
        // SAFETY: size < padding_end <= want, the buffer's length.
        unsafe { dst.add(size).write_bytes(0, padding_end - size) };
    }
    Ok(())
}

/// Answers a call with just an errno.
fn answer(channel: &Channel, seq: u64, errno: c_int) {
    channel.region.post_reply(seq, errno, 0);
}

/// `door_return`'s work before the jump: sends the results to the current
/// caller (or discards them when there is none) and returns 0, or returns
/// an errno and leaves the caller waiting, as illumos does.
/// `slot` is the C loop's slot for the thread's record (`record_in`), or null.
pub extern "C" fn reply(data: *mut c_char, size: usize, desc: *mut door_desc_t, n_desc: u32, slot: *mut *mut c_void) -> c_int {
    let r = std::panic::catch_unwind(|| {
        let rec = record_in(slot);
        if rec.bound_stale {
            return Err(Errno(libc::EINVAL));
        }
        let descs = descriptors::read_outgoing(desc, n_desc)?;
        if rec.unref.is_some() {
            // An unreferenced notification accepts no results.
            if size > 0 || n_desc > 0 {
                return Err(Errno(libc::E2BIG));
            }
            trace!("return unref");
            rec.unref_next = rec.unref.take();
            return Ok(());
        }
        let Some(cur) = rec.current.take() else {
            descriptors::release(&descs);
            return Ok(());
        };
        if cur.channel.state().load(Ordering::SeqCst) != wire::picked(cur.seq) {
            // The caller gave up (a signal, a cancellation): as on illumos
            // the results go nowhere, whatever they are (no E2BIG for a
            // caller that wanted none), and the thread serves on. (A caller
            // that died is found when the results cannot be sent.)
            descriptors::release(&descs);
            cur.channel.stop_serving();
            with_server(|s| s.drop_channel(cur.channel.id));
            return Ok(());
        }
        if cur.no_results && (size > 0 || n_desc > 0) {
            rec.current = Some(cur);
            return Err(Errno(libc::E2BIG));
        }
        if data.is_null() && size > 0 {
            rec.current = Some(cur);
            return Err(Errno(libc::EFAULT));
        }
        if let Err(e) = descriptors::check_outgoing(&descs) {
            descriptors::release(&descs);
            rec.current = Some(cur);
            return Err(e);
        }
        // SAFETY: the caller passed `size` readable bytes at `data` (checked non-NULL).
        let bytes = if size == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size) } };
        cur.channel.stop_serving();
        // Before the results go, so the caller's reply comes later in the trace.
        trace!("return door={:016x} size={size} descs={n_desc}", cur.channel.door.uniq);
        // This thread will linger on the channel (next_invocation): say so
        // before the reply wakes the client (see `linger`).
        // (Ordered before the reply by the reply's own release stores.)
        cur.channel.region.mode().store(region::LINGER, Ordering::Release);
        let sent = send_results(&cur.channel, cur.seq, bytes, &descs);
        descriptors::release(&descs);
        if sent.is_err() {
            // The client went away: the results are discarded.
            with_server(|s| s.drop_channel(cur.channel.id));
        } else {
            // The thread stays with the channel a moment (next_invocation).
            rec.linger = Some(cur.channel);
        }
        Ok(())
    });
    let errno = match r {
        Ok(Ok(())) => return 0,
        Ok(Err(e)) => e.0,
        Err(_) => libc::EINVAL,
    };
    trace!("return result={} size={size} descs={n_desc}", ErrnoName(errno));
    errno
}

/// Whether the caller of the invocation this thread is serving accepts
/// results (`door_call` with a `door_arg_t`, not NULL). False when the
/// thread serves nothing or an unreferenced notification.
pub fn current_accepts_results() -> bool {
    let p = RECORD.with(Cell::get);
    // SAFETY: as in record(): this thread's own live record.
    !p.is_null() && unsafe { (*p).current.as_ref().is_some_and(|c| !c.no_results) }
}

/// Answers the invocation this thread is serving with `errno` instead of
/// results: the Rust API's answer for a procedure that panicked. An
/// unreferenced notification, which has no caller, is simply over. The
/// thread then lingers on the channel as after `door_return`.
pub fn fail_current(errno: c_int) {
    let rec = record();
    if rec.unref.is_some() {
        // As after door_return: this thread takes the next one first.
        rec.unref_next = rec.unref.take();
        return;
    }
    if let Some(cur) = rec.current.take() {
        cur.channel.stop_serving();
        answer(&cur.channel, cur.seq, errno);
        rec.linger = Some(cur.channel);
    }
}

/// Results without descriptors that fit the reply area go in the region;
/// larger ones, once the client has our bulk buffer, are announced in the
/// region with their data in that buffer (`stream_results`); the rest go
/// on the socket (descriptors, a new bulk buffer, a memfd for data beyond
/// `BULK_MAX`). Either way the client is woken through the region.
#[inline(always)] // once per call (PERFORMANCE.md, "Fewer instructions")
fn send_results(channel: &Channel, seq: u64, bytes: &[u8], descs: &[door_desc_t]) -> Result<()> {
    // From 16 KiB toward a client on another CPU, results that fit the
    // reply area go round our bulk buffer all the same, as arguments do
    // (`bulk::RING_FROM`): the reply area is written from its start every
    // time, over lines that CPU still holds. Where the client is, is asked
    // only of results that size (every size that streams).
    let len = bytes.len();
    let far = len >= bulk::RING_FROM
        && channel.region.client_cpu().load(Ordering::Relaxed) != crate::spin::current_cpu();
    let fits = len <= wire::REPLY_CAP && !far;
    if !fits && descs.is_empty() && stream_results(channel, seq, bytes, far) {
        return Ok(());
    }
    if (bulk::RING_FROM..=wire::REPLY_CAP).contains(&len) {
        // (Read by the client for such sizes only; ordered by the reply.)
        channel.region.rep_in_bulk().store(0, Ordering::Relaxed);
    }
    if fits && descs.is_empty() {
        // Nothing here can leak into a dead client's channel, so the socket
        // is not asked whether the client lives (a system call per call):
        // a dead client's channel is dropped when the thread stops
        // lingering on it and epoll reports the hang-up.
        // SAFETY: the reply area is REPLY_CAP bytes; len fits.
        unsafe { sys::copy_bytes(bytes.as_ptr(), channel.region.reply_area(), bytes.len()) };
        channel.region.post_reply(seq, 0, bytes.len());
        return Ok(());
    }
    if sys::peer_gone(channel.sock.raw()) {
        return Err(Errno(libc::EPIPE));
    }
    if fits {
        // SAFETY: as above.
        unsafe { sys::copy_bytes(bytes.as_ptr(), channel.region.reply_area(), bytes.len()) };
    }
    let mut m = Msg::new(Kind::Reply);
    m.seq = seq;
    m.a = bytes.len() as u64;
    let data_fd = if fits {
        None
    } else {
        // Our bulk buffer for results, made once and reused.
        let (flags, fd) = bulk::stage(&mut channel.reply_bulk.lock().unwrap_or_else(|p| p.into_inner()), bytes)?;
        m.e |= flags;
        fd
    };
    let (descs, _copies) = descriptors::for_passing(descs);
    let sent = descriptors::send_message(channel.sock.raw(), m, &descs, data_fd.as_ref());
    // Where we run, as `post_reply` says it: a client that has not seen it
    // does not spin (`spin::wait_began`).
    channel.region.server_cpu().store(crate::spin::current_cpu(), Ordering::Relaxed);
    channel.region.notify_client();
    sent
}

/// Large results toward a client that already has our bulk buffer (sent
/// with an earlier reply: a client that could not take it gave up the
/// channel): the reply goes in the region, with no socket message, and the
/// data in the buffer. A client on another CPU is told first and copies
/// each piece out while we write the next, as the server does with a
/// streamed call; one on ours could not copy before we stop, so the data
/// is written first (`far`: the client was last seen on another CPU).
/// False when the buffer is missing or too small.
fn stream_results(channel: &Channel, seq: u64, bytes: &[u8], far: bool) -> bool {
    let bulk = channel.reply_bulk.lock().unwrap_or_else(|p| p.into_inner());
    if !bulk::holds(&bulk, bytes.len()) {
        return false;
    }
    let Some(&(_, cap)) = bulk.as_ref() else { return false };
    let r = &channel.region;
    r.rep_in_bulk().store(1, Ordering::Relaxed);
    if far {
        // Round the whole buffer from where the last such results ended,
        // so that we write the lines the client read longest ago (as a
        // client streams arguments: `bulk::RING`).
        let start = channel.reply_next.load(Ordering::Relaxed) % cap;
        channel.reply_next.store(bulk::next_start(start, bytes.len(), cap), Ordering::Relaxed);
        r.rep_start().store(start as u64, Ordering::Relaxed);
        // Zeroed before the reply publishes it (its release store).
        r.bulk_ready().store(0, Ordering::Relaxed);
        r.post_reply(seq, 0, bytes.len());
        // (Cannot fail: the buffer holds the bytes, checked above.)
        // (Results go through the whole buffer: never short of room.)
        let _ = bulk::stream_in(&bulk, bytes, r, bulk::Reader::Client, |_| Err(Errno(libc::EPROTO)));
    } else {
        let _ = bulk::copy_in(&bulk, bytes);
        r.rep_start().store(0, Ordering::Relaxed);
        r.bulk_ready().store(bytes.len() as u64, Ordering::Relaxed);
        r.post_reply(seq, 0, bytes.len());
    }
    true
}
