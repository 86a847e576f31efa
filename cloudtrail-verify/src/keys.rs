//! CloudTrail's public keys: parsing, validity windows and lookup by fingerprint.
//!
//! CloudTrail signs digests with per-region RSA keys that rotate. `ListPublicKeys` returns each
//! key's DER `Value` (documented as PKCS#1 `RSAPublicKey`; SubjectPublicKeyInfo has been seen
//! too, so both are accepted), its validity window and its fingerprint, which digests name in
//! `digestPublicKeyFingerprint`.

use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use rsa::RsaPublicKey;
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use serde::Deserialize;
use std::collections::HashMap;

/// How long after a digest's end time CloudTrail may still sign it. A key whose validity starts
/// within this margin after the digest's end is accepted (the AWS CLI fetches keys up to two
/// hours past its range for the same reason).
pub const SIGNING_DELAY_MARGIN: TimeDelta = TimeDelta::hours(2);

/// The smallest RSA modulus accepted; CloudTrail uses 2048-bit keys.
pub const MIN_KEY_BITS: usize = 2048;

/// Signatures are checked as RSASSA-PKCS1-v1_5 with SHA-256 ("SHA256withRSA", AWS CloudTrail
/// User Guide: "Custom implementations of CloudTrail log file integrity validation"), by AWS-LC,
/// for moduli of [`MIN_KEY_BITS`] to 8,192 bits.
static SIGNATURE_ALGORITHM: &aws_lc_rs::signature::RsaParameters =
    &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256;

/// Where a run's public keys came from, as its report's provenance names them: a verdict is
/// only as good as the keys, so the report says whose they were.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeysSource {
    /// CloudTrail's `ListPublicKeys`, asked during the run at this endpoint.
    ListPublicKeys {
        /// The CloudTrail endpoint asked.
        endpoint: String,
    },
    /// A key file in the shape `aws cloudtrail list-public-keys` prints (`--public-keys`, or an
    /// evidence bundle's `public-keys.json`), named as its reader knows it.
    File(std::path::PathBuf),
    /// Keys handed to the verifier without a word on where they came from.
    Unnamed,
}

impl std::fmt::Display for KeysSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeysSource::ListPublicKeys { endpoint } => write!(f, "ListPublicKeys at {endpoint}"),
            KeysSource::File(path) => write!(f, "key file {}", path.display()),
            KeysSource::Unnamed => f.write_str("keys given to the verifier"),
        }
    }
}

/// Why a public key or a key file could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file is not JSON of the `list-public-keys` shape.
    #[error("key file is not in the shape `aws cloudtrail list-public-keys` prints: {0}")]
    FileFormat(String),
    /// The key file lists no key: nothing could be verified with it.
    #[error(
        "key file holds no public keys (PublicKeyList is empty): save them with `aws cloudtrail \
         list-public-keys --region REGION --start-time FROM --end-time TO` over the range"
    )]
    NoKeys,
    /// `Value` is not base64.
    #[error("key {fingerprint}: Value is not base64")]
    Base64 {
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// `Value` is neither PKCS#1 nor SubjectPublicKeyInfo DER of an RSA key.
    #[error("key {fingerprint}: Value is neither a PKCS#1 nor a SubjectPublicKeyInfo RSA key")]
    Der {
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// The key parses but cannot check a signature: its public exponent is one AWS-LC refuses
    /// (even, or below 3). No RSA key CloudTrail signs with has one.
    #[error(
        "key {fingerprint}: {bits}-bit RSA with a public exponent signatures cannot be checked with"
    )]
    Unsupported {
        /// The key's fingerprint.
        fingerprint: String,
        /// Its size.
        bits: usize,
    },
    /// The key is too small to be a CloudTrail key.
    #[error("key {fingerprint}: {bits}-bit RSA is below the {MIN_KEY_BITS}-bit minimum")]
    TooSmall {
        /// The key's fingerprint.
        fingerprint: String,
        /// Its size.
        bits: usize,
    },
    /// A validity time is neither RFC 3339 nor epoch seconds.
    #[error("key {fingerprint}: {field} is not a time")]
    Time {
        /// The key's fingerprint.
        fingerprint: String,
        /// Which field.
        field: &'static str,
    },
}

/// One CloudTrail public key.
#[derive(Debug, Clone)]
pub struct PublicKey {
    fingerprint: String,
    rsa: RsaPublicKey,
    /// The same key, parsed once by AWS-LC, which checks every signature.
    verifying: aws_lc_rs::signature::ParsedPublicKey,
    valid_from: DateTime<Utc>,
    valid_to: DateTime<Utc>,
    region: Option<String>,
}

impl PublicKey {
    /// Builds a key from DER bytes (PKCS#1 `RSAPublicKey` or SubjectPublicKeyInfo).
    pub fn from_der(
        fingerprint: &str,
        der: &[u8],
        valid_from: DateTime<Utc>,
        valid_to: DateTime<Utc>,
        region: Option<String>,
    ) -> Result<Self, KeyError> {
        let fingerprint = fingerprint.to_ascii_lowercase();
        let rsa = RsaPublicKey::from_pkcs1_der(der)
            .or_else(|_| RsaPublicKey::from_public_key_der(der))
            .map_err(|_| KeyError::Der {
                fingerprint: fingerprint.clone(),
            })?;
        let bits = rsa.size() * 8;
        if bits < MIN_KEY_BITS {
            return Err(KeyError::TooSmall { fingerprint, bits });
        }
        // AWS-LC is handed the key as `rsa` understood it, re-encoded as PKCS#1, so both read
        // the same modulus and exponent whichever form the Value had.
        let unsupported = || KeyError::Unsupported {
            fingerprint: fingerprint.clone(),
            bits,
        };
        let pkcs1 = rsa.to_pkcs1_der().map_err(|_| unsupported())?;
        let verifying =
            aws_lc_rs::signature::ParsedPublicKey::new(SIGNATURE_ALGORITHM, pkcs1.as_bytes())
                .map_err(|_| unsupported())?;
        Ok(PublicKey {
            fingerprint,
            rsa,
            verifying,
            valid_from,
            valid_to,
            region,
        })
    }

    /// Lower-case hex fingerprint, as digests name it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
    /// The RSA key.
    pub fn rsa(&self) -> &RsaPublicKey {
        &self.rsa
    }
    /// The key as AWS-LC verifies with it (RSASSA-PKCS1-v1_5, SHA-256).
    pub(crate) fn verifying(&self) -> &aws_lc_rs::signature::ParsedPublicKey {
        &self.verifying
    }
    /// Start of the validity window.
    pub fn valid_from(&self) -> DateTime<Utc> {
        self.valid_from
    }
    /// End of the validity window.
    pub fn valid_to(&self) -> DateTime<Utc> {
        self.valid_to
    }
    /// The region the key was fetched for; `None` for keys from a file, which serve any region.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// Whether CloudTrail could have signed a digest ending at `digest_end` with this key:
    /// the key was valid at some moment between the end and [`SIGNING_DELAY_MARGIN`] later.
    pub fn could_sign_digest_ending(&self, digest_end: DateTime<Utc>) -> bool {
        self.valid_from <= digest_end + SIGNING_DELAY_MARGIN && digest_end <= self.valid_to
    }
}

/// A set of public keys, looked up by fingerprint and region.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    by_fingerprint: HashMap<String, Vec<PublicKey>>,
    /// Regions (`None`: every region) and time spans for which the set holds every key
    /// CloudTrail lists, so that a fingerprint not in it was not CloudTrail's.
    complete: Vec<(Option<String>, DateTime<Utc>, DateTime<Utc>)>,
}

/// The outcome of looking a fingerprint up.
#[derive(Debug, Clone, Copy)]
pub enum KeyLookup<'a> {
    /// A key with that fingerprint, for that region.
    Found(&'a PublicKey),
    /// No such key.
    NotFound {
        /// Whether the set holds CloudTrail's whole key list for that region and time, so that
        /// the fingerprint is certainly not one of CloudTrail's keys.
        list_complete: bool,
    },
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key.
    pub fn insert(&mut self, key: PublicKey) {
        self.by_fingerprint
            .entry(key.fingerprint.clone())
            .or_default()
            .push(key);
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.by_fingerprint.values().map(Vec::len).sum()
    }

    /// True when there is no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every key, sorted by fingerprint then validity start (a stable order for reports).
    pub fn keys(&self) -> Vec<&PublicKey> {
        let mut keys: Vec<&PublicKey> = self.by_fingerprint.values().flatten().collect();
        keys.sort_by(|a, b| {
            (a.fingerprint.as_str(), a.valid_from, a.region.as_deref()).cmp(&(
                b.fingerprint.as_str(),
                b.valid_from,
                b.region.as_deref(),
            ))
        });
        keys
    }

    /// The set in the shape `aws cloudtrail list-public-keys` prints (`PublicKeyList`, each key
    /// as base64 PKCS#1 DER with its validity window and fingerprint), which
    /// [`from_list_public_keys_json`](Self::from_list_public_keys_json) reads back. Each entry
    /// also carries the `Region` it was fetched for, when it has one (the reader ignores it: a
    /// key file serves every region).
    pub fn to_list_public_keys_json(&self) -> serde_json::Value {
        let list: Vec<serde_json::Value> = self
            .keys()
            .into_iter()
            .filter_map(|k| {
                // A key that was parsed always re-encodes; one that did not could not be
                // written in any shape.
                let der = k.rsa.to_pkcs1_der().ok()?;
                let mut entry = serde_json::json!({
                    "Value": base64::engine::general_purpose::STANDARD.encode(der.as_bytes()),
                    "ValidityStartTime": k.valid_from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "ValidityEndTime": k.valid_to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "Fingerprint": k.fingerprint,
                });
                if let (Some(region), Some(map)) = (&k.region, entry.as_object_mut()) {
                    map.insert("Region".into(), serde_json::Value::String(region.clone()));
                }
                Some(entry)
            })
            .collect();
        serde_json::json!({ "PublicKeyList": list })
    }

    /// Records that the set holds every key CloudTrail lists for `region` (`None`: every
    /// region) from `from` to `to`, as a whole ListPublicKeys answer over that span does.
    pub fn mark_complete(&mut self, region: Option<&str>, from: DateTime<Utc>, to: DateTime<Utc>) {
        self.complete.push((region.map(str::to_owned), from, to));
    }

    /// Looks a fingerprint up for a source region. Keys without a region match any region.
    pub fn lookup(&self, fingerprint: &str, region: &str) -> KeyLookup<'_> {
        let fingerprint = fingerprint.to_ascii_lowercase();
        self.by_fingerprint
            .get(&fingerprint)
            .and_then(|keys| {
                keys.iter()
                    .find(|k| k.region.as_deref().is_none_or(|r| r == region))
            })
            .map_or(
                KeyLookup::NotFound {
                    list_complete: false,
                },
                KeyLookup::Found,
            )
    }

    /// Looks a fingerprint up for a digest of `region` signed at `at`; a miss says whether the
    /// key list for that region and time is complete.
    pub fn lookup_at(&self, fingerprint: &str, region: &str, at: DateTime<Utc>) -> KeyLookup<'_> {
        match self.lookup(fingerprint, region) {
            KeyLookup::Found(key) => KeyLookup::Found(key),
            KeyLookup::NotFound { .. } => KeyLookup::NotFound {
                list_complete: self.complete.iter().any(|(r, from, to)| {
                    r.as_deref().is_none_or(|r| r == region) && *from <= at && at <= *to
                }),
            },
        }
    }

    /// Parses a key file in the shape `aws cloudtrail list-public-keys` prints:
    /// `{"PublicKeyList": [{"Value": base64 DER, "ValidityStartTime", "ValidityEndTime",
    /// "Fingerprint"}]}`. Times may be RFC 3339 text or epoch seconds. Keys from a file serve
    /// every region, and the file is taken as CloudTrail's whole list over the span its keys'
    /// validity covers. When every entry also names its `Region` (as `ctverify export` writes
    /// keys fetched per region), each key serves that region only and each region's list is
    /// complete over its own keys' span, as it was in the run that fetched them.
    pub fn from_list_public_keys_json(bytes: &[u8]) -> Result<Self, KeyError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct File {
            public_key_list: Vec<Entry>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Entry {
            value: String,
            validity_start_time: serde_json::Value,
            validity_end_time: serde_json::Value,
            fingerprint: String,
            /// Not in `list-public-keys` output: written by `ctverify export` for keys fetched
            /// for one region, which then serve that region only.
            #[serde(default)]
            region: Option<String>,
        }
        let file: File =
            serde_json::from_slice(bytes).map_err(|e| KeyError::FileFormat(e.to_string()))?;
        if file.public_key_list.is_empty() {
            return Err(KeyError::NoKeys);
        }
        let mut set = KeySet::new();
        let mut span: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
        // Per region, for keys bound to one: that region's list is complete over its span.
        let mut region_spans: HashMap<String, (DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
        let all_bound = file.public_key_list.iter().all(|e| e.region.is_some());
        for entry in file.public_key_list {
            let fingerprint = entry.fingerprint;
            let der = base64::engine::general_purpose::STANDARD
                .decode(entry.value.trim())
                .map_err(|_| KeyError::Base64 {
                    fingerprint: fingerprint.clone(),
                })?;
            let time = |value: &serde_json::Value, field| {
                json_time(value).ok_or_else(|| KeyError::Time {
                    fingerprint: fingerprint.clone(),
                    field,
                })
            };
            let from = time(&entry.validity_start_time, "ValidityStartTime")?;
            let to = time(&entry.validity_end_time, "ValidityEndTime")?;
            let region = if all_bound { entry.region } else { None };
            if let Some(region) = &region {
                let r = region_spans.entry(region.clone()).or_insert((from, to));
                *r = (r.0.min(from), r.1.max(to));
            }
            set.insert(PublicKey::from_der(&fingerprint, &der, from, to, region)?);
            span = Some(match span {
                Some((a, b)) => (from.min(a), to.max(b)),
                None => (from, to),
            });
        }
        // The file is `list-public-keys` output: CloudTrail's whole list over the span its keys
        // cover, as the AWS CLI takes it. A fingerprint missing from it within that span is
        // not CloudTrail's; outside it, nothing is known.
        if all_bound {
            for (region, (from, to)) in &region_spans {
                set.mark_complete(Some(region), *from, *to);
            }
        } else if let Some((from, to)) = span {
            set.mark_complete(None, from, to);
        }
        Ok(set)
    }
}

/// A time as the AWS CLI prints it: RFC 3339 text, or epoch seconds as a number or text.
fn json_time(value: &serde_json::Value) -> Option<DateTime<Utc>> {
    let from_epoch = |secs: f64| {
        if !secs.is_finite() {
            return None;
        }
        DateTime::from_timestamp_millis((secs * 1000.0).round() as i64)
    };
    match value {
        serde_json::Value::Number(n) => n.as_f64().and_then(from_epoch),
        serde_json::Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| s.parse::<f64>().ok().and_then(from_epoch)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_times_are_read_as_text_or_epoch_seconds() {
        let t = json_time(&json!("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(json_time(&json!(t.timestamp())), Some(t));
        assert_eq!(json_time(&json!(t.timestamp().to_string())), Some(t));
        assert_eq!(
            json_time(&json!("2026-01-01T01:00:00+01:00")),
            Some(t),
            "offsets are converted"
        );
        assert_eq!(json_time(&json!(null)), None);
        assert_eq!(json_time(&json!("yesterday")), None);
    }

    #[test]
    fn a_key_file_that_is_not_the_list_shape_is_rejected() {
        assert!(matches!(
            KeySet::from_list_public_keys_json(b"{\"keys\": []}"),
            Err(KeyError::FileFormat(_))
        ));
    }

    #[test]
    fn a_value_that_is_not_an_rsa_key_is_rejected() {
        let file = json!({"PublicKeyList": [{"Value": "AAAA", "Fingerprint": "f",
            "ValidityStartTime": 0, "ValidityEndTime": 1}]});
        let err = KeySet::from_list_public_keys_json(file.to_string().as_bytes()).unwrap_err();
        assert!(matches!(err, KeyError::Der { .. }));
    }

    #[test]
    fn every_key_the_rsa_crate_reads_aws_lc_verifies_with() {
        use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPublicKey};
        let genuine =
            rsa::RsaPrivateKey::from_pkcs1_pem(include_str!("../../fixtures/keys/test-key.pem"))
                .expect("test key")
                .to_public_key();
        // The `rsa` crate takes odd exponents of up to 33 bits; so must AWS-LC, at each edge,
        // or a key would fail as `Unsupported`. (Even exponents and moduli, and moduli past
        // 4,096 bits, the `rsa` crate already refuses.)
        for e in [3u64, 17, 65_537, (1 << 32) + 1, (1 << 33) - 1] {
            let key = RsaPublicKey::new(genuine.n().clone(), rsa::BigUint::from(e))
                .expect("rsa accepts it");
            let der = key.to_pkcs1_der().expect("encodes");
            let t = chrono::DateTime::UNIX_EPOCH;
            let loaded = PublicKey::from_der("ab", der.as_bytes(), t, t, None);
            assert!(loaded.is_ok(), "e = {e}: {loaded:?}");
        }
    }
}
