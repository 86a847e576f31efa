//! Text rendering of a report, line-compatible with `aws cloudtrail validate-logs`: the same
//! header, summary and `INVALID` lines (INVALID lines on stderr, each followed by a blank line),
//! with ctverify's stricter findings as further lines in the same style.

use chrono::{DateTime, Utc};
use cloudtrail_verify::{
    ChainReport, Counts, DigestProblem, DigestReport, GapKind, LogProblem, LogReport, Report,
    Status,
};
use std::io::{self, Write};

/// Dates as the AWS CLI prints them.
pub fn display_date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The first line, printed before the run starts.
pub fn write_header(
    out: &mut dyn Write,
    trail: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> io::Result<()> {
    writeln!(
        out,
        "Validating log files for trail {trail} between {} and {}\n",
        display_date(start),
        display_date(end)
    )
}

/// Writes per-file lines (problems always, valid files with `verbose`) and the summary.
pub struct TextRenderer<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    verbose: bool,
}

impl<'a> TextRenderer<'a> {
    /// A renderer writing results to `out` and findings to `err`.
    pub fn new(out: &'a mut dyn Write, err: &'a mut dyn Write, verbose: bool) -> Self {
        TextRenderer { out, err, verbose }
    }

    /// Everything after the header.
    pub fn write_report(&mut self, report: &Report) -> io::Result<()> {
        for warning in &report.warnings {
            self.finding(&format!("Warning: {warning}"))?;
        }
        for chain in &report.chains {
            self.write_chain(chain)?;
        }
        self.write_summary(report)
    }

    fn finding(&mut self, line: &str) -> io::Result<()> {
        writeln!(self.err, "{line}\n")
    }

    fn write_chain(&mut self, chain: &ChainReport) -> io::Result<()> {
        if let Some(error) = &chain.error {
            self.finding(&format!(
                "Chain\taccount {} region {}\tUNVERIFIABLE: {error}",
                chain.chain.account_id, chain.chain.region
            ))?;
        }
        for digest in &chain.digests {
            self.write_digest(digest)?;
        }
        for gap in &chain.gaps {
            let (a, b) = (display_date(gap.start), display_date(gap.end));
            let line = match gap.kind {
                GapKind::ChainRestart => format!(
                    "No log files were delivered by CloudTrail between {a} and {b}\n\
                     Warning: logging or log-file validation was off between {a} and {b} \
                     (the digest chain restarts at {b})"
                ),
                GapKind::BeforeChainStart => format!(
                    "No digest files cover {a} to {b}: the chain of account {} region {} starts at {b}",
                    chain.chain.account_id, chain.chain.region
                ),
                GapKind::AfterNewestDigest => format!(
                    "No digest files after {a} for account {} region {} although the range goes on to {b}: \
                     logging stopped, delivery is late, or the newest digest files were deleted",
                    chain.chain.account_id, chain.chain.region
                ),
                GapKind::NoDigests => format!(
                    "No digest files between {a} and {b} for account {} region {}",
                    chain.chain.account_id, chain.chain.region
                ),
            };
            writeln!(self.out, "{line}")?;
        }
        for log in &chain.unlisted_logs {
            self.write_log(log, false)?;
        }
        Ok(())
    }

    fn write_digest(&mut self, digest: &DigestReport) -> io::Result<()> {
        let tag = if digest.backfill { "(backfill) " } else { "" };
        let location = format!("{tag}Digest file\ts3://{}/{}", digest.bucket, digest.key);
        if digest.problems.is_empty() && self.verbose {
            writeln!(self.out, "{location}\tvalid")?;
        }
        for problem in &digest.problems {
            let verdict = match problem.status() {
                Status::Invalid => "INVALID",
                _ => "UNVERIFIABLE",
            };
            self.finding(&format!(
                "{location}\t{verdict}: {}",
                digest_problem_text(problem, digest)
            ))?;
        }
        if digest.logs_not_checked > 0 {
            self.finding(&format!(
                "{location}\tUNVERIFIABLE: its {} log files were not checked: the digest did not verify",
                digest.logs_not_checked
            ))?;
        }
        for log in &digest.logs {
            self.write_log(log, digest.backfill)?;
        }
        Ok(())
    }

    fn write_log(&mut self, log: &LogReport, backfill: bool) -> io::Result<()> {
        let tag = if backfill { "(backfill) " } else { "" };
        let location = format!("{tag}Log file\ts3://{}/{}", log.bucket, log.key);
        match &log.problem {
            None if self.verbose => writeln!(self.out, "{location}\tvalid"),
            None => Ok(()),
            Some(problem) => {
                let verdict = match problem.status() {
                    Status::Invalid => "INVALID",
                    _ => "UNVERIFIABLE",
                };
                self.finding(&format!(
                    "{location}\t{verdict}: {}",
                    log_problem_text(problem)
                ))
            }
        }
    }

    fn write_summary(&mut self, report: &Report) -> io::Result<()> {
        let s = &report.summary;
        writeln!(
            self.out,
            "Results requested for {} to {}",
            display_date(report.requested_start),
            display_date(report.requested_end)
        )?;
        if s.digests.total() == 0 {
            return writeln!(self.out, "No digests found");
        }
        match (report.found_start(), report.found_end()) {
            (Some(a), Some(b)) => writeln!(
                self.out,
                "Results found for {} to {}:",
                display_date(a),
                display_date(b)
            )?,
            _ => writeln!(self.out, "No valid digests found in range")?,
        }
        writeln!(self.out)?;
        writeln!(self.out, "{}", ratio(&s.digests, "digest"))?;
        if s.logs.total() > 0 {
            writeln!(self.out, "{}", ratio(&s.logs, "log"))?;
        }
        if s.logs_not_checked > 0 {
            writeln!(
                self.out,
                "{} log files not checked: listed by digest files that did not verify",
                s.logs_not_checked
            )?;
        }
        if s.unlisted_logs.total() > 0 {
            writeln!(
                self.out,
                "{} log files INVALID: in the bucket but listed by no digest file",
                s.unlisted_logs.invalid
            )?;
        }
        if report.chains.len() > 1 {
            writeln!(self.out)?;
            for chain in &report.chains {
                let c = chain.summary();
                writeln!(
                    self.out,
                    "Account {} region {}: {}; {}",
                    chain.chain.account_id,
                    chain.chain.region,
                    ratio(&c.digests, "digest"),
                    ratio(&c.logs, "log")
                )?;
            }
        }
        writeln!(self.out)
    }
}

/// `3/4 log files valid, 1/4 log files INVALID`, plus the unverifiable count when there is one.
fn ratio(c: &Counts, name: &str) -> String {
    let total = c.total();
    let mut s = format!("{}/{total} {name} files valid", c.valid);
    if c.invalid > 0 {
        s.push_str(&format!(", {}/{total} {name} files INVALID", c.invalid));
    }
    if c.unverifiable > 0 {
        s.push_str(&format!(
            ", {}/{total} {name} files UNVERIFIABLE",
            c.unverifiable
        ));
    }
    s
}

fn digest_problem_text(problem: &DigestProblem, digest: &DigestReport) -> String {
    match problem {
        DigestProblem::NotFound { inferred: false } => "not found".into(),
        DigestProblem::NotFound { inferred: true } => match (digest.start_time, digest.end_time) {
            (Some(a), Some(b)) => format!(
                "not found (no digest file covers {} to {}; key inferred from the hourly cadence)",
                display_date(a),
                display_date(b)
            ),
            _ => "not found (key inferred from the hourly cadence)".into(),
        },
        DigestProblem::InvalidFormat { detail } => format!("invalid format ({detail})"),
        DigestProblem::Moved { declared_bucket, declared_key } => format!(
            "has been moved from its original location (it names s3://{declared_bucket}/{declared_key})"
        ),
        DigestProblem::OutsideChain { declared_key } => {
            format!("names a key outside this trail's chain: {declared_key}")
        }
        DigestProblem::WrongAccount { declared } => {
            format!("awsAccountId {declared} is not the chain's account")
        }
        DigestProblem::UnknownSignatureAlgorithm { found } => {
            format!("unknown signature algorithm {found:?}")
        }
        DigestProblem::UnknownHashAlgorithm { found } => {
            format!("unknown previousDigestHashAlgorithm {found:?}")
        }
        DigestProblem::MalformedSignature => {
            "signature verification failed (the signature is not a hex RSA signature)".into()
        }
        DigestProblem::SignatureMismatch => "signature verification failed".into(),
        DigestProblem::KeyNotValidAtSigningTime { fingerprint, valid_from, valid_to } => format!(
            "signed with key {fingerprint}, valid only from {} to {}",
            display_date(*valid_from),
            display_date(*valid_to)
        ),
        DigestProblem::PreviousHashMismatch { newer_key, recorded, actual } => format!(
            "SHA-256 {actual} differs from previousDigestHashValue {recorded} in {newer_key}"
        ),
        DigestProblem::PreviousSignatureMismatch { newer_key } => {
            format!("signature differs from previousDigestSignature in {newer_key}")
        }
        DigestProblem::TimeDiscontinuity { newer_key, expected_end, actual_end } => format!(
            "ends at {} but {newer_key} starts at {}",
            display_date(*actual_end),
            display_date(*expected_end)
        ),
        DigestProblem::NoSignature => {
            "no signature: no S3 metadata or .metadata.json sidecar, and no newer digest file carries it".into()
        }
        DigestProblem::KeyNotFound { fingerprint, region } => {
            format!("public key not found in region {region} for fingerprint {fingerprint}")
        }
        DigestProblem::Unreadable { reason } => format!("could not be read: {reason}"),
    }
}

fn log_problem_text(problem: &LogProblem) -> String {
    match problem {
        LogProblem::NotFound => "not found".into(),
        LogProblem::HashMismatch { .. } => "hash value doesn't match".into(),
        LogProblem::InvalidFormat { detail } => format!("invalid format ({detail})"),
        LogProblem::TrailingData => "unexpected data after end of compressed stream".into(),
        LogProblem::BadDigestEntry { detail } => format!("its digest entry is malformed: {detail}"),
        LogProblem::NotListed => "not listed by any digest file".into(),
        LogProblem::Unreadable { reason } => format!("could not be read: {reason}"),
        LogProblem::TooLarge { limit } => format!(
            "decompressed size exceeds {limit} bytes (--max-log-bytes); not hashed to the end"
        ),
    }
}
