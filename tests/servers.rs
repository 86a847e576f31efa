//! Tests of the test servers themselves: the in-process S3 server behaves like S3 for
//! `aws-sdk-s3` (and so can stand in for it in end-to-end tests), and the CloudTrail stub answers
//! `aws-sdk-cloudtrail` as CloudTrail would.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use chrono::{DateTime, TimeZone, Utc};
use ctverify_tests::cloudtrail_stub::{
    CloudTrailStub, StubConfig, StubKey, StubTrail, count_by_operation,
};
use ctverify_tests::s3_server::{S3Server, S3ServerOptions};

const BUCKET: &str = "trail-bucket";

fn server() -> S3Server {
    let server = S3Server::start(S3ServerOptions::new());
    server.create_bucket(BUCKET, "us-east-1");
    server
}

/// A key as long as real CloudTrail keys get with an organization and a prefix.
fn long_key(n: usize) -> String {
    let mut key = String::from(
        "prefix/AWSLogs/o-abcdefghij/111122223333/CloudTrail-Digest/ap-southeast-2/2026/01/01/",
    );
    while key.len() < n {
        key.push_str("111122223333_CloudTrail-Digest_ap-southeast-2_organization-trail_");
    }
    key.truncate(n - ".json.gz".len());
    key.push_str(".json.gz");
    key
}

async fn body_of(output: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    output
        .body
        .collect()
        .await
        .expect("read the object body")
        .into_bytes()
        .to_vec()
}

#[tokio::test]
async fn put_then_get_returns_the_body_and_user_metadata() {
    let server = server();
    let client = server.s3_client("us-east-1");
    client
        .put_object()
        .bucket(BUCKET)
        .key("digest.json.gz")
        .body(ByteStream::from_static(b"signed digest"))
        .metadata("signature", "abc123")
        .metadata("signature-algorithm", "SHA256withRSA")
        .send()
        .await
        .expect("PutObject");

    let got = client
        .get_object()
        .bucket(BUCKET)
        .key("digest.json.gz")
        .send()
        .await
        .expect("GetObject");
    let metadata = got.metadata().cloned().unwrap_or_default();
    assert_eq!(
        metadata.get("signature").map(String::as_str),
        Some("abc123")
    );
    assert_eq!(
        metadata.get("signature-algorithm").map(String::as_str),
        Some("SHA256withRSA")
    );
    assert_eq!(got.content_length(), Some(13));
    assert_eq!(body_of(got).await, b"signed digest");

    // What HTTP wrote is what the direct helpers see, and the other way round.
    let stored = server.get(BUCKET, "digest.json.gz").expect("stored object");
    assert_eq!(&stored.body[..], b"signed digest");
    assert_eq!(stored.metadata["signature"], "abc123");
    server.put(
        BUCKET,
        "seeded",
        &b"from the helper"[..],
        [("Color", "Blue")],
    );
    let head = client
        .head_object()
        .bucket(BUCKET)
        .key("seeded")
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(head.content_length(), Some(15));
    // S3 keeps metadata names lower-case.
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("color"))
            .map(String::as_str),
        Some("Blue")
    );
}

#[tokio::test]
async fn a_missing_key_is_no_such_key_and_deleted_objects_are_gone() {
    let server = server();
    let client = server.s3_client("us-east-1");
    let err = client
        .get_object()
        .bucket(BUCKET)
        .key("absent")
        .send()
        .await
        .expect_err("GetObject of a missing key");
    assert!(
        err.as_service_error().is_some_and(|e| e.is_no_such_key()),
        "{err:?}"
    );

    server.put(BUCKET, "doomed", &b"x"[..], None::<(String, String)>);
    client
        .delete_object()
        .bucket(BUCKET)
        .key("doomed")
        .send()
        .await
        .expect("DeleteObject");
    assert!(server.get(BUCKET, "doomed").is_none());
    assert!(!server.delete(BUCKET, "doomed"));
}

#[tokio::test]
async fn keys_of_300_and_1000_characters_round_trip() {
    let server = server();
    let client = server.s3_client("us-east-1");
    for n in [300, 1000] {
        let key = long_key(n);
        assert_eq!(key.len(), n);
        client
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(ByteStream::from(key.as_bytes().to_vec()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutObject of a {n}-character key: {e:?}"));
        let got = client
            .get_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetObject of a {n}-character key: {e:?}"));
        assert_eq!(body_of(got).await, key.as_bytes());
    }
    let listed = client
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .expect("ListObjectsV2");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    // The 300-character key ends "3333.json.gz" where the longer one goes on "3333_...":
    // '.' sorts before '_'.
    assert_eq!(keys, [long_key(300), long_key(1000)]);
}

#[tokio::test]
async fn list_v2_sorts_by_bytes_and_honours_prefix_and_start_after() {
    let server = server();
    // Byte order: '-' < '/' < '0' < 'A' < 'a' < 'é' (0xC3..).
    for key in [
        "logs/é", "logs/a", "logs/A", "logs/0", "logs/-", "logs/b/c", "other",
    ] {
        server.put(BUCKET, key, &b"x"[..], None::<(String, String)>);
    }
    let client = server.s3_client("us-east-1");
    let list = |start_after: Option<&str>| {
        let request = client
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix("logs/")
            .set_start_after(start_after.map(str::to_owned));
        async move {
            let answer = request.send().await.expect("ListObjectsV2");
            assert_eq!(answer.is_truncated(), Some(false));
            answer
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(None).await,
        ["logs/-", "logs/0", "logs/A", "logs/a", "logs/b/c", "logs/é"]
    );
    assert_eq!(list(Some("logs/A")).await, ["logs/a", "logs/b/c", "logs/é"]);
    // A StartAfter before the prefix starts at the prefix.
    assert_eq!(list(Some("a")).await.len(), 6);
}

#[tokio::test]
async fn list_v2_paginates_2500_keys_in_pages_of_1000() {
    let server = server();
    let mut expected = Vec::new();
    for i in 0..2500 {
        let key =
            format!("AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/01/log-{i:05}.json.gz");
        server.put(BUCKET, &key, &b"{}"[..], None::<(String, String)>);
        expected.push(key);
    }
    let client = server.s3_client("us-east-1");
    server.reset_requests();
    let mut pages = client
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("AWSLogs/")
        .into_paginator()
        .send();
    let mut sizes = Vec::new();
    let mut keys = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.expect("ListObjectsV2 page");
        sizes.push(page.key_count().unwrap_or_default());
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    assert_eq!(sizes, [1000, 1000, 500]);
    assert_eq!(keys, expected);
    assert_eq!(server.requests().of("ListObjectsV2"), 3);

    // MaxKeys smaller than a page, resumed from StartAfter by hand.
    let page = client
        .list_objects_v2()
        .bucket(BUCKET)
        .start_after(&expected[2497])
        .max_keys(2)
        .send()
        .await
        .expect("ListObjectsV2 with MaxKeys");
    let got: Vec<&str> = page.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, [expected[2498].as_str(), expected[2499].as_str()]);
    assert_eq!(
        page.is_truncated(),
        Some(false),
        "nothing is left after the last key"
    );
}

#[tokio::test]
async fn delimiter_rolls_keys_into_folders_across_pages() {
    let server = server();
    for region in ["ap-south-1", "eu-west-1", "us-east-1", "us-west-2"] {
        for day in 1..=3 {
            let key = format!("AWSLogs/111122223333/CloudTrail/{region}/2026/01/0{day}/x.json.gz");
            server.put(BUCKET, &key, &b"{}"[..], None::<(String, String)>);
        }
    }
    server.put(
        BUCKET,
        "AWSLogs/111122223333/CloudTrail/README",
        &b"not a folder"[..],
        None::<(String, String)>,
    );
    let client = server.s3_client("us-east-1");
    let prefix = "AWSLogs/111122223333/CloudTrail/";
    // One entry per page, so that resuming after a folder is exercised at every step.
    let mut pages = client
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(prefix)
        .delimiter("/")
        .max_keys(1)
        .into_paginator()
        .send();
    let mut folders = Vec::new();
    let mut files = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.expect("ListObjectsV2 page");
        folders.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_owned)),
        );
        files.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    let expected: Vec<String> = ["ap-south-1", "eu-west-1", "us-east-1", "us-west-2"]
        .iter()
        .map(|r| format!("{prefix}{r}/"))
        .collect();
    assert_eq!(folders, expected);
    assert_eq!(files, [format!("{prefix}README")]);
}

#[tokio::test]
async fn list_v1_pages_by_marker_and_url_encodes_when_asked_like_botocore() {
    let server = server();
    let keys = ["a b/1", "a b/2", "a+b", "c/é", "d"];
    for key in keys {
        server.put(BUCKET, key, &b"x"[..], None::<(String, String)>);
    }
    let client = server.s3_client("us-east-1");
    // Page by page with Marker, as the AWS CLI's list_objects paginator does.
    let mut marker: Option<String> = None;
    let mut listed = Vec::new();
    loop {
        let page = client
            .list_objects()
            .bucket(BUCKET)
            .max_keys(2)
            .set_marker(marker.take())
            .send()
            .await
            .expect("ListObjects");
        listed.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        if page.is_truncated() != Some(true) {
            break;
        }
        marker = Some(
            page.next_marker()
                .expect("NextMarker when truncated")
                .to_owned(),
        );
    }
    assert_eq!(listed, keys);

    // botocore always asks for EncodingType=url and unquotes what comes back.
    let page = client
        .list_objects()
        .bucket(BUCKET)
        .delimiter("/")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .expect("ListObjects with EncodingType=url");
    let files: Vec<&str> = page.contents().iter().filter_map(|o| o.key()).collect();
    let folders: Vec<&str> = page
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(files, ["a%2Bb", "d"]);
    assert_eq!(folders, ["a%20b/", "c/"]);
}

#[tokio::test]
async fn get_bucket_location_reports_the_create_bucket_constraint() {
    let server = S3Server::start(S3ServerOptions::new());
    let client = server.s3_client("us-east-1");
    client
        .create_bucket()
        .bucket("in-sydney")
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::ApSoutheast2)
                .build(),
        )
        .send()
        .await
        .expect("CreateBucket with a location constraint");
    client
        .create_bucket()
        .bucket("in-virginia")
        .send()
        .await
        .expect("CreateBucket in us-east-1");
    server.create_bucket("in-ireland", "eu-west-1");

    let location = |bucket: &'static str| {
        let request = client.get_bucket_location().bucket(bucket);
        async move {
            request
                .send()
                .await
                .expect("GetBucketLocation")
                .location_constraint()
                .map(|c| c.as_str().to_owned())
        }
    };
    assert_eq!(
        location("in-sydney").await.as_deref(),
        Some("ap-southeast-2")
    );
    assert_eq!(location("in-ireland").await.as_deref(), Some("eu-west-1"));
    // S3 answers us-east-1 with an empty constraint.
    assert!(location("in-virginia").await.is_none_or(|c| c.is_empty()));

    client
        .head_bucket()
        .bucket("in-sydney")
        .send()
        .await
        .expect("HeadBucket");
    let err = client
        .head_bucket()
        .bucket("no-such-bucket")
        .send()
        .await
        .expect_err("HeadBucket of a missing bucket");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));
    let buckets = client.list_buckets().send().await.expect("ListBuckets");
    let names: Vec<&str> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["in-ireland", "in-sydney", "in-virginia"]);
}

#[tokio::test]
async fn a_bucket_is_read_only_through_its_own_region_as_s3_requires() {
    let server = S3Server::start(S3ServerOptions::new());
    server.create_bucket("in-sydney", "ap-southeast-2");
    server.put("in-sydney", "k", &b"v"[..], None::<(String, String)>);
    let elsewhere = server.s3_client("us-east-1");
    let err = elsewhere
        .list_objects_v2()
        .bucket("in-sydney")
        .send()
        .await
        .expect_err("a listing signed for us-east-1 of a bucket in ap-southeast-2");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert_eq!(
        err.as_service_error().and_then(|e| e.meta().code()),
        Some("AuthorizationHeaderMalformed")
    );
    elsewhere
        .get_object()
        .bucket("in-sydney")
        .key("k")
        .send()
        .await
        .expect_err("a GET signed for another region");
    // What finds the region still answers from anywhere.
    elsewhere
        .get_bucket_location()
        .bucket("in-sydney")
        .send()
        .await
        .expect("GetBucketLocation from another region");
    assert_eq!(server.requests().misdirected, 2);
    let there = server.s3_client("ap-southeast-2");
    let listed = there
        .list_objects_v2()
        .bucket("in-sydney")
        .send()
        .await
        .expect("a listing in the bucket's region");
    assert_eq!(listed.key_count(), Some(1));
    assert_eq!(server.requests().misdirected, 2);
}

#[tokio::test]
async fn throttled_gets_succeed_once_the_sdk_retries() {
    let server =
        S3Server::start(S3ServerOptions::new().throttle_first_n_gets_of("busy.json.gz", 2));
    server.put(
        BUCKET,
        "busy.json.gz",
        &b"eventually"[..],
        None::<(String, String)>,
    );
    let got = server
        .s3_client("us-east-1")
        .get_object()
        .bucket(BUCKET)
        .key("busy.json.gz")
        .send()
        .await
        .expect("GetObject succeeds on the SDK's third attempt");
    assert_eq!(body_of(got).await, b"eventually");
    let counts = server.requests();
    assert_eq!(counts.throttled, 2);
    assert_eq!(counts.of("GetObject"), 3);
    assert_eq!(server.throttles_left("busy.json.gz"), 0);
}

#[tokio::test]
async fn throttling_beyond_the_retry_budget_is_a_503_slow_down() {
    let server = server();
    server.put(BUCKET, "hot", &b"x"[..], None::<(String, String)>);
    server.throttle_first_n_gets_of("hot", 100);
    let err = server
        .s3_client("us-east-1")
        .get_object()
        .bucket(BUCKET)
        .key("hot")
        .send()
        .await
        .expect_err("GetObject keeps being throttled");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(503));
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("SlowDown")
    );
}

#[tokio::test]
async fn a_denied_key_is_403_access_denied_and_not_retried() {
    let server = S3Server::start(S3ServerOptions::new().deny("secret.json.gz"));
    server.put(
        BUCKET,
        "secret.json.gz",
        &b"x"[..],
        None::<(String, String)>,
    );
    let client = server.s3_client("us-east-1");
    let err = client
        .get_object()
        .bucket(BUCKET)
        .key("secret.json.gz")
        .send()
        .await
        .expect_err("GetObject of a denied key");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("AccessDenied")
    );
    assert_eq!(server.requests().of("GetObject"), 1);

    server.allow("secret.json.gz");
    client
        .get_object()
        .bucket(BUCKET)
        .key("secret.json.gz")
        .send()
        .await
        .expect("GetObject once allowed");
}

#[tokio::test]
async fn an_sse_c_object_read_without_its_key_is_400_invalid_request_like_s3() {
    use base64::Engine as _;
    use cloudtrail_verify::source::{ObjectSource, S3Source, SourceError};
    use md5::Digest as _;

    let server = S3Server::start(S3ServerOptions::new().encrypt_with_customer_key("sse-c.json.gz"));
    server.create_bucket(BUCKET, "us-east-1");
    for key in ["sse-c.json.gz", "plain.json.gz"] {
        server.put(BUCKET, key, &b"x"[..], None::<(String, String)>);
    }
    let client = server.s3_client("us-east-1");
    let err = client
        .get_object()
        .bucket(BUCKET)
        .key("sse-c.json.gz")
        .send()
        .await
        .expect_err("GetObject of an SSE-C object without its key");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("InvalidRequest")
    );
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::message(&err),
        Some(ctverify_tests::s3_server::SSE_C_MESSAGE)
    );
    assert_eq!(server.requests().of("GetObject"), 1, "a 400 is not retried");
    let head = client
        .head_object()
        .bucket(BUCKET)
        .key("sse-c.json.gz")
        .send()
        .await
        .expect_err("HeadObject of an SSE-C object without its key");
    assert_eq!(head.raw_response().map(|r| r.status().as_u16()), Some(400));

    // With the customer key, S3 serves it and says how it was encrypted.
    let key = [7u8; 32];
    let b64 = base64::engine::general_purpose::STANDARD;
    let served = client
        .get_object()
        .bucket(BUCKET)
        .key("sse-c.json.gz")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(b64.encode(key))
        .sse_customer_key_md5(b64.encode(md5::Md5::digest(key)))
        .send()
        .await
        .expect("GetObject with the customer key");
    assert_eq!(served.sse_customer_algorithm(), Some("AES256"));

    // The verifier's source calls it what it is; other objects are unaffected.
    let source = S3Source::new(client);
    match source.get(BUCKET, "sse-c.json.gz").await {
        Err(SourceError::CustomerEncrypted(message)) => {
            assert!(message.contains("Server Side Encryption"), "{message}");
        }
        Err(e) => panic!("expected CustomerEncrypted, got {e:?}"),
        Ok(_) => panic!("expected CustomerEncrypted, got the object"),
    }
    assert!(source.get(BUCKET, "plain.json.gz").await.is_ok());

    server.clear_faults();
    assert!(source.get(BUCKET, "sse-c.json.gz").await.is_ok());
}

#[tokio::test]
async fn requests_need_the_test_credentials() {
    let server = server();
    let config = aws_sdk_s3::config::Builder::new()
        .endpoint_url(server.endpoint())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "wrong", None, None, "test",
        ))
        .force_path_style(true)
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .build();
    let err = aws_sdk_s3::Client::from_conf(config)
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .expect_err("a wrong secret is refused");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
}

#[tokio::test]
async fn the_delay_applies_to_every_request_yet_requests_run_concurrently() {
    let server = server();
    for i in 0..8 {
        server.put(
            BUCKET,
            &format!("k{i}"),
            &b"x"[..],
            None::<(String, String)>,
        );
    }
    server.set_delay(Duration::from_millis(200));
    let client = server.s3_client("us-east-1");
    let started = std::time::Instant::now();
    let gets = (0..8).map(|i| {
        let request = client.get_object().bucket(BUCKET).key(format!("k{i}"));
        async move { request.send().await.map(|_| ()) }
    });
    for result in futures::future::join_all(gets).await {
        result.expect("GetObject");
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    // Eight serial requests would take 1.6 s.
    assert!(elapsed < Duration::from_millis(1200), "{elapsed:?}");
}

#[test]
fn load_dir_imports_objects_and_turns_sidecars_into_metadata() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let key = long_key(300);
    let path = dir.path().join(BUCKET).join(&key);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("create folders");
    std::fs::write(&path, b"digest").expect("write object");
    std::fs::write(
        format!("{}.metadata.json", path.display()),
        br#"{"signature":"00ff","signature-algorithm":"SHA256withRSA"}"#,
    )
    .expect("write sidecar");
    std::fs::create_dir_all(dir.path().join("other-bucket/a")).expect("create folders");
    std::fs::write(dir.path().join("other-bucket/a/log.json.gz"), b"log").expect("write log");

    let server = S3Server::start(S3ServerOptions::new());
    assert_eq!(server.load_dir(dir.path()).expect("load_dir"), 2);
    assert_eq!(server.buckets(), ["other-bucket", BUCKET]);
    assert_eq!(server.keys(BUCKET), std::slice::from_ref(&key));
    assert_eq!(server.keys("other-bucket"), ["a/log.json.gz"]);
    let object = server.get(BUCKET, &key).expect("loaded object");
    let expected: HashMap<String, String> = [
        ("signature".to_owned(), "00ff".to_owned()),
        ("signature-algorithm".to_owned(), "SHA256withRSA".to_owned()),
    ]
    .into();
    assert_eq!(object.metadata, expected);
    assert_eq!(&object.body[..], b"digest");
}

#[test]
fn the_bundled_sample_trail_loads_with_its_signatures() {
    let server = S3Server::start(S3ServerOptions::new());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/sample/trail");
    let loaded = server.load_dir(&root).expect("load the sample trail");
    assert!(loaded >= 21, "6 digests and 15 logs, got {loaded}");
    let digests: Vec<String> = server
        .keys("ctverify-sample-bucket")
        .into_iter()
        .filter(|k| k.contains("CloudTrail-Digest"))
        .collect();
    assert_eq!(digests.len(), 6);
    for key in digests {
        let object = server.get("ctverify-sample-bucket", &key).expect("digest");
        assert!(object.metadata.contains_key("signature"), "{key}");
    }
}

fn key(fingerprint: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> StubKey {
    StubKey {
        value_der: fingerprint.as_bytes().to_vec(),
        fingerprint: fingerprint.to_owned(),
        valid_from: from,
        valid_to: to,
    }
}

fn day(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, d, 0, 0, 0)
        .single()
        .expect("a date")
}

async fn list_keys(
    client: &aws_sdk_cloudtrail::Client,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (Vec<String>, usize) {
    let mut fingerprints = Vec::new();
    let mut pages = 0;
    let mut token = None;
    loop {
        let answer = client
            .list_public_keys()
            .start_time(aws_smithy_types::DateTime::from_secs(from.timestamp()))
            .end_time(aws_smithy_types::DateTime::from_secs(to.timestamp()))
            .set_next_token(token.take())
            .send()
            .await
            .expect("ListPublicKeys");
        pages += 1;
        for k in answer.public_key_list() {
            fingerprints.push(k.fingerprint().unwrap_or_default().to_owned());
            // The DER comes back byte for byte.
            assert_eq!(
                k.value().map(|v| v.as_ref().to_vec()),
                Some(k.fingerprint().unwrap_or_default().as_bytes().to_vec())
            );
        }
        match answer.next_token() {
            Some(next) => token = Some(next.to_owned()),
            None => return (fingerprints, pages),
        }
    }
}

#[tokio::test]
async fn list_public_keys_pages_one_key_at_a_time_and_filters_by_window() {
    let stub = CloudTrailStub::start(StubConfig {
        keys: vec![
            key("aa01", day(1), day(5)),
            key("aa02", day(5), day(10)),
            key("aa03", day(10), day(15)),
            key("aa04", day(20), day(25)),
        ],
        ..StubConfig::default()
    });
    let client = stub.client("us-east-1");
    let (all, pages) = list_keys(&client, day(1), day(31)).await;
    assert_eq!(all, ["aa01", "aa02", "aa03", "aa04"]);
    assert_eq!(pages, 4);
    let (window, _) = list_keys(&client, day(6), day(11)).await;
    assert_eq!(window, ["aa02", "aa03"]);
    let (none, pages) = list_keys(&client, day(16), day(19)).await;
    assert!(none.is_empty());
    assert_eq!(pages, 1);
    // Validity times come back to the second.
    let answer = client
        .list_public_keys()
        .start_time(aws_smithy_types::DateTime::from_secs(day(21).timestamp()))
        .end_time(aws_smithy_types::DateTime::from_secs(day(21).timestamp()))
        .send()
        .await
        .expect("ListPublicKeys");
    let k = &answer.public_key_list()[0];
    assert_eq!(
        k.validity_start_time().map(|t| t.secs()),
        Some(day(20).timestamp())
    );
    assert_eq!(
        k.validity_end_time().map(|t| t.secs()),
        Some(day(25).timestamp())
    );

    stub.update(|c| c.page_size = 3);
    let (all, pages) = list_keys(&client, day(1), day(31)).await;
    assert_eq!(all.len(), 4);
    assert_eq!(pages, 2);
}

#[tokio::test]
async fn list_public_keys_answers_each_region_its_own_keys() {
    let stub = CloudTrailStub::start(StubConfig {
        keys: vec![key("f0", day(1), day(31))],
        keys_by_region: [("eu-west-1".to_owned(), vec![key("e1", day(1), day(31))])].into(),
        ..StubConfig::default()
    });
    let (eu, _) = list_keys(&stub.client("eu-west-1"), day(2), day(3)).await;
    assert_eq!(eu, ["e1"]);
    let (us, _) = list_keys(&stub.client("us-west-2"), day(2), day(3)).await;
    assert_eq!(us, ["f0"]);
    let regions: Vec<Option<String>> = stub.calls().into_iter().map(|c| c.region).collect();
    assert_eq!(
        regions,
        [Some("eu-west-1".to_owned()), Some("us-west-2".to_owned())]
    );
    assert_eq!(stub.count("ListPublicKeys"), 2);
    assert_eq!(
        count_by_operation(&stub.calls()),
        BTreeMap::from([("ListPublicKeys".to_owned(), 2)])
    );
}

#[tokio::test]
async fn a_bad_next_token_is_invalid_token_exception() {
    let stub = CloudTrailStub::start(StubConfig::default());
    let err = stub
        .client("us-east-1")
        .list_public_keys()
        .next_token("made-up")
        .send()
        .await
        .expect_err("a token the stub never gave");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_token_exception()),
        "{err:?}"
    );
}

#[tokio::test]
async fn describe_trails_matches_by_arn_or_name_and_lists_all_without_names() {
    let arn = "arn:aws:cloudtrail:us-east-1:111122223333:trail/org-trail";
    let mut org = StubTrail::new(arn, "org-bucket").with_prefix("audit");
    org.organization = true;
    org.multi_region = true;
    let other = StubTrail::new(
        "arn:aws:cloudtrail:eu-west-1:111122223333:trail/eu-only",
        "eu-bucket",
    );
    let stub = CloudTrailStub::start(StubConfig {
        trails: vec![org, other],
        ..StubConfig::default()
    });
    let client = stub.client("us-east-1");

    let by_arn = client
        .describe_trails()
        .trail_name_list(arn)
        .include_shadow_trails(true)
        .send()
        .await
        .expect("DescribeTrails by ARN");
    let [trail] = by_arn.trail_list() else {
        panic!("one trail expected: {by_arn:?}");
    };
    assert_eq!(trail.name(), Some("org-trail"));
    assert_eq!(trail.trail_arn(), Some(arn));
    assert_eq!(trail.s3_bucket_name(), Some("org-bucket"));
    assert_eq!(trail.s3_key_prefix(), Some("audit"));
    assert_eq!(trail.home_region(), Some("us-east-1"));
    assert_eq!(trail.is_organization_trail(), Some(true));
    assert_eq!(trail.is_multi_region_trail(), Some(true));
    assert_eq!(trail.log_file_validation_enabled(), Some(true));

    let by_name = client
        .describe_trails()
        .trail_name_list("org-trail")
        .send()
        .await
        .expect("DescribeTrails by name");
    assert_eq!(by_name.trail_list().len(), 1);

    // Without names: the trails of the caller's region, and the multi-region ones as shadows.
    let in_eu: Vec<String> = stub
        .client("eu-west-1")
        .describe_trails()
        .send()
        .await
        .expect("DescribeTrails")
        .trail_list()
        .iter()
        .filter_map(|t| t.name().map(str::to_owned))
        .collect();
    assert_eq!(in_eu, ["org-trail", "eu-only"]);
    let unknown = client
        .describe_trails()
        .trail_name_list("arn:aws:cloudtrail:us-east-1:111122223333:trail/nope")
        .send()
        .await
        .expect("DescribeTrails of an unknown trail");
    assert!(unknown.trail_list().is_empty());
}

#[tokio::test]
async fn other_cloudtrail_operations_are_unknown_operation_400() {
    let stub = CloudTrailStub::start(StubConfig::default());
    let err = stub
        .client("us-east-1")
        .get_trail_status()
        .name("t")
        .send()
        .await
        .expect_err("GetTrailStatus is not stubbed");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert_eq!(
        aws_sdk_cloudtrail::error::ProvideErrorMetadata::code(&err),
        Some("UnknownOperationException")
    );
}

#[test]
fn stub_keys_read_the_list_public_keys_file_shape() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/sample/public-keys.json");
    let keys = StubKey::from_list_public_keys_json(&std::fs::read(path).expect("read the sample"))
        .expect("parse the sample keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].fingerprint, "5fc61b811b734778be9e247137393204");
    assert_eq!(
        keys[0].valid_from,
        Utc.with_ymd_and_hms(2025, 12, 31, 0, 0, 0).unwrap()
    );
    assert_eq!(
        keys[0].value_der.first(),
        Some(&0x30),
        "DER starts with a SEQUENCE"
    );

    let epoch = br#"{"PublicKeyList":[{"Value":"AAE=","ValidityStartTime":1767225600,
        "ValidityEndTime":"1767312000","Fingerprint":"ab"}]}"#;
    let keys = StubKey::from_list_public_keys_json(epoch).expect("epoch times");
    assert_eq!(keys[0].valid_from, day(1));
    assert_eq!(keys[0].valid_to, day(2));
    assert!(StubKey::from_list_public_keys_json(b"{}").is_err());
}

/// Reads `PREFIX URL` lines from the binary's stdout.
fn endpoint_line(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    prefix: &str,
) -> String {
    let line = lines
        .next()
        .expect("a line from ctverify-s3-server")
        .expect("read ctverify-s3-server's stdout");
    line.strip_prefix(prefix)
        .unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}"))
        .to_owned()
}

#[tokio::test]
async fn the_binary_serves_a_loaded_tree_and_the_cloudtrail_stub() {
    use std::io::BufRead as _;
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/sample");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ctverify-s3-server"))
        .arg("--load")
        .arg(sample.join("trail"))
        .arg("--stub-keys")
        .arg(sample.join("public-keys.json"))
        .arg("--stub-manifest")
        .arg(sample.join("manifest.json"))
        .args(["--bucket-region", "ctverify-sample-bucket=eu-west-1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run ctverify-s3-server");
    // Killed however the test ends.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().expect("stdout");
    let _child = Kill(child);
    let mut lines = std::io::BufReader::new(stdout).lines();
    let s3 = endpoint_line(&mut lines, "listening ");
    let cloudtrail = endpoint_line(&mut lines, "cloudtrail ");

    let client = ctverify_tests::s3_server::s3_client(&s3, "eu-west-1");
    let listed = client
        .list_objects_v2()
        .bucket("ctverify-sample-bucket")
        .send()
        .await
        .expect("ListObjectsV2 from the binary");
    assert_eq!(listed.key_count(), Some(21));
    let location = client
        .get_bucket_location()
        .bucket("ctverify-sample-bucket")
        .send()
        .await
        .expect("GetBucketLocation");
    assert_eq!(
        location.location_constraint().map(|c| c.as_str()),
        Some("eu-west-1")
    );

    let trails = ctverify_tests::cloudtrail_stub::cloudtrail_client(&cloudtrail, "us-east-1")
        .describe_trails()
        .send()
        .await
        .expect("DescribeTrails from the binary");
    assert_eq!(
        trails.trail_list()[0].trail_arn(),
        Some("arn:aws:cloudtrail:us-east-1:111122223333:trail/sample-trail")
    );
    let counts: serde_json::Value =
        serde_json::from_str(&http_get(&s3, ctverify_tests::s3_server::REQUESTS_PATH))
            .expect("request counts are JSON");
    assert_eq!(counts["byOperation"]["ListObjectsV2"], 1);
}

/// A plain HTTP/1.0 GET, to read the counts endpoint without an HTTP client crate.
fn http_get(endpoint: &str, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let address = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// The bytes of an object the verifier's source read: in memory, or streamed on a blocking
/// thread as the verifier reads a large one.
async fn bytes_of(object: cloudtrail_verify::source::Object) -> Vec<u8> {
    use std::io::Read as _;
    tokio::task::spawn_blocking(move || {
        let mut body = object.body;
        let mut bytes = Vec::new();
        body.read_to_end(&mut bytes).map(|_| bytes)
    })
    .await
    .expect("the reading thread")
    .expect("the body")
}

/// After the SDK's first GetObject of a bucket, log files are read through the bucket's direct
/// lane (requests without the SDK's invocation ID reach the server), and each reads as it reads
/// through the SDK: the same bytes, small or streamed, a key that needs escaping, the same
/// refusals. A digest file (its signature is user metadata) and any object with user metadata
/// are read by the SDK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_files_read_through_a_direct_lane_read_as_through_the_sdk() {
    use cloudtrail_verify::source::{ObjectSource, S3Source, SourceError};
    let server = S3Server::start(
        S3ServerOptions::new()
            .deny("AWSLogs/1/CloudTrail/us-east-1/2026/01/01/denied.json.gz")
            .encrypt_with_customer_key("AWSLogs/1/CloudTrail/us-east-1/2026/01/01/sse-c.json.gz"),
    );
    let folder = "AWSLogs/1/CloudTrail/us-east-1/2026/01/01";
    let log = |name: &str| format!("{folder}/{name}");
    let large: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let objects: Vec<(String, Vec<u8>)> = vec![
        (log("first.json.gz"), b"first".to_vec()),
        (log("second.json.gz"), b"second".to_vec()),
        (log("a key with spaces+plus=.json.gz"), b"escaped".to_vec()),
        (log("empty.json.gz"), Vec::new()),
        (log("large.json.gz"), large),
    ];
    for (key, body) in &objects {
        server.put(BUCKET, key, body.clone(), None::<(String, String)>);
    }
    for key in ["denied.json.gz", "sse-c.json.gz"] {
        server.put(BUCKET, &log(key), &b"x"[..], None::<(String, String)>);
    }
    let digest = "AWSLogs/1/CloudTrail-Digest/us-east-1/2026/01/01/d.json.gz";
    server.put(BUCKET, digest, &b"digest"[..], [("signature", "ab")]);

    let source = S3Source::new(server.s3_client("us-east-1"));
    for (key, body) in &objects {
        let object = source.get(BUCKET, key).await.expect("the log file");
        assert!(object.metadata.is_empty());
        assert_eq!(&bytes_of(object).await, body, "{key}");
    }
    // The first GET went through the SDK and taught the lane; the others did not.
    assert_eq!(source.direct_reads(), objects.len() as u64 - 1);
    assert_eq!(server.requests().direct, objects.len() as u64 - 1);
    assert_eq!(server.requests().of("GetObject"), objects.len() as u64);

    // Refusals read as through the SDK: the lane's answer is handed back, and the SDK's decides.
    assert!(matches!(
        source.get(BUCKET, &log("denied.json.gz")).await,
        Err(SourceError::AccessDenied(_))
    ));
    assert!(matches!(
        source.get(BUCKET, &log("sse-c.json.gz")).await,
        Err(SourceError::CustomerEncrypted(_))
    ));
    assert!(matches!(
        source.get(BUCKET, &log("missing.json.gz")).await,
        Err(SourceError::NotFound)
    ));
    // A digest is never read directly.
    let reads = source.direct_reads();
    let signed = source.get(BUCKET, digest).await.expect("the digest");
    assert_eq!(
        signed.metadata.get("signature").map(String::as_str),
        Some("ab")
    );
    assert_eq!(source.direct_reads(), reads, "a digest is read by the SDK");
    // The lane is still on after refusals.
    source
        .get(BUCKET, &log("second.json.gz"))
        .await
        .expect("again");
    assert_eq!(source.direct_reads(), reads + 1);

    // S3 refusing the lane's GET yet serving the SDK's turns the lane off: no log file costs
    // two requests for long.
    server.refuse_requests_outside_the_sdk(true);
    let before = server.requests();
    for (key, body) in &objects[..3] {
        let object = source.get(BUCKET, key).await.expect("through the SDK");
        assert_eq!(&bytes_of(object).await, body, "{key}");
    }
    let after = server.requests();
    assert_eq!(
        after.direct - before.direct,
        1,
        "one refused direct GET, then none"
    );
    assert_eq!(after.of("GetObject") - before.of("GetObject"), 3);
    assert_eq!(source.direct_reads(), reads + 1);
    server.refuse_requests_outside_the_sdk(false);

    // User metadata is the SDK's to read: a log file that carries some is handed back, and the
    // bucket's lane is turned off (another bucket, whose lane is still on).
    let other = "other-bucket";
    server.create_bucket(other, "us-east-1");
    server.put(
        other,
        &log("first.json.gz"),
        &b"first"[..],
        None::<(String, String)>,
    );
    server.put(
        other,
        &log("tagged.json.gz"),
        &b"tagged"[..],
        [("note", "n")],
    );
    source
        .get(other, &log("first.json.gz"))
        .await
        .expect("learned");
    let before = server.requests().direct;
    let tagged = source
        .get(other, &log("tagged.json.gz"))
        .await
        .expect("tagged");
    assert_eq!(tagged.metadata.get("note").map(String::as_str), Some("n"));
    assert_eq!(bytes_of(tagged).await, b"tagged");
    assert_eq!(
        server.requests().direct,
        before + 1,
        "the lane's GET, handed back"
    );
    source
        .get(other, &log("first.json.gz"))
        .await
        .expect("again");
    assert_eq!(server.requests().direct, before + 1, "the lane is off");
}

/// A byte flipped on its way through the lane is caught by the object's stored checksum, as
/// through the SDK: the read is interrupted (to be read again), never a body with the wrong
/// bytes. A throttled GET turns the lane off, so that the SDK's retries pace the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_read_checks_the_stored_checksum_and_throttling_hands_back_to_the_sdk() {
    use cloudtrail_verify::source::{ObjectSource, S3Source, SourceError};
    use ctverify_tests::s3_server::BodyFault;
    let server = server();
    let folder = "AWSLogs/1/CloudTrail/us-east-1/2026/01/01";
    for name in ["a", "b", "c", "d"] {
        let key = format!("{folder}/{name}.json.gz");
        server.put(
            BUCKET,
            &key,
            name.repeat(100).into_bytes(),
            None::<(String, String)>,
        );
    }
    let source = S3Source::new(server.s3_client("us-east-1"));
    source
        .get(BUCKET, &format!("{folder}/a.json.gz"))
        .await
        .expect("a");
    server.break_bodies_of(
        format!("{folder}/b.json.gz"),
        BodyFault::FlipByte { at: 7 },
        1,
    );
    match source.get(BUCKET, &format!("{folder}/b.json.gz")).await {
        Err(SourceError::Interrupted(reason)) => {
            assert!(reason.to_lowercase().contains("checksum"), "{reason}");
        }
        Err(e) => panic!("expected an interrupted read, got {e:?}"),
        Ok(object) => panic!("a corrupted body was served: {:?}", bytes_of(object).await),
    }
    assert_eq!(source.direct_reads(), 1);
    assert_eq!(
        bytes_of(
            source
                .get(BUCKET, &format!("{folder}/b.json.gz"))
                .await
                .expect("b")
        )
        .await,
        "b".repeat(100).into_bytes()
    );
    assert_eq!(source.direct_reads(), 2);

    server.throttle_first_n_gets_of(format!("{folder}/c.json.gz"), 2);
    let c = source
        .get(BUCKET, &format!("{folder}/c.json.gz"))
        .await
        .expect("c");
    assert_eq!(bytes_of(c).await, "c".repeat(100).into_bytes());
    assert_eq!(server.requests().throttled, 2);
    source
        .get(BUCKET, &format!("{folder}/d.json.gz"))
        .await
        .expect("d");
    assert_eq!(
        source.direct_reads(),
        2,
        "the lane rests after a throttled GET"
    );
}

/// Refusals cost a second request each (the SDK's answer decides), so a bucket that refuses
/// many log files is left to the SDK after a bounded number of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_refused_many_times_leaves_the_bucket_to_the_sdk() {
    use cloudtrail_verify::source::{ObjectSource, S3Source, SourceError};
    let server = server();
    let folder = "AWSLogs/1/CloudTrail/us-east-1/2026/01/01";
    let present = format!("{folder}/present.json.gz");
    server.put(BUCKET, &present, &b"here"[..], None::<(String, String)>);
    let source = S3Source::new(server.s3_client("us-east-1"));
    source.get(BUCKET, &present).await.expect("learned");
    for i in 0..40 {
        let missing = source
            .get(BUCKET, &format!("{folder}/gone{i}.json.gz"))
            .await;
        assert!(matches!(missing, Err(SourceError::NotFound)), "{i}");
    }
    // 16 refused direct GETs, each followed by the SDK's; then the SDK's alone.
    assert_eq!(server.requests().direct, 16);
    assert_eq!(server.requests().of("GetObject"), 1 + 40 + 16);
    source.get(BUCKET, &present).await.expect("through the SDK");
    assert_eq!(source.direct_reads(), 0);
    assert_eq!(server.requests().direct, 16);
}
