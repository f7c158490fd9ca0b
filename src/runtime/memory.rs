//! How the process gives memory back. glibc serves a large allocation (a
//! page of a list, a MeetingBot padded with a tenant's annotations) from a
//! mapping of its own only until one is freed: its threshold then rises to
//! that size, later ones come from the heap, and the heap keeps what they
//! freed. Padded objects would raise the operator's memory for good. A fixed
//! threshold keeps every allocation of 128 KiB or more in its own mapping,
//! returned to the system as soon as it is freed.

/// Allocations of this size or more get a mapping of their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const OWN_MAPPING_FROM: libc::c_int = 128 * 1024;

/// Fixes the allocator's threshold; called once, before the watches start.
pub fn return_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets one of glibc's allocator tunables; it touches no
    // memory of ours, and any value it refuses leaves the default in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, OWN_MAPPING_FROM);
    }
}
