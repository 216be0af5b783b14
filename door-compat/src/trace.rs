//! `LIBDOOR_DEBUG`: a trace of door operations, one line per event.
//!
//! The variable is read once, when the library is loaded:
//!
//! - unset, empty or `0`: off;
//! - `1`: lines go to standard error;
//! - anything else: the name of a file (a relative name is resolved against
//!   the working directory at load time) that each line is appended to; it
//!   is created mode 0600 if missing.
//!
//! It is ignored in set-user-ID and set-group-ID programs (`AT_SECURE`), so
//! nobody can make a privileged program append to a file of their choosing.
//!
//! Off, a trace point costs one relaxed atomic load and a branch: the
//! formatting is behind it, in a function of its own. On, each line is
//! formatted into a stack buffer (no allocation, no lock) and written with
//! one raw `write(2)`; the file is opened with `O_APPEND` for each line and
//! closed again, so lines from every process and thread interleave whole,
//! a forked child keeps tracing, and no descriptor of ours can be closed or
//! reused by the application. That makes a trace point safe in a forked
//! child and in a signal handler, like the rest of libdoor's fast paths.
//!
//! A line is `libdoor[<pid>:<tid>] <seconds>.<micros> <event> <key>=<value>...`;
//! `docs/DIAGNOSTICS.md` lists the events.

use std::ffi::{CString, OsStr};
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::sys;

/// Whether tracing is on: the only thing a trace point reads when it is off.
static ON: AtomicBool = AtomicBool::new(false);

/// Where lines go once `ON` is set.
static SINK: OnceLock<Sink> = OnceLock::new();

#[derive(Debug, PartialEq)]
enum Sink {
    Stderr,
    File(CString),
}

/// Reads `LIBDOOR_DEBUG` (from the library's load-time constructor).
pub fn install() {
    // SAFETY: getauxval only reads the auxiliary vector.
    let secure = unsafe { libc::getauxval(libc::AT_SECURE) } != 0;
    let value = std::env::var_os("LIBDOOR_DEBUG");
    if let Some(sink) = choose(value.as_deref(), secure, || std::env::current_dir().ok()) {
        let _ = SINK.set(sink);
        ON.store(true, Ordering::Release);
    }
}

/// What a `LIBDOOR_DEBUG` value asks for.
fn choose(value: Option<&OsStr>, secure: bool, cwd: impl FnOnce() -> Option<PathBuf>) -> Option<Sink> {
    let value = value?;
    if secure || value.is_empty() || value == "0" {
        return None;
    }
    if value == "1" {
        return Some(Sink::Stderr);
    }
    let path = Path::new(value);
    let path = if path.is_absolute() { path.to_path_buf() } else { cwd()?.join(path) };
    CString::new(path.as_os_str().as_bytes()).ok().map(Sink::File)
}

/// Whether trace points should emit. Inlined into every trace point.
#[inline(always)]
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Longest line; longer ones are cut and end in `...`.
const LINE_MAX: usize = 1024;

/// A line being formatted on the stack.
struct Line {
    buf: [u8; LINE_MAX],
    len: usize,
    cut: bool,
}

impl std::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        // Room is kept for the ending ("...\n").
        let room = LINE_MAX - 4 - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        self.cut |= n < s.len();
        Ok(())
    }
}

impl Line {
    fn new() -> Line {
        Line { buf: [0; LINE_MAX], len: 0, cut: false }
    }

    fn finish(&mut self) -> &[u8] {
        let end: &[u8] = if self.cut { b"...\n" } else { b"\n" };
        self.buf[self.len..self.len + end.len()].copy_from_slice(end);
        &self.buf[..self.len + end.len()]
    }
}

/// Formats one event line: prefix, time, then the caller's text.
fn format_line(line: &mut Line, pid: libc::pid_t, tid: libc::c_long, now: libc::timespec, text: std::fmt::Arguments) {
    let _ = write!(line, "libdoor[{pid}:{tid}] {}.{:06} ", now.tv_sec, now.tv_nsec / 1000);
    let _ = line.write_fmt(text);
}

/// Writes one line for `text`. Kept out of line, so a trace point that is
/// off costs only the test of `enabled()`.
#[cold]
#[inline(never)]
pub fn emit(text: std::fmt::Arguments) {
    let Some(sink) = SINK.get() else { return };
    let saved = sys::Errno::last();
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: now is writable; clock_gettime is async-signal-safe.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    // SAFETY: gettid takes no arguments and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    let mut line = Line::new();
    format_line(&mut line, sys::getpid(), tid, now, text);
    let bytes = line.finish();
    match sink {
        Sink::Stderr => {
            let _ = sys::write(libc::STDERR_FILENO, bytes);
        }
        Sink::File(path) => {
            let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_NOCTTY;
            if let Ok(fd) = sys::openat(libc::AT_FDCWD, path, flags, 0o600) {
                let _ = sys::write(fd.raw(), bytes);
            }
        }
    }
    // Tracing never changes what the application sees in errno.
    sys::set_errno(saved);
}

/// An errno as a trace shows it: `0` for success, the name of the errors
/// the doors functions give, the number of any other.
pub struct ErrnoName(pub libc::c_int);

impl std::fmt::Display for ErrnoName {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let name = match self.0 {
            0 => "0",
            libc::EPERM => "EPERM",
            libc::ENOENT => "ENOENT",
            libc::EINTR => "EINTR",
            libc::EIO => "EIO",
            libc::E2BIG => "E2BIG",
            libc::EBADF => "EBADF",
            libc::EAGAIN => "EAGAIN",
            libc::EACCES => "EACCES",
            libc::EFAULT => "EFAULT",
            libc::EBUSY => "EBUSY",
            libc::EINVAL => "EINVAL",
            libc::ENFILE => "ENFILE",
            libc::EMFILE => "EMFILE",
            libc::EPROTO => "EPROTO",
            libc::EOVERFLOW => "EOVERFLOW",
            libc::ENOTSUP => "ENOTSUP",
            libc::ENOBUFS => "ENOBUFS",
            n => return write!(f, "{n}"),
        };
        f.write_str(name)
    }
}

/// Emits a trace line if tracing is on: `trace!("event key={} ...", value)`.
/// The arguments are evaluated only when it is.
macro_rules! trace {
    ($($arg:tt)*) => {
        if $crate::trace::enabled() {
            $crate::trace::emit(format_args!($($arg)*));
        }
    };
}
pub(crate) use trace;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_chooses_the_sink() {
        let cwd = || Some(PathBuf::from("/work"));
        let c = |v: &str| choose(Some(OsStr::new(v)), false, cwd);
        assert_eq!(choose(None, false, cwd), None);
        assert_eq!(c(""), None);
        assert_eq!(c("0"), None);
        assert_eq!(c("1"), Some(Sink::Stderr));
        assert_eq!(c("/tmp/t.log"), Some(Sink::File(CString::new("/tmp/t.log").unwrap())));
        assert_eq!(c("t.log"), Some(Sink::File(CString::new("/work/t.log").unwrap())));
        // Never in a set-user-ID program.
        assert_eq!(choose(Some(OsStr::new("/tmp/t.log")), true, cwd), None);
        assert_eq!(choose(Some(OsStr::new("1")), true, cwd), None);
    }

    #[test]
    fn lines_are_formatted_and_cut() {
        let now = libc::timespec { tv_sec: 12, tv_nsec: 3_400_000 };
        let mut line = Line::new();
        format_line(&mut line, 7, 8, now, format_args!("call door={:016x} size={}", 0xabcu64, 5));
        assert_eq!(line.finish(), b"libdoor[7:8] 12.003400 call door=0000000000000abc size=5\n");
        let long = "x".repeat(2 * LINE_MAX);
        let mut line = Line::new();
        format_line(&mut line, 7, 8, now, format_args!("open path={long}"));
        let bytes = line.finish();
        assert_eq!(bytes.len(), LINE_MAX);
        assert!(bytes.ends_with(b"xxx...\n"));
        assert_eq!(format!("{} {} {}", ErrnoName(0), ErrnoName(libc::EBADF), ErrnoName(1000)), "0 EBADF 1000");
    }
}
