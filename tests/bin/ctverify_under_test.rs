//! `ctverify` built inside the tests package, so that its tests can run the real command line as
//! a child process with an environment of its own (endpoints, credentials) through
//! `CARGO_BIN_EXE_ctverify-under-test`. The same program as the `ctverify` binary.

fn main() -> std::process::ExitCode {
    cloudtrail_verify_cli::main_entry()
}
