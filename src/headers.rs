//! Formatting of HTTP header values shared by the API and the index.
//!
//! Owns making client-supplied text (file names) safe inside a header; it
//! must never let such text end or extend the header it sits in.

/// `attachment` with an ASCII fallback name (quotes, backslashes and
/// anything outside printable ASCII replaced) and the exact UTF-8 name as
/// RFC 5987 `filename*`, so no file name can break out of the header.
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, RFC5987).to_string();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// Everything but RFC 5987 attr-chars is percent-encoded.
const RFC5987: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// Unix seconds as an HTTP date (`Last-Modified`); `None` outside the
/// years a header can carry.
pub fn http_date(unix: i64) -> Option<http::HeaderValue> {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let s = time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()?
        .format(&fmt)
        .ok()?;
    http::HeaderValue::from_str(&s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn content_disposition_cannot_be_broken_out_of() {
        let v = content_disposition("a\"b\\c;d ü.png");
        assert_eq!(
            v,
            "attachment; filename=\"a_b_c;d _.png\"; filename*=UTF-8''a%22b%5Cc%3Bd%20%C3%BC.png"
        );
        assert!(HeaderValue::from_str(&v).is_ok());
    }
}
