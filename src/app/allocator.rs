//! The allocator's settings (mimalloc is the binary's global allocator, `src/main.rs`).

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_e` (`libmimalloc-sys` does not name it;
/// the number is the enum's, which mimalloc keeps stable by deprecating options, never removing
/// them; the test below checks it is the option whose default is 1,000 ms).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc returns freed memory to the system at once instead of a second later (its
/// `purge_delay` option: 0 instead of mimalloc 3's 1,000 ms), unless `MIMALLOC_PURGE_DELAY` is
/// set. Under a miss-heavy load the delay let freed pages pile up: resident memory 80–106 MB at
/// the peak and 86–103 MB a minute after, against 76–82 and 82–83 MB without it, with no
/// measurable cost to hits or misses (BENCHMARKS.md, "Memory under misses"). Call before other
/// threads start.
pub fn free_memory_back_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's numeric options; no other thread runs yet.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

/// mimalloc's purge delay now, in milliseconds.
pub fn purge_delay_ms() -> i64 {
    // SAFETY: reads one of mimalloc's options.
    unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_option_set_is_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // mimalloc 3's default for `purge_delay` (`src/options.c`; no neighbour's is 1,000).
        assert_eq!(super::purge_delay_ms(), 1000);
        super::free_memory_back_at_once();
        assert_eq!(super::purge_delay_ms(), 0);
    }
}
