//! The deployment files: the scheduled audit's CloudFormation template passes `cfn-lint` (PyPI,
//! pinned in scripts/python/requirements.txt), and the image the `Dockerfile` builds is the one
//! the template, the Kubernetes Jobs and the AWS Batch job definition run: the same repository
//! name, binaries the image installs at the paths they call, its user, and a root file system
//! they may mount read-only. No container engine runs here: the Dockerfile is read, not built.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A program of the tests' Python environment: beside moto's server
/// (`$CTVERIFY_MOTO_SERVER`, which scripts/test.sh sets), else on `PATH`.
fn venv_program(name: &str) -> PathBuf {
    match std::env::var_os("CTVERIFY_MOTO_SERVER") {
        Some(moto) => Path::new(&moto)
            .parent()
            .expect("CTVERIFY_MOTO_SERVER's folder")
            .join(name),
        None => PathBuf::from(name),
    }
}

fn run(program: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(program)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}. Install the test tools with `bash scripts/test.sh` (into \
                 .venv) and set CTVERIFY_MOTO_SERVER to .venv/bin/moto_server",
                program.display()
            )
        });
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const TEMPLATE: &str = "deploy/aws-scheduled-audit/template.yaml";

#[test]
fn the_scheduled_audit_template_passes_cfn_lint_at_its_pinned_version() {
    let cfn_lint = venv_program("cfn-lint");
    let pinned = read("scripts/python/requirements.txt")
        .lines()
        .find_map(|l| l.trim().strip_prefix("cfn-lint==").map(str::to_owned))
        .expect("cfn-lint pinned in scripts/python/requirements.txt");
    let (_, version, _) = run(&cfn_lint, &["--version"]);
    assert_eq!(
        version.split_whitespace().last(),
        Some(pinned.as_str()),
        "{} is not the pinned cfn-lint {pinned}: {version}",
        cfn_lint.display()
    );
    let (code, out, err) = run(&cfn_lint, &["--", TEMPLATE]);
    assert_eq!(code, 0, "cfn-lint {TEMPLATE}:\n{out}{err}");
}

/// The template (as CloudFormation reads it, intrinsic functions included, through cfn-lint's
/// own decoder) and every Kubernetes document, as JSON.
fn parsed_manifests() -> Value {
    let python = venv_program("python");
    let script = "import json, sys, yaml\n\
                  from cfnlint.decode import decode\n\
                  template, problems = decode(sys.argv[1])\n\
                  assert not problems, problems\n\
                  k8s = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d]\n\
                  print(json.dumps({'template': template, 'k8s': k8s}, default=str))\n";
    let (code, out, err) = run(
        &python,
        &["-c", script, TEMPLATE, "deploy/k8s-indexed-job.yaml"],
    );
    assert_eq!(code, 0, "{}: {err}", python.display());
    serde_json::from_str(&out).expect("the manifests as JSON")
}

/// The binary names of a crate's `[[bin]]` sections.
fn binaries(cargo_toml: &str) -> Vec<String> {
    let text = read(cargo_toml);
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(value) = line.strip_prefix("name = ") {
            names.push(value.trim_matches('"').to_owned());
        }
    }
    names
}

/// The repository name of an image reference (`REGISTRY/PATH/NAME:TAG` → `NAME`).
fn repository(image: &str) -> &str {
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split([':', '@']).next().unwrap_or(last)
}

#[test]
fn the_image_the_template_the_kubernetes_jobs_and_batch_agree() {
    let dockerfile = read("Dockerfile");
    let instruction = |name: &str| -> Vec<String> {
        dockerfile
            .lines()
            .filter_map(|l| l.strip_prefix(name).map(|rest| rest.trim().to_owned()))
            .collect()
    };
    // What the image installs on PATH, built from the crates whose binaries they are.
    let installed: Vec<String> = instruction("COPY --from=build ")
        .iter()
        .filter_map(|l| l.split_whitespace().last()?.strip_prefix("/usr/local/bin/"))
        .map(str::to_owned)
        .collect();
    let built: Vec<String> = binaries("cloudtrail-verify-cli/Cargo.toml")
        .into_iter()
        .chain(binaries("cloudtrail-verify-lambda/Cargo.toml"))
        .collect();
    assert_eq!(
        installed, built,
        "the image's binaries are the crates' [[bin]]s"
    );
    for binary in &built {
        assert!(
            dockerfile.contains(&format!("target/release/{binary} /out/{binary}")),
            "the build stage does not install {binary}"
        );
    }
    let entrypoint: Vec<String> =
        serde_json::from_str(&instruction("ENTRYPOINT ").concat()).expect("ENTRYPOINT [...]");
    assert_eq!(entrypoint, ["/usr/local/bin/ctverify"]);
    let user = instruction("USER ").concat();
    let uid: u64 = user
        .split(':')
        .next()
        .and_then(|u| u.parse().ok())
        .expect("a numeric USER");
    assert!(dockerfile.contains("distroless/cc-debian12") && dockerfile.contains("bookworm"));

    let manifests = parsed_manifests();
    let image_placeholder = "ghcr.io/example/ctverify:VERSION";

    // Lambda: the handler beside ctverify in the same image, from a `ctverify` repository.
    let resources = &manifests["template"]["Resources"];
    let function = &resources["Function"]["Properties"];
    assert_eq!(function["PackageType"], "Image");
    let lambda_entry = function["ImageConfig"]["EntryPoint"]
        .as_array()
        .expect("the function's EntryPoint");
    assert_eq!(lambda_entry.len(), 1);
    let handler = lambda_entry[0].as_str().unwrap();
    assert!(
        installed
            .iter()
            .any(|b| handler == format!("/usr/local/bin/{b}") && b == "ctverify-lambda"),
        "the function runs {handler}, which the image does not install"
    );
    assert!(function["ImageConfig"].get("Command").is_none());
    let pattern = manifests["template"]["Parameters"]["ImageUri"]["AllowedPattern"]
        .as_str()
        .unwrap();
    assert!(
        pattern.contains(&format!(
            "/([a-z0-9._-]+/)*{}(:",
            repository(image_placeholder)
        )),
        "{pattern}"
    );
    let timeout = function["Timeout"].as_u64().expect("a timeout");
    assert!(timeout < 900, "Lambda stops a function at 900 s");
    let budget: u64 = function["Environment"]["Variables"]["CTVERIFY_TIME_BUDGET_SECONDS"]
        .as_str()
        .and_then(|b| b.parse().ok())
        .expect("the time budget");
    assert!(budget < timeout, "the handler must stop before Lambda does");

    // Kubernetes: every container runs this image as its user, the command on PATH.
    let k8s = manifests["k8s"].as_array().unwrap();
    let header = read("deploy/k8s-indexed-job.yaml");
    assert!(header.contains(&format!("CTVERIFY_IMAGE      {image_placeholder}")));
    let jobs: Vec<&Value> = k8s.iter().filter(|d| d["kind"] == "Job").collect();
    assert_eq!(jobs.len(), 3);
    for job in jobs {
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(
            pod["securityContext"]["runAsUser"], uid,
            "{}",
            job["metadata"]
        );
        for container in pod["containers"].as_array().unwrap() {
            assert_eq!(container["image"], "${CTVERIFY_IMAGE}");
            let command = container["command"].as_array().unwrap();
            let program = command[0].as_str().unwrap();
            assert_eq!(
                Some(program),
                entrypoint[0].rsplit('/').next(),
                "the Job's command is the image's entrypoint, by its name on PATH"
            );
            assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
            assert_eq!(container["volumeMounts"][0]["mountPath"], "/tmp");
        }
    }

    // AWS Batch: `command` replaces the image's CMD, not its ENTRYPOINT: it holds the
    // arguments of ctverify, not ctverify again.
    let batch: Value =
        serde_json::from_str(&read("deploy/aws-batch-job-definition.json")).expect("JSON");
    let container = &batch["containerProperties"];
    assert_eq!(container["image"], image_placeholder);
    let command: Vec<&str> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        command.first().is_some_and(|a| a.starts_with("--")),
        "Batch would run `ctverify {}`",
        command.join(" ")
    );
    assert_eq!(container["user"], uid.to_string());
    assert_eq!(container["readonlyRootFilesystem"], true);
    assert_eq!(
        container["linuxParameters"]["tmpfs"][0]["containerPath"],
        "/tmp"
    );
}
