//! Helpers for the integration tests: a fresh directory, processes that
//! play one role of a test (the test binary run again, told its role in
//! the environment), and a small test runner for such binaries
//! (`harness = false`), since libtest can only re-run tests, not roles.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a child may take to get ready or to finish (a loaded machine
/// is slow; this only bounds a hang).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The environment variable that names the role a re-run plays.
const ROLE: &str = "LIBDOOR_TEST_ROLE";

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let base = std::env::temp_dir().join(format!("libdoor-rs-{name}-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&base).expect("temp dir");
        TempDir(base)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    /// A regular file in the directory, to attach a door to.
    pub fn file(&self, name: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, b"covered").expect("create file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unique() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A test or a role: its name and body.
pub type Case = (&'static str, fn());

/// The `main` of a test binary with roles: plays the role named in the
/// environment, if any; otherwise runs the tests whose names contain the
/// first non-flag argument (all by default), one after another, and
/// reports like libtest. Exits non-zero if any failed.
pub fn run(tests: &[Case], roles: &[Case]) {
    if let Ok(role) = std::env::var(ROLE) {
        let (_, body) = roles.iter().find(|(name, _)| *name == role).unwrap_or_else(|| panic!("no role {role}"));
        body();
        return;
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    let start = std::time::Instant::now();
    let chosen: Vec<&Case> = tests.iter().filter(|(name, _)| name.contains(&filter)).collect();
    println!("\nrunning {} tests", chosen.len());
    let mut failed = Vec::new();
    for (name, body) in &chosen {
        let ok = std::panic::catch_unwind(body).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            failed.push(*name);
        }
    }
    let passed = chosen.len() - failed.len();
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {passed} passed; {} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        failed.len(),
        tests.len() - chosen.len(),
        start.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        eprintln!("failures: {failed:?}");
        std::process::exit(101);
    }
}

/// A child process, killed and reaped on drop.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    /// Runs this test binary again, playing `role`, with `args` in the
    /// environment as LIBDOOR_TEST_ARG0, 1... Its standard input is a
    /// pipe: at end of input it should end.
    pub fn role(role: &str, args: &[&str]) -> Proc {
        let exe = std::env::current_exe().expect("current_exe");
        let mut cmd = Command::new(exe);
        cmd.env(ROLE, role);
        for (i, a) in args.iter().enumerate() {
            cmd.env(format!("LIBDOOR_TEST_ARG{i}"), a);
        }
        Proc::spawn(cmd)
    }

    /// Runs `cmd` with its standard input and output piped.
    pub fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("spawn");
        let out = child.stdout.take().expect("stdout");
        Proc { child, lines: reader(out) }
    }

    /// Waits for a line of the child's output that starts with `prefix`;
    /// returns the rest of it.
    pub fn expect(&self, prefix: &str) -> String {
        loop {
            let line = self.lines.recv_timeout(DEADLINE).unwrap_or_else(|_| panic!("no {prefix:?} line from the child"));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_string();
            }
        }
    }

    /// Closes the child's input and waits for it to end; its exit status.
    pub fn finish(mut self) -> std::process::ExitStatus {
        drop(self.child.stdin.take());
        wait_for(&mut self.child)
    }

    /// Kills the child and waits for it to be gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to DEADLINE for `child` to end.
pub fn wait_for(child: &mut Child) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(start.elapsed() < DEADLINE, "child did not finish in time");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn reader(out: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The argument `i` a role was given.
pub fn arg(i: usize) -> String {
    std::env::var(format!("LIBDOOR_TEST_ARG{i}")).expect("role argument")
}

/// In a role: says `line` to the test (one line on standard output).
pub fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("stdout");
    out.flush().expect("flush");
}

/// In a role: waits for the end of standard input (the test is done with
/// this process).
pub fn wait_for_end_of_input() {
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

/// Reads everything from `fd` until end of file, which must come within
/// DEADLINE (a descriptor someone forgot to close fails, not hangs).
pub fn read_all(fd: std::os::fd::OwnedFd) -> Vec<u8> {
    use std::os::fd::AsRawFd;
    let start = std::time::Instant::now();
    let mut file = std::fs::File::from(fd);
    let mut v = Vec::new();
    loop {
        let left = DEADLINE.saturating_sub(start.elapsed());
        let mut p = libc::pollfd { fd: file.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: p is one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, left.as_millis() as libc::c_int) };
        assert!(r != 0, "no end of file within the deadline");
        if r < 0 {
            assert_eq!(std::io::Error::last_os_error().kind(), std::io::ErrorKind::Interrupted);
            continue;
        }
        let mut buf = [0u8; 4096];
        match file.read(&mut buf).expect("read") {
            0 => return v,
            n => v.extend_from_slice(&buf[..n]),
        }
    }
}

/// A pipe: (read end, write end).
pub fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    use std::os::fd::FromRawFd;
    // SAFETY: pipe2 gave us both descriptors.
    unsafe { (std::os::fd::OwnedFd::from_raw_fd(fds[0]), std::os::fd::OwnedFd::from_raw_fd(fds[1])) }
}

/// The Rust server the tests call, in a process of its own: attaches a
/// door at LIBDOOR_TEST_ARG0, says `ready: <door id> <pid>`, and serves
/// until its input ends. What it answers depends on the call's bytes:
///
/// - `echo:<bytes>`: `<bytes>`, borrowed from the request;
/// - `big:<n>`: n bytes, byte i being `pattern(i)`;
/// - `fds`: takes a pipe's write end and a file, writes `hello` into the
///   pipe, and answers with the file's contents, both ends of a new pipe
///   (given away: the read end holds `from server`, and reaches end of file
///   once the caller closes the write end), and a copy of its own file
///   holding `server file` (lent);
/// - `pid`: the caller's pid, from the kernel, in decimal;
/// - `panic`: panics;
/// - anything else: `default` (which a caller that accepts no results,
///   a C `door_call(d, NULL)`, never sees).
pub fn rust_server() {
    use libdoor::{Door, Response};
    use std::io::{Seek, Write};
    use std::os::fd::{AsFd, OwnedFd};
    use std::sync::OnceLock;

    static LENT: OnceLock<OwnedFd> = OnceLock::new();
    // The `panic` calls panic on purpose: keep the log quiet.
    std::panic::set_hook(Box::new(|_| {}));
    let dir = std::env::temp_dir().join(format!("libdoor-rs-lent-{}", std::process::id()));
    let mut file = std::fs::File::options().read(true).write(true).create(true).truncate(true).open(&dir).unwrap();
    std::fs::remove_file(&dir).unwrap();
    file.write_all(b"server file").unwrap();
    file.rewind().unwrap();
    LENT.set(file.into()).unwrap();

    let door = Door::create(|mut req| {
        let data = req.data();
        if let Some(bytes) = data.strip_prefix(b"echo:") {
            Response::new(bytes)
        } else if let Some(n) = data.strip_prefix(b"big:") {
            let n: usize = std::str::from_utf8(n).unwrap().parse().unwrap();
            Response::new((0..n).map(pattern).collect::<Vec<u8>>())
        } else if data == b"fds" {
            let mut fds = req.take_fds().into_iter();
            let (Some(pipe_w), Some(file)) = (fds.next(), fds.next()) else { return Response::empty() };
            std::fs::File::from(pipe_w).write_all(b"hello").unwrap();
            let contents = read_all(file);
            let (r, w) = pipe();
            (&std::fs::File::from(w.try_clone().unwrap())).write_all(b"from server").unwrap();
            Response::new(contents).give_fd(r).give_fd(w).fd(LENT.get().unwrap().as_fd())
        } else if data == b"pid" {
            Response::new(req.caller().unwrap().pid.to_string().into_bytes())
        } else if data == b"panic" {
            panic!("the procedure panics, as asked");
        } else {
            Response::new(&b"default"[..])
        }
    })
    .unwrap();
    let attachment = door.attach(arg(0)).unwrap();
    let info = door.info().unwrap();
    say(&format!("ready: {} {}", info.id, std::process::id()));
    wait_for_end_of_input();
    attachment.detach().unwrap();
}

/// Byte `i` of a `big:` answer.
pub fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}
