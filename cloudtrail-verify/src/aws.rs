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
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use std::path::PathBuf;

/// How to reach AWS, as a user says it on the command line: the session an embedder would
/// otherwise build by hand. Everything else comes from the SDK's standard chain.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AwsSettings {
    /// A profile of the shared config files (`--profile`); a missing one is refused, as by the
    /// AWS CLI. `None`: `AWS_PROFILE` or the default chain.
    pub profile: Option<String>,
    /// The region API calls start from, over the chain's choice.
    pub region: Option<String>,
    /// One endpoint for every AWS call (`--endpoint-url`, as the AWS CLI's global option): a
    /// LocalStack or moto, which serve every service at one URL. It wins over `AWS_ENDPOINT_URL` and
    /// `AWS_ENDPOINT_URL_<SERVICE>`, which apply when it is absent.
    pub endpoint_url: Option<String>,
    /// PEM file of the certificate authorities to trust instead of the system's
    /// (`--ca-bundle`); `None`: `AWS_CA_BUNDLE`, as the AWS CLI reads it, then the system's.
    pub ca_bundle: Option<PathBuf>,
}

impl AwsSettings {
    /// Settings for `profile`, taking everything else from the standard chain.
    pub fn with_profile(profile: Option<String>) -> Self {
        AwsSettings {
            profile,
            ..AwsSettings::default()
        }
    }

    /// The same settings with `region` as the starting region.
    pub fn in_region(mut self, region: Option<String>) -> Self {
        self.region = region;
        self
    }

    /// The same settings sending every call to `endpoint_url`.
    pub fn with_endpoint_url(mut self, endpoint_url: Option<String>) -> Self {
        self.endpoint_url = endpoint_url;
        self
    }

    /// The same settings trusting the certificate authorities of `ca_bundle`.
    pub fn with_ca_bundle(mut self, ca_bundle: Option<PathBuf>) -> Self {
        self.ca_bundle = ca_bundle;
        self
    }
}

/// Why the AWS session could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The profile named cannot be used.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The CA bundle cannot be read or holds no usable certificate.
    #[error("CA bundle {}: {message}", path.display())]
    CaBundle {
        /// The file (from `--ca-bundle` or `AWS_CA_BUNDLE`).
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// Attempts per AWS call: throttling, 5xx answers, timeouts and connections that fail are
/// retried with the SDK's standard backoff
/// (<https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html>).
pub const MAX_ATTEMPTS: u32 = 5;
/// A server that does not accept the connection within this is down for this attempt.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// A server that stops sending for this long (an answer, or an object's body) fails the attempt
/// or the read; a body that stalls is then read again (see the README's S3 reads).
pub const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// One attempt of a call, up to its answer's headers (an object's body is bounded by
/// [`READ_TIMEOUT`] instead, since a large one may take longer to arrive in full).
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// A whole call, retries included: an endpoint that never answers fails the call in this
/// time, whatever the command (see the SDK's timeout settings,
/// <https://docs.aws.amazon.com/sdkref/latest/guide/feature-timeouts.html>).
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// The calls a command makes before its real work (verification's DescribeTrails,
/// GetBucketLocation, ListRegions, ListAccounts and ListPublicKeys; all of `audit` and
/// `enable`): a run whose set-up has not ended in this time stops.
pub const SETUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

/// `conf` with ctverify's retries and timeouts ([`MAX_ATTEMPTS`], [`CONNECT_TIMEOUT`],
/// [`READ_TIMEOUT`], [`ATTEMPT_TIMEOUT`], [`CALL_TIMEOUT`]): every client of every command is
/// built from a configuration that went through here, so no call can wait forever on an
/// endpoint that accepts and never answers. [`load`] applies it; so do the verifier and the
/// posture clients to a configuration an embedder built.
pub fn with_call_policy(conf: &SdkConfig) -> SdkConfig {
    conf.to_builder()
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(CALL_TIMEOUT)
                .build(),
        )
        .build()
}

/// Loads the AWS session from `settings` and the standard chain (environment, shared config
/// and credentials files, SSO, `credential_process`, container and instance metadata).
///
/// `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` are honoured, with or without a CA bundle.
///
/// # Errors
/// A profile that does not exist, or a CA bundle that cannot be read or holds no certificate.
pub async fn load(settings: &AwsSettings) -> Result<SdkConfig, SessionError> {
    check_profile(settings.profile.as_deref()).await?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let bundle = settings.ca_bundle.clone().or_else(|| {
        std::env::var_os("AWS_CA_BUNDLE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    if let Some(path) = bundle {
        tracing::debug!(path = %path.display(), "trusting the CA bundle only");
        loader = loader.http_client(tls::client_trusting(&path)?);
    }
    Ok(with_call_policy(&loader.load().await))
}

/// An HTTPS client that trusts only a CA bundle, as the AWS CLI does with `--ca-bundle`.
mod tls {
    use super::SessionError;
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    use aws_smithy_runtime_api::client::http::SharedHttpClient;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use std::path::Path;

    /// Largest CA bundle read: system bundles are about 200 KB.
    const MAX_BUNDLE_BYTES: u64 = 16 << 20;

    /// The client the SDK would build by default (rustls with aws-lc, proxies from the
    /// environment), trusting the certificates of `path` instead of the system's.
    pub(super) fn client_trusting(path: &Path) -> Result<SharedHttpClient, SessionError> {
        let fail = |message: String| SessionError::CaBundle {
            path: path.to_owned(),
            message,
        };
        let pem = read_bounded(path).map_err(|e| fail(e.to_string()))?;
        // The TLS layer panics on a certificate it cannot parse, so every one is checked here
        // first, as a root store would take it.
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fail(format!("not a PEM certificate bundle: {e}")))?;
        if certs.is_empty() {
            return Err(fail(
                "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        let mut roots = rustls::RootCertStore::empty();
        for (n, cert) in certs.iter().enumerate() {
            roots
                .add(cert.clone())
                .map_err(|e| fail(format!("certificate {} is not usable: {e}", n + 1)))?;
        }
        let context = TlsContext::builder()
            .with_trust_store(TrustStore::empty().with_pem_certificate(pem))
            .build()
            .map_err(|e| fail(e.to_string()))?;
        // `build_with_connector_fn` is what the SDK's own default client uses; the public
        // `build_https` would drop the proxy settings.
        Ok(
            Builder::new().build_with_connector_fn(move |settings, components| {
                let mut connector = ConnectorBuilder::default()
                    .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
                    .tls_context(context.clone());
                connector.set_connector_settings(settings.cloned());
                if let Some(components) = components {
                    connector.set_sleep_impl(components.sleep_impl());
                }
                connector.set_proxy_config(Some(ProxyConfig::from_env()));
                connector.build()
            }),
        )
    }

    /// The bundle's bytes: a regular file (a FIFO would block the run) of at most
    /// [`MAX_BUNDLE_BYTES`] (a larger one is refused rather than cut, which would drop
    /// certificates silently).
    fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
        use std::io::{Error, Read};
        let not_regular = || Error::other("not a regular file");
        if !std::fs::metadata(path)?.is_file() {
            return Err(not_regular());
        }
        let file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(not_regular());
        }
        if meta.len() > MAX_BUNDLE_BYTES {
            return Err(Error::other(format!(
                "larger than {MAX_BUNDLE_BYTES} bytes; system bundles are about 200 KB"
            )));
        }
        let mut bytes = Vec::new();
        file.take(MAX_BUNDLE_BYTES + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_BUNDLE_BYTES {
            return Err(Error::other("grew past the size limit while being read"));
        }
        Ok(bytes)
    }
}

/// Loads the SDK configuration from the standard chain, without checking the profile or
/// reading a CA bundle; [`load`] does both.
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

/// An AWS API call, named in error messages so that a failure says what to fix: the call, the
/// IAM permission it needs and the region it went to.
#[derive(Debug, Clone, Copy)]
pub struct AwsCall<'a> {
    /// The operation as the API names it (`ListObjectsV2`).
    pub operation: &'a str,
    /// The IAM action the caller needs for it (`s3:ListBucket`).
    pub permission: &'a str,
    /// The region the call went to, when known.
    pub region: Option<&'a str>,
}

impl<'a> AwsCall<'a> {
    /// A call of `operation` needing `permission`, in `region` when known.
    pub fn new(operation: &'a str, permission: &'a str, region: Option<&'a str>) -> Self {
        AwsCall {
            operation,
            permission,
            region,
        }
    }

    fn in_region(&self) -> String {
        self.region.map(|r| format!(" in {r}")).unwrap_or_default()
    }
}

/// One line for any SDK error: `Code: message` when the service answered, otherwise what kept
/// the call from being answered (no credentials, a refused connection, a timeout), followed by
/// one hint in parentheses when one applies.
///
/// It never prints the SDK's `Debug` form (`ServiceError { raw: Response { … } }`), which is
/// what `DisplayErrorContext` appends and which tells a user nothing. Hints about the call (the
/// permission to grant, the bucket or region to check) need `call`; hints about credentials and
/// the network apply to every call.
pub fn error_text<E, R>(err: &SdkError<E, R>, call: Option<&AwsCall<'_>>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if let Some(text) = credentials_problem(err) {
        return text;
    }
    let (core, code) = match err.as_service_error() {
        Some(service) => {
            let core = match (service.code(), service.message()) {
                (Some(code), Some(msg)) if !msg.is_empty() => format!("{code}: {msg}"),
                (Some(code), _) => code.to_owned(),
                (None, Some(msg)) if !msg.is_empty() => msg.to_owned(),
                // An unmodelled answer (for example an error body that does not parse).
                _ => unreadable_answer(err),
            };
            (core, service.code().unwrap_or_default())
        }
        // An answer that came and could not be parsed: the parser's words name XML tokens and
        // call it "likely a bug in the SDK", which it is not when a proxy or another server
        // answered.
        None if matches!(err, SdkError::ResponseError(_)) => (unreadable_answer(err), ""),
        None => (cause_chain(err), ""),
    };
    match hint(err, code, call) {
        Some(hint) => format!("{core} ({hint})"),
        None => core,
    }
}

/// One line for an answer that is not one an AWS service gives: its HTTP status and what to
/// check; the parser's own words go to `--debug`.
fn unreadable_answer<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    tracing::debug!(error = %cause_chain(err), raw = ?err.raw_response(), "unreadable answer");
    let status = err
        .raw_response()
        .map(|r| format!(" (HTTP {})", status_of(r)))
        .unwrap_or_default();
    format!(
        "the answer{status} is not one AWS gives: check the endpoint (--endpoint-url, \
         AWS_ENDPOINT_URL) and any proxy in between; --debug shows it"
    )
}

/// The AWS CLI's wording when no credentials were found, or the provider's own words when a
/// configured source of credentials failed: both are about the setup, not the call.
fn credentials_problem<E, R>(err: &SdkError<E, R>) -> Option<String>
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(problem) = e.downcast_ref::<CredentialsError>() {
            return Some(match problem {
                CredentialsError::CredentialsNotLoaded(_) => NO_CREDENTIALS.to_owned(),
                other => format!(
                    "cannot load credentials: {} (check the profile's credential settings; for \
                     SSO run `aws sso login`)",
                    cause_chain(other)
                ),
            });
        }
        next = e.source();
    }
    None
}

/// What the AWS CLI says when the standard chain finds no credentials, plus how to give some.
pub const NO_CREDENTIALS: &str = "Unable to locate credentials. You can configure credentials \
    by running \"aws configure\", set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or choose a \
    profile with --profile or AWS_PROFILE";

/// The operation an SDK error type belongs to, from its name: the SDK names each operation's
/// error `<Operation>Error` (`GetTrailError`). `None` for any other type.
fn operation_of<E>() -> Option<&'static str> {
    std::any::type_name::<E>()
        .rsplit("::")
        .next()
        .and_then(|name| name.strip_suffix("Error"))
        .filter(|op| !op.is_empty() && op.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// One actionable hint for an error, or none when the message says it all.
fn hint<E, R>(err: &SdkError<E, R>, code: &str, call: Option<&AwsCall<'_>>) -> Option<String>
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let status = match err {
        SdkError::ServiceError(_) => err.raw_response().map(status_of),
        _ => None,
    };
    match code {
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" | "TokenRefreshRequired" => {
            return Some(
                "the credentials have expired: refresh them (for SSO, `aws sso login`)".into(),
            );
        }
        "InvalidAccessKeyId"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "AuthFailure" => {
            return Some(
                "the credentials are not valid: check AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, or the profile"
                    .into(),
            );
        }
        _ => {}
    }
    let unreachable = match err {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(failure) => failure.is_io() || failure.is_timeout(),
        _ => false,
    };
    if unreachable {
        let region = call.map(AwsCall::in_region).unwrap_or_default();
        // The call is named even where the caller gave none (the posture commands): a run
        // that ends because an endpoint went silent must say which call it was waiting for.
        let operation = match call {
            Some(call) => format!("{} ", call.operation),
            None => operation_of::<E>()
                .map(|op| format!("{op} "))
                .unwrap_or_default(),
        };
        let waited = match err {
            SdkError::TimeoutError(_) => format!(
                "{operation}got no answer within its {} s bound, so ",
                CALL_TIMEOUT.as_secs()
            ),
            _ => operation,
        };
        return Some(format!(
            "{waited}could not reach the AWS endpoint{region}: check the network, HTTPS_PROXY, \
             AWS_ENDPOINT_URL and the region"
        ));
    }
    // The SDK's words when neither the command line nor the chain gave a region.
    if code.is_empty() && cause_chain(err).contains("missing signing region") {
        return Some(
            "no region: pass --region, set AWS_REGION, or give the profile a region".into(),
        );
    }
    let call = call?;
    let denied = matches!(
        code,
        "AccessDenied"
            | "AccessDeniedException"
            | "UnauthorizedOperation"
            | "AuthorizationError"
            | "Forbidden"
    ) || (code.is_empty() && status == Some(403));
    if denied {
        return Some(format!(
            "the credentials in use need {} for {}{}; `aws sts get-caller-identity` shows whose \
             they are",
            call.permission,
            call.operation,
            call.in_region()
        ));
    }
    match code {
        "NoSuchBucket" => Some(
            "check --bucket, or the trail's S3 bucket: it may have been deleted or renamed".into(),
        ),
        "PermanentRedirect"
        | "AuthorizationHeaderMalformed"
        | "IllegalLocationConstraintException" => Some(format!(
            "the request went to the wrong region{}: check --region and the ARN's region",
            call.in_region()
        )),
        "TrailNotFoundException" => Some(format!(
            "no such trail{}: check the ARN (its region is the trail's home region) and the account",
            call.in_region()
        )),
        "AWSOrganizationsNotInUseException" => Some("the account is not in an organization".into()),
        // Only calls named here get a hint: listings and API calls, made a few times per run,
        // whose rate is the account's, shared with every other caller. `--concurrency` paces
        // the reads of objects, which are not among them, so it is not the remedy.
        "ThrottlingException" | "Throttling" | "SlowDown" | "TooManyRequestsException" => {
            Some(format!(
                "{} was throttled after {MAX_ATTEMPTS} attempts{}: the account's request rate \
                 for it is shared with other callers; try again later",
                call.operation,
                call.in_region()
            ))
        }
        "OptInRequired" | "UnrecognizedClientExceptionOptIn" => Some(format!(
            "the region{} is not enabled for the account",
            call.in_region()
        )),
        _ => None,
    }
}

fn status_of<R: std::fmt::Debug + 'static>(raw: &R) -> u16 {
    // The SDK's responses are `HttpResponse`; other response types carry no status we know.
    (raw as &dyn std::any::Any)
        .downcast_ref::<aws_smithy_runtime_api::http::Response>()
        .map_or(0, |r| r.status().as_u16())
}

/// `outer: cause: cause`, skipping causes whose text repeats the previous one.
pub(crate) fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Why the profile named by `--profile` (or `AWS_PROFILE`) cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// No such profile in the shared config and credentials files.
    #[error("The config profile ({0}) could not be found")]
    NotFound(String),
    /// The files could not be read or parsed.
    #[error("the shared AWS config files cannot be read: {0}")]
    Unreadable(String),
}

/// Checks that a named profile exists, as the AWS CLI does before any call: without this the
/// SDK silently falls back to credentials from the environment, or fails later with a metadata
/// error that does not mention the typo. `profile` is the `--profile` value; `AWS_PROFILE` is
/// checked when it is absent. The `default` profile may be missing, as for the AWS CLI.
pub async fn check_profile(profile: Option<&str>) -> Result<(), ProfileError> {
    let name = match profile {
        Some(name) => name.to_owned(),
        None => match std::env::var("AWS_PROFILE") {
            Ok(name) if !name.is_empty() => name,
            _ => return Ok(()),
        },
    };
    if name == "default" {
        return Ok(());
    }
    let profiles = aws_config::profile::load(
        &aws_types::os_shim_internal::Fs::real(),
        &aws_types::os_shim_internal::Env::real(),
        &aws_runtime::env_config::file::EnvConfigFiles::default(),
        None,
    )
    .await
    .map_err(|e| ProfileError::Unreadable(cause_chain(&e)))?;
    match profiles.get_profile(&name) {
        Some(_) => Ok(()),
        None => Err(ProfileError::NotFound(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::operation_of;

    #[test]
    fn an_sdk_error_type_names_its_operation() {
        use aws_sdk_cloudtrail::operation::get_trail::GetTrailError;
        use aws_sdk_s3::operation::get_bucket_location::GetBucketLocationError;
        assert_eq!(operation_of::<GetTrailError>(), Some("GetTrail"));
        assert_eq!(
            operation_of::<GetBucketLocationError>(),
            Some("GetBucketLocation")
        );
        assert_eq!(operation_of::<std::io::Error>(), None);
    }

    /// An answer the SDK cannot parse (an HTML page from a proxy) is one line with its status
    /// and what to check; the parser's token dump and "likely a bug in the SDK" are left to
    /// `--debug`.
    #[test]
    fn an_answer_that_does_not_parse_is_one_line_without_the_parsers_dump() {
        use super::{SdkError, error_text};
        use aws_sdk_s3::config::http::HttpResponse;
        use aws_sdk_s3::operation::get_bucket_location::GetBucketLocationError;
        use aws_smithy_types::body::SdkBody;
        let raw = HttpResponse::new(200.try_into().unwrap(), SdkBody::from("<html>"));
        let err: SdkError<GetBucketLocationError, HttpResponse> = SdkError::response_error(
            "failed to parse XML: StartEl { name: Name { prefix: \"\", local: \"html\" } } \
             This is likely a bug in the SDK.",
            raw,
        );
        let text = error_text(&err, None);
        assert!(
            text.contains("HTTP 200") && text.contains("--debug"),
            "{text}"
        );
        assert!(
            !text.contains("StartEl") && !text.contains("likely a bug"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1, "{text}");
    }
}
