//! Where CloudTrail puts things: trail ARNs, chain folders and digest key names.
//!
//! Keys (reference section 1), with `P` the trail's key prefix and `O` an organization id:
//! `[P/]AWSLogs/[O/]ACCT/CloudTrail-Digest/REGION/YYYY/MM/DD/ACCT_CloudTrail-Digest_REGION_TRAIL_HOME_YYYYMMDDTHHMMSSZ.json.gz`
//! and the log files under `.../CloudTrail/REGION/...`. The date folders make the keys of one
//! region's folder sort in time order, which is what lets listings start and stop by key.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// A CloudTrail trail ARN: `arn:PARTITION:cloudtrail:REGION:ACCOUNT:trail/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrailArn {
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: String,
    /// The trail's home region.
    pub region: String,
    /// The account that owns the trail (the management account for an organization trail).
    pub account_id: String,
    /// The trail's name.
    pub name: String,
}

/// Why a trail ARN was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{arn:?} is not a trail ARN (arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME): {why}")]
pub struct TrailArnError {
    arn: String,
    why: &'static str,
}

impl FromStr for TrailArn {
    type Err = TrailArnError;

    fn from_str(arn: &str) -> Result<Self, Self::Err> {
        let fail = |why| TrailArnError {
            arn: arn.to_owned(),
            why,
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [scheme, partition, service, region, account, resource] = parts[..] else {
            return Err(fail("it has fewer than six ':'-separated parts"));
        };
        if scheme != "arn" || partition.is_empty() {
            return Err(fail("it does not start with arn:PARTITION:"));
        }
        if service != "cloudtrail" {
            return Err(fail("the service is not cloudtrail"));
        }
        if !is_region(region) {
            return Err(fail("the region is not a region name"));
        }
        if !is_account_id(account) {
            return Err(fail("the account is not 12 digits"));
        }
        let name = resource
            .strip_prefix("trail/")
            .ok_or_else(|| fail("the resource is not trail/NAME"))?;
        if !is_trail_name(name) {
            return Err(fail(
                "the trail name is not 3-128 letters, digits, '.', '_' or '-'",
            ));
        }
        Ok(TrailArn {
            partition: partition.to_owned(),
            region: region.to_owned(),
            account_id: account.to_owned(),
            name: name.to_owned(),
        })
    }
}

impl TrailArn {
    /// Parses a trail ARN; `None` for anything else (a bare trail name, another resource).
    pub fn parse(arn: &str) -> Option<Self> {
        arn.parse().ok()
    }
}

impl fmt::Display for TrailArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:cloudtrail:{}:{}:trail/{}",
            self.partition, self.region, self.account_id, self.name
        )
    }
}

/// True for a 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// True for something shaped like a region name (`us-east-1`, `eu-central-2`, `us-gov-west-1`).
pub fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.contains('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// True for an organization id as CloudTrail writes it in keys (`o-` then 10-32 alphanumerics).
pub fn is_org_id(s: &str) -> bool {
    s.strip_prefix("o-").is_some_and(|rest| {
        (10..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

fn is_trail_name(s: &str) -> bool {
    (3..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Where a trail's files are: bucket, optional key prefix, optional organization id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrailLocation {
    /// The bucket.
    pub bucket: String,
    /// The trail's S3 key prefix, without trailing `/`.
    pub prefix: Option<String>,
    /// For organization trails, the organization id folder under `AWSLogs/`.
    pub org_id: Option<String>,
}

impl TrailLocation {
    /// `[P/]AWSLogs/[O/]`: the folder holding one folder per account.
    pub fn accounts_folder(&self) -> String {
        let mut s = String::new();
        if let Some(p) = self.prefix.as_deref().filter(|p| !p.is_empty()) {
            s.push_str(p.trim_end_matches('/'));
            s.push('/');
        }
        s.push_str("AWSLogs/");
        if let Some(o) = &self.org_id {
            s.push_str(o);
            s.push('/');
        }
        s
    }
}

/// One hash chain: CloudTrail keeps one per account and source region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ChainId {
    /// The account whose events the chain covers (a member account for organization trails).
    pub account_id: String,
    /// The source region.
    pub region: String,
}

/// Everything needed to name a chain's files.
#[derive(Debug, Clone)]
pub struct ChainLayout {
    /// Bucket, prefix, organization.
    pub location: TrailLocation,
    /// Account and source region.
    pub chain: ChainId,
    /// Trail name as it appears in digest keys.
    pub trail_name: String,
    /// The trail's home region as it appears in digest keys.
    pub home_region: String,
}

/// What a digest key's name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestKeyInfo {
    /// The digest's end time, from the name.
    pub end_time: DateTime<Utc>,
    /// Whether it is a backfill digest (`_backfill.json.gz`).
    pub backfill: bool,
}

const KEY_TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";

impl ChainLayout {
    /// The folder holding the chain's digests, ending in `/`.
    pub fn digest_folder(&self) -> String {
        format!(
            "{}{}/CloudTrail-Digest/{}/",
            self.location.accounts_folder(),
            self.chain.account_id,
            self.chain.region
        )
    }

    /// The folder holding the chain's log files, ending in `/`.
    pub fn log_folder(&self) -> String {
        format!(
            "{}{}/CloudTrail/{}/",
            self.location.accounts_folder(),
            self.chain.account_id,
            self.chain.region
        )
    }

    fn digest_name_prefix(&self) -> String {
        format!(
            "{acct}_CloudTrail-Digest_{region}_{trail}_{home}_",
            acct = self.chain.account_id,
            region = self.chain.region,
            trail = self.trail_name,
            home = self.home_region
        )
    }

    /// The key an hourly digest ending at `end` has.
    pub fn digest_key(&self, end: DateTime<Utc>) -> String {
        format!(
            "{}{}/{}{}.json.gz",
            self.digest_folder(),
            end.format("%Y/%m/%d"),
            self.digest_name_prefix(),
            end.format(KEY_TIME_FORMAT)
        )
    }

    /// Reads a key of this chain's digest folder. `None` when the key is not a digest of this
    /// trail (another trail can share the folder) or is malformed.
    pub fn parse_digest_key(&self, key: &str) -> Option<DigestKeyInfo> {
        let rest = key.strip_prefix(&self.digest_folder())?;
        let (date_path, name) = rest.rsplit_once('/')?;
        let stem = name
            .strip_prefix(&self.digest_name_prefix())?
            .strip_suffix(".json.gz")?;
        let (stamp, backfill) = match stem.strip_suffix("_backfill") {
            Some(stamp) => (stamp, true),
            None => (stem, false),
        };
        let end_time = NaiveDateTime::parse_from_str(stamp, KEY_TIME_FORMAT)
            .ok()?
            .and_utc();
        if date_path != end_time.format("%Y/%m/%d").to_string() {
            return None;
        }
        Some(DigestKeyInfo { end_time, backfill })
    }

    /// Whether `key` is a log file of this chain: under its log folder, with CloudTrail's name.
    pub fn is_log_key(&self, key: &str) -> bool {
        self.log_key_time(key).is_some()
    }

    /// The time a log file of this chain is named after
    /// (`ACCT_CloudTrail_REGION_YYYYMMDDTHHMMZ_UNIQUE.json.gz`); `None` for any other key.
    pub fn log_key_time(&self, key: &str) -> Option<DateTime<Utc>> {
        let (_, name) = key.strip_prefix(&self.log_folder())?.rsplit_once('/')?;
        let rest = name
            .strip_prefix(&format!(
                "{}_CloudTrail_{}_",
                self.chain.account_id, self.chain.region
            ))?
            .strip_suffix(".json.gz")?;
        let (stamp, _unique) = rest.split_once('_')?;
        NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%MZ")
            .ok()
            .map(|t| t.and_utc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn layout() -> ChainLayout {
        ChainLayout {
            location: TrailLocation {
                bucket: "b".into(),
                prefix: Some("pre/fix".into()),
                org_id: Some("o-abcdefghij".into()),
            },
            chain: ChainId {
                account_id: "111122223333".into(),
                region: "eu-west-1".into(),
            },
            trail_name: "my_trail".into(),
            home_region: "us-east-1".into(),
        }
    }

    #[test]
    fn digest_keys_round_trip_through_their_names() {
        let l = layout();
        let end = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap();
        let key = l.digest_key(end);
        assert_eq!(
            key,
            "pre/fix/AWSLogs/o-abcdefghij/111122223333/CloudTrail-Digest/eu-west-1/2026/03/04/\
             111122223333_CloudTrail-Digest_eu-west-1_my_trail_us-east-1_20260304T050607Z.json.gz"
        );
        assert_eq!(
            l.parse_digest_key(&key),
            Some(DigestKeyInfo {
                end_time: end,
                backfill: false
            })
        );
        let backfill = key.replace(".json.gz", "_backfill.json.gz");
        assert!(l.parse_digest_key(&backfill).unwrap().backfill);
    }

    #[test]
    fn another_trails_digest_in_the_same_folder_is_not_ours() {
        let l = layout();
        let end = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap();
        let other = l.digest_key(end).replace("_my_trail_", "_other_");
        assert_eq!(l.parse_digest_key(&other), None);
    }

    #[test]
    fn a_digest_name_filed_under_the_wrong_date_folder_is_rejected() {
        let l = layout();
        let end = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap();
        let moved = l.digest_key(end).replace("/2026/03/04/", "/2026/03/05/");
        assert_eq!(l.parse_digest_key(&moved), None);
    }

    #[test]
    fn trail_arns_parse_and_print_back() {
        let arn: TrailArn = "arn:aws:cloudtrail:us-east-1:111122223333:trail/t-1"
            .parse()
            .unwrap();
        assert_eq!(arn.name, "t-1");
        assert_eq!(
            arn.to_string(),
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/t-1"
        );
        for bad in [
            "arn:aws:s3:us-east-1:111122223333:trail/t-1",
            "arn:aws:cloudtrail:us-east-1:1111:trail/t-1",
            "arn:aws:cloudtrail:us-east-1:111122223333:bucket/t-1",
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/a/../b",
            "trail",
        ] {
            assert!(bad.parse::<TrailArn>().is_err(), "{bad}");
        }
    }

    #[test]
    fn log_keys_are_recognised_only_under_the_chain_folder() {
        let l = layout();
        let good = format!(
            "{}2026/03/04/111122223333_CloudTrail_eu-west-1_20260304T0505Z_abcdefghijklmnop.json.gz",
            l.log_folder()
        );
        assert!(l.is_log_key(&good));
        assert!(!l.is_log_key(&good.replace("eu-west-1/", "eu-west-2/")));
    }
}
