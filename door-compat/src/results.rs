//! Where `door_call`'s results go, and `door_info` for another process's door.

use libc::c_int;

use crate::abi::*;
use crate::client::{self, Results};
use crate::descriptors;
use crate::label;
use crate::sys::{self, Errno, Result};

const DESC_SIZE: usize = std::mem::size_of::<door_desc_t>();

/// Puts results where illumos puts them (door_call(3C), doors-spec §4.3):
/// data at the start of `rbuf`, descriptors after it at a 24-byte boundary,
/// or, when they do not fit, both in a fresh zero-filled mapping that
/// replaces `rbuf`/`rsize`. `data_ptr` and `desc_ptr` change only when there
/// is data or descriptors; the sizes always do.
#[inline(always)] // once per call (PERFORMANCE.md, "Fewer instructions")
pub fn place(arg: &mut door_arg_t, results: &mut Results) -> Result<()> {
    let size = results.size;
    let n = results.fds.len();
    let desc_off = if n > 0 { sys::round_up(size, DESC_SIZE).ok_or(Errno(libc::EOVERFLOW))? } else { size };
    let need = desc_off.checked_add(n * DESC_SIZE).ok_or(Errno(libc::EOVERFLOW))?;
    let fits = need <= arg.rsize && (need == 0 || !arg.rbuf.is_null());
    let (dst, mapping) = if fits {
        (arg.rbuf.cast::<u8>(), None)
    } else {
        let len = sys::round_up(need, sys::page_size()).ok_or(Errno(libc::EOVERFLOW))?;
        let p = sys::map_results(len).map_err(|_| Errno(libc::EOVERFLOW))?;
        (p, Some(len))
    };
    // SAFETY: dst is the caller's rbuf with need <= rsize bytes, or our new
    // mapping of at least need bytes.
    if let Err(e) = unsafe { results.copy_data(dst) } {
        if let Some(len) = mapping {
            // SAFETY: the mapping was made just above and is not yet published.
            unsafe { libc::munmap(dst.cast(), len) };
        }
        return Err(e);
    }
    // (Skipped when there are none: the empty iterators cost 40
    // instructions a call.)
    if n > 0 {
        for (i, f) in results.fds.iter().enumerate() {
            let d = descriptors::describe(f.raw());
            // SAFETY: desc_off + (i+1)*24 <= need, within dst's bytes.
            unsafe { dst.add(desc_off + i * DESC_SIZE).cast::<door_desc_t>().write_unaligned(d) };
        }
        // The descriptors now belong to the caller.
        for f in std::mem::take(&mut results.fds) {
            f.give_to_application();
        }
    }
    arg.data_size = size;
    arg.desc_num = n as uint_t;
    if size > 0 {
        arg.data_ptr = dst.cast();
    }
    if n > 0 {
        // SAFETY: desc_off <= need, within dst's bytes.
        arg.desc_ptr = unsafe { dst.add(desc_off) }.cast();
    }
    if let Some(len) = mapping {
        arg.rbuf = dst.cast();
        arg.rsize = len;
    }
    Ok(())
}

/// `door_info` for a door another process serves: asked of the server while
/// it lives; read from the descriptor's nameplate once it is gone. A live
/// server that cannot be asked (the query needs a socket pair here and a
/// descriptor there, and a descriptor table is full) is described by the
/// nameplate too, with its pid: its door is not dead, though a revocation
/// or a change of `DOOR_IS_UNREF` since its creation does not show then.
///
/// The server's pid is the kernel's word, not the server's: the process
/// that made the descriptor's socket pair (`SO_PEERCRED`), which for every
/// door descriptor is its server. A process serving a door by hand cannot
/// pose as another (a client may check `di_target` to trust a daemon).
pub fn remote_info(d: c_int, uniq: u64) -> door_info_t {
    let live = if sys::peer_gone(d) {
        None
    } else {
        client::query_identity(d).ok().or_else(|| {
            let plate = client::nameplate_or_blank(d, uniq);
            (!sys::peer_gone(d) && plate.pid > 0).then_some(plate)
        })
    };
    let (id, target, gone) = match live {
        Some(id) => (id, label::server_pid(d).unwrap_or(id.pid), false),
        None => (client::nameplate_or_blank(d, uniq), -1, true),
    };
    let mut attributes = id.attributes & DOOR_ATTR_MASK & !DOOR_LOCAL;
    if gone {
        attributes |= DOOR_REVOKED;
    }
    door_info_t {
        di_target: target,
        di_proc: id.proc_,
        di_data: id.cookie,
        di_attributes: attributes,
        di_uniquifier: uniq,
        di_resv: [0; 4],
    }
}
