//! Bulk buffers: for data too large for a channel's region (up to
//! `wire::BULK_MAX`), each channel keeps one buffer per direction — the
//! client's for arguments, the server's for results. The side that writes
//! makes it (a memfd of a power-of-two size, at least 1 MiB, sealed against
//! shrinking and growing), sends it once with the message that first needs
//! it, and reuses it after, so large calls make no memfd each time. The
//! reader checks the seals and the size before mapping it, so reading can
//! never fault, and copies out what it needs.

use crate::sys::{self, Errno, Fd, Mapping, Result};
use crate::wire;

/// A mapped bulk buffer and its size.
pub type Bulk = Option<(Mapping, usize)>;

/// Makes `bulk` at least `len` bytes; returns the memfd when it is new, to
/// go with the message.
pub fn ensure(bulk: &mut Bulk, len: usize) -> Result<Option<Fd>> {
    if bulk.as_ref().is_some_and(|(_, cap)| *cap >= len) {
        return Ok(None);
    }
    let cap = len.next_power_of_two().max(1 << 20);
    let fd = sys::memfd(c"libdoor-bulk", cap)?;
    sys::add_seals(&fd, libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL)?;
    *bulk = Some((Mapping::shared(&fd, cap)?, cap));
    Ok(Some(fd))
}

/// Puts `bytes` where the peer will read them: in `bulk` (made or grown as
/// needed) up to `BULK_MAX`; beyond that, or when no bulk buffer can be
/// made (our address space or descriptor table is full), in a memfd of
/// their own, which needs no mapping. Returns the message's data flags and
/// the descriptor to send with it, if any.
pub fn stage(bulk: &mut Bulk, bytes: &[u8]) -> Result<(u32, Option<Fd>)> {
    if bytes.len() <= wire::BULK_MAX
        && let Ok(new) = ensure(bulk, bytes.len())
    {
        copy_in(bulk, bytes)?;
        let flags = if new.is_some() { wire::DATA_BULK | wire::NEW_BULK } else { wire::DATA_BULK };
        return Ok((flags, new));
    }
    Ok((wire::DATA_MEMFD, Some(crate::descriptors::data_memfd(bytes)?)))
}

/// Takes the peer's new bulk buffer, replacing the old one in `bulk`.
/// `EPROTO` for a buffer that breaks the rules; `mmap`'s error (`ENOMEM`)
/// when it is sound but our address space has no room for it, and then
/// `bulk` is emptied.
pub fn adopt(bulk: &mut Bulk, fd: &Fd) -> Result<()> {
    let len = sys::sealed_len(fd, libc::F_SEAL_SHRINK | libc::F_SEAL_GROW)?;
    if len == 0 || len > wire::BULK_MAX {
        return Err(Errno(libc::EPROTO));
    }
    *bulk = None;
    *bulk = Some((Mapping::shared(fd, len)?, len));
    Ok(())
}

/// Copies `len` bytes out of `bulk` to `dst`.
///
/// # Safety
/// `dst` must be writable for `len` bytes.
pub unsafe fn copy_out(bulk: &Bulk, dst: *mut u8, len: usize) -> Result<()> {
    let (map, cap) = bulk.as_ref().ok_or(Errno(libc::EPROTO))?;
    if len > *cap {
        return Err(Errno(libc::EPROTO));
    }
    // SAFETY: len <= the mapping's length, which is sealed against
    // shrinking; dst is writable per the caller. The peer may write the
    // source concurrently: the copy is what the reader uses.
    unsafe { std::ptr::copy_nonoverlapping(map.ptr(), dst, len) };
    Ok(())
}

/// Copies `bytes` into `bulk` (which `ensure` made large enough).
pub fn copy_in(bulk: &Bulk, bytes: &[u8]) -> Result<()> {
    let (map, cap) = bulk.as_ref().ok_or(Errno(libc::EPROTO))?;
    if bytes.len() > *cap {
        return Err(Errno(libc::EPROTO));
    }
    // SAFETY: the mapping holds cap >= len bytes.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), map.ptr(), bytes.len()) };
    Ok(())
}
