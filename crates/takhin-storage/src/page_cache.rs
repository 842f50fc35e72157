//! What the page cache holds of a file, through `cachestat(2)` (Linux 6.5+).
//!
//! A fetch sends cached data with `sendfile` from the connection's task; data that is not
//! cached is read on the blocking pool instead, so no async worker ever waits for the disk.

use std::fs::File;

/// Whether every page of `len` bytes at `position` of `file` is cached. `None` when the kernel
/// cannot say: no `cachestat` (older kernels, other systems) or an error.
#[cfg(target_os = "linux")]
pub(crate) fn is_cached(file: &File, position: u64, len: usize) -> Option<bool> {
    use std::os::fd::AsRawFd;

    /// `__NR_cachestat`: the same on every Linux architecture (added to the generic table in 6.5).
    const SYS_CACHESTAT: libc::c_long = 451;

    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }
    #[repr(C)]
    #[derive(Default)]
    struct Stat {
        nr_cache: u64,
        nr_dirty: u64,
        nr_writeback: u64,
        nr_evicted: u64,
        nr_recently_evicted: u64,
    }

    if len == 0 {
        return Some(true);
    }
    let range = Range {
        off: position,
        len: len as u64,
    };
    let mut stat = Stat::default();
    // SAFETY: cachestat reads `range` and writes `stat`, both live, properly laid out
    // (`struct cachestat_range`, `struct cachestat` of the kernel ABI) and exclusively borrowed
    // for the call; the fd is open for as long as `file` is borrowed.
    #[allow(unsafe_code)]
    let result = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &range as *const Range,
            &mut stat as *mut Stat,
            0u32,
        )
    };
    if result != 0 {
        return None;
    }
    // The kernel counts the range's pages as we do here, in base pages (a cached huge folio
    // counts for the pages of it inside the range).
    let page_bytes = rustix::param::page_size() as u64;
    let pages = (position + len as u64).div_ceil(page_bytes) - position / page_bytes;
    Some(stat.nr_cache >= pages)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn is_cached(_file: &File, _position: u64, _len: usize) -> Option<bool> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;

    use super::*;

    #[test]
    fn cached_until_the_kernel_drops_the_pages() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![7u8; 8 << 20]).unwrap();
        file.sync_all().unwrap();
        let Some(cached) = is_cached(&file, 1000, 100_000) else {
            // No cachestat on this kernel: nothing to check.
            return;
        };
        assert!(cached, "just written");
        assert_eq!(is_cached(&file, 0, 0), Some(true));
        // Clean pages are dropped on request; reading brings back those it touches.
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        assert_eq!(is_cached(&file, 1000, 100_000), Some(false));
        let mut buf = vec![0u8; 100_000];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut buf, 1000).unwrap();
        assert_eq!(is_cached(&file, 1000, 100_000), Some(true));
        assert_eq!(is_cached(&file, 6 << 20, 1 << 20), Some(false), "not read");
    }
}
