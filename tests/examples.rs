//! The library's examples run as written: `cloudtrail-verify/examples/*.rs` are compiled into
//! this test and their `verify` functions called, the local one on the bundled sample, the S3
//! one against the in-process S3 server and the CloudTrail stub. An example that drifts from
//! the API fails the build; one that stops verifying fails here.

use cloudtrail_verify::Status;
use ctverify_tests::tls_front::TlsFront;
use ctverify_tests::trail::spec;

#[allow(dead_code)]
#[path = "../cloudtrail-verify/examples/verify_local.rs"]
mod verify_local;

#[allow(dead_code)]
#[path = "../cloudtrail-verify/examples/verify_s3.rs"]
mod verify_s3;

#[path = "support/s3_trail.rs"]
#[allow(dead_code)]
mod s3_trail;
use s3_trail::S3Trail;

#[tokio::test]
async fn the_local_example_verifies_the_bundled_sample() {
    let [dir, keys, arn, from, to] = verify_local::SAMPLE;
    let report = verify_local::verify(dir, keys, arn, from, to)
        .await
        .unwrap();
    assert_eq!(report.status, Status::Valid, "{report:#?}");
    assert_eq!(report.summary.digests.valid, 6);
    assert_eq!(report.summary.logs.valid, 15);
}

#[tokio::test]
async fn the_s3_example_verifies_a_trail_in_s3_and_finds_a_deleted_log() {
    let trail = S3Trail::start(&spec(), |_| {});
    // One endpoint for every service, as a VPC endpoint or LocalStack would be.
    let front = TlsFront::start(None, &trail.server.endpoint(), &trail.stub.endpoint())
        .expect("starting the front");
    let conf = front.sdk_config();
    let manifest = &trail.trail.manifest;
    let range = cloudtrail_verify::TimeRange::new(manifest.start_time, manifest.end_time).unwrap();
    let arn: cloudtrail_verify::TrailArn = manifest.trail_arn.parse().unwrap();
    let report = verify_s3::verify(&conf, arn.clone(), range).await.unwrap();
    assert_eq!(report.status, Status::Valid, "{report:#?}");
    assert_eq!(report.summary.logs.valid, 12);

    let log = trail
        .server
        .handle()
        .keys(trail.trail.bucket())
        .into_iter()
        .find(|k| k.contains("/CloudTrail/"))
        .unwrap();
    assert!(trail.server.handle().delete(trail.trail.bucket(), &log));
    let report = verify_s3::verify(&conf, arn, range).await.unwrap();
    assert_eq!(report.status, Status::Invalid, "{report:#?}");
    assert_eq!(report.summary.logs.invalid, 1);
}
