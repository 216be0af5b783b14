//! `fattach` and `fdetach`: doors at paths.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use door::rust as imp;

use crate::err;

fn c_path(path: &Path) -> io::Result<CString> {
    Ok(CString::new(path.as_os_str().as_bytes())?)
}

/// A door attached at a path ([`Door::attach`](crate::Door::attach)).
/// Dropping it detaches the door (`fdetach`), putting the covered file
/// back; descriptors already opened through the path keep working. A
/// forked child's copy detaches nothing.
#[derive(Debug)]
pub struct Attachment {
    path: PathBuf,
    pid: libc::pid_t,
}

impl Attachment {
    pub(crate) fn new(fd: RawFd, path: &Path) -> io::Result<Attachment> {
        imp::fattach(fd, &c_path(path)?).map_err(err)?;
        // SAFETY: getpid cannot fail.
        Ok(Attachment { path: path.to_path_buf(), pid: unsafe { libc::getpid() } })
    }

    /// The path the door is attached at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Detaches now, reporting failure (dropping detaches silently).
    pub fn detach(self) -> io::Result<()> {
        let path = std::mem::take(&mut std::mem::ManuallyDrop::new(self).path);
        detach(path)
    }

    /// Leaves the door attached for good (until someone calls
    /// [`detach`]); returns the path.
    pub fn keep(self) -> PathBuf {
        std::mem::take(&mut std::mem::ManuallyDrop::new(self).path)
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // SAFETY: getpid cannot fail.
        if unsafe { libc::getpid() } == self.pid {
            let _ = detach(&self.path);
        }
    }
}

/// Detaches whatever door is attached at `path` (`fdetach`): `EINVAL` when
/// none is. Also clears the attachment a dead server left behind.
pub fn detach(path: impl AsRef<Path>) -> io::Result<()> {
    imp::fdetach(&c_path(path.as_ref())?).map_err(err)
}
