//! Descriptors and bulk data in messages: checking what the application
//! passes, describing what arrives, and packing both into SCM_RIGHTS.

use libc::c_int;

use crate::abi::*;
use crate::label;
use crate::server;
use crate::sys::{self, Errno, Fd, Mapping, Result};
use crate::wire::{Kind, Msg};

/// The application's descriptor list, copied; `E2BIG` past illumos' limit.
pub fn read_outgoing(desc: *const door_desc_t, n: u32) -> Result<Vec<door_desc_t>> {
    let n = n as usize;
    if n > DOOR_MAX_DESC {
        return Err(Errno(libc::E2BIG));
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    if desc.is_null() {
        return Err(Errno(libc::EFAULT));
    }
    // SAFETY: the caller passed n descriptors at desc (non-NULL); door_desc_t
    // is 4-aligned and read unaligned-safe by copying the whole array.
    Ok((0..n).map(|i| unsafe { desc.add(i).read_unaligned() }).collect())
}

fn fd_of(d: &door_desc_t) -> c_int {
    // SAFETY: d_desc is the union member both sides use; reading an int is
    // valid for any bit pattern.
    unsafe { d.d_data.d_desc.d_descriptor }
}

/// Every entry must be `DOOR_DESCRIPTOR` with an open descriptor (`EINVAL`).
pub fn check_outgoing(descs: &[door_desc_t]) -> Result<()> {
    for d in descs {
        if d.d_attributes & DOOR_DESCRIPTOR == 0 || sys::fcntl_int(fd_of(d), libc::F_GETFD, 0).is_err() {
            return Err(Errno(libc::EINVAL));
        }
    }
    Ok(())
}

/// Closes the sender's copies marked `DOOR_RELEASE`.
pub fn release(descs: &[door_desc_t]) {
    for d in descs {
        if d.d_attributes & (DOOR_DESCRIPTOR | DOOR_RELEASE) == DOOR_DESCRIPTOR | DOOR_RELEASE {
            // The number is free again: what door_call remembered of it goes.
            crate::fdmemo::forget(fd_of(d));
            sys::close_raw(fd_of(d));
        }
    }
}

/// How a received descriptor is described to its new owner: a door gets its
/// attributes (with `DOOR_LOCAL` where this process serves it) and its
/// uniquifier in `d_id`; anything else gets `d_id` 0.
pub fn describe(fd: c_int) -> door_desc_t {
    let mut attributes = DOOR_DESCRIPTOR;
    let mut id = 0;
    if let Ok(uniq) = label::door_id(fd) {
        crate::fdmemo::handed_out(fd);
        id = uniq;
        if let Some(door) = server::local_door_of(fd, uniq) {
            attributes |= door.info().di_attributes;
        } else if let Some(plate) = label::nameplate(fd) {
            attributes |= plate.attributes & DOOR_ATTR_MASK & !DOOR_LOCAL;
            if sys::peer_gone(fd) {
                attributes |= DOOR_REVOKED;
            }
        }
    }
    door_desc_t {
        d_attributes: attributes,
        d_data: door_desc_t__d_data { d_desc: door_desc_t__d_desc { d_descriptor: fd, d_id: id } },
    }
}

/// The piece a data memfd's bytes go through a buffer on a page in, when
/// the kernel's copy between the memfd and the caller's buffer would crawl.
const BOUNCE: usize = 256 << 10;

/// A buffer on a page for the pieces of `len` bytes, if `crawls` (and
/// one can be made; else the kernel's copy it is, slow but right).
fn bounce_buffer(crawls: bool, len: usize) -> Option<Mapping> {
    if crawls { Mapping::anonymous(BOUNCE.min(len)).ok() } else { None }
}

/// A sealed memfd holding `bytes`, for data too large for a channel's region
/// or bulk buffer. The receiver copies out of it with `pread`
/// (`read_data_memfd`), so a sender that breaks the seals still cannot
/// fault the receiver.
pub fn data_memfd(bytes: &[u8]) -> Result<Fd> {
    let fd = sys::memfd(c"libdoor-data", bytes.len())?;
    // From bytes a few bytes before a page's end the kernel's copy crawls
    // (`read_data_memfd`): they go a piece at a time through a buffer on
    // a page (80 MiB 4080 bytes into a page: 87–110 ms straight, 67–75 ms
    // so; 64–68 ms on a page). Not through a mapping of the memfd: every
    // page would then be made by a fault, which costs more (106–128 ms).
    // (Address 0 stands for the memfd's first page.)
    match bounce_buffer(sys::just_behind(bytes.as_ptr(), std::ptr::null_mut()), bytes.len()) {
        Some(bounce) => {
            for (i, piece) in bytes.chunks(BOUNCE).enumerate() {
                // SAFETY: the buffer holds BOUNCE.min(bytes.len()) >= piece.len() bytes.
                let staged = unsafe {
                    sys::copy_bytes(piece.as_ptr(), bounce.ptr(), piece.len());
                    std::slice::from_raw_parts(bounce.ptr(), piece.len())
                };
                sys::pwrite_all(&fd, staged, i * BOUNCE)?;
            }
        }
        None => sys::pwrite_all(&fd, bytes, 0)?,
    }
    sys::add_seals(&fd, libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL)?;
    Ok(fd)
}

/// Copies the first `len` bytes of a peer's data memfd, which
/// `check_data_memfd` passed, to `dst`, with `pread`. Where `dst` lies a
/// few bytes into a page, as results in a `malloc`ed `rbuf` do, the
/// kernel's copy (`rep movsb`) crawls (`sys::just_behind`; 80 MiB of
/// results 16 bytes into a page took 90–118 ms, on a page 65–81 ms): then
/// the bytes come a piece at a time through a buffer on a page, and go on
/// with the library's copy (71–90 ms, on a page 68–79 ms in the same
/// runs). Never through a mapping of the peer's memfd: a sparse one of
/// huge pages could fault us.
///
/// # Safety
/// `dst` must be writable for `len` bytes.
pub unsafe fn read_data_memfd(fd: &Fd, dst: *mut u8, len: usize) -> Result<()> {
    // (Address 0 stands for the memfd's first page.)
    let Some(bounce) = bounce_buffer(sys::just_behind(std::ptr::null(), dst), len) else {
        // SAFETY: dst is writable for len bytes per the caller.
        return unsafe { sys::pread_exact(fd, dst, len, 0) };
    };
    let mut done = 0;
    while done < len {
        let n = (len - done).min(BOUNCE);
        // SAFETY: the buffer holds BOUNCE.min(len) >= n bytes; dst + done
        // is writable for len - done >= n bytes per the caller.
        unsafe {
            sys::pread_exact(fd, bounce.ptr(), n, done)?;
            sys::copy_bytes(bounce.ptr(), dst.add(done), n);
        }
        done += n;
    }
    Ok(())
}

/// Checks a peer's data memfd before anything is read or allocated for
/// it: it must be sealed against shrinking and hold at least `size` bytes,
/// so a peer cannot claim more than it sent, nor shrink it under the copy.
pub fn check_data_memfd(fd: &Fd, size: usize) -> Result<()> {
    if sys::sealed_len(fd, libc::F_SEAL_SHRINK)? < size {
        return Err(Errno(libc::EPROTO));
    }
    Ok(())
}

/// Sends `msg` with the descriptors of `descs` and then `data_fd`, splitting
/// them over leading `Descs` messages where one message cannot carry them all.
/// A Call also states the caller's credentials (see `sys::send_with_creds`).
/// A Reply never waits for the client to make room (`sys::send_now`): a
/// client that does not read its replies gets its channel closed instead.
pub fn send_message(sock: c_int, mut msg: Msg, descs: &[door_desc_t], data_fd: Option<&Fd>) -> Result<()> {
    let mut fds: Vec<c_int> = descs.iter().map(fd_of).collect();
    msg.d = fds.len() as u32;
    fds.extend(data_fd.map(Fd::raw));
    let mut chunks: Vec<&[c_int]> = fds.chunks(sys::MAX_FDS_PER_MSG).collect();
    let last = chunks.pop().unwrap_or(&[]);
    let send = if msg.kind == Kind::Call { sys::send_with_fds } else { sys::send_now };
    for chunk in chunks {
        let mut batch = Msg::new(Kind::Descs);
        batch.seq = msg.seq;
        batch.d = chunk.len() as u32;
        send(sock, &batch.encode(), chunk)?;
    }
    if msg.kind == Kind::Call {
        sys::send_with_creds(sock, &msg.encode(), last)
    } else {
        send(sock, &msg.encode(), last)
    }
}

/// What to send for `descs`: door descriptors go as fresh copies of their
/// own (each a reference the door's server counts for unreferenced
/// notifications; an SCM_RIGHTS copy would share the sender's), everything
/// else as is. Returns the list to send and the copies, to close once sent.
/// A door whose copy cannot be made (its server is gone) goes as is.
pub fn for_passing(descs: &[door_desc_t]) -> (Vec<door_desc_t>, Vec<Fd>) {
    let mut out = descs.to_vec();
    let doors: Vec<(usize, c_int, u64)> = out
        .iter()
        .enumerate()
        .filter_map(|(i, d)| label::door_id(fd_of(d)).ok().map(|uniq| (i, fd_of(d), uniq)))
        .collect();
    let made = copy_doors(doors.iter().map(|&(_, fd, uniq)| (fd, uniq)));
    let mut copies = Vec::new();
    for (&(i, _, uniq), copy) in doors.iter().zip(made) {
        if let Ok(copy) = copy {
            out[i].d_data = door_desc_t__d_data { d_desc: door_desc_t__d_desc { d_descriptor: copy.raw(), d_id: uniq } };
            copies.push(copy);
        }
    }
    (out, copies)
}

/// A new counted descriptor for the door behind `fd`: made here if this
/// process serves it, else asked of its server (Clone).
pub fn copy_door(fd: c_int, uniq: u64) -> Result<Fd> {
    copy_doors(std::iter::once((fd, uniq))).pop().unwrap_or(Err(Errno(libc::EBADF)))
}

/// `copy_door` for each (descriptor, uniquifier), in order (an error
/// where no copy could be made: a server gone, or silent). Every server is asked
/// before any answer is awaited, so the servers answer together and a
/// silent one costs `ANSWER_WAIT` once, not once per door (a forked child
/// copies every door it inherited).
pub fn copy_doors(doors: impl Iterator<Item = (c_int, u64)>) -> Vec<Result<Fd>> {
    // (One deadline for the asking and the answers: a server whose socket
    // is full costs it once too.)
    let deadline = std::time::Instant::now() + ANSWER_WAIT;
    let asked: Vec<Result<Copy>> = doors
        .map(|(fd, uniq)| match server::local_door_of(fd, uniq) {
            Some(door) => server::new_descriptor(&door, true).map(Copy::Made),
            None => ask_copy(fd, uniq, deadline),
        })
        .collect();
    asked
        .into_iter()
        .map(|copy| match copy? {
            Copy::Made(fd) => Ok(fd),
            Copy::Asked { uniq, mine } => take_copy(uniq, &mine, deadline),
        })
        .collect()
}

/// A copy of a door: made by this process, its server, or asked of
/// another process's (`mine`: our end of the socket it answers on).
enum Copy {
    Made(Fd),
    Asked { uniq: u64, mine: Fd },
}

/// Sends Clone to the server of the door behind `fd`, waiting for room in
/// its socket until `deadline` at most.
fn ask_copy(fd: c_int, uniq: u64, deadline: std::time::Instant) -> Result<Copy> {
    let (mine, theirs) = sys::reply_pair()?;
    sys::send_before(fd, &Msg::new(Kind::Clone).encode(), &[theirs.raw()], deadline)?;
    Ok(Copy::Asked { uniq, mine })
}

/// The server's answer to a Clone, awaited until `deadline` at most.
fn take_copy(uniq: u64, mine: &Fd, deadline: std::time::Instant) -> Result<Fd> {
    let (m, mut fds) = await_message(mine, Some(deadline))?;
    if m.kind != Kind::Opened {
        return Err(Errno(libc::EPROTO));
    }
    if m.d != 0 {
        return Err(Errno(crate::wire::peer_errno(m.d.into())));
    }
    let copy = fds.pop().filter(|_| fds.is_empty()).ok_or(Errno(libc::EPROTO))?;
    if label::door_id(copy.raw()) != Ok(uniq) {
        return Err(Errno(libc::EPROTO));
    }
    await_peer_close(mine);
    Ok(copy)
}

/// How long `await_peer_close` waits at most.
const PEER_CLOSE_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Waits until the server has closed its end of `sock`, a socket it has
/// answered one exchange on: a reply socket (Clone, Info) or an attachment
/// connection (Attach, Open, Detach). Waiting makes the server's
/// descriptor count final when `dup`, `fork` (for the doors a child
/// inherits), `door_info`, `fattach`, `open` or `fdetach` returns. A
/// socket that came from another process, as a reply socket does, the
/// server closes on its reaper thread (`sys::reaper`), some time after
/// answering, and so it closes a Detach connection too, after the
/// attachment's listener. That thread can be held up by a close that
/// blocks, which any client can arrange; so the wait is bounded: one
/// client's descriptors cost another's `fattach` at most `PEER_CLOSE_WAIT`.
pub fn await_peer_close(sock: &Fd) {
    let end = std::time::Instant::now() + PEER_CLOSE_WAIT;
    loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        match sys::poll_for(sock.raw(), libc::POLLIN, left) {
            Err(Errno(libc::EINTR)) if !left.is_zero() => {}
            // Closed (POLLHUP), out of time (0), or a server that says
            // more than it should (POLLIN alone): no reason to wait on.
            _ => return,
        }
    }
}

/// How long a door's server may take to answer Info or Clone. Its control
/// thread answers at once; only a server that is stopped (under a
/// debugger, by SIGSTOP) or hostile takes longer, and `door_info`,
/// `door_getparam`, `dup`, passing a door and `fork` must not wait on it
/// for ever: on illumos they never wait on the server at all. Each falls
/// back on what it can tell without the server (the nameplate; the
/// default limits; the descriptor as it is, uncounted).
pub const ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Waits for one message on `sock` (a reply socket or an attachment
/// connection the peer answers once), until `deadline` if there is one
/// (then `ETIMEDOUT`): end of file is `ECONNRESET`, descriptors that did
/// not fit `EMFILE`, anything malformed `EPROTO`. Signal handlers do not
/// end the wait.
pub fn await_message(sock: &Fd, deadline: Option<std::time::Instant>) -> Result<(Msg, Vec<Fd>)> {
    // Looked for before any wait: callers usually come once the socket
    // is readable (`open` and `fattach` waited for that themselves), so
    // the wait would be a system call that returns at once.
    loop {
        let mut buf = [0u8; crate::wire::MSG_LEN + 1];
        match sys::recv_with_fds(sock.raw(), &mut buf, libc::MSG_DONTWAIT) {
            // Nothing yet; or a peer that answered and hung up before
            // reading what we sent left ECONNRESET pending, reported
            // (once) before its answer.
            Err(Errno(libc::EAGAIN | libc::ECONNRESET)) => {}
            Err(e) => return Err(e),
            Ok(r) if r.len == 0 && r.fds.is_empty() => return Err(Errno(libc::ECONNRESET)),
            Ok(r) if r.truncated => return Err(Errno(libc::EMFILE)),
            Ok(r) => {
                let msg = Msg::decode(&buf[..r.len]).ok_or(Errno(libc::EPROTO))?;
                return Ok((msg, r.fds));
            }
        }
        let waited = match deadline {
            None => sys::wait_readable(sock.raw()),
            Some(end) => match end.saturating_duration_since(std::time::Instant::now()) {
                left if left.is_zero() => return Err(Errno(libc::ETIMEDOUT)),
                left => sys::poll_for(sock.raw(), libc::POLLIN, left),
            },
        };
        match waited {
            Err(Errno(libc::EINTR)) | Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
}
