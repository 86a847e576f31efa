//! `ctverify-s3-server`: the tests' in-process S3 server (and optionally the CloudTrail stub) as
//! a process, so that a benchmark can point the AWS CLI (`aws cloudtrail validate-logs`) and
//! ctverify at the same local data without touching AWS.
//!
//! Prints `listening http://127.0.0.1:PORT` (and `cloudtrail http://127.0.0.1:PORT` when a stub
//! is asked for) on stdout, then serves until SIGTERM or SIGINT, when it prints the request
//! counts on stderr and exits 0.
//! `GET http://127.0.0.1:PORT/_ctverify/requests` answers the request counts as JSON.
//! With `--tls-ca FILE` it also serves both through the tests' TLS front, as real S3 speaks
//! HTTPS, and prints `tls https://localhost:PORT` (the CA to trust is written to FILE), so that
//! a benchmark includes TLS's per-request cost.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ctverify_tests::cloudtrail_stub::{
    CloudTrailStub, StubConfig, StubEvent, StubKey, StubTrail, count_by_operation,
};
use ctverify_tests::s3_server::{S3Server, S3ServerOptions};
use ctverify_tests::tls_front::{TestCa, TlsFront};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Serve local trees as S3 (SigV4, access key `test`, secret `test`, path-style) on
/// 127.0.0.1, optionally with a CloudTrail stub answering ListPublicKeys and DescribeTrails.
#[derive(Debug, Parser)]
#[command(name = "ctverify-s3-server")]
struct Args {
    /// Import DIR/BUCKET/KEY (KEY.metadata.json sidecars become user metadata). Repeatable.
    #[arg(long = "load", value_name = "DIR")]
    load: Vec<PathBuf>,
    /// S3 port (0: a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Delay added to every S3 request, standing in for S3's round trip.
    #[arg(long = "delay-ms", default_value_t = 0)]
    delay_ms: u64,
    /// A lifecycle rule expiring the bucket's objects after DAYS (GetBucketLifecycleConfiguration
    /// reports it; nothing is deleted). Repeatable.
    #[arg(long = "expire-after-days", value_name = "BUCKET=DAYS")]
    expire_after_days: Vec<String>,
    /// A bucket's region, reported by GetBucketLocation (default us-east-1). Repeatable.
    #[arg(long = "bucket-region", value_name = "BUCKET=REGION")]
    bucket_region: Vec<String>,
    /// Answer the first N GETs of KEY with 503 SlowDown. Repeatable.
    #[arg(long, value_name = "KEY=N")]
    throttle: Vec<String>,
    /// Answer GET and HEAD of KEY with 403 AccessDenied. Repeatable.
    #[arg(long, value_name = "KEY")]
    deny: Vec<String>,
    /// Start the CloudTrail stub with the keys of a `list-public-keys` JSON file, for every
    /// region, or for REGION only with `REGION=FILE`. Repeatable.
    #[arg(long = "stub-keys", value_name = "[REGION=]KEYS.json")]
    stub_keys: Vec<String>,
    /// Start the CloudTrail stub knowing a trail. Repeatable.
    #[arg(long = "stub-trail", value_name = "ARN,BUCKET[,PREFIX]")]
    stub_trail: Vec<String>,
    /// Start the CloudTrail stub knowing the trail of a ctverify-fixtures manifest.json
    /// (trailArn, bucket, prefix, homeRegion). Repeatable.
    #[arg(long = "stub-manifest", value_name = "MANIFEST.json")]
    stub_manifest: Vec<PathBuf>,
    /// Answer LookupEvents from these events (a JSON array, see
    /// `StubEvent::from_json_list`).
    #[arg(long = "stub-events", value_name = "EVENTS.json")]
    stub_events: Option<PathBuf>,
    /// CloudTrail stub port (0: a free one).
    #[arg(long = "stub-port", default_value_t = 0)]
    stub_port: u16,
    /// Keys per ListPublicKeys page.
    #[arg(long = "stub-page-size", default_value_t = 1)]
    stub_page_size: usize,
    /// Also serve S3 (and the stub) over HTTPS through the tests' TLS front, with a certificate
    /// for `localhost` from a CA made for this run, written as PEM to FILE.
    #[arg(long = "tls-ca", value_name = "FILE")]
    tls_ca: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ctverify-s3-server: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let mut options = S3ServerOptions::new()
        .port(args.port)
        .delay(Duration::from_millis(args.delay_ms));
    for spec in &args.throttle {
        let (key, n) = spec
            .rsplit_once('=')
            .ok_or_else(|| format!("--throttle {spec:?}: expected KEY=N"))?;
        let n = n.parse().map_err(|e| format!("--throttle {spec:?}: {e}"))?;
        options = options.throttle_first_n_gets_of(key, n);
    }
    for key in &args.deny {
        options = options.deny(key.clone());
    }
    let stub = stub_config(&args)?;

    let server = S3Server::try_start(options).map_err(|e| format!("cannot start S3: {e}"))?;
    for dir in &args.load {
        let n = server
            .load_dir(dir)
            .map_err(|e| format!("--load {}: {e}", dir.display()))?;
        eprintln!("loaded {n} objects from {}", dir.display());
    }
    for spec in &args.bucket_region {
        let (bucket, region) = spec
            .split_once('=')
            .ok_or_else(|| format!("--bucket-region {spec:?}: expected BUCKET=REGION"))?;
        server.create_bucket(bucket, region);
    }
    for spec in &args.expire_after_days {
        let (bucket, days) = spec
            .split_once('=')
            .ok_or_else(|| format!("--expire-after-days {spec:?}: expected BUCKET=DAYS"))?;
        let days = days
            .parse()
            .map_err(|e| format!("--expire-after-days {spec:?}: {e}"))?;
        server.expire_after_days(bucket, "expire", "", days);
    }
    let stub = stub
        .map(CloudTrailStub::try_start)
        .transpose()
        .map_err(|e| format!("cannot start the CloudTrail stub: {e}"))?;

    let front = match &args.tls_ca {
        Some(path) => {
            let ca = TestCa::new();
            std::fs::write(path, &ca.ca_pem)
                .map_err(|e| format!("--tls-ca {}: {e}", path.display()))?;
            let s3 = server.endpoint();
            // Without a stub, JSON-protocol calls go to S3 too (and fail there, as they should).
            let cloudtrail = stub.as_ref().map_or_else(|| s3.clone(), |s| s.endpoint());
            Some(
                TlsFront::start(Some(&ca), &s3, &cloudtrail)
                    .map_err(|e| format!("cannot start the TLS front: {e}"))?,
            )
        }
        None => None,
    };

    let mut out = std::io::stdout().lock();
    let printed = writeln!(out, "listening {}", server.endpoint())
        .and_then(|()| match &stub {
            Some(stub) => writeln!(out, "cloudtrail {}", stub.endpoint()),
            None => Ok(()),
        })
        .and_then(|()| match &front {
            Some(front) => writeln!(out, "tls {}", front.endpoint()),
            None => Ok(()),
        })
        .and_then(|()| out.flush());
    drop(out);
    printed.map_err(|e| format!("cannot write to stdout: {e}"))?;

    // The servers run on their own threads; this one waits for the end. SIGINT and SIGTERM
    // are caught rather than left to their default action because a shell script's background
    // job starts with SIGINT ignored, and so that the request counts can be reported.
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let signal = signals.forever().next();
    eprintln!(
        "stopping on signal {}; S3 requests: {}",
        signal.unwrap_or_default(),
        server.requests().to_json()
    );
    drop(front);
    if let Some(stub) = stub {
        eprintln!(
            "CloudTrail requests: {:?}",
            count_by_operation(&stub.calls())
        );
        stub.shutdown();
    }
    server.shutdown();
    Ok(())
}

fn stub_config(args: &Args) -> Result<Option<StubConfig>, String> {
    if args.stub_keys.is_empty() && args.stub_trail.is_empty() && args.stub_manifest.is_empty() {
        return Ok(None);
    }
    let mut config = StubConfig {
        port: args.stub_port,
        page_size: args.stub_page_size,
        ..StubConfig::default()
    };
    for spec in &args.stub_keys {
        // A region name never contains '=' or '/', a path may: only a leading REGION= counts.
        let (region, path) = match spec.split_once('=') {
            Some((region, path)) if !region.is_empty() && !region.contains('/') => {
                (Some(region), path)
            }
            _ => (None, spec.as_str()),
        };
        let bytes = std::fs::read(path).map_err(|e| format!("--stub-keys {path}: {e}"))?;
        let keys = StubKey::from_list_public_keys_json(&bytes)
            .map_err(|e| format!("--stub-keys {path}: {e}"))?;
        match region {
            Some(region) => config
                .keys_by_region
                .entry(region.to_owned())
                .or_default()
                .extend(keys),
            None => config.keys.extend(keys),
        }
    }
    for spec in &args.stub_trail {
        let mut parts = spec.splitn(3, ',');
        let (Some(arn), Some(bucket)) = (parts.next(), parts.next()) else {
            return Err(format!(
                "--stub-trail {spec:?}: expected ARN,BUCKET[,PREFIX]"
            ));
        };
        let trail = StubTrail::new(arn, bucket).with_prefix(parts.next().unwrap_or(""));
        config.trails.push(trail);
    }
    for path in &args.stub_manifest {
        let bytes =
            std::fs::read(path).map_err(|e| format!("--stub-manifest {}: {e}", path.display()))?;
        let trail = StubTrail::from_manifest_json(&bytes)
            .map_err(|e| format!("--stub-manifest {}: {e}", path.display()))?;
        config.trails.push(trail);
    }
    if let Some(path) = &args.stub_events {
        let bytes =
            std::fs::read(path).map_err(|e| format!("--stub-events {}: {e}", path.display()))?;
        config.events = StubEvent::from_json_list(&bytes)
            .map_err(|e| format!("--stub-events {}: {e}", path.display()))?;
    }
    Ok(Some(config))
}
