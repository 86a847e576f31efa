//! `ctverify-lambda`: the scheduled audit as a Lambda function from a container image. It
//! speaks the Lambda runtime API (`lambda_runtime`) and hands every event to
//! [`cloudtrail_verify_lambda::handle`]; see that crate for what an invocation does.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};

fn main() -> std::process::ExitCode {
    // Read before the first event: a function configured wrongly fails at its start, in its
    // log, rather than once per schedule.
    let config = match cloudtrail_verify_lambda::Config::from_env(|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("ctverify-lambda: {e}");
            return std::process::ExitCode::from(cloudtrail_verify_cli::exit::ERROR);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ctverify-lambda: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(cloudtrail_verify_cli::exit::ERROR);
        }
    };
    let config = &config;
    let handler = service_fn(move |event: LambdaEvent<EventBridgeEvent>| async move {
        let deadline = event.context.deadline();
        let (mut out, mut log) = (std::io::stdout(), std::io::stderr());
        cloudtrail_verify_lambda::handle(
            &event.payload,
            config,
            chrono::Utc::now(),
            Some(deadline),
            &mut out,
            &mut log,
        )
        .await
        .map_err(Error::from)
    });
    match runtime.block_on(lambda_runtime::run(handler)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ctverify-lambda: the Lambda runtime API failed: {e}");
            std::process::ExitCode::from(cloudtrail_verify_cli::exit::ERROR)
        }
    }
}
