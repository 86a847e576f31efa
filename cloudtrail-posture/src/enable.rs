//! `enable`: turn on log-file validation and SSE-KMS on a trail, safely and idempotently.
//!
//! The work is split in two: [`plan`] reads the trail, the bucket and the key, runs the
//! pre-checks and lists the changes; [`enable`] refuses if a pre-check did not pass (a trail
//! whose key or bucket policy shuts CloudTrail out stops delivering logs, which is worse than
//! no encryption), stops there on a dry run or when nothing needs changing, and otherwise creates
//! the key if asked, calls `UpdateTrail` and reads the trail back.

use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use cloudtrail_verify::TrailArn;
use serde::Serialize;

use crate::check::{CheckId, CheckStatus, Finding};
use crate::facts::{KeyFacts, KeyLookup};
use crate::requirements::{self, Delivery};
use crate::sdk::{self, TrailReadError};
use crate::verdict;
use crate::{PostureClients, TrailState};

/// Which KMS key the trail should encrypt with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    /// `--validation-only`: turn on log-file validation only. Encryption is decided elsewhere:
    /// no KMS call is made and the trail's key, if any, is left as it is.
    ValidationOnly,
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
#[non_exhaustive]
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
    /// Pre-checks, with the same ids and verdicts as `audit`'s; any that is neither a pass nor a
    /// warning blocks the changes.
    pub checks: Vec<Finding>,
    /// What the request lacks for the whole job (for example a key for SSE-KMS); non-empty makes
    /// [`enable`] end with [`EnableError::KeyRequired`], after planning the rest.
    pub missing: Vec<String>,
    /// Changes to make, in order; empty when the trail already has what was asked.
    pub changes: Vec<Change>,
}

impl EnablePlan {
    /// Nothing to change.
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }

    /// Pre-checks that did not pass (a warning does not block).
    pub fn blocking_checks(&self) -> impl Iterator<Item = &Finding> {
        self.checks
            .iter()
            .filter(|c| !matches!(c.status, CheckStatus::Pass | CheckStatus::Warn))
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
#[non_exhaustive]
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
    /// Neither `--kms-key` nor `--create-kms-key` nor `--validation-only`, and the trail has no
    /// key to keep. The plan shows everything else that would be checked and changed.
    #[error(
        "trail {} has no KMS key: pass --kms-key KEY (key id, key ARN or alias of a key in \
         the bucket's region whose policy lets cloudtrail.amazonaws.com use it) or \
         --create-kms-key (creates such a key, with an alias), or --validation-only to turn on \
         log-file validation alone", .0.trail.arn
    )]
    KeyRequired(Box<EnablePlan>),
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
        .map(|c| format!("{} {}: {}", c.check.as_str(), c.status.as_str(), c.evidence))
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

/// The message of a plan without a key, shown as the plan's missing piece.
const KEY_MISSING: &str =
    "SSE-KMS: needs --kms-key KEY or --create-kms-key, or use --validation-only";

/// What the key part of the plan resolved to.
enum Target {
    Key(Box<KeyFacts>),
    Create {
        alias: String,
        region: String,
    },
    Unresolved,
    /// No key is managed: `--validation-only`, or none was given (then the plan says so).
    None,
}

/// Reads the trail, bucket and key, runs the pre-checks and lists the changes. Calls no mutating
/// API. A request without a key for a trail without one still gets a whole plan, with the key
/// listed in [`EnablePlan::missing`].
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
    let mut missing = Vec::new();

    // Asked in the trail's home region: the usual place of the bucket, and a region even when
    // the configuration has none.
    let s3_home = sdk::s3_in(&clients.s3, &arn.region);
    let bucket_region = match sdk::bucket_region(&s3_home, &state.s3_bucket).await {
        Ok(r) => Some(r),
        Err(e) => {
            checks.push(Finding::new(
                CheckId::BucketRegion,
                CheckStatus::Unknown,
                format!("GetBucketLocation {} failed: {e}", state.s3_bucket),
            ));
            None
        }
    };
    // Keys named without an ARN are looked up (or created) where CloudTrail needs them.
    let key_region = bucket_region.clone().unwrap_or_else(|| arn.region.clone());

    let (requested, lookup) = match &req.key {
        KeyChoice::Existing(k) => (
            k.clone(),
            Some(sdk::key_lookup(&clients.kms, k, &key_region).await),
        ),
        KeyChoice::KeepCurrent => match &state.kms_key_id {
            Some(k) => (
                k.clone(),
                Some(sdk::key_lookup(&clients.kms, k, &key_region).await),
            ),
            None => {
                missing.push(KEY_MISSING.to_owned());
                checks.push(Finding::new(
                    CheckId::SseKms,
                    CheckStatus::Fail,
                    "the trail has no KMS key and none was given",
                ));
                (String::new(), None)
            }
        },
        KeyChoice::Create { alias } => {
            let alias = normalise_alias(&alias.clone().unwrap_or_else(|| default_alias(&arn.name)));
            let lookup = sdk::key_lookup(&clients.kms, &alias, &key_region).await;
            (alias, Some(lookup))
        }
        KeyChoice::ValidationOnly => (String::new(), None),
    };
    let creating = matches!(req.key, KeyChoice::Create { .. });
    let target = match lookup {
        None => Target::None,
        Some(KeyLookup::NotFound(_)) if creating => Target::Create {
            alias: requested.clone(),
            region: key_region.clone(),
        },
        Some(lookup) => {
            // The verdict `audit` gives the same key: what `enable` refuses, `audit` fails.
            let mut v = verdict::kms_key_verdict(
                &lookup,
                &requested,
                bucket_region.as_deref(),
                &arn,
                &state.arn,
            );
            if let (true, KeyLookup::Found(key), Some(first)) =
                (creating, &lookup, v.findings.first_mut())
            {
                first.evidence =
                    format!("{requested} already exists ({}): reusing that key", key.arn);
            }
            checks.extend(v.findings);
            match lookup {
                KeyLookup::Found(key) => Target::Key(key),
                _ => Target::Unresolved,
            }
        }
    };

    // CloudTrail must still be able to write after the change: with SSE-KMS when the trail will
    // have a key (validation-only keeps whatever it has).
    let (sse_kms, kms_key_arn) = match (&target, &req.key) {
        (Target::Key(k), _) => (true, Some(k.arn.as_str())),
        (Target::None, KeyChoice::ValidationOnly) => {
            (state.kms_key_id.is_some(), state.kms_key_id.as_deref())
        }
        _ => (true, None),
    };
    let s3 = sdk::s3_in(&clients.s3, bucket_region.as_deref().unwrap_or(&arn.region));
    let delivery = Delivery {
        trail: &arn,
        trail_arn: &state.arn,
        bucket: &state.s3_bucket,
        prefix: state.s3_key_prefix.as_deref(),
        sse_kms,
        kms_key_arn,
    };
    let policy = sdk::bucket_policy(&s3, &state.s3_bucket).await;
    checks.push(verdict::bucket_policy_verdict(&policy, &delivery));

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
        Target::None => key_info = None,
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
        missing,
        changes,
    })
}

/// Whether the trail's current key (as CloudTrail reports it: usually an ARN, on some endpoints
/// whatever was passed) is `key`.
async fn same_key(
    clients: &PostureClients,
    current: Option<&str>,
    key: &KeyFacts,
    key_region: &str,
) -> bool {
    let Some(current) = current else {
        return false;
    };
    if current == key.arn || current == key.key_id {
        return true;
    }
    match sdk::key_lookup(&clients.kms, current, key_region).await {
        KeyLookup::Found(k) => k.arn == key.arn,
        _ => false,
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
    if !plan.missing.is_empty() {
        return Err(EnableError::KeyRequired(Box::new(plan)));
    }
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
}
