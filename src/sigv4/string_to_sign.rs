//! Step 2 of SigV4: the string to sign, plus the date and scope texts it is built from.
//!
//! Owns: `AWS4-HMAC-SHA256\n<amz-date>\n<scope>\n<hex sha256(canonical request)>`, the
//! streaming-chunk variant, the `yyyymmddThhmmssZ` date format and the credential scope.
//! Must never: read the clock (callers pass the time in), accept a date that is not exactly
//! `yyyymmddThhmmssZ`, or know anything about keys.

use sha2::{Digest, Sha256};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// The only signing algorithm this module speaks.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Algorithm line of a streaming (`aws-chunked`) chunk's string to sign.
pub const CHUNK_ALGORITHM: &str = "AWS4-HMAC-SHA256-PAYLOAD";

/// Payload hash used when the body is not covered by the signature (presigned URLs).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Payload hash announcing a chunk-signed (`aws-chunked`) body.
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";

/// Payload hash announcing a chunk-signed body followed by signed trailing headers.
pub const STREAMING_PAYLOAD_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";

/// Payload hash announcing an unsigned `aws-chunked` body followed by trailing headers.
pub const STREAMING_UNSIGNED_PAYLOAD_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// Algorithm line of the trailing-headers string to sign.
pub const TRAILER_ALGORITHM: &str = "AWS4-HMAC-SHA256-TRAILER";

/// Hex SHA-256 of the empty string (used in every chunk's string to sign).
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The terminator of every credential scope.
pub const SCOPE_TERMINATOR: &str = "aws4_request";

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `yyyymmddThhmmssZ` of `t` converted to UTC (the `X-Amz-Date` format).
pub fn format_amz_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `yyyymmdd` of `t` converted to UTC (the date in a credential scope).
pub fn format_date_stamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day())
}

/// Parses exactly `yyyymmddThhmmssZ` (UTC). Anything else, including signs, spaces, other
/// lengths or impossible calendar values, is `None`.
pub fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    let month = Month::try_from(u8::try_from(digits(4..6)?).ok()?).ok()?;
    let day = u8::try_from(digits(6..8)?).ok()?;
    let hour = u8::try_from(digits(9..11)?).ok()?;
    let minute = u8::try_from(digits(11..13)?).ok()?;
    let second = u8::try_from(digits(13..15)?).ok()?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms(hour, minute, second).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// Credential scope `yyyymmdd/region/service/aws4_request`.
pub fn credential_scope(yyyymmdd: &str, region: &str, service: &str) -> String {
    format!("{yyyymmdd}/{region}/{service}/{SCOPE_TERMINATOR}")
}

/// The string to sign for a request:
/// `AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256 of canonical_request>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let hash = sha256_hex(canonical_request.as_bytes());
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{hash}")
}

/// The string to sign for one chunk of an `aws-chunked` upload, one item per line:
/// `AWS4-HMAC-SHA256-PAYLOAD`, `<amz_date>`, `<scope>`, `<previous signature>`,
/// `<hex sha256 of "">`, `<hex sha256 of the chunk data>`.
///
/// `previous_signature` is the seed (header) signature for the first chunk, then each chunk's
/// own signature; chaining them is what stops chunks from being reordered or dropped.
pub fn chunk_string_to_sign(
    amz_date: &str,
    scope: &str,
    previous_signature: &str,
    chunk_sha256_hex: &str,
) -> String {
    [
        CHUNK_ALGORITHM,
        amz_date,
        scope,
        previous_signature,
        EMPTY_SHA256,
        chunk_sha256_hex,
    ]
    .join("\n")
}

/// The string to sign for the trailing headers of an `aws-chunked` upload, one item per line:
/// `AWS4-HMAC-SHA256-TRAILER`, `<amz_date>`, `<scope>`, `<signature of the final 0-size chunk>`,
/// `<hex sha256 of the canonical trailers>`, where the canonical trailers are
/// `name:value\n` for each trailing header (lowercase names, sorted, without the
/// `x-amz-trailer-signature` line itself).
pub fn trailer_string_to_sign(
    amz_date: &str,
    scope: &str,
    previous_signature: &str,
    canonical_trailers: &str,
) -> String {
    [
        TRAILER_ALGORITHM,
        amz_date,
        scope,
        previous_signature,
        &sha256_hex(canonical_trailers.as_bytes()),
    ]
    .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn amz_date_round_trips_in_utc() {
        let t = datetime!(2015-08-30 12:36:00 UTC);
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        assert_eq!(format_date_stamp(t), "20150830");
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(t));
        // Offsets are normalised to UTC before formatting.
        let shifted = datetime!(2015-08-30 14:36:00 +02:00);
        assert_eq!(format_amz_date(shifted), "20150830T123600Z");
    }

    #[test]
    fn amz_date_parse_is_strict() {
        for bad in [
            "",
            "20150830T123600",
            "20150830 123600Z",
            "2015-08-30T12:36:00Z",
            "20150830T123600z",
            "20151330T123600Z",
            "20150230T123600Z",
            "20150830T243600Z",
            "+0150830T123600Z",
            "2015083OT123600Z",
            "20150830T123600ZZ",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad:?} must be rejected");
        }
    }

    #[test]
    fn string_to_sign_layout() {
        let scope = credential_scope("20150830", "us-east-1", "service");
        assert_eq!(scope, "20150830/us-east-1/service/aws4_request");
        assert_eq!(
            string_to_sign("20150830T123600Z", &scope, ""),
            format!("AWS4-HMAC-SHA256\n20150830T123600Z\n{scope}\n{EMPTY_SHA256}")
        );
        assert_eq!(sha256_hex(b""), EMPTY_SHA256);
    }
}
