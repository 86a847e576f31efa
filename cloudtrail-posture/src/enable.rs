//! `enable`: turn on log-file validation and SSE-KMS on a trail, safely and idempotently.
//!
//! The work is split in two: [`plan`] reads the trail, the bucket and the key, runs the
//! pre-checks and lists the changes; [`enable`] refuses if a pre-check did not pass (a trail
//! whose key or bucket policy shuts CloudTrail out stops delivering logs, which is worse than
//! no encryption), stops there on a dry run or when nothing needs changing, and otherwise creates
//! the key if asked, calls `UpdateTrail` and reads the trail back.

use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType};
use serde::Serialize;

use crate::policy::Policy;
use crate::requirements::{self, Delivery};
use crate::sdk::{self, TrailReadError};
use crate::{PostureClients, Status, TrailState};
use cloudtrail_verify::TrailArn;

/// Which KMS key the trail should encrypt with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChoice {
    /// `--kms-key KEY`: an existing key, as key id, key ARN, alias name (`alias/…`) or alias ARN.
    /// Ids and alias names are looked up in the bucket's region, where CloudTrail needs the key.
    Existing(String),
    /// `--create-kms-key [--alias NAME]`: create a key with a policy for this trail
    /// ([`default_alias`] unless an alias is given). If the alias already exists its key is reused,
    /// which keeps a second run from creating a second key.
    Create {
        /// Alias for the new key, with or without the `alias/` prefix.
        alias: Option<String>,
    },
    /// Neither option: keep the trail's current key (re-checking its policy); a trail without
    /// one gets [`EnableError::KeyRequired`].
    KeepCurrent,
}

/// What to enable on which trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnableRequest {
    /// Trail ARN (recommended: it names the home region) or name.
    pub trail: String,
    /// The key to use.
    pub key: KeyChoice,
    /// Plan and check only; call no mutating API.
    pub dry_run: bool,
}

/// The alias `--create-kms-key` uses by default: `alias/ctverify-TRAIL`, with characters aliases
/// do not allow (trail names may contain `.`) replaced by `-`.
pub fn default_alias(trail_name: &str) -> String {
    let name: String = trail_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '/' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("alias/ctverify-{name}")
}

fn normalise_alias(alias: &str) -> String {
    if alias.starts_with("alias/") {
        alias.to_owned()
    } else {
        format!("alias/{alias}")
    }
}

/// One pre-check and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreCheck {
    /// Stable identifier: `bucket_region`, `bucket_policy_allows_cloudtrail`, `kms_key_exists`,
    /// `kms_key_usable`, `kms_key_region`, `kms_key_policy_allows_cloudtrail`.
    pub check: &'static str,
    /// Pass, fail, or unknown (could not be checked: also blocks a change).
    pub status: Status,
    /// What was seen.
    pub evidence: String,
}

/// The key the trail will use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// What was asked for (the `--kms-key` value, the alias, or the trail's current key id).
    pub requested: String,
    /// Key ARN, once known (not for a key still to be created).
    pub arn: Option<String>,
    /// The key's region.
    pub region: String,
    /// True when the key does not exist yet and the plan creates it.
    pub to_be_created: bool,
}

/// One change `enable` makes (or would make, on a dry run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// `CreateKey` with `policy`, then `CreateAlias` and `EnableKeyRotation`.
    CreateKmsKey {
        /// The alias given to the key.
        alias: String,
        /// Region the key is created in (the bucket's).
        region: String,
        /// The key policy (AWS CloudTrail User Guide: "Configure AWS KMS key policies for CloudTrail").
        policy: serde_json::Value,
    },
    /// `UpdateTrail EnableLogFileValidation=true`.
    EnableLogFileValidation,
    /// `UpdateTrail KmsKeyId=to`.
    SetKmsKey {
        /// The trail's key before (none: SSE-S3 only).
        from: Option<String>,
        /// The key ARN (in a plan, the alias of a key still to be created).
        to: String,
    },
}

impl Change {
    /// A one-line human description.
    pub fn describe(&self) -> String {
        match self {
            Change::CreateKmsKey { alias, region, .. } => format!(
                "create KMS key {alias} in {region} with a policy letting CloudTrail encrypt this \
                 trail's files and the account decrypt them"
            ),
            Change::EnableLogFileValidation => {
                "turn on log-file validation (digest files)".to_owned()
            }
            Change::SetKmsKey { from: None, to } => {
                format!("turn on SSE-KMS of log and digest files with {to}")
            }
            Change::SetKmsKey {
                from: Some(from),
                to,
            } => {
                format!("change the SSE-KMS key from {from} to {to}")
            }
        }
    }
}

/// The result of [`plan`]: the trail as it is, the checks, and what would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnablePlan {
    /// The trail before any change.
    pub trail: TrailState,
    /// The bucket's region, if it could be read.
    pub bucket_region: Option<String>,
    /// The key the trail will use.
    pub key: Option<KeyInfo>,
    /// Pre-checks; any that did not pass blocks the changes.
    pub checks: Vec<PreCheck>,
    /// Things worth knowing that do not block (for example: nobody may decrypt with the key).
    pub warnings: Vec<String>,
    /// Changes to make, in order; empty when the trail already has what was asked.
    pub changes: Vec<Change>,
}

impl EnablePlan {
    /// Nothing to change.
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }

    /// Pre-checks that did not pass.
    pub fn blocking_checks(&self) -> impl Iterator<Item = &PreCheck> {
        self.checks.iter().filter(|c| c.status != Status::Pass)
    }
}

/// A key created by `--create-kms-key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreatedKey {
    /// Key id.
    pub key_id: String,
    /// Key ARN.
    pub arn: String,
    /// Alias pointing at it.
    pub alias: String,
    /// Whether automatic rotation was turned on.
    pub rotation_enabled: bool,
}

/// What [`enable`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnableOutcome {
    /// The plan it followed.
    pub plan: EnablePlan,
    /// True when nothing was changed because this was a dry run.
    pub dry_run: bool,
    /// Changes made, with final values (empty for a dry run or when nothing was needed).
    pub applied: Vec<Change>,
    /// The key created, if any.
    pub created_key: Option<CreatedKey>,
    /// Non-blocking problems met while applying (for example key rotation could not be enabled).
    pub warnings: Vec<String>,
    /// The trail's state after the changes (GetTrail and GetTrailStatus); the current state when
    /// nothing was applied.
    pub after: TrailState,
}

impl EnableOutcome {
    /// Whether anything was changed.
    pub fn changed(&self) -> bool {
        !self.applied.is_empty()
    }
}

/// Why `enable` did not complete.
#[derive(Debug, thiserror::Error)]
pub enum EnableError {
    /// GetTrail: no such trail (in that region, for a name).
    #[error("trail {trail} not found ({message})")]
    TrailNotFound {
        /// The trail asked for.
        trail: String,
        /// The service's message.
        message: String,
    },
    /// GetTrail failed for another reason.
    #[error("could not read trail {trail}: {message}")]
    ReadTrail {
        /// The trail asked for.
        trail: String,
        /// What went wrong.
        message: String,
    },
    /// CloudTrail returned an ARN this module cannot parse (so no account or region).
    #[error("CloudTrail returned {arn:?}, which is not a trail ARN")]
    BadTrailArn {
        /// The ARN returned.
        arn: String,
    },
    /// Neither `--kms-key` nor `--create-kms-key` and the trail has no key to keep.
    #[error(
        "trail {trail} has no KMS key: pass --kms-key KEY (key id, key ARN or alias of a key in \
         the bucket's region whose policy lets cloudtrail.amazonaws.com use it) or \
         --create-kms-key (creates such a key, with an alias)"
    )]
    KeyRequired {
        /// The trail.
        trail: String,
    },
    /// A pre-check did not pass: nothing was changed.
    #[error("{}", refusal_message(.0))]
    Refused(Box<EnablePlan>),
    /// A mutating call failed part-way; `applied` and `created_key` say what had been done.
    #[error("{operation} failed: {message}{}", partial_note(.applied, .created_key))]
    Apply {
        /// The API operation that failed.
        operation: &'static str,
        /// What went wrong.
        message: String,
        /// Changes already made before the failure.
        applied: Vec<Change>,
        /// A key created before the failure (it is left in place, unused).
        created_key: Option<CreatedKey>,
    },
    /// UpdateTrail succeeded but reading the trail back does not show the change.
    #[error("UpdateTrail succeeded but the trail now reports {problem}")]
    NotInEffect {
        /// What is not as expected.
        problem: String,
        /// The trail as read back.
        after: Box<TrailState>,
    },
}

fn refusal_message(plan: &EnablePlan) -> String {
    let reasons: Vec<String> = plan
        .blocking_checks()
        .map(|c| format!("{} {}: {}", c.check, c.status.as_str(), c.evidence))
        .collect();
    format!(
        "refusing to change trail {}: CloudTrail might no longer be able to deliver its logs. {}",
        plan.trail.arn,
        reasons.join("; ")
    )
}

fn partial_note(applied: &[Change], created: &Option<CreatedKey>) -> String {
    let mut notes = Vec::new();
    if let Some(k) = created {
        notes.push(format!(
            "key {} ({}) was created and is left in place",
            k.arn, k.alias
        ));
    }
    if !applied.is_empty() {
        let done: Vec<String> = applied.iter().map(Change::describe).collect();
        notes.push(format!("already done: {}", done.join(", ")));
    }
    if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    }
}

/// A key as DescribeKey reports it.
struct ResolvedKey {
    arn: String,
    key_id: String,
    region: String,
    state: Option<KeyState>,
    spec: Option<KeySpec>,
    usage: Option<KeyUsageType>,
}

/// Result of looking a key up.
enum Lookup {
    Found(ResolvedKey),
    NotFound(String),
    Failed(String),
}

/// The region in a KMS key or alias ARN.
fn kms_arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("kms"), Some(region)) if !region.is_empty() => Some(region),
        _ => None,
    }
}

async fn describe_key(clients: &PostureClients, key: &str, default_region: &str) -> Lookup {
    let region = kms_arn_region(key).unwrap_or(default_region).to_owned();
    let kms = sdk::kms_in(&clients.kms, &region);
    match kms.describe_key().key_id(key).send().await {
        Ok(out) => match out.key_metadata {
            Some(meta) => {
                let key_id = meta.key_id().to_owned();
                let arn = meta
                    .arn()
                    .map(str::to_owned)
                    .unwrap_or_else(|| key.to_owned());
                let region = kms_arn_region(&arn).unwrap_or(&region).to_owned();
                Lookup::Found(ResolvedKey {
                    arn,
                    key_id,
                    region,
                    state: meta.key_state().cloned(),
                    spec: meta.key_spec().cloned(),
                    usage: meta.key_usage().cloned(),
                })
            }
            None => Lookup::Failed("DescribeKey returned no key metadata".to_owned()),
        },
        Err(e) => {
            let not_found = e
                .as_service_error()
                .is_some_and(|s| s.is_not_found_exception())
                || sdk::code(&e) == Some("NotFoundException");
            if not_found {
                Lookup::NotFound(format!(
                    "KMS key {key} does not exist in {region} ({})",
                    sdk::describe(&e)
                ))
            } else {
                Lookup::Failed(format!(
                    "DescribeKey {key} in {region} failed: {}",
                    sdk::describe(&e)
                ))
            }
        }
    }
}

/// Checks an existing key: usable for symmetric encryption, in the bucket's region, and with a
/// policy letting CloudTrail use it for this trail.
async fn check_key(
    clients: &PostureClients,
    key: &ResolvedKey,
    bucket_region: Option<&str>,
    trail: &TrailArn,
    trail_arn: &str,
    checks: &mut Vec<PreCheck>,
    warnings: &mut Vec<String>,
) {
    let state = key.state.as_ref().map_or("unknown", |s| s.as_str());
    let spec = key.spec.as_ref().map_or("unknown", |s| s.as_str());
    let usage = key.usage.as_ref().map_or("not reported", |s| s.as_str());
    // A SYMMETRIC_DEFAULT key can only be ENCRYPT_DECRYPT, so either field alone is enough
    // (moto omits KeyUsage when CreateKey was not given one).
    let usable = key.state == Some(KeyState::Enabled)
        && matches!(
            (&key.spec, &key.usage),
            (
                Some(KeySpec::SymmetricDefault),
                None | Some(KeyUsageType::EncryptDecrypt)
            ) | (None, Some(KeyUsageType::EncryptDecrypt))
        );
    checks.push(PreCheck {
        check: "kms_key_usable",
        status: if usable { Status::Pass } else { Status::Fail },
        evidence: format!(
            "{}: state {state}, spec {spec}, usage {usage} (CloudTrail needs an enabled \
             SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key)",
            key.arn
        ),
    });
    checks.push(match bucket_region {
        Some(b) if b == key.region => PreCheck {
            check: "kms_key_region",
            status: Status::Pass,
            evidence: format!("key and bucket are both in {b}"),
        },
        Some(b) => PreCheck {
            check: "kms_key_region",
            status: Status::Fail,
            evidence: format!(
                "key is in {}, the bucket in {b}: CloudTrail needs the key in the bucket's region",
                key.region
            ),
        },
        None => PreCheck {
            check: "kms_key_region",
            status: Status::Unknown,
            evidence: format!(
                "key is in {}; the bucket's region could not be read",
                key.region
            ),
        },
    });
    let kms = sdk::kms_in(&clients.kms, &key.region);
    let policy = kms
        .get_key_policy()
        .key_id(&key.key_id)
        .policy_name("default")
        .send()
        .await;
    let check = match policy {
        Err(e) => PreCheck {
            check: "kms_key_policy_allows_cloudtrail",
            status: Status::Unknown,
            evidence: format!("GetKeyPolicy {} failed: {}", key.arn, sdk::describe(&e)),
        },
        Ok(out) => match out.policy().map(Policy::parse) {
            None => PreCheck {
                check: "kms_key_policy_allows_cloudtrail",
                status: Status::Unknown,
                evidence: format!("GetKeyPolicy {} returned no policy", key.arn),
            },
            Some(Err(e)) => PreCheck {
                check: "kms_key_policy_allows_cloudtrail",
                status: Status::Fail,
                evidence: format!("key policy of {}: {e}", key.arn),
            },
            Some(Ok(policy)) => {
                let verdict = requirements::key_policy_verdict(&policy, &key.arn, trail, trail_arn);
                if !verdict.decrypt.allowed() {
                    warnings.push(format!(
                        "the key policy of {} does not let the account decrypt this trail's \
                         files ({}): readers, including ctverify, will need a grant",
                        key.arn,
                        verdict.decrypt.explain()
                    ));
                }
                PreCheck {
                    check: "kms_key_policy_allows_cloudtrail",
                    status: if verdict.cloudtrail_can_use() {
                        Status::Pass
                    } else {
                        Status::Fail
                    },
                    evidence: format!("key policy of {}: {}", key.arn, verdict.explain()),
                }
            }
        },
    };
    checks.push(check);
}

/// What the key part of the plan resolved to.
enum Target {
    Key(ResolvedKey),
    Create { alias: String, region: String },
    Unresolved,
}

/// Reads the trail, bucket and key, runs the pre-checks and lists the changes. Calls no mutating
/// API.
pub async fn plan(
    clients: &PostureClients,
    req: &EnableRequest,
) -> Result<EnablePlan, EnableError> {
    let (trail, ct) = sdk::get_trail(&clients.cloudtrail, &req.trail)
        .await
        .map_err(|e| match e {
            TrailReadError::NotFound(message) => EnableError::TrailNotFound {
                trail: req.trail.clone(),
                message,
            },
            TrailReadError::Other(message) => EnableError::ReadTrail {
                trail: req.trail.clone(),
                message,
            },
        })?;
    let state = sdk::trail_state(&ct, &trail).await;
    let arn = TrailArn::parse(&state.arn).ok_or_else(|| EnableError::BadTrailArn {
        arn: state.arn.clone(),
    })?;
    let mut checks = Vec::new();
    let mut warnings = Vec::new();

    // Asked in the trail's home region: the usual place of the bucket, and a region even when
    // the configuration has none.
    let s3_home = sdk::s3_in(&clients.s3, &arn.region);
    let bucket_region = match sdk::bucket_region(&s3_home, &state.s3_bucket).await {
        Ok(r) => Some(r),
        Err(e) => {
            checks.push(PreCheck {
                check: "bucket_region",
                status: Status::Unknown,
                evidence: format!("GetBucketLocation {} failed: {e}", state.s3_bucket),
            });
            None
        }
    };
    // Keys named without an ARN are looked up (or created) where CloudTrail needs them.
    let key_region = bucket_region.clone().unwrap_or_else(|| arn.region.clone());

    let (requested, lookup) = match &req.key {
        KeyChoice::Existing(k) => (k.clone(), describe_key(clients, k, &key_region).await),
        KeyChoice::KeepCurrent => match &state.kms_key_id {
            Some(k) => (k.clone(), describe_key(clients, k, &key_region).await),
            None => {
                return Err(EnableError::KeyRequired {
                    trail: state.arn.clone(),
                });
            }
        },
        KeyChoice::Create { alias } => {
            let alias = normalise_alias(&alias.clone().unwrap_or_else(|| default_alias(&arn.name)));
            let lookup = describe_key(clients, &alias, &key_region).await;
            (alias, lookup)
        }
    };
    let creating = matches!(req.key, KeyChoice::Create { .. });
    let target = match lookup {
        Lookup::Found(key) => {
            checks.push(PreCheck {
                check: "kms_key_exists",
                status: Status::Pass,
                evidence: if creating {
                    format!("{requested} already exists ({}): reusing that key", key.arn)
                } else {
                    format!("{requested} is {}", key.arn)
                },
            });
            check_key(
                clients,
                &key,
                bucket_region.as_deref(),
                &arn,
                &state.arn,
                &mut checks,
                &mut warnings,
            )
            .await;
            Target::Key(key)
        }
        Lookup::NotFound(_) if creating => Target::Create {
            alias: requested.clone(),
            region: key_region.clone(),
        },
        Lookup::NotFound(why) => {
            checks.push(PreCheck {
                check: "kms_key_exists",
                status: Status::Fail,
                evidence: why,
            });
            Target::Unresolved
        }
        Lookup::Failed(why) => {
            checks.push(PreCheck {
                check: "kms_key_exists",
                status: Status::Unknown,
                evidence: why,
            });
            Target::Unresolved
        }
    };

    let kms_key_arn = match &target {
        Target::Key(k) => Some(k.arn.as_str()),
        _ => None,
    };
    checks.push(bucket_check(clients, &state, &arn, bucket_region.as_deref(), kms_key_arn).await);

    let mut changes = Vec::new();
    let key_info;
    match &target {
        Target::Create { alias, region } => {
            changes.push(Change::CreateKmsKey {
                alias: alias.clone(),
                region: region.clone(),
                policy: requirements::key_policy(&arn, &state.arn),
            });
            changes.push(Change::SetKmsKey {
                from: state.kms_key_id.clone(),
                to: alias.clone(),
            });
            key_info = Some(KeyInfo {
                requested: requested.clone(),
                arn: None,
                region: region.clone(),
                to_be_created: true,
            });
        }
        Target::Key(key) => {
            if !same_key(clients, state.kms_key_id.as_deref(), key, &key_region).await {
                changes.push(Change::SetKmsKey {
                    from: state.kms_key_id.clone(),
                    to: key.arn.clone(),
                });
            }
            key_info = Some(KeyInfo {
                requested: requested.clone(),
                arn: Some(key.arn.clone()),
                region: key.region.clone(),
                to_be_created: false,
            });
        }
        Target::Unresolved => {
            // Nothing safe can be done without a usable key, but the plan still lists what was
            // asked so the failed check is reported as a refusal rather than as "no change".
            if state.kms_key_id.as_deref() != Some(requested.as_str()) {
                changes.push(Change::SetKmsKey {
                    from: state.kms_key_id.clone(),
                    to: requested.clone(),
                });
            }
            key_info = None;
        }
    }
    if !state.log_file_validation_enabled {
        // Listed first: it is the change that matters most for ctverify.
        let at = changes
            .iter()
            .position(|c| matches!(c, Change::SetKmsKey { .. }))
            .unwrap_or(changes.len());
        changes.insert(at, Change::EnableLogFileValidation);
    }

    Ok(EnablePlan {
        trail: state,
        bucket_region,
        key: key_info,
        checks,
        warnings,
        changes,
    })
}

/// Whether the trail's current key (as CloudTrail reports it: usually an ARN, on some endpoints
/// whatever was passed) is `key`.
async fn same_key(
    clients: &PostureClients,
    current: Option<&str>,
    key: &ResolvedKey,
    key_region: &str,
) -> bool {
    let Some(current) = current else {
        return false;
    };
    if current == key.arn || current == key.key_id {
        return true;
    }
    match describe_key(clients, current, key_region).await {
        Lookup::Found(k) => k.arn == key.arn,
        _ => false,
    }
}

/// The bucket-policy pre-check: CloudTrail must still be able to write after the change.
async fn bucket_check(
    clients: &PostureClients,
    state: &TrailState,
    arn: &TrailArn,
    bucket_region: Option<&str>,
    kms_key_arn: Option<&str>,
) -> PreCheck {
    let s3 = sdk::s3_in(&clients.s3, bucket_region.unwrap_or(&arn.region));
    let delivery = Delivery {
        trail: arn,
        trail_arn: &state.arn,
        bucket: &state.s3_bucket,
        prefix: state.s3_key_prefix.as_deref(),
        sse_kms: true,
        kms_key_arn,
    };
    match s3.get_bucket_policy().bucket(&state.s3_bucket).send().await {
        Ok(out) => match out.policy().map(Policy::parse) {
            Some(Ok(policy)) => {
                let (ok, evidence) =
                    requirements::bucket_policy_allows_delivery(&policy, &delivery);
                PreCheck {
                    check: "bucket_policy_allows_cloudtrail",
                    status: if ok { Status::Pass } else { Status::Fail },
                    evidence: format!("bucket {}: {evidence}", state.s3_bucket),
                }
            }
            Some(Err(e)) => PreCheck {
                check: "bucket_policy_allows_cloudtrail",
                status: Status::Fail,
                evidence: format!("bucket {} policy: {e}", state.s3_bucket),
            },
            None => PreCheck {
                check: "bucket_policy_allows_cloudtrail",
                status: Status::Unknown,
                evidence: format!("GetBucketPolicy {} returned no policy", state.s3_bucket),
            },
        },
        Err(e) if sdk::code(&e) == Some("NoSuchBucketPolicy") => PreCheck {
            check: "bucket_policy_allows_cloudtrail",
            status: Status::Fail,
            evidence: format!(
                "bucket {} has no bucket policy, so cloudtrail.amazonaws.com may not write to it \
                 (it needs s3:GetBucketAcl on the bucket and s3:PutObject on {}*)",
                state.s3_bucket,
                delivery.logs_root()
            ),
        },
        Err(e) => PreCheck {
            check: "bucket_policy_allows_cloudtrail",
            status: Status::Unknown,
            evidence: format!(
                "GetBucketPolicy {} failed: {}",
                state.s3_bucket,
                sdk::describe(&e)
            ),
        },
    }
}

/// Plans, checks and applies. On a dry run, or when the trail already has what was asked, it
/// returns without calling any mutating API. A pre-check that did not pass gives
/// [`EnableError::Refused`] (also on a dry run, since the real run would refuse); when nothing
/// needs changing the checks are only reported.
pub async fn enable(
    clients: &PostureClients,
    req: &EnableRequest,
) -> Result<EnableOutcome, EnableError> {
    let plan = plan(clients, req).await?;
    if plan.is_noop() {
        let after = plan.trail.clone();
        return Ok(EnableOutcome {
            plan,
            dry_run: req.dry_run,
            applied: Vec::new(),
            created_key: None,
            warnings: Vec::new(),
            after,
        });
    }
    if plan.blocking_checks().next().is_some() {
        return Err(EnableError::Refused(Box::new(plan)));
    }
    if req.dry_run {
        let after = plan.trail.clone();
        return Ok(EnableOutcome {
            plan,
            dry_run: true,
            applied: Vec::new(),
            created_key: None,
            warnings: Vec::new(),
            after,
        });
    }
    apply(clients, plan).await
}

async fn apply(clients: &PostureClients, plan: EnablePlan) -> Result<EnableOutcome, EnableError> {
    let mut applied = Vec::new();
    let mut created_key = None;
    let mut warnings = Vec::new();
    let mut kms_key: Option<String> = None;
    let mut validation = false;

    for change in &plan.changes {
        match change {
            Change::CreateKmsKey {
                alias,
                region,
                policy,
            } => {
                let key = create_key(
                    clients,
                    &plan.trail.arn,
                    alias,
                    region,
                    policy,
                    &mut warnings,
                )
                .await?;
                applied.push(change.clone());
                kms_key = Some(key.arn.clone());
                created_key = Some(key);
            }
            Change::EnableLogFileValidation => validation = true,
            Change::SetKmsKey { to, .. } => {
                if kms_key.is_none() {
                    kms_key = Some(to.clone());
                }
            }
        }
    }

    let ct = sdk::cloudtrail_in(&clients.cloudtrail, &plan.trail.home_region);
    let mut update = ct.update_trail().name(&plan.trail.arn);
    if validation {
        update = update.enable_log_file_validation(true);
    }
    if let Some(key) = &kms_key {
        update = update.kms_key_id(key);
    }
    if let Err(e) = update.send().await {
        return Err(EnableError::Apply {
            operation: "UpdateTrail",
            message: sdk::describe(&e),
            applied,
            created_key,
        });
    }
    if validation {
        applied.push(Change::EnableLogFileValidation);
    }
    if let Some(key) = &kms_key {
        applied.push(Change::SetKmsKey {
            from: plan.trail.kms_key_id.clone(),
            to: key.clone(),
        });
    }

    let after = match sdk::get_trail(&ct, &plan.trail.arn).await {
        Ok((trail, ct)) => sdk::trail_state(&ct, &trail).await,
        Err(TrailReadError::NotFound(m) | TrailReadError::Other(m)) => {
            return Err(EnableError::Apply {
                operation: "GetTrail",
                message: format!("the changes were made but the trail could not be read back: {m}"),
                applied,
                created_key,
            });
        }
    };
    if validation && !after.log_file_validation_enabled {
        return Err(EnableError::NotInEffect {
            problem: "log-file validation still off".to_owned(),
            after: Box::new(after),
        });
    }
    if let Some(key) = &kms_key {
        let ok = after.kms_key_id.as_deref().is_some_and(|now| {
            now == key
                || created_key
                    .as_ref()
                    .is_some_and(|c| now == c.key_id || now == c.alias)
        });
        if !ok {
            return Err(EnableError::NotInEffect {
                problem: format!("KMS key {:?} instead of {key}", after.kms_key_id),
                after: Box::new(after),
            });
        }
    }
    Ok(EnableOutcome {
        plan,
        dry_run: false,
        applied,
        created_key,
        warnings,
        after,
    })
}

async fn create_key(
    clients: &PostureClients,
    trail_arn: &str,
    alias: &str,
    region: &str,
    policy: &serde_json::Value,
    warnings: &mut Vec<String>,
) -> Result<CreatedKey, EnableError> {
    let kms = sdk::kms_in(&clients.kms, region);
    let out = kms
        .create_key()
        .policy(policy.to_string())
        .description(format!(
            "SSE-KMS of CloudTrail log and digest files of {trail_arn} (created by ctverify)"
        ))
        .key_usage(KeyUsageType::EncryptDecrypt)
        .key_spec(KeySpec::SymmetricDefault)
        .send()
        .await
        .map_err(|e| EnableError::Apply {
            operation: "CreateKey",
            message: sdk::describe(&e),
            applied: Vec::new(),
            created_key: None,
        })?;
    let Some(meta) = out.key_metadata else {
        return Err(EnableError::Apply {
            operation: "CreateKey",
            message: "the response has no key metadata".to_owned(),
            applied: Vec::new(),
            created_key: None,
        });
    };
    let key_id = meta.key_id().to_owned();
    let Some(arn) = meta.arn().map(str::to_owned) else {
        return Err(EnableError::Apply {
            operation: "CreateKey",
            message: format!("the response for key {key_id} has no ARN"),
            applied: Vec::new(),
            created_key: None,
        });
    };
    let mut key = CreatedKey {
        key_id,
        arn,
        alias: alias.to_owned(),
        rotation_enabled: false,
    };
    if let Err(e) = kms
        .create_alias()
        .alias_name(alias)
        .target_key_id(&key.key_id)
        .send()
        .await
    {
        return Err(EnableError::Apply {
            operation: "CreateAlias",
            message: sdk::describe(&e),
            applied: Vec::new(),
            created_key: Some(key),
        });
    }
    match kms.enable_key_rotation().key_id(&key.key_id).send().await {
        Ok(_) => key.rotation_enabled = true,
        Err(e) => warnings.push(format!(
            "automatic rotation of {} could not be turned on: {}",
            key.arn,
            sdk::describe(&e)
        )),
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_alias_only_uses_alias_characters() {
        assert_eq!(default_alias("main.trail"), "alias/ctverify-main-trail");
        assert_eq!(normalise_alias("x"), "alias/x");
        assert_eq!(normalise_alias("alias/x"), "alias/x");
    }

    #[test]
    fn kms_arn_region_reads_key_and_alias_arns() {
        assert_eq!(
            kms_arn_region("arn:aws:kms:eu-west-1:111122223333:key/abc"),
            Some("eu-west-1")
        );
        assert_eq!(kms_arn_region("alias/x"), None);
        assert_eq!(kms_arn_region("1234abcd"), None);
    }
}
