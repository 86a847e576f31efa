//! The header every document ctverify keeps between runs begins with: a sweep's plan
//! ([`crate::plan::Plan`]) and a checkpoint state ([`crate::state::State`]). Both are read back
//! from places someone else may write, so both are checked the same way before anything in them
//! is used: what the document is, in which version, and which trail and bucket it is about.

use crate::layout::TrailArn;
use serde::{Deserialize, Serialize};

/// What a document is and which trail it belongs to. Plans and states carry these fields at
/// their top level (the header is flattened into them), so the files read as they always have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentHeader {
    /// What the document is: `ctverify-plan`, `ctverify-state`.
    pub format: String,
    /// The version of that format.
    pub version: u32,
    /// The trail's ARN, checked when the document is read.
    pub trail: TrailArn,
    /// The bucket the trail's files are read from.
    pub bucket: String,
    /// The trail's key prefix; `None`, never empty.
    pub prefix: Option<String>,
}

impl DocumentHeader {
    /// The header of a new document of `format` and `version` about a trail; an empty prefix is
    /// no prefix.
    pub fn new(
        format: &str,
        version: u32,
        trail: TrailArn,
        bucket: impl Into<String>,
        prefix: Option<String>,
    ) -> Self {
        DocumentHeader {
            format: format.to_owned(),
            version,
            trail,
            bucket: bucket.into(),
            prefix: prefix.filter(|p| !p.is_empty()),
        }
    }

    /// Checks that the document is a `format` of `version`, the only one this crate reads: a
    /// newer version may mean something this one would misread.
    ///
    /// # Errors
    /// What was found instead, in words.
    pub fn check(&self, format: &str, version: u32) -> Result<(), String> {
        if self.format != format || self.version != version {
            return Err(format!(
                "format {:?} version {} (this ctverify reads {format:?} version {version})",
                self.format, self.version
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(format: &str, version: u32) -> DocumentHeader {
        let trail = "arn:aws:cloudtrail:us-east-1:111122223333:trail/main"
            .parse()
            .expect("an ARN");
        DocumentHeader::new(format, version, trail, "b", Some(String::new()))
    }

    #[test]
    fn only_the_expected_format_and_version_pass() {
        assert_eq!(header("ctverify-plan", 1).check("ctverify-plan", 1), Ok(()));
        let wrong_kind = header("ctverify-state", 1).check("ctverify-plan", 1);
        assert!(wrong_kind.unwrap_err().contains("\"ctverify-state\""));
        assert!(
            header("ctverify-plan", 2)
                .check("ctverify-plan", 1)
                .is_err()
        );
    }

    #[test]
    fn an_empty_prefix_is_no_prefix() {
        assert_eq!(header("x", 1).prefix, None);
    }

    #[test]
    fn a_trail_that_is_no_arn_is_refused_when_read() {
        let text = r#"{"format":"ctverify-plan","version":1,"trail":"not an arn","bucket":"b","prefix":null}"#;
        assert!(serde_json::from_str::<DocumentHeader>(text).is_err());
        let good = text.replace(
            "not an arn",
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/main",
        );
        assert!(serde_json::from_str::<DocumentHeader>(&good).is_ok());
    }
}
