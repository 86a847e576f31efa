//! `ctverify`: see the `cloudtrail_verify_cli` library for everything it does.

/// mimalloc instead of the system allocator: a run reads thousands of small objects on
/// many threads at once (tokio workers and the blocking threads that gunzip and hash), and
/// glibc's malloc spent about a quarter of the CPU on them, partly waiting on its arena locks
/// (`perf` over `bench/s3.sh`). The library leaves the choice to whoever embeds it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cloudtrail_verify_cli::main_entry()
}
