//! The conditions a request puts on an existing object: `If-Match`,
//! `If-None-Match`, `If-Modified-Since` and `If-Unmodified-Since` on a
//! read, and their `x-amz-copy-source-if-*` twins on the source of a copy
//! (CopyObject, UploadPartCopy). Parsed once into [`Conditions`], judged
//! against the object in S3's order.
//!
//! Owns that order and what a date means. Must never: read the headers
//! again after parsing, or decide anything but whether the request goes on.

use http::HeaderMap;

use crate::api::error::ApiError;
use crate::index::ObjectRecord;

/// The conditions of one request (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    if_match: Option<String>,
    if_none_match: Option<String>,
    if_modified_since: Option<i64>,
    if_unmodified_since: Option<i64>,
}

/// What the conditions say of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve (or copy) it.
    Proceed,
    /// `If-None-Match` matched, or it was not modified since: a read
    /// answers 304, a copy 412.
    NotModified,
    /// `If-Match` did not match, or it was modified since: 412.
    Failed,
}

impl Conditions {
    /// A read's `If-*` headers.
    pub fn of_read(h: &HeaderMap) -> Self {
        Self::with_prefix(h, "")
    }

    /// A copy's `x-amz-copy-source-if-*` headers.
    pub fn of_copy_source(h: &HeaderMap) -> Self {
        Self::with_prefix(h, "x-amz-copy-source-")
    }

    fn with_prefix(h: &HeaderMap, prefix: &str) -> Self {
        let text = |name: &str| {
            h.get(format!("{prefix}{name}"))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Conditions {
            if_match: text("if-match"),
            if_none_match: text("if-none-match"),
            // A date that does not parse is no condition (RFC 9110
            // §13.1.3, §13.1.4), as in S3.
            if_modified_since: text("if-modified-since")
                .as_deref()
                .and_then(parse_http_date),
            if_unmodified_since: text("if-unmodified-since")
                .as_deref()
                .and_then(parse_http_date),
        }
    }

    /// Judges an object of `etag` (unquoted) last modified at
    /// `last_modified`, in S3's order: `If-Match`, or else
    /// `If-Unmodified-Since`; then `If-None-Match`, or else
    /// `If-Modified-Since`. So a matching `If-Match` overrides a failing
    /// `If-Unmodified-Since`, and a matching `If-None-Match` stops the
    /// request whatever `If-Modified-Since` says — AWS's documented pairs
    /// for GetObject and CopyObject alike.
    ///
    /// `now`: given for a copy, an `If-Modified-Since` after it is no
    /// condition. AWS's real answer differs from its documentation here:
    /// it copies despite a future `x-amz-copy-source-if-modified-since`
    /// (repost.aws, "copy object api copies data even if
    /// x-amz-copy-source-if-modified-since is false"), as RFC 9110 §13.1.3
    /// says of a date after the server's clock. A GET with a future
    /// `If-Modified-Since` stays 304, as S3 test suites expect (`None`).
    pub fn judge(&self, etag: &str, last_modified: i64, now: Option<i64>) -> Verdict {
        if let Some(list) = &self.if_match {
            if !etag_matches(list, etag) {
                return Verdict::Failed;
            }
        } else if let Some(t) = self.if_unmodified_since {
            if last_modified > t {
                return Verdict::Failed;
            }
        }
        if let Some(list) = &self.if_none_match {
            if etag_matches(list, etag) {
                return Verdict::NotModified;
            }
        } else if let Some(t) = self
            .if_modified_since
            .filter(|t| now.is_none_or(|now| *t <= now))
        {
            if last_modified <= t {
                return Verdict::NotModified;
            }
        }
        Verdict::Proceed
    }
}

/// A copy's source `src` under the copy's conditions, at `now`: 412
/// `PreconditionFailed` unless they hold (a copy has no 304: a matching
/// `x-amz-copy-source-if-none-match` is a failed precondition too).
pub fn check_copy_source(c: &Conditions, src: &ObjectRecord, now: i64) -> Result<(), ApiError> {
    match c.judge(&src.etag, src.last_modified, Some(now)) {
        Verdict::Proceed => Ok(()),
        Verdict::NotModified | Verdict::Failed => Err(ApiError::PreconditionFailed),
    }
}

/// Whether a comma-separated list of entity tags (`*`, weak or strong,
/// quoted or not) names `etag`.
fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t.trim_start_matches("W/").trim_matches('"') == etag
    })
}

/// An HTTP date (IMF-fixdate, as every S3 client sends) in unix seconds.
fn parse_http_date(v: &str) -> Option<i64> {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(v.trim(), &fmt)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETAG: &str = "9b2cf535f27731c974343645a3985328";
    /// Sat, 01 Jan 2022 00:00:00 GMT.
    const THEN: i64 = 1_640_995_200;
    const NOW: i64 = THEN + 86_400 * 365;

    fn copy(headers: &[(&str, &str)]) -> Conditions {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        Conditions::of_copy_source(&h)
    }

    const BEFORE: &str = "Fri, 31 Dec 2021 00:00:00 GMT";
    const AFTER: &str = "Sun, 02 Jan 2022 00:00:00 GMT";
    const FUTURE: &str = "Thu, 01 Jan 2099 00:00:00 GMT";

    #[test]
    fn each_condition_alone() {
        let quoted = format!("\"{ETAG}\"");
        let cases = [
            (vec![], Verdict::Proceed),
            (
                vec![("x-amz-copy-source-if-match", quoted.as_str())],
                Verdict::Proceed,
            ),
            (
                vec![("x-amz-copy-source-if-match", "\"other\"")],
                Verdict::Failed,
            ),
            (vec![("x-amz-copy-source-if-match", "*")], Verdict::Proceed),
            (
                vec![("x-amz-copy-source-if-none-match", quoted.as_str())],
                Verdict::NotModified,
            ),
            (
                vec![("x-amz-copy-source-if-none-match", "\"other\"")],
                Verdict::Proceed,
            ),
            (
                vec![("x-amz-copy-source-if-modified-since", BEFORE)],
                Verdict::Proceed,
            ),
            (
                vec![("x-amz-copy-source-if-modified-since", AFTER)],
                Verdict::NotModified,
            ),
            (
                vec![("x-amz-copy-source-if-unmodified-since", AFTER)],
                Verdict::Proceed,
            ),
            (
                vec![("x-amz-copy-source-if-unmodified-since", BEFORE)],
                Verdict::Failed,
            ),
        ];
        for (headers, want) in cases {
            assert_eq!(
                copy(&headers).judge(ETAG, THEN, Some(NOW)),
                want,
                "{headers:?}"
            );
        }
    }

    #[test]
    fn awss_documented_pairs() {
        let quoted = format!("\"{ETAG}\"");
        // If-Match true and If-Unmodified-Since false: copied.
        let c = copy(&[
            ("x-amz-copy-source-if-match", &quoted),
            ("x-amz-copy-source-if-unmodified-since", BEFORE),
        ]);
        assert_eq!(c.judge(ETAG, THEN, Some(NOW)), Verdict::Proceed);
        // If-None-Match false and If-Modified-Since true: refused.
        let c = copy(&[
            ("x-amz-copy-source-if-none-match", &quoted),
            ("x-amz-copy-source-if-modified-since", BEFORE),
        ]);
        assert_eq!(c.judge(ETAG, THEN, Some(NOW)), Verdict::NotModified);
    }

    #[test]
    fn a_future_or_unparsable_date_is_no_condition() {
        for date in [FUTURE, "2022-07-20", "yesterday"] {
            let c = copy(&[("x-amz-copy-source-if-modified-since", date)]);
            assert_eq!(c.judge(ETAG, THEN, Some(NOW)), Verdict::Proceed, "{date}");
        }
        // A read's future date stays a condition.
        let mut h = HeaderMap::new();
        h.insert("if-modified-since", FUTURE.parse().unwrap());
        let read = Conditions::of_read(&h);
        assert_eq!(read.judge(ETAG, THEN, None), Verdict::NotModified);
    }

    #[test]
    fn etag_lists_match_quoted_weak_and_star() {
        assert!(etag_matches("\"abc\"", "abc"));
        assert!(etag_matches("\"x\", W/\"abc\"", "abc"));
        assert!(etag_matches("*", "abc"));
        assert!(!etag_matches("\"abd\"", "abc"));
    }

    #[test]
    fn a_read_looks_at_the_plain_headers_only() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-copy-source-if-match", "\"other\"".parse().unwrap());
        assert_eq!(Conditions::of_read(&h), Conditions::default());
        h.insert("if-match", "\"other\"".parse().unwrap());
        assert_eq!(
            Conditions::of_read(&h).judge(ETAG, THEN, None),
            Verdict::Failed
        );
    }
}
