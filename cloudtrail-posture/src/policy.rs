//! Resource policies (S3 bucket policies, KMS key policies): parsing and a small evaluator.
//!
//! The evaluator answers one question: "would this policy let principal P perform action A on
//! resource R, given the request context we know CloudTrail sends?". It is deliberately
//! conservative: a condition it cannot evaluate (an unknown operator, a key whose value we do not
//! know) makes the statement *indeterminate*, and an indeterminate Allow never counts as a grant.
//! It does not model IAM identity policies, SCPs, grants or ACLs; callers say so in their evidence.
//!
//! The JSON grammar accepted is the one AWS accepts: `Statement` is an object or a list;
//! `Principal` is `"*"` or a map whose values (`AWS`, `Service`, ...) are a string or a list;
//! `Action`/`NotAction`/`Resource`/`NotResource` are a string or a list; `Condition` maps an
//! operator to a map of condition keys to a string, boolean, number or list of them.

use std::fmt;

use serde_json::Value;

/// A policy document that could not be understood.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The text is not JSON at all.
    #[error("policy is not valid JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    /// The JSON does not have the shape of an IAM policy.
    #[error("policy is malformed: {0}")]
    Malformed(String),
}

/// Whether a statement allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// The `Principal` / `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrincipalSpec {
    /// `"*"`, or `{"AWS": "*"}` which AWS treats the same way: everyone.
    Anyone,
    /// `{"AWS": [...], "Service": [...], ...}` with the type names as written.
    Named(Vec<(String, Vec<String>)>),
}

/// One `operator: { key: values }` clause of a `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConditionClause {
    pub operator: String,
    pub key: String,
    pub values: Vec<String>,
}

/// One statement of a policy.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    /// `Sid`, or `statement #N` (1-based) so evidence can point at it.
    pub label: String,
    pub effect: Effect,
    pub principal: Option<PrincipalSpec>,
    pub not_principal: Option<PrincipalSpec>,
    pub action: Option<Vec<String>>,
    pub not_action: Option<Vec<String>>,
    pub resource: Option<Vec<String>>,
    pub not_resource: Option<Vec<String>>,
    pub conditions: Vec<ConditionClause>,
}

/// A parsed policy document.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub statements: Vec<Statement>,
}

/// Who makes the request being evaluated.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Caller<'a> {
    /// An AWS service principal such as `cloudtrail.amazonaws.com`.
    Service(&'a str),
    /// The account itself (`arn:PARTITION:iam::ACCOUNT:root`), i.e. delegation to IAM.
    AccountRoot {
        partition: &'a str,
        account: &'a str,
    },
}

impl fmt::Display for Caller<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Service(s) => write!(f, "{s}"),
            Caller::AccountRoot { partition, account } => {
                write!(f, "arn:{partition}:iam::{account}:root")
            }
        }
    }
}

/// A request to evaluate: the context lists every condition key whose value we know; keys not
/// listed are unknown, and a condition on them makes its statement indeterminate.
#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    pub caller: Caller<'a>,
    pub action: &'a str,
    pub resource: &'a str,
    pub context: Vec<(&'a str, String)>,
}

/// What the policy says about one request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Evaluation {
    /// Labels of Allow statements that match with all conditions satisfied.
    pub allowed_by: Vec<String>,
    /// Labels of Deny statements that match with all conditions satisfied.
    pub denied_by: Vec<String>,
    /// Statements that match except for a condition we cannot evaluate, with the reason.
    pub indeterminate: Vec<String>,
}

impl Evaluation {
    /// Allowed by at least one statement and denied by none we could evaluate.
    pub fn allowed(&self) -> bool {
        !self.allowed_by.is_empty() && self.denied_by.is_empty()
    }

    /// A one-line explanation for evidence.
    pub fn explain(&self) -> String {
        let mut parts = Vec::new();
        if !self.allowed_by.is_empty() {
            parts.push(format!("allowed by {}", self.allowed_by.join(", ")));
        }
        if !self.denied_by.is_empty() {
            parts.push(format!("denied by {}", self.denied_by.join(", ")));
        }
        if self.allowed_by.is_empty() && self.denied_by.is_empty() {
            parts.push("no statement allows it".to_owned());
        }
        if !self.indeterminate.is_empty() {
            parts.push(format!("not evaluated: {}", self.indeterminate.join("; ")));
        }
        parts.join("; ")
    }
}

/// Three-valued result of a condition block.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Truth {
    True,
    False,
    Unknown(String),
}

impl Policy {
    /// Parses a policy document from its JSON text.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let value: Value = serde_json::from_str(text)?;
        Self::from_value(&value)
    }

    /// Parses an already decoded policy document.
    pub fn from_value(value: &Value) -> Result<Self, PolicyError> {
        let obj = value
            .as_object()
            .ok_or_else(|| PolicyError::Malformed("the document is not a JSON object".into()))?;
        let statements = match obj.get("Statement") {
            Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
            Some(v @ Value::Object(_)) => vec![v],
            Some(_) => {
                return Err(PolicyError::Malformed(
                    "`Statement` is neither an object nor a list".into(),
                ));
            }
            None => return Err(PolicyError::Malformed("no `Statement`".into())),
        };
        let statements = statements
            .into_iter()
            .enumerate()
            .map(|(i, s)| parse_statement(i, s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { statements })
    }

    /// Evaluates `req` against every statement.
    pub fn evaluate(&self, req: &Request<'_>) -> Evaluation {
        let mut eval = Evaluation::default();
        for st in &self.statements {
            if !st.applies_to(req) {
                continue;
            }
            match evaluate_conditions(&st.conditions, &req.context) {
                Truth::True => match st.effect {
                    Effect::Allow => eval.allowed_by.push(st.label.clone()),
                    Effect::Deny => eval.denied_by.push(st.label.clone()),
                },
                Truth::False => {}
                Truth::Unknown(why) => eval.indeterminate.push(format!(
                    "{} {} ({why})",
                    match st.effect {
                        Effect::Allow => "Allow",
                        Effect::Deny => "Deny",
                    },
                    st.label
                )),
            }
        }
        eval
    }
}

impl Statement {
    /// Principal, action and resource match (conditions are evaluated separately).
    fn applies_to(&self, req: &Request<'_>) -> bool {
        let principal_ok = match (&self.principal, &self.not_principal) {
            (Some(p), _) => p.matches(req.caller),
            (None, Some(np)) => !np.matches(req.caller),
            // A statement without a principal is an identity-policy statement: not applicable to
            // a resource policy's caller.
            (None, None) => false,
        };
        let action_ok = match (&self.action, &self.not_action) {
            (Some(list), _) => list.iter().any(|p| glob_match_ci(p, req.action)),
            (None, Some(list)) => !list.iter().any(|p| glob_match_ci(p, req.action)),
            (None, None) => false,
        };
        let resource_ok = match (&self.resource, &self.not_resource) {
            (Some(list), _) => list.iter().any(|p| glob_match(p, req.resource)),
            (None, Some(list)) => !list.iter().any(|p| glob_match(p, req.resource)),
            // Key policies always name `Resource`; treat a missing one as the whole resource.
            (None, None) => true,
        };
        principal_ok && action_ok && resource_ok
    }

    /// Whether the `Principal` element names this service explicitly (not through `*`).
    pub fn names_service(&self, service: &str) -> bool {
        match &self.principal {
            Some(PrincipalSpec::Named(map)) => map.iter().any(|(ty, vals)| {
                ty.eq_ignore_ascii_case("Service")
                    && vals.iter().any(|v| v.eq_ignore_ascii_case(service))
            }),
            _ => false,
        }
    }

    /// Whether the statement's principal is everyone (`"*"` or `{"AWS": "*"}`).
    pub fn principal_is_anyone(&self) -> bool {
        matches!(self.principal, Some(PrincipalSpec::Anyone))
    }
}

impl PrincipalSpec {
    fn matches(&self, caller: Caller<'_>) -> bool {
        let map = match self {
            PrincipalSpec::Anyone => return true,
            PrincipalSpec::Named(map) => map,
        };
        map.iter().any(|(ty, vals)| match caller {
            Caller::Service(svc) => {
                ty.eq_ignore_ascii_case("Service")
                    && vals.iter().any(|v| v.eq_ignore_ascii_case(svc))
            }
            Caller::AccountRoot { partition, account } => {
                let root = format!("arn:{partition}:iam::{account}:root");
                ty.eq_ignore_ascii_case("AWS") && vals.iter().any(|v| v == account || *v == root)
            }
        })
    }
}

fn parse_statement(index: usize, value: &Value) -> Result<Statement, PolicyError> {
    let obj = value.as_object().ok_or_else(|| {
        PolicyError::Malformed(format!("statement #{} is not an object", index + 1))
    })?;
    let label = match obj.get("Sid").and_then(Value::as_str) {
        Some(sid) if !sid.is_empty() => format!("statement {sid:?}"),
        _ => format!("statement #{}", index + 1),
    };
    let effect = match obj.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        other => {
            return Err(PolicyError::Malformed(format!(
                "{label} has Effect {other:?}, expected \"Allow\" or \"Deny\""
            )));
        }
    };
    let principal = obj
        .get("Principal")
        .map(|v| parse_principal(&label, v))
        .transpose()?;
    let not_principal = obj
        .get("NotPrincipal")
        .map(|v| parse_principal(&label, v))
        .transpose()?;
    let strings = |key: &str| {
        obj.get(key)
            .map(|v| {
                string_list(v).ok_or_else(|| {
                    PolicyError::Malformed(format!(
                        "{label}: `{key}` is neither a string nor a list of strings"
                    ))
                })
            })
            .transpose()
    };
    let action = strings("Action")?;
    let not_action = strings("NotAction")?;
    let resource = strings("Resource")?;
    let not_resource = strings("NotResource")?;
    let mut conditions = Vec::new();
    if let Some(cond) = obj.get("Condition") {
        let ops = cond
            .as_object()
            .ok_or_else(|| PolicyError::Malformed(format!("{label}: `Condition` is not a map")))?;
        for (operator, keys) in ops {
            let keys = keys.as_object().ok_or_else(|| {
                PolicyError::Malformed(format!("{label}: condition {operator} is not a map"))
            })?;
            for (key, vals) in keys {
                let values = scalar_list(vals).ok_or_else(|| {
                    PolicyError::Malformed(format!(
                        "{label}: condition {operator} {key} has a non-scalar value"
                    ))
                })?;
                conditions.push(ConditionClause {
                    operator: operator.clone(),
                    key: key.clone(),
                    values,
                });
            }
        }
    }
    Ok(Statement {
        label,
        effect,
        principal,
        not_principal,
        action,
        not_action,
        resource,
        not_resource,
        conditions,
    })
}

fn parse_principal(label: &str, value: &Value) -> Result<PrincipalSpec, PolicyError> {
    match value {
        Value::String(s) if s == "*" => Ok(PrincipalSpec::Anyone),
        Value::Object(map) => {
            let mut named = Vec::new();
            for (ty, vals) in map {
                let vals = string_list(vals).ok_or_else(|| {
                    PolicyError::Malformed(format!(
                        "{label}: principal type {ty} is neither a string nor a list"
                    ))
                })?;
                if ty == "AWS" && vals.iter().any(|v| v == "*") {
                    return Ok(PrincipalSpec::Anyone);
                }
                named.push((ty.clone(), vals));
            }
            Ok(PrincipalSpec::Named(named))
        }
        _ => Err(PolicyError::Malformed(format!(
            "{label}: `Principal` is neither \"*\" nor a map"
        ))),
    }
}

fn string_list(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

/// Condition values may be strings, booleans or numbers (`"Bool": {"aws:SecureTransport": false}`).
fn scalar_list(value: &Value) -> Option<Vec<String>> {
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    match value {
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => scalar(other).map(|s| vec![s]),
    }
}

/// All clauses of a `Condition` block must hold (AND); values within a clause are OR'ed.
fn evaluate_conditions(clauses: &[ConditionClause], context: &[(&str, String)]) -> Truth {
    let mut unknown = Vec::new();
    for clause in clauses {
        match evaluate_clause(clause, context) {
            Truth::True => {}
            Truth::False => return Truth::False,
            Truth::Unknown(why) => unknown.push(why),
        }
    }
    if unknown.is_empty() {
        Truth::True
    } else {
        Truth::Unknown(unknown.join(", "))
    }
}

fn evaluate_clause(clause: &ConditionClause, context: &[(&str, String)]) -> Truth {
    // Set operators on single-valued keys behave like the plain operator.
    let op = clause
        .operator
        .strip_prefix("ForAnyValue:")
        .or_else(|| clause.operator.strip_prefix("ForAllValues:"))
        .unwrap_or(&clause.operator);
    let (op, if_exists) = match op.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (op, false),
    };
    let value = context
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&clause.key))
        .map(|(_, v)| v.as_str());
    let Some(actual) = value else {
        return Truth::Unknown(format!(
            "{} on {}, whose value for this request is not known",
            clause.operator, clause.key
        ));
    };
    if op == "Null" {
        // The key is present (we know its value), so `Null: true` fails and `Null: false` holds.
        return truth(
            clause
                .values
                .iter()
                .any(|v| v.eq_ignore_ascii_case("false")),
        );
    }
    let _ = if_exists; // the key is present, so IfExists changes nothing
    let any = |f: &dyn Fn(&str) -> bool| clause.values.iter().any(|v| f(v));
    match op {
        "StringEquals" | "ArnEquals" => truth(any(&|v| v == actual)),
        "StringNotEquals" | "ArnNotEquals" => truth(!any(&|v| v == actual)),
        "StringEqualsIgnoreCase" => truth(any(&|v| v.eq_ignore_ascii_case(actual))),
        "StringNotEqualsIgnoreCase" => truth(!any(&|v| v.eq_ignore_ascii_case(actual))),
        "StringLike" | "ArnLike" => truth(any(&|v| glob_match(v, actual))),
        "StringNotLike" | "ArnNotLike" => truth(!any(&|v| glob_match(v, actual))),
        "Bool" => truth(any(&|v| v.eq_ignore_ascii_case(actual))),
        _ => Truth::Unknown(format!("operator {} is not evaluated", clause.operator)),
    }
}

fn truth(b: bool) -> Truth {
    if b { Truth::True } else { Truth::False }
}

/// IAM wildcard match: `*` matches any run of characters, `?` exactly one. Case-sensitive, as
/// resource ARNs and condition values are.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Position of the last `*` seen in the pattern and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Case-insensitive [`glob_match`], for actions (`kms:GenerateDataKey*`, `S3:putobject`).
pub(crate) fn glob_match_ci(pattern: &str, text: &str) -> bool {
    glob_match(&pattern.to_ascii_lowercase(), &text.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn glob_handles_stars_and_question_marks() {
        assert!(glob_match("*", ""));
        assert!(glob_match("arn:aws:s3:::b/*", "arn:aws:s3:::b/AWSLogs/1/x"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(!glob_match("arn:aws:s3:::b/*", "arn:aws:s3:::b"));
        assert!(glob_match_ci("kms:GenerateDataKey*", "KMS:generatedatakey"));
        assert!(!glob_match("A", "a"));
    }

    fn cloudtrail_put(resource: &str) -> Request<'_> {
        Request {
            caller: Caller::Service("cloudtrail.amazonaws.com"),
            action: "s3:PutObject",
            resource,
            context: vec![
                ("s3:x-amz-acl", "bucket-owner-full-control".into()),
                (
                    "aws:SourceArn",
                    "arn:aws:cloudtrail:us-east-1:111122223333:trail/t".into(),
                ),
            ],
        }
    }

    #[test]
    fn principal_action_and_resource_shapes_are_all_accepted() {
        let key = "arn:aws:s3:::b/AWSLogs/111122223333/CloudTrail/x.json.gz";
        for principal in [
            json!({"Service": "cloudtrail.amazonaws.com"}),
            json!({"Service": ["ec2.amazonaws.com", "cloudtrail.amazonaws.com"]}),
            json!("*"),
            json!({"AWS": "*"}),
        ] {
            for action in [
                json!("s3:PutObject"),
                json!(["s3:GetObject", "s3:Put*"]),
                json!("*"),
            ] {
                let p = Policy::from_value(&json!({
                    "Statement": {"Effect": "Allow", "Principal": principal, "Action": action,
                                  "Resource": ["arn:aws:s3:::b/AWSLogs/111122223333/*"]}
                }))
                .unwrap();
                assert!(
                    p.evaluate(&cloudtrail_put(key)).allowed(),
                    "{principal} {action}"
                );
            }
        }
    }

    #[test]
    fn conditions_are_evaluated_against_the_known_context() {
        let key = "arn:aws:s3:::b/AWSLogs/111122223333/CloudTrail/x.json.gz";
        let allow_with = |cond: Value| {
            Policy::from_value(&json!({"Statement": [{
                "Sid": "W", "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*",
                "Condition": cond}]}))
            .unwrap()
            .evaluate(&cloudtrail_put(key))
        };
        assert!(
            allow_with(json!({"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}))
                .allowed()
        );
        assert!(!allow_with(json!({"StringEquals": {"s3:x-amz-acl": "private"}})).allowed());
        assert!(
            allow_with(
                json!({"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:111122223333:trail/*"}})
            )
            .allowed()
        );
        assert!(!allow_with(json!({"StringEquals": {"aws:SourceArn": "arn:aws:cloudtrail:us-east-1:111122223333:trail/other"}})).allowed());
        let unknown = allow_with(json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}));
        assert!(!unknown.allowed());
        assert_eq!(unknown.indeterminate.len(), 1);
    }

    #[test]
    fn an_explicit_deny_wins() {
        let p = Policy::from_value(&json!({"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"},
            {"Sid": "NoPut", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}
        ]}))
        .unwrap();
        let e = p.evaluate(&cloudtrail_put("arn:aws:s3:::b/k"));
        assert!(!e.allowed());
        assert_eq!(e.denied_by, vec!["statement \"NoPut\"".to_string()]);
    }

    #[test]
    fn account_root_matches_by_arn_or_account_id() {
        let req = Request {
            caller: Caller::AccountRoot {
                partition: "aws",
                account: "111122223333",
            },
            action: "kms:Decrypt",
            resource: "arn:aws:kms:us-east-1:111122223333:key/k",
            context: vec![],
        };
        for aws in [
            json!("arn:aws:iam::111122223333:root"),
            json!(["111122223333"]),
        ] {
            let p = Policy::from_value(&json!({"Statement": [
                {"Effect": "Allow", "Principal": {"AWS": aws}, "Action": "kms:*", "Resource": "*"}
            ]}))
            .unwrap();
            assert!(p.evaluate(&req).allowed());
        }
    }

    #[test]
    fn malformed_policies_are_rejected_with_a_reason() {
        assert!(matches!(
            Policy::parse("nope"),
            Err(PolicyError::NotJson(_))
        ));
        assert!(matches!(
            Policy::parse(r#"{"Statement": [{"Effect": "Maybe"}]}"#),
            Err(PolicyError::Malformed(_))
        ));
    }
}
