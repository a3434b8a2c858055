//! Step 1 of SigV4: the canonical request, S3 flavour.
//!
//! Owns: canonical URI, canonical query string, canonical headers, the signed-headers line and
//! their assembly into the canonical request text.
//! Must never: normalise the path (`.`, `..`, `//` are significant object-key bytes in S3),
//! encode the path twice, reorder or drop repeated header values, or touch keys or clocks.

use super::encode::{percent_decode, uri_encode, DecodeError};

/// Canonical URI for a path that is *not* encoded yet (what the signer holds): the path run
/// once through [`uri_encode`] with `/` kept. An empty path means `/`.
pub fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    uri_encode(path, false)
}

/// Canonical URI for a path as received on the wire: percent-decoded once, then encoded once
/// with [`canonical_uri`].
///
/// Decoding first is what makes `/a%24b` and `/a$b` (the same S3 key) canonicalise alike, and
/// stops an already-encoded path from being encoded a second time.
pub fn canonical_uri_from_raw(raw_path: &str) -> Result<String, DecodeError> {
    percent_decode(raw_path).map(|p| canonical_uri(&p))
}

/// Splits a raw query string (no leading `?`) into decoded `(key, value)` pairs in wire order.
///
/// A segment without `=` is a key with an empty value; empty segments (`a=1&&b=2`, a trailing
/// `&`) carry nothing and are skipped. `+` is kept literally, see [`percent_decode`].
pub fn parse_query(raw_query: &str) -> Result<Vec<(String, String)>, DecodeError> {
    raw_query
        .split('&')
        .filter(|seg| !seg.is_empty())
        .map(|seg| {
            let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

/// Canonical query string from *decoded* pairs: each key and value [`uri_encode`]d with `/`
/// encoded, sorted by encoded key then encoded value (byte order), joined as `k=v` with `&`.
/// An empty value still yields `k=`.
pub fn canonical_query<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (uri_encode(k.as_ref(), true), uri_encode(v.as_ref(), true)))
        .collect();
    // Sorting happens on the encoded form, as AWS specifies: it can differ from the decoded
    // order (e.g. `~` vs an escaped byte).
    encoded.sort_unstable();
    let mut out = String::with_capacity(encoded.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// One header value in canonical form: leading/trailing whitespace removed and every inner run
/// of spaces or tabs collapsed to a single space (AWS "Trimall"; tabs count because HTTP treats
/// them as the same optional whitespace, and the AWS SDKs collapse them too).
pub fn canonical_header_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for word in value.split([' ', '\t']).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Canonical headers block for the `signed` names (lowercase, in the order given, which must be
/// the sorted signed-headers order): one `name:value\n` line each.
///
/// Values of a repeated header are joined with `,` in the order they were received. A signed
/// header missing from `headers` contributes an empty value, so the signature simply won't
/// match rather than the request being silently re-scoped. Names in `headers` are compared
/// ASCII-case-insensitively.
pub fn canonical_headers<S, N, V>(signed: &[S], headers: &[(N, V)]) -> String
where
    S: AsRef<str>,
    N: AsRef<str>,
    V: AsRef<str>,
{
    let mut out = String::new();
    for name in signed {
        let name = name.as_ref();
        out.push_str(name);
        out.push(':');
        let values = headers
            .iter()
            .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| canonical_header_value(v.as_ref()));
        for (i, v) in values.enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&v);
        }
        out.push('\n');
    }
    out
}

/// The signed-headers line from header names: lowercased, sorted, de-duplicated, `;`-joined.
pub fn signed_headers_line<S: AsRef<str>>(names: &[S]) -> String {
    let mut names: Vec<String> = names
        .iter()
        .map(|n| n.as_ref().to_ascii_lowercase())
        .collect();
    names.sort_unstable();
    names.dedup();
    names.join(";")
}

/// Assembles the canonical request:
/// `METHOD\nURI\nQUERY\nHEADERS\nSIGNED_HEADERS\nPAYLOAD_HASH`, where `canonical_headers`
/// already ends every line with `\n` (hence the blank line before the signed-headers line).
pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    [
        method,
        canonical_uri,
        canonical_query,
        canonical_headers,
        signed_headers,
        payload_hash,
    ]
    .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_is_encoded_once_and_never_normalised() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/test$file.text"), "/test%24file.text");
        assert_eq!(canonical_uri("/a//b/./c/../d"), "/a//b/./c/../d");
        assert_eq!(
            canonical_uri_from_raw("/a%2520b/%E1%88%B4").as_deref(),
            Ok("/a%2520b/%E1%88%B4")
        );
        assert_eq!(
            canonical_uri_from_raw("/test%24file.text").as_deref(),
            Ok("/test%24file.text")
        );
        assert!(canonical_uri_from_raw("/bad%zz").is_err());
    }

    #[test]
    fn query_sorted_by_encoded_key_then_value() {
        let q = parse_query("b=2&a=z&a=y&flag&&c=%2F%20").expect("valid");
        assert_eq!(canonical_query(&q), "a=y&a=z&b=2&c=%2F%20&flag=");
        assert_eq!(canonical_query::<&str, &str>(&[]), "");
    }

    #[test]
    fn header_values_trimmed_collapsed_and_joined() {
        assert_eq!(canonical_header_value("  \"a   b \t c\"  "), "\"a b c\"");
        let headers = [("Host", "h"), ("x-a", " 1 "), ("x-a", "2")];
        assert_eq!(
            canonical_headers(&["host", "x-a", "x-missing"], &headers),
            "host:h\nx-a:1,2\nx-missing:\n"
        );
        assert_eq!(signed_headers_line(&["X-A", "host", "x-a"]), "host;x-a");
    }

    use super::super::encode::percent_decode;
    use proptest::prelude::*;

    /// Decoded query pairs: any UTF-8, empty keys and values included.
    fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
        proptest::collection::vec((any::<String>(), any::<String>()), 0..8)
    }

    /// What a client might put after `?`: mostly query-ish bytes, escapes
    /// (good and broken) and separators.
    fn wire_query() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "([a-zA-Z0-9=&+~._-]|%[0-9a-fA-F]{0,2}|%[c-fC-F][0-9a-fA-F]%[0-9a-fA-F]{2}){0,40}",
        ]
    }

    proptest! {
        #![proptest_config(crate::testing::config(10000))]

        /// Garbage gives a result, never a panic; whatever parses has no
        /// escapes left to undo (a second decode of a key would differ only
        /// if it had been decoded twice), and re-encoding what was decoded
        /// parses back to the same pairs.
        #[test]
        fn prop_parse_query_never_panics_and_reencodes(raw in wire_query()) {
            if let Ok(params) = parse_query(&raw) {
                let segments = raw.split('&').filter(|s| !s.is_empty()).count();
                prop_assert_eq!(params.len(), segments);
                let rendered: Vec<String> = params
                    .iter()
                    .map(|(k, v)| format!("{}={}", uri_encode(k, true), uri_encode(v, true)))
                    .collect();
                prop_assert_eq!(parse_query(&rendered.join("&")), Ok(params));
            } else {
                // Only a malformed escape or non-UTF-8 bytes are refused.
                prop_assert!(raw.contains('%'));
            }
        }

        /// render → parse is the identity on decoded pairs (wire order kept).
        #[test]
        fn prop_query_render_parse_round_trip(params in pairs()) {
            let raw: Vec<String> = params
                .iter()
                .map(|(k, v)| format!("{}={}", uri_encode(k, true), uri_encode(v, true)))
                .collect();
            let parsed = parse_query(&raw.join("&"));
            // `=` with an empty key and value is the one segment that is not
            // empty on the wire but carries nothing: it still round-trips.
            prop_assert_eq!(parsed, Ok(params));
        }

        /// The canonical query is a fixed point: parsing it and
        /// canonicalising again changes nothing, and it holds the same pairs
        /// as its input, sorted.
        #[test]
        fn prop_canonical_query_is_stable(params in pairs()) {
            let canonical = canonical_query(&params);
            let reparsed = parse_query(&canonical).expect("canonical form parses");
            prop_assert_eq!(canonical_query(&reparsed), canonical.clone());
            let mut a = params.clone();
            let mut b = reparsed;
            a.sort();
            b.sort();
            prop_assert_eq!(a, b);
        }

        /// Canonical URIs: encoding is idempotent through the wire form,
        /// whatever the path (dot segments and `//` kept).
        #[test]
        fn prop_canonical_uri_from_raw_round_trip(path in any::<String>()) {
            let wire = canonical_uri(&path);
            prop_assert_eq!(canonical_uri_from_raw(&wire), Ok(wire.clone()));
            if !path.is_empty() {
                prop_assert_eq!(percent_decode(&wire), Ok(path));
            }
        }
    }
}
