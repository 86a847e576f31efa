//! Verifies a local copy of a trail's bucket (`aws s3 sync s3://BUCKET DIR/BUCKET`) with
//! CloudTrail's public keys saved from `aws cloudtrail list-public-keys`. With no arguments it
//! verifies the sample trail bundled in the repository:
//! `cargo run --example verify_local [-- DIR KEYS.json TRAIL_ARN FROM TO]`.

use cloudtrail_verify::{KeySet, Report, TimeRange, Verifier};

/// The whole embedding: keys, a copy, a trail, a range, a report.
pub async fn verify(
    dir: &str,
    keys_file: &str,
    arn: &str,
    from: &str,
    to: &str,
) -> Result<Report, Box<dyn std::error::Error>> {
    let keys = KeySet::from_list_public_keys_json(&std::fs::read(keys_file)?)?;
    let range = TimeRange::new(from.parse()?, to.parse()?)?;
    Ok(Verifier::from_local(dir, keys, arn.parse()?, range)
        .verify()
        .await?)
}

/// The sample trail of `fixtures/sample`, six valid hours.
pub const SAMPLE: [&str; 5] = [
    concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/sample/trail"),
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/sample/public-keys.json"
    ),
    "arn:aws:cloudtrail:us-east-1:111122223333:trail/sample-trail",
    "2026-01-01T00:00:00Z",
    "2026-01-01T06:00:00Z",
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = match args.len() {
        0 => SAMPLE.to_vec(),
        5 => args.iter().map(String::as_str).collect(),
        _ => return Err("usage: verify_local [DIR KEYS.json TRAIL_ARN FROM TO]".into()),
    };
    let report = verify(args[0], args[1], args[2], args[3], args[4]).await?;
    println!("{}: {}", report.trail, report.status);
    for chain in &report.chains {
        let s = chain.summary();
        println!(
            "  {}: {} digest files valid of {}, {} log files valid of {}",
            chain.chain,
            s.digests.valid,
            s.digests.total(),
            s.logs.valid,
            s.logs.total()
        );
    }
    Ok(())
}
