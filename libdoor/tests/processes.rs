//! A Rust client against a Rust server in another process: calls, large
//! results, descriptors both ways, door_info, credentials, panics, open of
//! a stopped server's path, and the examples.

mod common;

use std::os::fd::AsFd;

use common::{Proc, TempDir, pipe, read_all};
use libdoor::{Args, Client};

fn main() {
    common::run(
        &[
            ("calls", calls),
            ("large_results", large_results),
            ("descriptors_both_ways", descriptors_both_ways),
            ("door_info", door_info),
            ("credentials", credentials),
            ("panics", panics),
            ("open_stopped_server", open_stopped_server),
            ("examples", examples),
        ],
        &[("server", common::rust_server)],
    );
}

/// A server process and a client of it.
struct Served {
    server: Proc,
    client: Client,
    id: u64,
    pid: i32,
    _dir: TempDir,
}

fn served(name: &str) -> Served {
    let dir = TempDir::new(name);
    let path = dir.file("door");
    let server = Proc::role("server", &[path.to_str().unwrap()]);
    let ready = server.expect("ready:");
    let (id, pid) = ready.split_once(' ').unwrap();
    let client = Client::open(&path).unwrap();
    Served { server, client, id: id.parse().unwrap(), pid: pid.parse().unwrap(), _dir: dir }
}

fn calls() {
    let s = served("calls");
    let reply = s.client.call(b"echo:hello").unwrap();
    assert_eq!(reply.data(), b"hello");
    assert!(!reply.is_mapped());
    assert!(reply.fds().is_empty());

    // Results that fit go into the caller's buffer.
    let mut buf = [0xffu8; 64];
    let ptr = buf.as_ptr();
    let reply = s.client.call_into(b"echo:borrowed", &mut buf).unwrap();
    assert_eq!(&*reply, b"borrowed");
    assert_eq!(reply.data().as_ptr(), ptr);
    drop(reply);
    assert_eq!(&buf[..8], b"borrowed");

    // Results that do not fit go into a fresh mapping.
    let mut small = [0u8; 4];
    let reply = s.client.call_into(b"echo:too long for it", &mut small).unwrap();
    assert!(reply.is_mapped());
    assert_eq!(reply.data(), b"too long for it");

    // No arguments.
    assert_eq!(s.client.call(&[][..]).unwrap().data(), b"default");
    assert_eq!(s.server.finish().code(), Some(0));
}

/// Whether any mapping of this process overlaps `addr..addr+len`.
fn mapped(addr: *const u8, len: usize) -> bool {
    let (lo, hi) = (addr as usize, addr as usize + len);
    std::fs::read_to_string("/proc/self/maps").unwrap().lines().any(|l| {
        let range = l.split(' ').next().unwrap();
        let (a, b) = range.split_once('-').unwrap();
        let (a, b) = (usize::from_str_radix(a, 16).unwrap(), usize::from_str_radix(b, 16).unwrap());
        a < hi && lo < b
    })
}

fn large_results() {
    let s = served("large");
    for n in [5000usize, 1 << 20, 9 << 20] {
        let reply = s.client.call(format!("big:{n}").as_str()).unwrap();
        assert!(reply.is_mapped(), "{n} bytes");
        assert_eq!(reply.len(), n);
        assert!(reply.iter().enumerate().all(|(i, &b)| b == common::pattern(i)), "{n} bytes");
        let (addr, len) = reply.mapping().unwrap();
        assert!(len >= n && mapped(addr, len));
        drop(reply);
        assert!(!mapped(addr, len), "the mapping of {n} bytes outlived its Reply");
    }
    // Large arguments, echoed back (through the bulk buffers both ways).
    let mut arg = b"echo:".to_vec();
    arg.extend((0..3 << 20).map(common::pattern));
    let reply = s.client.call(&arg).unwrap();
    assert_eq!(reply.data(), &arg[5..]);
    // A buffer large enough takes them.
    let mut buf = vec![0u8; 4 << 20];
    let reply = s.client.call_into(&arg, &mut buf).unwrap();
    assert!(!reply.is_mapped());
    assert_eq!(reply.data(), &arg[5..]);
    assert_eq!(s.server.finish().code(), Some(0));
}

fn descriptors_both_ways() {
    let s = served("fds");
    let (pipe_r, pipe_w) = pipe();
    let memfd = memfd_with(b"from client");
    let mut reply = s.client.call(Args::new(b"fds").give_fd(pipe_w).fd(memfd.as_fd())).unwrap();
    assert_eq!(reply.data(), b"from client");
    // End of file after "hello": the server closed its copy of the write
    // end, and the call closed ours (given away: DOOR_RELEASE).
    assert_eq!(read_all(pipe_r), b"hello");
    // Lent: still ours.
    assert!(std::fs::File::from(memfd).metadata().is_ok());
    let mut fds = reply.take_fds().into_iter();
    let (r, w) = (fds.next().unwrap(), fds.next().unwrap());
    // End of file once our copy of the write end closes: the server's
    // closed when it was sent (given away).
    drop(w);
    assert_eq!(read_all(r), b"from server");
    assert_eq!(read_all(fds.next().unwrap()), b"server file");
    assert!(fds.next().is_none());
    assert_eq!(s.server.finish().code(), Some(0));
}

fn memfd_with(bytes: &[u8]) -> std::os::fd::OwnedFd {
    use std::io::{Seek, Write};
    // SAFETY: a NUL-terminated name; memfd_create takes no other pointer.
    let fd = unsafe { libc::memfd_create(c"libdoor-test".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0);
    // SAFETY: memfd_create gave us this descriptor.
    let mut f = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    f.write_all(bytes).unwrap();
    f.rewind().unwrap();
    f.into()
}

fn door_info() {
    let s = served("info");
    let info = s.client.info().unwrap();
    assert_eq!(info.server, Some(s.pid));
    assert_eq!(info.id, s.id);
    assert!(!info.is_local() && !info.is_revoked());
    assert_ne!(info.procedure, 0);
    // A clone of the client is the same door.
    assert_eq!(s.client.try_clone().unwrap().info().unwrap().id, s.id);
    // Once the server is gone the door reads revoked, and calls fail.
    let Served { server, client, id, .. } = s;
    server.kill();
    let info = client.info().unwrap();
    assert_eq!(info.server, None);
    assert!(info.is_revoked());
    assert_eq!(info.id, id);
    assert_eq!(client.call(b"echo:x").unwrap_err().raw_os_error(), Some(libc::EBADF));
}

fn credentials() {
    let s = served("cred");
    let reply = s.client.call(b"pid").unwrap();
    assert_eq!(std::str::from_utf8(&reply).unwrap(), std::process::id().to_string());
    assert_eq!(s.server.finish().code(), Some(0));
}

fn panics() {
    let s = served("panics");
    // More panics than the pool had threads: each thread goes on serving.
    for _ in 0..8 {
        let e = s.client.call(b"panic").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINTR));
    }
    assert_eq!(s.client.call(b"echo:still here").unwrap().data(), b"still here");
    assert_eq!(s.client.info().unwrap().server, Some(s.pid));
    assert_eq!(s.server.finish().code(), Some(0));
}

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

static SIGNALS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// `Client::open` of the path of a stopped server waits for it; signals
/// caught in the first second leave the wait going, and one caught after
/// it (its handler without SA_RESTART) ends the open with EINTR. Once the
/// server is continued, the path opens.
fn open_stopped_server() {
    use std::os::unix::thread::JoinHandleExt;
    use std::time::{Duration, Instant};

    let dir = TempDir::new("stopped");
    let path = dir.file("door");
    let server = Proc::role("server", &[path.to_str().unwrap()]);
    let pid: i32 = server.expect("ready:").split_once(' ').unwrap().1.parse().unwrap();
    // SAFETY: a zeroed sigaction is valid; the handler only touches an
    // atomic, which is async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = count_signal as *const () as usize;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
        // SAFETY: kill takes no pointers.
        assert_eq!(libc::kill(pid, libc::SIGSTOP), 0);
    }
    let stat = format!("/proc/{pid}/stat");
    let stopped = || std::fs::read_to_string(&stat).is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('T')));
    let deadline = Instant::now() + common::DEADLINE;
    while !stopped() {
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(1)); // polling interval
    }
    let opener_path = path.clone();
    let start = Instant::now();
    let opener = std::thread::spawn(move || Client::open(&opener_path).map(drop).map_err(|e| e.raw_os_error()));
    // A signal every 100 ms until the open ends (at most a minute).
    while !opener.is_finished() {
        assert!(Instant::now() < deadline, "open of a stopped server's path did not end on a signal");
        // SAFETY: the thread is joinable, not joined yet: its id is valid.
        unsafe { libc::pthread_kill(opener.as_pthread_t(), libc::SIGUSR1) };
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = start.elapsed();
    assert_eq!(opener.join().unwrap(), Err(Some(libc::EINTR)));
    assert!(took >= Duration::from_secs(1), "open ended after {took:?}, in the first second");
    assert!(SIGNALS.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    // SAFETY: kill takes no pointers.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let client = Client::open(&path).unwrap();
    assert_eq!(client.call(b"echo:awake").unwrap().data(), b"awake");
    assert_eq!(server.finish().code(), Some(0));
}

/// The examples, as a person would run them.
fn examples() {
    let dir = TempDir::new("examples");
    let path = dir.path().join("upper.door");
    // target/<profile>/deps/processes-* -> target/<profile>/examples/
    let examples = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("examples");
    let mut server_cmd = std::process::Command::new(examples.join("server"));
    server_cmd.arg(&path);
    let server = Proc::spawn(server_cmd);
    server.expect("ready:");
    let out = std::process::Command::new(examples.join("client")).arg(&path).arg("hello, door").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    // Written by the server into our stdout, then printed by the client.
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "HELLO, DOOR\nHELLO, DOOR\n");
    assert_eq!(server.finish().code(), Some(0));
    // The server detached at the end: the path is a plain file again.
    assert!(std::fs::metadata(&path).unwrap().is_file());
}
