//! Wire format of a CloudTrail digest file.
//!
//! These types describe what the JSON *says*; nothing here is trusted. The chain walk
//! (`crate::walk`) decides what to believe after checking signatures and links. A parsed digest
//! keeps the exact decompressed bytes it came from, because signatures and the chain's
//! `previousDigestHashValue` cover those bytes, never a re-serialisation (real digests escape `/`
//! as `\/`, which serde_json would not reproduce).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// The only signature algorithm CloudTrail uses for digests.
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";
/// The only hash algorithm CloudTrail uses for log files and previous digests.
pub const HASH_ALGORITHM: &str = "SHA-256";

/// Why a digest file's bytes could not be read as a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestFormatError {
    /// The bytes are not JSON, or not JSON of a digest's shape.
    #[error("not a digest: {0}")]
    Json(String),
    /// A field the format requires is absent or null.
    #[error("required field {0} is missing")]
    MissingField(&'static str),
    /// A time field is not an RFC 3339 time.
    #[error("field {field} is not a time: {value:?}")]
    BadTime {
        /// The field's JSON name.
        field: &'static str,
        /// The value found.
        value: String,
    },
    /// A hash field is not 64 hexadecimal digits.
    #[error("field {field} is not a hex SHA-256: {value:?}")]
    BadHash {
        /// The field's JSON name.
        field: &'static str,
        /// The value found.
        value: String,
    },
    /// The five `previousDigest*` fields must be all null (a chain start) or all set.
    #[error("previousDigest* fields are partly null")]
    PartialPreviousReference,
}

/// One entry of a digest's `logFiles` list, as written.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LogFileEntry {
    /// Bucket the log file was delivered to.
    pub s3_bucket: String,
    /// Key of the log file.
    pub s3_object: String,
    /// Hex SHA-256 of the *uncompressed* log file.
    pub hash_value: String,
    /// Hash algorithm; CloudTrail writes `SHA-256`.
    pub hash_algorithm: String,
    /// Time of the newest event in the file.
    #[serde(default)]
    pub newest_event_time: Option<String>,
    /// Time of the oldest event in the file.
    #[serde(default)]
    pub oldest_event_time: Option<String>,
}

/// A digest's `logFiles`, held compactly: every string of every entry in one buffer, each entry
/// six ranges of it. A digest just under the 16 MiB cap can list ~250,000 entries; as separate
/// `LogFileEntry` values (six strings each, four of them allocated) that was about 60 MB per
/// digest, several of which a run holds at once. Entries are handed out one at a time, owned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFiles {
    /// The entries' strings, one after the other.
    text: String,
    /// Per entry: where each of its six fields lies in `text` (`NONE` for an absent time).
    entries: Vec<[(u32, u32); 6]>,
}

/// The range of an absent optional field.
const NONE: (u32, u32) = (u32::MAX, 0);

impl LogFiles {
    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry at `index`, owned.
    pub fn get(&self, index: usize) -> Option<LogFileEntry> {
        let fields = self.entries.get(index)?;
        let field = |(start, len): (u32, u32)| {
            let (start, len) = (start as usize, len as usize);
            self.text.get(start..start + len).map(str::to_owned)
        };
        Some(LogFileEntry {
            s3_bucket: field(fields[0]).unwrap_or_default(),
            s3_object: field(fields[1]).unwrap_or_default(),
            hash_value: field(fields[2]).unwrap_or_default(),
            hash_algorithm: field(fields[3]).unwrap_or_default(),
            newest_event_time: field(fields[4]),
            oldest_event_time: field(fields[5]),
        })
    }

    /// The entries in order, each owned.
    pub fn iter(&self) -> impl Iterator<Item = LogFileEntry> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Appends `entry`; false (and nothing appended) when the strings would pass 4 GiB in all,
    /// which a range of the buffer cannot address (a digest is capped far below that: 16 MiB
    /// decompressed by default).
    pub fn push(&mut self, entry: &LogFileEntry) -> bool {
        let strings = [
            Some(entry.s3_bucket.as_str()),
            Some(entry.s3_object.as_str()),
            Some(entry.hash_value.as_str()),
            Some(entry.hash_algorithm.as_str()),
            entry.newest_event_time.as_deref(),
            entry.oldest_event_time.as_deref(),
        ];
        let added: usize = strings.iter().flatten().map(|s| s.len()).sum();
        if self.text.len() + added >= u32::MAX as usize {
            return false;
        }
        let mut fields = [NONE; 6];
        for (field, value) in fields.iter_mut().zip(strings) {
            if let Some(value) = value {
                // Both fit: checked above.
                *field = (self.text.len() as u32, value.len() as u32);
                self.text.push_str(value);
            }
        }
        self.entries.push(fields);
        true
    }
}

/// Read one entry at a time into the compact form: the parse never holds the list as separate
/// values.
impl<'de> Deserialize<'de> for LogFiles {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = LogFiles;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of log file entries")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<LogFiles, A::Error> {
                let mut files = LogFiles::default();
                while let Some(entry) = seq.next_element::<LogFileEntry>()? {
                    if !files.push(&entry) {
                        return Err(serde::de::Error::custom(
                            "logFiles holds more than 4 GiB of text",
                        ));
                    }
                }
                files.text.shrink_to_fit();
                files.entries.shrink_to_fit();
                Ok(files)
            }
        }
        deserializer.deserialize_seq(Entries)
    }
}

/// Raw field layout of a digest file; every field optional so that a missing field is reported
/// by name rather than as a generic serde error.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDigest {
    aws_account_id: Option<String>,
    digest_start_time: Option<String>,
    digest_end_time: Option<String>,
    digest_s3_bucket: Option<String>,
    digest_s3_object: Option<String>,
    digest_public_key_fingerprint: Option<String>,
    digest_signature_algorithm: Option<String>,
    #[serde(default)]
    newest_event_time: Option<String>,
    #[serde(default)]
    oldest_event_time: Option<String>,
    #[serde(default)]
    previous_digest_s3_bucket: Option<String>,
    #[serde(default)]
    previous_digest_s3_object: Option<String>,
    #[serde(default)]
    previous_digest_hash_value: Option<String>,
    #[serde(default)]
    previous_digest_hash_algorithm: Option<String>,
    #[serde(default)]
    previous_digest_signature: Option<String>,
    log_files: Option<LogFiles>,
}

/// What a digest says about its predecessor in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousDigestReference {
    /// Bucket of the previous digest.
    pub bucket: String,
    /// Key of the previous digest.
    pub key: String,
    /// Hex SHA-256 of the previous digest's decompressed bytes.
    pub hash_value: String,
    /// Algorithm of `hash_value`; CloudTrail writes `SHA-256`.
    pub hash_algorithm: String,
    /// Hex signature of the previous digest.
    pub signature: String,
}

/// A digest file: its parsed fields plus the exact bytes they were parsed from.
#[derive(Debug, Clone)]
pub struct DigestFile {
    /// The decompressed bytes, exactly as stored.
    pub raw: Vec<u8>,
    /// SHA-256 of `raw`.
    pub sha256: [u8; 32],
    /// `awsAccountId`.
    pub account_id: String,
    /// `digestStartTime`, parsed.
    pub start_time: DateTime<Utc>,
    /// `digestEndTime`, parsed.
    pub end_time: DateTime<Utc>,
    /// `digestEndTime` exactly as written: the signing string uses the text, not the time.
    pub end_time_text: String,
    /// `digestS3Bucket`: where the digest says it was delivered.
    pub s3_bucket: String,
    /// `digestS3Object`: the key it says it was delivered under.
    pub s3_object: String,
    /// `digestPublicKeyFingerprint`.
    pub public_key_fingerprint: String,
    /// `digestSignatureAlgorithm`.
    pub signature_algorithm: String,
    /// `newestEventTime` (null when no log files).
    pub newest_event_time: Option<String>,
    /// `oldestEventTime` (null when no log files).
    pub oldest_event_time: Option<String>,
    /// The previous digest, or `None` when this digest starts a chain.
    pub previous: Option<PreviousDigestReference>,
    /// `logFiles`, compact.
    pub log_files: LogFiles,
}

impl DigestFile {
    /// Parses decompressed digest bytes. The bytes are kept unchanged in [`DigestFile::raw`].
    pub fn parse(raw: Vec<u8>) -> Result<Self, DigestFormatError> {
        let parsed: RawDigest =
            serde_json::from_slice(&raw).map_err(|e| DigestFormatError::Json(e.to_string()))?;
        let sha256: [u8; 32] = Sha256::digest(&raw).into();
        let end_time_text = required(parsed.digest_end_time, "digestEndTime")?;
        let start_text = required(parsed.digest_start_time, "digestStartTime")?;
        let previous = previous_reference(
            parsed.previous_digest_s3_bucket,
            parsed.previous_digest_s3_object,
            parsed.previous_digest_hash_value,
            parsed.previous_digest_hash_algorithm,
            parsed.previous_digest_signature,
        )?;
        let log_files = required(parsed.log_files, "logFiles")?;
        Ok(DigestFile {
            sha256,
            account_id: required(parsed.aws_account_id, "awsAccountId")?,
            start_time: parse_time("digestStartTime", &start_text)?,
            end_time: parse_time("digestEndTime", &end_time_text)?,
            end_time_text,
            s3_bucket: required(parsed.digest_s3_bucket, "digestS3Bucket")?,
            s3_object: required(parsed.digest_s3_object, "digestS3Object")?,
            public_key_fingerprint: required(
                parsed.digest_public_key_fingerprint,
                "digestPublicKeyFingerprint",
            )?,
            signature_algorithm: required(
                parsed.digest_signature_algorithm,
                "digestSignatureAlgorithm",
            )?,
            newest_event_time: parsed.newest_event_time,
            oldest_event_time: parsed.oldest_event_time,
            previous,
            log_files,
            raw,
        })
    }

    /// Hex SHA-256 of the decompressed bytes, as a successor's `previousDigestHashValue` holds it.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

fn required<T>(value: Option<T>, field: &'static str) -> Result<T, DigestFormatError> {
    value.ok_or(DigestFormatError::MissingField(field))
}

/// Parses a time as CloudTrail writes it (RFC 3339, `2015-08-17T15:01:31Z`).
pub(crate) fn parse_time(
    field: &'static str,
    text: &str,
) -> Result<DateTime<Utc>, DigestFormatError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| DigestFormatError::BadTime {
            field,
            value: text.to_owned(),
        })
}

/// True when `value` is a lower- or upper-case hex SHA-256.
pub(crate) fn is_hex_sha256(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

fn previous_reference(
    bucket: Option<String>,
    key: Option<String>,
    hash_value: Option<String>,
    hash_algorithm: Option<String>,
    signature: Option<String>,
) -> Result<Option<PreviousDigestReference>, DigestFormatError> {
    match (bucket, key, hash_value, hash_algorithm, signature) {
        (None, None, None, None, None) => Ok(None),
        (Some(bucket), Some(key), Some(hash_value), Some(hash_algorithm), Some(signature)) => {
            if !is_hex_sha256(&hash_value) {
                return Err(DigestFormatError::BadHash {
                    field: "previousDigestHashValue",
                    value: hash_value,
                });
            }
            Ok(Some(PreviousDigestReference {
                bucket,
                key,
                hash_value,
                hash_algorithm,
                signature,
            }))
        }
        _ => Err(DigestFormatError::PartialPreviousReference),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = r#"{"awsAccountId":"111122223333","digestStartTime":"2026-01-01T00:00:00Z","digestEndTime":"2026-01-01T01:00:00Z","digestS3Bucket":"b","digestS3Object":"AWSLogs\/111122223333\/CloudTrail-Digest\/us-east-1\/2026\/01\/01\/x.json.gz","digestPublicKeyFingerprint":"abc","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":null,"oldestEventTime":null,"previousDigestS3Bucket":null,"previousDigestS3Object":null,"previousDigestHashValue":null,"previousDigestHashAlgorithm":null,"previousDigestSignature":null,"logFiles":[]}"#;

    #[test]
    fn escaped_slashes_are_unescaped_in_fields_but_kept_in_raw_bytes() {
        let d = DigestFile::parse(DIGEST.as_bytes().to_vec()).unwrap();
        assert_eq!(
            d.s3_object,
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/01/x.json.gz"
        );
        assert_eq!(d.raw, DIGEST.as_bytes());
        assert_eq!(
            d.sha256_hex(),
            hex::encode(Sha256::digest(DIGEST.as_bytes()))
        );
        assert!(d.previous.is_none());
    }

    /// `logFiles` is held as one buffer of text and six ranges per entry, and hands each entry
    /// back exactly as written (absent times included), in order.
    #[test]
    fn log_files_are_held_compactly_and_read_back_as_written() {
        let entry = |i: usize, times: bool| {
            let t = if times {
                r#","newestEventTime":"2026-01-01T00:04:00Z","oldestEventTime":"2026-01-01T00:00:00Z""#
            } else {
                ""
            };
            format!(
                r#"{{"s3Bucket":"b{i}","s3Object":"k\/{i}.json.gz","hashValue":"{:064x}","hashAlgorithm":"SHA-256"{t}}}"#,
                i
            )
        };
        let count = 20_000;
        let list: Vec<String> = (0..count).map(|i| entry(i, i % 2 == 0)).collect();
        let text = DIGEST.replace(
            r#""logFiles":[]"#,
            &format!(r#""logFiles":[{}]"#, list.join(",")),
        );
        let d = DigestFile::parse(text.into_bytes()).unwrap();
        assert_eq!(d.log_files.len(), count);
        for (i, e) in d.log_files.iter().enumerate() {
            assert_eq!(e.s3_bucket, format!("b{i}"));
            assert_eq!(e.s3_object, format!("k/{i}.json.gz"));
            assert_eq!(e.hash_value, format!("{i:064x}"));
            assert_eq!(e.hash_algorithm, "SHA-256");
            let times = (i % 2 == 0).then(|| "2026-01-01T00:04:00Z".to_owned());
            assert_eq!(e.newest_event_time, times);
        }
        assert_eq!(d.log_files.get(count), None);
        // 48 bytes of ranges per entry and the text itself: far below the ~200 bytes an entry
        // of six separate strings took before its text.
        let text_bytes: usize = d
            .log_files
            .iter()
            .map(|e| {
                e.s3_bucket.len()
                    + e.s3_object.len()
                    + e.hash_value.len()
                    + e.hash_algorithm.len()
                    + e.newest_event_time.map_or(0, |t| t.len())
                    + e.oldest_event_time.map_or(0, |t| t.len())
            })
            .sum();
        let held = d.log_files.text.capacity() + d.log_files.entries.capacity() * 48;
        assert!(
            held <= text_bytes + count * 48,
            "{held} bytes held for {text_bytes} of text"
        );
        // A list that is not a list of entries is a format error, as before.
        let bad = DIGEST.replace(r#""logFiles":[]"#, r#""logFiles":[{"s3Bucket":1}]"#);
        assert!(matches!(
            DigestFile::parse(bad.into_bytes()),
            Err(DigestFormatError::Json(_))
        ));
    }

    #[test]
    fn a_missing_required_field_is_named() {
        let text = DIGEST.replace(r#""digestS3Bucket":"b","#, "");
        let err = DigestFile::parse(text.into_bytes()).unwrap_err();
        assert_eq!(err, DigestFormatError::MissingField("digestS3Bucket"));
    }

    #[test]
    fn partly_null_previous_fields_are_rejected() {
        let text = DIGEST.replace(
            r#""previousDigestS3Bucket":null"#,
            r#""previousDigestS3Bucket":"b""#,
        );
        let err = DigestFile::parse(text.into_bytes()).unwrap_err();
        assert_eq!(err, DigestFormatError::PartialPreviousReference);
    }

    #[test]
    fn duplicate_fields_are_rejected_rather_than_resolved() {
        let text = DIGEST.replacen('{', r#"{"awsAccountId":"999999999999","#, 1);
        assert!(matches!(
            DigestFile::parse(text.into_bytes()),
            Err(DigestFormatError::Json(_))
        ));
    }

    #[test]
    fn text_that_is_not_json_is_a_format_error() {
        assert!(matches!(
            DigestFile::parse(b"not json".to_vec()),
            Err(DigestFormatError::Json(_))
        ));
    }
}
