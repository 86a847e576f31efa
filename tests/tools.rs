//! The test tools the suite installs answer the calls ctverify makes, at the version pinned in
//! `scripts/python/`. A fresh machine once got a newer moto that answered the AWS SDK for Rust's
//! CloudTrail calls with HTTP 404 and every posture test failed with an opaque SDK error; these
//! tests fail first, naming the version installed and the one pinned.

use ctverify_tests::moto::{self, MOTO_ACCOUNT, MotoServer};

/// `moto <version>` for a failure message.
fn moto_named() -> String {
    match moto::installed_version() {
        Ok(v) => format!("moto {v}"),
        Err(why) => format!("moto (version unknown: {why})"),
    }
}

#[test]
fn the_installed_moto_is_the_pinned_one() {
    // scripts/test.sh exports the pin; a run outside it (cargo test by hand) checks the calls
    // below only.
    let Some(pinned) = std::env::var("CTVERIFY_MOTO_VERSION")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        return;
    };
    let installed = moto::installed_version().expect("read moto's version");
    assert_eq!(
        installed, pinned,
        "moto {installed} is installed but scripts/python/requirements.txt pins {pinned}: \
         run `bash scripts/test.sh`, which rebuilds .venv when the pins change"
    );
}

#[tokio::test]
async fn moto_answers_the_sdk_cloudtrail_calls_ctverify_makes() {
    let server = MotoServer::start();
    let config = server.sdk_config();
    let s3 = moto::s3_client(&server);
    s3.create_bucket()
        .bucket("tools-probe")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: CreateBucket failed: {e:?}", moto_named()));
    let cloudtrail = aws_sdk_cloudtrail::Client::new(&config);
    // The calls `enable`, `audit` and trail resolution make, in the SDK for Rust's wire form
    // (X-Amz-Target: CloudTrail_20131101.<Operation>).
    cloudtrail
        .create_trail()
        .name("probe")
        .s3_bucket_name("tools-probe")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: CreateTrail failed: {e:?}", moto_named()));
    let described = cloudtrail
        .describe_trails()
        .trail_name_list("probe")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: DescribeTrails failed: {e:?}", moto_named()));
    let trails = described.trail_list();
    assert_eq!(
        trails.len(),
        1,
        "{}: DescribeTrails: {trails:?}",
        moto_named()
    );
    assert_eq!(
        trails[0].trail_arn(),
        Some(format!("arn:aws:cloudtrail:us-east-1:{MOTO_ACCOUNT}:trail/probe").as_str()),
        "{}",
        moto_named()
    );
    cloudtrail
        .update_trail()
        .name("probe")
        .enable_log_file_validation(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: UpdateTrail failed: {e:?}", moto_named()));
    let status = cloudtrail
        .get_trail_status()
        .name("probe")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: GetTrailStatus failed: {e:?}", moto_named()));
    assert_eq!(status.is_logging(), Some(false), "{}", moto_named());
}
