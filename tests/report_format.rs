//! The JSON report is a contract: its schema is generated from the library's types and checked
//! in (`schema/report.schema.json`), so a change to the wire format fails here until it is
//! regenerated on purpose; and a report reads back into the same types, unchanged.

use cloudtrail_verify::Report;
use cloudtrail_verify::report::{REPORT_SCHEMA_VERSION, report_schema};
use ctverify_fixtures::tamper;
use ctverify_tests::trail::{GeneratedTrail, spec};

const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/report.schema.json");

#[test]
fn the_checked_in_schema_is_the_one_the_types_generate() {
    let generated = serde_json::to_string_pretty(&report_schema()).unwrap() + "\n";
    if std::env::var_os("CTVERIFY_BLESS_SCHEMA").is_some() {
        std::fs::write(SCHEMA_FILE, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(SCHEMA_FILE).unwrap_or_default();
    assert!(
        checked_in == generated,
        "the report's wire format no longer matches {SCHEMA_FILE}. If the change is meant: \
         regenerate it with `CTVERIFY_BLESS_SCHEMA=1 cargo test -p ctverify-tests --test \
         report_format`, raise REPORT_SCHEMA_VERSION if a field changed meaning or went away, \
         and update the README's \"Report format\" section."
    );
}

/// A report full of findings (a modified log, a deleted log, a planted object, a broken
/// chain) reads back into the library's types and writes out byte for byte the same.
#[tokio::test]
async fn a_report_with_findings_reads_back_unchanged() {
    let trail = GeneratedTrail::new(&spec());
    let (copy, bucket) = (trail.copy(), trail.bucket().to_owned());
    tamper::modify_log(&copy, &bucket, &trail.log(0, 0)).unwrap();
    tamper::delete_log(&copy, &bucket, &trail.log(1, 1)).unwrap();
    tamper::delete_digest(&copy, &bucket, &trail.digest(2)).unwrap();
    tamper::plant_log(
        &copy,
        &bucket,
        &trail.log(3, 0).replace(".json.gz", "X.json.gz"),
        7,
    )
    .unwrap();
    let (code, json) = trail.report(&[]).await;
    assert_eq!(code, ctverify_tests::trail::exit::INVALID);
    assert_eq!(json["schema_version"], REPORT_SCHEMA_VERSION);
    assert_eq!(json["tool_version"], env!("CARGO_PKG_VERSION"));
    let report: Report = serde_json::from_value(json.clone()).expect("the report reads back");
    assert_eq!(serde_json::to_value(&report).unwrap(), json);
    // Every class of finding made it into the report and back, not only its field names.
    let kinds = json.to_string();
    for kind in [
        r#""kind":"hash_mismatch""#,
        r#""kind":"not_found""#,
        r#""kind":"broken_chain""#,
    ] {
        assert!(kinds.contains(kind), "the report has no {kind}: {json:#}");
    }
    let planted = report.chains.iter().any(|c| {
        !c.foreign_objects.is_empty()
            || c.unlisted_logs
                .iter()
                .any(|l| l.status == cloudtrail_verify::Status::Invalid)
    });
    assert!(planted, "the planted file is in the report: {json:#}");
}
