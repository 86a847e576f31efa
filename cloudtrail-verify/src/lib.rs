//! Verify the integrity of AWS CloudTrail log files.
//!
//! With log-file validation on, CloudTrail delivers every hour, per region, a *digest file*
//! listing the SHA-256 of each log file it delivered, signed with a per-region RSA key and
//! chained to the previous digest. This crate walks those chains, checks every signature and
//! link, and hashes every log file, and returns a typed [`Report`]: each file is
//! [`Status::Valid`], [`Status::Invalid`] (evidence of tampering) or [`Status::Unverifiable`]
//! (could not be checked). It never prints.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use cloudtrail_verify::{KeySet, LocalDirectory, TimeRange, TrailTarget, VerifyOptions};
//! use std::sync::Arc;
//! let keys = KeySet::from_list_public_keys_json(&std::fs::read("keys.json")?)?;
//! let source = Arc::new(LocalDirectory::new("copy")?);
//! let arn = "arn:aws:cloudtrail:us-east-1:111122223333:trail/t".parse()?;
//! let target = TrailTarget::new(arn, "my-bucket", None);
//! let range = TimeRange::new("2026-01-01T00:00:00Z".parse()?, "2026-01-02T00:00:00Z".parse()?)?;
//! let report =
//!     cloudtrail_verify::verify_trail(source, keys, &target, range, VerifyOptions::default())
//!         .await?;
//! println!("{:?}", report.status);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

#[cfg(feature = "aws")]
pub mod aws;
pub mod export;
pub mod findings;
pub mod keys;
pub mod layout;
pub mod loghash;
pub mod messages;
pub mod options;
pub mod report;
pub mod schema;
pub mod signing;
pub mod source;
#[cfg(feature = "aws")]
pub mod trail_api;
pub mod trust;
pub mod verifier;
pub mod verify;
mod walk;

pub use keys::{KeyError, KeySet, PublicKey};
pub use layout::{ChainId, ChainLayout, TrailArn, TrailLocation};
pub use report::{
    ChainReport, Counts, CoverageGap, DigestProblem, DigestReport, ForeignObject, GapKind,
    BundleProblem, LogProblem, LogReport, ObjectProblem, Provenance, Report, Status, Summary,
};
pub use source::{LocalDirectory, Object, ObjectSource, SourceError};
pub use verifier::{SetupError, Verifier, VerifierBuilder};
pub use verify::{
    Progress, RangeError, TimeRange, TrailTarget, VerifyError, VerifyOptions, discover_chains,
    expected_chains, verify_chains, verify_trail,
};
