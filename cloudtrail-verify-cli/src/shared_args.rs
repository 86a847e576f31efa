//! The flag groups every command shares, defined once: how to reach AWS, and the output
//! format of a command with one report at its end. `cli` (verification), `posture_cmd`
//! (`enable`, `audit`) and `query_cmd` (`query-results`) all flatten these.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// How to reach AWS; the same flags, with the same meaning, in every command.
#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// AWS profile of the shared config files (default: the standard credential chain). A
    /// profile that does not exist is refused, as by the AWS CLI.
    #[arg(long, value_name = "NAME", help_heading = "AWS")]
    pub profile: Option<String>,

    /// Send every AWS call to URL instead of AWS's endpoints (one endpoint for every service: LocalStack,
    /// moto), as the AWS CLI's --endpoint-url. Without it, AWS_ENDPOINT_URL and
    /// AWS_ENDPOINT_URL_S3 (or _CLOUDTRAIL, _KMS...) apply. HTTPS_PROXY, HTTP_PROXY and
    /// NO_PROXY are honoured.
    #[arg(long, value_name = "URL", help_heading = "AWS")]
    pub endpoint_url: Option<String>,

    /// Trust the certificate authorities of this PEM file, instead of the system's, for every
    /// AWS call (a TLS-inspecting proxy, a private endpoint). Default: AWS_CA_BUNDLE, as for the
    /// AWS CLI.
    #[arg(long, value_name = "FILE", help_heading = "AWS")]
    pub ca_bundle: Option<PathBuf>,
}

/// Output format of a command with one report at its end (`query-results`, `merge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Lines in the style of `aws cloudtrail validate-logs`.
    Text,
    /// The whole report as one JSON document on stdout.
    Json,
}
