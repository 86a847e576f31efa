//! A moto server (PyPI `moto[server]`) on 127.0.0.1 for tests that talk to CloudTrail, KMS and
//! S3: started on a free port, waited for, killed on drop.
//!
//! The binary is `$CTVERIFY_MOTO_SERVER`, else `moto_server` on `PATH`; `scripts/test.sh`
//! installs moto into `.venv` and sets the variable. A test that needs the server panics when it
//! cannot be started: it never passes by skipping.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The account moto puts every resource in.
pub const MOTO_ACCOUNT: &str = "123456789012";

/// A running moto server; dropping it kills the process.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
    /// moto's stderr goes here so a failed start can show it.
    log: tempfile::NamedTempFile,
}

impl MotoServer {
    /// Starts moto on a free port of 127.0.0.1 and waits until it accepts connections.
    ///
    /// # Panics
    /// When the binary cannot be found or run, or the server does not come up within 60 s.
    pub fn start() -> Self {
        let program = server_program();
        // A port from the kernel, released just before moto binds it; another process could
        // grab it in between, so a server that exits early is retried on a new port.
        let mut last_failure = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let log =
                tempfile::NamedTempFile::new().expect("create a temporary file for moto's log");
            let stderr = log.reopen().expect("reopen moto's log file");
            let child = Command::new(&program)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(stderr))
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run moto's server {}: {e}. Install it with `bash scripts/test.sh` \
                         (pip install 'moto[server]' into .venv) or set CTVERIFY_MOTO_SERVER to \
                         the moto_server binary",
                        program.display()
                    )
                });
            let mut server = MotoServer { child, port, log };
            match server.wait_ready(Duration::from_secs(60)) {
                Ok(()) => return server,
                Err(why) => last_failure = why,
            }
        }
        panic!(
            "moto's server {} did not start: {last_failure}",
            program.display()
        );
    }

    /// `http://127.0.0.1:PORT`, for `endpoint_url`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An SDK configuration pointing every service at this server: credentials test/test,
    /// region us-east-1. Built explicitly rather than from the environment so parallel tests
    /// need not touch process-wide variables.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "test", "test", None, None, "moto",
            )))
            .build()
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
                return Err(format!("it exited with {status}: {log}"));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
                return Err(format!(
                    "nothing answered on {addr} after {timeout:?}: {log}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    listener
        .local_addr()
        .expect("local address of the probe socket")
        .port()
}

/// The version of moto behind the server binary, read through the Python interpreter its script
/// names (`#!…/python`), or why it could not be read.
///
/// Failures of the tests that use moto name it, so a tool upgrade that breaks them says which.
pub fn installed_version() -> Result<String, String> {
    let program = server_program();
    let resolved = which(&program).ok_or_else(|| format!("{} not found", program.display()))?;
    let script = std::fs::read(&resolved).map_err(|e| format!("{}: {e}", resolved.display()))?;
    let first_line = script.split(|b| *b == b'\n').next().unwrap_or_default();
    let interpreter = std::str::from_utf8(first_line)
        .ok()
        .and_then(|l| l.strip_prefix("#!"))
        .map(str::trim)
        .ok_or_else(|| format!("{} is not a Python script", resolved.display()))?;
    let out = Command::new(interpreter)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('moto'))",
        ])
        .output()
        .map_err(|e| format!("{interpreter}: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `$CTVERIFY_MOTO_SERVER`, else `moto_server` (looked up on `PATH`).
fn server_program() -> PathBuf {
    std::env::var_os("CTVERIFY_MOTO_SERVER")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("moto_server"))
}

fn which(program: &std::path::Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return Some(program.to_owned());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// An S3 client for `moto`, path-style (moto answers on one host name).
pub fn s3_client(moto: &MotoServer) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&moto.sdk_config())
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Uploads a generated trail's copy into its bucket (which must exist): every file an object,
/// a `KEY.metadata.json` sidecar its user metadata; `storage` gives some keys a storage class.
pub async fn upload_copy(
    client: &aws_sdk_s3::Client,
    trail: &crate::trail::GeneratedTrail,
    storage: &std::collections::HashMap<String, aws_sdk_s3::types::StorageClass>,
) {
    let bucket = trail.bucket();
    let root = trail.copy().join(bucket);
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    for (key, path) in files {
        if key.ends_with(".metadata.json") {
            continue;
        }
        let sidecar = path.with_file_name(format!(
            "{}.metadata.json",
            path.file_name()
                .and_then(|n| n.to_str())
                .expect("UTF-8 name")
        ));
        let metadata: std::collections::HashMap<String, String> = match std::fs::read(&sidecar) {
            Ok(bytes) => serde_json::from_slice(&bytes).expect("sidecar JSON"),
            Err(_) => std::collections::HashMap::new(),
        };
        client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .body(aws_sdk_s3::primitives::ByteStream::from(
                std::fs::read(&path).expect("object file"),
            ))
            .set_metadata(Some(metadata))
            .set_storage_class(storage.get(&key).cloned())
            .send()
            .await
            .expect("PutObject");
    }
}

/// Every file under `dir`, with its key relative to `root`.
fn collect(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<(String, PathBuf)>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            let key = path
                .strip_prefix(root)
                .expect("under the root")
                .to_str()
                .expect("UTF-8")
                .to_owned();
            out.push((key, path));
        }
    }
}
