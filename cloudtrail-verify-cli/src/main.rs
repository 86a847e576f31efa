//! `ctverify`: see the `cloudtrail_verify_cli` library for everything it does.

fn main() -> std::process::ExitCode {
    cloudtrail_verify_cli::main_entry()
}
