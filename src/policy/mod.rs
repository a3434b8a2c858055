//! Bucket policies: the JSON document of PutBucketPolicy, parsed once into a
//! [`Policy`] (and refused with AWS's `MalformedPolicy` messages), and its
//! verdict on one request ([`Policy::evaluate`]) — pure functions over a
//! [`Request`] the S3 layer builds from its parsed request.
//!
//! What the statements may say, as tools write them: `Effect` Allow or
//! Deny; `Principal` (or `NotPrincipal`) `*` or access keys, bare or as
//! `arn:aws:iam::<account>:user/<key>`; `s3:` actions with `*` and `?`;
//! bucket and object ARNs of this bucket with wildcards; and conditions
//! (`condition.rs`). How a verdict combines with a key's grants and ACLs
//! is the S3 layer's (`api/s3/authz.rs`): an explicit Deny wins over both.
//!
//! Must never: read the clock, the index or the network (the caller puts
//! what a request carries into its [`Context`]), or accept a statement it
//! would evaluate differently from what AWS documents — a field, operator
//! or action it does not know is refused, never skipped.

mod actions;
mod cache;
mod condition;
mod error;
mod pattern;

use serde_json::{Map, Value};

pub use cache::PolicyCache;
pub use condition::{Condition, Context};
use error::shorten;
pub use error::PolicyError;

/// The most bytes of a policy document AWS accepts.
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// Who a statement names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Principals {
    /// `*`: everyone, anonymous clients included.
    Anyone,
    /// These access keys.
    Keys(Vec<String>),
}

/// A list that may be negated (`NotAction`, `NotResource`, `NotPrincipal`).
#[derive(Debug, Clone)]
struct Listed<T> {
    items: T,
    negated: bool,
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    principal: Listed<Principals>,
    actions: Listed<Vec<String>>,
    resources: Listed<Vec<String>>,
    conditions: Vec<Condition>,
}

/// A bucket's policy, parsed.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who<'a> {
    Anonymous,
    Key(&'a str),
}

/// One request as a policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub who: Who<'a>,
    /// `s3:GetObject`, …
    pub action: &'a str,
    /// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
    pub resource: &'a str,
    pub context: &'a Context,
}

/// A policy's verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A Deny statement matches: refused whatever else allows it.
    Deny,
    /// An Allow statement matches, and no Deny.
    Allow,
    /// No statement matches.
    NoOpinion,
}

/// The ARN of a bucket, or of an object in it.
pub fn arn(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("arn:aws:s3:::{bucket}/{k}"),
        None => format!("arn:aws:s3:::{bucket}"),
    }
}

impl Policy {
    /// Parses `text` as the policy of `bucket`, with AWS's checks.
    pub fn parse(text: &str, bucket: &str) -> Result<Policy, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::new(format!(
                "Policies must be at most {MAX_POLICY_BYTES} bytes; this one has {}",
                text.len()
            )));
        }
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| PolicyError::new(format!("Policies must be valid JSON: {e}")))?;
        let Value::Object(doc) = doc else {
            return Err(PolicyError::new(
                "Policies must be valid JSON and the first byte must be '{'",
            ));
        };
        only_fields(&doc, &["Version", "Id", "Statement"])?;
        match doc.get("Version") {
            None => {}
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
            Some(v) => {
                return Err(PolicyError::new(format!(
                    "Invalid policy version {}: use \"2012-10-17\"",
                    shorten(&v.to_string())
                )))
            }
        }
        let statements = match doc.get("Statement") {
            None => return Err(PolicyError::new("Missing required field Statement")),
            Some(Value::Array(items)) => items.iter().collect::<Vec<_>>(),
            Some(one) => vec![one],
        };
        if statements.is_empty() {
            return Err(PolicyError::new("Missing required field Statement"));
        }
        let mut sids = Vec::new();
        let mut out = Vec::new();
        for s in statements {
            let Value::Object(s) = s else {
                return Err(PolicyError::new("Each Statement must be an object"));
            };
            if let Some(sid) = s.get("Sid") {
                let sid = sid.as_str().unwrap_or_default().to_string();
                if sids.contains(&sid) {
                    return Err(PolicyError::new(
                        "Statement IDs (SID) in a single policy must be unique",
                    ));
                }
                sids.push(sid);
            }
            out.push(statement(s, bucket)?);
        }
        Ok(Policy { statements: out })
    }

    /// The verdict on `req`: Deny if any Deny statement matches it, else
    /// Allow if any Allow statement does.
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        let mut allowed = false;
        for s in self.statements.iter().filter(|s| s.matches(req)) {
            match s.effect {
                Effect::Deny => return Decision::Deny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::NoOpinion
        }
    }

    /// Whether the policy grants anything to everyone: an Allow statement
    /// for `Principal: *` (or a `NotPrincipal`) that no condition pins to
    /// fixed requesters (AWS's "The meaning of public").
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && (s.principal.negated || s.principal.items == Principals::Anyone)
                && !s.conditions.iter().any(Condition::pins_requester)
        })
    }

    /// The access keys the statements name, for the caller to check that
    /// each exists (AWS refuses a principal it does not know).
    pub fn named_keys(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in &self.statements {
            if let Principals::Keys(keys) = &s.principal.items {
                for k in keys {
                    if !out.contains(&k.as_str()) {
                        out.push(k);
                    }
                }
            }
        }
        out
    }
}

impl Statement {
    fn matches(&self, req: &Request<'_>) -> bool {
        let principal = match (&self.principal.items, req.who) {
            (Principals::Anyone, _) => true,
            (Principals::Keys(keys), Who::Key(k)) => keys.iter().any(|x| x == k),
            (Principals::Keys(_), Who::Anonymous) => false,
        };
        let action = self
            .actions
            .items
            .iter()
            .any(|a| pattern::matches_ignore_case(a, req.action));
        let resource = self
            .resources
            .items
            .iter()
            .any(|r| pattern::matches(r, req.resource));
        principal != self.principal.negated
            && action != self.actions.negated
            && resource != self.resources.negated
            && self.conditions.iter().all(|c| c.holds(req.context))
    }
}

/// Refuses a field not in `known`.
fn only_fields(obj: &Map<String, Value>, known: &[&str]) -> Result<(), PolicyError> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(PolicyError::new(format!("Unknown field {}", shorten(k)))),
        None => Ok(()),
    }
}

/// `Name` or `NotName` (one of them, required).
fn either<'a>(s: &'a Map<String, Value>, name: &str) -> Result<(&'a Value, bool), PolicyError> {
    let not = format!("Not{name}");
    match (s.get(name), s.get(&not)) {
        (Some(v), None) => Ok((v, false)),
        (None, Some(v)) => Ok((v, true)),
        (None, None) => Err(PolicyError::new(format!("Missing required field {name}"))),
        (Some(_), Some(_)) => Err(PolicyError::new(format!(
            "A statement has {name} or {not}, not both"
        ))),
    }
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    let list = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| PolicyError::new(format!("{what} must be strings")))?,
        _ => {
            return Err(PolicyError::new(format!(
                "{what} must be a string or a list of them"
            )))
        }
    };
    if list.is_empty() {
        return Err(PolicyError::new(format!("{what} must not be empty")));
    }
    Ok(list)
}

fn statement(s: &Map<String, Value>, bucket: &str) -> Result<Statement, PolicyError> {
    only_fields(
        s,
        &[
            "Sid",
            "Effect",
            "Principal",
            "NotPrincipal",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Condition",
        ],
    )?;
    let effect = match s.get("Effect") {
        None => return Err(PolicyError::new("Missing required field Effect")),
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(e) => {
            return Err(PolicyError::new(format!(
                "Invalid effect: {}",
                shorten(&e.to_string())
            )))
        }
    };
    let (p, negated) = either(s, "Principal")?;
    let principal = Listed {
        items: principals(p)?,
        negated,
    };
    let (a, negated) = either(s, "Action")?;
    let actions = strings(a, "Action")?;
    let mut applies = Vec::new();
    for a in &actions {
        let kinds = if a == "*" {
            actions::applies("s3:*")
        } else if a.to_ascii_lowercase().starts_with("s3:") {
            actions::applies(a)
        } else {
            Vec::new()
        };
        if kinds.is_empty() {
            return Err(PolicyError::new("Policy has invalid action"));
        }
        applies.extend(kinds);
    }
    let (r, r_negated) = either(s, "Resource")?;
    let resources = strings(r, "Resource")?;
    let mut resource_kinds = Vec::new();
    for r in &resources {
        resource_kinds.extend(resource_kinds_of(r, bucket)?);
    }
    if !negated
        && !r_negated
        && !applies
            .iter()
            .any(|a| *a != actions::Applies::Account && resource_kinds.contains(a))
    {
        return Err(PolicyError::new(
            "Action does not apply to any resource(s) in statement",
        ));
    }
    let conditions = match s.get("Condition") {
        Some(c) => condition::parse_block(c)?,
        None => Vec::new(),
    };
    Ok(Statement {
        effect,
        principal,
        actions: Listed {
            items: actions,
            negated,
        },
        resources: Listed {
            items: resources,
            negated: r_negated,
        },
        conditions,
    })
}

/// `*`, `{"AWS": "*"}`, or `{"AWS": [keys]}` with each key bare or as
/// `arn:aws:iam::<account>:user/<key>`.
fn principals(v: &Value) -> Result<Principals, PolicyError> {
    let invalid = || PolicyError::new("Invalid principal in policy");
    match v {
        Value::String(s) if s == "*" => Ok(Principals::Anyone),
        Value::Object(m) => {
            if m.len() != 1 {
                return Err(invalid());
            }
            let aws = m.get("AWS").ok_or_else(invalid)?;
            let names = strings(aws, "Principal").map_err(|_| invalid())?;
            if names.iter().any(|n| n == "*") {
                return Ok(Principals::Anyone);
            }
            names
                .iter()
                .map(|n| key_of(n).ok_or_else(invalid))
                .collect::<Result<Vec<_>, _>>()
                .map(Principals::Keys)
        }
        _ => Err(invalid()),
    }
}

/// The access key a principal names.
fn key_of(name: &str) -> Option<String> {
    let key = match name.strip_prefix("arn:aws:iam::") {
        Some(rest) => {
            let (_account, resource) = rest.split_once(':')?;
            resource.strip_prefix("user/")?
        }
        None => name,
    };
    let ok = !key.is_empty()
        && key.len() <= 128
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    ok.then(|| key.to_string())
}

/// What a resource of this bucket's policy may name: the bucket, objects in
/// it, or both (a wildcard that covers both). Any other ARN, `*` included,
/// is refused, as AWS refuses it.
fn resource_kinds_of(r: &str, bucket: &str) -> Result<Vec<actions::Applies>, PolicyError> {
    use actions::Applies;
    let invalid = || PolicyError::new("Policy has invalid resource");
    if !r.starts_with("arn:aws:s3:::") {
        return Err(invalid());
    }
    let mut kinds = Vec::new();
    if pattern::matches(r, &arn(bucket, None)) {
        kinds.push(Applies::Bucket);
    }
    if pattern::can_match_with_prefix(r, &format!("arn:aws:s3:::{bucket}/")) {
        kinds.push(Applies::Object);
    }
    if kinds.is_empty() {
        return Err(invalid());
    }
    Ok(kinds)
}

#[cfg(test)]
mod tests;
