//! `ctverify` built inside the tests package, so that its tests can run the real command line as
//! a child process with an environment of its own (endpoints, credentials) through
//! `CARGO_BIN_EXE_ctverify-under-test`. Same code as the `ctverify` binary.

use std::process::ExitCode;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ctverify: cannot start the async runtime: {e}");
            return ExitCode::from(cloudtrail_verify_cli::exit::ERROR);
        }
    };
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    ExitCode::from(runtime.block_on(cloudtrail_verify_cli::run(
        std::env::args_os(),
        &mut out,
        &mut err,
    )))
}
