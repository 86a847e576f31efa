//! Loading AWS configuration and building clients the same way everywhere.
//!
//! Configuration comes from the SDK's standard chain (environment, shared config and credentials
//! files, SSO, `credential_process`, container and instance metadata). Endpoint overrides are
//! honoured natively by `aws-config` 1.x, which matters for local servers such as moto:
//!
//! * `AWS_ENDPOINT_URL` (or `endpoint_url` in the profile) for every service, and
//! * `AWS_ENDPOINT_URL_<SERVICE>` (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_CLOUDTRAIL`,
//!   `AWS_ENDPOINT_URL_KMS`) for one service, which wins over the global one.
//!
//! (`aws-config`'s loader stores an `EnvServiceConfig` in the [`SdkConfig`], and each service
//! client's `From<&SdkConfig>` asks it for `AWS_ENDPOINT_URL_<SERVICE ID>` before falling back to
//! the global endpoint.)

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Loads the SDK configuration from the standard chain.
///
/// `profile` selects a named profile of the shared config files (as `--profile` does for the AWS
/// CLI); `region` overrides the region the chain would pick. Endpoint overrides from the
/// environment (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_CLOUDTRAIL`,
/// `AWS_ENDPOINT_URL_KMS`) are applied by the SDK itself when clients are built from the result.
pub async fn load_aws_config(profile: Option<&str>, region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    loader.load().await
}

/// Builds an S3 client from `conf`, switching to path-style addressing when the S3 endpoint is
/// overridden.
///
/// Local S3 servers (moto, MinIO, LocalStack) answer on one host name and cannot serve
/// virtual-hosted `bucket.host` requests, so an override means path style. The override is
/// detected from the endpoint in `conf` (set in code, by `AWS_ENDPOINT_URL` or by the profile's
/// `endpoint_url`) or from `AWS_ENDPOINT_URL_S3` in the environment. A per-service S3 endpoint
/// set only in a profile's `services` section is not detected; set `AWS_ENDPOINT_URL_S3` too.
pub fn s3_client(conf: &SdkConfig) -> aws_sdk_s3::Client {
    let builder = aws_sdk_s3::config::Builder::from(conf);
    let overridden = conf.endpoint_url().is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some_and(|v| !v.is_empty());
    let builder = if overridden {
        builder.force_path_style(true)
    } else {
        builder
    };
    aws_sdk_s3::Client::from_conf(builder.build())
}
