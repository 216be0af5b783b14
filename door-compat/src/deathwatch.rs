//! Waking a server's waiting clients when the server dies, with the
//! kernel's robust futex list.
//!
//! A client sleeping on its channel's `rep_word` for a reply cannot see the
//! server's process end. It could wake every so often to ask the socket,
//! but a futex wait with a timeout arms a kernel timer at every sleep, and
//! on one CPU that costs a null call about 7% (docs/PERFORMANCE.md). So the
//! server has the kernel do it: when a thread exits (or execs), the kernel
//! walks the list of futex words the thread registered with
//! `set_robust_list`; every word whose low 30 bits hold the thread's id
//! gets `FUTEX_OWNER_DIED` set, and, if `FUTEX_WAITERS` was set, its
//! sleeper woken. The server's control thread (server.rs), which lives as
//! long as the process, registers such a list, and every channel's
//! `rep_word` holds that thread's id in its low bits (`wire::REP_*`): a
//! client arms the word (`FUTEX_WAITERS`) before it sleeps, the server's
//! reply disarms it, and the server's death, whenever it comes, marks it.
//!
//! The list's nodes must be at one fixed distance (`futex_offset`) from
//! their words, and must be the server's own memory: a node in the shared
//! region could be rewritten by its client, who could then stop the
//! kernel's walk before other clients' words. So a watched region is mapped
//! right after a private page that holds its node (a `Slot`). Slots are
//! never unmapped, only reused: the dying control thread may walk the list
//! while another thread is unlinking a node, and must not find it gone.
//!
//! The control thread's list is its own: glibc registers one per thread
//! for robust pthread mutexes, which that thread never takes, so replacing
//! it loses nothing. A forked child starts with none registered (robust
//! lists are per thread) and registers afresh when its own control thread
//! starts. At most `MAX_WATCHED` channels are watched (the kernel walks at
//! most 2,048 entries); others, and every channel when registration fails,
//! say 0 in `rep_word`'s id bits, and their clients' waits keep a timeout.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicIsize, AtomicPtr, AtomicU32, Ordering};

use crate::sys::{self, Errno, Fd, Result};
use crate::wire;

/// The kernel's `struct robust_list`: one node.
#[repr(C)]
struct Node {
    next: AtomicPtr<Node>,
}

/// The kernel's `struct robust_list_head`.
#[repr(C)]
struct Head {
    list: Node,
    futex_offset: AtomicIsize,
    list_op_pending: AtomicPtr<Node>,
}

/// Read by the kernel only when the control thread exits; changed under
/// `LIST`, each change a single pointer store, so that the list is whole
/// whenever the walk may start.
static HEAD: Head = Head {
    list: Node { next: AtomicPtr::new(std::ptr::null_mut()) },
    futex_offset: AtomicIsize::new(0),
    list_op_pending: AtomicPtr::new(std::ptr::null_mut()),
};

/// The control thread's id (the `rep_word` id bits), 0 when none is
/// registered; and the process that registered it.
static WATCHER: AtomicU32 = AtomicU32::new(0);
static WATCHER_PID: AtomicI32 = AtomicI32::new(0);

/// At most this many nodes: a slot reused while the kernel walks may be
/// visited twice, and the walk stops after 2,048 entries.
const MAX_WATCHED: usize = 1000;

pub(crate) struct Slots {
    /// Nodes linked into the list.
    linked: usize,
    /// Reserved slots whose region is unmapped, for the next channel.
    free: Vec<usize>,
}

static LIST: Mutex<Slots> = Mutex::new(Slots { linked: 0, free: Vec::new() });

fn head_node() -> *mut Node {
    (&raw const HEAD.list).cast_mut()
}

/// The page before the region, where its node lives.
fn page() -> usize {
    sys::page_size()
}

/// Registers the calling thread's robust list (the control thread's, at
/// its start). In a forked child, the parent's list and slots, copied, are
/// forgotten first.
pub fn register() {
    let me = sys::getpid();
    {
        let mut slots = LIST.lock().unwrap_or_else(|p| p.into_inner());
        if WATCHER_PID.load(Ordering::SeqCst) != me {
            // The parent's slots, if any, are this child's private copies:
            // nothing links them here. Their address space stays reserved.
            slots.linked = 0;
            slots.free.clear();
        }
        HEAD.list.next.store(head_node(), Ordering::SeqCst);
    }
    // The futex word sits `futex_offset` bytes after its node.
    let offset = (page() + wire::REP_WORD_OFF) as isize;
    HEAD.futex_offset.store(offset, Ordering::SeqCst);
    // SAFETY: HEAD is a static robust_list_head of the size given; it
    // lives as long as the process.
    let r = unsafe {
        libc::syscall(libc::SYS_set_robust_list, &raw const HEAD, std::mem::size_of::<Head>())
    };
    if r == 0 {
        // SAFETY: gettid takes no arguments.
        let tid = unsafe { libc::gettid() } as u32;
        WATCHER_PID.store(me, Ordering::SeqCst);
        WATCHER.store(tid & wire::REP_ID_MASK, Ordering::SeqCst);
    }
}

/// The id bits a new channel's `rep_word` starts with: the watcher's, or 0.
fn watcher() -> u32 {
    if WATCHER_PID.load(Ordering::SeqCst) == sys::getpid() { WATCHER.load(Ordering::SeqCst) } else { 0 }
}

/// A region mapped after a private page holding its robust-list node.
pub struct Slot {
    base: usize,
    /// The id bits its `rep_word` was given.
    id: u32,
    pid: libc::pid_t,
}

impl Slot {
    /// Maps the `wire::REGION_LEN`-byte region `fd` in a slot and links its
    /// node, or None when the region cannot be watched (no watcher, or
    /// `MAX_WATCHED` reached): the caller then maps it plainly.
    pub fn map(fd: &Fd) -> Result<Option<Slot>> {
        let id = watcher();
        if id == 0 {
            return Ok(None);
        }
        let mut slots = LIST.lock().unwrap_or_else(|p| p.into_inner());
        if slots.linked >= MAX_WATCHED {
            return Ok(None);
        }
        let base = match slots.free.pop() {
            Some(base) => base,
            None => reserve()?,
        };
        // SAFETY: [base + page, + REGION_LEN) is this slot's own reserved
        // range (PROT_NONE), so MAP_FIXED replaces nothing else.
        let p = unsafe {
            libc::mmap(
                (base + page()) as *mut libc::c_void,
                wire::REGION_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_FIXED,
                fd.raw(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            let e = Errno::last();
            slots.free.push(base);
            return Err(e);
        }
        let node = base as *mut Node;
        // SAFETY: the node is the start of the slot's private page, ours
        // alone; linking is one store of the head's pointer, after the
        // node points at the rest of the list.
        unsafe { (*node).next.store(HEAD.list.next.load(Ordering::SeqCst), Ordering::SeqCst) };
        HEAD.list.next.store(node, Ordering::SeqCst);
        slots.linked += 1;
        Ok(Some(Slot { base, id, pid: sys::getpid() }))
    }

    /// The mapped region.
    pub fn region(&self) -> *mut u8 {
        (self.base + page()) as *mut u8
    }

    /// The id bits the region's `rep_word` must hold.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Whether this process mapped it (not a forked child's copy).
    pub fn is_ours(&self) -> bool {
        self.pid == sys::getpid()
    }
}

/// A new slot's address range: a private page, then room for a region.
fn reserve() -> Result<usize> {
    let len = page() + wire::REGION_LEN;
    // SAFETY: a fresh mapping chosen by the kernel aliases nothing of ours.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Errno::last());
    }
    // SAFETY: the first page of the range just reserved.
    if unsafe { libc::mprotect(p, page(), libc::PROT_READ | libc::PROT_WRITE) } != 0 {
        let e = Errno::last();
        // SAFETY: the range just mapped, ours.
        unsafe { libc::munmap(p, len) };
        return Err(e);
    }
    Ok(p as usize)
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.is_ours() {
            // A forked child's copy: no list of this process holds it, and
            // the parent's lock may be held forever here. Just unmapped.
            // SAFETY: the slot's whole range, which this copy owns.
            unsafe { libc::munmap(self.base as *mut libc::c_void, page() + wire::REGION_LEN) };
            return;
        }
        let mut slots = LIST.lock().unwrap_or_else(|p| p.into_inner());
        let node = self.base as *mut Node;
        let mut prev = head_node();
        // SAFETY: every node reachable from HEAD is a linked slot's page,
        // mapped for good; only this process's threads change the list,
        // under LIST.
        unsafe {
            while (*prev).next.load(Ordering::SeqCst) != node {
                let next = (*prev).next.load(Ordering::SeqCst);
                if next == head_node() {
                    break;
                }
                prev = next;
            }
            if (*prev).next.load(Ordering::SeqCst) == node {
                (*prev).next.store((*node).next.load(Ordering::SeqCst), Ordering::SeqCst);
                slots.linked -= 1;
            }
        }
        // The region's pages go; the range stays reserved, with the node.
        // SAFETY: MAP_FIXED over this slot's own region range.
        let p = unsafe {
            libc::mmap(
                self.region().cast(),
                wire::REGION_LEN,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            slots.free.push(self.base);
        }
    }
}

/// Holds the list's lock across `fork` (server.rs's atfork handlers), so
/// that a child never inherits it held by a thread it does not have.
pub fn lock_for_fork() -> std::sync::MutexGuard<'static, Slots> {
    LIST.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_matches_the_kernels_layout() {
        // struct robust_list_head: next, futex_offset, list_op_pending.
        assert_eq!(std::mem::size_of::<Head>(), 24);
        assert_eq!(std::mem::offset_of!(Head, futex_offset), 8);
        assert_eq!(std::mem::offset_of!(Head, list_op_pending), 16);
    }
}
