//! Reviewed exceptions (`--exceptions FILE`): hours a person has looked at and accepted although
//! nothing proves them, such as a restart older than CloudTrail's event history.
//!
//! An entry names a chain (or all chains), a time span, why, who approved it and until when.
//! It turns only an *unverifiable* coverage gap lying wholly inside its span into an accepted
//! one (valid, listed with its entry in every output); it never excuses an invalid finding, a
//! changed byte or a foreign object, and an expired entry stops applying (the run says so).
//! The decision is the trust core's (`crate::trust::exceptions`); this module reads the file.
//!
//! ```json
//! {"format": "ctverify-exceptions", "version": 1,
//!  "exceptions": [{"chain": "111122223333/us-east-1", "from": "2026-01-05T00:00:00Z",
//!                  "to": "2026-01-05T08:00:00Z", "reason": "maintenance, change CHG-1234",
//!                  "approved_by": "security@example.com", "expires": "2027-01-01T00:00:00Z"}]}
//! ```

use crate::layout::{ChainId, is_account_id, is_region};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `format` of every exceptions file.
pub const EXCEPTIONS_FORMAT: &str = "ctverify-exceptions";
/// The version of the format this crate reads.
pub const EXCEPTIONS_VERSION: u32 = 1;
/// Largest exceptions file read: it is written by people.
pub const MAX_EXCEPTIONS_BYTES: u64 = 1 << 20;

/// An exceptions file, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceptions {
    /// The entries, in file order (an accepted gap names its entry by position).
    pub entries: Vec<Exception>,
    /// SHA-256 of the file as read, hex: the report's provenance records it.
    pub sha256: String,
}

/// One reviewed exception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    /// `ACCOUNT/REGION`, or `all`.
    pub chain: String,
    /// Start of the accepted span.
    pub from: DateTime<Utc>,
    /// End of the accepted span.
    pub to: DateTime<Utc>,
    /// Why the hours are accepted.
    pub reason: String,
    /// Who approved it.
    pub approved_by: String,
    /// When the entry stops applying.
    pub expires: DateTime<Utc>,
}

impl Exception {
    /// Whether the entry is about `chain`.
    pub fn applies_to(&self, chain: &ChainId) -> bool {
        self.chain == "all" || self.chain == format!("{}/{}", chain.account_id, chain.region)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: String,
    version: u32,
    exceptions: Vec<Exception>,
}

/// Why an exceptions file was refused.
#[derive(Debug, thiserror::Error)]
#[error("{location} is not a usable exceptions file: {reason}")]
pub struct ExceptionsError {
    /// Where it was read.
    pub location: String,
    /// What is wrong.
    pub reason: String,
}

impl Exceptions {
    /// Parses and checks an exceptions file: every entry needs a chain (`ACCOUNT/REGION` or
    /// `all`), `from` before `to`, a reason and an approver.
    ///
    /// # Errors
    /// [`ExceptionsError`] naming `location` and the entry.
    pub fn parse(bytes: &[u8], location: &str) -> Result<Self, ExceptionsError> {
        let fail = |reason: String| ExceptionsError {
            location: location.to_owned(),
            reason,
        };
        if bytes.len() as u64 > MAX_EXCEPTIONS_BYTES {
            return Err(fail(format!("larger than {MAX_EXCEPTIONS_BYTES} bytes")));
        }
        let file: File = serde_json::from_slice(bytes).map_err(|e| fail(e.to_string()))?;
        if file.format != EXCEPTIONS_FORMAT {
            return Err(fail(format!(
                "format is {:?}, not {EXCEPTIONS_FORMAT:?}",
                file.format
            )));
        }
        if file.version != EXCEPTIONS_VERSION {
            return Err(fail(format!(
                "version {} (this ctverify reads version {EXCEPTIONS_VERSION})",
                file.version
            )));
        }
        for (i, e) in file.exceptions.iter().enumerate() {
            let chain_ok = e.chain == "all"
                || e.chain
                    .split_once('/')
                    .is_some_and(|(a, r)| is_account_id(a) && is_region(r));
            let why = if !chain_ok {
                Some("chain must be ACCOUNT/REGION or all")
            } else if e.from >= e.to {
                Some("from must be before to")
            } else if e.reason.trim().is_empty() {
                Some("a reason is required")
            } else if e.approved_by.trim().is_empty() {
                Some("approved_by is required")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(fail(format!("exceptions[{i}]: {why}")));
            }
        }
        Ok(Exceptions {
            entries: file.exceptions,
            sha256: hex::encode(Sha256::digest(bytes)),
        })
    }

    /// The entries that have expired by `now`, with their positions: they no longer apply.
    pub fn expired(&self, now: DateTime<Utc>) -> impl Iterator<Item = (usize, &Exception)> {
        self.entries
            .iter()
            .enumerate()
            .filter(move |(_, e)| e.expires <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"format":"ctverify-exceptions","version":1,"exceptions":[
        {"chain":"111122223333/us-east-1","from":"2026-01-05T00:00:00Z","to":"2026-01-05T08:00:00Z",
         "reason":"maintenance","approved_by":"sec@example.com","expires":"2027-01-01T00:00:00Z"}]}"#;

    #[test]
    fn a_reviewed_exceptions_file_reads_with_its_hash() {
        let e = Exceptions::parse(GOOD.as_bytes(), "x").unwrap();
        assert_eq!(e.entries.len(), 1);
        assert_eq!(e.sha256.len(), 64);
    }

    #[test]
    fn an_entry_without_an_approver_or_with_a_bad_chain_is_refused() {
        for (from, to) in [
            (r#""approved_by":"sec@example.com""#, r#""approved_by":" ""#),
            (r#""111122223333/us-east-1""#, r#""us-east-1""#),
            (
                r#""to":"2026-01-05T08:00:00Z""#,
                r#""to":"2026-01-04T08:00:00Z""#,
            ),
            (r#""version":1"#, r#""version":2"#),
            (
                r#""reason":"maintenance""#,
                r#""reason":"maintenance","extra":1"#,
            ),
        ] {
            let text = GOOD.replace(from, to);
            assert!(Exceptions::parse(text.as_bytes(), "x").is_err(), "{text}");
        }
    }
}
