//! The broker's global allocator: the system allocator, except that very large
//! requests are served from reserved-but-uncommitted address space.
//!
//! Why: decoders size vectors from counts read off the wire before reading the
//! elements (`Vec::with_capacity(count)`). A 30-byte Produce request claiming
//! 2³¹ topics asks for ~200 GB; the system allocator refuses an allocation that
//! large, and an allocation failure aborts the whole process — no panic, no
//! `catch_unwind`, every connection gone. Here such a request becomes an
//! anonymous `MAP_NORESERVE` mapping: it costs address space only, the decoder
//! then runs out of input after a few bytes and returns an error, and the
//! mapping is unmapped. Memory is committed only for pages actually written,
//! so genuine large buffers behave as before.
//!
//! Limits: with `vm.overcommit_memory=2` (strict accounting) the kernel refuses
//! such mappings too; run brokers with the default heuristic mode (0) or 1.

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations of this size or more are mapped with `MAP_NORESERVE`.
pub const RESERVE_THRESHOLD: usize = 1 << 30;

/// System allocator with a no-reserve path for huge allocations.
pub struct GuardedAlloc;

// SAFETY: every method forwards to `System` or to `mmap`/`munmap` with the
// layout's size; a block is returned to the path that produced it, decided by
// the same size test on its layout.
unsafe impl GlobalAlloc for GuardedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= RESERVE_THRESHOLD {
            map_reserved(layout)
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= RESERVE_THRESHOLD {
            // Anonymous mappings are zero-filled by the kernel.
            map_reserved(layout)
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.size() >= RESERVE_THRESHOLD {
            // SAFETY: `ptr` came from `map_reserved` with this layout's size.
            unsafe { unmap(ptr, layout.size()) }
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old_huge = layout.size() >= RESERVE_THRESHOLD;
        let new_huge = new_size >= RESERVE_THRESHOLD;
        if !old_huge && !new_huge {
            // SAFETY: forwarded with the caller's guarantees.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the caller guarantees `new_size`, rounded up to the alignment,
        // does not overflow `isize`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `new_layout` has a non-zero size (it is at least the old
        // size or at least the threshold).
        let new_ptr = unsafe { self.alloc(new_layout) };
        if !new_ptr.is_null() {
            // SAFETY: both blocks are valid for the smaller of the two sizes and
            // do not overlap (the new one was just allocated).
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new_ptr
    }
}

fn map_reserved(layout: Layout) -> *mut u8 {
    if layout.align() > page_size() {
        return std::ptr::null_mut();
    }
    // SAFETY: an anonymous private mapping touches no existing memory.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            layout.size(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        ptr.cast()
    }
}

/// # Safety
/// `ptr` and `size` must describe a mapping made by [`map_reserved`].
unsafe fn unmap(ptr: *mut u8, size: usize) {
    // SAFETY: guaranteed by the caller. munmap cannot fail for a mapping we
    // made; there is nothing useful to do if it did.
    unsafe { libc::munmap(ptr.cast(), size) };
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::RESERVE_THRESHOLD;

    #[test]
    fn a_capacity_claimed_by_a_hostile_count_costs_only_address_space() {
        // 2³¹ elements of 96 bytes: what a Produce claiming i32::MAX topics asks for.
        let claimed: Vec<[u8; 96]> = Vec::with_capacity(i32::MAX as usize);
        assert!(claimed.capacity() >= i32::MAX as usize);
    }

    #[test]
    fn huge_blocks_are_usable_and_grow_and_shrink_across_the_threshold() {
        let mut block: Vec<u8> = Vec::with_capacity(RESERVE_THRESHOLD - 8);
        block.extend_from_slice(b"kept across realloc");
        block.reserve(RESERVE_THRESHOLD); // crosses into the reserved path
        assert_eq!(&block[..], b"kept across realloc");
        block.shrink_to_fit(); // and back to the system allocator
        assert_eq!(&block[..], b"kept across realloc");
        let zeroed = vec![0u8; RESERVE_THRESHOLD];
        assert!(zeroed.iter().step_by(1 << 20).all(|byte| *byte == 0));
    }
}
