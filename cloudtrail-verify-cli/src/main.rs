//! `ctverify`: see the `cloudtrail_verify_cli` library for everything it does.

/// mimalloc instead of the system allocator: a run reads thousands of small objects on
/// many threads at once (tokio workers and the blocking threads that gunzip and hash), and
/// glibc's malloc spent about a quarter of the CPU on them, partly waiting on its arena locks
/// (`perf` over `bench/s3.sh`). The library leaves the choice to whoever embeds it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    /// mimalloc's `void mi_option_set(mi_option_t option, long value)` (`mimalloc.h`), in the
    /// library `mimalloc` links.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in `mimalloc.h`'s `mi_option_t` (the vendored mimalloc of
/// libmimalloc-sys 0.1.49, pinned by Cargo.lock; the same index in its v2 and v3).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// How long mimalloc keeps freed memory before returning it to the system. Its default (1 s in
/// mimalloc v3) let a run through hostile digests just under the 16 MiB cap, read one at a
/// time, hold the freed buffers of several at once: 236 MB peak for 160 of them
/// (`bench/hostile.sh`), 102 MB with 10 ms (mimalloc v2's default), at no measurable CPU cost
/// on an ordinary offline run.
const PURGE_DELAY_MS: std::ffi::c_long = 10;

fn main() -> std::process::ExitCode {
    // SAFETY: mi_option_set only stores the value in mimalloc's option table (an atomic) and
    // may be called at any time; the index and signature are those of the linked mimalloc.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    cloudtrail_verify_cli::main_entry()
}
