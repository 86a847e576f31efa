//! Where CloudTrail puts things: trail ARNs, chain folders and digest key names.
//!
//! Keys (AWS CloudTrail User Guide: "Finding your CloudTrail log files", "CloudTrail digest file structure"), with `P` the trail's key prefix and `O` an organization id:
//! `[P/]AWSLogs/[O/]ACCT/CloudTrail-Digest/REGION/YYYY/MM/DD/ACCT_CloudTrail-Digest_REGION_TRAIL_HOME_YYYYMMDDTHHMMSSZ.json.gz`
//! and the log files under `.../CloudTrail/REGION/...`. The date folders make the keys of one
//! region's folder sort in time order, which is what lets listings start and stop by key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A CloudTrail trail ARN: `arn:PARTITION:cloudtrail:REGION:ACCOUNT:trail/NAME`. In documents
/// (a checkpoint state) it is written as the ARN's text and checked when read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
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

impl From<TrailArn> for String {
    fn from(arn: TrailArn) -> String {
        arn.to_string()
    }
}

impl TryFrom<String> for TrailArn {
    type Error = TrailArnError;

    fn try_from(arn: String) -> Result<Self, Self::Error> {
        arn.parse()
    }
}

/// In the report's JSON Schema a trail ARN is a string of the ARN's shape.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for TrailArn {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TrailArn".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^arn:[^:]+:cloudtrail:[^:]+:[0-9]{12}:trail/[A-Za-z0-9._-]{3,128}$"
        })
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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ChainId {
    /// The account whose events the chain covers (a member account for organization trails).
    pub account_id: String,
    /// The source region.
    pub region: String,
}

impl fmt::Display for ChainId {
    /// `ACCOUNT/REGION`, as the chain's folders are named.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account_id, self.region)
    }
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

    /// This chain as delivered to `bucket` under another prefix or organization folder, when
    /// `key` is one of this trail's digests of this chain there: the trail was moved with
    /// UpdateTrail, and CloudTrail's chain goes on across the move (the first digest in the new
    /// place names its predecessor in the old one). `None` when `key` is not such a digest
    /// name (the trail name, home region, account and region must all be this chain's).
    pub fn moved_to(&self, bucket: &str, key: &str) -> Option<ChainLayout> {
        let (prefix, rest) = if let Some(rest) = key.strip_prefix("AWSLogs/") {
            (None, rest)
        } else {
            let (prefix, rest) = key.split_once("/AWSLogs/")?;
            (Some(prefix.to_owned()), rest)
        };
        let org_id = rest
            .split_once('/')
            .map(|(first, _)| first)
            .filter(|first| is_org_id(first))
            .map(str::to_owned);
        let moved = ChainLayout {
            location: TrailLocation {
                bucket: bucket.to_owned(),
                prefix,
                org_id,
            },
            ..self.clone()
        };
        moved.parse_digest_key(key).map(|_| moved)
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
    /// trail (another trail can share the folder) or is malformed. Parsing is exact: the name
    /// must be byte for byte what CloudTrail writes, in the date folder of its own time.
    pub fn parse_digest_key(&self, key: &str) -> Option<DigestKeyInfo> {
        match self.classify_digest_folder_key(key) {
            DigestFolderEntry::Ours(info) => Some(info),
            _ => None,
        }
    }

    /// Says what a key listed under this chain's digest folder is: one of this trail's
    /// digests, another trail's digest (trails can share a bucket and prefix), or an object
    /// CloudTrail does not write.
    pub fn classify_digest_folder_key(&self, key: &str) -> DigestFolderEntry {
        let Some(rest) = key.strip_prefix(&self.digest_folder()) else {
            return DigestFolderEntry::Foreign("not under the chain's digest folder");
        };
        let Some((date_path, name)) = rest.rsplit_once('/') else {
            return DigestFolderEntry::Foreign("not in a YYYY/MM/DD date folder");
        };
        let own_prefix = format!(
            "{}_CloudTrail-Digest_{}_",
            self.chain.account_id, self.chain.region
        );
        let Some(stem) = name
            .strip_prefix(&own_prefix)
            .and_then(|n| n.strip_suffix(".json.gz"))
        else {
            return DigestFolderEntry::Foreign("not a CloudTrail digest file name");
        };
        let (stem, backfill) = match stem.strip_suffix("_backfill") {
            Some(stem) => (stem, true),
            None => (stem, false),
        };
        // TRAIL_HOME_STAMP: the trail name may hold '_', the region and stamp do not.
        let parts = stem.rsplit_once('_').and_then(|(trail_home, stamp)| {
            let (trail, home) = trail_home.rsplit_once('_')?;
            Some((trail, home, stamp))
        });
        let Some((trail, home, stamp)) = parts else {
            return DigestFolderEntry::Foreign("not a CloudTrail digest file name");
        };
        let Some(end_time) = parse_exact_stamp(stamp, true) else {
            return DigestFolderEntry::Foreign("the time in the name is not YYYYMMDDTHHMMSSZ");
        };
        if !is_trail_name(trail) || !is_region(home) {
            return DigestFolderEntry::Foreign("not a CloudTrail digest file name");
        }
        if date_path != date_folder(end_time) {
            return DigestFolderEntry::Foreign(MISFILED);
        }
        let info = DigestKeyInfo { end_time, backfill };
        if trail == self.trail_name && home == self.home_region {
            DigestFolderEntry::Ours(info)
        } else {
            DigestFolderEntry::OtherTrail {
                trail_name: trail.to_owned(),
                home_region: home.to_owned(),
                info,
            }
        }
    }

    /// Whether `key` is a log file of this chain: under its log folder, with CloudTrail's name.
    pub fn is_log_key(&self, key: &str) -> bool {
        self.log_key_time(key).is_some()
    }

    /// The time a log file of this chain is named after
    /// (`ACCT_CloudTrail_REGION_YYYYMMDDTHHMMZ_UNIQUE.json.gz`, `UNIQUE` 16 letters and digits,
    /// in the date folder of that time); `None` for any other key.
    pub fn log_key_time(&self, key: &str) -> Option<DateTime<Utc>> {
        self.classify_log_folder_key(key).ok()
    }

    /// Says what a key listed under this chain's log folder is: a log file named after the
    /// time returned, or why CloudTrail cannot have written it.
    pub fn classify_log_folder_key(&self, key: &str) -> Result<DateTime<Utc>, &'static str> {
        let rest = key
            .strip_prefix(&self.log_folder())
            .ok_or("not under the chain's log folder")?;
        let (date_path, name) = rest
            .rsplit_once('/')
            .ok_or("not in a YYYY/MM/DD date folder")?;
        let stem = name
            .strip_prefix(&format!(
                "{}_CloudTrail_{}_",
                self.chain.account_id, self.chain.region
            ))
            .and_then(|n| n.strip_suffix(".json.gz"))
            .ok_or("not a CloudTrail log file name")?;
        let (stamp, unique) = stem
            .split_once('_')
            .ok_or("not a CloudTrail log file name")?;
        if unique.len() != 16 || !unique.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("not a CloudTrail log file name");
        }
        let time =
            parse_exact_stamp(stamp, false).ok_or("the time in the name is not YYYYMMDDTHHMMZ")?;
        if date_path != date_folder(time) {
            return Err(MISFILED);
        }
        Ok(time)
    }
}

/// What a key found in a chain's digest folder is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestFolderEntry {
    /// A digest of the trail being verified.
    Ours(DigestKeyInfo),
    /// A well-formed digest name of another trail writing to the same folder.
    OtherTrail {
        /// The other trail's name.
        trail_name: String,
        /// The other trail's home region.
        home_region: String,
        /// What the name says.
        info: DigestKeyInfo,
    },
    /// Something CloudTrail does not write there, and why.
    Foreign(&'static str),
}

/// Why a CloudTrail name filed under another day's folder is foreign.
pub const MISFILED: &str = "filed under a date folder other than its time's";

/// The `YYYY/MM/DD` folder of a time.
pub fn date_folder(t: DateTime<Utc>) -> String {
    t.format("%Y/%m/%d").to_string()
}

/// Parses `YYYYMMDDTHHMMSSZ` (`with_seconds`) or `YYYYMMDDTHHMMZ` exactly: fixed width, ASCII
/// digits only. chrono's parser tolerates spaces and variable widths, which would let a
/// planted name pass for a digest's.
fn parse_exact_stamp(stamp: &str, with_seconds: bool) -> Option<DateTime<Utc>> {
    let b = stamp.as_bytes();
    let len = if with_seconds { 16 } else { 14 };
    if b.len() != len || b[8] != b'T' || b[len - 1] != b'Z' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let date = chrono::NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(4..6)?, digits(6..8)?)?;
    let seconds = if with_seconds { digits(13..15)? } else { 0 };
    let time = date.and_hms_opt(digits(9..11)?, digits(11..13)?, seconds)?;
    Some(time.and_utc())
}

/// The chain unit tests use: trail `t-1` (home us-east-1) writing to bucket `b`, no prefix,
/// account 111122223333 in us-east-1.
#[cfg(test)]
pub(crate) fn test_chain_layout() -> ChainLayout {
    ChainLayout {
        location: TrailLocation {
            bucket: "b".into(),
            prefix: None,
            org_id: None,
        },
        chain: ChainId {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
        },
        trail_name: "t-1".into(),
        home_region: "us-east-1".into(),
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
    fn loosely_shaped_digest_names_are_foreign_not_ours() {
        let l = layout();
        let end = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap();
        let key = l.digest_key(end);
        for bad in [
            key.replace("20260304T050607Z", "20260304T 50607Z"),
            key.replace("20260304T050607Z", "20260304t050607Z"),
            key.replace("20260304T050607Z", "2026034T050607Z"),
            key.replace("20260304T050607Z", "+0260304T050607Z"),
            key.replace("20260304T050607Z", "20260304T0506Z"),
            key.replace("20260304T050607Z", "20261304T050607Z"),
            key.replace(".json.gz", ".JSON.GZ"),
            key.replace(".json.gz", ".json"),
            key.replace("_CloudTrail-Digest_", "_cloudtrail-digest_"),
            format!("{}2026/03/04/evil.json.gz", l.digest_folder()),
            format!("{}evil", l.digest_folder()),
        ] {
            assert!(
                matches!(
                    l.classify_digest_folder_key(&bad),
                    DigestFolderEntry::Foreign(_)
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn another_trails_digest_is_recognised_as_such() {
        let l = layout();
        let end = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap();
        let other = l
            .digest_key(end)
            .replace("_my_trail_us-east-1_", "_other_trail_eu-west-2_");
        assert_eq!(
            l.classify_digest_folder_key(&other),
            DigestFolderEntry::OtherTrail {
                trail_name: "other_trail".into(),
                home_region: "eu-west-2".into(),
                info: DigestKeyInfo {
                    end_time: end,
                    backfill: false
                }
            }
        );
    }

    #[test]
    fn loosely_shaped_log_names_are_not_log_files() {
        let l = layout();
        let good = format!(
            "{}2026/03/04/111122223333_CloudTrail_eu-west-1_20260304T0505Z_abcdefghijklmnop.json.gz",
            l.log_folder()
        );
        assert!(l.classify_log_folder_key(&good).is_ok());
        for bad in [
            good.replace("T0505Z", "T050500Z"),
            good.replace("T0505Z", "T05 5Z"),
            good.replace(".json.gz", ".json"),
            good.replace(".json.gz", ".JSON.GZ"),
            good.replace("/2026/03/04/", "/2026/03/05/"),
            good.replace("abcdefghijklmnop", "abc"),
            good.replace("abcdefghijklmnop", "abcdefghijklmno!"),
            format!("{}2026/03/04/evil.json.gz", l.log_folder()),
        ] {
            assert!(l.classify_log_folder_key(&bad).is_err(), "{bad}");
        }
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
