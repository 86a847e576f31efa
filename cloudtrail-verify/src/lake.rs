//! CloudTrail Lake query results: the exported result files of a query and the sign file
//! CloudTrail writes beside them.
//!
//! AWS CloudTrail User Guide, "Validate CloudTrail Lake saved query results"
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-query-results-validation.html>)
//! and "Custom implementations of CloudTrail query results file integrity validation"
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-results-file-custom-validation.html>):
//! a query exported to S3 leaves, in
//! `AWSLogs/ACCOUNT/CloudTrail-Lake/Query/YYYY/MM/DD/QUERY_ID/`, its result files and
//! `result_sign.json`, which lists each file's name and `fileHashValue` (the hex SHA-256 of the
//! file's bytes as stored, that is compressed) and carries `hashSignature`: an RSA PKCS#1 v1.5
//! SHA-256 signature, under the region's CloudTrail key named by `publicKeyFingerprint`, of the
//! `fileHashValue`s joined by single spaces in the order of `files`. The key is looked up among
//! the region's keys (ListPublicKeys, over every time up to now: the lookup must not depend on
//! `queryCompleteTime`, which is not signed).
//!
//! Only the hashes are signed: file names, `region`, `queryCompleteTime` and the fingerprint are
//! not, and nothing binds the result set to its query id or account. So a changed name or time
//! can only make the check fail, never pass, but a genuine result set of *another* query copied
//! into this folder verifies. [`LakeOptions::expected_region`] at least pins the region.
//!
//! Stricter than `aws cloudtrail verify-query-results`: every problem is reported (not only the
//! first), objects in the folder that the sign file does not list are invalid, the sign file is
//! parsed strictly and within a size cap, the algorithms and the region are checked, and a
//! fingerprint missing from CloudTrail's complete key list is told apart from a key that could
//! not be looked up.

use crate::findings::Status;
use crate::keys::{KeyLookup, KeySet};
use crate::report::Counts;
use crate::signing::{SignatureError, verify_signature};
use crate::source::{ObjectSource, SourceError};
use chrono::{DateTime, NaiveDateTime, Utc};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::io::Read;

/// The sign file's name in the query's folder.
pub const SIGN_FILE_NAME: &str = "result_sign.json";
/// Largest sign file read. It holds about 120 bytes per result file; 4 MiB is tens of
/// thousands of files, far more than a query exports.
pub const MAX_SIGN_FILE_BYTES: u64 = 4 << 20;
/// Default cap on a result file's size: a larger one is not hashed to its end (unverifiable).
pub const DEFAULT_MAX_RESULT_FILE_BYTES: u64 = 64 << 30;
/// Objects not listed by the sign file that a report names one by one; past this, only their
/// number is kept, so a folder flooded with objects costs bounded memory.
pub const MAX_UNLISTED_SHOWN: usize = 10_000;
/// The only `hashAlgorithm` CloudTrail writes.
pub const HASH_ALGORITHM: &str = "SHA-256";
/// The only `signatureAlgorithm` CloudTrail writes.
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";
/// Result files hashed at once.
const CONCURRENCY: usize = 8;

pub use crate::findings::{ResultFileProblem, SignFileProblem};

/// A parsed `result_sign.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignFile {
    /// `version`.
    pub version: String,
    /// `region`: the region the query ran in, whose key signed the file.
    pub region: String,
    /// `files`, in order: the signed string follows this order.
    pub files: Vec<SignedFile>,
    /// `hashAlgorithm` as written.
    pub hash_algorithm: String,
    /// `signatureAlgorithm` as written.
    pub signature_algorithm: String,
    /// `queryCompleteTime`.
    pub query_complete_time: DateTime<Utc>,
    /// `hashSignature`, hex.
    pub hash_signature: String,
    /// `publicKeyFingerprint`, lower-case hex.
    pub public_key_fingerprint: String,
}

/// One entry of the sign file's `files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedFile {
    /// `fileName`: the object's name in the query's folder.
    pub file_name: String,
    /// `fileHashValue`: hex SHA-256 of the object's bytes as stored (compressed).
    pub file_hash_value: String,
}

impl SignFile {
    /// Parses a sign file strictly: every documented field present with its type, no field
    /// twice, at least one file, hashes that are hex SHA-256, names that are plain names in the
    /// folder (no `/`, no control characters, not the sign file, none twice), a region name, a
    /// hex fingerprint and a time. Unknown extra fields are ignored: nothing but the hashes is
    /// signed, so they can prove nothing either way. Never panics, whatever the bytes.
    ///
    /// # Errors
    /// What is wrong, in one line.
    pub fn parse(bytes: &[u8]) -> Result<SignFile, String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            version: String,
            region: String,
            files: Vec<RawFile>,
            hash_algorithm: String,
            signature_algorithm: String,
            query_complete_time: String,
            hash_signature: String,
            public_key_fingerprint: String,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct RawFile {
            file_hash_value: String,
            file_name: String,
        }
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if !crate::layout::is_region(&raw.region) {
            return Err(format!("region {:?} is not a region name", raw.region));
        }
        if raw.files.is_empty() {
            return Err("files lists no result file".into());
        }
        let mut names = BTreeSet::new();
        let mut files = Vec::with_capacity(raw.files.len());
        for file in raw.files {
            if !is_plain_name(&file.file_name) {
                return Err(format!(
                    "fileName {:?} is not a file name in the query's folder",
                    file.file_name
                ));
            }
            if !names.insert(file.file_name.clone()) {
                return Err(format!("fileName {:?} is listed twice", file.file_name));
            }
            if !is_hex(&file.file_hash_value, 64) {
                return Err(format!(
                    "fileHashValue of {:?} is not a hex SHA-256",
                    file.file_name
                ));
            }
            files.push(SignedFile {
                file_name: file.file_name,
                file_hash_value: file.file_hash_value,
            });
        }
        let query_complete_time = parse_time(&raw.query_complete_time).ok_or_else(|| {
            format!(
                "queryCompleteTime {:?} is not a time",
                raw.query_complete_time
            )
        })?;
        if raw.public_key_fingerprint.is_empty()
            || raw.public_key_fingerprint.len() > 128
            || !raw
                .public_key_fingerprint
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
        {
            return Err("publicKeyFingerprint is not hex".into());
        }
        Ok(SignFile {
            version: raw.version,
            region: raw.region,
            files,
            hash_algorithm: raw.hash_algorithm,
            signature_algorithm: raw.signature_algorithm,
            query_complete_time,
            hash_signature: raw.hash_signature,
            public_key_fingerprint: raw.public_key_fingerprint.to_ascii_lowercase(),
        })
    }

    /// The string CloudTrail signs: the `fileHashValue`s, verbatim, joined by single spaces in
    /// the order of `files`.
    pub fn signing_string(&self) -> String {
        self.files
            .iter()
            .map(|f| f.file_hash_value.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A name CloudTrail could have written in the query's folder (and that maps safely onto a
/// local directory): no path separator, no control character, not `.`/`..`, at most S3's key
/// length, and not the sign file itself.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 1024
        && name != "."
        && name != ".."
        && name != SIGN_FILE_NAME
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// RFC 3339 (as the AWS documentation's example, `2022-05-10T22:06:30Z`), or a date-time
/// without offset taken as UTC.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc())
}

impl SignFileProblem {
    /// Whether this is evidence of tampering or only prevents checking.
    pub fn status(&self) -> Status {
        crate::trust::sign_file_problem_status(self)
    }
}

impl ResultFileProblem {
    /// Whether this is evidence of tampering or only prevents checking.
    pub fn status(&self) -> Status {
        crate::trust::result_file_problem_status(self)
    }
}

/// Why a query folder could not be listed: extra objects cannot be ruled out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ListingProblem {
    /// The store's answer.
    pub reason: String,
}

impl fmt::Display for ListingProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the folder could not be listed, so objects the sign file does not list cannot be ruled out: {}",
            self.reason
        )
    }
}

/// The verdict on the sign file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SignFileReport {
    /// Its key.
    pub key: String,
    /// Where it is, as a reader would look for it.
    pub location: String,
    /// The verdict.
    pub status: Status,
    /// Every problem found; empty when valid.
    pub problems: Vec<SignFileProblem>,
    /// `region`, when it parsed.
    pub region: Option<String>,
    /// `queryCompleteTime`, when it parsed.
    pub query_complete_time: Option<DateTime<Utc>>,
    /// `publicKeyFingerprint`, when it parsed.
    pub public_key_fingerprint: Option<String>,
}

/// The verdict on one object of the query's folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ResultFileReport {
    /// Its key.
    pub key: String,
    /// Where it is, as a reader would look for it.
    pub location: String,
    /// The verdict.
    pub status: Status,
    /// Why it is not valid.
    pub problem: Option<ResultFileProblem>,
    /// Bytes hashed, when it was read to its end.
    pub bytes: Option<u64>,
}

/// The verdict on a query's exported results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueryResultsReport {
    /// The overall verdict: the worst of everything below.
    pub status: Status,
    /// The bucket (for a local directory, the directory's name).
    pub bucket: String,
    /// The folder's prefix, ending in `/` (empty for a bucket's root).
    pub prefix: String,
    /// The folder, as a reader would look for it.
    pub location: String,
    /// The sign file.
    pub sign_file: SignFileReport,
    /// The files the sign file lists, in its order, then the objects it does not list.
    pub files: Vec<ResultFileReport>,
    /// Objects not listed beyond the [`MAX_UNLISTED_SHOWN`] named in `files`.
    pub unlisted_not_shown: u64,
    /// Set when the folder could not be listed.
    pub listing_problem: Option<ListingProblem>,
    /// Verdicts of `files` (plus `unlisted_not_shown`, all invalid).
    pub counts: Counts,
}

/// How to check.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LakeOptions {
    /// The region the query ran in: a sign file naming another is invalid. `None`: any.
    pub expected_region: Option<String>,
    /// Largest result file hashed.
    pub max_file_bytes: u64,
}

impl Default for LakeOptions {
    fn default() -> Self {
        LakeOptions {
            expected_region: None,
            max_file_bytes: DEFAULT_MAX_RESULT_FILE_BYTES,
        }
    }
}

impl LakeOptions {
    /// Requires the sign file to name `region`.
    pub fn expect_region(mut self, region: Option<String>) -> Self {
        self.expected_region = region;
        self
    }
    /// Sets the largest result file hashed.
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }
}

/// Why a check could not start: nothing was verified, so there is no verdict.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LakeSetupError {
    /// The local directory cannot be used.
    #[error("{}: {reason}", dir.display())]
    Local {
        /// The directory.
        dir: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// The expected region is not a region name.
    #[error("{0:?} is not a region name (such as us-east-1)")]
    BadRegion(String),
    /// An AWS call needed before the check failed (GetBucketLocation, ListPublicKeys).
    #[cfg(feature = "aws")]
    #[error(transparent)]
    Aws(#[from] crate::trail_api::TrailApiError),
}

/// The folder prefix as listed: empty for the root, otherwise ending in one `/`.
pub fn folder_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_start_matches('/');
    if trimmed.is_empty() || trimmed.ends_with('/') {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/")
    }
}

/// What reading the sign file came to.
enum SignRead {
    Parsed(SignFile),
    Failed(SignFileProblem),
}

async fn read_sign_file(source: &dyn ObjectSource, bucket: &str, key: &str) -> SignRead {
    let object = match source.get(bucket, key).await {
        Ok(object) => object,
        Err(SourceError::NotFound) => {
            return SignRead::Failed(SignFileProblem::NotFound {
                objects_in_folder: 0,
            });
        }
        Err(e) => return SignRead::Failed(sign_read_problem(e)),
    };
    let body = object.body;
    let read = tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::new();
        body.take(MAX_SIGN_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map(|_| bytes)
    })
    .await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            return SignRead::Failed(SignFileProblem::Unreadable {
                reason: e.to_string(),
            });
        }
        Err(e) => {
            return SignRead::Failed(SignFileProblem::Unreadable {
                reason: e.to_string(),
            });
        }
    };
    if bytes.len() as u64 > MAX_SIGN_FILE_BYTES {
        return SignRead::Failed(SignFileProblem::TooLarge {
            limit: MAX_SIGN_FILE_BYTES,
        });
    }
    match SignFile::parse(&bytes) {
        Ok(sign) => SignRead::Parsed(sign),
        Err(detail) => SignRead::Failed(SignFileProblem::InvalidFormat { detail }),
    }
}

fn sign_read_problem(error: SourceError) -> SignFileProblem {
    match error {
        SourceError::NotFound => SignFileProblem::NotFound {
            objects_in_folder: 0,
        },
        SourceError::CustomerEncrypted(_) | SourceError::NotARegularFile(_) => {
            SignFileProblem::ForeignObject {
                reason: error.to_string(),
            }
        }
        other => SignFileProblem::Unreadable {
            reason: other.to_string(),
        },
    }
}

fn result_read_problem(error: SourceError) -> ResultFileProblem {
    match error {
        SourceError::NotFound => ResultFileProblem::NotFound,
        SourceError::CustomerEncrypted(_) | SourceError::NotARegularFile(_) => {
            ResultFileProblem::ForeignObject {
                reason: error.to_string(),
            }
        }
        other => ResultFileProblem::Unreadable {
            reason: other.to_string(),
        },
    }
}

/// The sign file's own problems: algorithms, region, key, signature. Pure.
pub fn check_sign_file(
    sign: &SignFile,
    keys: &KeySet,
    expected_region: Option<&str>,
) -> Vec<SignFileProblem> {
    let mut problems = Vec::new();
    if sign.hash_algorithm != HASH_ALGORITHM {
        problems.push(SignFileProblem::UnknownHashAlgorithm {
            found: sign.hash_algorithm.clone(),
        });
    }
    if sign.signature_algorithm != SIGNATURE_ALGORITHM {
        problems.push(SignFileProblem::UnknownSignatureAlgorithm {
            found: sign.signature_algorithm.clone(),
        });
    }
    if let Some(expected) = expected_region
        && expected != sign.region
    {
        problems.push(SignFileProblem::WrongRegion {
            declared: sign.region.clone(),
            expected: expected.to_owned(),
        });
    }
    let fingerprint = &sign.public_key_fingerprint;
    match keys.lookup_at(fingerprint, &sign.region, sign.query_complete_time) {
        KeyLookup::NotFound {
            list_complete: true,
        } => problems.push(SignFileProblem::KeyUnknown {
            fingerprint: fingerprint.clone(),
            region: sign.region.clone(),
        }),
        KeyLookup::NotFound {
            list_complete: false,
        } => problems.push(SignFileProblem::KeyNotFound {
            fingerprint: fingerprint.clone(),
            region: sign.region.clone(),
        }),
        KeyLookup::Found(key) => {
            // Keys fetched for a region serve only it (a key file's serve any).
            if let Some(key_region) = key.region()
                && key_region != sign.region
            {
                problems.push(SignFileProblem::WrongRegion {
                    declared: sign.region.clone(),
                    expected: key_region.to_owned(),
                });
            }
            if !key.could_sign_digest_ending(sign.query_complete_time) {
                problems.push(SignFileProblem::KeyNotValidAtCompleteTime {
                    fingerprint: fingerprint.clone(),
                    valid_from: key.valid_from(),
                    valid_to: key.valid_to(),
                });
            }
            match verify_signature(key, sign.signing_string().as_bytes(), &sign.hash_signature) {
                Ok(()) => {}
                Err(SignatureError::Malformed) => {
                    problems.push(SignFileProblem::MalformedSignature)
                }
                Err(SignatureError::Mismatch) => problems.push(SignFileProblem::SignatureMismatch),
            }
        }
    }
    problems
}

/// Streams an object through SHA-256 within `limit` bytes.
fn hash_stream(body: impl Read, limit: u64) -> Result<([u8; 32], u64), ResultFileProblem> {
    use crate::loghash::{StreamHashError, sha256_stream};
    sha256_stream(body, limit).map_err(|e| match e {
        StreamHashError::Read(e) => ResultFileProblem::Unreadable {
            reason: format!("read failed: {e}"),
        },
        StreamHashError::TooLarge { limit } => ResultFileProblem::TooLarge { limit },
    })
}

async fn check_file(
    source: &dyn ObjectSource,
    bucket: &str,
    key: &str,
    expected: &str,
    limit: u64,
) -> (Option<ResultFileProblem>, Option<u64>) {
    let object = match source.get(bucket, key).await {
        Ok(object) => object,
        Err(e) => return (Some(result_read_problem(e)), None),
    };
    let body = object.body;
    let hashed = tokio::task::spawn_blocking(move || hash_stream(body, limit)).await;
    match hashed {
        Ok(Ok((sha, bytes))) => {
            let actual = hex::encode(sha);
            if actual.eq_ignore_ascii_case(expected) {
                (None, Some(bytes))
            } else {
                (
                    Some(ResultFileProblem::HashMismatch {
                        expected: expected.to_owned(),
                        actual,
                    }),
                    Some(bytes),
                )
            }
        }
        Ok(Err(problem)) => (Some(problem), None),
        Err(e) => (
            Some(ResultFileProblem::Unreadable {
                reason: e.to_string(),
            }),
            None,
        ),
    }
}

/// Every key under the folder other than the sign file and `listed`: named up to
/// [`MAX_UNLISTED_SHOWN`], counted past it.
async fn unlisted_keys(
    source: &dyn ObjectSource,
    bucket: &str,
    prefix: &str,
    listed: &BTreeSet<String>,
) -> Result<(Vec<String>, u64), SourceError> {
    let mut shown = Vec::new();
    let mut more: u64 = 0;
    let mut after: Option<String> = None;
    loop {
        let page = source.list_keys(bucket, prefix, after.as_deref()).await?;
        let Some(last) = page.last().cloned() else {
            break;
        };
        for key in page {
            let name = key.strip_prefix(prefix).unwrap_or(&key);
            if name == SIGN_FILE_NAME || listed.contains(name) {
                continue;
            }
            if shown.len() < MAX_UNLISTED_SHOWN {
                shown.push(key);
            } else {
                more += 1;
            }
        }
        // A store must list strictly after `start_after`; one that does not would loop.
        if after.as_deref().is_some_and(|a| last.as_str() <= a) {
            break;
        }
        after = Some(last);
    }
    Ok((shown, more))
}

/// Checks the query results in `bucket` under `prefix` (the folder holding
/// `result_sign.json`) with `keys` at hand. Every failure is a finding in the report.
pub async fn verify_query_results(
    source: &dyn ObjectSource,
    bucket: &str,
    prefix: &str,
    keys: &KeySet,
    options: &LakeOptions,
) -> QueryResultsReport {
    let prefix = folder_prefix(prefix);
    let sign = read_sign_file(source, bucket, &format!("{prefix}{SIGN_FILE_NAME}")).await;
    check_read(source, bucket, &prefix, sign, keys, options).await
}

/// The rest of a check once the sign file was read, whatever became of it.
async fn check_read(
    source: &dyn ObjectSource,
    bucket: &str,
    prefix: &str,
    sign: SignRead,
    keys: &KeySet,
    options: &LakeOptions,
) -> QueryResultsReport {
    let sign_key = format!("{prefix}{SIGN_FILE_NAME}");
    let mut sign_report = SignFileReport {
        location: source.location(bucket, &sign_key),
        key: sign_key,
        status: Status::Valid,
        problems: Vec::new(),
        region: None,
        query_complete_time: None,
        public_key_fingerprint: None,
    };
    let mut files = Vec::new();
    let mut listed = BTreeSet::new();
    match &sign {
        SignRead::Failed(problem) => sign_report.problems.push(problem.clone()),
        SignRead::Parsed(sign) => {
            sign_report.region = Some(sign.region.clone());
            sign_report.query_complete_time = Some(sign.query_complete_time);
            sign_report.public_key_fingerprint = Some(sign.public_key_fingerprint.clone());
            sign_report.problems = check_sign_file(sign, keys, options.expected_region.as_deref());
            listed = sign.files.iter().map(|f| f.file_name.clone()).collect();
        }
    }
    sign_report.status = worst(sign_report.problems.iter().map(SignFileProblem::status));
    if let SignRead::Parsed(sign) = &sign {
        let proven = sign_report.status == Status::Valid;
        let checks = sign.files.iter().map(|file| {
            let key = format!("{prefix}{}", file.file_name);
            async move {
                let (problem, bytes) = check_file(
                    source,
                    bucket,
                    &key,
                    &file.file_hash_value,
                    options.max_file_bytes,
                )
                .await;
                // A matching hash proves the bytes only through a sign file that verified.
                let problem = match problem {
                    None if !proven => Some(ResultFileProblem::SignFileUnproven),
                    other => other,
                };
                ResultFileReport {
                    location: source.location(bucket, &key),
                    key,
                    status: problem.as_ref().map_or(Status::Valid, |p| p.status()),
                    problem,
                    bytes,
                }
            }
        });
        files = futures::stream::iter(checks)
            .buffered(CONCURRENCY)
            .collect()
            .await;
    }
    let mut listing_problem = None;
    let mut unlisted_not_shown = 0;
    match unlisted_keys(source, bucket, prefix, &listed).await {
        Ok((keys, more)) => {
            if let Some(SignFileProblem::NotFound { objects_in_folder }) =
                sign_report.problems.first_mut()
            {
                // Beside other objects, a missing sign file was deleted; in an empty folder
                // the folder is likely the wrong one.
                *objects_in_folder = keys.len() as u64 + more;
                sign_report.status =
                    worst(sign_report.problems.iter().map(SignFileProblem::status));
            } else if matches!(sign, SignRead::Parsed(_)) {
                // Only a parsed sign file says which objects belong; otherwise none is judged.
                unlisted_not_shown = more;
                files.extend(keys.into_iter().map(|key| ResultFileReport {
                    location: source.location(bucket, &key),
                    key,
                    status: ResultFileProblem::NotListed.status(),
                    problem: Some(ResultFileProblem::NotListed),
                    bytes: None,
                }));
            }
        }
        Err(e) => {
            listing_problem = Some(ListingProblem {
                reason: e.to_string(),
            })
        }
    }
    let mut counts = Counts::default();
    for file in &files {
        counts.add(file.status);
    }
    counts.invalid += unlisted_not_shown;
    let mut status = sign_report.status.max(counts.worst());
    if listing_problem.is_some() {
        status = status.max(Status::Unverifiable);
    }
    QueryResultsReport {
        status,
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        location: source.location(bucket, prefix),
        sign_file: sign_report,
        files,
        unlisted_not_shown,
        listing_problem,
        counts,
    }
}

fn worst(statuses: impl Iterator<Item = Status>) -> Status {
    statuses.max().unwrap_or(Status::Valid)
}

/// Checks query results copied to a local directory `dir` (the folder holding
/// `result_sign.json` and the result files, as `aws cloudtrail verify-query-results
/// --local-export-path` takes it), with CloudTrail's public keys saved in `keys`.
///
/// # Errors
/// When `dir` is not a directory that can be read.
pub async fn verify_local_query_results(
    dir: &std::path::Path,
    keys: &KeySet,
    options: &LakeOptions,
) -> Result<QueryResultsReport, LakeSetupError> {
    check_region(options)?;
    let local = |reason: String| LakeSetupError::Local {
        dir: dir.to_owned(),
        reason,
    };
    let full = std::fs::canonicalize(dir).map_err(|e| local(e.to_string()))?;
    // The directory is read as the one "bucket" of its parent, so that every read goes through
    // the local source's defences against links and special files.
    let (Some(parent), Some(name)) = (full.parent(), full.file_name().and_then(|n| n.to_str()))
    else {
        return Err(local(
            "not a directory with a UTF-8 name below a parent".into(),
        ));
    };
    let source = crate::source::LocalDirectory::new(parent).map_err(|e| local(e.to_string()))?;
    if !full.is_dir() {
        return Err(local("not a directory".into()));
    }
    Ok(verify_query_results(&source, name, "", keys, options).await)
}

fn check_region(options: &LakeOptions) -> Result<(), LakeSetupError> {
    match &options.expected_region {
        Some(region) if !crate::layout::is_region(region) => {
            Err(LakeSetupError::BadRegion(region.clone()))
        }
        _ => Ok(()),
    }
}

/// The start of the span CloudTrail's keys are fetched over: 2013-01-01, before CloudTrail
/// launched (November 2013), so that the span holds every key that can have signed a result.
#[cfg(feature = "aws")]
fn keys_since() -> DateTime<Utc> {
    DateTime::from_timestamp(1_356_998_400, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Checks query results in S3 with the session `conf`: the folder `prefix` of `bucket` (the
/// folder holding `result_sign.json`, as `aws cloudtrail verify-query-results --s3-prefix`
/// takes it), read in the bucket's region, with CloudTrail's keys fetched by ListPublicKeys in
/// the sign file's region over every time up to now (not around `queryCompleteTime`, which is
/// not signed: a window moved by it could leave the signing key out and turn a forged result
/// set from invalid into unverifiable). That answer is taken as CloudTrail's whole list for
/// the span, so a fingerprint it lacks is invalid.
///
/// # Errors
/// When GetBucketLocation or ListPublicKeys fails: nothing was verified.
#[cfg(feature = "aws")]
pub async fn verify_s3_query_results(
    conf: &aws_config::SdkConfig,
    bucket: &str,
    prefix: &str,
    options: &LakeOptions,
) -> Result<QueryResultsReport, LakeSetupError> {
    check_region(options)?;
    let start_region = conf
        .region()
        .map_or_else(|| "us-east-1".to_owned(), |r| r.as_ref().to_owned());
    let conf = crate::aws::with_call_policy(conf)
        .into_builder()
        .region(aws_config::Region::new(start_region))
        .build();
    let source = crate::trail_api::source_in_bucket_region(&conf, bucket).await?;
    let prefix = folder_prefix(prefix);
    let sign = read_sign_file(&source, bucket, &format!("{prefix}{SIGN_FILE_NAME}")).await;
    let mut keys = KeySet::new();
    // The key is named by the fingerprint, which is not signed either, but a wrong one can
    // only fail the signature; the span does not depend on anything in the sign file but its
    // region (checked against the key's, and against `--region` when given).
    if let SignRead::Parsed(sign) = &sign {
        let (start, end) = (keys_since(), Utc::now());
        let fetched = crate::trail_api::fetch_public_keys(&conf, &sign.region, start, end).await?;
        tracing::debug!(
            region = %sign.region,
            %start,
            %end,
            keys = ?fetched.iter().map(|k| k.fingerprint().to_owned()).collect::<Vec<_>>(),
            signed = %sign.signing_string(),
            "query results: public keys loaded"
        );
        for key in fetched {
            keys.insert(key);
        }
        // Complete for any completion time, a future one too: whatever signed a sign file
        // that exists signed it by now, so a fingerprint missing from every key CloudTrail
        // lists up to now is none of its keys (invalid), whatever `queryCompleteTime` says.
        keys.mark_complete(Some(&sign.region), start, DateTime::<Utc>::MAX_UTC);
    }
    Ok(check_read(&source, bucket, &prefix, sign, &keys, options).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign_json(files: &str) -> String {
        format!(
            r#"{{"version":"1.0","region":"us-east-1","files":{files},"hashAlgorithm":"SHA-256",
            "signatureAlgorithm":"SHA256withRSA","queryCompleteTime":"2022-05-10T22:06:30Z",
            "hashSignature":"00","publicKeyFingerprint":"67B9fa73676d86966b449dd677850753"}}"#
        )
    }

    #[test]
    fn the_signed_string_is_the_hashes_joined_by_single_spaces_in_file_order() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let text = sign_json(&format!(
            r#"[{{"fileHashValue":"{b}","fileName":"result_2.csv.gz"}},{{"fileHashValue":"{a}","fileName":"result_1.csv.gz"}}]"#
        ));
        let sign = SignFile::parse(text.as_bytes()).unwrap();
        assert_eq!(sign.signing_string(), format!("{b} {a}"));
        assert_eq!(
            sign.public_key_fingerprint,
            "67b9fa73676d86966b449dd677850753"
        );
        assert_eq!(
            sign.query_complete_time,
            "2022-05-10T22:06:30Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn sign_files_with_unsafe_duplicate_or_no_names_are_rejected() {
        let h = "c".repeat(64);
        for files in [
            "[]".to_owned(),
            format!(r#"[{{"fileHashValue":"{h}","fileName":"../x"}}]"#),
            format!(r#"[{{"fileHashValue":"{h}","fileName":"a/b"}}]"#),
            format!(r#"[{{"fileHashValue":"{h}","fileName":"result_sign.json"}}]"#),
            format!(
                r#"[{{"fileHashValue":"{h}","fileName":"a"}},{{"fileHashValue":"{h}","fileName":"a"}}]"#
            ),
            r#"[{"fileHashValue":"abc","fileName":"a"}]"#.to_owned(),
        ] {
            assert!(
                SignFile::parse(sign_json(&files).as_bytes()).is_err(),
                "{files}"
            );
        }
    }

    #[test]
    fn folder_prefixes_end_in_one_slash_except_the_root() {
        assert_eq!(folder_prefix(""), "");
        assert_eq!(folder_prefix("/"), "");
        assert_eq!(folder_prefix("a/b"), "a/b/");
        assert_eq!(folder_prefix("a/b/"), "a/b/");
    }

    #[test]
    fn hashing_past_the_cap_stops_unverifiable() {
        let data = vec![0u8; 1000];
        assert!(matches!(
            hash_stream(&data[..], 999),
            Err(ResultFileProblem::TooLarge { limit: 999 })
        ));
        let (_, n) = hash_stream(&data[..], 1000).unwrap();
        assert_eq!(n, 1000);
    }
}
