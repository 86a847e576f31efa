//! What CloudTrail needs from the KMS key policy and the bucket policy to deliver a trail's log
//! and digest files, expressed as requests for the policy evaluator. AWS documents both:
//! <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html>
//! and <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html>.

use serde_json::{Value, json};

use crate::policy::{Caller, Effect, Evaluation, Policy, Request, glob_match_ci};
use cloudtrail_verify::TrailArn;

/// The service principal CloudTrail uses to write to S3 and to call KMS.
pub(crate) const CLOUDTRAIL: &str = "cloudtrail.amazonaws.com";

/// The key policy `enable --create-kms-key` attaches to a new key, for one trail:
///
/// * the account root may do everything (`kms:*`): this is the AWS default statement that lets
///   IAM policies govern the key; without it nobody could ever change the policy again, and KMS
///   refuses such a policy (the lockout safety check);
/// * CloudTrail may `kms:GenerateDataKey*` only with the encryption context
///   `aws:cloudtrail:arn` = this trail, and only on behalf of this trail (`aws:SourceArn`);
/// * CloudTrail may `kms:DescribeKey` (it checks the key when the trail is updated);
/// * the account may `kms:Decrypt` this trail's files (readers: `ctverify`, Athena, auditors),
///   stated explicitly so the intent survives if the first statement is ever narrowed.
pub(crate) fn key_policy(trail: &TrailArn, trail_arn: &str) -> Value {
    let root = format!("arn:{}:iam::{}:root", trail.partition, trail.account_id);
    json!({
        "Version": "2012-10-17",
        "Id": format!("ctverify-cloudtrail-{}", trail.name),
        "Statement": [
            {
                "Sid": "EnableIamPolicies",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "kms:*",
                "Resource": "*"
            },
            {
                "Sid": "AllowCloudTrailToEncryptThisTrail",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDTRAIL},
                "Action": "kms:GenerateDataKey*",
                "Resource": "*",
                "Condition": {
                    "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trail_arn},
                    "StringEquals": {"aws:SourceArn": trail_arn}
                }
            },
            {
                "Sid": "AllowCloudTrailToDescribeKey",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDTRAIL},
                "Action": "kms:DescribeKey",
                "Resource": "*"
            },
            {
                "Sid": "AllowAccountToDecryptThisTrail",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:CallerAccount": trail.account_id},
                    "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trail_arn}
                }
            }
        ]
    })
}

/// What a key policy lets CloudTrail and the account do with a key, for one trail.
#[derive(Debug, Clone)]
pub(crate) struct KeyPolicyVerdict {
    /// CloudTrail `kms:GenerateDataKey` with this trail's encryption context.
    pub encrypt: Evaluation,
    /// CloudTrail `kms:DescribeKey`.
    pub describe: Evaluation,
    /// The account root `kms:Decrypt` of this trail's files.
    pub decrypt: Evaluation,
}

impl KeyPolicyVerdict {
    /// CloudTrail can use the key for this trail.
    pub fn cloudtrail_can_use(&self) -> bool {
        self.encrypt.allowed() && self.describe.allowed()
    }

    /// Evidence text covering the three requests.
    pub fn explain(&self) -> String {
        format!(
            "CloudTrail kms:GenerateDataKey for this trail: {}; CloudTrail kms:DescribeKey: {}; \
             account kms:Decrypt: {}",
            self.encrypt.explain(),
            self.describe.explain(),
            self.decrypt.explain()
        )
    }
}

/// Evaluates a key policy for the three requests CloudTrail delivery and reading involve.
pub(crate) fn key_policy_verdict(
    policy: &Policy,
    key_arn: &str,
    trail: &TrailArn,
    trail_arn: &str,
) -> KeyPolicyVerdict {
    let context_arn = (
        "kms:EncryptionContext:aws:cloudtrail:arn",
        trail_arn.to_owned(),
    );
    let service_context = vec![
        ("aws:SourceArn", trail_arn.to_owned()),
        ("aws:SourceAccount", trail.account_id.clone()),
        ("aws:SecureTransport", "true".to_owned()),
    ];
    let mut encrypt_context = service_context.clone();
    encrypt_context.push(context_arn.clone());
    let encrypt = policy.evaluate(&Request {
        caller: Caller::Service(CLOUDTRAIL),
        action: "kms:GenerateDataKey",
        resource: key_arn,
        context: encrypt_context,
    });
    let describe = policy.evaluate(&Request {
        caller: Caller::Service(CLOUDTRAIL),
        action: "kms:DescribeKey",
        resource: key_arn,
        context: service_context,
    });
    let decrypt = policy.evaluate(&Request {
        caller: Caller::AccountRoot {
            partition: &trail.partition,
            account: &trail.account_id,
        },
        action: "kms:Decrypt",
        resource: key_arn,
        context: vec![
            context_arn,
            ("kms:CallerAccount", trail.account_id.clone()),
            ("aws:PrincipalAccount", trail.account_id.clone()),
            ("aws:SecureTransport", "true".to_owned()),
        ],
    });
    KeyPolicyVerdict {
        encrypt,
        describe,
        decrypt,
    }
}

/// Where and how CloudTrail writes for one trail.
#[derive(Debug, Clone)]
pub struct Delivery<'a> {
    /// The trail, parsed.
    pub trail: &'a TrailArn,
    /// The trail's ARN as CloudTrail reports it (`aws:SourceArn`).
    pub trail_arn: &'a str,
    /// The bucket CloudTrail writes to.
    pub bucket: &'a str,
    /// The trail's key prefix, if any.
    pub prefix: Option<&'a str>,
    /// Whether CloudTrail writes with SSE-KMS (`x-amz-server-side-encryption: aws:kms`).
    pub sse_kms: bool,
    /// The key it encrypts with, when known (`x-amz-server-side-encryption-aws-kms-key-id`).
    pub kms_key_arn: Option<&'a str>,
}

impl Delivery<'_> {
    fn bucket_arn(&self) -> String {
        format!("arn:{}:s3:::{}", self.trail.partition, self.bucket)
    }

    /// `arn:…:s3:::BUCKET/[PREFIX/]AWSLogs/ACCOUNT/`: everything CloudTrail writes is below it.
    pub fn logs_root(&self) -> String {
        let prefix = match self.prefix {
            Some(p) if !p.is_empty() => format!("{}/", p.trim_end_matches('/')),
            _ => String::new(),
        };
        format!(
            "{}/{prefix}AWSLogs/{}/",
            self.bucket_arn(),
            self.trail.account_id
        )
    }

    /// Representative object ARNs of a log file and a digest file in the home region, with the
    /// folder each stands for (for evidence).
    fn sample_objects(&self) -> [(String, String); 2] {
        let (acct, region) = (&self.trail.account_id, &self.trail.region);
        let root = self.logs_root();
        [
            (
                format!("log files ({root}CloudTrail/…)"),
                format!(
                    "{root}CloudTrail/{region}/2024/01/01/{acct}_CloudTrail_{region}_20240101T0000Z_ctverify.json.gz"
                ),
            ),
            (
                format!("digest files ({root}CloudTrail-Digest/…)"),
                format!(
                    "{root}CloudTrail-Digest/{region}/2024/01/01/{acct}_CloudTrail-Digest_{region}_{}_{region}_20240101T000000Z.json.gz",
                    self.trail.name
                ),
            ),
        ]
    }

    fn service_context(&self) -> Vec<(&'static str, String)> {
        vec![
            ("aws:SourceArn", self.trail_arn.to_owned()),
            ("aws:SourceAccount", self.trail.account_id.clone()),
            ("aws:SecureTransport", "true".to_owned()),
        ]
    }
}

/// Whether a bucket policy lets CloudTrail deliver: `s3:GetBucketAcl` on the bucket and
/// `s3:PutObject` of log and digest files with `x-amz-acl: bucket-owner-full-control`. Returns
/// the verdict and the evidence.
pub(crate) fn bucket_policy_allows_delivery(policy: &Policy, d: &Delivery<'_>) -> (bool, String) {
    let bucket_arn = d.bucket_arn();
    let acl = policy.evaluate(&Request {
        caller: Caller::Service(CLOUDTRAIL),
        action: "s3:GetBucketAcl",
        resource: &bucket_arn,
        context: d.service_context(),
    });
    let mut ok = acl.allowed();
    let mut evidence = vec![format!(
        "s3:GetBucketAcl on {bucket_arn}: {}",
        acl.explain()
    )];
    for (what, object) in d.sample_objects() {
        let mut context = d.service_context();
        context.push(("s3:x-amz-acl", "bucket-owner-full-control".to_owned()));
        if d.sse_kms {
            context.push(("s3:x-amz-server-side-encryption", "aws:kms".to_owned()));
        }
        if let Some(key) = d.kms_key_arn {
            context.push((
                "s3:x-amz-server-side-encryption-aws-kms-key-id",
                key.to_owned(),
            ));
        }
        let put = policy.evaluate(&Request {
            caller: Caller::Service(CLOUDTRAIL),
            action: "s3:PutObject",
            resource: &object,
            context,
        });
        ok &= put.allowed();
        evidence.push(format!("s3:PutObject of {what}: {}", put.explain()));
    }
    (ok, evidence.join("; "))
}

/// The actions CloudTrail needs on its bucket; anything else granted to it is excess.
const NEEDED_S3_ACTIONS: [&str; 2] = ["s3:GetBucketAcl", "s3:PutObject"];

/// Least privilege of the bucket policy's grants to CloudTrail: every Allow statement that names
/// `cloudtrail.amazonaws.com` may grant only `s3:GetBucketAcl` and `s3:PutObject`, and may grant
/// `s3:PutObject` only below `[PREFIX/]AWSLogs/`. Returns the problems found (empty: least
/// privilege) and how many statements were examined.
pub(crate) fn cloudtrail_grant_excess(policy: &Policy, d: &Delivery<'_>) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let mut examined = 0;
    // `AWSLogs/` rather than `AWSLogs/ACCOUNT/`: organization trails write under
    // `AWSLogs/ORG-ID/ACCOUNT/`, and the account level adds no privilege CloudTrail can misuse.
    let logs_area = {
        let root = d.logs_root();
        let cut = root.len() - d.trail.account_id.len() - 1;
        root[..cut].to_owned()
    };
    for st in &policy.statements {
        if st.effect != Effect::Allow || !st.names_service(CLOUDTRAIL) {
            continue;
        }
        examined += 1;
        if st.not_action.is_some() {
            problems.push(format!(
                "{} uses NotAction, which grants CloudTrail every other action",
                st.label
            ));
        }
        for action in st.action.iter().flatten() {
            let exact_needed = NEEDED_S3_ACTIONS
                .iter()
                .any(|n| n.eq_ignore_ascii_case(action));
            if !exact_needed {
                let covers: Vec<_> = NEEDED_S3_ACTIONS
                    .iter()
                    .filter(|n| glob_match_ci(action, n))
                    .collect();
                problems.push(if covers.is_empty() {
                    format!(
                        "{} grants CloudTrail {action}, which it does not need",
                        st.label
                    )
                } else {
                    format!(
                        "{} grants CloudTrail {action}, wider than the {} it needs",
                        st.label,
                        covers.iter().map(|s| **s).collect::<Vec<_>>().join(" and ")
                    )
                });
            }
        }
        let grants_put = st
            .action
            .iter()
            .flatten()
            .any(|a| glob_match_ci(a, "s3:PutObject"));
        if grants_put {
            if st.not_resource.is_some() {
                problems.push(format!(
                    "{} grants s3:PutObject through NotResource, i.e. almost everywhere",
                    st.label
                ));
            }
            for resource in st.resource.iter().flatten() {
                // Object ARNs contain a `/`; the bucket ARN itself is harmless for PutObject.
                let is_object_pattern = resource.contains('/') || resource.contains('*');
                let fixed_part = resource.split(['*', '?']).next().unwrap_or_default();
                if is_object_pattern && !fixed_part.starts_with(&logs_area) {
                    problems.push(format!(
                        "{} lets CloudTrail write {resource}, outside {logs_area}*",
                        st.label
                    ));
                }
            }
        }
    }
    (problems, examined)
}

/// Condition keys that tie a statement to specific accounts, organizations, networks or sources:
/// an `Allow` for `*` restricted by one of them is not public (as S3's own definition has it).
const RESTRICTING_KEYS: [&str; 12] = [
    "aws:SourceArn",
    "aws:SourceAccount",
    "aws:SourceOwner",
    "aws:SourceVpc",
    "aws:SourceVpce",
    "aws:SourceIp",
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:userid",
    "s3:DataAccessPointAccount",
];

/// Allow statements granting anyone access without a restricting condition: a public policy.
pub(crate) fn public_statements(policy: &Policy) -> Vec<String> {
    policy
        .statements
        .iter()
        .filter(|st| st.effect == Effect::Allow && st.principal_is_anyone())
        .filter(|st| {
            !st.conditions.iter().any(|c| {
                let negated = c.operator.contains("Not");
                !negated
                    && RESTRICTING_KEYS
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(&c.key))
            })
        })
        .map(|st| st.label.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail() -> TrailArn {
        TrailArn::parse("arn:aws:cloudtrail:us-east-1:111122223333:trail/main").unwrap()
    }
    const ARN: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/main";

    #[test]
    fn generated_key_policy_lets_cloudtrail_encrypt_only_for_its_trail() {
        let t = trail();
        let policy = Policy::from_value(&key_policy(&t, ARN)).unwrap();
        let key = "arn:aws:kms:us-east-1:111122223333:key/k";
        let v = key_policy_verdict(&policy, key, &t, ARN);
        assert!(v.cloudtrail_can_use(), "{}", v.explain());
        assert!(v.decrypt.allowed(), "{}", v.explain());
        let other =
            TrailArn::parse("arn:aws:cloudtrail:us-east-1:111122223333:trail/other").unwrap();
        let v = key_policy_verdict(
            &policy,
            key,
            &other,
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/other",
        );
        assert!(!v.encrypt.allowed(), "{}", v.explain());
    }

    #[test]
    fn default_key_policy_does_not_let_cloudtrail_encrypt() {
        let t = trail();
        let policy = Policy::from_value(&serde_json::json!({"Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "kms:*", "Resource": "*"}]}))
        .unwrap();
        let v = key_policy_verdict(&policy, "arn:aws:kms:us-east-1:111122223333:key/k", &t, ARN);
        assert!(!v.cloudtrail_can_use());
        assert!(v.decrypt.allowed());
    }

    fn standard_bucket_policy(put_resource: &str, extra_action: Option<&str>) -> Policy {
        let mut put_actions = vec!["s3:PutObject".to_owned()];
        put_actions.extend(extra_action.map(str::to_owned));
        Policy::from_value(&serde_json::json!({"Statement": [
            {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow",
             "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:GetBucketAcl", "Resource": "arn:aws:s3:::logs",
             "Condition": {"StringEquals": {"aws:SourceArn": ARN}}},
            {"Sid": "AWSCloudTrailWrite", "Effect": "Allow",
             "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": put_actions, "Resource": put_resource,
             "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control",
                                            "aws:SourceArn": ARN}}},
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
             "Action": "s3:*", "Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        ]}))
        .unwrap()
    }

    #[test]
    fn aws_documented_bucket_policy_allows_delivery_with_least_privilege() {
        let t = trail();
        let d = Delivery {
            trail: &t,
            trail_arn: ARN,
            bucket: "logs",
            prefix: Some("ct/"),
            sse_kms: false,
            kms_key_arn: None,
        };
        let p = standard_bucket_policy("arn:aws:s3:::logs/ct/AWSLogs/111122223333/*", None);
        let (ok, why) = bucket_policy_allows_delivery(&p, &d);
        assert!(ok, "{why}");
        assert_eq!(cloudtrail_grant_excess(&p, &d), (vec![], 2));
        assert!(public_statements(&p).is_empty());
    }

    #[test]
    fn wrong_prefix_blocks_delivery_and_wide_grants_are_excess() {
        let t = trail();
        let d = Delivery {
            trail: &t,
            trail_arn: ARN,
            bucket: "logs",
            prefix: None,
            sse_kms: false,
            kms_key_arn: None,
        };
        let p = standard_bucket_policy("arn:aws:s3:::logs/other/*", None);
        assert!(!bucket_policy_allows_delivery(&p, &d).0);
        let p = standard_bucket_policy("arn:aws:s3:::logs/*", Some("s3:*"));
        assert!(bucket_policy_allows_delivery(&p, &d).0);
        let (problems, _) = cloudtrail_grant_excess(&p, &d);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
