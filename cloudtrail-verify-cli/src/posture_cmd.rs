//! `ctverify enable` and `ctverify audit`: their flags, and printing what the
//! `cloudtrail_posture` library returns (text or JSON). All decisions are the library's.
//!
//! Exit statuses follow `ctverify`'s: `enable` 0 done (or nothing to do, or dry run), 1 refused
//! (a pre-check did not pass, nothing changed), 3 error (bad arguments such as no key for SSE-KMS,
//! trail not found, an API call failed); `audit` 0 every check passed (warnings included), 1 a
//! check failed, 2 none failed but some could not be determined, 3 error.

use std::io::Write;

use aws_config::SdkConfig;
use cloudtrail_posture as posture;
use cloudtrail_posture::{
    AuditOptions, AuditScope, CheckStatus, EnableError, EnableOutcome, EnablePlan, EnableRequest,
    Finding, KeyChoice, PostureClients, PostureReport, TrailState,
};
use cloudtrail_verify::aws;
use serde::Serialize;

use crate::exit;

/// Output format of `enable` and `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PostureFormat {
    /// Human-readable text.
    Text,
    /// One JSON document on stdout.
    Json,
}

/// Output format of `audit`: those of `enable`, and the formats of compliance tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    /// Human-readable text.
    Text,
    /// One JSON document on stdout.
    Json,
    /// Each check as an AWS Security Finding Format finding (one JSON array), with its
    /// Security Hub control and CIS AWS Foundations requirements.
    Asff,
    /// Each check as an OCSF 1.x Compliance Finding (class 2003), one JSON object per line.
    Ocsf,
}

/// How `enable` and `audit` reach AWS: the same flags as verification (`--profile`,
/// `--endpoint-url`, `--ca-bundle`), plus the region of the API calls.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// Profile, endpoint and CA bundle, as for verification.
    #[command(flatten)]
    pub session: crate::shared_args::AwsArgs,
    /// Region for API calls (as in the AWS CLI). Default: the standard chain. A trail given by
    /// ARN is always read and changed in its own home region. (In verification, --region
    /// instead selects source regions.)
    #[arg(long, value_name = "REGION", help_heading = "AWS")]
    pub region: Option<String>,
}

impl ApiArgs {
    /// Loads the session; a missing profile or an unusable CA bundle is an error.
    async fn load(&self) -> Result<aws_config::SdkConfig, cloudtrail_verify::aws::SessionError> {
        cloudtrail_verify::aws::load(&self.session.settings(self.region.clone())).await
    }
}

/// Flags of `ctverify enable`.
///
/// Turns on log-file validation (digest files, what ctverify verifies) and SSE-KMS encryption of
/// log and digest files. It first checks that the key exists and its policy lets CloudTrail use
/// it, and that the bucket policy lets CloudTrail write; otherwise it refuses and changes nothing.
/// Running it again changes nothing.
#[derive(Debug, clap::Args)]
pub struct EnableArgs {
    /// The trail: arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME (or its name, in --region).
    #[arg(long, visible_alias = "trail-arn", value_name = "ARN")]
    pub trail: String,
    /// Encrypt with this existing KMS key: key id, key ARN, alias name (alias/NAME) or alias ARN.
    /// It must be in the bucket's region and its policy must let cloudtrail.amazonaws.com use it.
    #[arg(long, value_name = "KEY", conflicts_with = "create_kms_key")]
    pub kms_key: Option<String>,
    /// Create a KMS key whose policy lets CloudTrail encrypt for this trail and the account
    /// decrypt, give it an alias, and use it. Reuses the key if the alias already exists.
    #[arg(long)]
    pub create_kms_key: bool,
    /// Alias of the key --create-kms-key creates. Default: alias/ctverify-TRAILNAME.
    #[arg(long, value_name = "ALIAS", requires = "create_kms_key")]
    pub alias: Option<String>,
    /// Turn on log-file validation only, for trails whose encryption is decided elsewhere: no
    /// key is needed, no KMS call is made and the trail's key is left as it is.
    #[arg(long, conflicts_with_all = ["kms_key", "create_kms_key"])]
    pub validation_only: bool,
    /// Print the checks and the planned changes; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, visible_alias = "output", value_enum, default_value_t = PostureFormat::Text)]
    pub format: PostureFormat,
    /// AWS profile and region.
    #[command(flatten)]
    pub aws: ApiArgs,
}

/// Flags of `ctverify audit`.
///
/// One finding per check (pass / fail / unknown, with evidence), naming the Security Hub
/// control where one exists.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The trail: arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME (or its name, in --region).
    #[arg(
        long,
        visible_alias = "trail-arn",
        value_name = "ARN",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub trail: Option<String>,
    /// Audit every trail of the account (ListTrails).
    #[arg(long)]
    pub all: bool,
    /// Days log and digest files must be kept: a bucket lifecycle rule that expires them sooner
    /// fails the retention check. Default: 365, the twelve months of audit history PCI DSS
    /// requirement 10.5.1 asks for.
    #[arg(long, value_name = "DAYS", default_value_t = cloudtrail_posture::retention::DEFAULT_RETENTION_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_days: u32,
    /// Output format.
    #[arg(long, visible_alias = "output", value_enum, default_value_t = AuditFormat::Text)]
    pub format: AuditFormat,
    /// Send every check to the account's Security Hub in the region of the API calls
    /// (BatchImportFindings, ASFF), passing ones as PASSED. A check Security Hub does not import
    /// after retries makes the run fail (exit status 3), unless a check failed (1).
    #[arg(long)]
    pub security_hub: bool,
    /// AWS profile and region.
    #[command(flatten)]
    pub aws: ApiArgs,
}

/// Runs `ctverify enable` with configuration from the standard chain (`--profile`, `--region`).
pub async fn run_enable(args: &EnableArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let conf = match args.aws.load().await {
        Ok(conf) => conf,
        Err(e) => {
            let _ = writeln!(err, "ctverify enable: {e}");
            return exit::ERROR;
        }
    };
    run_enable_with_config(args, &conf, out, err).await
}

/// Runs `ctverify audit` with configuration from the standard chain (`--profile`, `--region`).
pub async fn run_audit(args: &AuditArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let conf = match args.aws.load().await {
        Ok(conf) => conf,
        Err(e) => {
            let _ = writeln!(err, "ctverify audit: {e}");
            return exit::ERROR;
        }
    };
    run_audit_with_config(args, &conf, out, err).await
}

/// Runs `ctverify enable` with an already loaded configuration; returns the exit status.
pub async fn run_enable_with_config(
    args: &EnableArgs,
    conf: &SdkConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let key = match (&args.kms_key, args.create_kms_key) {
        _ if args.validation_only => KeyChoice::ValidationOnly,
        (Some(key), _) => KeyChoice::Existing(key.clone()),
        (None, true) => KeyChoice::Create {
            alias: args.alias.clone(),
        },
        (None, false) => KeyChoice::KeepCurrent,
    };
    let request = EnableRequest {
        trail: args.trail.clone(),
        key,
        dry_run: args.dry_run,
    };
    let clients = PostureClients::from_conf(conf);
    // Each call is bounded; so is the whole command, whatever the number of calls.
    let Ok(result) =
        tokio::time::timeout(aws::SETUP_TIMEOUT, posture::enable(&clients, &request)).await
    else {
        let _ = writeln!(
            err,
            "ctverify enable: had not ended after {} s (each AWS call is bounded at {} s): \
             check the network, HTTPS_PROXY, AWS_ENDPOINT_URL and the region; a change already \
             made stays made, and running it again finishes the rest",
            aws::SETUP_TIMEOUT.as_secs(),
            aws::CALL_TIMEOUT.as_secs()
        );
        return exit::ERROR;
    };
    let json = args.format == PostureFormat::Json;
    let written = match &result {
        Ok(outcome) if json => write_json(out, &EnableJson::done(outcome)),
        Ok(outcome) => write_enable_text(out, outcome),
        Err(e @ EnableError::Refused(plan)) => {
            let message = e.to_string();
            let printed = if json {
                write_json(
                    out,
                    &RefusedJson {
                        result: "refused",
                        reason: &message,
                        plan,
                    },
                )
            } else {
                write_plan_text(out, plan, "Would change (refused, nothing changed)")
            };
            printed.and_then(|()| writeln!(err, "ctverify enable: {message}"))
        }
        Err(e @ EnableError::KeyRequired(plan)) => {
            // The whole plan, then what is missing: the user sees everything else the run
            // would check and change.
            let message = e.to_string();
            let printed = if json {
                write_json(
                    out,
                    &RefusedJson {
                        result: "incomplete",
                        reason: &message,
                        plan,
                    },
                )
            } else {
                write_plan_text(out, plan, "Would change (nothing changed)")
            };
            printed.and_then(|()| writeln!(err, "ctverify enable: {message}"))
        }
        Err(e) => writeln!(err, "ctverify enable: {e}"),
    };
    if let Err(e) = written {
        let _ = writeln!(err, "ctverify enable: cannot write output: {e}");
        return exit::ERROR;
    }
    enable_exit_status(&result)
}

/// Runs `ctverify audit` with an already loaded configuration; returns the exit status.
pub async fn run_audit_with_config(
    args: &AuditArgs,
    conf: &SdkConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let scope = match (&args.trail, args.all) {
        (_, true) => AuditScope::All,
        (Some(trail), false) => AuditScope::Trail(trail.clone()),
        (None, false) => {
            let _ = writeln!(err, "ctverify audit: pass --trail ARN or --all");
            return exit::ERROR;
        }
    };
    let clients = PostureClients::from_conf(conf);
    let options = AuditOptions {
        retention_days: args.retention_days,
    };
    // Each call is bounded; so is the whole command, whatever the number of calls.
    let report = match tokio::time::timeout(
        aws::SETUP_TIMEOUT,
        posture::audit(&clients, &scope, &options),
    )
    .await
    {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => {
            let _ = writeln!(err, "ctverify audit: {e}");
            return exit::ERROR;
        }
        Err(_) => {
            let _ = writeln!(
                err,
                "ctverify audit: had not ended after {} s (each AWS call is bounded at {} s): \
                 check the network, HTTPS_PROXY, AWS_ENDPOINT_URL and the region",
                aws::SETUP_TIMEOUT.as_secs(),
                aws::CALL_TIMEOUT.as_secs()
            );
            return exit::ERROR;
        }
    };
    let now = chrono::Utc::now();
    let region = conf.region().map(ToString::to_string).unwrap_or_default();
    let written = match args.format {
        AuditFormat::Json => write_json(out, &report),
        AuditFormat::Text => write_audit_text(out, &report),
        AuditFormat::Asff => write_json(out, &crate::posture_findings::asff(&report, &region, now)),
        AuditFormat::Ocsf => crate::posture_findings::ocsf(&report, &region, now)
            .iter()
            .try_for_each(|e| {
                serde_json::to_writer(&mut *out, e)?;
                writeln!(out)
            }),
    };
    if let Err(e) = written {
        let _ = writeln!(err, "ctverify audit: cannot write output: {e}");
        return exit::ERROR;
    }
    let status = audit_exit_status(&report);
    if args.security_hub {
        let findings = crate::posture_findings::asff(&report, &region, now);
        let total = findings.len();
        let outcome = crate::security_hub::send(conf, findings, &region).await;
        let _ = writeln!(
            err,
            "Security Hub ({region}): {} of {total} checks imported in {} BatchImportFindings calls",
            outcome.imported.len(),
            outcome.calls
        );
        if let Some(first) = outcome.failed.first() {
            let _ = writeln!(
                err,
                "ctverify audit: Security Hub did not import {} of {total} checks after {} \
                 retries (first: {}: {})",
                outcome.failed.len(),
                crate::security_hub::MAX_RETRIES,
                first.id,
                first.reason
            );
            // A failed check outranks the findings not sent, as a verdict does.
            if status != exit::INVALID {
                return exit::ERROR;
            }
        }
    }
    status
}

fn enable_exit_status(result: &Result<EnableOutcome, EnableError>) -> u8 {
    match result {
        Ok(_) => exit::VALID,
        Err(EnableError::Refused(_)) => exit::INVALID,
        Err(_) => exit::ERROR,
    }
}

fn audit_exit_status(report: &PostureReport) -> u8 {
    match report.status {
        CheckStatus::Pass | CheckStatus::Warn => exit::VALID,
        CheckStatus::Fail => exit::INVALID,
        // Unknown, and whatever a later version adds: not a pass.
        _ => exit::UNVERIFIABLE,
    }
}

/// `enable --format json` on success: the outcome plus a one-word result.
#[derive(Serialize)]
struct EnableJson<'a> {
    /// `changed`, `unchanged` or `dry_run`.
    result: &'static str,
    #[serde(flatten)]
    outcome: &'a EnableOutcome,
}

impl<'a> EnableJson<'a> {
    fn done(outcome: &'a EnableOutcome) -> Self {
        let result = if outcome.changed() {
            "changed"
        } else if outcome.plan.is_noop() {
            "unchanged"
        } else {
            "dry_run"
        };
        Self { result, outcome }
    }
}

/// `enable --format json` on refusal (`refused`) or when a key is missing (`incomplete`).
#[derive(Serialize)]
struct RefusedJson<'a> {
    result: &'static str,
    reason: &'a str,
    plan: &'a EnablePlan,
}

fn write_json<T: Serialize>(out: &mut dyn Write, value: &T) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(std::io::Error::other)?;
    writeln!(out)
}

fn write_plan_text(
    out: &mut dyn Write,
    plan: &EnablePlan,
    changes_title: &str,
) -> std::io::Result<()> {
    let t = &plan.trail;
    writeln!(
        out,
        "Trail {} (home region {}, bucket {}{})",
        t.arn,
        t.home_region,
        t.s3_bucket,
        t.s3_key_prefix
            .as_deref()
            .map(|p| format!(", prefix {p}"))
            .unwrap_or_default()
    )?;
    if !plan.checks.is_empty() {
        writeln!(out, "Checks:")?;
        for c in &plan.checks {
            write_finding(out, c)?;
        }
    }
    if !plan.missing.is_empty() {
        writeln!(out, "Missing:")?;
        for m in &plan.missing {
            writeln!(out, "  - {m}")?;
        }
    }
    if !plan.changes.is_empty() {
        writeln!(out, "{changes_title}:")?;
        for c in &plan.changes {
            writeln!(out, "  - {}", c.describe())?;
        }
    }
    Ok(())
}

fn write_enable_text(out: &mut dyn Write, outcome: &EnableOutcome) -> std::io::Result<()> {
    let plan = &outcome.plan;
    if plan.is_noop() {
        write_plan_text(out, plan, "")?;
        match plan.trail.kms_key_id.as_deref() {
            Some(key) => writeln!(
                out,
                "Nothing to change: log-file validation is on and log and digest files are \
                 encrypted with {key}."
            )?,
            // Only reachable with --validation-only: encryption is not this run's business.
            None => writeln!(out, "Nothing to change: log-file validation is on.")?,
        }
        if plan.blocking_checks().next().is_some() {
            writeln!(
                out,
                "Note: some checks did not pass (see above); the trail may not be delivering."
            )?;
        }
    } else if outcome.dry_run {
        write_plan_text(out, plan, "Would change (dry run, nothing changed)")?;
    } else {
        write_plan_text(out, plan, "Planned")?;
        if let Some(k) = &outcome.created_key {
            writeln!(
                out,
                "Created KMS key {} ({}), automatic rotation {}",
                k.arn,
                k.alias,
                if k.rotation_enabled { "on" } else { "off" }
            )?;
        }
        writeln!(out, "Changed:")?;
        for c in &outcome.applied {
            writeln!(out, "  - {}", c.describe())?;
        }
        for w in &outcome.warnings {
            writeln!(out, "Warning: {w}")?;
        }
    }
    let title = if outcome.changed() {
        "Trail state after the change"
    } else {
        "Trail state"
    };
    write_state_text(out, title, &outcome.after)
}

fn write_state_text(out: &mut dyn Write, title: &str, s: &TrailState) -> std::io::Result<()> {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    writeln!(out, "{title}:")?;
    writeln!(
        out,
        "  log-file validation:  {}",
        yes_no(s.log_file_validation_enabled)
    )?;
    writeln!(
        out,
        "  SSE-KMS key:          {}",
        s.kms_key_id.as_deref().unwrap_or("none")
    )?;
    writeln!(out, "  multi-region:         {}", yes_no(s.is_multi_region))?;
    match (&s.status, &s.status_error) {
        (Some(st), _) => {
            writeln!(
                out,
                "  logging:              {}",
                st.is_logging.map_or("unknown", yes_no)
            )?;
            if let Some(t) = &st.latest_delivery_time {
                writeln!(out, "  last delivery:        {t}")?;
            }
            if let Some(t) = &st.latest_digest_delivery_time {
                writeln!(out, "  last digest delivery: {t}")?;
            }
            for (what, e) in [
                ("delivery error:      ", &st.latest_delivery_error),
                ("digest error:        ", &st.latest_digest_delivery_error),
            ] {
                if let Some(e) = e {
                    writeln!(out, "  {what} {e}")?;
                }
            }
        }
        (None, e) => writeln!(
            out,
            "  status:               unknown ({})",
            e.as_deref().unwrap_or("GetTrailStatus failed")
        )?,
    }
    Ok(())
}

fn write_finding(out: &mut dyn Write, f: &Finding) -> std::io::Result<()> {
    let control = f.control.map(|c| format!(" [{c}]")).unwrap_or_default();
    writeln!(
        out,
        "  {:<7} {}{control}",
        f.status.as_str().to_uppercase(),
        f.check.title()
    )?;
    writeln!(out, "          {}", f.evidence)
}

fn write_audit_text(out: &mut dyn Write, report: &PostureReport) -> std::io::Result<()> {
    if !report.account_findings.is_empty() {
        writeln!(out, "Account")?;
        for f in &report.account_findings {
            write_finding(out, f)?;
        }
    }
    for t in &report.trails {
        match &t.state {
            Some(s) => writeln!(out, "Trail {} (bucket {})", t.trail_arn, s.s3_bucket)?,
            None => writeln!(out, "Trail {}", t.trail_arn)?,
        }
        for f in &t.findings {
            write_finding(out, f)?;
        }
    }
    let s = &report.summary;
    writeln!(
        out,
        "{} passed, {} warnings, {} failed, {} unknown: {}",
        s.pass,
        s.warn,
        s.fail,
        s.unknown,
        report.status.as_str().to_uppercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct TestCli {
        #[command(subcommand)]
        cmd: TestCmd,
    }

    #[derive(Debug, clap::Subcommand)]
    enum TestCmd {
        Enable(EnableArgs),
        Audit(AuditArgs),
    }

    #[test]
    fn flags_are_consistent() {
        use clap::CommandFactory;
        TestCli::command().debug_assert();
    }

    #[test]
    fn kms_key_and_create_kms_key_exclude_each_other() {
        let r = TestCli::try_parse_from([
            "t",
            "enable",
            "--trail",
            "x",
            "--kms-key",
            "k",
            "--create-kms-key",
        ]);
        assert!(r.is_err());
        let r = TestCli::try_parse_from(["t", "enable", "--trail", "x", "--alias", "a"]);
        assert!(r.is_err(), "--alias needs --create-kms-key");
    }

    #[test]
    fn validation_only_excludes_the_key_options() {
        for key in [&["--kms-key", "k"][..], &["--create-kms-key"][..]] {
            let mut args = vec!["t", "enable", "--trail", "x", "--validation-only"];
            args.extend_from_slice(key);
            assert!(TestCli::try_parse_from(args).is_err());
        }
        assert!(
            TestCli::try_parse_from(["t", "enable", "--trail", "x", "--validation-only"]).is_ok()
        );
    }

    #[test]
    fn retention_days_defaults_to_a_year_and_refuses_zero() {
        let Ok(TestCli {
            cmd: TestCmd::Audit(args),
        }) = TestCli::try_parse_from(["t", "audit", "--all"])
        else {
            panic!("audit --all parses");
        };
        assert_eq!(args.retention_days, 365);
        assert!(TestCli::try_parse_from(["t", "audit", "--all", "--retention-days", "0"]).is_err());
    }

    #[test]
    fn audit_needs_a_trail_or_all() {
        assert!(TestCli::try_parse_from(["t", "audit"]).is_err());
        assert!(TestCli::try_parse_from(["t", "audit", "--all"]).is_ok());
        assert!(TestCli::try_parse_from(["t", "audit", "--all", "--trail", "x"]).is_err());
    }
}
