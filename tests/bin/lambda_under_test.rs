//! The Lambda handler ([`cloudtrail_verify_lambda::handle`]) without the Lambda runtime, as a
//! child process with an environment of its own (endpoints, credentials, the function's
//! `CTVERIFY_*` configuration), as Lambda gives one to the function: the event's JSON on stdin,
//! the metrics lines and then `{"outcome": ...}` or `{"error": ...}` on stdout, the log on
//! stderr. The schedule is replayed at its time: the event's `time` is the invocation's now.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use std::io::{Read, Write};

fn main() -> std::process::ExitCode {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("lambda-under-test: reading the event: {e}");
        return std::process::ExitCode::from(3);
    }
    let event: EventBridgeEvent = match serde_json::from_slice(&input) {
        Ok(event) => event,
        Err(e) => {
            eprintln!("lambda-under-test: not an EventBridge event: {e}");
            return std::process::ExitCode::from(3);
        }
    };
    let config = match cloudtrail_verify_lambda::Config::from_env(|n| std::env::var(n).ok()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("lambda-under-test: {e}");
            return std::process::ExitCode::from(3);
        }
    };
    let now = event.time.unwrap_or_else(chrono::Utc::now);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("lambda-under-test: {e}");
            return std::process::ExitCode::from(3);
        }
    };
    let (mut out, mut log) = (std::io::stdout(), std::io::stderr());
    let result = runtime.block_on(cloudtrail_verify_lambda::handle(
        &event, &config, now, None, &mut out, &mut log,
    ));
    let (line, code) = match result {
        Ok(outcome) => (serde_json::json!({ "outcome": outcome }), 0),
        Err(e) => (serde_json::json!({ "error": e.to_string() }), 1),
    };
    let _ = writeln!(out, "{line}");
    std::process::ExitCode::from(code)
}
