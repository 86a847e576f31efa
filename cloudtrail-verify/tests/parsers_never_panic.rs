//! The parsers of hostile input never panic: digest files, key files, digest and log key names,
//! trail ARNs. A property test on stable Rust: a seeded generator feeds each parser random bytes
//! and mutations of genuine inputs, thousands of times (fast enough for every `cargo test`).
//! Deeper, coverage-guided runs of the same parsers: `scripts/fuzz.sh` (cargo-fuzz, `fuzz/`).
//!
//! A failure prints the seed and the input; `PARSER_SEED=N` replays a run.

use chrono::{TimeZone, Utc};
use cloudtrail_verify::fuzzing::DigestFile;
use cloudtrail_verify::layout::{ChainId, ChainLayout, TrailLocation};
use cloudtrail_verify::{KeySet, TrailArn};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Iterations per parser.
const ROUNDS: usize = 20_000;

/// SplitMix64: small, seedable, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

fn seed() -> u64 {
    std::env::var("PARSER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00C7_7E21_F1A5_EED5)
}

/// Fragments that tend to reach corners: JSON syntax, extreme numbers, escapes, multi-byte
/// characters (slicing at a byte offset inside one panics), separators of key names.
const TOKENS: &[&str] = &[
    "\"",
    "\\",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "null",
    "true",
    "-0",
    "1e999",
    "\\u0000",
    "\\ud800",
    "99999999999999999999999",
    "é",
    "😀",
    "\u{feff}",
    "/",
    "_",
    ".json.gz",
    "_backfill",
    "T",
    "Z",
    "+99:99",
    "9999",
    "0000",
    "2026",
    "\0",
    " ",
    "\n",
    "..",
];

/// One random change to `input`.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    let len = input.len();
    match rng.below(9) {
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            input[i] = rng.byte();
        }
        2 => {
            let i = rng.below(len + 1);
            input.insert(i, rng.byte());
        }
        3 if len > 0 => {
            let start = rng.below(len);
            let end = (start + 1 + rng.below(16)).min(len);
            input.drain(start..end);
        }
        4 => input.truncate(rng.below(len + 1)),
        5 => {
            let i = rng.below(len + 1);
            let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
            input.splice(i..i, token.iter().copied());
        }
        6 if len > 0 => {
            // Repeat a slice: duplicated fields, nested brackets.
            let start = rng.below(len);
            let end = (start + 1 + rng.below(64)).min(len);
            let copy = input[start..end].to_vec();
            let at = rng.below(len + 1);
            input.splice(at..at, copy);
        }
        7 if len > 0 => {
            // Replace a digit run's digit, keeping shapes close to genuine.
            let i = rng.below(len);
            if input[i].is_ascii_digit() {
                input[i] = b'0' + rng.below(10) as u8;
            } else {
                input[i] = b"0123456789-:TZ"[rng.below(14)];
            }
        }
        _ => {
            let i = rng.below(len + 1);
            let n = rng.below(8);
            let random: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            input.splice(i..i, random);
        }
    }
}

/// An input for round `round`: pure random bytes now and then, otherwise a genuine seed with
/// one to eight mutations.
fn input(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if rng.below(8) == 0 {
        let n = rng.below(256);
        return (0..n).map(|_| rng.byte()).collect();
    }
    let mut input = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(8) {
        mutate(rng, &mut input);
    }
    input
}

/// Runs `parse` on many inputs, failing with the input when it panics.
fn never_panics(name: &str, seeds: &[Vec<u8>], parse: impl Fn(&[u8])) {
    let seed = seed();
    let mut rng = Rng(seed ^ name.len() as u64);
    for round in 0..ROUNDS {
        let input = input(&mut rng, seeds);
        if catch_unwind(AssertUnwindSafe(|| parse(&input))).is_err() {
            panic!(
                "{name} panicked in round {round} (PARSER_SEED={seed}) on {:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
}

fn as_str(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn layout() -> ChainLayout {
    ChainLayout {
        location: TrailLocation {
            bucket: "trail-bucket".into(),
            prefix: Some("pre/fix".into()),
            org_id: Some("o-abcdefghij".into()),
        },
        chain: ChainId {
            account_id: "111122223333".into(),
            region: "eu-west-1".into(),
        },
        trail_name: "org_trail".into(),
        home_region: "us-east-1".into(),
    }
}

/// A digest as CloudTrail writes it, fields in its order, `/` escaped as `\/`.
fn genuine_digest(previous: bool, log_files: usize) -> Vec<u8> {
    let layout = layout();
    let end = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap();
    let key = layout.digest_key(end).replace('/', "\\/");
    let previous_key = layout
        .digest_key(end - chrono::TimeDelta::hours(1))
        .replace('/', "\\/");
    let previous = if previous {
        format!(
            r#""previousDigestS3Bucket":"trail-bucket","previousDigestS3Object":"{previous_key}","previousDigestHashValue":"{}","previousDigestHashAlgorithm":"SHA-256","previousDigestSignature":"{}","#,
            "ab".repeat(32),
            "0c".repeat(256)
        )
    } else {
        r#""previousDigestS3Bucket":null,"previousDigestS3Object":null,"previousDigestHashValue":null,"previousDigestHashAlgorithm":null,"previousDigestSignature":null,"#.to_owned()
    };
    let logs: Vec<String> = (0..log_files)
        .map(|i| {
            format!(
                r#"{{"s3Bucket":"trail-bucket","s3Object":"{}2026\/01\/01\/111122223333_CloudTrail_eu-west-1_20260101T09{i:02}Z_abcdefghijklmnop.json.gz","hashValue":"{}","hashAlgorithm":"SHA-256","newestEventTime":"2026-01-01T09:{i:02}:59Z","oldestEventTime":"2026-01-01T09:{i:02}:00Z"}}"#,
                layout.log_folder().replace('/', "\\/"),
                "cd".repeat(32)
            )
        })
        .collect();
    format!(
        r#"{{"awsAccountId":"111122223333","digestStartTime":"2026-01-01T09:00:00Z","digestEndTime":"2026-01-01T10:00:00Z","digestS3Bucket":"trail-bucket","digestS3Object":"{key}","digestPublicKeyFingerprint":"5fc61b811b734778be9e247137393204","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":"2026-01-01T09:59:59Z","oldestEventTime":"2026-01-01T09:00:00Z",{previous}"logFiles":[{}]}}"#,
        logs.join(",")
    )
    .into_bytes()
}

#[test]
fn digest_parsing_never_panics() {
    let seeds = vec![
        genuine_digest(true, 3),
        genuine_digest(false, 1),
        genuine_digest(true, 0),
    ];
    for seed in &seeds {
        let digest = DigestFile::parse(seed.clone()).expect("a genuine digest parses");
        assert_eq!(&digest.raw, seed);
    }
    never_panics("DigestFile::parse", &seeds, |bytes| {
        let _ = DigestFile::parse(bytes.to_vec());
    });
}

#[test]
fn key_file_parsing_never_panics() {
    let genuine = include_bytes!("../../fixtures/sample/public-keys.json").to_vec();
    let keys = KeySet::from_list_public_keys_json(&genuine).expect("the sample key file parses");
    assert_eq!(keys.len(), 1);
    let epoch = String::from_utf8(genuine.clone())
        .unwrap()
        .replace("\"2025-12-31T00:00:00Z\"", "1767139200");
    let seeds = vec![
        genuine,
        epoch.into_bytes(),
        br#"{"PublicKeyList":[]}"#.to_vec(),
    ];
    never_panics("KeySet::from_list_public_keys_json", &seeds, |bytes| {
        let _ = KeySet::from_list_public_keys_json(bytes);
    });
}

#[test]
fn key_name_parsing_never_panics() {
    let layout = layout();
    let end = Utc.with_ymd_and_hms(2026, 2, 28, 23, 0, 0).unwrap();
    let digest = layout.digest_key(end);
    let backfill = digest.replace(".json.gz", "_backfill.json.gz");
    let log = format!(
        "{}2026/02/28/111122223333_CloudTrail_eu-west-1_20260228T2255Z_AbCdEfGh01234567.json.gz",
        layout.log_folder()
    );
    let info = layout
        .parse_digest_key(&digest)
        .expect("a genuine digest key");
    assert_eq!(info.end_time, end);
    assert!(layout.parse_digest_key(&backfill).unwrap().backfill);
    assert!(layout.log_key_time(&log).is_some());
    let seeds: Vec<Vec<u8>> = [digest, backfill, log]
        .into_iter()
        .map(String::into_bytes)
        .collect();
    never_panics("ChainLayout::parse_digest_key", &seeds, |bytes| {
        let _ = layout.parse_digest_key(&as_str(bytes));
    });
    never_panics("ChainLayout::log_key_time", &seeds, |bytes| {
        let _ = layout.log_key_time(&as_str(bytes));
    });
}

#[test]
fn trail_arn_parsing_never_panics() {
    let seeds: Vec<Vec<u8>> = [
        "arn:aws:cloudtrail:us-east-1:111122223333:trail/my-trail",
        "arn:aws-us-gov:cloudtrail:us-gov-west-1:111122223333:trail/a.b_c",
    ]
    .into_iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    for seed in &seeds {
        as_str(seed)
            .parse::<TrailArn>()
            .expect("a genuine ARN parses");
    }
    never_panics("TrailArn::from_str", &seeds, |bytes| {
        let _ = as_str(bytes).parse::<TrailArn>();
    });
}

/// A CloudTrail Lake `result_sign.json` as the AWS documentation shows it.
fn genuine_sign_file(files: usize) -> Vec<u8> {
    let files: Vec<String> = (1..=files)
        .map(|n| {
            format!(
                r#"{{"fileHashValue":"{}","fileName":"result_{n}.csv.gz"}}"#,
                format!("{n:02x}").repeat(32)
            )
        })
        .collect();
    format!(
        r#"{{"version":"1.0","region":"us-east-1","files":[{}],"hashAlgorithm":"SHA-256","signatureAlgorithm":"SHA256withRSA","queryCompleteTime":"2022-05-10T22:06:30Z","hashSignature":"{}","publicKeyFingerprint":"67b9fa73676d86966b449dd677850753"}}"#,
        files.join(","),
        "0c".repeat(256)
    )
    .into_bytes()
}

#[test]
fn lake_sign_file_parsing_never_panics() {
    use cloudtrail_verify::lake::SignFile;
    let seeds = vec![genuine_sign_file(1), genuine_sign_file(3), b"{}".to_vec()];
    let sign = SignFile::parse(&seeds[1]).expect("a genuine sign file parses");
    assert_eq!(sign.files.len(), 3);
    never_panics("lake sign file", &seeds, |bytes| {
        if let Ok(sign) = SignFile::parse(bytes) {
            // What parsed is used: the signed string, and the names as keys.
            let _ = sign.signing_string();
            assert!(!sign.files.is_empty());
        }
    });
}
