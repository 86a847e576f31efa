//! Compiled into each test that uses it (`#[path]`), where `CARGO_BIN_EXE_*` is defined.
//! A generated trail served over HTTP by the in-process S3 server, with CloudTrail's
//! DescribeTrails and ListPublicKeys answered by the stub, and `ctverify` run against both as a
//! child process configured the standard way (`AWS_ENDPOINT_URL_S3`, ...).

use ctverify_fixtures::TrailSpec;
use ctverify_tests::cloudtrail_stub::{CloudTrailStub, StubConfig, StubKey, StubTrail};
use ctverify_tests::s3_server::{S3Server, S3ServerOptions};
use ctverify_tests::trail::{GeneratedTrail, Run};
use std::path::Path;
use std::process::Command;

/// A trail in S3 and the CloudTrail API that describes it.
pub struct S3Trail {
    /// The trail as generated (and tampered with) on disk before upload.
    pub trail: GeneratedTrail,
    /// The S3 server holding it.
    pub server: S3Server,
    /// The CloudTrail API stub.
    pub stub: CloudTrailStub,
}

impl S3Trail {
    /// Generates `spec`, lets `tamper` damage the local copy, and serves it.
    pub fn start(spec: &TrailSpec, tamper: impl FnOnce(&GeneratedTrail)) -> Self {
        Self::start_with(spec, tamper, S3ServerOptions::new(), |_| {}, |_| {})
    }

    /// [`S3Trail::start`] with server options, a change to the stub's configuration, and work
    /// on the server before the objects are loaded (such as creating the bucket in a region).
    pub fn start_with(
        spec: &TrailSpec,
        tamper: impl FnOnce(&GeneratedTrail),
        options: S3ServerOptions,
        before_load: impl FnOnce(&S3Server),
        configure: impl FnOnce(&mut StubConfig),
    ) -> Self {
        let trail = GeneratedTrail::new(spec);
        tamper(&trail);
        let server = S3Server::start(options);
        before_load(&server);
        server
            .load_dir(trail.copy())
            .expect("loading the trail into S3");
        let keys = std::fs::read(trail.keys()).expect("keys file");
        let mut stub_trail = StubTrail::new(&trail.manifest.trail_arn, trail.bucket());
        if let Some(prefix) = &trail.manifest.prefix {
            stub_trail = stub_trail.with_prefix(prefix);
        }
        stub_trail.organization = trail.manifest.org_id.is_some();
        stub_trail.multi_region = trail.manifest.regions.len() > 1;
        stub_trail.regions = trail.manifest.regions.clone();
        let mut config = StubConfig {
            keys: StubKey::from_list_public_keys_json(&keys).expect("stub keys"),
            trails: vec![stub_trail],
            ..StubConfig::default()
        };
        configure(&mut config);
        let stub = CloudTrailStub::start(config);
        S3Trail {
            trail,
            server,
            stub,
        }
    }

    /// Runs `ctverify --trail ARN --from START --to END EXTRA...` against the servers.
    pub fn verify(&self, extra: &[&str]) -> Run {
        self.verify_with_env(extra, &[])
    }

    /// [`S3Trail::verify`] with further environment variables for the child process.
    pub fn verify_with_env(&self, extra: &[&str], env: &[(String, String)]) -> Run {
        let mut args = ctverify_tests::trail::range_args(&self.trail.manifest);
        args.extend(extra.iter().map(|s| s.to_string()));
        run_ctverify_process_with_env(&args, &self.server.endpoint(), &self.stub.endpoint(), env)
    }

    /// Runs with `--format json` and parses the report.
    pub fn report(&self, extra: &[&str]) -> (u8, serde_json::Value) {
        let mut args = vec!["--format", "json"];
        args.extend_from_slice(extra);
        let run = self.verify(&args);
        let report = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{}\n{}", run.stdout, run.stderr));
        (run.code, report)
    }
}

/// Runs the `ctverify` command line as a child process whose only AWS configuration is the
/// two endpoints and test credentials: nothing from the machine's profiles, no instance
/// metadata, nothing that could reach AWS.
pub fn run_ctverify_process(args: &[String], s3: &str, cloudtrail: &str) -> Run {
    run_ctverify_process_with_env(args, s3, cloudtrail, &[])
}

/// [`run_ctverify_process`] with further environment variables (another endpoint, say).
pub fn run_ctverify_process_with_env(
    args: &[String],
    s3: &str,
    cloudtrail: &str,
    extra_env: &[(String, String)],
) -> Run {
    let output = ctverify_command(args, s3, cloudtrail, extra_env)
        .output()
        .expect("running ctverify");
    Run::from(output)
}

/// The child process [`run_ctverify_process_with_env`] runs, for a test that must watch or
/// stop it while it runs.
pub fn ctverify_command(
    args: &[String],
    s3: &str,
    cloudtrail: &str,
    extra_env: &[(String, String)],
) -> Command {
    aws_test_command(
        env!("CARGO_BIN_EXE_ctverify-under-test"),
        args,
        s3,
        cloudtrail,
        extra_env,
    )
}

/// `program` (a binary of this package) run as [`ctverify_command`] runs ctverify: only the
/// two endpoints, test credentials and `extra_env`, nothing that could reach AWS.
pub fn aws_test_command(
    program: &str,
    args: &[String],
    s3: &str,
    cloudtrail: &str,
    extra_env: &[(String, String)],
) -> Command {
    let empty = Path::new("/dev/null");
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL_S3", s3)
        .env("AWS_ENDPOINT_URL_CLOUDTRAIL", cloudtrail)
        // The stub answers Account ListRegions; Organizations calls get its "unknown
        // operation" error unless a test points them at moto.
        .env("AWS_ENDPOINT_URL_ACCOUNT", cloudtrail)
        // Any other service too: nothing may reach AWS.
        .env("AWS_ENDPOINT_URL", cloudtrail)
        .env("AWS_ENDPOINT_URL_ORGANIZATIONS", cloudtrail)
        .envs(extra_env.iter().map(|(k, v)| (k, v)))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_CONFIG_FILE", empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", empty)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}
