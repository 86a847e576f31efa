//! `ctverify-floor`: the least any verifier must do to check a trail, as the benchmarks' floor
//! (issue 22). It GETs exactly the objects it is given (a range's digests and log files), at a
//! given concurrency, and inflates and SHA-256-hashes each one: no listing, no parsing, no
//! signature check, no report. ctverify's time and instructions are measured against it.
//!
//! It uses the same SDK S3 client, session loader and zlib-rs inflate as ctverify, so that the
//! gap between the two is ctverify's own work, not a different HTTP or TLS stack. With
//! `--client hyper` it GETs instead through a bare hyper client, each request signed by
//! `aws-sigv4` alone (plain HTTP, path style): the SDK's own per-request work (its
//! orchestrator, interceptors, endpoint rules and response parsing) is then out of the figure
//! too, which says how much of a gap to the concurrency bound is the SDK's and how much the
//! machine's.
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
    /// The HTTP client: the SDK's S3 client (as ctverify), or bare hyper with SigV4 only.
    #[arg(long, value_enum, default_value_t = Client::Sdk)]
    client: Client,
}

/// Which client GETs the objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Client {
    /// The SDK's S3 client, as ctverify uses it.
    Sdk,
    /// hyper's client, each request signed with `aws-sigv4` and nothing else.
    Hyper,
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
            .block_on(fetch_all(objects, args.concurrency.max(1), args.client))?,
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
/// ctverify would load (endpoint and CA bundle from the environment, path-style addressing),
/// or through the bare client.
async fn fetch_all(
    objects: Vec<(String, String)>,
    concurrency: usize,
    client: Client,
) -> Result<Totals, String> {
    let settings = cloudtrail_verify::aws::AwsSettings::default();
    let conf = cloudtrail_verify::aws::load(&settings)
        .await
        .map_err(|e| e.to_string())?;
    if client == Client::Hyper {
        let bare = std::sync::Arc::new(bare::BareClient::new(&conf).await?);
        return fetch_with(objects, concurrency, move |bucket, key| {
            let bare = bare.clone();
            async move { bare.get(&bucket, &key).await }
        })
        .await;
    }
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    );
    fetch_with(objects, concurrency, move |bucket, key| {
        let client = client.clone();
        async move {
            let response = client
                .get_object()
                .bucket(&bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| format!("GET {bucket}/{key}: {e:?}"))?;
            Ok(response
                .body
                .collect()
                .await
                .map_err(|e| format!("GET {bucket}/{key}: body: {e}"))?
                .into_bytes())
        }
    })
    .await
}

/// GETs every object with `get`, `concurrency` at a time, and inflates and hashes each body.
/// Each GET is its own task, as ctverify's log checks are, so that the runtime spreads them over
/// every worker thread (a stream polling them all would use one).
async fn fetch_with<G, F>(
    objects: Vec<(String, String)>,
    concurrency: usize,
    get: G,
) -> Result<Totals, String>
where
    G: Fn(String, String) -> F + Clone + Send + 'static,
    F: std::future::Future<Output = Result<bytes::Bytes, String>> + Send,
{
    let mut results = futures::stream::iter(objects)
        .map(|(bucket, key)| {
            let get = get.clone();
            // The GET's future is made inside the task, where it stays: made outside, the SDK's
            // large future was copied into the task (callgrind: +125,000 instructions of
            // memcpy per object).
            tokio::spawn(async move {
                let body = get(bucket.clone(), key.clone()).await?;
                hash_body(body)
                    .await
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

/// As ctverify: a small body is inflated and hashed on the runtime's worker, a large one on the
/// blocking pool so that it does not stall the requests in flight.
async fn hash_body(body: bytes::Bytes) -> Result<(usize, (u64, [u8; 32])), String> {
    let hashed = if body.len() <= INLINE_MAX_BYTES {
        inflate_and_hash(&body)
    } else {
        let body = body.clone();
        tokio::task::spawn_blocking(move || inflate_and_hash(&body))
            .await
            .map_err(|e| e.to_string())?
    };
    hashed.map(|r| (body.len(), r))
}

/// The bare client: hyper over plain HTTP, SigV4 from `aws-sigv4`, nothing of the SDK's
/// orchestration.
mod bare {
    use aws_credential_types::provider::ProvideCredentials as _;
    use aws_sigv4::http_request::{
        PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
        UriPathNormalizationMode, sign,
    };
    use aws_smithy_runtime_api::client::identity::Identity;
    use http_body_util::{BodyExt as _, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;

    /// What every request shares: the endpoint, the credentials and the signing settings.
    pub struct BareClient {
        http: Client<HttpConnector, Empty<bytes::Bytes>>,
        /// `http://HOST:PORT`, without a trailing slash.
        endpoint: String,
        /// `HOST:PORT`, signed as the `host` header.
        authority: String,
        region: String,
        identity: Identity,
        settings: SigningSettings,
    }

    impl BareClient {
        /// A client for the S3 endpoint `conf` names (it must be plain HTTP: the bare client
        /// has no TLS), signing with `conf`'s credentials, resolved once.
        pub async fn new(conf: &aws_config::SdkConfig) -> Result<Self, String> {
            let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
                .ok()
                .or_else(|| conf.endpoint_url().map(str::to_owned))
                .ok_or("--client hyper needs AWS_ENDPOINT_URL_S3 (a plain-HTTP S3 server)")?;
            let endpoint = endpoint.trim_end_matches('/').to_owned();
            let authority = endpoint
                .strip_prefix("http://")
                .ok_or_else(|| format!("--client hyper speaks plain HTTP only, not {endpoint}"))?
                .to_owned();
            let credentials = conf
                .credentials_provider()
                .ok_or("no credentials provider")?
                .provide_credentials()
                .await
                .map_err(|e| e.to_string())?;
            let mut settings = SigningSettings::default();
            // As the SDK signs for S3: single encoding, no path normalisation, the payload's
            // hash in x-amz-content-sha256.
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            Ok(BareClient {
                http: Client::builder(TokioExecutor::new()).build_http(),
                endpoint,
                authority,
                region: conf.region().ok_or("no region")?.to_string(),
                identity: credentials.into(),
                settings,
            })
        }

        /// GETs `bucket/key` (path style), signed; the body when S3 answers 200.
        pub async fn get(&self, bucket: &str, key: &str) -> Result<bytes::Bytes, String> {
            // CloudTrail's keys need no escaping; anything else is refused rather than signed
            // wrongly.
            if !format!("{bucket}/{key}")
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~/".contains(&b))
            {
                return Err(format!("{bucket}/{key}: a key that needs escaping"));
            }
            let uri = format!("{}/{bucket}/{key}", self.endpoint);
            let params = aws_sigv4::sign::v4::SigningParams::builder()
                .identity(&self.identity)
                .region(&self.region)
                .name("s3")
                .time(std::time::SystemTime::now())
                .settings(self.settings.clone())
                .build()
                .map_err(|e| e.to_string())?
                .into();
            let signable = SignableRequest::new(
                "GET",
                uri.as_str(),
                std::iter::once(("host", self.authority.as_str())),
                SignableBody::UnsignedPayload,
            )
            .map_err(|e| e.to_string())?;
            let (instructions, _) = sign(signable, &params)
                .map_err(|e| e.to_string())?
                .into_parts();
            let mut request = http::Request::get(uri.as_str())
                .header(http::header::HOST, self.authority.as_str())
                .body(Empty::new())
                .map_err(|e| e.to_string())?;
            instructions.apply_to_request_http1x(&mut request);
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| format!("GET {bucket}/{key}: {e}"))?;
            if !response.status().is_success() {
                return Err(format!("GET {bucket}/{key}: {}", response.status()));
            }
            Ok(response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("GET {bucket}/{key}: body: {e}"))?
                .to_bytes())
        }
    }
}
