//! Adversarial mutation testing of whole trails: an in-memory model of a bucket (objects with
//! their user metadata), seeded random sequences of what an attacker without CloudTrail's
//! private key can do to it, and the property every verdict must satisfy.
//!
//! The model is written out either as a local copy (`DIR/BUCKET/KEY` plus `KEY.metadata.json`
//! sidecars) or into the in-process S3 server's storage (user metadata), so the same mutations
//! run against both sources. Everything here is independent of the verifier.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::OnceLock;

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use ctverify_fixtures::{DetRng, Manifest, MemorySink, TestKey, TrailSpec, generate};

/// An object's user metadata as the attacker left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Meta {
    /// No metadata (no sidecar).
    None,
    /// A map of strings (a well-formed sidecar, or S3 user metadata).
    Map(BTreeMap<String, String>),
    /// A sidecar that is not a JSON object; in S3, a `signature` that is not hex.
    Raw(Vec<u8>),
}

/// One object of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Obj {
    /// The bytes.
    pub body: Vec<u8>,
    /// Its metadata.
    pub meta: Meta,
}

/// A bucket's content: key → object.
pub type Model = BTreeMap<String, Obj>;

/// A generated trail held in memory, as CloudTrail delivered it.
pub struct Pristine {
    /// What the generator wrote.
    pub manifest: Manifest,
    /// Every object, with its metadata.
    pub objects: Model,
    /// `keys.json` content (`list-public-keys` shape).
    pub keys_json: String,
}

/// The trail every case starts from: an organization trail with a prefix, 2 accounts x 2
/// regions, 6 hourly digests per chain, 2 log files per digest, digest 2 of each chain empty.
pub fn mutation_spec() -> TrailSpec {
    TrailSpec {
        prefix: Some("org/logs".into()),
        org_id: Some("o-abcdefghij".into()),
        accounts: vec!["111111111111".into(), "222222222222".into()],
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        digests: 6,
        logs_per_digest: 2,
        records_per_log: 3,
        empty_digests: [2].into(),
        seed: 7,
        threads: 1,
        ..TrailSpec::default()
    }
}

impl Pristine {
    /// Generates `spec` in memory.
    pub fn generate(spec: &TrailSpec) -> Self {
        let mut sink = MemorySink::new();
        let manifest =
            generate(spec, &TestKey::default_key(), &mut sink).expect("generating the trail");
        let objects = sink
            .objects
            .into_iter()
            .map(|o| {
                let meta = if o.metadata.is_empty() {
                    Meta::None
                } else {
                    Meta::Map(o.metadata)
                };
                (o.key, Obj { body: o.body, meta })
            })
            .collect();
        let keys_json = ctverify_fixtures::public_keys_json(&manifest.public_keys);
        Pristine {
            manifest,
            objects,
            keys_json,
        }
    }

    /// `[prefix/]AWSLogs/`.
    pub fn logs_root(&self) -> String {
        match self
            .manifest
            .prefix
            .as_deref()
            .map(|p| p.trim_end_matches('/'))
        {
            Some(p) if !p.is_empty() => format!("{p}/AWSLogs/"),
            _ => "AWSLogs/".into(),
        }
    }

    /// Date folders (`/YYYY/MM/DD/`) of every day the verified range touches.
    pub fn range_days(&self) -> Vec<String> {
        let (start, end) = (self.manifest.start_time, self.manifest.end_time);
        let mut days = Vec::new();
        let mut day = start.date_naive();
        while day <= end.date_naive() {
            days.push(format!(
                "/{:04}/{:02}/{:02}/",
                day.year(),
                day.month(),
                day.day()
            ));
            day = day.succ_opt().expect("a next day");
        }
        days
    }

    /// Whether `key` is in one of the trail's folders for a day the range touches.
    pub fn in_scope(&self, key: &str) -> bool {
        key.starts_with(&self.logs_root()) && self.range_days().iter().any(|d| key.contains(d))
    }
}

/// Writes `model` as a local copy: `dir/BUCKET/KEY` and `KEY.metadata.json` sidecars.
pub fn write_local(dir: &Path, bucket: &str, model: &Model) -> io::Result<()> {
    for (key, obj) in model {
        let path = ctverify_fixtures::tamper::object_file(dir, bucket, key)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &obj.body)?;
        let sidecar = ctverify_fixtures::tamper::sidecar_file(dir, bucket, key)?;
        match &obj.meta {
            Meta::None => {}
            Meta::Map(m) => std::fs::write(sidecar, ctverify_fixtures::sidecar_json(m))?,
            Meta::Raw(raw) => std::fs::write(sidecar, raw)?,
        }
    }
    Ok(())
}

/// The S3 user metadata standing for `meta`: a corrupt sidecar becomes a signature that is not
/// hex (S3 metadata is always a map of strings).
pub fn s3_metadata(meta: &Meta) -> BTreeMap<String, String> {
    match meta {
        Meta::None => BTreeMap::new(),
        Meta::Map(m) => m.clone(),
        Meta::Raw(_) => [
            ("signature".to_owned(), "not-a-hex-signature{".to_owned()),
            ("signature-algorithm".to_owned(), "SHA256withRSA".to_owned()),
        ]
        .into(),
    }
}

/// A gzip whose decompressed size (80 MiB) is past the verifier's 64 MiB digest cap, made once.
pub fn gzip_bomb() -> &'static [u8] {
    static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
    BOMB.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        ctverify_fixtures::tamper::write_bomb_log(dir.path(), "b", "bomb.json.gz", 80 << 20)
            .expect("writing the gzip bomb");
        std::fs::read(dir.path().join("b").join("bomb.json.gz")).expect("reading the gzip bomb")
    })
}

/// What kind of object a key is, by its folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Under `CloudTrail-Digest/`.
    Digest,
    /// Under `CloudTrail/`.
    Log,
}

fn kind_of(key: &str) -> Option<Kind> {
    if key.contains("/CloudTrail-Digest/") {
        Some(Kind::Digest)
    } else if key.contains("/CloudTrail/") {
        Some(Kind::Log)
    } else {
        None
    }
}

/// One thing the attacker does. Keys print with `{:?}` so control characters show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Nothing (the harness's own sanity check).
    NoOp,
    /// Deletes an object and its metadata.
    Delete { key: String },
    /// Deletes only the metadata (sidecar).
    DeleteMeta { key: String },
    /// XORs one byte of the body (past the 10-byte gzip header).
    FlipByte { key: String, at: usize, xor: u8 },
    /// Cuts the body to `len` bytes.
    Truncate { key: String, len: usize },
    /// Appends bytes after the gzip stream (`what` says which).
    Append {
        key: String,
        what: &'static str,
        bytes: Vec<u8>,
    },
    /// Replaces the body with a valid gzip of edited JSON, metadata kept.
    AlterJson { key: String, how: &'static str },
    /// Replaces the body with nothing.
    Empty { key: String },
    /// Replaces the body with a gzip bomb.
    Bomb { key: String },
    /// Copies object `from` (body and metadata) to `to`; `to_is` says what `to` was.
    Copy {
        from: String,
        to: String,
        to_is: String,
    },
    /// [`Mutation::Copy`], then deletes `from`.
    Rename {
        from: String,
        to: String,
        to_is: String,
    },
    /// Adds a new object of random bytes.
    AddRandom {
        key: String,
        name: String,
        len: usize,
    },
    /// Adds an empty object.
    AddEmpty { key: String, name: String },
    /// Replaces the metadata with a sidecar that is not JSON.
    CorruptMeta { key: String },
    /// Exchanges the `signature` metadata of two digests.
    SwapSignature { a: String, b: String },
    /// Sets `signature-algorithm`.
    SetAlgorithm { key: String, value: &'static str },
    /// Upper-cases the signature's hex.
    UpperHexSignature { key: String },
}

fn kind_name(key: &str) -> &'static str {
    match kind_of(key) {
        Some(Kind::Digest) => "digest",
        Some(Kind::Log) => "log",
        None => "other",
    }
}

impl Mutation {
    /// A short label of the mutation's class, without its particular keys, for grouping.
    pub fn class(&self) -> String {
        match self {
            Mutation::NoOp => "no-op".into(),
            Mutation::Delete { key } => format!("delete {}", kind_name(key)),
            Mutation::DeleteMeta { key } => format!("delete metadata of {}", kind_name(key)),
            Mutation::FlipByte { key, .. } => format!("flip a byte of {}", kind_name(key)),
            Mutation::Truncate { key, .. } => format!("truncate {}", kind_name(key)),
            Mutation::Append { key, what, .. } => format!("append {what} to {}", kind_name(key)),
            Mutation::AlterJson { key, how } => format!("alter JSON of {} ({how})", kind_name(key)),
            Mutation::Empty { key } => format!("empty {}", kind_name(key)),
            Mutation::Bomb { key } => format!("gzip bomb over {}", kind_name(key)),
            Mutation::Copy { from, to_is, .. } => {
                format!("copy {} to {to_is}", kind_name(from))
            }
            Mutation::Rename { from, to_is, .. } => {
                format!("rename {} to {to_is}", kind_name(from))
            }
            Mutation::AddRandom { name, .. } => format!("add random bytes as {name}"),
            Mutation::AddEmpty { name, .. } => format!("add empty object as {name}"),
            Mutation::CorruptMeta { key } => format!("corrupt metadata of {}", kind_name(key)),
            Mutation::SwapSignature { .. } => "swap two digests' signatures".into(),
            Mutation::SetAlgorithm { value, .. } => format!("signature-algorithm {value:?}"),
            Mutation::UpperHexSignature { .. } => "upper-case signature hex".into(),
        }
    }
}

impl Mutation {
    /// The keys whose object this mutation writes, changes or removes.
    pub fn touches(&self) -> Vec<&str> {
        match self {
            Mutation::NoOp => vec![],
            Mutation::Copy { to, .. } => vec![to],
            Mutation::Rename { from, to, .. } => vec![from, to],
            Mutation::SwapSignature { a, b } => vec![a, b],
            Mutation::Delete { key }
            | Mutation::DeleteMeta { key }
            | Mutation::FlipByte { key, .. }
            | Mutation::Truncate { key, .. }
            | Mutation::Append { key, .. }
            | Mutation::AlterJson { key, .. }
            | Mutation::Empty { key }
            | Mutation::Bomb { key }
            | Mutation::AddRandom { key, .. }
            | Mutation::AddEmpty { key, .. }
            | Mutation::CorruptMeta { key }
            | Mutation::SetAlgorithm { key, .. }
            | Mutation::UpperHexSignature { key } => vec![key],
        }
    }
}

/// The classes of the mutations to blame for `broken` keys: for an original object the last
/// mutation that touched it, for an added one the mutation that created it (every mutation when
/// no key is named, as for a crash).
pub fn culprits(p: &Pristine, mutations: &[Mutation], broken: &[String]) -> Vec<String> {
    let mut classes: Vec<String> = if broken.is_empty() {
        mutations
            .iter()
            .filter(|m| **m != Mutation::NoOp)
            .map(Mutation::class)
            .collect()
    } else {
        broken
            .iter()
            .filter_map(|k| {
                let touched = |m: &&Mutation| m.touches().contains(&k.as_str());
                if p.objects.contains_key(k) {
                    mutations.iter().rev().find(touched).map(Mutation::class)
                } else {
                    // An added object: named after what it is called, however it got there.
                    mutations.iter().find(touched).map(|m| match m {
                        Mutation::Copy { to_is: name, .. }
                        | Mutation::Rename { to_is: name, .. }
                        | Mutation::AddRandom { name, .. }
                        | Mutation::AddEmpty { name, .. } => {
                            format!("object added in a {} folder, {name}", kind_name(k))
                        }
                        other => other.class(),
                    })
                }
            })
            .collect()
    };
    classes.sort();
    classes.dedup();
    classes
}

impl fmt::Display for Mutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mutation::FlipByte { key, at, xor } => {
                write!(f, "flip byte {at} (xor {xor:#04x}) of {key:?}")
            }
            Mutation::Truncate { key, len } => write!(f, "truncate {key:?} to {len} bytes"),
            Mutation::Append { key, what, bytes } => {
                write!(f, "append {what} ({} bytes) to {key:?}", bytes.len())
            }
            Mutation::AlterJson { key, how } => write!(f, "alter JSON ({how}) of {key:?}"),
            Mutation::Copy { from, to, to_is } => write!(f, "copy {from:?} to {to_is} {to:?}"),
            Mutation::Rename { from, to, to_is } => {
                write!(f, "rename {from:?} to {to_is} {to:?}")
            }
            Mutation::AddRandom { key, name, len } => {
                write!(f, "add {len} random bytes as {name} {key:?}")
            }
            Mutation::AddEmpty { key, name } => write!(f, "add empty object as {name} {key:?}"),
            Mutation::SwapSignature { a, b } => write!(f, "swap signatures of {a:?} and {b:?}"),
            Mutation::SetAlgorithm { key, value } => {
                write!(f, "set signature-algorithm {value:?} on {key:?}")
            }
            Mutation::UpperHexSignature { key } => write!(f, "upper-case signature of {key:?}"),
            Mutation::NoOp => write!(f, "no-op"),
            Mutation::Delete { key } => write!(f, "delete {key:?}"),
            Mutation::DeleteMeta { key } => write!(f, "delete metadata of {key:?}"),
            Mutation::Empty { key } => write!(f, "empty {key:?}"),
            Mutation::Bomb { key } => write!(f, "gzip bomb over {key:?}"),
            Mutation::CorruptMeta { key } => write!(f, "corrupt metadata of {key:?}"),
        }
    }
}

/// The parts of a CloudTrail key: `ROOT ACCT/ FOLDER/ REGION/ YYYY/MM/DD/ FILE`.
struct KeyParts {
    /// `[prefix/]AWSLogs/[org/]`.
    root: String,
    account: String,
    /// `CloudTrail` or `CloudTrail-Digest`.
    folder: String,
    region: String,
    /// `YYYY/MM/DD`.
    date: String,
    file: String,
}

impl KeyParts {
    fn parse(key: &str) -> Option<KeyParts> {
        let segs: Vec<&str> = key.split('/').collect();
        let at = segs
            .iter()
            .position(|s| *s == "CloudTrail" || *s == "CloudTrail-Digest")?;
        if at < 2 || segs.len() != at + 6 {
            return None;
        }
        Some(KeyParts {
            root: segs[..at - 1].iter().map(|s| format!("{s}/")).collect(),
            account: segs[at - 1].into(),
            folder: segs[at].into(),
            region: segs[at + 1].into(),
            date: segs[at + 2..at + 5].join("/"),
            file: segs[at + 5].into(),
        })
    }

    fn key(&self) -> String {
        format!(
            "{}{}/{}/{}/{}/{}",
            self.root, self.account, self.folder, self.region, self.date, self.file
        )
    }
}

/// Inserts `ins` into `s` at byte `at` (clamped to a char boundary at or before it).
fn insert_at(s: &str, mut at: usize, ins: &str) -> String {
    at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    format!("{}{ins}{}", &s[..at], &s[at..])
}

/// Position just after the `YYYYMMDDT` of the file name's timestamp.
fn stamp_at(file: &str) -> Option<usize> {
    let b = file.as_bytes();
    (0..b.len().saturating_sub(9))
        .find(|&i| b[i..i + 8].iter().all(u8::is_ascii_digit) && b[i + 8] == b'T')
        .map(|i| i + 9)
}

/// Random alphanumerics, as CloudTrail's 16-character unique suffix.
fn unique(rng: &mut DetRng) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..16).map(|_| *rng.pick(CHARS) as char).collect()
}

/// A time inside the verified range, to the minute.
fn time_in_range(rng: &mut DetRng, p: &Pristine) -> DateTime<Utc> {
    let minutes = (p.manifest.end_time - p.manifest.start_time)
        .num_minutes()
        .max(1);
    p.manifest.start_time + TimeDelta::minutes(rng.below(minutes as u64) as i64)
}

/// A new key derived from `source` (a digest or log key) the way an attacker would name a
/// planted or moved object: (what kind of name, the key). `None` when `source` does not parse.
pub fn hostile_name(rng: &mut DetRng, p: &Pristine, source: &str) -> Option<(String, String)> {
    let parts = KeyParts::parse(source)?;
    let is_digest = parts.folder == "CloudTrail-Digest";
    let stamp = stamp_at(&parts.file);
    let mut np = KeyParts { ..parts };
    let label: &str = loop {
        let choice = rng.below(21);
        match choice {
            0 => {
                let Some(at) = stamp else { continue };
                np.file = insert_at(&np.file, at + 2, " ");
                break "name: space inside the timestamp";
            }
            1 => {
                np.file = np.file.to_uppercase();
                break "name: upper-cased";
            }
            2 => {
                np.file = np.file.to_lowercase();
                break "name: lower-cased";
            }
            3 => {
                np.file = np.file.replace(".json.gz", ".JSON.GZ");
                break "name: upper-case extension";
            }
            4 => {
                // Seconds added to the timestamp (a log's HHMM becomes HHMMSS; a digest's
                // HHMMSS gets two more digits).
                let Some(at) = stamp else { continue };
                let digits = if is_digest { 6 } else { 4 };
                np.file = insert_at(&np.file, at + digits, "07");
                break "name: seconds added";
            }
            5 => {
                np.file = np.file.trim_end_matches(".gz").to_owned();
                break "name: .json without .gz";
            }
            6 => {
                np.date = "2026/01/02".into();
                break "folder: next day (out of range)";
            }
            7 => {
                // The file name says another day; the folder is the range's.
                let Some(at) = stamp else { continue };
                np.file = format!("{}20251231T{}", &np.file[..at - 9], &np.file[at..]);
                break "name: other day in a range folder";
            }
            8 => {
                if !is_digest {
                    continue;
                }
                np.file = np
                    .file
                    .replace(&format!("_{}_", p.manifest.trail_name), "_another-trail_");
                break "name: another trail's digest";
            }
            9 => {
                np.file = "evil.json.gz".into();
                break "name: evil.json.gz";
            }
            10 => {
                let at = rng.index(np.file.len() + 1);
                np.file = insert_at(&np.file, at, "\t");
                break "name: tab inside";
            }
            11 => {
                let at = rng.index(np.file.len() + 1);
                np.file = insert_at(&np.file, at, "\n");
                break "name: newline inside";
            }
            12 => {
                np.file = np.file.replace(&np.account, "333333333333");
                np.account = "333333333333".into();
                break "folder: account with no chain";
            }
            13 => {
                // The source region only (the first `_REGION_`), not the home region after it.
                np.file = np
                    .file
                    .replacen(&format!("_{}_", np.region), "_ap-south-1_", 1);
                np.region = "ap-south-1".into();
                break "folder: region with no chain";
            }
            14 => {
                np.date = "2031/01/01".into();
                if let Some(at) = stamp {
                    np.file = format!("{}20310101T{}", &np.file[..at - 9], &np.file[at..]);
                }
                break "folder: 2031 (out of range)";
            }
            15 => {
                // A valid-looking new log name stamped inside the range, in the right folder.
                let t = time_in_range(rng, p);
                np.folder = "CloudTrail".into();
                np.date = t.format("%Y/%m/%d").to_string();
                np.file = format!(
                    "{}_CloudTrail_{}_{}_{}.json.gz",
                    np.account,
                    np.region,
                    t.format("%Y%m%dT%H%MZ"),
                    unique(rng)
                );
                break "name: new valid log name in range";
            }
            16 => {
                // A valid-looking digest name at a time the chain never reaches (half hour), or
                // the hour after the range's end.
                let Some(at) = stamp else { continue };
                if !is_digest {
                    continue;
                }
                let hour = if rng.chance(500) { "063000" } else { "070000" };
                np.file = format!(
                    "{}{}Z.json.gz",
                    &np.file[..at - 9],
                    format_args!("20260101T{hour}")
                );
                break "name: new valid digest name (off the hour or after the range)";
            }
            17 => {
                np.folder = if is_digest {
                    "CloudTrail"
                } else {
                    "CloudTrail-Digest"
                }
                .into();
                break "folder: the other kind's folder";
            }
            18 => {
                np.file = format!(" {}", np.file);
                break "name: leading space";
            }
            19 => {
                np.file = format!("{}.json.gz", np.file);
                break "name: doubled extension";
            }
            _ => {
                // Seconds changed in a digest's timestamp (still 6 digits).
                let Some(at) = stamp else { continue };
                if !is_digest {
                    continue;
                }
                np.file = insert_at(&np.file, at + 4, "07");
                np.file = format!("{}{}", &np.file[..at + 6], &np.file[at + 8..]);
                break "name: digest seconds changed";
            }
        }
    };
    Some((format!("new key ({label})"), np.key()))
}

fn keys_of(model: &Model, kind: Kind) -> Vec<String> {
    model
        .keys()
        .filter(|k| kind_of(k) == Some(kind))
        .cloned()
        .collect()
}

fn with_signature(model: &Model) -> Vec<String> {
    model
        .iter()
        .filter(|(_, o)| matches!(&o.meta, Meta::Map(m) if m.contains_key("signature")))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Picks a digest (60%) or log key of `model`, if there is any.
fn pick_target(rng: &mut DetRng, model: &Model) -> Option<String> {
    let digests = keys_of(model, Kind::Digest);
    let logs = keys_of(model, Kind::Log);
    let pool = if (rng.chance(600) && !digests.is_empty()) || logs.is_empty() {
        digests
    } else {
        logs
    };
    (!pool.is_empty()).then(|| rng.pick(&pool).clone())
}

/// Draws one mutation against the current `model`.
pub fn draw(rng: &mut DetRng, p: &Pristine, model: &Model) -> Mutation {
    let Some(key) = pick_target(rng, model) else {
        return Mutation::NoOp;
    };
    let body_len = model.get(&key).map_or(0, |o| o.body.len());
    match rng.below(19) {
        0 => Mutation::Delete { key },
        1 => Mutation::DeleteMeta {
            key: with_signature(model)
                .first()
                .cloned()
                .map_or(key, |_| rng.pick(&with_signature(model)).clone()),
        },
        2 if body_len > 11 => Mutation::FlipByte {
            key,
            at: 10 + rng.index(body_len - 10),
            xor: 1 + rng.below(255) as u8,
        },
        3 => Mutation::Truncate {
            key,
            len: rng.index(body_len.max(1)),
        },
        4 => {
            let (what, bytes) = match rng.below(3) {
                0 => ("trailing garbage", b"\x00garbage".to_vec()),
                1 => ("an empty gzip member", ctverify_fixtures::gzip(b"")),
                _ => ("a gzip member of JSON", ctverify_fixtures::gzip(b" ")),
            };
            Mutation::Append { key, what, bytes }
        }
        5 | 6 => {
            let how = match kind_of(&key) {
                Some(Kind::Digest) => *rng.pick(&[
                    "newestEventTime changed",
                    "a logFiles entry dropped",
                    "a log hash replaced",
                    "re-serialized",
                    "previousDigestSignature replaced",
                ]),
                _ => *rng.pick(&["readOnly flipped", "a record dropped", "re-serialized"]),
            };
            Mutation::AlterJson { key, how }
        }
        7 => Mutation::Empty { key },
        8 => match keys_of(model, Kind::Digest).first() {
            Some(_) => Mutation::Bomb {
                key: rng.pick(&keys_of(model, Kind::Digest)).clone(),
            },
            None => Mutation::Bomb { key },
        },
        9 | 10 => {
            // Over another existing object of either kind.
            let Some(to) = pick_target(rng, model).filter(|t| *t != key) else {
                return Mutation::NoOp;
            };
            let to_is = format!("existing {}", kind_name(&to));
            if rng.chance(500) {
                Mutation::Copy {
                    from: key,
                    to,
                    to_is,
                }
            } else {
                Mutation::Rename {
                    from: key,
                    to,
                    to_is,
                }
            }
        }
        11..=13 => {
            let Some((to_is, to)) = hostile_name(rng, p, &key) else {
                return Mutation::NoOp;
            };
            if rng.chance(600) {
                Mutation::Copy {
                    from: key,
                    to,
                    to_is,
                }
            } else {
                Mutation::Rename {
                    from: key,
                    to,
                    to_is,
                }
            }
        }
        14 => {
            let Some((name, new)) = hostile_name(rng, p, &key) else {
                return Mutation::NoOp;
            };
            if rng.chance(500) {
                Mutation::AddRandom {
                    key: new,
                    name,
                    len: 1 + rng.index(300),
                }
            } else {
                Mutation::AddEmpty { key: new, name }
            }
        }
        15 => Mutation::CorruptMeta {
            key: rng_signed(rng, model).unwrap_or(key),
        },
        16 => {
            let signed = with_signature(model);
            if signed.len() < 2 {
                return Mutation::NoOp;
            }
            let a = rng.pick(&signed).clone();
            let b = rng.pick(&signed).clone();
            if a == b {
                return Mutation::NoOp;
            }
            Mutation::SwapSignature { a, b }
        }
        17 => {
            const ALGORITHMS: [&str; 5] =
                ["SHA1withRSA", "sha256withrsa", "", "SHA256withRSA ", "NONE"];
            let picked = rng.pick(&ALGORITHMS);
            Mutation::SetAlgorithm {
                key: rng_signed(rng, model).unwrap_or(key),
                value: picked,
            }
        }
        _ => Mutation::UpperHexSignature {
            key: rng_signed(rng, model).unwrap_or(key),
        },
    }
}

fn rng_signed(rng: &mut DetRng, model: &Model) -> Option<String> {
    let signed = with_signature(model);
    (!signed.is_empty()).then(|| rng.pick(&signed).clone())
}

/// The mutations of case `seed`: 1 to 4 of them, drawn against the model as it changes.
pub fn case(seed: u64, p: &Pristine) -> (Vec<Mutation>, Model) {
    let mut rng = DetRng::new(seed ^ 0x4D55_5441_5445_2121);
    let mut model = p.objects.clone();
    let n = 1 + rng.below(4);
    let mut done = Vec::new();
    for _ in 0..n {
        // A draw that found nothing to do is drawn again (a few times).
        let mut m = Mutation::NoOp;
        for _ in 0..8 {
            m = draw(&mut rng, p, &model);
            if m != Mutation::NoOp {
                break;
            }
        }
        apply(&mut model, &m);
        done.push(m);
    }
    (done, model)
}

fn edit_json(body: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let Ok(raw) = ctverify_fixtures::gunzip(body) else {
        // Not a gzip any more: the edit replaces it with gzip of something else.
        return ctverify_fixtures::gzip(b"{\"not\":\"the original\"}");
    };
    match serde_json::from_slice::<serde_json::Value>(&raw) {
        Ok(mut v) => {
            edit(&mut v);
            ctverify_fixtures::gzip(&serde_json::to_vec(&v).unwrap_or_default())
        }
        Err(_) => {
            let mut r = raw;
            r.push(b' ');
            ctverify_fixtures::gzip(&r)
        }
    }
}

fn alter(body: &[u8], how: &str) -> Vec<u8> {
    let fake_hash = ctverify_fixtures::sha256_hex(b"forged");
    match how {
        "newestEventTime changed" => edit_json(body, |v| {
            v["newestEventTime"] = "2000-01-01T00:00:00Z".into();
        }),
        "a logFiles entry dropped" => edit_json(body, |v| {
            if let Some(a) = v["logFiles"].as_array_mut() {
                a.pop();
            }
        }),
        "a log hash replaced" => edit_json(body, |v| {
            if let Some(e) = v["logFiles"].get_mut(0) {
                e["hashValue"] = fake_hash.into();
            } else {
                v["logFiles"] = serde_json::json!([]);
                v["newestEventTime"] = "2000-01-01T00:00:00Z".into();
            }
        }),
        "previousDigestSignature replaced" => edit_json(body, |v| {
            v["previousDigestSignature"] = fake_hash.into();
        }),
        "readOnly flipped" => edit_json(body, |v| {
            if let Some(r) = v["Records"].get_mut(0) {
                let ro = r["readOnly"].as_bool().unwrap_or(false);
                r["readOnly"] = (!ro).into();
            }
        }),
        "a record dropped" => edit_json(body, |v| {
            if let Some(a) = v["Records"].as_array_mut() {
                a.pop();
            }
        }),
        // Same JSON value, written again: different bytes unless the generator's bytes are
        // exactly serde_json's.
        _ => edit_json(body, |_| {}),
    }
}

/// Applies `m` to `model`.
pub fn apply(model: &mut Model, m: &Mutation) {
    fn body<'a>(model: &'a mut Model, key: &str) -> Option<&'a mut Vec<u8>> {
        model.get_mut(key).map(|o| &mut o.body)
    }
    match m {
        Mutation::NoOp => {}
        Mutation::Delete { key } => {
            model.remove(key);
        }
        Mutation::DeleteMeta { key } => {
            if let Some(o) = model.get_mut(key) {
                o.meta = Meta::None;
            }
        }
        Mutation::FlipByte { key, at, xor } => {
            if let Some(b) = body(model, key).and_then(|b| b.get_mut(*at)) {
                *b ^= xor;
            }
        }
        Mutation::Truncate { key, len } => {
            if let Some(b) = body(model, key) {
                b.truncate(*len);
            }
        }
        Mutation::Append { key, bytes, .. } => {
            if let Some(b) = body(model, key) {
                b.extend_from_slice(bytes);
            }
        }
        Mutation::AlterJson { key, how } => {
            if let Some(b) = body(model, key) {
                *b = alter(b, how);
            }
        }
        Mutation::Empty { key } => {
            if let Some(b) = body(model, key) {
                b.clear();
            }
        }
        Mutation::Bomb { key } => {
            if let Some(b) = body(model, key) {
                *b = gzip_bomb().to_vec();
            }
        }
        Mutation::Copy { from, to, .. } => {
            if let Some(o) = model.get(from).cloned() {
                model.insert(to.clone(), o);
            }
        }
        Mutation::Rename { from, to, .. } => {
            if let Some(o) = model.remove(from) {
                model.insert(to.clone(), o);
            }
        }
        Mutation::AddRandom { key, len, .. } => {
            let mut rng = DetRng::new(*len as u64);
            let bytes = (0..*len).map(|_| rng.random_u64() as u8).collect();
            model.insert(
                key.clone(),
                Obj {
                    body: bytes,
                    meta: Meta::None,
                },
            );
        }
        Mutation::AddEmpty { key, .. } => {
            model.insert(
                key.clone(),
                Obj {
                    body: Vec::new(),
                    meta: Meta::None,
                },
            );
        }
        Mutation::CorruptMeta { key } => {
            if let Some(o) = model.get_mut(key) {
                o.meta = Meta::Raw(b"{\"signature\": not json".to_vec());
            }
        }
        Mutation::SwapSignature { a, b } => {
            let sig = |model: &Model, k: &str| match model.get(k).map(|o| &o.meta) {
                Some(Meta::Map(m)) => m.get("signature").cloned(),
                _ => None,
            };
            if let (Some(sa), Some(sb)) = (sig(model, a), sig(model, b)) {
                for (k, s) in [(a, sb), (b, sa)] {
                    if let Some(Obj {
                        meta: Meta::Map(m), ..
                    }) = model.get_mut(k)
                    {
                        m.insert("signature".into(), s);
                    }
                }
            }
        }
        Mutation::SetAlgorithm { key, value } => {
            if let Some(o) = model.get_mut(key) {
                let mut m = match &o.meta {
                    Meta::Map(m) => m.clone(),
                    _ => BTreeMap::new(),
                };
                m.insert("signature-algorithm".into(), (*value).into());
                o.meta = Meta::Map(m);
            }
        }
        Mutation::UpperHexSignature { key } => {
            if let Some(Obj {
                meta: Meta::Map(m), ..
            }) = model.get_mut(key)
                && let Some(s) = m.get_mut("signature")
            {
                *s = s.to_uppercase();
            }
        }
    }
}

/// Why a verdict broke the property (and the keys concerned), or `None` when it holds. `code`
/// is ctverify's exit status.
pub fn violation(p: &Pristine, mutated: &Model, code: u8) -> Option<(String, Vec<String>)> {
    match code {
        0 => {}
        1 | 2 => return None,
        3 => return Some(("exit status 3 (the run failed)".into(), vec![])),
        other => return Some((format!("exit status {other} (a crash?)"), vec![])),
    }
    let mut why = Vec::new();
    let mut keys = Vec::new();
    for (key, original) in &p.objects {
        match mutated.get(key) {
            None => why.push(format!("{key:?} was deleted")),
            Some(o) if o.body != original.body => {
                let same_content = ctverify_fixtures::gunzip(&o.body).ok()
                    == ctverify_fixtures::gunzip(&original.body).ok();
                why.push(format!(
                    "{key:?} was changed{}",
                    if same_content {
                        " (same decompressed content)"
                    } else {
                        ""
                    }
                ));
            }
            Some(_) => continue,
        }
        keys.push(key.clone());
    }
    let added: BTreeSet<&String> = mutated
        .keys()
        .filter(|k| !p.objects.contains_key(*k) && p.in_scope(k))
        .collect();
    for key in added {
        why.push(format!("{key:?} was added"));
        keys.push(key.clone());
    }
    (!why.is_empty()).then(|| (format!("reported VALID although {}", why.join("; ")), keys))
}

/// One case's result.
#[derive(Debug)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// What was done.
    pub mutations: Vec<Mutation>,
    /// Exit status (`None`: did not finish in time, or panicked).
    pub code: Option<u8>,
    /// What ctverify printed (stdout then stderr), or why there is no status.
    pub output: String,
    /// Why the property failed, if it did.
    pub violation: Option<String>,
    /// How long the run took.
    pub elapsed: std::time::Duration,
    /// Classes of the mutations to blame (see [`culprits`]), when it failed.
    pub culprits: Vec<String>,
}

impl Outcome {
    /// Judges exit status `code` (`None`: no status, `output` says why) of a run over `mutated`.
    pub fn judge(
        p: &Pristine,
        seed: u64,
        mutations: Vec<Mutation>,
        mutated: &Model,
        code: Option<u8>,
        output: String,
        elapsed: std::time::Duration,
    ) -> Outcome {
        let (violation, keys) = match code {
            Some(code) => violation(p, mutated, code).unzip(),
            None => (
                Some(output.lines().next().unwrap_or_default().to_owned()),
                Some(vec![]),
            ),
        };
        let culprits = match &violation {
            Some(_) => culprits(p, &mutations, &keys.unwrap_or_default()),
            None => Vec::new(),
        };
        Outcome {
            seed,
            mutations,
            code,
            output,
            violation,
            elapsed,
            culprits,
        }
    }
}

impl Outcome {
    /// The case, ready to print.
    pub fn describe(&self, variant: &str) -> String {
        let mut s = format!(
            "--- seed {} ({variant}): {}\n    replay: CTVERIFY_MUTATION_SEED={} cargo test -p ctverify-tests --test mutation -- --nocapture\n    exit status: {:?} after {:.2?}\n",
            self.seed,
            self.violation.as_deref().unwrap_or("ok"),
            self.seed,
            self.code,
            self.elapsed
        );
        for m in &self.mutations {
            s.push_str(&format!("    mutation: {m}\n"));
        }
        let lines: Vec<&str> = self
            .output
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        for l in lines.iter().take(30) {
            s.push_str(&format!("    | {l}\n"));
        }
        if lines.len() > 30 {
            s.push_str(&format!("    | ... {} more lines\n", lines.len() - 30));
        }
        s
    }
}

/// The seeds to run: `CTVERIFY_MUTATION_SEED=N` runs only N; otherwise
/// `0..CTVERIFY_MUTATION_CASES` (default `default_cases`).
pub fn seeds(default_cases: u64) -> Vec<u64> {
    let env = |name: &str| {
        std::env::var(name).ok().map(|v| {
            v.trim()
                .parse::<u64>()
                .unwrap_or_else(|e| panic!("{name}={v:?}: {e}"))
        })
    };
    match env("CTVERIFY_MUTATION_SEED") {
        Some(seed) => vec![seed],
        None => (0..env("CTVERIFY_MUTATION_CASES").unwrap_or(default_cases)).collect(),
    }
}

/// Prints one failing case per group of culprit classes (every case when `verbose`) and returns a
/// summary of the groups for a panic message, or `None` when every case held.
pub fn summarize(variant: &str, outcomes: &[Outcome], verbose: bool) -> Option<String> {
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.violation.is_some()).collect();
    let mut exercised: BTreeMap<String, usize> = BTreeMap::new();
    for m in outcomes.iter().flat_map(|o| &o.mutations) {
        *exercised.entry(m.class()).or_default() += 1;
    }
    let mut codes: BTreeMap<Option<u8>, usize> = BTreeMap::new();
    for o in outcomes {
        *codes.entry(o.code).or_default() += 1;
    }
    eprintln!(
        "{variant}: exit statuses {codes:?}; {} mutation classes exercised:",
        exercised.len()
    );
    for (class, n) in &exercised {
        eprintln!("  {n:5}  {class}");
    }
    let mut slowest: Vec<&Outcome> = outcomes.iter().collect();
    slowest.sort_by_key(|o| std::cmp::Reverse(o.elapsed));
    for o in slowest.iter().take(3) {
        eprintln!(
            "{variant}: slow case, seed {} in {:.2?}: {}",
            o.seed,
            o.elapsed,
            o.mutations
                .iter()
                .map(Mutation::class)
                .collect::<Vec<_>>()
                .join(" + ")
        );
    }
    if verbose {
        for o in outcomes {
            eprintln!("{}", o.describe(variant));
        }
    }
    if failed.is_empty() {
        return None;
    }
    // Group by the classes of the mutations to blame; show in full the case with the fewest
    // mutations.
    let mut groups: BTreeMap<Vec<String>, (Vec<u64>, &Outcome)> = BTreeMap::new();
    for o in &failed {
        let entry = groups.entry(o.culprits.clone()).or_insert((Vec::new(), o));
        entry.0.push(o.seed);
        if o.mutations.len() < entry.1.mutations.len() {
            entry.1 = o;
        }
    }
    if !verbose {
        for (_, o) in groups.values() {
            eprintln!("{}", o.describe(variant));
        }
    }
    let mut s = format!(
        "{variant}: {} of {} cases broke the property; by the mutations to blame (count, simplest seed):\n",
        failed.len(),
        outcomes.len()
    );
    for (classes, (all, o)) in &groups {
        let more: Vec<String> = all.iter().take(8).map(u64::to_string).collect();
        s.push_str(&format!(
            "  {:4} x seed {:5}  [{}]\n         {}\n         seeds: {}{}\n",
            all.len(),
            o.seed,
            classes.join(" + "),
            o.violation.as_deref().unwrap_or_default(),
            more.join(" "),
            if all.len() > 8 { " ..." } else { "" }
        ));
    }
    Some(s)
}
