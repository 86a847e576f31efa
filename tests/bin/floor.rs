//! `ctverify-floor`: the least any verifier must do to check a trail, as the benchmarks' floor
//! (issue 22). It GETs exactly the objects it is given (a range's digests and log files), at a
//! given concurrency, and inflates and SHA-256-hashes each one: no listing, no parsing, no
//! signature check, no report. ctverify's time and instructions are measured against it.
//!
//! It uses the same SDK S3 client, session loader and zlib-rs inflate as ctverify, so that the
//! gap between the two is ctverify's own work, not a different HTTP or TLS stack.
//!
//! `--keys FILE` holds one `BUCKET/KEY` a line. With `--dir DIR` the objects are read from
//! `DIR/BUCKET/KEY` on one thread instead (the offline floor: inflate + SHA-256 alone).
//! Prints `objects N compressed_bytes C inflated_bytes I seconds S` on stdout.

use clap::Parser;
use flate2::bufread::MultiGzDecoder;
use futures::StreamExt as _;
use sha2::{Digest as _, Sha256};
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// ctverify's allocator (its binary's `#[global_allocator]`): with glibc's, the floor would
/// lose time to arena locks that ctverify does not pay, and stop being a floor.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Largest compressed body inflated on the async runtime's worker rather than the blocking
/// pool (ctverify's threshold is 1 MiB inflated; CloudTrail's log files are far smaller).
const INLINE_MAX_BYTES: usize = 64 << 10;

/// GET (or read), inflate and SHA-256 the objects listed, nothing else.
#[derive(Debug, Parser)]
#[command(name = "ctverify-floor")]
struct Args {
    /// One `BUCKET/KEY` a line.
    #[arg(long, value_name = "FILE")]
    keys: PathBuf,
    /// Read `DIR/BUCKET/KEY` from disk, sequentially, instead of S3.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// GETs in flight at once (ctverify's default against S3 is 128).
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
}

/// What was read: objects, compressed bytes, inflated bytes, and the XOR of every SHA-256 (so
/// that no hash can be optimised away).
#[derive(Default)]
struct Totals {
    objects: u64,
    compressed: u64,
    inflated: u64,
    xor: [u8; 32],
}

impl Totals {
    fn add(&mut self, compressed: usize, (inflated, hash): (u64, [u8; 32])) {
        self.objects += 1;
        self.compressed += compressed as u64;
        self.inflated += inflated;
        for (x, h) in self.xor.iter_mut().zip(hash) {
            *x ^= h;
        }
    }
}

thread_local! {
    /// This thread's output buffer, reused from object to object: a floor allocates no more
    /// than it must (the decoder's own state is all).
    static OUTPUT: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 64 << 10]);
}

/// Inflates a gzip object and hashes the result, in one pass, reading the body where it is.
fn inflate_and_hash(body: &[u8]) -> Result<(u64, [u8; 32]), String> {
    OUTPUT.with_borrow_mut(|buffer| {
        let mut decoder = MultiGzDecoder::new(body);
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        loop {
            let n = decoder.read(buffer).map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok((total, hasher.finalize().into()));
            }
            hasher.update(&buffer[..n]);
            total += n as u64;
        }
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ctverify-floor: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.keys)
        .map_err(|e| format!("--keys {}: {e}", args.keys.display()))?;
    let objects: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split_once('/')
                .map(|(b, k)| (b.to_owned(), k.to_owned()))
                .ok_or_else(|| format!("--keys: not BUCKET/KEY: {l:?}"))
        })
        .collect::<Result<_, _>>()?;
    let start = Instant::now();
    let totals = match &args.dir {
        Some(dir) => {
            let mut totals = Totals::default();
            for (bucket, key) in &objects {
                let path = dir.join(bucket).join(key);
                let body = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                totals.add(body.len(), inflate_and_hash(&body)?);
            }
            totals
        }
        None => tokio::runtime::Runtime::new()
            .map_err(|e| format!("cannot start tokio: {e}"))?
            .block_on(fetch_all(objects, args.concurrency.max(1)))?,
    };
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "objects {} compressed_bytes {} inflated_bytes {} seconds {seconds:.4} xor {}",
        totals.objects,
        totals.compressed,
        totals.inflated,
        hex::encode(totals.xor)
    );
    Ok(())
}

/// GETs every object, `concurrency` at a time, through the SDK's S3 client with the session
/// ctverify would load (endpoint and CA bundle from the environment, path-style addressing).
async fn fetch_all(objects: Vec<(String, String)>, concurrency: usize) -> Result<Totals, String> {
    let settings = cloudtrail_verify::aws::AwsSettings::default();
    let conf = cloudtrail_verify::aws::load(&settings)
        .await
        .map_err(|e| e.to_string())?;
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    );
    // Each GET is its own task, as ctverify's log checks are, so that the runtime spreads
    // them over every worker thread (a stream polling them all would use one).
    let mut results = futures::stream::iter(objects)
        .map(|(bucket, key)| {
            let client = client.clone();
            tokio::spawn(async move {
                let response = client
                    .get_object()
                    .bucket(&bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|e| format!("GET {bucket}/{key}: {e:?}"))?;
                let body = response
                    .body
                    .collect()
                    .await
                    .map_err(|e| format!("GET {bucket}/{key}: body: {e}"))?
                    .into_bytes();
                // As ctverify: a small body is inflated and hashed on the runtime's worker,
                // a large one on the blocking pool so that it does not stall the requests in
                // flight.
                let hashed = if body.len() <= INLINE_MAX_BYTES {
                    inflate_and_hash(&body)
                } else {
                    let body = body.clone();
                    tokio::task::spawn_blocking(move || inflate_and_hash(&body))
                        .await
                        .map_err(|e| e.to_string())?
                };
                hashed
                    .map(|r| (body.len(), r))
                    .map_err(|e| format!("{bucket}/{key}: {e}"))
            })
        })
        .buffer_unordered(concurrency);
    let mut totals = Totals::default();
    while let Some(result) = results.next().await {
        let (compressed, inflated) = result.map_err(|e| e.to_string())??;
        totals.add(compressed, inflated);
    }
    Ok(totals)
}
