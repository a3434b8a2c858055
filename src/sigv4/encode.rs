//! Percent-encoding as SigV4 defines it (`UriEncode`) and the strict inverse used on what a
//! client sent.
//!
//! Owns: the exact set of bytes left unencoded (A-Z a-z 0-9 `-` `.` `_` `~`, plus `/` when asked)
//! and rejecting malformed input while decoding.
//! Must never: lowercase hex digits, encode a space as `+`, decode `+` as a space, or accept a
//! malformed `%` escape or invalid UTF-8 silently (a lenient decoder would let two different wire
//! forms canonicalise to the same bytes the client never signed).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Every byte except the RFC 3986 unreserved characters.
const ENCODE_ALL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// As [`ENCODE_ALL`] but keeps `/`, for object paths.
const ENCODE_KEEP_SLASH: &AsciiSet = &ENCODE_ALL.remove(b'/');

/// AWS `UriEncode`: leaves `A-Z a-z 0-9 - . _ ~` as they are, leaves `/` as it is iff
/// `encode_slash` is false, and writes every other UTF-8 byte as `%XX` with uppercase hex.
pub fn uri_encode(input: &str, encode_slash: bool) -> String {
    let set = if encode_slash {
        ENCODE_ALL
    } else {
        ENCODE_KEEP_SLASH
    };
    // percent-encoding always emits uppercase hex, which is what SigV4 requires.
    utf8_percent_encode(input, set).to_string()
}

/// Why a percent-encoded string could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A `%` not followed by two hex digits.
    #[error("malformed percent-escape")]
    MalformedEscape,
    /// The decoded bytes are not UTF-8.
    #[error("percent-decoded bytes are not valid UTF-8")]
    InvalidUtf8,
}

/// Strictly decodes `%XX` escapes (either hex case). `+` stays `+`: SigV4 clients encode a space
/// as `%20`, so treating `+` as a space would make us canonicalise something nobody signed.
pub fn percent_decode(s: &str) -> Result<String, DecodeError> {
    // Fast path: nothing to decode, and the input is already valid UTF-8.
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).and_then(|b| hex_value(*b));
            let lo = bytes.get(i + 2).and_then(|b| hex_value(*b));
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err(DecodeError::MalformedEscape),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError::InvalidUtf8)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_bytes_pass_through() {
        let s = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        assert_eq!(uri_encode(s, true), s);
    }

    #[test]
    fn slash_depends_on_flag() {
        assert_eq!(uri_encode("/a/b", false), "/a/b");
        assert_eq!(uri_encode("/a/b", true), "%2Fa%2Fb");
    }

    #[test]
    fn reserved_and_utf8_bytes_are_uppercase_escapes() {
        assert_eq!(uri_encode("a b+c=d&e$f*", true), "a%20b%2Bc%3Dd%26e%24f%2A");
        assert_eq!(uri_encode("ሴ", true), "%E1%88%B4");
        assert_eq!(uri_encode("%", true), "%25");
    }

    #[test]
    fn decode_is_strict_inverse() {
        assert_eq!(percent_decode("%E1%88%b4=%20+").as_deref(), Ok("ሴ= +"));
        assert_eq!(percent_decode("plain").as_deref(), Ok("plain"));
        assert_eq!(percent_decode("%4"), Err(DecodeError::MalformedEscape));
        assert_eq!(percent_decode("%zz"), Err(DecodeError::MalformedEscape));
        assert_eq!(percent_decode("%FF"), Err(DecodeError::InvalidUtf8));
        let odd = "a/b c~ሴ%+";
        assert_eq!(percent_decode(&uri_encode(odd, true)).as_deref(), Ok(odd));
    }
}
