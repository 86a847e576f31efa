//! Plain facts gathered from the SDK's answers: what the verdict functions of [`crate::verdict`]
//! and [`crate::retention`] judge. Building them is the only place an SDK answer is interpreted;
//! judging them calls nothing, so every case (including those a local test server cannot
//! produce) can be tested directly.

use aws_sdk_kms::types::{KeyMetadata, KeySpec, KeyState, KeyUsageType};

/// What reading one setting gave.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Observed<T> {
    /// The setting, as read.
    Present(T),
    /// The resource has none (for example `NoSuchBucketPolicy`).
    Absent,
    /// It could not be read; the text says why (`Code: message`).
    Unreadable(String),
}

impl<T> Observed<T> {
    /// The value, if present.
    pub fn present(&self) -> Option<&T> {
        match self {
            Observed::Present(v) => Some(v),
            _ => None,
        }
    }

    /// Applies `f` to a present value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Observed<U> {
        match self {
            Observed::Present(v) => Observed::Present(f(v)),
            Observed::Absent => Observed::Absent,
            Observed::Unreadable(why) => Observed::Unreadable(why),
        }
    }
}

/// A KMS key as `DescribeKey` and `GetKeyPolicy` describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyFacts {
    /// Key ARN.
    pub arn: String,
    /// Key id.
    pub key_id: String,
    /// The key's region (from its ARN, else where it was looked up).
    pub region: String,
    /// `KeyState`, if reported.
    pub state: Option<KeyState>,
    /// `KeySpec`, if reported.
    pub spec: Option<KeySpec>,
    /// `KeyUsage`, if reported (moto omits it when CreateKey was not given one).
    pub usage: Option<KeyUsageType>,
    /// The key policy named `default`, as JSON text.
    pub policy: Observed<String>,
}

impl KeyFacts {
    /// Facts from `DescribeKey`'s metadata of the key looked up as `requested` in
    /// `looked_up_in`, and the key policy read separately.
    pub fn from_metadata(
        requested: &str,
        meta: &KeyMetadata,
        looked_up_in: &str,
        policy: Observed<String>,
    ) -> Self {
        let arn = meta.arn().unwrap_or(requested).to_owned();
        let region = kms_arn_region(&arn).unwrap_or(looked_up_in).to_owned();
        Self {
            key_id: meta.key_id().to_owned(),
            region,
            state: meta.key_state().cloned(),
            spec: meta.key_spec().cloned(),
            usage: meta.key_usage().cloned(),
            policy,
            arn,
        }
    }
}

/// The result of looking a key up (`DescribeKey`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum KeyLookup {
    /// The key exists.
    Found(Box<KeyFacts>),
    /// `NotFoundException`: the text says where it was looked for.
    NotFound(String),
    /// The lookup failed for another reason (denied, network…).
    Failed(String),
}

/// The region in a KMS key or alias ARN (`arn:PARTITION:kms:REGION:ACCOUNT:key/ID`).
pub fn kms_arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("kms"), Some(region)) if !region.is_empty() => Some(region),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_arn_region_reads_key_and_alias_arns() {
        assert_eq!(
            kms_arn_region("arn:aws:kms:eu-west-1:111122223333:key/abc"),
            Some("eu-west-1")
        );
        assert_eq!(kms_arn_region("alias/x"), None);
        assert_eq!(kms_arn_region("1234abcd"), None);
    }

    #[test]
    fn key_region_comes_from_the_arn_not_the_lookup_region() {
        let meta = KeyMetadata::builder()
            .key_id("k")
            .arn("arn:aws:kms:eu-west-1:111122223333:key/k")
            .build()
            .ok();
        let facts = meta.map(|m| KeyFacts::from_metadata("k", &m, "us-east-1", Observed::Absent));
        assert_eq!(facts.map(|f| f.region).as_deref(), Some("eu-west-1"));
    }
}
