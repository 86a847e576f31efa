//! Verifies a trail straight from S3 with the standard AWS configuration (environment,
//! profiles, SSO, instance roles): `cargo run --example verify_s3 -- TRAIL_ARN FROM TO`.
//! It prints the verdict and exits 0 (valid), 1 (invalid) or 2 (unverifiable).

use cloudtrail_verify::{Report, SetupError, Status, TimeRange, TrailArn, Verifier};

/// The whole embedding: a session, a trail, a range, a report.
pub async fn verify(
    conf: &aws_config::SdkConfig,
    arn: TrailArn,
    range: TimeRange,
) -> Result<Report, SetupError> {
    Verifier::from_s3(conf, arn, range).verify().await
}

#[tokio::main]
async fn main() -> Result<std::process::ExitCode, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [arn, from, to] = args.as_slice() else {
        return Err("usage: verify_s3 TRAIL_ARN FROM TO (RFC 3339 times)".into());
    };
    let range = TimeRange::new(from.parse()?, to.parse()?)?;
    let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let report = verify(&conf, arn.parse()?, range).await?;
    println!("{}: {}", report.trail, report.status);
    Ok(std::process::ExitCode::from(match report.status {
        Status::Valid => 0,
        Status::Invalid => 1,
        Status::Unverifiable => 2,
    }))
}
