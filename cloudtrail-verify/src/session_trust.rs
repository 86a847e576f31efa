//! What in the AWS session changes whom a verdict trusts, said once as warnings.
//!
//! Against S3 without pinned keys, CloudTrail's public keys come from `ListPublicKeys`, and
//! whoever answers that call chooses which signatures verify. Against AWS that is CloudTrail,
//! over TLS checked against the system's certificate authorities. Three things change it: a
//! CloudTrail endpoint that is not AWS's (set by any means: the session's endpoint URL,
//! `AWS_ENDPOINT_URL_CLOUDTRAIL` or `AWS_ENDPOINT_URL`, see
//! <https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html>), plain HTTP to
//! it, and a CA bundle that is not the system's (`AWS_CA_BUNDLE`, see
//! <https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html>). The
//! system's own bundle given as a CA bundle changes nothing, and is not warned about.

use std::path::{Path, PathBuf};

/// Where the system keeps its certificate authorities, as Linux distributions and BSDs place
/// them (the same places TLS libraries look).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/usr/local/share/certs/ca-root-nss.crt",
];

/// Largest bundle compared byte for byte with the system's (system bundles are about 200 KB).
const MAX_COMPARED_BYTES: u64 = 16 << 20;

/// The warnings for a run whose keys come from `ListPublicKeys` (no pinned keys), with the
/// session's own endpoint URL and CA bundle (`None`: the environment's, as the SDK and the AWS
/// CLI read them). Give each to [`crate::VerifierBuilder::warning`]; with keys pinned
/// ([`crate::VerifierBuilder::public_keys`]) none applies: no answer of the endpoint is trusted.
pub fn trust_warnings(endpoint_url: Option<&str>, ca_bundle: Option<&Path>) -> Vec<String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let endpoint = match endpoint_url {
        Some(url) => Some((url.to_owned(), "the session's endpoint URL, --endpoint-url")),
        None => env("AWS_ENDPOINT_URL_CLOUDTRAIL")
            .map(|url| (url, "AWS_ENDPOINT_URL_CLOUDTRAIL"))
            .or_else(|| env("AWS_ENDPOINT_URL").map(|url| (url, "AWS_ENDPOINT_URL"))),
    };
    let ca = match ca_bundle {
        Some(path) => Some((path.to_owned(), "--ca-bundle")),
        None => env("AWS_CA_BUNDLE").map(|p| (PathBuf::from(p), "AWS_CA_BUNDLE")),
    };
    warnings_for(
        endpoint.as_ref().map(|(u, s)| (u.as_str(), *s)),
        ca.as_ref().map(|(p, s)| (p.as_path(), *s)),
        SYSTEM_BUNDLES,
    )
}

/// [`trust_warnings`] once the settings are resolved: the CloudTrail endpoint and the CA
/// bundle, each with where it was set, and where the system's bundles are.
fn warnings_for(
    endpoint: Option<(&str, &str)>,
    ca_bundle: Option<(&Path, &str)>,
    system_bundles: &[&str],
) -> Vec<String> {
    let mut warnings = Vec::new();
    let pin = "pin keys saved from AWS with --public-keys to make the verdict independent of it";
    if let Some((url, set_by)) = endpoint {
        let plain = url
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
        let what = match (is_aws_host(url), plain) {
            (true, false) => None,
            (true, true) => Some("over plain HTTP, which anyone on the network path can answer"),
            (false, false) => Some("which is not an AWS endpoint"),
            (false, true) => Some(
                "which is not an AWS endpoint, over plain HTTP that anyone on the network path \
                 can answer",
            ),
        };
        if let Some(what) = what {
            warnings.push(format!(
                "CloudTrail's public keys came from ListPublicKeys at {url} ({set_by}), {what}: \
                 whoever answers there chooses which signatures verify; {pin}"
            ));
        }
    }
    if let Some((path, set_by)) = ca_bundle
        && !is_system_bundle(path, system_bundles)
    {
        warnings.push(format!(
            "TLS trusts the CA bundle {} ({set_by}) instead of the system's certificate \
             authorities: whoever holds a key it certifies can answer ListPublicKeys and choose \
             which signatures verify; {pin}",
            path.display()
        ));
    }
    warnings
}

/// Whether `url`'s host is one of AWS's: `*.amazonaws.com` (VPC endpoints included),
/// `*.amazonaws.com.cn`, `*.api.aws`.
fn is_aws_host(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // No credentials in the authority: `https://evil@cloudtrail.amazonaws.com` is evil's.
    if authority.contains('@') {
        return false;
    }
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(authority, |(host, _)| host)
        .trim_end_matches('.')
        .to_ascii_lowercase();
    [".amazonaws.com", ".amazonaws.com.cn", ".api.aws"]
        .iter()
        .any(|suffix| host.ends_with(suffix))
}

/// Whether `path` is one of the system's bundles: the same file, or the same bytes.
fn is_system_bundle(path: &Path, system_bundles: &[&str]) -> bool {
    let canonical = std::fs::canonicalize(path).ok();
    let bytes = read_bounded(path);
    system_bundles.iter().any(|system| {
        let system = Path::new(system);
        if canonical.is_some() && std::fs::canonicalize(system).ok() == canonical {
            return true;
        }
        matches!((&bytes, read_bounded(system)), (Some(a), Some(b)) if *a == b)
    })
}

fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_COMPARED_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (bytes.len() as u64 <= MAX_COMPARED_BYTES).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_endpoints_over_https_change_no_trust() {
        for url in [
            "https://cloudtrail.us-east-1.amazonaws.com",
            "https://vpce-0123-abcd.cloudtrail.us-east-1.vpce.amazonaws.com/",
            "https://cloudtrail.cn-north-1.amazonaws.com.cn:443",
            "https://cloudtrail.us-east-1.api.aws",
        ] {
            assert_eq!(
                warnings_for(Some((url, "X")), None, &[]),
                Vec::<String>::new()
            );
        }
    }

    #[test]
    fn another_host_or_plain_http_is_warned_once_with_where_it_was_set() {
        let other = warnings_for(
            Some(("https://proxy.example:8443", "AWS_ENDPOINT_URL")),
            None,
            &[],
        );
        assert_eq!(other.len(), 1);
        assert!(other[0].contains("(AWS_ENDPOINT_URL), which is not an AWS endpoint"));
        let plain = warnings_for(
            Some(("http://10.0.0.5:4566", "AWS_ENDPOINT_URL_CLOUDTRAIL")),
            None,
            &[],
        );
        assert_eq!(plain.len(), 1);
        assert!(
            plain[0].contains("not an AWS endpoint, over plain HTTP"),
            "{plain:?}"
        );
        let aws_plain = warnings_for(
            Some(("HTTP://cloudtrail.us-east-1.amazonaws.com", "X")),
            None,
            &[],
        );
        assert!(aws_plain[0].contains("over plain HTTP"), "{aws_plain:?}");
        // A look-alike is not AWS's.
        for url in [
            "https://cloudtrail.us-east-1.amazonaws.com.evil.example",
            "https://cloudtrail.amazonaws.com@evil.example",
            "https://evilamazonaws.com",
        ] {
            assert_eq!(warnings_for(Some((url, "X")), None, &[]).len(), 1, "{url}");
        }
    }

    #[test]
    fn the_systems_own_ca_bundle_is_not_warned_about_another_is() {
        let dir = tempfile::tempdir().unwrap();
        let system = dir.path().join("system.pem");
        let copy = dir.path().join("copy.pem");
        let other = dir.path().join("other.pem");
        std::fs::write(&system, b"SYSTEM").unwrap();
        std::fs::write(&copy, b"SYSTEM").unwrap();
        std::fs::write(&other, b"PRIVATE CA").unwrap();
        let systems = [system.to_str().unwrap()];
        assert!(warnings_for(None, Some((&system, "AWS_CA_BUNDLE")), &systems).is_empty());
        assert!(warnings_for(None, Some((&copy, "AWS_CA_BUNDLE")), &systems).is_empty());
        let warned = warnings_for(None, Some((&other, "--ca-bundle")), &systems);
        assert_eq!(warned.len(), 1);
        assert!(warned[0].contains("other.pem (--ca-bundle) instead of the system's"));
    }
}
