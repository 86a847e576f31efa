//! End-to-end verification straight from S3 over HTTP: the in-process S3 server holds the trail,
//! the CloudTrail stub answers DescribeTrails and ListPublicKeys, and the real `ctverify`
//! command line runs as a child process configured through `AWS_ENDPOINT_URL_*`.

use ctverify_fixtures::spec::{ChainRestart, DigestFaultKind, KeyRotation, LogBomb, LogPos};
use ctverify_fixtures::tamper::{self, ResignFingerprint};
use ctverify_fixtures::{PublicKeyForm, TestKey, TrailSpec};
use ctverify_tests::s3_server::{BodyFault, S3ServerOptions};
use ctverify_tests::trail::{GeneratedTrail, digest_problems, log_verdict};

#[path = "support/s3_trail.rs"]
mod s3_trail;
use s3_trail::S3Trail;

use ctverify_tests::trail::exit::{ERROR, INVALID, UNVERIFIABLE, VALID};
use ctverify_tests::trail::spec;

fn untouched(_: &GeneratedTrail) {}

#[test]
fn an_untouched_trail_in_s3_is_valid_with_aws_cli_summary_lines() {
    let s3 = S3Trail::start(&spec(), untouched);
    let run = s3.verify(&[]);
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["Results found for 2026-01-01T00:00:00Z to 2026-01-01T04:00:00Z:"]);
    run.assert_line(&["4/4 digest files valid"]);
    run.assert_line(&["12/12 log files valid"]);
    // Nothing on stderr but what the test's own CloudTrail endpoint changes: a local stub over
    // plain HTTP answers ListPublicKeys (issue 23: said once, naming the variable).
    assert_eq!(
        run.stderr,
        format!(
            "Warning: CloudTrail's public keys came from ListPublicKeys at {} \
             (AWS_ENDPOINT_URL_CLOUDTRAIL), which is not an AWS endpoint, over plain HTTP that \
             anyone on the network path can answer: whoever answers there chooses which \
             signatures verify; pin keys saved from AWS with --public-keys to make the verdict \
             independent of it\n\n",
            s3.stub.endpoint()
        )
    );
    // The trail was found with DescribeTrails; the keys came from ListPublicKeys.
    assert!(s3.stub.count("DescribeTrails") >= 1);
    assert!(s3.stub.count("ListPublicKeys") >= 1);
}

/// Every outcome of the local-copy tests, this time read from S3: (name, tampering, exit status,
/// the parts of a line that must appear).
#[test]
fn every_local_copy_scenario_gives_the_same_verdict_from_s3() {
    type Tamper = Box<dyn Fn(&GeneratedTrail)>;
    let cases: Vec<(&str, Tamper, u8, Vec<&str>)> = vec![
        (
            "log modified",
            Box::new(|t| tamper::modify_log(&t.copy(), t.bucket(), &t.log(1, 0)).unwrap()),
            INVALID,
            vec!["Log file", "INVALID: hash value doesn't match"],
        ),
        (
            "log deleted",
            Box::new(|t| tamper::delete_log(&t.copy(), t.bucket(), &t.log(2, 1)).unwrap()),
            INVALID,
            vec!["Log file", "INVALID: not found"],
        ),
        (
            "digest modified",
            Box::new(|t| tamper::modify_digest_body(&t.copy(), t.bucket(), &t.digest(1)).unwrap()),
            INVALID,
            vec!["Digest file", "INVALID: signature verification failed"],
        ),
        (
            "signature wrong",
            Box::new(|t| {
                tamper::corrupt_digest_signature(&t.copy(), t.bucket(), &t.digest(3)).unwrap()
            }),
            INVALID,
            vec!["Digest file", "INVALID: signature verification failed"],
        ),
        (
            "digest deleted",
            Box::new(|t| tamper::delete_digest(&t.copy(), t.bucket(), &t.digest(1)).unwrap()),
            INVALID,
            vec!["Digest file", "INVALID: not found"],
        ),
        (
            "digest copied",
            Box::new(|t| {
                tamper::copy_digest(&t.copy(), t.bucket(), &t.digest(1), &t.digest(2)).unwrap()
            }),
            INVALID,
            vec!["INVALID: has been moved from its original location"],
        ),
        (
            "data after gzip",
            Box::new(|t| {
                tamper::append_after_log_gzip(&t.copy(), t.bucket(), &t.log(0, 0), b"x").unwrap()
            }),
            INVALID,
            vec!["INVALID: unexpected data after end of compressed stream"],
        ),
        (
            "truncated gzip",
            Box::new(|t| tamper::truncate_log(&t.copy(), t.bucket(), &t.log(3, 2)).unwrap()),
            INVALID,
            vec!["Log file", "INVALID: invalid format"],
        ),
        (
            "digest not JSON",
            Box::new(|t| {
                tamper::replace_digest_with_non_json(&t.copy(), t.bucket(), &t.digest(2)).unwrap()
            }),
            INVALID,
            vec!["Digest file", "INVALID: invalid format"],
        ),
        (
            "no signature metadata on the newest digest",
            Box::new(|t| {
                tamper::remove_digest_sidecar(&t.copy(), t.bucket(), &t.digest(3)).unwrap()
            }),
            UNVERIFIABLE,
            vec!["Digest file", "UNVERIFIABLE: no signature"],
        ),
        (
            "no signature metadata on an older digest",
            Box::new(|t| {
                tamper::remove_digest_sidecar(&t.copy(), t.bucket(), &t.digest(1)).unwrap()
            }),
            VALID,
            vec!["4/4 digest files valid"],
        ),
        (
            "unknown fingerprint",
            Box::new(|t| {
                tamper::resign_digest(
                    &t.copy(),
                    t.bucket(),
                    &t.digest(3),
                    &TestKey::other_key(),
                    ResignFingerprint::Set(PublicKeyForm::Pkcs1),
                )
                .unwrap();
            }),
            // ListPublicKeys answered whole for the region and time: the key is not CloudTrail's.
            INVALID,
            vec!["INVALID: public key not found in region us-east-1 for fingerprint"],
        ),
        (
            "planted log",
            Box::new(|t| {
                let genuine = t.log(1, 1);
                let planted = format!("{}PLANTEDPLANTED00.json.gz", &genuine[..genuine.len() - 24]);
                tamper::plant_log(&t.copy(), t.bucket(), &planted, 7).unwrap();
            }),
            INVALID,
            vec!["PLANTEDPLANTED00", "INVALID: not listed by any digest file"],
        ),
    ];
    for (name, damage, code, parts) in cases {
        let s3 = S3Trail::start(&spec(), damage);
        let run = s3.verify(&[]);
        assert_eq!(run.code, code, "{name}: {run:?}");
        run.assert_line(&parts);
    }
}

#[test]
fn consecutive_deleted_digests_are_one_invalid_gap_from_s3() {
    let s3 = S3Trail::start(
        &TrailSpec {
            digests: 5,
            ..spec()
        },
        |t| {
            tamper::delete_digest(&t.copy(), t.bucket(), &t.digest(2)).unwrap();
            tamper::delete_digest(&t.copy(), t.bucket(), &t.digest(1)).unwrap();
        },
    );
    let (code, report) = s3.report(&[]);
    assert_eq!(code, INVALID);
    assert_eq!(report["summary"]["digests"]["invalid"], 1);
    assert_eq!(digest_problems(&report, &s3.trail.digest(2)), ["not_found"]);
    let gap = &report["chains"][0]["gaps"][0];
    assert_eq!(gap["kind"], "broken_chain");
    assert_eq!(gap["hours"], 2);
}

#[test]
fn spec_faults_and_key_forms_give_the_same_verdicts_from_s3() {
    let start = TrailSpec::default().start;
    let cases: Vec<(&str, TrailSpec, u8)> = vec![
        (
            "chain restart",
            TrailSpec {
                restarts: vec![ChainRestart {
                    at: 2,
                    gap: chrono::TimeDelta::hours(1),
                }],
                ..spec()
            },
            // Nothing proves whether the hour before a restart was off or deleted.
            UNVERIFIABLE,
        ),
        (
            "digests with no log files",
            TrailSpec {
                empty_digests: [0, 2].into(),
                ..spec()
            },
            VALID,
        ),
        (
            "key served as SPKI",
            TrailSpec {
                key_form: PublicKeyForm::Spki,
                ..spec()
            },
            VALID,
        ),
        (
            // ListPublicKeys returns only keys valid in the range asked for, so against S3 a key
            // that was not valid then is simply not found: unverifiable, never valid. (Offline,
            // with the key in the key file, it is invalid: see the offline tests.)
            "key outside its validity",
            TrailSpec {
                key_validity: Some((
                    start - chrono::TimeDelta::days(9),
                    start - chrono::TimeDelta::days(1),
                )),
                ..spec()
            },
            // ListPublicKeys for the range does not return a key that was not valid then, and
            // its answer is whole: the digest names a key CloudTrail did not use then.
            INVALID,
        ),
        (
            "wrong previousDigestHashValue",
            ctverify_tests::trail::with_fault(2, DigestFaultKind::WrongPreviousHash),
            INVALID,
        ),
    ];
    for (name, spec, code) in cases {
        let s3 = S3Trail::start(&spec, untouched);
        let run = s3.verify(&[]);
        assert_eq!(run.code, code, "{name}: {run:?}");
    }
}

#[test]
fn a_gzip_bomb_in_s3_is_unverifiable_past_the_cap() {
    let s3 = S3Trail::start(
        &TrailSpec {
            bombs: vec![LogBomb {
                at: LogPos {
                    chain: 0,
                    digest: 1,
                    log: 0,
                },
                decompressed_bytes: 32 << 20,
            }],
            ..spec()
        },
        untouched,
    );
    let run = s3.verify(&["--max-log-bytes", "1000000"]);
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    run.assert_line(&["UNVERIFIABLE: decompressed size exceeds 1000000 bytes"]);
}

/// A trail with one log file of `decompressed_bytes` zeros (at digest `digest`, log `log` of
/// the first chain), served from S3: valid as generated, and invalid once that log file is
/// changed. `check` sees the stored log file first.
fn a_bomb_is_valid_and_caught_when_changed(
    digest: usize,
    log: usize,
    decompressed_bytes: u64,
    check: impl FnOnce(&[u8]),
) {
    let spec = TrailSpec {
        bombs: vec![LogBomb {
            at: LogPos {
                chain: 0,
                digest,
                log,
            },
            decompressed_bytes,
        }],
        ..spec()
    };
    let s3 = S3Trail::start(&spec, untouched);
    let stored = s3.server.get(s3.trail.bucket(), &s3.trail.log(digest, log));
    check(&stored.expect("the log file").body);
    let run = s3.verify(&[]);
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["12/12 log files valid"]);

    let s3 = S3Trail::start(&spec, |t| {
        tamper::modify_log(&t.copy(), t.bucket(), &t.log(digest, log)).unwrap()
    });
    let run = s3.verify(&[]);
    assert_eq!(run.code, INVALID, "{run:?}");
    run.assert_line(&["Log file", "INVALID: hash value doesn't match"]);
}

/// A log file whose few compressed kilobytes inflate past what is hashed on the async runtime
/// (1 MiB) is hashed again, whole, on a blocking thread.
#[test]
fn a_small_log_that_inflates_past_the_inline_cap_is_hashed_whole_from_s3() {
    a_bomb_is_valid_and_caught_when_changed(1, 0, 4 << 20, |body| {
        assert!(body.len() <= 64 * 1024, "{} bytes", body.len());
    });
}

/// A log file too large to be read whole before hashing (over 64 KiB compressed) streams to
/// the hasher.
#[test]
fn a_log_too_large_to_read_whole_streams_to_the_hasher_from_s3() {
    // Zeros deflate about 1,000 to 1: some 100 KiB compressed.
    a_bomb_is_valid_and_caught_when_changed(2, 1, 100 << 20, |body| {
        assert!(body.len() > 64 * 1024, "{} bytes", body.len());
    });
}

#[test]
fn a_range_with_no_digests_in_s3_is_unverifiable() {
    let s3 = S3Trail::start(&spec(), untouched);
    let m = &s3.trail.manifest;
    let run = s3_trail::run_ctverify_process(
        &[
            "--trail".into(),
            m.trail_arn.clone(),
            "--from".into(),
            "2027-01-01".into(),
            "--to".into(),
            "2027-01-02".into(),
        ],
        &s3.server.endpoint(),
        &s3.stub.endpoint(),
    );
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    run.assert_line(&["No digests found"]);
}

/// An organization trail with a key prefix, two member accounts and two regions: every chain is
/// verified in one run, and real key lengths (past 170 characters) are read.
#[test]
fn an_organization_multi_region_trail_with_a_prefix_verifies_every_chain() {
    let spec = TrailSpec {
        prefix: Some("security-team/cloudtrail/organization-wide/archive".into()),
        org_id: Some("o-a1b2c3d4e5f6g7h8".into()),
        accounts: vec!["111111111111".into(), "222222222222".into()],
        regions: vec!["ap-southeast-2".into(), "eu-central-1".into()],
        home_region: "eu-central-1".into(),
        trail_name: "organization-wide-management-events-trail".into(),
        ..spec()
    };
    let s3 = S3Trail::start(&spec, untouched);
    let longest = s3
        .server
        .keys(s3.trail.bucket())
        .into_iter()
        .map(|k| k.len())
        .max();
    assert!(
        longest > Some(200),
        "keys as long as real ones: {longest:?}"
    );
    let (code, report) = s3.report(&[]);
    assert_eq!(code, VALID, "{report}");
    assert_eq!(report["chains"].as_array().map(Vec::len), Some(4));
    assert_eq!(report["summary"]["digests"]["valid"], 16);
    assert_eq!(report["summary"]["logs"]["valid"], 48);
    // Keys were fetched for both regions, before anything was listed.
    let regions: std::collections::BTreeSet<_> = s3
        .stub
        .calls()
        .into_iter()
        .filter(|c| c.operation == "ListPublicKeys")
        .filter_map(|c| c.region)
        .collect();
    assert_eq!(
        regions.into_iter().collect::<Vec<_>>(),
        ["ap-southeast-2", "eu-central-1"]
    );
    // --region and --account-id narrow it.
    let (code, report) = s3.report(&["--region", "eu-central-1", "--account-id", "111111111111"]);
    assert_eq!(code, VALID);
    assert_eq!(report["chains"].as_array().map(Vec::len), Some(1));
}

#[test]
fn an_organization_trail_works_with_the_bucket_given() {
    let spec = TrailSpec {
        org_id: Some("o-abcdefghij".into()),
        accounts: vec!["333333333333".into()],
        ..spec()
    };
    let s3 = S3Trail::start(&spec, untouched);
    let bucket = s3.trail.bucket().to_owned();
    let run = s3.verify(&["--bucket", &bucket]);
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["4/4 digest files valid"]);
    assert_eq!(
        s3.stub.count("DescribeTrails"),
        0,
        "--bucket replaces DescribeTrails"
    );
}

#[test]
fn a_bucket_in_another_region_is_read_there() {
    let bucket = TrailSpec::default().bucket;
    let s3 = S3Trail::start_with(
        &spec(),
        untouched,
        S3ServerOptions::new(),
        |server| server.create_bucket(&bucket, "eu-west-3"),
        |_| {},
    );
    let run = s3.verify(&[]);
    assert_eq!(run.code, VALID, "{run:?}");
    let requests = s3.server.requests();
    assert!(requests.of("GetBucketLocation") >= 1);
    // The server refuses, as S3 does, what is signed for another region than the bucket's:
    // the run first read in the trail's home region (us-east-1), was refused, and read the
    // bucket again where it is.
    assert!(requests.misdirected >= 1, "{requests:?}");
}

#[test]
fn a_bucket_in_the_trails_home_region_is_read_there_from_the_first_request() {
    let s3 = S3Trail::start(&spec(), untouched);
    let run = s3.verify(&[]);
    assert_eq!(run.code, VALID, "{run:?}");
    let requests = s3.server.requests();
    assert_eq!(requests.of("GetBucketLocation"), 1, "{requests:?}");
    assert_eq!(requests.misdirected, 0, "{requests:?}");
    // What was asked ahead (the home region's keys, the bucket's lifecycle rules and
    // versioning) was asked once and used: nothing is asked twice.
    assert_eq!(
        requests.of("GetBucketLifecycleConfiguration"),
        1,
        "{requests:?}"
    );
    assert_eq!(requests.of("GetBucketVersioning"), 1, "{requests:?}");
    let regions = s3.trail.manifest.regions.len();
    assert_eq!(s3.stub.count("ListPublicKeys"), regions);
}

#[test]
fn an_access_denied_log_file_is_unverifiable_never_valid() {
    let probe = GeneratedTrail::new(&spec());
    let denied = probe.log(2, 0);
    let s3 = S3Trail::start_with(
        &spec(),
        untouched,
        S3ServerOptions::new().deny(denied.clone()),
        |_| {},
        |_| {},
    );
    let run = s3.verify(&[]);
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    run.assert_line(&[
        "Log file",
        &denied,
        "UNVERIFIABLE: could not be read: access denied",
    ]);
    run.assert_line(&["11/12 log files valid, 1/12 log files UNVERIFIABLE"]);
    // The run went on: every other file was checked.
    let (_, report) = s3.report(&[]);
    assert_eq!(
        log_verdict(&report, &denied),
        Some(("unverifiable".into(), Some("unreadable".into())))
    );
}

#[test]
fn an_access_denied_digest_is_unverifiable_and_the_walk_goes_on() {
    let probe = GeneratedTrail::new(&spec());
    let denied = probe.digest(2);
    let s3 = S3Trail::start_with(
        &spec(),
        untouched,
        S3ServerOptions::new().deny(denied.clone()),
        |_| {},
        |_| {},
    );
    let (code, report) = s3.report(&[]);
    assert_eq!(code, UNVERIFIABLE, "{report}");
    assert_eq!(digest_problems(&report, &denied), ["unreadable"]);
    assert_eq!(report["summary"]["digests"]["valid"], 3);
}

#[test]
fn throttling_that_succeeds_on_retry_is_valid() {
    let probe = GeneratedTrail::new(&spec());
    let options = S3ServerOptions::new()
        .throttle_first_n_gets_of(probe.log(1, 1), 2)
        .throttle_first_n_gets_of(probe.digest(2), 1);
    let s3 = S3Trail::start_with(&spec(), untouched, options, |_| {}, |_| {});
    let run = s3.verify(&[]);
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["12/12 log files valid"]);
    assert_eq!(s3.server.requests().throttled, 3);
}

/// Bodies that break on their way (a reset mid-body, a body cut short under a matching
/// `Content-Length`, a `Content-Length` longer than the body), on log files and digests, are
/// read again: a clean trail stays valid when a re-read gets the whole body.
#[test]
fn broken_transfers_that_a_reread_recovers_leave_a_clean_trail_valid() {
    let s3 = S3Trail::start(&spec(), untouched);
    let t = &s3.trail;
    s3.server
        .break_bodies_of(t.log(1, 0), BodyFault::Reset { after: 30 }, 2);
    s3.server
        .break_bodies_of(t.log(2, 1), BodyFault::Cut { len: 25 }, 1);
    s3.server
        .break_bodies_of(t.log(3, 2), BodyFault::CutShorterEachTime { len: 40 }, 3);
    s3.server
        .break_bodies_of(t.digest(2), BodyFault::LongLength { extra: 10 }, 1);
    // Twice the same cut: the first read does not fingerprint, so only one re-read saw it.
    s3.server
        .break_bodies_of(t.digest(1), BodyFault::Cut { len: 30 }, 2);
    let run = s3.verify(&[]);
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["4/4 digest files valid"]);
    run.assert_line(&["12/12 log files valid"]);
    assert_eq!(s3.server.requests().broken, 9);
}

/// A log file too large to be read whole (over 64 KiB compressed: it streams to the hasher on a
/// blocking thread) whose transfer breaks mid-body, or ends short under a matching
/// `Content-Length`, is read again as a small one is: valid once a read gets it whole.
#[test]
fn a_streamed_log_whose_transfer_breaks_is_read_again_and_valid() {
    let spec = TrailSpec {
        bombs: vec![LogBomb {
            at: LogPos {
                chain: 0,
                digest: 2,
                log: 1,
            },
            decompressed_bytes: 100 << 20,
        }],
        ..spec()
    };
    let s3 = S3Trail::start(&spec, untouched);
    let key = s3.trail.log(2, 1);
    let stored = s3
        .server
        .get(s3.trail.bucket(), &key)
        .expect("the log file");
    assert!(stored.body.len() > 64 * 1024, "{} bytes", stored.body.len());
    s3.server
        .break_bodies_of(key.clone(), BodyFault::Reset { after: 70_000 }, 1);
    let run = s3.verify(&[]);
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["12/12 log files valid"]);
    s3.server
        .break_bodies_of(key.clone(), BodyFault::Cut { len: 80_000 }, 1);
    let run = s3.verify(&[]);
    assert_eq!(run.code, VALID, "{run:?}");
    assert_eq!(s3.server.requests().broken, 2);
}

/// A body that breaks on every read, never at the same place, is unverifiable after a bounded
/// number of reads: never invalid (nothing was received whole) and never valid.
#[test]
fn a_transfer_that_breaks_on_every_read_is_unverifiable_never_invalid() {
    let s3 = S3Trail::start(&spec(), untouched);
    let t = &s3.trail;
    let (reset, cut, long) = (t.log(1, 0), t.log(3, 1), t.digest(2));
    s3.server
        .break_bodies_of(reset.clone(), BodyFault::Reset { after: 30 }, u32::MAX);
    s3.server.break_bodies_of(
        cut.clone(),
        BodyFault::CutShorterEachTime { len: 40 },
        u32::MAX,
    );
    s3.server
        .break_bodies_of(long.clone(), BodyFault::LongLength { extra: 10 }, u32::MAX);
    let (code, report) = s3.report(&[]);
    assert_eq!(code, UNVERIFIABLE, "{report}");
    assert_eq!(
        log_verdict(&report, &reset),
        Some(("unverifiable".into(), Some("unreadable".into())))
    );
    assert_eq!(
        log_verdict(&report, &cut),
        Some(("unverifiable".into(), Some("unreadable".into())))
    );
    assert_eq!(digest_problems(&report, &long), ["unreadable"]);
    assert_eq!(report["summary"]["digests"]["invalid"], 0, "{report}");
    assert_eq!(report["summary"]["logs"]["invalid"], 0, "{report}");
    // Four reads of each, no more.
    assert_eq!(s3.server.requests().broken, 12);
    let run = s3.verify(&[]);
    assert!(!run.stdout.contains("INVALID"), "{run:?}");
    run.assert_line(&[
        &reset,
        "UNVERIFIABLE",
        "reading the body failed",
        "read 4 times",
    ]);
    run.assert_line(&[&cut, "UNVERIFIABLE", "no two reads received the same body"]);
    // Each reason is one line in the causes' own words: no SDK `Debug` dump.
    for dump in ["Error {", "kind:", "StreamingError(", "Os {", "b\""] {
        assert!(!run.stdout.contains(dump), "{dump}: {run:?}");
    }
}

/// A byte flipped in transit under the right `Content-Length` is caught by the object's stored
/// checksum, on a log file read through the bucket's direct lane as on a digest read through
/// the SDK: it is read again, a clean trail stays valid once a read is whole, and a transfer
/// corrupted on every read is unverifiable, never invalid (the bucket's bytes were never seen
/// changed).
#[test]
fn a_byte_flipped_in_transit_is_read_again_and_never_invalid() {
    let s3 = S3Trail::start(&spec(), untouched);
    let t = &s3.trail;
    let (log, digest) = (t.log(2, 1), t.digest(2));
    s3.server
        .break_bodies_of(log.clone(), BodyFault::FlipByte { at: 20 }, 2);
    s3.server
        .break_bodies_of(digest.clone(), BodyFault::FlipByte { at: 40 }, 1);
    let run = s3.verify(&[]);
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["12/12 log files valid"]);
    assert_eq!(s3.server.requests().broken, 3);
    assert!(
        s3.server.requests().direct > 0,
        "log files went through the lane"
    );

    s3.server
        .break_bodies_of(log.clone(), BodyFault::FlipByte { at: 20 }, u32::MAX);
    let (code, report) = s3.report(&[]);
    assert_eq!(code, UNVERIFIABLE, "{report}");
    assert_eq!(
        log_verdict(&report, &log),
        Some(("unverifiable".into(), Some("unreadable".into())))
    );
    assert_eq!(report["summary"]["logs"]["invalid"], 0, "{report}");
}

/// A changed log file and one stored cut short stay invalid through broken transfers: a
/// re-read never turns evidence into anything better, and a body cut short that reads the same
/// twice is what the bucket holds.
#[test]
fn a_tampered_trail_under_broken_transfers_is_never_valid() {
    let tampered = |t: &GeneratedTrail| {
        tamper::modify_log(&t.copy(), t.bucket(), &t.log(1, 0)).unwrap();
        tamper::truncate_log(&t.copy(), t.bucket(), &t.log(3, 2)).unwrap();
    };
    let s3 = S3Trail::start(&spec(), tampered);
    let t = &s3.trail;
    s3.server
        .break_bodies_of(t.log(1, 0), BodyFault::Reset { after: 30 }, 1);
    s3.server
        .break_bodies_of(t.log(3, 2), BodyFault::LongLength { extra: 5 }, 1);
    s3.server
        .break_bodies_of(t.log(0, 0), BodyFault::Reset { after: 10 }, u32::MAX);
    let (code, report) = s3.report(&[]);
    assert_eq!(code, INVALID, "{report}");
    assert_eq!(
        log_verdict(&report, &t.log(1, 0)),
        Some(("invalid".into(), Some("hash_mismatch".into())))
    );
    assert_eq!(
        log_verdict(&report, &t.log(3, 2)),
        Some(("invalid".into(), Some("invalid_format".into())))
    );
    assert_eq!(
        log_verdict(&report, &t.log(0, 0)),
        Some(("unverifiable".into(), Some("unreadable".into())))
    );
}

#[test]
fn public_keys_are_fetched_through_every_page_across_a_rotation() {
    let spec = TrailSpec {
        rotation: Some(KeyRotation {
            at_digest: 2,
            key: TestKey::other_key(),
        }),
        ..spec()
    };
    let s3 = S3Trail::start_with(
        &spec,
        untouched,
        S3ServerOptions::new(),
        |_| {},
        |config| config.page_size = 1,
    );
    let run = s3.verify(&[]);
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["4/4 digest files valid"]);
    assert!(s3.stub.count("ListPublicKeys") >= 2, "one page per key");
}

#[test]
fn more_than_a_page_of_digests_is_listed_and_walked() {
    let spec = TrailSpec {
        digests: 1010,
        logs_per_digest: 0,
        ..TrailSpec::default()
    };
    let s3 = S3Trail::start(&spec, untouched);
    let run = s3.verify(&[]);
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["1010/1010 digest files valid"]);
    assert!(s3.server.requests().of("ListObjectsV2") >= 2);
}

#[test]
fn the_report_from_s3_does_not_depend_on_concurrency() {
    let s3 = S3Trail::start(
        &TrailSpec {
            digests: 6,
            logs_per_digest: 8,
            ..spec()
        },
        |t| {
            tamper::modify_log(&t.copy(), t.bucket(), &t.log(2, 3)).unwrap();
            tamper::delete_log(&t.copy(), t.bucket(), &t.log(4, 0)).unwrap();
        },
    );
    let one = s3.verify(&["--verbose", "--concurrency", "1"]);
    let many = s3.verify(&["--verbose", "--concurrency", "64"]);
    assert_eq!(one.code, INVALID);
    // The results, not the provenance block (which says when, and with what concurrency).
    let results = |stdout: &str| {
        stdout
            .split("Provenance:")
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(one.stdout.contains("  Options: ") && one.stdout.contains("concurrency 1,"));
    assert_eq!(results(&one.stdout), results(&many.stdout));
    assert_eq!(one.stderr, many.stderr);
}

#[test]
fn a_trail_with_validation_off_is_warned_about() {
    let s3 = S3Trail::start_with(
        &spec(),
        untouched,
        S3ServerOptions::new(),
        |_| {},
        |config| {
            config.trails[0].log_file_validation = false;
        },
    );
    let run = s3.verify(&[]);
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["Warning: log-file validation is off"]);
}

/// ListPublicKeys throttled past its retries: the keys could not be fetched, which the exit
/// table calls unverifiable (2), not a failed run (3); nothing is valid and nothing invalid, and
/// the warning names the call and what to do.
#[test]
fn public_keys_throttled_past_retries_make_the_run_unverifiable_not_failed() {
    let s3 = S3Trail::start_with(
        &spec(),
        untouched,
        S3ServerOptions::new(),
        |_| {},
        |config| config.throttle_list_public_keys = true,
    );
    let (code, report) = s3.report(&[]);
    assert_eq!(code, UNVERIFIABLE, "{report}");
    assert_eq!(report["summary"]["digests"]["valid"], 0, "{report}");
    assert_eq!(report["summary"]["digests"]["invalid"], 0, "{report}");
    assert_eq!(report["summary"]["logs"]["valid"], 0, "{report}");
    assert_eq!(report["summary"]["logs"]["invalid"], 0, "{report}");
    // The SDK retried before giving up.
    assert!(s3.stub.count("ListPublicKeys") >= 2, "{report}");
    let run = s3.verify(&[]);
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    run.assert_line(&[
        "ListPublicKeys in us-east-1 failed: ThrottlingException",
        "could not be fetched",
        "--public-keys",
    ]);
    assert!(!run.stderr.contains("--concurrency"), "{run:?}");
}

#[test]
fn an_unknown_trail_fails_fast_with_a_clear_error() {
    let s3 = S3Trail::start_with(
        &spec(),
        untouched,
        S3ServerOptions::new(),
        |_| {},
        |config| {
            config.trails.clear();
        },
    );
    let run = s3.verify(&[]);
    assert_eq!(run.code, ERROR, "{run:?}");
    assert!(run.stderr.contains("no trail"), "{}", run.stderr);
    assert_eq!(
        s3.server.requests().of("ListObjectsV2"),
        0,
        "nothing listed"
    );
}

#[test]
fn a_planted_name_that_parses_loosely_cannot_cut_the_listing_short_in_s3() {
    let s3 = S3Trail::start(&spec(), |t| {
        let planted = t.digest(0).replace("T010000Z", "T 10000Z");
        let path = tamper::object_file(&t.copy(), t.bucket(), &planted).unwrap();
        std::fs::write(path, b"").unwrap();
        tamper::modify_log(&t.copy(), t.bucket(), &t.log(2, 0)).unwrap();
    });
    let (code, report) = s3.report(&[]);
    assert_eq!(code, INVALID, "{report}");
    assert_eq!(
        log_verdict(&report, &s3.trail.log(2, 0)),
        Some(("invalid".into(), Some("hash_mismatch".into())))
    );
    assert_eq!(report["summary"]["foreign_objects"]["invalid"], 1);
}

#[test]
fn a_foreign_object_in_a_log_folder_is_invalid_in_s3() {
    let s3 = S3Trail::start(&spec(), |t| {
        let genuine = t.log(1, 0);
        let (folder, _) = genuine.rsplit_once('/').unwrap();
        tamper::plant_log(&t.copy(), t.bucket(), &format!("{folder}/evil.json.gz"), 3).unwrap();
    });
    let run = s3.verify(&[]);
    assert_eq!(run.code, INVALID, "{run:?}");
    run.assert_line(&[
        "Object",
        "evil.json.gz",
        "INVALID: not a file of this trail",
    ]);
}

/// A two-region trail in S3 with eu-west-1's folders of `kinds` deleted.
fn two_regions_without(kinds: &[&str]) -> S3Trail {
    let spec = TrailSpec {
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        ..spec()
    };
    S3Trail::start(&spec, |t| {
        for kind in kinds {
            let folder = t
                .copy()
                .join(t.bucket())
                .join(format!("AWSLogs/123456789012/{kind}/eu-west-1"));
            std::fs::remove_dir_all(folder).unwrap();
        }
    })
}

#[test]
fn a_region_whose_digests_were_deleted_is_never_valid_in_s3() {
    let s3 = two_regions_without(&["CloudTrail-Digest"]);
    let run = s3.verify(&[]);
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    run.assert_line(&[
        "Coverage",
        "region eu-west-1",
        "none of the chain's digest files for these hours was found or verified",
    ]);
}

#[test]
fn a_region_deleted_whole_is_caught_from_the_accounts_enabled_regions() {
    let s3 = two_regions_without(&["CloudTrail", "CloudTrail-Digest"]);
    let run = s3.verify(&[]);
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    run.assert_line(&[
        "Coverage",
        "region eu-west-1",
        "none of the chain's digest files for these hours was found or verified",
    ]);
    assert!(s3.stub.count("ListRegions") >= 1);
}

#[test]
fn a_member_account_deleted_whole_is_caught_from_the_organizations_member_list() {
    let moto = ctverify_tests::moto::MotoServer::start();
    let member = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let org = aws_sdk_organizations::Client::new(&moto.sdk_config());
        org.create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
            .expect("moto: CreateOrganization");
        let created = org
            .create_account()
            .email("member@example.com")
            .account_name("member")
            .send()
            .await
            .expect("moto: CreateAccount");
        created
            .create_account_status()
            .and_then(|s| s.account_id())
            .expect("moto returns the new account's id")
            .to_owned()
    });
    let spec = TrailSpec {
        org_id: Some("o-a1b2c3d4e5".into()),
        accounts: vec!["123456789012".into(), member.clone()],
        ..spec()
    };
    let s3 = S3Trail::start(&spec, |t| {
        let folder = t
            .copy()
            .join(t.bucket())
            .join(format!("AWSLogs/o-a1b2c3d4e5/{member}"));
        std::fs::remove_dir_all(folder).unwrap();
    });
    let organizations = [("AWS_ENDPOINT_URL_ORGANIZATIONS".to_owned(), moto.endpoint())];
    let run = s3.verify_with_env(&[], &organizations);
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    run.assert_line(&[
        "Coverage",
        &format!("account {member}"),
        "none of the chain's digest files for these hours was found or verified",
    ]);
    // Without the member list, the run says which accounts it assumed.
    let run = s3.verify(&[]);
    run.assert_line(&[
        "organizations:ListAccounts failed",
        "account whose files were all deleted",
    ]);
}

#[test]
fn an_object_re_uploaded_with_a_customer_key_is_invalid_not_unreadable() {
    let probe = GeneratedTrail::new(&spec());
    let (log, digest) = (probe.log(1, 0), probe.digest(2));
    let s3 = S3Trail::start_with(
        &spec(),
        untouched,
        S3ServerOptions::new()
            .encrypt_with_customer_key(log.clone())
            .encrypt_with_customer_key(digest.clone()),
        |_| {},
        |_| {},
    );
    let (code, report) = s3.report(&[]);
    // CloudTrail never writes SSE-C: whoever did replaced the object.
    assert_eq!(code, INVALID, "{report}");
    assert_eq!(digest_problems(&report, &digest), ["foreign_object"]);
    let run = s3.verify(&[]);
    run.assert_line(&[
        "Digest file",
        &digest,
        "INVALID: not a file CloudTrail wrote",
    ]);
}

/// An endpoint that accepts connections and never answers: every command that calls AWS ends
/// with a clear error naming the call, within the README's bound (each call at most
/// `CALL_TIMEOUT`, a run's set-up at most `SETUP_TIMEOUT`), instead of hanging.
#[test]
fn every_command_ends_with_the_call_named_against_an_endpoint_that_never_answers() {
    use cloudtrail_verify::aws::{CALL_TIMEOUT, SETUP_TIMEOUT};
    use std::time::{Duration, Instant};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    // Accepts every connection and holds it open, reading nothing and sending nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => held.push(stream),
                Err(_) => return,
            }
        }
    });
    let arn = "arn:aws:cloudtrail:us-east-1:123456789012:trail/silent";
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json").display().to_string();
    let range = [
        "--from",
        "2026-01-01T00:00:00Z",
        "--to",
        "2026-01-01T04:00:00Z",
    ];
    let commands: Vec<(&str, Vec<&str>, &[&str])> = vec![
        (
            "verify",
            [&["--trail", arn][..], &range].concat(),
            &["DescribeTrails"],
        ),
        (
            "plan",
            [
                &["plan", "--trail", arn, "--shards", "2", "--out", &plan][..],
                &range,
            ]
            .concat(),
            &["DescribeTrails"],
        ),
        (
            "audit",
            vec!["audit", "--trail", arn],
            &["GetTrail", "DescribeTrails"],
        ),
        (
            "enable",
            vec!["enable", "--trail", arn, "--validation-only", "--dry-run"],
            &["GetTrail", "DescribeTrails"],
        ),
        (
            "query-results",
            vec![
                "query-results",
                "--s3-bucket",
                "results",
                "--region",
                "us-east-1",
            ],
            &["GetBucketLocation"],
        ),
    ];
    let started = Instant::now();
    let children: Vec<_> = commands
        .iter()
        .map(|(name, args, calls)| {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            let child = s3_trail::ctverify_command(&args, &endpoint, &endpoint, &[])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("running ctverify");
            (*name, *calls, child)
        })
        .collect();
    let bound = SETUP_TIMEOUT + Duration::from_secs(15);
    for (name, calls, mut child) in children {
        // A child still running past the bound is killed, so that the test reports it.
        while child.try_wait().unwrap().is_none() && started.elapsed() < bound {
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        let elapsed = started.elapsed();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            elapsed < bound,
            "{name} still running after {elapsed:?}: {stderr}"
        );
        assert_eq!(
            output.status.code(),
            Some(i32::from(ERROR)),
            "{name}: {stderr}"
        );
        assert!(
            calls.iter().any(|call| stderr.contains(call)),
            "{name} does not name the call ({calls:?}) that did not answer: {stderr}"
        );
        assert!(
            stderr.contains("timeout")
                || stderr.contains("timed out")
                || stderr.contains("not ended"),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("This is likely a bug"), "{name}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{name}: {stderr}");
        eprintln!("{name}: ended after {elapsed:?} (each call bounded at {CALL_TIMEOUT:?})");
    }
}

/// Junk objects in a chain's digest folder cost an attacker nothing: they are listed once, a
/// page of 1,000 per request (5,000 of them add 5 or 6 ListObjectsV2 requests, not one per
/// object or a re-listing per page), and what the report keeps of them is bounded (the first
/// 100 per chain named, the rest counted), while the verdict is invalid.
#[test]
fn junk_in_a_digest_folder_is_listed_once_in_pages_and_kept_bounded_in_s3() {
    let s3 = S3Trail::start(&spec(), untouched);
    s3.server.reset_requests();
    let (code, _) = s3.report(&[]);
    assert_eq!(code, VALID);
    let clean = s3.server.requests().of("ListObjectsV2");
    let digest = s3.trail.digest(1);
    let (folder, _) = digest.rsplit_once('/').unwrap();
    for i in 0..5_000 {
        s3.server.put(
            s3.trail.bucket(),
            &format!("{folder}/junk-{i:05}"),
            Vec::new(),
            std::iter::empty::<(String, String)>(),
        );
    }
    s3.server.reset_requests();
    let (code, report) = s3.report(&[]);
    assert_eq!(code, INVALID);
    let junk = s3.server.requests().of("ListObjectsV2");
    assert!(
        (clean + 5..=clean + 6).contains(&junk),
        "{clean} listings without the junk, {junk} with it"
    );
    let chain = &report["chains"][0];
    assert_eq!(chain["foreign_objects"].as_array().unwrap().len(), 100);
    assert_eq!(chain["foreign_objects_omitted"], 4_900);
}
