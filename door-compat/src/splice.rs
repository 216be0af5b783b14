//! Spliced arguments: a single copy for large arguments when client and
//! server share a CPU.
//!
//! Streaming through the bulk buffer (`bulk.rs`) copies the bytes twice:
//! the client into the buffer, the server out of it into its own copy. On
//! two CPUs the two copies overlap; on one they add up. So when the server
//! last answered from the client's CPU, a large argument goes through a
//! pipe instead: the client `vmsplice`s its pages into the pipe (the kernel
//! takes references, copying nothing) and the server `read`s them into its
//! own copy, the only one. The procedure still gets bytes the client can
//! no longer change: they are the server's, read before dispatch.
//!
//! A pipe serves one call. The client makes it, sends its read end with
//! the Call and closes its own copy, then splices the bytes in; the server
//! reads them and closes the pipe before the procedure runs, or closes it
//! at once when it refuses the call, which makes the client's `vmsplice`
//! fail (`EPIPE`) rather than wait. So no bytes outlive their call, and
//! between calls neither side holds anything.

use std::time::{Duration, Instant};

// A client waiting for room in the pipe checks that its server lives as
// often as one waiting for a reply; a server thread gives up on a client
// that sends nothing more after as long as for a streamed call.
use crate::bulk::STALL;
use crate::client::LIVENESS_CHECK;
use crate::sys::{self, Errno, Fd, Result};

/// Arguments at least this large are spliced (when the server shares our
/// CPU); below it the copies are cheap next to the pinning, and the bulk
/// buffer's two copies cost about the same.
pub const MIN: usize = 512 << 10;

/// The pipe's capacity: a call of up to 1 MiB (page-aligned) goes in whole
/// with one `vmsplice`, without waiting for the server. Unprivileged
/// processes may ask for this much (`/proc/sys/fs/pipe-max-size`, 1 MiB by
/// default) until the user's pipes hold `pipe-user-pages-soft` pages; then
/// the channel streams instead.
const CAPACITY: usize = 1 << 20;

/// A new pipe for a call: (our write end, non-blocking; the read end to
/// send). `Err` when the kernel will not give a pipe of `CAPACITY`
/// (`EPERM`: the user's pipes hold too many pages).
pub fn make() -> Result<(Fd, Fd)> {
    let (read, write) = crate::forkfence::making(|| {
        let mut ends = [0 as libc::c_int; 2];
        // SAFETY: ends has room for the two descriptors pipe2 writes.
        let r = unsafe { libc::syscall(libc::SYS_pipe2, ends.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
        if r < 0 {
            return Err(Errno::last());
        }
        Ok((sys::internal(ends[0]), sys::internal(ends[1])))
    })?;
    if sys::fcntl_int(write.raw(), libc::F_SETPIPE_SZ, CAPACITY as libc::c_int)? < CAPACITY as libc::c_int {
        return Err(Errno(libc::ENOMEM));
    }
    Ok((write, read))
}

/// The client's side: puts `bytes` in the pipe behind `write`, as page
/// references, waiting for the server to make room when they do not fit.
/// `sock` is the channel's socket, to notice a server that died.
///
/// `Err(EPIPE)`: the server closed the pipe (it refused the call; its
/// answer says why) or is gone. `Err(EINTR)`: a signal handler ran while
/// the pipe was full (the caller gives the call up). Any other error: the bytes could not be
/// referenced nor copied; the caller closes the pipe, so the server sees
/// it end before the data and answers `EFAULT`.
pub fn push(write: &Fd, bytes: &[u8], sock: libc::c_int) -> Result<()> {
    let _quiet = SigpipeBlocked::new();
    let mut done = 0;
    while done < bytes.len() {
        let rest = &bytes[done..];
        let iov = libc::iovec { iov_base: rest.as_ptr() as *mut libc::c_void, iov_len: rest.len() };
        // SAFETY: iov describes `rest`, readable for its length; the
        // kernel only takes references to its pages, which stay valid
        // until read or dropped with the pipe.
        let r = unsafe { libc::syscall(libc::SYS_vmsplice, write.raw(), &raw const iov, 1, libc::SPLICE_F_NONBLOCK) };
        let n = if r >= 0 {
            r as usize
        } else {
            match Errno::last() {
                Errno(libc::EAGAIN) => {
                    wait_for_room(write, sock)?;
                    continue;
                }
                Errno(libc::EINTR) => continue,
                Errno(libc::EPIPE) => return Err(Errno(libc::EPIPE)),
                // Memory the kernel will not pin (a device mapping, say)
                // can still be copied.
                _ => match sys::write(write.raw(), rest) {
                    Ok(n) => n,
                    Err(Errno(libc::EAGAIN)) => {
                        wait_for_room(write, sock)?;
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            }
        };
        done += n;
    }
    Ok(())
}

/// Waits until the pipe has room, the server drops it (`EPIPE`), or the
/// server is gone (`EPIPE`). A caught signal ends the wait (`EINTR`), as
/// it ends the wait for a reply: a server that takes none of the argument
/// (stopped, or every thread busy) must not hold the caller past it.
fn wait_for_room(write: &Fd, sock: libc::c_int) -> Result<()> {
    loop {
        match sys::poll_for(write.raw(), libc::POLLOUT, LIVENESS_CHECK) {
            Ok(ev) if ev & libc::POLLERR != 0 => return Err(Errno(libc::EPIPE)),
            Ok(ev) if ev & libc::POLLOUT != 0 => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
        if sys::peer_gone(sock) {
            return Err(Errno(libc::EPIPE));
        }
    }
}

/// SIGPIPE blocked in this thread while it lives: a `vmsplice` to a pipe
/// the server closed must fail with `EPIPE`, not kill the client. A SIGPIPE
/// it raised is taken back before the old mask returns; one that was
/// pending already stays pending.
struct SigpipeBlocked {
    old: libc::sigset_t,
    was_pending: bool,
}

impl SigpipeBlocked {
    fn new() -> SigpipeBlocked {
        // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise
        // it; pthread_sigmask and sigpending write the sets they are given.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            SigpipeBlocked { old, was_pending: sigpipe_pending() }
        }
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        // SAFETY: as in `new`; the zero timeout makes sigtimedwait only
        // take a SIGPIPE already pending (this thread's or the process's).
        unsafe {
            if !self.was_pending && sigpipe_pending() {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGPIPE);
                let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
                libc::sigtimedwait(&set, std::ptr::null_mut(), &zero);
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
        }
    }
}

/// Whether a SIGPIPE is pending for this thread.
fn sigpipe_pending() -> bool {
    // SAFETY: sigpending fills the set; sigismember reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut set) == 0 && libc::sigismember(&set, libc::SIGPIPE) == 1
    }
}

/// The server's check of a pipe a client sent: the read end of a pipe (or
/// FIFO), which it makes non-blocking. `EPROTO` for anything else.
pub fn adopt(fd: &Fd) -> Result<()> {
    // (A pipe's size is asked, not its `fstat`, which on a FUSE file would
    // wait for its daemon.)
    let is_pipe = sys::fcntl_int(fd.raw(), libc::F_GETPIPE_SZ, 0).is_ok();
    let flags = sys::fcntl_int(fd.raw(), libc::F_GETFL, 0).map_err(|_| Errno(libc::EPROTO))?;
    if !is_pipe || flags & libc::O_ACCMODE != libc::O_RDONLY {
        return Err(Errno(libc::EPROTO));
    }
    sys::set_nonblocking(fd.raw()).map_err(|_| Errno(libc::EPROTO))
}

/// The server's side: reads exactly `len` bytes from `pipe` to `dst`.
/// `EFAULT` when the client closes the pipe first (it could not send its
/// bytes); `EPIPE` when the client is gone (`sock`, the channel's socket,
/// hung up); `EPROTO` when it sends nothing for `STALL`.
///
/// # Safety
/// `dst` must be writable for `len` bytes.
pub unsafe fn pull(pipe: &Fd, sock: libc::c_int, dst: *mut u8, len: usize) -> Result<()> {
    let mut done = 0;
    let mut progressed = Instant::now();
    while done < len {
        // SAFETY: done < len: dst + done is writable for len - done bytes.
        let r = unsafe { read_now(pipe.raw(), dst.add(done), len - done) };
        if r > 0 {
            done += r as usize;
            progressed = Instant::now();
            continue;
        }
        match if r == 0 { Errno(libc::EFAULT) } else { Errno::last() } {
            Errno(libc::EAGAIN) | Errno(libc::EINTR) => {}
            e => return Err(e),
        }
        match sys::poll_for(pipe.raw(), libc::POLLIN, Duration::from_millis(10)) {
            Ok(ev) if ev & (libc::POLLIN | libc::POLLHUP) != 0 => continue,
            Ok(_) | Err(Errno(libc::EINTR)) => {}
            Err(e) => return Err(e),
        }
        if sys::peer_gone(sock) {
            return Err(Errno(libc::EPIPE));
        }
        if progressed.elapsed() > STALL {
            return Err(Errno(libc::EPROTO));
        }
    }
    Ok(())
}

/// Reads what the pipe holds without waiting, whatever its `O_NONBLOCK`
/// says: the client shares that flag with us and may clear it, and a plain
/// `read` of an empty pipe would then hold this thread for as long as the
/// client keeps the pipe open. (`RWF_NOWAIT`; on a kernel whose pipes do
/// not take it, a plain `read`, trusting the flag.)
///
/// # Safety
/// `dst` must be writable for `len` bytes.
unsafe fn read_now(fd: libc::c_int, dst: *mut u8, len: usize) -> libc::c_long {
    let iov = libc::iovec { iov_base: dst.cast(), iov_len: len };
    // SAFETY: iov describes dst, writable for len bytes per the caller;
    // offset -1 reads at the pipe's position, as `read` does.
    let r = unsafe { libc::syscall(libc::SYS_preadv2, fd, &raw const iov, 1, -1 as libc::c_long, 0 as libc::c_long, libc::RWF_NOWAIT) };
    if r < 0 && Errno::last() == Errno(libc::EOPNOTSUPP) {
        // SAFETY: as above.
        return unsafe { libc::syscall(libc::SYS_read, fd, dst, len) };
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushed_bytes_are_pulled_whole_and_unchanged() {
        let (write, read) = make().unwrap();
        adopt(&read).unwrap();
        let (a, _b) = sys::seqpacket_pair().unwrap();
        // Three times the pipe's capacity, unaligned: push waits for room
        // while pull empties the pipe on another thread.
        let bytes: Vec<u8> = (0..3 * CAPACITY + 123).map(|i| (i * 7 % 251) as u8).collect();
        let sock = a.raw();
        let got = std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut got = vec![0u8; bytes.len()];
                // SAFETY: got is writable for its length.
                unsafe { pull(&read, sock, got.as_mut_ptr(), got.len()) }.map(|()| got)
            });
            push(&write, &bytes[1..], sock).and_then(|()| push(&write, &bytes[..1], sock)).unwrap();
            reader.join().unwrap().unwrap()
        });
        assert_eq!(&got[..bytes.len() - 1], &bytes[1..]);
        assert_eq!(got[bytes.len() - 1], bytes[0]);
    }

    #[test]
    fn a_pipe_closed_early_is_efault_and_a_dropped_reader_epipe() {
        let (write, read) = make().unwrap();
        adopt(&read).unwrap();
        let (a, _b) = sys::seqpacket_pair().unwrap();
        push(&write, &[1, 2, 3], a.raw()).unwrap();
        drop(write);
        let mut got = [0u8; 8];
        // SAFETY: got is writable for its length.
        assert_eq!(unsafe { pull(&read, a.raw(), got.as_mut_ptr(), got.len()) }, Err(Errno(libc::EFAULT)));
        assert_eq!(&got[..3], &[1, 2, 3]);

        let (write, read) = make().unwrap();
        drop(read);
        assert_eq!(push(&write, &[0u8; 4096], a.raw()), Err(Errno(libc::EPIPE)));
        assert!(!sigpipe_pending(), "the SIGPIPE the closed pipe raised was taken back");
    }

    #[test]
    fn only_a_read_end_is_adopted() {
        let (write, read) = make().unwrap();
        assert_eq!(adopt(&write), Err(Errno(libc::EPROTO)));
        let (a, _b) = sys::seqpacket_pair().unwrap();
        assert_eq!(adopt(&a), Err(Errno(libc::EPROTO)));
        let memfd = sys::memfd(c"t", 4096).unwrap();
        assert_eq!(adopt(&memfd), Err(Errno(libc::EPROTO)));
        assert_eq!(adopt(&read), Ok(()));
    }
}
