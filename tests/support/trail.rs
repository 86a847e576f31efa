//! Generated trails on disk and runs of `ctverify` over them, in-process.

use ctverify_fixtures::{
    DigestFault, DigestFaultKind, DigestPos, LocalDirSink, Manifest, TestKey, TrailSpec, generate,
};

/// `ctverify`'s exit statuses, as documented.
pub mod exit {
    /// Everything valid.
    pub const VALID: u8 = 0;
    /// Evidence of tampering.
    pub const INVALID: u8 = 1;
    /// Something could not be verified.
    pub const UNVERIFIABLE: u8 = 2;
    /// The run failed.
    pub const ERROR: u8 = 3;
}

/// The trail most tests start from: four hourly digests of three log files each.
pub fn spec() -> TrailSpec {
    TrailSpec {
        digests: 4,
        logs_per_digest: 3,
        ..TrailSpec::default()
    }
}

/// [`spec`] with one fault in digest `digest` of the first chain: a digest that is validly
/// signed but says something wrong.
pub fn with_fault(digest: usize, kind: DigestFaultKind) -> TrailSpec {
    TrailSpec {
        faults: vec![DigestFault {
            at: DigestPos { chain: 0, digest },
            kind,
        }],
        ..spec()
    }
}
use std::path::{Path, PathBuf};

/// A generated trail in a temporary directory: `copy/BUCKET/KEY` plus a keys file.
pub struct GeneratedTrail {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// What was generated.
    pub manifest: Manifest,
}

impl GeneratedTrail {
    /// Generates `spec` signed with the default test key.
    pub fn new(spec: &TrailSpec) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut sink = LocalDirSink::new(dir.path().join("copy"));
        let manifest =
            generate(spec, &TestKey::default_key(), &mut sink).expect("generating the trail");
        ctverify_fixtures::write_public_keys_file(
            dir.path().join("keys.json"),
            &manifest.public_keys,
        )
        .expect("writing the keys file");
        GeneratedTrail { dir, manifest }
    }

    /// The local copy (`--local`).
    pub fn copy(&self) -> PathBuf {
        self.dir.path().join("copy")
    }

    /// The keys file (`--public-keys`).
    pub fn keys(&self) -> PathBuf {
        self.dir.path().join("keys.json")
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.manifest.bucket
    }

    /// Key of digest `i` (oldest first) of the first chain.
    pub fn digest(&self, i: usize) -> String {
        self.manifest.chains[0].digests[i].key.clone()
    }

    /// Key of log `j` of digest `i` of the first chain.
    pub fn log(&self, i: usize, j: usize) -> String {
        self.manifest.chains[0].digests[i].log_files[j].clone()
    }

    /// `ctverify` arguments verifying the whole generated range from the local copy.
    pub fn args(&self) -> Vec<String> {
        local_args(&self.manifest, &self.copy(), &self.keys())
    }

    /// Runs `ctverify` over the whole range, text output.
    pub async fn verify(&self, extra: &[&str]) -> Run {
        let mut args = self.args();
        args.extend(extra.iter().map(|s| s.to_string()));
        run_ctverify(&args).await
    }

    /// Runs `ctverify --format json` over the whole range and parses the report.
    pub async fn report(&self, extra: &[&str]) -> (u8, serde_json::Value) {
        let mut args = self.args();
        args.extend(["--format", "json"].iter().map(|s| s.to_string()));
        args.extend(extra.iter().map(|s| s.to_string()));
        let run = run_ctverify(&args).await;
        let report = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{}\n{}", run.stdout, run.stderr));
        (run.code, report)
    }
}

/// `--trail ARN --from START --to END`: a manifest's trail over its whole range.
pub fn range_args(manifest: &Manifest) -> Vec<String> {
    vec![
        "--trail".into(),
        manifest.trail_arn.clone(),
        "--from".into(),
        ctverify_fixtures::format_time(&manifest.start_time),
        "--to".into(),
        ctverify_fixtures::format_time(&manifest.end_time),
    ]
}

/// Arguments verifying a manifest's whole range from a local copy.
pub fn local_args(manifest: &Manifest, copy: &Path, keys: &Path) -> Vec<String> {
    let mut args = vec!["ctverify".to_owned()];
    args.extend(range_args(manifest));
    args.extend([
        "--local".into(),
        copy.display().to_string(),
        "--public-keys".into(),
        keys.display().to_string(),
    ]);
    args
}

/// What a run of `ctverify` printed and returned.
#[derive(Debug)]
pub struct Run {
    /// Exit status.
    pub code: u8,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    /// A child process's outcome (a status without a code, a signal, reads as 255).
    fn from(output: std::process::Output) -> Self {
        Run {
            code: output
                .status
                .code()
                .and_then(|c| u8::try_from(c).ok())
                .unwrap_or(255),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Lines of stdout and stderr that are not blank.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .filter(|l| !l.trim().is_empty())
            .collect()
    }

    /// Asserts a line contains all of `parts`.
    pub fn assert_line(&self, parts: &[&str]) {
        assert!(
            self.lines()
                .iter()
                .any(|l| parts.iter().all(|p| l.contains(p))),
            "no line with {parts:?} in:\n{}\n{}",
            self.stdout,
            self.stderr
        );
    }
}

/// Runs `ctverify` in-process with captured output.
pub async fn run_ctverify(args: &[String]) -> Run {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cloudtrail_verify_cli::run(args.iter().cloned(), &mut out, &mut err).await;
    Run {
        code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}

/// The problems (`kind` values) reported for the digest `key` in a JSON report.
pub fn digest_problems(report: &serde_json::Value, key: &str) -> Vec<String> {
    digests(report)
        .filter(|d| d["key"] == key)
        .flat_map(|d| d["problems"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["kind"].as_str().map(str::to_owned))
        .collect()
}

/// Every digest entry of every chain of a JSON report.
pub fn digests(report: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    report["chains"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["digests"].as_array().into_iter().flatten())
}

/// The status and problem kind of log `key` in a JSON report.
pub fn log_verdict(report: &serde_json::Value, key: &str) -> Option<(String, Option<String>)> {
    let chains = report["chains"].as_array()?;
    let listed = digests(report).flat_map(|d| d["logs"].as_array().into_iter().flatten());
    let unlisted = chains
        .iter()
        .flat_map(|c| c["unlisted_logs"].as_array().into_iter().flatten());
    listed.chain(unlisted).find(|l| l["key"] == key).map(|l| {
        (
            l["status"].as_str().unwrap_or_default().to_owned(),
            l["problem"]["kind"].as_str().map(str::to_owned),
        )
    })
}
