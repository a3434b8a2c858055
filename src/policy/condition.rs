//! A statement's `Condition` block: operators, keys and values, parsed once
//! into [`Condition`]s, and each evaluated against a request's [`Context`].
//!
//! IAM's rules, as AWS documents them: every operator of a block and every
//! key of an operator must hold; a key holds if the request's value matches
//! any of the policy's values, or, for a negated operator (`StringNotLike`,
//! `NotIpAddress`…), none of them. A key the request does not carry fails a
//! condition, except under a negated operator, `…IfExists`, `ForAllValues:`
//! and `Null`.
//!
//! Must never: accept an operator it cannot evaluate (the policy would then
//! mean something other than its author wrote), or read anything but the
//! context it is given.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

use super::error::{shorten, PolicyError};
use super::pattern;
use crate::config::IpNet;

/// What a request carries for conditions: each key (lower-cased; IAM's keys
/// are case-insensitive) with its values.
#[derive(Debug, Clone, Default)]
pub struct Context {
    values: BTreeMap<String, Vec<String>>,
}

impl Context {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to one value.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.values
            .insert(key.to_ascii_lowercase(), vec![value.into()]);
        self
    }

    fn get(&self, key: &str) -> Option<&[String]> {
        self.values.get(key).map(Vec::as_slice)
    }
}

/// How values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Ordering),
    Date(Ordering),
    Bool,
    IpAddress,
    Null,
}

/// A numeric or date comparison: request value `op` policy value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ordering {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

/// `ForAnyValue:` / `ForAllValues:` before an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    None,
    AnyValue,
    AllValues,
}

/// One operator on one key, with the policy's values.
#[derive(Debug, Clone)]
pub struct Condition {
    kind: Kind,
    negated: bool,
    if_exists: bool,
    set: SetQualifier,
    /// Lower-cased.
    key: String,
    values: Vec<String>,
}

/// The operators by name, as IAM spells them (case-sensitive in AWS too).
fn operator(name: &str) -> Option<(Kind, bool)> {
    use Kind::*;
    use Ordering::*;
    Some(match name {
        "StringEquals" => (StringEquals, false),
        "StringNotEquals" => (StringEquals, true),
        "StringEqualsIgnoreCase" => (StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (StringEqualsIgnoreCase, true),
        "StringLike" | "ArnLike" | "ArnEquals" => (StringLike, false),
        "StringNotLike" | "ArnNotLike" | "ArnNotEquals" => (StringLike, true),
        "NumericEquals" => (Numeric(Equals), false),
        "NumericNotEquals" => (Numeric(Equals), true),
        "NumericLessThan" => (Numeric(LessThan), false),
        "NumericLessThanEquals" => (Numeric(LessThanEquals), false),
        "NumericGreaterThan" => (Numeric(GreaterThan), false),
        "NumericGreaterThanEquals" => (Numeric(GreaterThanEquals), false),
        "DateEquals" => (Date(Equals), false),
        "DateNotEquals" => (Date(Equals), true),
        "DateLessThan" => (Date(LessThan), false),
        "DateLessThanEquals" => (Date(LessThanEquals), false),
        "DateGreaterThan" => (Date(GreaterThan), false),
        "DateGreaterThanEquals" => (Date(GreaterThanEquals), false),
        "Bool" => (Bool, false),
        "IpAddress" => (IpAddress, false),
        "NotIpAddress" => (IpAddress, true),
        "Null" => (Null, false),
        _ => return None,
    })
}

/// Parses a `Condition` block.
pub fn parse_block(block: &Value) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(ops) = block else {
        return Err(PolicyError::new("Condition must be an object of operators"));
    };
    let mut out = Vec::new();
    for (name, keys) in ops {
        let (set, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (SetQualifier::AnyValue, r)
        } else if let Some(r) = name.strip_prefix("ForAllValues:") {
            (SetQualifier::AllValues, r)
        } else {
            (SetQualifier::None, name.as_str())
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) if b != "Null" => (b, true),
            _ => (rest, false),
        };
        let Some((kind, negated)) = operator(base) else {
            return Err(PolicyError::new(format!(
                "Invalid Condition type : {}",
                shorten(name)
            )));
        };
        let Value::Object(keys) = keys else {
            return Err(PolicyError::new(format!(
                "Condition operator {} must map keys to values",
                shorten(name)
            )));
        };
        for (key, values) in keys {
            let values = scalars(values).ok_or_else(|| {
                PolicyError::new(format!(
                    "Condition {} on {} must have a string, number or boolean value, or a \
                     list of them",
                    shorten(name),
                    shorten(key)
                ))
            })?;
            for v in &values {
                check_value(kind, v).map_err(|what| {
                    PolicyError::new(format!(
                        "Invalid value for {}: {} is not {what}",
                        shorten(name),
                        shorten(v)
                    ))
                })?;
            }
            out.push(Condition {
                kind,
                negated,
                if_exists,
                set,
                key: key.to_ascii_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}

/// A JSON value, or a list of them, as strings.
pub(super) fn scalars(v: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match v {
        Value::Array(items) => items.iter().map(one).collect(),
        other => one(other).map(|s| vec![s]),
    }
}

/// Whether a policy value can be compared by `kind`.
fn check_value(kind: Kind, v: &str) -> Result<(), &'static str> {
    let ok = match kind {
        Kind::Numeric(_) => v.parse::<f64>().is_ok(),
        Kind::Date(_) => date(v).is_some(),
        Kind::Bool | Kind::Null => matches!(v, "true" | "false"),
        Kind::IpAddress => IpNet::parse(v).is_ok(),
        _ => true,
    };
    if ok {
        return Ok(());
    }
    Err(match kind {
        Kind::Numeric(_) => "a number",
        Kind::Date(_) => "a date (ISO 8601, e.g. 2027-01-01T00:00:00Z, or epoch seconds)",
        Kind::IpAddress => "an address or CIDR range",
        _ => "true or false",
    })
}

/// A date as epoch seconds: RFC 3339 or a number of seconds.
fn date(v: &str) -> Option<i64> {
    if let Ok(n) = v.parse::<i64>() {
        return Some(n);
    }
    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

impl Condition {
    /// Whether the condition holds for a request with `ctx`.
    pub fn holds(&self, ctx: &Context) -> bool {
        let Some(request) = ctx.get(&self.key).filter(|v| !v.is_empty()) else {
            return match self.kind {
                Kind::Null => self.values.iter().any(|v| v == "true"),
                _ => self.if_exists || self.negated || self.set == SetQualifier::AllValues,
            };
        };
        if self.kind == Kind::Null {
            return self.values.iter().any(|v| v == "false");
        }
        let one = |r: &str| {
            let any = self.values.iter().any(|p| self.matches(p, r));
            any != self.negated
        };
        match self.set {
            SetQualifier::AllValues => request.iter().all(|r| one(r)),
            SetQualifier::None | SetQualifier::AnyValue => request.iter().any(|r| one(r)),
        }
    }

    /// Whether request value `r` matches policy value `p`.
    fn matches(&self, p: &str, r: &str) -> bool {
        match self.kind {
            Kind::StringEquals => p == r,
            Kind::StringEqualsIgnoreCase => p.to_lowercase() == r.to_lowercase(),
            Kind::StringLike => pattern::matches(p, r),
            Kind::Numeric(o) => match (r.parse::<f64>(), p.parse::<f64>()) {
                (Ok(r), Ok(p)) => compare(o, r.partial_cmp(&p)),
                _ => false,
            },
            Kind::Date(o) => match (date(r), date(p)) {
                (Some(r), Some(p)) => compare(o, Some(r.cmp(&p))),
                _ => false,
            },
            Kind::Bool => p.eq_ignore_ascii_case(r),
            Kind::IpAddress => match (r.parse::<IpAddr>(), IpNet::parse(p)) {
                (Ok(ip), Ok(net)) => net.contains(ip),
                _ => false,
            },
            Kind::Null => false,
        }
    }

    /// Whether this condition pins who may use a statement to fixed
    /// values, so that the statement does not make a policy public (AWS's
    /// "The meaning of public"): a source address range no wider than a /8
    /// (IPv4) or /32 (IPv6), or an exact account, principal, source or
    /// network identity.
    pub fn pins_requester(&self) -> bool {
        const FIXED_KEYS: &[&str] = &[
            "aws:sourcearn",
            "aws:sourcevpc",
            "aws:sourcevpce",
            "aws:sourceaccount",
            "aws:sourceowner",
            "aws:principalaccount",
            "aws:principalarn",
            "aws:principalorgid",
            "aws:userid",
            "s3:dataaccesspointaccount",
            "s3:dataaccesspointarn",
        ];
        if self.negated || self.if_exists || self.values.is_empty() {
            return false;
        }
        match self.kind {
            Kind::IpAddress if self.key == "aws:sourceip" => self.values.iter().all(|v| {
                IpNet::parse(v).is_ok_and(|n| n.prefix_len() >= if n.is_ipv4() { 8 } else { 32 })
            }),
            Kind::StringEquals | Kind::StringLike => {
                FIXED_KEYS.contains(&self.key.as_str())
                    && self.values.iter().all(|v| !v.contains(['*', '?']))
            }
            _ => false,
        }
    }
}

fn compare(o: Ordering, c: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::*;
    let Some(c) = c else { return false };
    match o {
        Ordering::Equals => c == Equal,
        Ordering::LessThan => c == Less,
        Ordering::LessThanEquals => c != Greater,
        Ordering::GreaterThan => c == Greater,
        Ordering::GreaterThanEquals => c != Less,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(json: &str) -> Vec<Condition> {
        parse_block(&serde_json::from_str(json).unwrap()).unwrap()
    }

    fn holds(json: &str, ctx: &Context) -> bool {
        block(json).iter().all(|c| c.holds(ctx))
    }

    #[test]
    fn source_ip_ranges() {
        let mut ctx = Context::new();
        ctx.set("aws:SourceIp", "192.168.1.7");
        let inside = r#"{"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.1.0/24"]}}"#;
        assert!(holds(inside, &ctx));
        assert!(!holds(
            r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#,
            &ctx
        ));
        assert!(holds(
            r#"{"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#,
            &ctx
        ));
        assert!(!holds(
            r#"{"NotIpAddress": {"aws:sourceip": "192.168.0.0/16"}}"#,
            &ctx
        ));
        ctx.set("aws:SourceIp", "2001:db8::1");
        assert!(holds(
            r#"{"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}"#,
            &ctx
        ));
    }

    #[test]
    fn strings_bools_numbers_and_dates() {
        let mut ctx = Context::new();
        ctx.set("s3:prefix", "home/alice/")
            .set("aws:SecureTransport", "false")
            .set("s3:max-keys", "50")
            .set("aws:CurrentTime", "2026-12-07T12:00:00Z");
        assert!(holds(
            r#"{"StringLike": {"s3:prefix": ["home/alice/*"]}}"#,
            &ctx
        ));
        assert!(!holds(r#"{"StringEquals": {"s3:prefix": "home/"}}"#, &ctx));
        assert!(holds(
            r#"{"StringNotEquals": {"s3:prefix": "home/"}}"#,
            &ctx
        ));
        assert!(holds(
            r#"{"StringEqualsIgnoreCase": {"s3:prefix": "HOME/ALICE/"}}"#,
            &ctx
        ));
        assert!(holds(r#"{"Bool": {"aws:SecureTransport": "false"}}"#, &ctx));
        assert!(holds(r#"{"Bool": {"aws:SecureTransport": false}}"#, &ctx));
        assert!(!holds(r#"{"Bool": {"aws:SecureTransport": "true"}}"#, &ctx));
        assert!(holds(
            r#"{"NumericLessThanEquals": {"s3:max-keys": 50}}"#,
            &ctx
        ));
        assert!(!holds(
            r#"{"NumericLessThan": {"s3:max-keys": "50"}}"#,
            &ctx
        ));
        assert!(holds(
            r#"{"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}"#,
            &ctx
        ));
        // Every operator and every key must hold.
        assert!(!holds(
            r#"{"StringLike": {"s3:prefix": "home/*"}, "Bool": {"aws:SecureTransport": "true"}}"#,
            &ctx
        ));
    }

    #[test]
    fn a_missing_key_fails_unless_negated_if_exists_or_null() {
        let ctx = Context::new();
        assert!(!holds(r#"{"StringEquals": {"s3:prefix": ""}}"#, &ctx));
        assert!(holds(r#"{"StringNotEquals": {"s3:prefix": "x"}}"#, &ctx));
        assert!(holds(
            r#"{"StringEqualsIfExists": {"s3:prefix": "x"}}"#,
            &ctx
        ));
        assert!(holds(r#"{"Null": {"s3:prefix": "true"}}"#, &ctx));
        assert!(!holds(r#"{"Null": {"s3:prefix": "false"}}"#, &ctx));
        assert!(holds(
            r#"{"ForAllValues:StringEquals": {"s3:prefix": "x"}}"#,
            &ctx
        ));
        assert!(!holds(
            r#"{"ForAnyValue:StringEquals": {"s3:prefix": "x"}}"#,
            &ctx
        ));
    }

    #[test]
    fn unknown_operators_and_bad_values_are_refused() {
        for bad in [
            r#"{"StringSortOf": {"s3:prefix": "x"}}"#,
            r#"{"IpAddress": {"aws:SourceIp": "not-an-address"}}"#,
            r#"{"NumericEquals": {"s3:max-keys": "ten"}}"#,
            r#"{"Bool": {"aws:SecureTransport": "yes"}}"#,
            r#"{"DateLessThan": {"aws:CurrentTime": "tomorrow"}}"#,
            r#"{"StringEquals": {"s3:prefix": {"nested": 1}}}"#,
            r#"["StringEquals"]"#,
        ] {
            let v: Value = serde_json::from_str(bad).unwrap();
            assert!(parse_block(&v).is_err(), "{bad}");
        }
    }

    #[test]
    fn what_pins_a_requester() {
        let pins = |json: &str| block(json).iter().any(Condition::pins_requester);
        assert!(pins(r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#));
        assert!(!pins(r#"{"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}"#));
        assert!(!pins(r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/7"}}"#));
        assert!(!pins(r#"{"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#));
        assert!(pins(
            r#"{"StringEquals": {"aws:SourceAccount": "123456789012"}}"#
        ));
        assert!(!pins(r#"{"StringLike": {"aws:SourceAccount": "12345*"}}"#));
        assert!(!pins(r#"{"Bool": {"aws:SecureTransport": "true"}}"#));
    }
}
