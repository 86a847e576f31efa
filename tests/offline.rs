//! End-to-end verification of local copies of trails (`ctverify --local`): one test per outcome,
//! each tampering with a freshly generated trail in the way its name says.

use ctverify_fixtures::spec::{ChainRestart, DigestFaultKind, LogBomb, LogPos};
use ctverify_fixtures::tamper::{self, ResignFingerprint};
use ctverify_fixtures::{PublicKeyForm, TestKey, TrailSpec, sample};
use ctverify_tests::trail::{
    GeneratedTrail, digest_problems, local_args, log_verdict, run_ctverify,
};

use ctverify_tests::trail::exit::{ERROR, INVALID, UNVERIFIABLE, VALID};
use ctverify_tests::trail::{spec, with_fault};

#[tokio::test]
async fn the_bundled_sample_verifies_valid_with_aws_cli_summary_lines() {
    let manifest = sample::sample_manifest().unwrap();
    let args = local_args(
        &manifest,
        &sample::sample_trail_dir(),
        &sample::sample_public_keys_path(),
    );
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, VALID, "{run:?}");
    let expected = format!(
        "Validating log files for trail arn:aws:cloudtrail:us-east-1:111122223333:trail/sample-trail \
         between 2026-01-01T00:00:00Z and 2026-01-01T06:00:00Z\n\n\
         Reading {}/ctverify-sample-bucket/AWSLogs/: chains (account/region) 111122223333/us-east-1 \
         (the chains found in the bucket, plus the trail's home region: one whose files were all \
         deleted goes unnoticed unless named with --region/--account-id)\n\n\
         Results requested for 2026-01-01T00:00:00Z to 2026-01-01T06:00:00Z\n\
         Results found for 2026-01-01T00:00:00Z to 2026-01-01T06:00:00Z:\n\n\
         6/6 digest files valid\n15/15 log files valid\n\n",
        sample::sample_trail_dir().display()
    );
    // The AWS CLI's lines unchanged, then the provenance block.
    let (lines, provenance) = run.stdout.split_at(expected.len().min(run.stdout.len()));
    assert_eq!(lines, expected);
    assert!(
        provenance.starts_with("Provenance: ctverify "),
        "{provenance}"
    );
    assert!(
        provenance.contains("\n  Caller: local copy\n"),
        "{provenance}"
    );
    // Offline, nothing says which regions the trail covers: the run says what it assumed,
    // once, on its "Reading" line (above), not again as a warning (issue 23).
    assert_eq!(run.stderr, "");
}

#[tokio::test]
async fn an_untouched_trail_is_valid_and_every_file_is_listed_with_verbose() {
    let trail = GeneratedTrail::new(&spec());
    let run = trail.verify(&["--verbose"]).await;
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["4/4 digest files valid"]);
    run.assert_line(&["12/12 log files valid"]);
    for i in 0..4 {
        run.assert_line(&["Digest file", &trail.digest(i), "valid"]);
        run.assert_line(&["Log file", &trail.log(i, 2), "valid"]);
    }
}

#[tokio::test]
async fn a_modified_log_file_is_invalid_for_a_hash_mismatch() {
    let trail = GeneratedTrail::new(&spec());
    tamper::modify_log(&trail.copy(), trail.bucket(), &trail.log(1, 0)).unwrap();
    let run = trail.verify(&[]).await;
    assert_eq!(run.code, INVALID);
    run.assert_line(&[
        "Log file",
        &trail.log(1, 0),
        "INVALID: hash value doesn't match",
    ]);
    run.assert_line(&["4/4 digest files valid"]);
    run.assert_line(&["11/12 log files valid, 1/12 log files INVALID"]);
}

#[tokio::test]
async fn a_deleted_log_file_is_invalid_not_found() {
    let trail = GeneratedTrail::new(&spec());
    tamper::delete_log(&trail.copy(), trail.bucket(), &trail.log(2, 1)).unwrap();
    let run = trail.verify(&[]).await;
    assert_eq!(run.code, INVALID);
    run.assert_line(&["Log file", &trail.log(2, 1), "INVALID: not found"]);
}

#[tokio::test]
async fn a_modified_digest_fails_its_signature_and_its_logs_are_not_counted_valid() {
    let trail = GeneratedTrail::new(&spec());
    tamper::modify_digest_body(&trail.copy(), trail.bucket(), &trail.digest(1)).unwrap();
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, INVALID);
    let problems = digest_problems(&report, &trail.digest(1));
    assert!(
        problems.contains(&"signature_mismatch".to_string()),
        "{problems:?}"
    );
    // The newer digest recorded the original's hash: the link is broken too.
    assert!(
        problems.contains(&"previous_hash_mismatch".to_string()),
        "{problems:?}"
    );
    assert_eq!(report["summary"]["logs"]["valid"], 9);
    assert_eq!(report["summary"]["logs_not_checked"], 3);
    let run = trail.verify(&[]).await;
    run.assert_line(&[
        "Digest file",
        &trail.digest(1),
        "INVALID: signature verification failed",
    ]);
    run.assert_line(&["3/4 digest files valid, 1/4 digest files INVALID"]);
    run.assert_line(&["9/9 log files valid"]);
    run.assert_line(&["3 log files not checked"]);
}

#[tokio::test]
async fn a_wrong_signature_in_the_metadata_is_invalid() {
    let trail = GeneratedTrail::new(&spec());
    tamper::corrupt_digest_signature(&trail.copy(), trail.bucket(), &trail.digest(3)).unwrap();
    let run = trail.verify(&[]).await;
    assert_eq!(run.code, INVALID);
    run.assert_line(&[
        "Digest file",
        &trail.digest(3),
        "INVALID: signature verification failed",
    ]);
}

#[tokio::test]
async fn a_digest_signed_with_another_key_under_the_same_fingerprint_is_invalid() {
    let trail = GeneratedTrail::new(&spec());
    tamper::resign_digest(
        &trail.copy(),
        trail.bucket(),
        &trail.digest(3),
        &TestKey::other_key(),
        ResignFingerprint::Keep,
    )
    .unwrap();
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, INVALID);
    assert_eq!(
        digest_problems(&report, &trail.digest(3)),
        ["signature_mismatch"]
    );
}

#[tokio::test]
async fn a_deleted_digest_is_invalid_not_found() {
    let trail = GeneratedTrail::new(&spec());
    tamper::delete_digest(&trail.copy(), trail.bucket(), &trail.digest(1)).unwrap();
    let run = trail.verify(&[]).await;
    assert_eq!(run.code, INVALID);
    run.assert_line(&["Digest file", &trail.digest(1), "INVALID: not found"]);
    run.assert_line(&["3/4 digest files valid, 1/4 digest files INVALID"]);
}

#[tokio::test]
async fn consecutive_deleted_digests_are_one_invalid_gap_counted_in_hours() {
    let trail = GeneratedTrail::new(&TrailSpec {
        digests: 6,
        ..spec()
    });
    for i in [1, 2, 3] {
        tamper::delete_digest(&trail.copy(), trail.bucket(), &trail.digest(i)).unwrap();
    }
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, INVALID);
    // The digest the chain names is missing; the hours it and its predecessors covered are one
    // gap, proven by the valid digest after it.
    assert_eq!(digest_problems(&report, &trail.digest(3)), ["not_found"]);
    let gaps = report["chains"][0]["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["kind"], "broken_chain");
    assert_eq!(gaps[0]["status"], "invalid");
    assert_eq!(gaps[0]["hours"], 3);
    assert_eq!(report["summary"]["uncovered_hours"], 3);
    let run = trail.verify(&[]).await;
    run.assert_line(&[
        "Coverage",
        "INVALID: no valid digest file covers 2026-01-01T01:00:00Z to 2026-01-01T04:00:00Z (3 hours)",
    ]);
    // The log files those digests listed are in hours nothing covers: unproven, and never valid.
    run.assert_line(&["log files UNVERIFIABLE: in hours no valid digest file covers"]);
}

#[tokio::test]
async fn a_deleted_newest_digest_leaves_an_unverifiable_tail_however_short() {
    let trail = GeneratedTrail::new(&spec());
    tamper::delete_digest(&trail.copy(), trail.bucket(), &trail.digest(3)).unwrap();
    let run = trail.verify(&[]).await;
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    run.assert_line(&[
        "UNVERIFIABLE: no valid digest file covers 2026-01-01T03:00:00Z to 2026-01-01T04:00:00Z",
    ]);
    run.assert_line(&["3/3 digest files valid"]);
    // Less than an hour short of the newest digest is still a hole.
    let mut args = trail.args();
    set_arg(&mut args, "--to", "2026-01-01T03:10:00Z");
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
}

#[tokio::test]
async fn a_deleted_newest_digest_with_its_log_altered_is_never_valid() {
    let trail = GeneratedTrail::new(&spec());
    tamper::delete_digest(&trail.copy(), trail.bucket(), &trail.digest(3)).unwrap();
    tamper::modify_log(&trail.copy(), trail.bucket(), &trail.log(3, 0)).unwrap();
    let run = trail.verify(&[]).await;
    assert_ne!(run.code, VALID, "{run:?}");
}

#[tokio::test]
async fn a_digest_copied_over_another_key_has_moved() {
    let trail = GeneratedTrail::new(&spec());
    tamper::copy_digest(
        &trail.copy(),
        trail.bucket(),
        &trail.digest(1),
        &trail.digest(2),
    )
    .unwrap();
    let run = trail.verify(&[]).await;
    assert_eq!(run.code, INVALID);
    run.assert_line(&[
        "Digest file",
        &trail.digest(2),
        "INVALID: has been moved from its original location",
    ]);
}

#[tokio::test]
async fn a_digest_copied_to_a_key_the_chain_never_reaches_is_still_checked() {
    let trail = GeneratedTrail::new(&spec());
    // An extra key between two hours, in the same folder: the chain skips it.
    let stray = trail.digest(1).replace("T020000Z", "T023000Z");
    tamper::copy_digest(&trail.copy(), trail.bucket(), &trail.digest(1), &stray).unwrap();
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, INVALID);
    assert_eq!(digest_problems(&report, &stray), ["moved"]);
}

#[tokio::test]
async fn a_chain_restart_is_an_unverifiable_gap_never_valid() {
    let trail = GeneratedTrail::new(&TrailSpec {
        digests: 5,
        restarts: vec![ChainRestart {
            at: 3,
            gap: chrono::TimeDelta::hours(2),
        }],
        ..spec()
    });
    let run = trail.verify(&[]).await;
    // The restart proves where the new chain starts, not where the old one ended: the hours
    // between are not proven, whether logging was off or digests were deleted.
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    let restart = &trail.manifest.chains[0].digests[3];
    let before = &trail.manifest.chains[0].digests[2];
    let (a, b) = (
        ctverify_fixtures::format_time(&before.end_time),
        ctverify_fixtures::format_time(&restart.start_time),
    );
    run.assert_line(&["No log files were delivered by CloudTrail between", &a, &b]);
    run.assert_line(&[
        "Coverage",
        "UNVERIFIABLE",
        &a,
        &b,
        "the digest chain restarts at",
    ]);
    run.assert_line(&["5/5 digest files valid"]);
    // Each side of the restart, on its own, is proven.
    for (from, to) in [
        (trail.manifest.start_time, before.end_time),
        (restart.start_time, trail.manifest.end_time),
    ] {
        let mut args = trail.args();
        set_arg(&mut args, "--from", ctverify_fixtures::format_time(&from));
        set_arg(&mut args, "--to", ctverify_fixtures::format_time(&to));
        let run = run_ctverify(&args).await;
        assert_eq!(run.code, VALID, "{run:?}");
    }
}

#[tokio::test]
async fn a_digest_with_no_log_files_is_valid() {
    let trail = GeneratedTrail::new(&TrailSpec {
        empty_digests: [1, 2].into(),
        ..spec()
    });
    let run = trail.verify(&[]).await;
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["4/4 digest files valid"]);
    run.assert_line(&["6/6 log files valid"]);
}

#[tokio::test]
async fn data_after_the_gzip_stream_is_invalid() {
    let trail = GeneratedTrail::new(&spec());
    tamper::append_after_log_gzip(&trail.copy(), trail.bucket(), &trail.log(0, 0), b"extra")
        .unwrap();
    let run = trail.verify(&[]).await;
    assert_eq!(run.code, INVALID);
    run.assert_line(&[
        "Log file",
        &trail.log(0, 0),
        "INVALID: unexpected data after end of compressed stream",
    ]);
}

#[tokio::test]
async fn a_truncated_gzip_is_invalid_format() {
    let trail = GeneratedTrail::new(&spec());
    tamper::truncate_log(&trail.copy(), trail.bucket(), &trail.log(3, 2)).unwrap();
    let run = trail.verify(&[]).await;
    assert_eq!(run.code, INVALID);
    run.assert_line(&["Log file", &trail.log(3, 2), "INVALID: invalid format"]);
}

#[tokio::test]
async fn a_digest_that_is_not_json_is_invalid_format() {
    let trail = GeneratedTrail::new(&spec());
    tamper::replace_digest_with_non_json(&trail.copy(), trail.bucket(), &trail.digest(2)).unwrap();
    let run = trail.verify(&[]).await;
    assert_eq!(run.code, INVALID);
    run.assert_line(&["Digest file", &trail.digest(2), "INVALID: invalid format"]);
}

#[tokio::test]
async fn a_missing_sidecar_is_covered_by_the_chain_except_for_the_newest_digest() {
    let trail = GeneratedTrail::new(&spec());
    // An older digest's signature is carried by the next digest: still verified.
    tamper::remove_digest_sidecar(&trail.copy(), trail.bucket(), &trail.digest(1)).unwrap();
    let run = trail.verify(&[]).await;
    assert_eq!(run.code, VALID, "{run:?}");
    // The newest digest has nothing to carry its signature: said plainly, never valid.
    tamper::remove_digest_sidecar(&trail.copy(), trail.bucket(), &trail.digest(3)).unwrap();
    let run = trail.verify(&[]).await;
    assert_eq!(run.code, UNVERIFIABLE);
    run.assert_line(&[
        "Digest file",
        &trail.digest(3),
        "UNVERIFIABLE: no signature",
    ]);
    run.assert_line(&["3/4 digest files valid, 1/4 digest files UNVERIFIABLE"]);
    run.assert_line(&["3 log files not checked"]);
}

#[tokio::test]
async fn a_fingerprint_missing_from_the_key_list_is_invalid_within_its_span() {
    let trail = GeneratedTrail::new(&spec());
    tamper::resign_digest(
        &trail.copy(),
        trail.bucket(),
        &trail.digest(3),
        &TestKey::other_key(),
        ResignFingerprint::Set(PublicKeyForm::Pkcs1),
    )
    .unwrap();
    let run = trail.verify(&[]).await;
    // The keys file is CloudTrail's list for its span, as the AWS CLI takes it.
    assert_eq!(run.code, INVALID, "{run:?}");
    run.assert_line(&[
        "Digest file",
        &trail.digest(3),
        "INVALID: public key not found in region us-east-1 for fingerprint",
        &TestKey::other_key().fingerprint(PublicKeyForm::Pkcs1),
    ]);
}

#[tokio::test]
async fn a_key_outside_its_validity_window_is_invalid() {
    let start = TrailSpec::default().start;
    let trail = GeneratedTrail::new(&TrailSpec {
        key_validity: Some((
            start - chrono::TimeDelta::days(30),
            start - chrono::TimeDelta::days(1),
        )),
        ..spec()
    });
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, INVALID);
    for i in 0..4 {
        assert_eq!(
            digest_problems(&report, &trail.digest(i)),
            ["key_not_valid_at_signing_time"]
        );
    }
}

#[tokio::test]
async fn a_key_served_as_subject_public_key_info_verifies() {
    let trail = GeneratedTrail::new(&TrailSpec {
        key_form: PublicKeyForm::Spki,
        ..spec()
    });
    let run = trail.verify(&[]).await;
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["4/4 digest files valid"]);
}

/// Each fault of a signed digest's fields is invalid, and named on the digest it breaks (the
/// older one for a link the newer one names wrongly) and on no other.
#[tokio::test]
async fn each_digest_field_fault_is_invalid_and_named_on_the_digest_it_breaks() {
    // (digest faulted, fault, digest that carries the problem, problem)
    let table = [
        // Digest 2 is validly signed but names the wrong hash for digest 1: the link is broken.
        (
            2,
            DigestFaultKind::WrongPreviousHash,
            1,
            "previous_hash_mismatch",
        ),
        (
            2,
            DigestFaultKind::WrongPreviousSignature,
            1,
            "previous_signature_mismatch",
        ),
        (1, DigestFaultKind::WrongAccountId, 1, "wrong_account"),
        (
            0,
            DigestFaultKind::WrongSignatureAlgorithmField,
            0,
            "unknown_signature_algorithm",
        ),
        (
            2,
            DigestFaultKind::StartTimeMismatch,
            1,
            "time_discontinuity",
        ),
    ];
    for (faulted, kind, judged, problem) in table {
        let trail = GeneratedTrail::new(&with_fault(faulted, kind));
        let (code, report) = trail.report(&[]).await;
        assert_eq!(code, INVALID, "{kind:?}: {report}");
        assert_eq!(
            digest_problems(&report, &trail.digest(judged)),
            [problem],
            "{kind:?}"
        );
        for other in (0..4).filter(|d| *d != judged) {
            assert!(
                digest_problems(&report, &trail.digest(other)).is_empty(),
                "{kind:?}: digest {other} carries nothing"
            );
        }
    }
}

#[tokio::test]
async fn a_log_entry_with_an_unknown_hash_algorithm_is_invalid() {
    let trail = GeneratedTrail::new(&with_fault(1, DigestFaultKind::WrongLogHashAlgorithm));
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, INVALID);
    let verdicts: Vec<_> = (0..3)
        .filter_map(|j| log_verdict(&report, &trail.log(1, j)))
        .collect();
    assert!(
        verdicts
            .iter()
            .any(|(s, k)| s == "invalid" && k.as_deref() == Some("bad_digest_entry")),
        "{verdicts:?}"
    );
}

#[tokio::test]
async fn a_range_with_no_digests_is_unverifiable() {
    let trail = GeneratedTrail::new(&spec());
    let mut args = trail.args();
    let from = args.iter().position(|a| a == "--from").unwrap();
    args[from + 1] = "2027-01-01T00:00:00Z".into();
    args[from + 3] = "2027-01-02T00:00:00Z".into();
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    run.assert_line(&["No digests found"]);
}

#[tokio::test]
async fn a_gzip_bomb_is_unverifiable_not_an_out_of_memory() {
    let trail = GeneratedTrail::new(&TrailSpec {
        bombs: vec![LogBomb {
            at: LogPos {
                chain: 0,
                digest: 1,
                log: 0,
            },
            decompressed_bytes: 64 << 20,
        }],
        ..spec()
    });
    // Within the cap, the bomb is just a large valid file.
    assert_eq!(trail.verify(&[]).await.code, VALID);
    let run = trail.verify(&["--max-log-bytes", "1000000"]).await;
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    run.assert_line(&[
        "Log file",
        &trail.log(1, 0),
        "UNVERIFIABLE: decompressed size exceeds 1000000 bytes",
    ]);
}

#[tokio::test]
async fn a_log_file_no_digest_lists_is_invalid() {
    let trail = GeneratedTrail::new(&spec());
    // A CloudTrail-shaped name in the middle of a covered hour, that no digest lists.
    let genuine = trail.log(1, 1);
    let planted = format!("{}PLANTEDPLANTED00.json.gz", &genuine[..genuine.len() - 24]);
    tamper::plant_log(&trail.copy(), trail.bucket(), &planted, 7).unwrap();
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, INVALID);
    assert_eq!(
        log_verdict(&report, &planted),
        Some(("invalid".into(), Some("not_listed".into())))
    );
    assert_eq!(report["summary"]["unlisted_logs"]["invalid"], 1);
}

#[tokio::test]
async fn json_output_carries_every_file_and_the_summary() {
    let trail = GeneratedTrail::new(&spec());
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, VALID);
    assert_eq!(report["status"], "valid");
    assert_eq!(report["summary"]["digests"]["valid"], 4);
    assert_eq!(report["summary"]["logs"]["valid"], 12);
    assert_eq!(ctverify_tests::trail::digests(&report).count(), 4);
    assert_eq!(
        log_verdict(&report, &trail.log(0, 0)),
        Some(("valid".into(), None))
    );
}

#[tokio::test]
async fn an_organization_trail_with_a_prefix_and_several_regions_verifies_every_chain() {
    let trail = GeneratedTrail::new(&TrailSpec {
        prefix: Some("org/logs".into()),
        org_id: Some("o-abcdefghij".into()),
        accounts: vec!["111111111111".into(), "222222222222".into()],
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        ..spec()
    });
    let (code, report) = trail.report(&["--prefix", "org/logs"]).await;
    assert_eq!(code, VALID, "{report}");
    assert_eq!(report["chains"].as_array().map(Vec::len), Some(4));
    assert_eq!(report["summary"]["digests"]["valid"], 16);
    // Narrowed to one account and region.
    let (code, report) = trail
        .report(&[
            "--prefix",
            "org/logs",
            "--account-id",
            "222222222222",
            "--region",
            "eu-west-1",
        ])
        .await;
    assert_eq!(code, VALID);
    assert_eq!(report["chains"].as_array().map(Vec::len), Some(1));
    assert_eq!(report["chains"][0]["chain"]["region"], "eu-west-1");
}

#[tokio::test]
async fn the_report_does_not_depend_on_concurrency() {
    let trail = GeneratedTrail::new(&TrailSpec {
        digests: 6,
        logs_per_digest: 8,
        ..spec()
    });
    tamper::modify_log(&trail.copy(), trail.bucket(), &trail.log(2, 3)).unwrap();
    tamper::delete_log(&trail.copy(), trail.bucket(), &trail.log(4, 0)).unwrap();
    let one = trail.verify(&["--verbose", "--concurrency", "1"]).await;
    let many = trail.verify(&["--verbose", "--concurrency", "64"]).await;
    assert_eq!(one.code, INVALID);
    // The results, not the provenance block (which says when, and with what concurrency).
    let results = |stdout: &str| {
        stdout
            .split("Provenance:")
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(results(&one.stdout), results(&many.stdout));
    assert_eq!(one.stderr, many.stderr);
}

#[tokio::test]
async fn bad_arguments_are_clear_errors() {
    let trail = GeneratedTrail::new(&spec());
    let with = |flag: &str, value: &str| {
        let mut args = trail.args();
        let i = args.iter().position(|a| a == flag).unwrap();
        args[i + 1] = value.into();
        args
    };
    let cases = [
        (with("--trail", "arn:aws:s3:::bucket"), "not a trail ARN"),
        (with("--from", "yesterday"), "is not a time"),
        (with("--from", "2030-01-01T00:00:00Z"), "is not before --to"),
        (
            with("--local", "/nonexistent/dir"),
            "--local /nonexistent/dir",
        ),
        (
            with("--public-keys", "/nonexistent/keys.json"),
            "cannot read key file",
        ),
    ];
    for (args, message) in cases {
        let run = run_ctverify(&args).await;
        assert_eq!(run.code, ERROR, "{args:?}");
        assert!(run.stderr.contains(message), "{message}: {}", run.stderr);
    }
    let run = run_ctverify(&["ctverify".to_string()]).await;
    assert_eq!(run.code, ERROR);
    assert!(run.stderr.contains("--trail ARN is required"));
}

#[tokio::test]
async fn time_offsets_are_converted_to_utc() {
    let trail = GeneratedTrail::new(&spec());
    let mut args = trail.args();
    let i = args.iter().position(|a| a == "--from").unwrap();
    args[i + 1] = "2026-01-01T02:00:00+02:00".into(); // = 2026-01-01T00:00:00Z
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["Results requested for 2026-01-01T00:00:00Z"]);
}

#[tokio::test]
async fn a_digest_pointing_forward_in_time_cannot_make_the_walk_loop() {
    let trail = GeneratedTrail::new(&spec());
    let (older, newest) = (trail.digest(1), trail.digest(3));
    let escaped = |k: &str| k.replace('/', "\\/");
    tamper::edit_digest(&trail.copy(), trail.bucket(), &older, |body| {
        let text = String::from_utf8(body).unwrap();
        let pointer = format!(
            "\"previousDigestS3Object\":\"{}\"",
            escaped(&trail.digest(0))
        );
        assert!(text.contains(&pointer), "{text}");
        text.replace(
            &pointer,
            &format!("\"previousDigestS3Object\":\"{}\"", escaped(&newest)),
        )
        .into_bytes()
    })
    .unwrap();
    let run = tokio::time::timeout(std::time::Duration::from_secs(20), trail.report(&[]))
        .await
        .expect("the walk ends");
    let (code, report) = run;
    assert_eq!(code, INVALID);
    assert!(digest_problems(&report, &older).contains(&"signature_mismatch".to_string()));
    // The digest it no longer points to is still verified, on its own.
    assert!(digest_problems(&report, &trail.digest(0)).is_empty());
    assert_eq!(
        ctverify_tests::trail::digests(&report)
            .filter(|d| d["key"] == newest)
            .count(),
        1
    );
}

/// A validly signed digest at a `_backfill.json.gz` key, listing the log files of hour `i`.
fn add_backfill_digest(trail: &GeneratedTrail, i: usize) -> String {
    let original = trail.digest(i);
    let backfill = original.replace(".json.gz", "_backfill.json.gz");
    let (copy, bucket) = (trail.copy(), trail.bucket().to_owned());
    tamper::copy_digest(&copy, &bucket, &original, &backfill).unwrap();
    tamper::edit_digest(&copy, &bucket, &backfill, |body| {
        let text = String::from_utf8(body).unwrap();
        let own = format!("\"digestS3Object\":\"{}\"", original.replace('/', "\\/"));
        assert!(text.contains(&own));
        text.replace(
            &own,
            &format!("\"digestS3Object\":\"{}\"", backfill.replace('/', "\\/")),
        )
        .into_bytes()
    })
    .unwrap();
    // CloudTrail stamps a backfill digest with when it generated it, after the hour it covers.
    let generated = trail.manifest.chains[0].digests[i].end_time + chrono::TimeDelta::minutes(30);
    set_metadata(
        trail,
        &backfill,
        "backfill-generation-timestamp",
        &ctverify_fixtures::format_time(&generated),
    );
    tamper::resign_digest(
        &copy,
        &bucket,
        &backfill,
        &TestKey::default_key(),
        ResignFingerprint::Keep,
    )
    .unwrap();
    backfill
}

/// Sets one field of a digest's metadata sidecar.
fn set_metadata(trail: &GeneratedTrail, key: &str, field: &str, value: &str) {
    let path = tamper::sidecar_file(&trail.copy(), trail.bucket(), key).unwrap();
    let mut meta: serde_json::Map<String, serde_json::Value> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    meta.insert(field.into(), value.into());
    std::fs::write(&path, serde_json::to_vec(&meta).unwrap()).unwrap();
}

#[tokio::test]
async fn a_backfill_digest_without_its_generation_timestamp_is_invalid() {
    let trail = GeneratedTrail::new(&spec());
    let backfill = add_backfill_digest(&trail, 1);
    let path = tamper::sidecar_file(&trail.copy(), trail.bucket(), &backfill).unwrap();
    let mut meta: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    meta.remove("backfill-generation-timestamp");
    std::fs::write(&path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, INVALID, "{report}");
    assert_eq!(digest_problems(&report, &backfill), ["missing_metadata"]);
}

#[tokio::test]
async fn a_backfill_digest_never_stands_in_for_missing_hourly_digests() {
    let trail = GeneratedTrail::new(&spec());
    let backfill = add_backfill_digest(&trail, 1);
    tamper::delete_digest(&trail.copy(), trail.bucket(), &trail.digest(1)).unwrap();
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, INVALID, "{report}");
    assert!(digest_problems(&report, &backfill).is_empty());
    assert_eq!(report["chains"][0]["gaps"][0]["kind"], "broken_chain");
    // With every hourly digest gone, the backfill digest alone proves no hour.
    for i in [0, 2, 3] {
        tamper::delete_digest(&trail.copy(), trail.bucket(), &trail.digest(i)).unwrap();
    }
    let (code, report) = trail.report(&[]).await;
    assert_ne!(code, VALID, "{report}");
    assert_eq!(report["chains"][0]["gaps"][0]["kind"], "no_digests");
}

#[tokio::test]
async fn a_backfill_digest_is_verified_on_its_own_and_reported_as_such() {
    let trail = GeneratedTrail::new(&spec());
    let backfill = add_backfill_digest(&trail, 1);
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, VALID, "{report}");
    let entry = ctverify_tests::trail::digests(&report)
        .find(|d| d["key"] == backfill.as_str())
        .expect("the backfill digest is in the report");
    assert_eq!(entry["backfill"], true);
    assert_eq!(entry["status"], "valid");
    assert_eq!(report["summary"]["backfill_digests"], 1);
    let run = trail.verify(&["--verbose"]).await;
    run.assert_line(&["(backfill) Digest file", &backfill, "valid"]);
}

#[tokio::test]
async fn a_tampered_backfill_digest_is_invalid() {
    let trail = GeneratedTrail::new(&spec());
    let backfill = add_backfill_digest(&trail, 2);
    tamper::modify_digest_body(&trail.copy(), trail.bucket(), &backfill).unwrap();
    let run = trail.verify(&[]).await;
    assert_eq!(run.code, INVALID, "{run:?}");
    run.assert_line(&[
        "(backfill) Digest file",
        &backfill,
        "INVALID: signature verification failed",
    ]);
}

#[tokio::test]
async fn a_digest_that_did_not_verify_cannot_send_the_walk_to_another_bucket() {
    let trail = GeneratedTrail::new(&spec());
    let (edited, previous) = (trail.digest(2), trail.digest(1));
    // A decoy where the edited reference points.
    let decoy = trail.copy().join("attacker-bucket").join(&previous);
    std::fs::create_dir_all(decoy.parent().unwrap()).unwrap();
    std::fs::copy(trail.copy().join(trail.bucket()).join(&previous), &decoy).unwrap();
    tamper::edit_digest(&trail.copy(), trail.bucket(), &edited, |body| {
        let text = String::from_utf8(body).unwrap();
        let field = format!("\"previousDigestS3Bucket\":\"{}\"", trail.bucket());
        assert!(text.contains(&field));
        text.replace(&field, "\"previousDigestS3Bucket\":\"attacker-bucket\"")
            .into_bytes()
    })
    .unwrap();
    let (code, report) = trail.report(&["--bucket", trail.bucket()]).await;
    assert_eq!(code, INVALID);
    assert!(digest_problems(&report, &edited).contains(&"signature_mismatch".to_string()));
    assert!(
        ctverify_tests::trail::digests(&report).all(|d| d["bucket"] == trail.bucket()),
        "{report}"
    );
    // The digest it skipped is still verified, from the trail's own bucket.
    assert!(digest_problems(&report, &previous).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Attacks: each test is one way to try for a false "valid", named after what it proves.
// ---------------------------------------------------------------------------------------------

/// Writes raw bytes at `key` in the trail's bucket.
fn put(trail: &GeneratedTrail, key: &str, body: &[u8]) {
    let path = tamper::object_file(&trail.copy(), trail.bucket(), key).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

/// The log key a log named `stamp` (YYYYMMDDTHHMMZ) of the first chain would have.
fn log_key_at(trail: &GeneratedTrail, stamp: &str) -> String {
    let genuine = trail.log(1, 0);
    let (folder, name) = genuine.rsplit_once('/').unwrap();
    let day = &stamp[..8];
    let folder = format!(
        "{}/{}/{}/{}",
        folder.rsplitn(4, '/').nth(3).unwrap(),
        &day[..4],
        &day[4..6],
        &day[6..8]
    );
    let mut parts: Vec<&str> = name.split('_').collect();
    parts[3] = stamp;
    format!("{folder}/{}", parts.join("_"))
}

#[tokio::test]
async fn a_planted_name_that_parses_loosely_cannot_cut_the_digest_listing_short() {
    let trail = GeneratedTrail::new(&spec());
    // Sorts before every genuine digest of the day (a space is below every digit).
    let planted = trail.digest(0).replace("T010000Z", "T 10000Z");
    put(&trail, &planted, b"");
    tamper::modify_log(&trail.copy(), trail.bucket(), &trail.log(2, 0)).unwrap();
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, INVALID, "{report}");
    assert_eq!(
        log_verdict(&report, &trail.log(2, 0)),
        Some(("invalid".into(), Some("hash_mismatch".into())))
    );
    assert_eq!(report["summary"]["digests"]["valid"], 4);
    // The planted object is itself a finding.
    assert_eq!(
        report["chains"][0]["foreign_objects"][0]["key"],
        planted.as_str()
    );
    // Alone, it still makes the run invalid.
    let trail = GeneratedTrail::new(&spec());
    put(&trail, &planted, b"");
    assert_eq!(trail.verify(&[]).await.code, INVALID);
}

#[tokio::test]
async fn a_region_whose_digests_were_all_deleted_is_never_valid() {
    let spec = TrailSpec {
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        ..spec()
    };
    // Its digest folder gone, its log files left: the chain is found from them.
    let trail = GeneratedTrail::new(&spec);
    let folder = trail
        .copy()
        .join(trail.bucket())
        .join("AWSLogs/123456789012/CloudTrail-Digest/eu-west-1");
    std::fs::remove_dir_all(&folder).unwrap();
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, UNVERIFIABLE, "{report}");
    let chain = report["chains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["chain"]["region"] == "eu-west-1")
        .unwrap();
    assert_eq!(chain["gaps"][0]["kind"], "no_digests");

    // The whole region gone: it is missed unless named, and then it is not valid.
    let trail = GeneratedTrail::new(&spec);
    std::fs::remove_dir_all(
        trail
            .copy()
            .join(trail.bucket())
            .join("AWSLogs/123456789012/CloudTrail/eu-west-1"),
    )
    .unwrap();
    std::fs::remove_dir_all(
        trail
            .copy()
            .join(trail.bucket())
            .join("AWSLogs/123456789012/CloudTrail-Digest/eu-west-1"),
    )
    .unwrap();
    let run = trail
        .verify(&["--region", "us-east-1", "--region", "eu-west-1"])
        .await;
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    run.assert_line(&[
        "Coverage",
        "region eu-west-1",
        "UNVERIFIABLE",
        "none of the chain's digest files for these hours was found or verified",
    ]);
}

#[tokio::test]
async fn the_home_region_deleted_whole_is_never_valid_even_unnamed() {
    let trail = GeneratedTrail::new(&TrailSpec {
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        ..spec()
    });
    for kind in ["CloudTrail", "CloudTrail-Digest"] {
        std::fs::remove_dir_all(
            trail
                .copy()
                .join(trail.bucket())
                .join(format!("AWSLogs/123456789012/{kind}/us-east-1")),
        )
        .unwrap();
    }
    let run = trail.verify(&[]).await;
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    run.assert_line(&[
        "Coverage",
        "region us-east-1",
        "none of the chain's digest files for these hours was found or verified",
    ]);
}

#[tokio::test]
async fn objects_in_a_log_folder_that_cloudtrail_cannot_have_written_are_invalid() {
    let trail = GeneratedTrail::new(&spec());
    let genuine = trail.log(1, 0);
    let (folder, _) = genuine.rsplit_once('/').unwrap();
    for planted in [
        format!("{folder}/evil.json.gz"),
        genuine.replace(".json.gz", ".json"),
        genuine.replace(".json.gz", ".JSON.GZ"),
        genuine.replace("_CloudTrail_", "_cloudtrail_"),
        // Seconds in the stamp.
        log_key_at(&trail, "20260101T0120Z").replace("T0120Z", "T012000Z"),
        // A genuine-looking name filed under another day's folder.
        log_key_at(&trail, "20260101T0120Z").replace("/2026/01/01/", "/2026/01/02/"),
        log_key_at(&trail, "20251231T2350Z").replace("/2025/12/31/", "/2026/01/01/"),
    ] {
        let trail = GeneratedTrail::new(&spec());
        tamper::plant_log(&trail.copy(), trail.bucket(), &planted, 7).unwrap();
        let run = trail.verify(&[]).await;
        assert_eq!(run.code, INVALID, "{planted}: {run:?}");
    }
}

#[tokio::test]
async fn a_planted_log_at_the_very_edges_of_the_range_is_invalid() {
    for stamp in ["20260101T0000Z", "20260101T0359Z", "20260101T0100Z"] {
        let trail = GeneratedTrail::new(&spec());
        let planted = log_key_at(&trail, stamp);
        tamper::plant_log(&trail.copy(), trail.bucket(), &planted, 7).unwrap();
        let (code, report) = trail.report(&[]).await;
        assert_eq!(code, INVALID, "{stamp}: {report}");
        assert_eq!(
            log_verdict(&report, &planted),
            Some(("invalid".into(), Some("not_listed".into()))),
            "{stamp}"
        );
    }
}

#[tokio::test]
async fn a_planted_log_in_a_region_folder_with_no_chain_is_never_valid() {
    let trail = GeneratedTrail::new(&spec());
    let planted = log_key_at(&trail, "20260101T0120Z").replace("us-east-1", "ap-south-1");
    tamper::plant_log(&trail.copy(), trail.bucket(), &planted, 7).unwrap();
    let (code, report) = trail.report(&[]).await;
    assert_ne!(code, VALID, "{report}");
    assert_eq!(
        log_verdict(&report, &planted).map(|v| v.1),
        Some(Some("not_listed".into()))
    );
}

#[tokio::test]
async fn a_digest_replaced_by_a_gzip_bomb_is_invalid_and_costs_no_memory() {
    let trail = GeneratedTrail::new(&spec());
    tamper::write_bomb_log(&trail.copy(), trail.bucket(), &trail.digest(2), 64 << 20).unwrap();
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, INVALID, "{report}");
    assert_eq!(digest_problems(&report, &trail.digest(2)), ["too_large"]);
}

#[tokio::test]
async fn an_unsigned_fake_backfill_digest_cannot_vouch_for_a_planted_log() {
    let trail = GeneratedTrail::new(&spec());
    let planted = log_key_at(&trail, "20260101T0120Z");
    let hash = tamper::plant_log(&trail.copy(), trail.bucket(), &planted, 7).unwrap();
    let backfill = add_backfill_digest(&trail, 1);
    tamper::edit_digest(&trail.copy(), trail.bucket(), &backfill, |body| {
        let mut doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        doc["logFiles"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "s3Bucket": trail.bucket(), "s3Object": planted, "hashValue": hash,
                "hashAlgorithm": "SHA-256", "newestEventTime": null, "oldestEventTime": null
            }));
        serde_json::to_vec(&doc).unwrap()
    })
    .unwrap();
    tamper::remove_digest_sidecar(&trail.copy(), trail.bucket(), &backfill).unwrap();
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, INVALID, "{report}");
    assert_eq!(digest_problems(&report, &backfill), ["no_signature"]);
    assert_eq!(
        log_verdict(&report, &planted),
        Some(("invalid".into(), Some("not_listed".into())))
    );
}

#[tokio::test]
async fn two_trails_sharing_a_bucket_and_prefix_do_not_flag_each_others_log_files() {
    let trail = GeneratedTrail::new(&spec());
    add_second_trail(&trail);
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, VALID, "{report}");
    assert_eq!(report["summary"]["digests"]["valid"], 4);
    // The other trail's digest, tampered, no longer accounts for its log files.
    let other = trail.digest(1).replace("_test-trail_", "_second-trail_");
    tamper::modify_digest_body(&trail.copy(), trail.bucket(), &other).unwrap();
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, INVALID, "{report}");
}

#[tokio::test]
async fn control_characters_in_a_planted_key_cannot_forge_report_lines() {
    let trail = GeneratedTrail::new(&spec());
    let (folder, _) = trail
        .log(1, 0)
        .rsplit_once('/')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .unwrap();
    let name = "x\n\nLog file\tforged\tvalid\n.json.gz";
    let path = trail.copy().join(trail.bucket()).join(&folder).join(name);
    std::fs::write(path, b"x").unwrap();
    let run = trail.verify(&["--verbose"]).await;
    assert_eq!(run.code, INVALID, "{run:?}");
    assert!(
        !run.lines()
            .iter()
            .any(|l| l.starts_with("Log file\tforged")),
        "{run:?}"
    );
    run.assert_line(&["Object", "\\u{a}", "INVALID"]);
}

#[tokio::test]
async fn times_outside_what_a_digest_can_name_are_bad_arguments() {
    let trail = GeneratedTrail::new(&spec());
    for (flag, value) in [
        ("--from", "1970-01-01T00:00:00Z"),
        ("--to", "9999-12-31T00:00:00Z"),
        ("--from", "-262143-01-01T00:00:00Z"),
    ] {
        let mut args = trail.args();
        set_arg(&mut args, flag, value);
        let run = run_ctverify(&args).await;
        assert_eq!(run.code, ERROR, "{flag} {value}: {run:?}");
    }
}

#[tokio::test]
async fn a_missing_chain_start_digest_with_an_early_range_is_one_bounded_finding() {
    let trail = GeneratedTrail::new(&spec());
    tamper::delete_digest(&trail.copy(), trail.bucket(), &trail.digest(0)).unwrap();
    let mut args = trail.args();
    set_arg(&mut args, "--from", "2013-01-01T00:00:00Z");
    args.extend(["--format".into(), "json".into()]);
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, INVALID, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let gaps = report["chains"][0]["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0]["kind"], "broken_chain");
    assert!(run.stdout.len() < 100_000, "{} bytes", run.stdout.len());
}

#[tokio::test]
async fn a_broken_sidecar_is_invalid_even_though_the_chain_carries_the_signature() {
    let trail = GeneratedTrail::new(&spec());
    let sidecar = tamper::sidecar_file(&trail.copy(), trail.bucket(), &trail.digest(1)).unwrap();
    std::fs::write(sidecar, b"{not json").unwrap();
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, INVALID, "{report}");
    // Only the metadata is at fault: the signature the newer digest carries still verifies.
    assert_eq!(
        digest_problems(&report, &trail.digest(1)),
        ["malformed_metadata"]
    );
}

#[tokio::test]
async fn a_deleted_digest_is_reported_once_and_its_leftover_sidecar_is_no_foreign_object() {
    let trail = GeneratedTrail::new(&spec());
    let path = tamper::object_file(&trail.copy(), trail.bucket(), &trail.digest(1)).unwrap();
    std::fs::remove_file(&path).unwrap();
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, INVALID, "{report}");
    assert_eq!(digest_problems(&report, &trail.digest(1)), ["not_found"]);
    let foreign = &report["chains"][0]["foreign_objects"];
    assert!(
        foreign.as_array().is_none_or(|f| f.is_empty()),
        "the sidecar the deletion left is the deleted digest's, not a finding of its own: {foreign}"
    );
}

#[tokio::test]
async fn a_fifo_in_place_of_a_log_file_is_invalid_and_cannot_hang_the_run() {
    let trail = GeneratedTrail::new(&spec());
    let path = tamper::object_file(&trail.copy(), trail.bucket(), &trail.log(1, 1)).unwrap();
    std::fs::remove_file(&path).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    let (code, report) =
        tokio::time::timeout(std::time::Duration::from_secs(60), trail.report(&[]))
            .await
            .expect("the run ends");
    assert_eq!(code, INVALID, "{report}");
    assert_eq!(
        log_verdict(&report, &trail.log(1, 1)),
        Some(("invalid".into(), Some("foreign_object".into())))
    );
}

/// Rewrites digest `i` of the first chain so that its predecessor is in `bucket`, then re-signs
/// it and the digest after it (whose link records its hash and signature), as CloudTrail does
/// after a trail moves to a new bucket.
fn move_chain_before(trail: &GeneratedTrail, i: usize, old_bucket: &str) {
    use sha2::Digest as _;
    let (copy, bucket) = (trail.copy(), trail.bucket().to_owned());
    let field = format!("\"previousDigestS3Bucket\":\"{bucket}\"");
    let mut edited_hash = String::new();
    tamper::edit_digest(&copy, &bucket, &trail.digest(i), |body| {
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains(&field));
        let out = text
            .replace(
                &field,
                &format!("\"previousDigestS3Bucket\":\"{old_bucket}\""),
            )
            .into_bytes();
        edited_hash = hex::encode(sha2::Sha256::digest(&out));
        out
    })
    .unwrap();
    let signature = tamper::resign_digest(
        &copy,
        &bucket,
        &trail.digest(i),
        &TestKey::default_key(),
        ResignFingerprint::Keep,
    )
    .unwrap();
    tamper::edit_digest(&copy, &bucket, &trail.digest(i + 1), |body| {
        let mut doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        doc["previousDigestHashValue"] = edited_hash.clone().into();
        doc["previousDigestSignature"] = signature.clone().into();
        serde_json::to_vec(&doc).unwrap()
    })
    .unwrap();
    tamper::resign_digest(
        &copy,
        &bucket,
        &trail.digest(i + 1),
        &TestKey::default_key(),
        ResignFingerprint::Keep,
    )
    .unwrap();
}

#[tokio::test]
async fn a_trail_that_moved_buckets_is_unverifiable_before_the_move_not_invalid() {
    let trail = GeneratedTrail::new(&spec());
    move_chain_before(&trail, 2, "old-bucket");
    // The copy holds only the new bucket: the old digests and logs are elsewhere.
    for i in [0, 1] {
        tamper::delete_digest(&trail.copy(), trail.bucket(), &trail.digest(i)).unwrap();
        for j in 0..3 {
            tamper::delete_log(&trail.copy(), trail.bucket(), &trail.log(i, j)).unwrap();
        }
    }
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, UNVERIFIABLE, "{report}");
    assert_eq!(
        digest_problems(&report, &trail.digest(1)),
        ["other_bucket_missing"]
    );
    assert_eq!(
        report["chains"][0]["gaps"][0]["kind"],
        "predecessor_unavailable"
    );
    // From the move on, the new bucket alone proves everything.
    let mut args = trail.args();
    set_arg(
        &mut args,
        "--from",
        ctverify_fixtures::format_time(&trail.manifest.chains[0].digests[2].start_time),
    );
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, VALID, "{run:?}");
}

#[tokio::test]
async fn digests_deleted_at_the_end_of_the_range_are_proven_by_a_later_digest() {
    let trail = GeneratedTrail::new(&TrailSpec {
        digests: 8,
        ..spec()
    });
    // The last hour of the range and the hour after it: the digest at 06:00 still names 05:00.
    for i in [3, 4] {
        tamper::delete_digest(&trail.copy(), trail.bucket(), &trail.digest(i)).unwrap();
    }
    tamper::modify_log(&trail.copy(), trail.bucket(), &trail.log(3, 1)).unwrap();
    let mut args = trail.args();
    set_arg(&mut args, "--to", "2026-01-01T04:00:00Z");
    args.extend(["--format".into(), "json".into()]);
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, INVALID, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["chains"][0]["gaps"][0]["kind"], "broken_chain");
    assert_eq!(digest_problems(&report, &trail.digest(4)), ["not_found"]);
}

#[tokio::test]
async fn another_trails_log_files_are_accounted_for_only_when_they_verify() {
    let trail = GeneratedTrail::new(&spec());
    let other = add_second_trail(&trail);
    let forged = other.chains[0].digests[1].log_files[0].clone();
    tamper::modify_log(&trail.copy(), trail.bucket(), &forged).unwrap();
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, INVALID, "{report}");
    let foreign = report["chains"][0]["foreign_objects"].as_array().unwrap();
    assert!(
        foreign.iter().any(|f| f["key"] == forged.as_str()),
        "{foreign:?}"
    );
}

#[tokio::test]
async fn a_planted_file_named_like_a_sidecar_is_a_foreign_object() {
    let trail = GeneratedTrail::new(&spec());
    let planted = format!("{}.metadata.json", log_key_at(&trail, "20260101T0220Z"));
    put(&trail, &planted, b"{\"Records\":[]}");
    let (code, report) = trail.report(&[]).await;
    assert_eq!(code, INVALID, "{report}");
    assert_eq!(
        report["chains"][0]["foreign_objects"][0]["key"],
        planted.as_str()
    );
}

#[tokio::test]
async fn malformed_account_ids_and_regions_are_bad_arguments() {
    let trail = GeneratedTrail::new(&spec());
    for extra in [["--region", "../../x"], ["--account-id", "12"]] {
        let run = trail.verify(&extra).await;
        assert_eq!(run.code, ERROR, "{extra:?}: {run:?}");
    }
}

/// Another trail writing to the same bucket and prefix, generated into the same copy.
fn add_second_trail(trail: &GeneratedTrail) -> ctverify_fixtures::Manifest {
    let mut sink = ctverify_fixtures::LocalDirSink::new(trail.copy());
    ctverify_fixtures::generate(
        &TrailSpec {
            trail_name: "second-trail".into(),
            seed: 99,
            ..spec()
        },
        &TestKey::default_key(),
        &mut sink,
    )
    .unwrap()
}

/// Sets the value that follows `flag` in `args`.
fn set_arg(args: &mut [String], flag: &str, value: impl Into<String>) {
    let i = args.iter().position(|a| a == flag).unwrap() + 1;
    args[i] = value.into();
}

#[tokio::test]
async fn a_range_reaching_into_the_last_two_hours_is_unverifiable_not_valid() {
    // A trail whose last digest ended an hour ago: delivered, but the hours after it may not be.
    let now = chrono::Utc::now();
    let start = now - chrono::TimeDelta::hours(5);
    let start = start - chrono::TimeDelta::nanoseconds(i64::from(start.timestamp_subsec_nanos()));
    let trail = GeneratedTrail::new(&TrailSpec { start, ..spec() });
    let mut args = trail.args();
    set_arg(&mut args, "--to", ctverify_fixtures::format_time(&now));
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    run.assert_line(&["Coverage", "UNVERIFIABLE", "cannot be proven yet"]);
    // Without --to, the range ends two hours before now and is proven.
    let to = args.iter().position(|a| a == "--to").unwrap();
    args.drain(to..to + 2);
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, VALID, "{run:?}");
}

#[tokio::test]
async fn a_log_planted_just_past_the_range_in_an_hour_that_was_read_is_invalid() {
    let trail = GeneratedTrail::new(&spec());
    // Digest 2 covers 02:00-03:00; the range ends at 02:00 but the run reads that digest.
    let planted = log_key_at(&trail, "20260101T0210Z");
    tamper::plant_log(&trail.copy(), trail.bucket(), &planted, 7).unwrap();
    let mut args = trail.args();
    set_arg(&mut args, "--to", "2026-01-01T02:00:00Z");
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, INVALID, "{run:?}");
    run.assert_line(&[
        "Log file",
        &planted,
        "INVALID: not listed by any digest file",
    ]);
}

#[tokio::test]
async fn a_stray_object_in_a_neighbouring_day_outside_the_range_is_no_finding() {
    let trail = GeneratedTrail::new(&TrailSpec {
        digests: 30,
        ..spec()
    });
    // The range is on 2026-01-02; a note sits in the 2026-01-01 folder.
    let genuine = trail.log(1, 0);
    let (folder, _) = genuine.rsplit_once('/').unwrap();
    put(&trail, &format!("{folder}/notes.txt"), b"x");
    let mut args = trail.args();
    set_arg(&mut args, "--from", "2026-01-02T02:00:00Z");
    set_arg(&mut args, "--to", "2026-01-02T03:00:00Z");
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, VALID, "{run:?}");
    // Inside the range's day it is foreign.
    set_arg(&mut args, "--from", "2026-01-01T02:00:00Z");
    set_arg(&mut args, "--to", "2026-01-01T03:00:00Z");
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, INVALID, "{run:?}");
}
