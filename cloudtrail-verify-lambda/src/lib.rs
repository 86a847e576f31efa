//! `ctverify` as a scheduled AWS Lambda function: each invocation (an EventBridge Scheduler
//! event) verifies one trail from its checkpoint state, publishes to an SNS topic when the
//! verdict is invalid, and prints CloudWatch metrics in Embedded Metric Format.
//!
//! Nothing here verifies anything: [`handle`] runs the command line in-process
//! ([`cloudtrail_verify_cli::run`], `--state s3://... --format json`) and reads the report it
//! prints, so the function's verdict is exactly `ctverify`'s. What this crate adds is what a
//! scheduled run needs around it:
//!
//! * **a time budget.** `ctverify` has no deadline of its own, and a first run over months of an
//!   organization trail does not fit in Lambda's 15 minutes. A run that is killed writes no
//!   state, so the next one would start over, forever. The handler therefore verifies in
//!   *steps*: each is an ordinary `--state` run whose `--to` is at most [`Config::catch_up`]
//!   after where the state's checkpoints are, and each moves the checkpoints before the next
//!   starts. While a step ends valid and the time left holds twice what the next one is
//!   expected to take (scaled from the last one), another follows; the next invocation goes on
//!   from the state. A step still running at the end of the budget is abandoned without writing
//!   its state (the state only ever moves after a whole run), so the next invocation repeats
//!   it, and an invocation that completed no step at all fails (Lambda retries it, then sends
//!   it to the dead-letter queue).
//! * **an alert**: one SNS message per invocation whose verdict is invalid, with the verdict line
//!   and the first findings.
//! * **metrics** ([`Metrics`]): digests and log files verified, invalid and unverifiable
//!   findings, and the proof lag: whole hours between now and the newest hour every chain is
//!   proven up to (`cloudtrail_verify::messages::proven_until`), the freshness auditors ask for.

#![deny(missing_docs)]

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, TimeDelta, Utc};
use cloudtrail_verify::report::Report;
use cloudtrail_verify::state::StateStore;
use cloudtrail_verify::storage::{Location, Store};
use cloudtrail_verify::{Status, TrailArn, VerifyOptions, aws, messages};
use serde::Serialize;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

/// The environment variables the function is configured with (the template sets them).
pub mod env {
    /// The trail's ARN (`arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME`); for an organization
    /// trail, the organization trail (every member account is one of its chains).
    pub const TRAIL: &str = "CTVERIFY_TRAIL";
    /// `true`: the trail is an organization trail, and its member accounts must come from
    /// Organizations ListAccounts (a run that could only use what the bucket holds is said so).
    pub const ORGANIZATION: &str = "CTVERIFY_ORGANIZATION";
    /// Where states are kept, `s3://STATE-BUCKET/PREFIX`; the trail's is
    /// `PREFIX/ACCOUNT/REGION/NAME.json` below it.
    pub const STATE: &str = "CTVERIFY_STATE";
    /// The SNS topic an invalid verdict is published to (none: no message).
    pub const SNS_TOPIC_ARN: &str = "CTVERIFY_SNS_TOPIC_ARN";
    /// Seconds an invocation may spend on verification (default [`super::DEFAULT_BUDGET`]):
    /// below the function's timeout, which is below Lambda's 900 s.
    pub const TIME_BUDGET_SECONDS: &str = "CTVERIFY_TIME_BUDGET_SECONDS";
    /// Where the very first run starts (RFC 3339 or a date; default: a day before it).
    pub const FROM: &str = "CTVERIFY_FROM";
    /// Hours of trail one step verifies at most (default [`super::DEFAULT_CATCH_UP_HOURS`]).
    pub const CATCH_UP_HOURS: &str = "CTVERIFY_CATCH_UP_HOURS";
    /// `true`: pass `--security-hub`, so that ctverify sends its findings to Security Hub.
    pub const SECURITY_HUB: &str = "CTVERIFY_SECURITY_HUB";
}

/// Default time budget: 13 minutes, leaving 2 of Lambda's 15 for the state, SNS and metrics.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(780);
/// Default largest step: a day of the trail per run while catching up.
pub const DEFAULT_CATCH_UP_HOURS: u32 = 24;
/// What the handler keeps of the invocation's own deadline (Lambda's `context.deadline`) for
/// what follows verification: writing the state, SNS, the metrics.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(30);
/// CloudWatch namespace of the metrics.
pub const NAMESPACE: &str = "ctverify";
/// Findings quoted in an SNS message (the rest are counted): SNS takes 256 KB, a person reads
/// far fewer.
const FINDINGS_IN_MESSAGE: usize = 20;

/// What the function verifies and where it reports: read once from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The trail.
    pub trail: TrailArn,
    /// Whether it is an organization trail whose member accounts must be listed.
    pub organization: bool,
    /// The trail's state (`s3://STATE-BUCKET/PREFIX/ACCOUNT/REGION/NAME.json`).
    pub state: Location,
    /// The SNS topic for invalid verdicts.
    pub topic_arn: Option<String>,
    /// Time an invocation may spend verifying.
    pub time_budget: Duration,
    /// Start of the first run, when there is no state yet (`None`: a day before it).
    pub from: Option<DateTime<Utc>>,
    /// Largest range one step verifies past the checkpoints.
    pub catch_up: TimeDelta,
    /// Whether ctverify sends its findings to Security Hub (`--security-hub`).
    pub security_hub: bool,
}

/// A configuration that cannot be used: the function fails at once, saying which variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    /// The environment variable.
    pub variable: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl Config {
    /// Reads the configuration through `var` (the process's environment in the function:
    /// `|name| std::env::var(name).ok()`).
    ///
    /// # Errors
    /// A variable missing or malformed.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| var(name).filter(|v| !v.trim().is_empty());
        let fail = |variable: &'static str, message: String| ConfigError { variable, message };
        let trail: TrailArn = get(env::TRAIL)
            .ok_or_else(|| fail(env::TRAIL, "the trail's ARN is required".into()))?
            .trim()
            .parse()
            .map_err(|e: cloudtrail_verify::TrailArnError| fail(env::TRAIL, e.to_string()))?;
        let state_prefix = get(env::STATE)
            .ok_or_else(|| fail(env::STATE, "s3://STATE-BUCKET/PREFIX is required".into()))?;
        let state = state_location(state_prefix.trim(), &trail)
            .map_err(|message| fail(env::STATE, message))?;
        let topic_arn = get(env::SNS_TOPIC_ARN).map(|t| t.trim().to_owned());
        if let Some(topic) = &topic_arn
            && topic_region(topic).is_none()
        {
            return Err(fail(
                env::SNS_TOPIC_ARN,
                format!("{topic:?} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"),
            ));
        }
        let number = |name: &'static str, default: u64, max: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(text) => match text.trim().parse::<u64>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(n),
                    _ => Err(fail(
                        name,
                        format!("{text:?} is not a number from 1 to {max}"),
                    )),
                },
            }
        };
        // Lambda stops a function at 900 s whatever it is doing.
        let time_budget = Duration::from_secs(number(
            env::TIME_BUDGET_SECONDS,
            DEFAULT_BUDGET.as_secs(),
            899,
        )?);
        let catch_up = TimeDelta::hours(
            number(
                env::CATCH_UP_HOURS,
                u64::from(DEFAULT_CATCH_UP_HOURS),
                24 * 366,
            )?
            .try_into()
            .unwrap_or(i64::from(DEFAULT_CATCH_UP_HOURS)),
        );
        let from = get(env::FROM)
            .map(|text| cloudtrail_verify_cli::cli::parse_time(text.trim()))
            .transpose()
            .map_err(|message| fail(env::FROM, message))?;
        let flag = |name: &'static str| -> Result<bool, ConfigError> {
            match get(name).as_deref().map(str::trim) {
                None => Ok(false),
                Some("true" | "True" | "TRUE" | "1" | "yes") => Ok(true),
                Some("false" | "False" | "FALSE" | "0" | "no") => Ok(false),
                Some(other) => Err(fail(name, format!("{other:?} is not true or false"))),
            }
        };
        Ok(Config {
            organization: flag(env::ORGANIZATION)?,
            security_hub: flag(env::SECURITY_HUB)?,
            trail,
            state,
            topic_arn,
            time_budget,
            from,
            catch_up,
        })
    }
}

/// The trail's state under `s3://BUCKET/PREFIX`: `PREFIX/ACCOUNT/REGION/NAME.json`, so that
/// the functions of several trails can share one state bucket without sharing a state.
fn state_location(prefix: &str, trail: &TrailArn) -> Result<Location, String> {
    let rest = prefix
        .strip_prefix("s3://")
        .ok_or_else(|| format!("{prefix:?} is not s3://STATE-BUCKET/PREFIX"))?;
    let (bucket, folder) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!("{prefix:?} names no bucket"));
    }
    let folder = folder.trim_matches('/');
    let name = format!("{}/{}/{}.json", trail.account_id, trail.region, trail.name);
    Ok(Location::S3 {
        bucket: bucket.to_owned(),
        key: if folder.is_empty() {
            name
        } else {
            format!("{folder}/{name}")
        },
    })
}

/// The region of an SNS topic ARN (`arn:PARTITION:sns:REGION:ACCOUNT:NAME`).
fn topic_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts[..] {
        ["arn", _, "sns", region, account, name]
            if !region.is_empty() && account.len() == 12 && !name.is_empty() =>
        {
            Some(region)
        }
        _ => None,
    }
}

/// What one invocation did: the function's response, and what the tests read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The trail.
    pub trail: String,
    /// ctverify's exit status of the last step (0 valid, 1 invalid, 2 unverifiable, 3 failed).
    pub exit_status: u8,
    /// ctverify's verdict line of the last step.
    pub verdict: String,
    /// The steps (ctverify runs) this invocation completed.
    pub steps: Vec<Step>,
    /// Whether a step was abandoned at the end of the time budget (its state not written).
    pub timed_out: bool,
    /// Whether the state reached the newest provable hour (`false`: the next invocation goes
    /// on catching up).
    pub caught_up: bool,
    /// The SNS message id, when the verdict was invalid and a topic is configured.
    pub sns_message_id: Option<String>,
    /// The metrics printed.
    pub metrics: Metrics,
}

/// One ctverify run of an invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// `--from` given (only on the very first run; later ones start from the state).
    pub from: Option<DateTime<Utc>>,
    /// `--to` given.
    pub to: DateTime<Utc>,
    /// Its exit status.
    pub exit_status: u8,
    /// Its duration in milliseconds.
    pub millis: u64,
}

/// The invocation's CloudWatch metrics (one Embedded Metric Format line, [`Metrics::emf_line`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metrics {
    /// Digest files verified valid, over every step.
    pub digests_verified: u64,
    /// Log files verified valid, over every step.
    pub log_files_verified: u64,
    /// Invalid findings of the last step (tampering: 0 is the only good value).
    pub invalid: u64,
    /// Unverifiable findings of the last step.
    pub unverifiable: u64,
    /// Whole hours from now back to the newest hour every chain is proven up to; `None` when
    /// no chain is proven at all (the metric is then left out: alarm on missing data).
    pub proof_lag_hours: Option<i64>,
    /// Steps completed.
    pub steps: u64,
    /// 1 when a step was abandoned at the end of the time budget.
    pub timed_out: u64,
}

impl Metrics {
    /// The metrics as one line of CloudWatch Embedded Metric Format, dimension `Trail`
    /// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>):
    /// CloudWatch Logs turns each such line the function prints into metric data points.
    pub fn emf_line(&self, trail: &str, now: DateTime<Utc>) -> String {
        let counts = [
            ("DigestsVerified", Some(self.digests_verified)),
            ("LogFilesVerified", Some(self.log_files_verified)),
            ("Invalid", Some(self.invalid)),
            ("Unverifiable", Some(self.unverifiable)),
            ("Steps", Some(self.steps)),
            ("TimedOut", Some(self.timed_out)),
        ];
        let mut definitions: Vec<serde_json::Value> = counts
            .iter()
            .map(|(name, _)| serde_json::json!({"Name": name, "Unit": "Count"}))
            .collect();
        let mut line = serde_json::Map::new();
        line.insert("Trail".into(), trail.into());
        for (name, value) in counts {
            line.insert(name.into(), value.into());
        }
        if let Some(lag) = self.proof_lag_hours {
            // CloudWatch has no hour unit: the value is hours, the unit None.
            definitions.push(serde_json::json!({"Name": "ProofLagHours", "Unit": "None"}));
            line.insert("ProofLagHours".into(), lag.into());
        }
        line.insert(
            "_aws".into(),
            serde_json::json!({
                "Timestamp": now.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Trail"]],
                    "Metrics": definitions,
                }],
            }),
        );
        serde_json::Value::Object(line).to_string()
    }
}

/// Why an invocation failed (Lambda then retries it, and sends it to the dead-letter queue).
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// ctverify could not run (exit status 3): its message.
    #[error("ctverify failed (exit status 3): {0}")]
    Run(String),
    /// The checkpoint state could not be read.
    #[error("the state {location}: {message}")]
    State {
        /// Where it is kept.
        location: String,
        /// Why.
        message: String,
    },
    /// ctverify's output was not the JSON report it prints.
    #[error("ctverify's report could not be read: {0}")]
    Report(String),
    /// Not one step fitted in the time budget: nothing was verified, and the next invocation
    /// would do the same.
    #[error(
        "no run ended within the time budget ({0:?}): the state did not move; lower \
         CTVERIFY_CATCH_UP_HOURS or raise the budget and the function's timeout"
    )]
    NoStepInBudget(Duration),
    /// The verdict was invalid and the SNS message could not be sent: an alert lost must not
    /// look like a run that went well.
    #[error("the verdict is INVALID and publishing to {topic} failed: {message}")]
    Publish {
        /// The topic.
        topic: String,
        /// Why.
        message: String,
    },
}

/// One invocation: verifies `config`'s trail in steps within the time budget (and before
/// `deadline`, Lambda's own, less [`DEADLINE_MARGIN`]), publishes to SNS when the verdict is
/// invalid, writes the metrics line to `metrics` and what happened to `log`.
///
/// `now` is the invocation's time (the clock in the function; the schedule's time when a test
/// replays one): the range ends at `now` less CloudTrail's delivery delay, the proof lag is
/// counted from it, and ctverify runs with it (`--now`), so that every part agrees on one time.
///
/// # Errors
/// [`HandlerError`]: ctverify could not run, no step fitted in the budget, or an invalid
/// verdict could not be published. An invalid or unverifiable verdict is not an error of the
/// invocation: it is its result, in the metrics and the [`Outcome`].
pub async fn handle(
    event: &EventBridgeEvent,
    config: &Config,
    now: DateTime<Utc>,
    deadline: Option<SystemTime>,
    metrics_out: &mut (dyn Write + Send),
    log: &mut (dyn Write + Send),
) -> Result<Outcome, HandlerError> {
    let started = Instant::now();
    let mut budget = config.time_budget;
    if let Some(deadline) = deadline {
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(DEADLINE_MARGIN);
        budget = budget.min(left);
    }
    let trail = config.trail.to_string();
    let _ = writeln!(
        log,
        "ctverify-lambda: {} event {} at {}: verifying {trail} with the state {}",
        event.detail_type,
        event.id.as_deref().unwrap_or("-"),
        event
            .time
            .map_or_else(|| "-".to_owned(), |t| t.to_rfc3339()),
        config.state
    );
    let provable_end = now - VerifyOptions::default().delivery_grace;
    let session = aws::load(&aws::AwsSettings::default())
        .await
        .map_err(|e| HandlerError::Run(e.to_string()))?;
    let mut metrics = Metrics::default();
    let mut steps = Vec::new();
    let mut step_length = config.catch_up;
    let mut last: Option<(u8, Report)> = None;
    let mut timed_out = false;
    let mut caught_up = false;
    loop {
        let resume = resume_point(config, &session, now).await?;
        let (from, start) = match resume {
            Resume::First(from) => (Some(from), from),
            Resume::Checkpoint(at) => (None, at),
        };
        let to = if provable_end - start > step_length {
            start + step_length
        } else {
            provable_end
        };
        let left = budget.saturating_sub(started.elapsed());
        let step_started = Instant::now();
        let run = tokio::time::timeout(left, run_ctverify(config, from, to, now, log)).await;
        let Ok(result) = run else {
            timed_out = true;
            let _ = writeln!(
                log,
                "ctverify-lambda: the run to {} did not end within the time budget: abandoned, \
                 its state not written; the next invocation repeats it",
                to.to_rfc3339()
            );
            break;
        };
        let (code, report) = result?;
        let took = step_started.elapsed();
        steps.push(Step {
            from,
            to,
            exit_status: code,
            millis: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        });
        metrics.digests_verified += report.summary.digests.valid;
        metrics.log_files_verified += report.summary.logs.valid;
        let _ = writeln!(
            log,
            "ctverify-lambda: run to {}: {}",
            to.to_rfc3339(),
            messages::verdict_line(&report, now)
        );
        caught_up = to >= provable_end;
        let valid = report.status == Status::Valid;
        last = Some((code, report));
        // Only a valid run moved every checkpoint: after any other, a further step would
        // verify the same hours again and find the same.
        if caught_up || !valid {
            break;
        }
        // The next step, scaled from this one to fill half the time left (the other half is
        // the margin for a step slower than its estimate), at most eight times longer.
        let left = budget.saturating_sub(started.elapsed()).as_secs_f64();
        let scale = (left / 2.0 / took.as_secs_f64().max(0.001)).min(8.0);
        let hours = (step_length.num_hours() as f64 * scale).floor();
        if hours < 1.0 {
            break;
        }
        step_length = TimeDelta::hours(hours as i64);
    }
    let Some((exit_status, report)) = last else {
        return Err(HandlerError::NoStepInBudget(budget));
    };
    let findings = messages::findings(&report);
    metrics.invalid = findings
        .iter()
        .filter(|f| f.status == Status::Invalid)
        .count() as u64;
    metrics.unverifiable = findings
        .iter()
        .filter(|f| f.status == Status::Unverifiable)
        .count() as u64;
    metrics.proof_lag_hours =
        messages::proven_until(&report).map(|until| (now - until).num_hours().max(0));
    metrics.steps = steps.len() as u64;
    metrics.timed_out = u64::from(timed_out);
    if config.organization && report.scope != cloudtrail_verify::report::ChainScope::Known {
        let _ = writeln!(
            log,
            "ctverify-lambda: the organization's member accounts could not be listed \
             (organizations:ListAccounts): only the accounts found in the bucket were verified, \
             so an account whose files were all deleted would go unnoticed"
        );
    }
    let verdict = messages::verdict_line(&report, now);
    let sns_message_id = match (&config.topic_arn, report.status) {
        (Some(topic), Status::Invalid) => {
            Some(publish(&session, topic, &report, &verdict, &findings, now).await?)
        }
        _ => None,
    };
    let _ = writeln!(metrics_out, "{}", metrics.emf_line(&trail, now));
    let _ = metrics_out.flush();
    Ok(Outcome {
        trail,
        exit_status,
        verdict,
        steps,
        timed_out,
        caught_up,
        sns_message_id,
        metrics,
    })
}

/// Where the next step starts.
enum Resume {
    /// No state yet: the first run, from here (`--from`).
    First(DateTime<Utc>),
    /// From the state: its newest checkpoint (or its start, before any), no `--from`.
    Checkpoint(DateTime<Utc>),
}

/// Reads the state to see where the next step starts: the newest checkpoint of any chain, so
/// that a chain held back by a finding does not hold back the others (it is verified from its
/// own checkpoint each run, and reported each run, until it is resolved).
async fn resume_point(
    config: &Config,
    session: &cloudtrail_verify::aws_config::SdkConfig,
    now: DateTime<Utc>,
) -> Result<Resume, HandlerError> {
    let fail = |message: String| HandlerError::State {
        location: config.state.to_string(),
        message,
    };
    let store = StateStore::new(
        Store::open(config.state.clone(), session)
            .await
            .map_err(|e| fail(e.to_string()))?,
    );
    let loaded = store.load().await.map_err(|e| fail(e.to_string()))?;
    Ok(match loaded.state {
        None => Resume::First(config.from.unwrap_or(now - TimeDelta::days(1))),
        Some(state) => Resume::Checkpoint(
            state
                .checkpoints()
                .values()
                .map(|head| head.end_time)
                .max()
                .unwrap_or(state.from),
        ),
    })
}

/// Runs `ctverify --trail ARN --state S3 --format json --to TO --now NOW` in-process and reads
/// its report; what it writes on stderr goes to `log`.
async fn run_ctverify(
    config: &Config,
    from: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    log: &mut (dyn Write + Send),
) -> Result<(u8, Report), HandlerError> {
    let args = ctverify_args(config, from, to, now);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cloudtrail_verify_cli::run(args, &mut out, &mut err).await;
    let stderr = String::from_utf8_lossy(&err);
    for line in stderr.lines() {
        let _ = writeln!(log, "{line}");
    }
    if code == cloudtrail_verify_cli::exit::ERROR {
        return Err(HandlerError::Run(stderr.trim().to_owned()));
    }
    let report: Report =
        serde_json::from_slice(&out).map_err(|e| HandlerError::Report(e.to_string()))?;
    Ok((code, report))
}

/// The command line of one step.
pub fn ctverify_args(
    config: &Config,
    from: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut args: Vec<String> = [
        "ctverify",
        "--trail",
        &config.trail.to_string(),
        "--state",
        &config.state.to_string(),
        "--format",
        "json",
        "--to",
        &time(to),
        "--now",
        &time(now),
    ]
    .map(str::to_owned)
    .into();
    if let Some(from) = from {
        args.extend(["--from".to_owned(), time(from)]);
    }
    if config.security_hub {
        args.push("--security-hub".to_owned());
    }
    args
}

/// Publishes an invalid verdict to `topic`, returning the message id.
async fn publish(
    session: &cloudtrail_verify::aws_config::SdkConfig,
    topic: &str,
    report: &Report,
    verdict: &str,
    findings: &[messages::Finding],
    now: DateTime<Utc>,
) -> Result<String, HandlerError> {
    let fail = |message: String| HandlerError::Publish {
        topic: topic.to_owned(),
        message,
    };
    // The topic's region, whatever the function's: SNS accepts a topic only in its own.
    let region = topic_region(topic).map(str::to_owned);
    let conf = aws::with_call_policy(
        &session
            .to_builder()
            .region(region.map(cloudtrail_verify::aws_config::Region::new))
            .build(),
    );
    let client = aws_sdk_sns::Client::new(&conf);
    let trail_name = &report.trail.name;
    // SNS subjects are at most 100 ASCII characters.
    let subject: String = format!("ctverify: INVALID: trail {trail_name}")
        .chars()
        .filter(char::is_ascii)
        .take(100)
        .collect();
    let result = client
        .publish()
        .topic_arn(topic)
        .subject(subject)
        .message(alert_text(report, verdict, findings, now))
        .send()
        .await
        .map_err(|e| fail(aws::error_text(&e, None)))?;
    Ok(result.message_id().unwrap_or_default().to_owned())
}

/// The SNS message: the verdict line, then the invalid findings, then where the report and
/// state are.
pub fn alert_text(
    report: &Report,
    verdict: &str,
    findings: &[messages::Finding],
    now: DateTime<Utc>,
) -> String {
    let invalid: Vec<&messages::Finding> = findings
        .iter()
        .filter(|f| f.status == Status::Invalid)
        .collect();
    let mut text = format!(
        "{verdict}\n\nTrail: {}\nBucket: {}\nRun at: {}\nInvalid findings: {}\n",
        report.trail,
        report.bucket,
        now.to_rfc3339(),
        invalid.len()
    );
    for finding in invalid.iter().take(FINDINGS_IN_MESSAGE) {
        text.push_str(&format!("  - {}\n", messages::escape(&finding.to_string())));
    }
    if invalid.len() > FINDINGS_IN_MESSAGE {
        text.push_str(&format!(
            "  ... and {} more\n",
            invalid.len() - FINDINGS_IN_MESSAGE
        ));
    }
    if let Some(state) = &report.state {
        text.push_str(&format!(
            "\nState: {} (read SHA-256 {}, written {})\n",
            state.location,
            state.read_sha256.as_deref().unwrap_or("none"),
            state.written_sha256
        ));
    }
    text.push_str(
        "\nInvalid means evidence of tampering: a digest or log file changed, deleted or \
         forged after CloudTrail delivered it. Run ctverify on the same range to see every \
         finding.\n",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    const TRAIL: &str = "arn:aws:cloudtrail:eu-west-1:111122223333:trail/org";

    #[test]
    fn the_state_of_a_trail_lies_under_the_prefix_named_by_account_region_and_trail() {
        let config = Config::from_env(vars(&[
            (env::TRAIL, TRAIL),
            (env::STATE, "s3://audit-state/ctverify/"),
        ]))
        .unwrap();
        assert_eq!(
            config.state.to_string(),
            "s3://audit-state/ctverify/111122223333/eu-west-1/org.json"
        );
        assert_eq!(config.time_budget, DEFAULT_BUDGET);
        assert_eq!(config.catch_up, TimeDelta::hours(24));
        assert!(!config.security_hub && !config.organization);
        let bare = Config::from_env(vars(&[(env::TRAIL, TRAIL), (env::STATE, "s3://b")])).unwrap();
        assert_eq!(
            bare.state.to_string(),
            "s3://b/111122223333/eu-west-1/org.json"
        );
    }

    #[test]
    fn a_configuration_that_cannot_be_used_names_its_variable() {
        for (pairs, variable) in [
            (vec![(env::STATE, "s3://b/p")], env::TRAIL),
            (
                vec![(env::TRAIL, "trail"), (env::STATE, "s3://b/p")],
                env::TRAIL,
            ),
            (vec![(env::TRAIL, TRAIL)], env::STATE),
            (
                vec![(env::TRAIL, TRAIL), (env::STATE, "/tmp/state")],
                env::STATE,
            ),
            (
                vec![
                    (env::TRAIL, TRAIL),
                    (env::STATE, "s3://b/p"),
                    (env::TIME_BUDGET_SECONDS, "900"),
                ],
                env::TIME_BUDGET_SECONDS,
            ),
            (
                vec![
                    (env::TRAIL, TRAIL),
                    (env::STATE, "s3://b/p"),
                    (env::SNS_TOPIC_ARN, "topic"),
                ],
                env::SNS_TOPIC_ARN,
            ),
            (
                vec![
                    (env::TRAIL, TRAIL),
                    (env::STATE, "s3://b/p"),
                    (env::SECURITY_HUB, "maybe"),
                ],
                env::SECURITY_HUB,
            ),
        ] {
            let e = Config::from_env(vars(&pairs)).unwrap_err();
            assert_eq!(e.variable, variable, "{pairs:?}: {e}");
        }
    }

    #[test]
    fn security_hub_on_adds_the_flag_and_only_the_first_run_has_a_start() {
        let mut config = Config::from_env(vars(&[
            (env::TRAIL, TRAIL),
            (env::STATE, "s3://b/p"),
            (env::SECURITY_HUB, "true"),
        ]))
        .unwrap();
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let first = ctverify_args(
            &config,
            Some(t("2026-01-01T00:00:00Z")),
            t("2026-01-02T00:00:00Z"),
            t("2026-01-02T02:00:00Z"),
        );
        assert_eq!(first.last().map(String::as_str), Some("--security-hub"));
        assert!(
            first
                .windows(2)
                .any(|w| w == ["--from", "2026-01-01T00:00:00Z"])
        );
        config.security_hub = false;
        let later = ctverify_args(
            &config,
            None,
            t("2026-01-02T00:00:00Z"),
            t("2026-01-02T02:00:00Z"),
        );
        assert!(!later.iter().any(|a| a == "--from" || a == "--security-hub"));
        assert!(
            later
                .windows(2)
                .any(|w| w == ["--now", "2026-01-02T02:00:00Z"])
        );
    }

    #[test]
    fn the_metrics_line_is_embedded_metric_format_and_leaves_out_an_unknown_lag() {
        let metrics = Metrics {
            digests_verified: 8,
            log_files_verified: 24,
            proof_lag_hours: None,
            ..Metrics::default()
        };
        let now = "2026-01-02T02:00:00Z".parse().unwrap();
        let line: serde_json::Value = serde_json::from_str(&metrics.emf_line(TRAIL, now)).unwrap();
        let definition = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(definition["Namespace"], NAMESPACE);
        assert_eq!(definition["Dimensions"], serde_json::json!([["Trail"]]));
        let names: Vec<&str> = definition["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert!(!names.contains(&"ProofLagHours"));
        for name in names {
            assert!(line[name].is_u64(), "{name} has no value");
        }
        assert_eq!(line["Trail"], TRAIL);
        assert_eq!(line["_aws"]["Timestamp"], now.timestamp_millis());
    }
}
