//! The scheduled audit's Lambda handler (`cloudtrail-verify-lambda`) against a generated trail
//! in the S3 test server, CloudTrail's stub, and SNS on moto: invoked with the event the
//! template's schedule sends, it alerts exactly when the verdict is invalid, its Embedded Metric
//! Format line counts what was proven, and each invocation goes on from the state the last one
//! wrote, in steps when there is much to catch up.

#[path = "support/s3_trail.rs"]
#[allow(dead_code)]
mod s3_trail;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use cloudtrail_verify::state::State;
use ctverify_fixtures::{TrailSpec, format_time, tamper};
use ctverify_tests::local_http::LocalHttpServer;
use ctverify_tests::moto::MotoServer;
use ctverify_tests::s3_server::S3ServerOptions;
use ctverify_tests::trail::{GeneratedTrail, exit};
use http_body_util::{BodyExt, Full};
use s3_trail::S3Trail;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// The state bucket the template creates: not the trail's.
const STATE_BUCKET: &str = "ctverify-audit-state";

/// Two regions, eight hours of three log files each.
fn spec() -> TrailSpec {
    TrailSpec {
        digests: 8,
        logs_per_digest: 3,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        ..TrailSpec::default()
    }
}

/// What SNS delivered to an HTTP subscriber: each notification's JSON.
#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<Value>>>);

impl Inbox {
    fn notifications(&self) -> Vec<Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|n| n["Type"] == "Notification")
            .cloned()
            .collect()
    }
}

/// A trail served by the S3 server and CloudTrail's stub, an SNS topic on moto with an HTTP
/// subscriber, and the function's configuration.
struct Audit {
    s3: S3Trail,
    _moto: MotoServer,
    moto_endpoint: String,
    topic: String,
    inbox: Inbox,
    _subscriber: LocalHttpServer,
}

/// One invocation: its metrics lines, and its outcome or error.
struct Invocation {
    metrics: Vec<Value>,
    result: Value,
    log: String,
}

impl Invocation {
    /// The outcome; panics with the log when the invocation failed.
    fn outcome(&self) -> &Value {
        assert!(
            self.result.get("outcome").is_some(),
            "the invocation failed: {}\n{}",
            self.result,
            self.log
        );
        &self.result["outcome"]
    }

    /// The one metrics line of the invocation, checked against the Embedded Metric Format
    /// specification: every metric defined has a value on the line, the dimension too.
    fn metrics(&self) -> &Value {
        assert_eq!(self.metrics.len(), 1, "{:?}\n{}", self.metrics, self.log);
        let line = &self.metrics[0];
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "ctverify");
        assert_eq!(directive["Dimensions"], serde_json::json!([["Trail"]]));
        assert!(line["Trail"].is_string());
        assert!(line["_aws"]["Timestamp"].is_i64());
        for metric in directive["Metrics"].as_array().expect("metric definitions") {
            let name = metric["Name"].as_str().expect("a metric's name");
            assert!(
                line[name].is_number(),
                "{name} is defined but has no value: {line}"
            );
        }
        line
    }
}

impl Audit {
    fn start(spec: &TrailSpec, damage: impl FnOnce(&GeneratedTrail)) -> Self {
        Self::start_with(spec, damage, S3ServerOptions::new())
    }

    fn start_with(
        spec: &TrailSpec,
        damage: impl FnOnce(&GeneratedTrail),
        options: S3ServerOptions,
    ) -> Self {
        let s3 = S3Trail::start_with(
            spec,
            damage,
            options,
            |server| server.create_bucket(STATE_BUCKET, "us-east-1"),
            |_| {},
        );
        let inbox = Inbox::default();
        let received = inbox.clone();
        let subscriber = LocalHttpServer::start("sns-subscriber", 0, move |request| {
            let received = received.clone();
            async move {
                let body = request
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                received
                    .0
                    .lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                http::Response::new(Full::new(Bytes::new()))
            }
        })
        .expect("the SNS subscriber's HTTP server");
        let moto = MotoServer::start();
        let sns = aws_sdk_sns::Client::new(&moto.sdk_config());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let topic = runtime.block_on(async {
            let topic = sns
                .create_topic()
                .name("ctverify-alerts")
                .send()
                .await
                .expect("CreateTopic on moto")
                .topic_arn()
                .expect("a topic ARN")
                .to_owned();
            sns.subscribe()
                .topic_arn(&topic)
                .protocol("http")
                .endpoint(subscriber.endpoint())
                .send()
                .await
                .expect("Subscribe on moto");
            topic
        });
        Audit {
            s3,
            moto_endpoint: moto.endpoint(),
            _moto: moto,
            topic,
            inbox,
            _subscriber: subscriber,
        }
    }

    fn start_time(&self) -> DateTime<Utc> {
        self.s3.trail.manifest.start_time
    }

    /// When the schedule must fire for the range to end `hours` after the trail's start:
    /// CloudTrail's delivery delay (two hours) later.
    fn at_hour(&self, hours: i64) -> DateTime<Utc> {
        self.start_time() + TimeDelta::hours(hours) + TimeDelta::hours(2)
    }

    /// Invokes the handler with the event the template's schedule sends, fired at `now`.
    fn invoke(&self, now: DateTime<Utc>, extra_env: &[(&str, &str)]) -> Invocation {
        let mut env: Vec<(String, String)> = [
            ("CTVERIFY_TRAIL", self.s3.trail.manifest.trail_arn.as_str()),
            ("CTVERIFY_STATE", &format!("s3://{STATE_BUCKET}/ctverify")),
            ("CTVERIFY_SNS_TOPIC_ARN", &self.topic),
            ("CTVERIFY_FROM", &format_time(&self.start_time())),
            // As the template sets it: findings go to Security Hub (moto's) too.
            ("CTVERIFY_SECURITY_HUB", "true"),
            ("AWS_ENDPOINT_URL_SNS", &self.moto_endpoint),
            ("AWS_ENDPOINT_URL_SECURITYHUB", &self.moto_endpoint),
            ("AWS_REGION", "us-east-1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let mut command = s3_trail::aws_test_command(
            env!("CARGO_BIN_EXE_ctverify-lambda-under-test"),
            &[],
            &self.s3.server.endpoint(),
            &self.s3.stub.endpoint(),
            &env,
        );
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("running the handler");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("the handler's stdin");
            stdin
                .write_all(scheduler_event(now).to_string().as_bytes())
                .expect("writing the event");
        }
        let output = child.wait_with_output().expect("the handler's output");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let log = String::from_utf8_lossy(&output.stderr).into_owned();
        let lines: Vec<Value> = stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{log}"))
            })
            .collect();
        let (metrics, result): (Vec<Value>, Vec<Value>) =
            lines.into_iter().partition(|l| l.get("_aws").is_some());
        let [result] = <[Value; 1]>::try_from(result)
            .unwrap_or_else(|r| panic!("one outcome expected: {r:?}\n{log}"));
        Invocation {
            metrics,
            result,
            log,
        }
    }

    /// What Security Hub (moto's) holds: each finding's title and compliance status.
    fn security_hub_findings(&self) -> Vec<(String, String)> {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        runtime.block_on(async {
            let client = aws_sdk_securityhub::Client::new(&self._moto.sdk_config());
            let page = client
                .get_findings()
                .max_results(100)
                .send()
                .await
                .expect("GetFindings on moto");
            page.findings()
                .iter()
                .map(|f| {
                    (
                        f.title().unwrap_or_default().to_owned(),
                        f.compliance()
                            .and_then(|c| c.status())
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_default(),
                    )
                })
                .collect()
        })
    }

    /// The state the function keeps for the trail.
    fn state(&self) -> State {
        let manifest = &self.s3.trail.manifest;
        let trail: cloudtrail_verify::TrailArn = manifest.trail_arn.parse().unwrap();
        let key = format!(
            "ctverify/{}/{}/{}.json",
            trail.account_id, trail.region, trail.name
        );
        let object = self
            .s3
            .server
            .get(STATE_BUCKET, &key)
            .unwrap_or_else(|| panic!("no state at s3://{STATE_BUCKET}/{key}"));
        State::parse(&object.body, &key).expect("a valid state")
    }

    /// Every chain's checkpoint, in hours from the trail's start.
    fn checkpoint_hours(&self) -> Vec<i64> {
        self.state()
            .chains
            .iter()
            .map(|c| (c.head.end_time - self.start_time()).num_hours())
            .collect()
    }
}

/// The event the template's schedule sends (its target's `Input`, read from the template),
/// with Scheduler's context attributes filled in as Scheduler fills them.
fn scheduler_event(now: DateTime<Utc>) -> Value {
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/aws-scheduled-audit/template.yaml"
    ))
    .expect("the template");
    // `Input: !Sub |` and the block below it, more indented.
    let mut lines = template
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("Input: !Sub |"));
    let head = lines.next().expect("the schedule's Input in the template");
    let indent = head.len() - head.trim_start().len();
    let input: String = lines
        .take_while(|l| l.len() - l.trim_start().len() > indent)
        .collect::<Vec<_>>()
        .join("\n");
    let filled = input
        .replace("${AWS::AccountId}", "123456789012")
        .replace("${AWS::Region}", "us-east-1")
        .replace(
            "<aws.scheduler.execution-id>",
            "d7fbe1bd-0d4a-4c4a-8b3f-1f6c6e4f2a11",
        )
        .replace(
            "<aws.scheduler.scheduled-time>",
            &now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
        .replace(
            "<aws.scheduler.schedule-arn>",
            "arn:aws:scheduler:us-east-1:123456789012:schedule/default/audit-ctverify",
        )
        .replace("<aws.scheduler.attempt-number>", "1");
    let event: Value = serde_json::from_str(&filled)
        .unwrap_or_else(|e| panic!("the schedule's Input is not JSON ({e}):\n{filled}"));
    // The handler's own type reads it: a template change that breaks the event fails here.
    let typed: aws_lambda_events::eventbridge::EventBridgeEvent =
        serde_json::from_value(event.clone()).expect("an EventBridge event");
    assert_eq!(typed.time, Some(now));
    event
}

#[test]
fn a_clean_trail_sends_no_alert_and_its_metrics_count_what_was_proven() {
    let audit = Audit::start(&spec(), |_| {});
    let now = audit.at_hour(8);
    let run = audit.invoke(now, &[]);
    let outcome = run.outcome();
    assert_eq!(outcome["exit_status"], exit::VALID, "{}", run.log);
    assert_eq!(outcome["caught_up"], true);
    assert_eq!(outcome["sns_message_id"], Value::Null);
    assert!(audit.inbox.notifications().is_empty());
    let metrics = run.metrics();
    assert_eq!(metrics["Trail"], audit.s3.trail.manifest.trail_arn.as_str());
    assert_eq!(metrics["_aws"]["Timestamp"], now.timestamp_millis());
    // Two chains of eight digests, three log files each.
    assert_eq!(metrics["DigestsVerified"], 16, "{metrics}");
    assert_eq!(metrics["LogFilesVerified"], 48);
    assert_eq!(metrics["Invalid"], 0);
    assert_eq!(metrics["Unverifiable"], 0);
    // Proven to the trail's last hour, which ended two hours before the schedule fired.
    assert_eq!(metrics["ProofLagHours"], 2);
    assert_eq!(metrics["Steps"], 1);
    assert_eq!(metrics["TimedOut"], 0);
    assert_eq!(audit.checkpoint_hours(), [8, 8]);
    println!("metrics of a clean run: {metrics}");
}

#[test]
fn a_tampered_trail_sends_one_alert_naming_the_file() {
    let mut altered = String::new();
    let audit = Audit::start(&spec(), |t| {
        altered = t.log(2, 1);
        tamper::modify_log(&t.copy(), t.bucket(), &altered).unwrap();
    });
    let run = audit.invoke(audit.at_hour(8), &[]);
    let outcome = run.outcome();
    assert_eq!(outcome["exit_status"], exit::INVALID, "{}", run.log);
    let notifications = audit.inbox.notifications();
    assert_eq!(notifications.len(), 1, "{notifications:?}");
    let message = &notifications[0];
    assert_eq!(message["TopicArn"], audit.topic.as_str());
    assert_eq!(message["MessageId"], outcome["sns_message_id"]);
    assert!(
        message["Subject"]
            .as_str()
            .is_some_and(|s| s.contains("INVALID")),
        "{message}"
    );
    let text = message["Message"].as_str().unwrap_or_default();
    assert!(text.starts_with("INVALID: "), "{text}");
    assert!(text.contains(&audit.s3.trail.manifest.trail_arn), "{text}");
    assert!(text.contains(&altered), "{text}");
    let metrics = run.metrics();
    assert!(
        metrics["Invalid"].as_u64().unwrap_or_default() >= 1,
        "{metrics}"
    );
    println!("metrics of a tampered run: {metrics}");
    println!("SNS message:\n{text}");
    // The same run sent its findings to Security Hub: the altered file among them, failed.
    let findings = audit.security_hub_findings();
    assert!(
        findings
            .iter()
            .any(|(title, compliance)| title.contains(&altered) && compliance == "FAILED"),
        "{findings:?}"
    );
}

#[test]
fn the_next_invocation_goes_on_from_the_state_the_last_one_wrote() {
    let audit = Audit::start(&spec(), |_| {});
    let first = audit.invoke(audit.at_hour(4), &[]);
    assert_eq!(first.outcome()["exit_status"], exit::VALID, "{}", first.log);
    // Four hours of two chains, and the hour after (read for the log files CloudTrail
    // delivers late), as ctverify reads a range.
    assert_eq!(first.metrics()["DigestsVerified"], 10);
    assert_eq!(first.metrics()["ProofLagHours"], 2);
    assert_eq!(audit.checkpoint_hours(), [4, 4]);

    audit.s3.server.reset_requests();
    let second = audit.invoke(audit.at_hour(8), &[]);
    let outcome = second.outcome();
    assert_eq!(outcome["exit_status"], exit::VALID, "{}", second.log);
    // Resumed: no --from, only the four new hours of each chain.
    assert_eq!(outcome["steps"][0]["from"], Value::Null);
    assert_eq!(second.metrics()["DigestsVerified"], 8);
    assert_eq!(second.metrics()["LogFilesVerified"], 24);
    assert_eq!(audit.checkpoint_hours(), [8, 8]);
    // Per chain: the checkpoint read again, then four digests of three log files; and the
    // state, read twice (where to start, then by ctverify).
    let requests = audit.s3.server.requests();
    assert_eq!(
        requests.of("GetObject"),
        2 * (1 + 4 * (1 + 3)) + 2,
        "{}",
        requests.to_json()
    );
    println!(
        "S3 requests of a resumed hourly run: {}",
        requests.to_json()
    );
}

#[test]
fn a_long_first_run_is_verified_in_steps_that_each_move_the_checkpoint() {
    let audit = Audit::start(&spec(), |_| {});
    let run = audit.invoke(audit.at_hour(8), &[("CTVERIFY_CATCH_UP_HOURS", "3")]);
    let outcome = run.outcome();
    assert_eq!(outcome["exit_status"], exit::VALID, "{}", run.log);
    let steps = outcome["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{outcome}");
    // The first step: three hours from the configured start; the second from the state, sized
    // from the first's time, to the newest provable hour.
    let hour = |v: &Value| {
        let t: DateTime<Utc> = v.as_str().expect("a time").parse().expect("RFC 3339");
        (t - audit.start_time()).num_hours()
    };
    assert_eq!(hour(&steps[0]["from"]), 0);
    assert_eq!(hour(&steps[0]["to"]), 3);
    assert_eq!(steps[1]["from"], Value::Null);
    assert_eq!(hour(&steps[1]["to"]), 8);
    assert_eq!(outcome["caught_up"], true);
    let metrics = run.metrics();
    // Every step's count: the first reads hours 1 to 4 (the fourth for late log files), the
    // second hours 4 to 8 from the checkpoint, so the fourth hour twice.
    assert_eq!(metrics["DigestsVerified"], 2 * (4 + 5), "{metrics}");
    assert_eq!(metrics["Steps"], 2);
    assert_eq!(audit.checkpoint_hours(), [8, 8]);
}

#[test]
fn a_run_longer_than_the_time_budget_is_abandoned_and_the_invocation_fails_with_the_state_unmoved()
{
    // Every S3 answer 300 ms late: the run needs far more than the one-second budget.
    let audit = Audit::start_with(
        &spec(),
        |_| {},
        S3ServerOptions::new().delay(std::time::Duration::from_millis(300)),
    );
    let run = audit.invoke(audit.at_hour(8), &[("CTVERIFY_TIME_BUDGET_SECONDS", "1")]);
    let error = run.result["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("no run ended within the time budget"),
        "{}\n{}",
        run.result,
        run.log
    );
    assert!(run.log.contains("abandoned"), "{}", run.log);
    // No metrics line for an invocation that proved nothing; no state was written, so the
    // next invocation starts over from the configured start.
    assert!(run.metrics.is_empty(), "{:?}", run.metrics);
    let key = format!(
        "ctverify/123456789012/us-east-1/{}.json",
        audit
            .s3
            .trail
            .manifest
            .trail_arn
            .rsplit('/')
            .next()
            .unwrap()
    );
    assert!(audit.s3.server.get(STATE_BUCKET, &key).is_none());
    assert!(audit.inbox.notifications().is_empty());
}
