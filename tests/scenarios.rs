//! Verification scenarios written once, against the library, and run for both sources: the
//! local copy (`Verifier::from_local`) and S3 over HTTP (`Verifier::from_s3`, the in-process
//! S3 server and the CloudTrail stub behind one endpoint). Each asserts the run's verdict and
//! the typed problem it must carry, so a verdict reached for the wrong reason fails too.

use cloudtrail_verify::{
    DigestProblem, GapKind, KeySet, LogProblem, Report, Status, TimeRange, TrailArn, Verifier,
};
use ctverify_fixtures::tamper;
use ctverify_tests::tls_front::TlsFront;
use ctverify_tests::trail::{GeneratedTrail, spec};

#[allow(dead_code)]
#[path = "support/s3_trail.rs"]
mod s3_trail;
use s3_trail::S3Trail;

/// What a scenario does to the trail before it is verified.
type Tamper = fn(&GeneratedTrail);

/// What the report must show besides its verdict.
type Evidence = fn(&Report) -> bool;

struct Scenario {
    name: &'static str,
    tamper: Tamper,
    status: Status,
    evidence: Evidence,
}

fn logs(report: &Report) -> impl Iterator<Item = &cloudtrail_verify::LogReport> {
    report.chains.iter().flat_map(|c| {
        c.digests
            .iter()
            .flat_map(|d| d.logs.iter())
            .chain(c.unlisted_logs.iter())
    })
}

fn any_log_problem(report: &Report, matches: fn(&LogProblem) -> bool) -> bool {
    logs(report).any(|l| l.problem.as_ref().is_some_and(matches))
}

fn any_digest_problem(report: &Report, matches: fn(&DigestProblem) -> bool) -> bool {
    report
        .chains
        .iter()
        .flat_map(|c| c.digests.iter())
        .any(|d| d.problems.iter().any(matches))
}

fn any_gap(report: &Report, kind: GapKind) -> bool {
    report
        .chains
        .iter()
        .flat_map(|c| c.gaps.iter())
        .any(|g| g.kind == kind)
}

fn path_and_bucket(trail: &GeneratedTrail) -> (std::path::PathBuf, String) {
    (trail.copy(), trail.bucket().to_owned())
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "untouched",
            tamper: |_| {},
            status: Status::Valid,
            evidence: |r| r.summary.logs.valid == 12 && r.summary.digests.valid == 4,
        },
        Scenario {
            name: "a log file modified",
            tamper: |t| {
                let (dir, bucket) = path_and_bucket(t);
                tamper::modify_log(&dir, &bucket, &t.log(1, 0)).unwrap();
            },
            status: Status::Invalid,
            evidence: |r| any_log_problem(r, |p| matches!(p, LogProblem::HashMismatch { .. })),
        },
        Scenario {
            name: "a log file deleted",
            tamper: |t| {
                let (dir, bucket) = path_and_bucket(t);
                tamper::delete_log(&dir, &bucket, &t.log(2, 1)).unwrap();
            },
            status: Status::Invalid,
            evidence: |r| any_log_problem(r, |p| matches!(p, LogProblem::NotFound)),
        },
        Scenario {
            name: "data after a log file's gzip stream",
            tamper: |t| {
                let (dir, bucket) = path_and_bucket(t);
                tamper::append_after_log_gzip(&dir, &bucket, &t.log(0, 0), b"forged").unwrap();
            },
            status: Status::Invalid,
            evidence: |r| {
                any_log_problem(r, |p| {
                    matches!(
                        p,
                        LogProblem::TrailingData | LogProblem::HashMismatch { .. }
                    )
                })
            },
        },
        Scenario {
            name: "a log file planted",
            tamper: |t| {
                let (dir, bucket) = path_and_bucket(t);
                let planted = t.log(1, 0).replace(".json.gz", "Z.json.gz");
                tamper::plant_log(&dir, &bucket, &planted, 3).unwrap();
            },
            status: Status::Invalid,
            evidence: |r| {
                any_log_problem(r, |p| matches!(p, LogProblem::NotListed { .. }))
                    || r.summary.foreign_objects.invalid > 0
            },
        },
        Scenario {
            name: "a digest's signature changed",
            tamper: |t| {
                let (dir, bucket) = path_and_bucket(t);
                tamper::corrupt_digest_signature(&dir, &bucket, &t.digest(1)).unwrap();
            },
            status: Status::Invalid,
            evidence: |r| {
                any_digest_problem(r, |p| {
                    matches!(
                        p,
                        DigestProblem::SignatureMismatch
                            | DigestProblem::PreviousSignatureMismatch { .. }
                    )
                })
            },
        },
        Scenario {
            name: "a digest's body changed",
            tamper: |t| {
                let (dir, bucket) = path_and_bucket(t);
                tamper::modify_digest_body(&dir, &bucket, &t.digest(2)).unwrap();
            },
            status: Status::Invalid,
            evidence: |r| any_digest_problem(r, |p| matches!(p, DigestProblem::SignatureMismatch)),
        },
        Scenario {
            name: "a digest replaced by something that is not JSON",
            tamper: |t| {
                let (dir, bucket) = path_and_bucket(t);
                tamper::replace_digest_with_non_json(&dir, &bucket, &t.digest(1)).unwrap();
            },
            status: Status::Invalid,
            evidence: |r| {
                any_digest_problem(r, |p| matches!(p, DigestProblem::InvalidFormat { .. }))
            },
        },
        Scenario {
            name: "a digest in the middle deleted",
            tamper: |t| {
                let (dir, bucket) = path_and_bucket(t);
                tamper::delete_digest(&dir, &bucket, &t.digest(1)).unwrap();
            },
            status: Status::Invalid,
            evidence: |r| any_gap(r, GapKind::BrokenChain),
        },
        Scenario {
            name: "the newest digest deleted",
            tamper: |t| {
                let (dir, bucket) = path_and_bucket(t);
                tamper::delete_digest(&dir, &bucket, &t.digest(3)).unwrap();
            },
            // Nothing after it names it: the end of the range is not covered, and nothing
            // proves whether logging stopped or the digest was deleted.
            status: Status::Unverifiable,
            evidence: |r| any_gap(r, GapKind::AfterNewestDigest) && r.summary.logs.invalid == 0,
        },
    ]
}

fn range_and_arn(trail: &GeneratedTrail) -> (TimeRange, TrailArn) {
    let m = &trail.manifest;
    (
        TimeRange::new(m.start_time, m.end_time).unwrap(),
        m.trail_arn.parse().unwrap(),
    )
}

async fn verify_local(trail: &GeneratedTrail) -> Report {
    let keys = KeySet::from_list_public_keys_json(&std::fs::read(trail.keys()).unwrap()).unwrap();
    let (range, arn) = range_and_arn(trail);
    Verifier::from_local(trail.copy(), keys, arn, range)
        .verify()
        .await
        .expect("the local run starts")
}

async fn verify_s3(s3: &S3Trail) -> Report {
    let front = TlsFront::start(None, &s3.server.endpoint(), &s3.stub.endpoint())
        .expect("starting the front");
    let conf = front.sdk_config();
    let (range, arn) = range_and_arn(&s3.trail);
    Verifier::from_s3(&conf, arn, range)
        .verify()
        .await
        .expect("the S3 run starts")
}

fn check(source: &str, scenario: &Scenario, report: &Report) {
    assert_eq!(
        report.status, scenario.status,
        "{source}, {}: {report:#?}",
        scenario.name
    );
    assert!(
        (scenario.evidence)(report),
        "{source}, {}: the report lacks the expected evidence: {report:#?}",
        scenario.name
    );
}

#[tokio::test]
async fn every_scenario_has_its_verdict_and_evidence_from_a_local_copy() {
    for scenario in scenarios() {
        let trail = GeneratedTrail::new(&spec());
        (scenario.tamper)(&trail);
        let report = verify_local(&trail).await;
        // Offline, nothing lists the regions a trail covers: the report says so.
        assert_eq!(report.scope, cloudtrail_verify::ChainScope::FoundInBucket);
        check("local copy", &scenario, &report);
    }
}

#[tokio::test]
async fn every_scenario_has_its_verdict_and_evidence_from_s3() {
    for scenario in scenarios() {
        let s3 = S3Trail::start(&spec(), scenario.tamper);
        let report = verify_s3(&s3).await;
        // DescribeTrails says the trail is single-region: its one chain is known.
        assert_eq!(report.scope, cloudtrail_verify::ChainScope::Known);
        check("S3", &scenario, &report);
    }
}
