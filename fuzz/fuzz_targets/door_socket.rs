//! A live door's control thread, fed hostile messages with hostile
//! descriptors through a door descriptor, as any holder of one can send
//! them: Hello (a channel end and a region memfd, either of which may be
//! of the wrong kind, size or seals), Info, Clone, Abandon,
//! and anything else. Attach is left out: an attachment is meant to last,
//! so each would keep its listener for the whole run.
//!
//! Input: 48 message bytes (shorter input is zero-padded), then one byte
//! per descriptor to attach (at most 4; `make` says what each value is).
//! Each input goes to a fresh copy of the door descriptor (`dup`, which
//! libdoor makes a new door socket), since the server closes the door
//! socket a malformed message came on. After the message the target asks
//! for the door's Info on that copy and waits for the answer, which the
//! control thread sends only after it has handled the message before it;
//! if the server closed the copy instead, it asks on the original. So a
//! hostile message that hangs or kills the control thread fails the run (a
//! panic anywhere aborts, libFuzzer's hook), and so does a descriptor leak.
#![no_main]

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use door::abi::{door_desc_t, door_server_procedure_t};
use door::fuzzing::{Kind, MSG_LEN, Msg, door_create, door_return};
use libc::{c_char, c_int, c_void};
use libfuzzer_sys::fuzz_target;

const REGION_LEN: i64 = 135_168;
const ATTACH: u32 = 4;
const IDENTITY: u32 = 3;

unsafe extern "C" fn procedure(_: *mut c_void, _: *mut c_char, _: usize, _: *mut door_desc_t, _: u64) {
    // SAFETY: an empty reply from a server thread.
    unsafe { door_return(std::ptr::null_mut(), 0, std::ptr::null_mut(), 0) };
}

/// The door, made once; its pool and control thread live for the run.
fn door_fd() -> c_int {
    static DOOR: OnceLock<(c_int, usize)> = OnceLock::new();
    DOOR.get_or_init(|| {
        let p = procedure as unsafe extern "C" fn(_, _, _, _, _);
        // SAFETY: procedure has the door_server_procedure_t signature.
        let fd = unsafe { door_create(p as *mut door_server_procedure_t, std::ptr::null_mut(), 0) };
        assert!(fd >= 0, "door_create");
        (fd, open_fds())
    })
    .0
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

fn baseline() -> usize {
    door_fd();
    static BASE: OnceLock<usize> = OnceLock::new();
    *BASE.get_or_init(open_fds)
}

fn owned(fd: c_int) -> OwnedFd {
    assert!(fd >= 0, "making a descriptor: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh descriptor nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    let mut sv = [0; 2];
    // SAFETY: sv has room for two descriptors.
    let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) };
    assert_eq!(r, 0);
    (owned(sv[0]), owned(sv[1]))
}

fn memfd(size: i64, seals: c_int) -> OwnedFd {
    // SAFETY: a NUL-terminated name.
    let fd = owned(unsafe { libc::memfd_create(c"fuzz".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) });
    // SAFETY: plain calls on a descriptor we own.
    unsafe {
        assert_eq!(libc::ftruncate(fd.as_raw_fd(), size), 0);
        libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals);
    }
    fd
}

/// A descriptor of kind `k`, and what of it to keep until the exchange is
/// over (a socket's far end, so that a channel made of it stays connected).
fn make(k: u8) -> (OwnedFd, Option<OwnedFd>) {
    let sealed = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;
    match k % 9 {
        0 => {
            let (a, b) = seqpacket_pair();
            (a, Some(b))
        }
        1 => (memfd(REGION_LEN, sealed), None),
        2 => (memfd(REGION_LEN, 0), None),
        3 => (memfd(4096, sealed), None),
        // SAFETY: eventfd takes no pointers.
        4 => (owned(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) }), None),
        5 => {
            let mut p = [0; 2];
            // SAFETY: p has room for two descriptors.
            assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
            (owned(p[0]), Some(owned(p[1])))
        }
        6 => {
            // SAFETY: a plain socket call.
            let s = owned(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) });
            (s, None)
        }
        7 => (memfd(0, sealed), None),
        // SAFETY: a NUL-terminated path.
        _ => (owned(unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }), None),
    }
}

fn send(sock: c_int, bytes: &[u8], fds: &[c_int]) -> isize {
    let mut iov = libc::iovec { iov_base: bytes.as_ptr() as *mut c_void, iov_len: bytes.len() };
    let mut cbuf = [0u64; 16];
    // SAFETY: msghdr is plain old data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let len = std::mem::size_of_val(fds) as u32;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE is arithmetic; the header and payload fit cbuf.
        unsafe {
            msg.msg_controllen = libc::CMSG_SPACE(len) as usize;
            let cm = libc::CMSG_FIRSTHDR(&msg);
            (*cm).cmsg_level = libc::SOL_SOCKET;
            (*cm).cmsg_type = libc::SCM_RIGHTS;
            (*cm).cmsg_len = libc::CMSG_LEN(len) as usize;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cm).cast::<c_int>(), fds.len());
        }
    }
    // SAFETY: msg describes live buffers.
    unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) }
}

/// Asks the door for its Info on `door` and waits for the answer: the
/// control thread got past the message sent before it. False if the server
/// closed `door`'s socket instead (the Info and its reply socket were
/// discarded with it).
fn identity_answered(door: c_int) -> bool {
    let (mine, theirs) = seqpacket_pair();
    let info = Msg::new(Kind::Info).encode();
    if send(door, &info, &[theirs.as_raw_fd()]) != MSG_LEN as isize {
        return false;
    }
    drop(theirs);
    let mut p = libc::pollfd { fd: mine.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let limit = Duration::from_secs(10).as_millis() as c_int;
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, limit) };
    assert_eq!(n, 1, "the control thread did not answer Info within 10 s");
    let mut buf = [0u8; MSG_LEN];
    // SAFETY: buf is writable for its length.
    let got = unsafe { libc::recv(mine.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if got == 0 {
        return false;
    }
    assert_eq!(got, MSG_LEN as isize, "Info answer");
    assert_eq!(u32::from_le_bytes(buf[4..8].try_into().unwrap()), IDENTITY);
    true
}

fuzz_target!(|data: &[u8]| {
    let base = baseline();
    let door = door_fd();
    let mut msg = [0u8; MSG_LEN];
    let n = data.len().min(MSG_LEN);
    msg[..n].copy_from_slice(&data[..n]);
    if u32::from_le_bytes(msg[4..8].try_into().unwrap()) == ATTACH {
        return;
    }
    let made: Vec<(OwnedFd, Option<OwnedFd>)> = data[n..].iter().take(4).map(|&k| make(k)).collect();
    let raw: Vec<c_int> = made.iter().map(|(fd, _)| fd.as_raw_fd()).collect();
    // SAFETY: dup of a descriptor we hold; libdoor makes the copy a door
    // socket of its own.
    let copy = owned(unsafe { libc::dup(door) });
    assert_eq!(send(copy.as_raw_fd(), &msg, &raw), MSG_LEN as isize, "sending to the door");
    drop(raw);
    if !identity_answered(copy.as_raw_fd()) {
        assert!(identity_answered(door), "the door's own descriptor lost its socket");
    }
    drop(copy);
    drop(made);
    // What the server adopted (a channel) it drops when our end closes,
    // in a pool thread, which may lag behind on a loaded machine: past the
    // slack, give it time to catch up; a leak stays.
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds() >= base + 64 {
        assert!(Instant::now() < deadline, "descriptor leak: {} open, {base} at the start", open_fds());
        std::thread::sleep(Duration::from_millis(10));
    }
});
