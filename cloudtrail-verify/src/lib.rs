//! Verify the integrity of AWS CloudTrail log files.
//!
//! With log-file validation on, CloudTrail delivers every hour, per region, a *digest file*
//! listing the SHA-256 of each log file it delivered, signed with a per-region RSA key and
//! chained to the previous digest
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-intro.html>).
//! This crate walks those chains, checks every signature and link, hashes every log file, and
//! returns a typed [`Report`]. It never prints.
//!
//! # Start here
//!
//! [`Verifier`] is the one entry point: from S3 with an AWS session, or from a local copy with
//! CloudTrail's public keys saved beforehand.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use cloudtrail_verify::{Status, TimeRange, Verifier};
//! let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//! let arn = "arn:aws:cloudtrail:us-east-1:111122223333:trail/main".parse()?;
//! let range = TimeRange::new("2026-01-01T00:00:00Z".parse()?, "2026-01-02T00:00:00Z".parse()?)?;
//! let report = Verifier::from_s3(&conf, arn, range).verify().await?;
//! match report.status {
//!     Status::Valid => println!("every hour proven"),
//!     Status::Invalid => println!("evidence of tampering"),
//!     Status::Unverifiable => println!("could not be proven"),
//! }
//! # Ok(()) }
//! ```
//!
//! Scheduled and large runs build on the same [`Verifier`]:
//! [`VerifierBuilder::resume_from`] verifies only what is new since a checkpoint [`state`] and
//! proves it joins it; [`Verifier::run_observed`] gives each verdict to a [`RunObserver`] as soon
//! as it is final ([`events`]), so memory does not grow with the range; [`Verifier::plan`] and
//! [`VerifierBuilder::shard`] split a range among processes, and [`plan::merge`] joins their
//! reports into a single run's verdict. States, plans and reports are kept in a file or an S3
//! object ([`storage`]).
//!
//! # The verdict
//!
//! Each file, chain and run is [`Status::Valid`], [`Status::Invalid`] (evidence of tampering)
//! or [`Status::Unverifiable`] (could not be checked: access denied, network, keys). A run is
//! valid only when every expected chain's range is covered, instant by instant, by valid
//! digests, every log file they list verifies and nothing foreign sits in the trail's folders:
//! "valid" is derived from a proof of coverage, never from the absence of problems among the
//! files found. Every problem is a typed [`DigestProblem`], [`LogProblem`] or [`CoverageGap`]
//! whose `Display` (module [`messages`]) is the sentence the `ctverify` command line prints.
//!
//! # Design
//!
//! * The trust core (private) decides with pure functions over parsed types: the class of each
//!   problem, a digest's judgement (signature, key, links, metadata), the coverage rules and
//!   the lifecycle excuses. It does no I/O and is table-tested.
//! * The walk (private) only schedules reads through an [`ObjectSource`]: listings of the
//!   range's day folders, digests newest to oldest with bounded prefetch, log files hashed
//!   while streaming with a size cap. [`LocalDirectory`] and (feature `aws`) [`S3Source`]
//!   implement the trait; any other transport can.
//! * [`Verifier`] resolves a run (DescribeTrails, the bucket's region, the chains that must
//!   exist, ListPublicKeys per region over the range plus the signing margin, retries and
//!   timeouts) so an embedder does not carry trust policy of its own.
//! * The [`report`] is a contract: `schema_version`, Serialize and Deserialize, and a JSON
//!   Schema generated from the types (feature `schema`, `report::report_schema`).
//!
//! # Features
//!
//! `aws` (default): S3, CloudTrail and the AWS session. Without it the crate verifies local
//! copies and any [`ObjectSource`], with no AWS SDK. `schema`: the report's JSON Schema.

#![deny(missing_docs)]

// The public modules: the session (`aws`), verdicts as they come (`events`), CloudTrail's naming
// of keys (`layout`), the words of findings (`messages`), the report (`report`), object sources
// (`source`), checkpoint states (`state`) and where such documents are kept (`storage`). Everything else is
// plumbing, reached through the re-exports below.
#[cfg(feature = "aws")]
pub mod aws;
mod bundle;
mod chains;
pub mod cost;
pub mod document;
pub mod events;
pub mod exceptions;
pub mod export;
mod findings;
mod history;
mod join;
mod keys;
pub mod lake;
pub mod layout;
mod local_copy;
mod loghash;
pub mod messages;
mod options;
pub mod plan;
pub mod report;
pub mod report_findings;
#[cfg(feature = "aws")]
mod resolve;
mod schema;
pub mod session_trust;
mod setup;
mod signing;
pub mod source;
pub mod state;
pub mod storage;
mod task;
#[cfg(feature = "aws")]
mod trail_api;
mod trust;
mod verifier;
mod verify;
mod walk;
mod words;

/// The AWS SDK's configuration crate, whose `SdkConfig` [`Verifier::from_s3`] takes: use this
/// one to be sure the versions match.
#[cfg(feature = "aws")]
pub use aws_config;
pub use events::{RunEvent, RunObserver};
pub use keys::{KeyError, KeySet, KeysSource, PublicKey, SIGNING_DELAY_MARGIN};
pub use layout::{ChainId, ChainLayout, TrailArn, TrailArnError, TrailLocation};
pub use options::{DEFAULT_MAX_DIGEST_BYTES, DEFAULT_MAX_LOG_BYTES};
pub use report::{
    BundleProblem, ChainHead, ChainReport, ChainScope, CheckpointCheck, CheckpointProblem, Counts,
    CoverageGap, DigestProblem, DigestReport, ForeignObject, GapKind, LogProblem, LogReport,
    ObjectProblem, Provenance, Report, Status, Summary, TrailEvent,
};
#[cfg(feature = "aws")]
pub use source::S3Source;
pub use source::{LocalDirectory, Object, ObjectSource, SourceError};
#[cfg(feature = "aws")]
pub use trail_api::TrailApiError;
pub use verifier::{SetupError, Verifier, VerifierBuilder};
pub use verify::{Progress, RangeError, TimeRange, TrailTarget, VerifyError, VerifyOptions};

/// Internals reachable only for the fuzz targets and the parsers' property tests: not part of
/// the API, and may change in any release.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::schema::DigestFile;
}
