//! Text rendering of a report, line-compatible with `aws cloudtrail validate-logs`: the same
//! header, summary and `INVALID` lines (INVALID lines on stderr, each followed by a blank line),
//! with ctverify's stricter findings as further lines in the same style.

use chrono::{DateTime, Utc};
use cloudtrail_verify::layout::ChainId;
use cloudtrail_verify::{
    ChainReport, Counts, DigestProblem, DigestReport, GapKind, LogProblem, LogReport,
    ObjectProblem, Report, Status,
};
use std::io::{self, Write};

/// Text from the bucket (keys, reasons) with control characters escaped, so that a planted
/// key's name cannot inject lines or fields into the report.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    // Control characters, and the bidirectional controls that reorder what a terminal shows.
    let hostile = |c: char| {
        c.is_control()
            || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(hostile) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hostile(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

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

/// Where a run looked: said before the results, so a reader knows what was checked.
#[derive(Debug, Clone, Default)]
pub struct LookedIn {
    /// `s3://BUCKET/[PREFIX/]AWSLogs/[ORG/]` or that folder of a local copy: the folder
    /// holding one folder per account.
    pub accounts_folder: String,
    /// The chains to verify (account, region).
    pub chains: Vec<ChainId>,
}

impl LookedIn {
    fn folder(&self) -> std::borrow::Cow<'_, str> {
        escape(&self.accounts_folder)
    }
}

/// The line after the header: the folder read and the chains found in it.
pub fn write_looked_in(out: &mut dyn Write, looked_in: &LookedIn) -> io::Result<()> {
    let chains: Vec<String> = looked_in.chains.iter().map(ToString::to_string).collect();
    let listed = match chains.len() {
        0 => "no chains found".to_owned(),
        1..=20 => format!("chains (account/region) {}", chains.join(", ")),
        n => format!(
            "{n} chains (account/region) {}, ...",
            chains[..20].join(", ")
        ),
    };
    writeln!(out, "Reading {}: {}\n", looked_in.folder(), escape(&listed))
}

/// Writes per-file lines (problems always, valid files with `verbose`) and the summary.
pub struct TextRenderer<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    verbose: bool,
    looked_in: Option<&'a LookedIn>,
}

impl<'a> TextRenderer<'a> {
    /// A renderer writing results to `out` and findings to `err`.
    pub fn new(out: &'a mut dyn Write, err: &'a mut dyn Write, verbose: bool) -> Self {
        TextRenderer {
            out,
            err,
            verbose,
            looked_in: None,
        }
    }

    /// Says where the run looked when it found nothing.
    pub fn looked_in(mut self, looked_in: &'a LookedIn) -> Self {
        self.looked_in = Some(looked_in);
        self
    }

    /// Everything after the header.
    pub fn write_report(&mut self, report: &Report) -> io::Result<()> {
        for warning in &report.warnings {
            // Warnings quote AWS's answers (error messages, key ids): escaped like bucket text.
            self.finding(&format!("Warning: {}", escape(warning)))?;
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
                "Chain\taccount {} region {}\tUNVERIFIABLE: {}",
                chain.chain.account_id,
                chain.chain.region,
                escape(error)
            ))?;
        }
        for digest in &chain.digests {
            self.write_digest(digest)?;
        }
        let where_ = format!(
            "account {} region {}",
            chain.chain.account_id, chain.chain.region
        );
        for gap in &chain.gaps {
            let (a, b) = (display_date(gap.start), display_date(gap.end));
            // Where the next valid digest starts (past the range, it is not the gap's end).
            let next = display_date(gap.next_start.unwrap_or(gap.end));
            let hours = match gap.hours {
                1 => "1 hour".to_string(),
                n => format!("{n} hours"),
            };
            let why = match gap.kind {
                GapKind::BrokenChain => format!(
                    "the digest file starting at {next} names a predecessor that is missing or did not verify"
                ),
                GapKind::PredecessorUnavailable => format!(
                    "the digest file starting at {next} names a predecessor that could not be read"
                ),
                GapKind::LifecycleExpired => format!(
                    "the digest file starting at {next} names a predecessor that a lifecycle rule \
                     of the bucket expired: these hours are older than the bucket keeps files"
                ),
                GapKind::ChainRestart => {
                    // The AWS CLI's line for a chain restart, then what it does not say.
                    writeln!(
                        self.out,
                        "No log files were delivered by CloudTrail between {a} and {b}"
                    )?;
                    format!(
                        "the digest chain restarts at {next}: logging or log-file validation was off, \
                         or the digest files before the restart were deleted; nothing proves which"
                    )
                }
                GapKind::BeforeChainStart => format!(
                    "the digest chain starts at {next}: the trail or its validation began then, or \
                     its first digest files were deleted"
                ),
                GapKind::AfterNewestDigest => format!(
                    "no valid digest file after {a}: logging stopped, or the newest digest files \
                     were deleted"
                ),
                GapKind::NoDigests => "no valid digest file at all".to_string(),
                GapKind::NotYetDelivered => "CloudTrail delivers the digest of an hour up to \
                     about an hour after it, so these hours cannot be proven yet (end the range \
                     two hours before now)"
                    .to_string(),
            };
            self.finding(&format!(
                "Coverage\t{where_}\t{}: no valid digest file covers {a} to {b} ({hours}): {why}",
                verdict(gap.status)
            ))?;
        }
        for foreign in &chain.foreign_objects {
            self.finding(&format!(
                "Object\ts3://{}/{}\t{}: not a file of this trail ({})",
                escape(&foreign.bucket),
                escape(&foreign.key),
                verdict(foreign.status),
                escape(&foreign.reason)
            ))?;
        }
        if chain.foreign_objects_omitted > 0 {
            self.finding(&format!(
                "Object\t{where_}\tINVALID: {} further objects that are not files of this trail",
                chain.foreign_objects_omitted
            ))?;
        }
        for log in &chain.unlisted_logs {
            self.write_log(log, false)?;
        }
        Ok(())
    }

    fn write_digest(&mut self, digest: &DigestReport) -> io::Result<()> {
        let tag = if digest.backfill { "(backfill) " } else { "" };
        let location = format!(
            "{tag}Digest file\ts3://{}/{}",
            escape(&digest.bucket),
            escape(&digest.key)
        );
        if digest.problems.is_empty() && self.verbose {
            writeln!(self.out, "{location}\tvalid")?;
        }
        for problem in &digest.problems {
            self.finding(&format!(
                "{location}\t{}: {}",
                verdict(problem.status()),
                escape(&digest_problem_text(problem))
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
        let location = format!(
            "{tag}Log file\ts3://{}/{}",
            escape(&log.bucket),
            escape(&log.key)
        );
        match &log.problem {
            None if self.verbose => writeln!(self.out, "{location}\tvalid"),
            None => Ok(()),
            Some(problem) => self.finding(&format!(
                "{location}\t{}: {}",
                verdict(problem.status()),
                escape(&log_problem_text(problem))
            )),
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
            writeln!(self.out, "No digests found")?;
            if let Some(looked_in) = self.looked_in {
                writeln!(
                    self.out,
                    "Looked in {}ACCOUNT/CloudTrail-Digest/REGION/ for {}",
                    looked_in.folder(),
                    report
                        .chains
                        .iter()
                        .map(|c| c.chain.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )?;
            }
            return Ok(());
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
        if s.unlisted_logs.invalid > 0 {
            writeln!(
                self.out,
                "{} log files INVALID: in the bucket but listed by no digest file",
                s.unlisted_logs.invalid
            )?;
        }
        if s.unlisted_logs.unverifiable > 0 {
            writeln!(
                self.out,
                "{} log files UNVERIFIABLE: in hours no valid digest file covers",
                s.unlisted_logs.unverifiable
            )?;
        }
        if s.foreign_objects.total() > 0 {
            writeln!(
                self.out,
                "{} objects INVALID: in the trail's folders but not written there by CloudTrail",
                s.foreign_objects.total()
            )?;
        }
        if s.gaps.total() > 0 {
            writeln!(
                self.out,
                "{} hours not covered by any valid digest file ({} gaps)",
                s.uncovered_hours,
                s.gaps.total()
            )?;
        }
        if s.expired > 0 {
            writeln!(
                self.out,
                "{} files UNVERIFIABLE: expired under the bucket's lifecycle rules",
                s.expired
            )?;
        }
        if s.archived > 0 {
            self.write_restore_route(report)?;
        }
        if s.kms_denied > 0 {
            writeln!(
                self.out,
                "{} files UNVERIFIABLE: kms:Decrypt denied (see the warning)",
                s.kms_denied
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

impl TextRenderer<'_> {
    /// How many files are archived, and how to restore them.
    fn write_restore_route(&mut self, report: &Report) -> io::Result<()> {
        let archived = report.object_problems().find(|(_, _, p)| {
            matches!(
                p,
                ObjectProblem::Digest(DigestProblem::Archived { .. })
                    | ObjectProblem::Log(LogProblem::Archived { .. })
            )
        });
        let count = report.summary.archived;
        let files = if count == 1 {
            "file needs"
        } else {
            "files need"
        };
        writeln!(
            self.out,
            "{count} {files} restoring from an archive storage class before they can be verified: \
             `aws s3api restore-object --bucket {} --key {} --restore-request \
             Days=7,GlacierJobParameters={{Tier=Standard}}` for each (the UNVERIFIABLE \
             'archived' lines name them), or S3 Batch Operations for many; then run again",
            escape(archived.map_or("BUCKET", |(b, _, _)| b)),
            archived.map_or("KEY".into(), |(_, k, _)| escape(k)),
        )
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

fn verdict(status: Status) -> &'static str {
    match status {
        Status::Invalid => "INVALID",
        Status::Unverifiable => "UNVERIFIABLE",
        Status::Valid => "valid",
    }
}

fn digest_problem_text(problem: &DigestProblem) -> String {
    match problem {
        DigestProblem::NotFound => "not found".into(),
        DigestProblem::OtherBucketMissing { bucket } => format!(
            "not found: it is in bucket {bucket}, which this run does not read (the trail moved buckets?)"
        ),
        DigestProblem::TooLarge { limit } => format!(
            "invalid format (larger than {limit} bytes decompressed; CloudTrail's digests are far smaller)"
        ),
        DigestProblem::ForeignObject { reason } => format!("not a file CloudTrail wrote: {reason}"),
        DigestProblem::MalformedMetadata { reason } => format!("its metadata is malformed: {reason}"),
        DigestProblem::MissingMetadata { field } => {
            format!("its object metadata lacks {field}, which CloudTrail always writes")
        }
        DigestProblem::BadBackfillTimestamp { value } => format!(
            "backfill-generation-timestamp {value:?} is not a time after the digest's end"
        ),
        DigestProblem::KeyUnknown { fingerprint, region } => format!(
            "public key not found in region {region} for fingerprint {fingerprint} (CloudTrail's key list for the time holds no such key)"
        ),
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
        DigestProblem::Expired { rule_id, days, date } => expired_text(rule_id, *days, *date),
        DigestProblem::Archived { storage_class } => archived_text(storage_class),
        DigestProblem::KmsDenied { key } => kms_text(key.as_deref()),
    }
}

fn expired_text(rule_id: &str, days: Option<u32>, date: Option<DateTime<Utc>>) -> String {
    let age = match (days, date) {
        (Some(1), _) => " (files older than 1 day)".to_string(),
        (Some(days), _) => format!(" (files older than {days} days)"),
        (None, Some(date)) => format!(" (files from {} on)", display_date(date)),
        (None, None) => String::new(),
    };
    format!(
        "expired under lifecycle rule {rule_id}{age}: not found, as the bucket's rule would have \
         removed it by now; what it held cannot be verified"
    )
}

fn archived_text(storage_class: &str) -> String {
    format!("archived: restore needed (storage class {storage_class})")
}

fn kms_text(key: Option<&str>) -> String {
    match key {
        Some(key) => format!("could not be read: kms:Decrypt on key {key} is denied (SSE-KMS)"),
        None => "could not be read: kms:Decrypt is denied (SSE-KMS)".into(),
    }
}

fn log_problem_text(problem: &LogProblem) -> String {
    match problem {
        LogProblem::NotFound => "not found".into(),
        LogProblem::HashMismatch { .. } => "hash value doesn't match".into(),
        LogProblem::InvalidFormat { detail } => format!("invalid format ({detail})"),
        LogProblem::TrailingData => "unexpected data after end of compressed stream".into(),
        LogProblem::BadDigestEntry { detail } => format!("its digest entry is malformed: {detail}"),
        LogProblem::NotListed { hour_covered: true } => "not listed by any digest file".into(),
        LogProblem::NotListed {
            hour_covered: false,
        } => "not listed by any valid digest file (no valid digest file covers its hour)".into(),
        LogProblem::ForeignObject { reason } => format!("not a file CloudTrail wrote: {reason}"),
        LogProblem::Unreadable { reason } => format!("could not be read: {reason}"),
        LogProblem::TooLarge { limit } => format!(
            "decompressed size exceeds {limit} bytes (--max-log-bytes); not hashed to the end"
        ),
        LogProblem::Expired {
            rule_id,
            days,
            date,
        } => expired_text(rule_id, *days, *date),
        LogProblem::Archived { storage_class } => archived_text(storage_class),
        LogProblem::KmsDenied { key } => kms_text(key.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_and_bidirectional_characters_are_escaped() {
        assert_eq!(super::escape("a\tb\u{202e}c"), "a\\u{9}b\\u{202e}c");
        assert_eq!(super::escape("plain/key.json.gz"), "plain/key.json.gz");
    }
}
