//! HTTP dates as clients put them in `Date` / `x-amz-date` headers (RFC 9110 §5.6.7, the RFC 2616
//! formats S3 accepts for SigV2 and for a SigV4 request that has no `x-amz-date`).
//!
//! Owns: parsing IMF-fixdate / RFC 1123 (`Tue, 27 Mar 2007 19:36:42 GMT`, also with a numeric
//! offset such as `+0000` as the S3 SigV2 examples use), RFC 850 (`Tuesday, 27-Mar-07 19:36:42
//! GMT`) and asctime (`Tue Mar 27 19:36:42 2007`) into a UTC instant.
//! Must never: read the clock, guess a date from a malformed value (anything unexpected is
//! `None`), or panic on any input.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Parses an HTTP date in any of the three RFC 2616 forms. Returns `None` for anything else.
pub fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if s.contains(',') {
        let (_weekday, rest) = s.split_once(',')?;
        let rest = rest.trim_start();
        if rest.contains('-') && rest.split_whitespace().next()?.contains('-') {
            parse_rfc850(rest)
        } else {
            parse_rfc1123(rest)
        }
    } else {
        parse_asctime(s)
    }
}

/// Exactly `N` items, or `None` for fewer or more.
fn fields<'a, const N: usize>(mut it: impl Iterator<Item = &'a str>) -> Option<[&'a str; N]> {
    let mut out = [""; N];
    for slot in &mut out {
        *slot = it.next()?;
    }
    it.next().is_none().then_some(out)
}

/// `27 Mar 2007 19:36:42 GMT` (weekday already removed); the zone may also be `UT`, `UTC`, `Z`
/// or `±hhmm`.
fn parse_rfc1123(s: &str) -> Option<OffsetDateTime> {
    let [day, month, year, clock, zone] = fields(s.split_whitespace())?;
    let year = digits(year, 4, 4)?;
    build(year, month, day, clock, zone)
}

/// `27-Mar-07 19:36:42 GMT` (weekday already removed). Two-digit years are 1970–2069.
fn parse_rfc850(s: &str) -> Option<OffsetDateTime> {
    let [date, clock, zone] = fields(s.split_whitespace())?;
    let [day, month, year] = fields(date.split('-'))?;
    let yy = digits(year, 2, 2)?;
    let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
    build(year, month, day, clock, zone)
}

/// `Tue Mar 27 19:36:42 2007` (always UTC).
fn parse_asctime(s: &str) -> Option<OffsetDateTime> {
    let [_weekday, month, day, clock, year] = fields(s.split_whitespace())?;
    let year = digits(year, 4, 4)?;
    build(year, month, day, clock, "GMT")
}

fn build(year: u32, month: &str, day: &str, clock: &str, zone: &str) -> Option<OffsetDateTime> {
    let month = month_from_abbrev(month)?;
    let day = u8::try_from(digits(day, 1, 2)?).ok()?;
    let mut hms = clock.split(':');
    let (Some(h), Some(m), Some(sec), None) = (hms.next(), hms.next(), hms.next(), hms.next())
    else {
        return None;
    };
    let hour = u8::try_from(digits(h, 2, 2)?).ok()?;
    let minute = u8::try_from(digits(m, 2, 2)?).ok()?;
    let second = u8::try_from(digits(sec, 2, 2)?).ok()?;
    let date = Date::from_calendar_date(i32::try_from(year).ok()?, month, day).ok()?;
    let time = Time::from_hms(hour, minute, second).ok()?;
    let offset = parse_zone(zone)?;
    Some(
        PrimitiveDateTime::new(date, time)
            .assume_offset(offset)
            .to_offset(UtcOffset::UTC),
    )
}

fn parse_zone(zone: &str) -> Option<UtcOffset> {
    match zone {
        "GMT" | "UT" | "UTC" | "Z" => return Some(UtcOffset::UTC),
        _ => {}
    }
    let b = zone.as_bytes();
    // ASCII only, so the byte slices below are on char boundaries.
    if b.len() != 5 || !zone.is_ascii() {
        return None;
    }
    let sign: i8 = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours = i8::try_from(digits(&zone[1..3], 2, 2)?).ok()?;
    let minutes = i8::try_from(digits(&zone[3..5], 2, 2)?).ok()?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()
}

fn month_from_abbrev(m: &str) -> Option<Month> {
    const NAMES: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let idx = NAMES.iter().position(|n| n.eq_ignore_ascii_case(m))?;
    Month::try_from(u8::try_from(idx + 1).ok()?).ok()
}

/// An unsigned decimal of `min..=max` ASCII digits.
fn digits(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_three_rfc_2616_forms() {
        let t = datetime!(2007-03-27 19:36:42 UTC);
        assert_eq!(parse_http_date("Tue, 27 Mar 2007 19:36:42 GMT"), Some(t));
        assert_eq!(parse_http_date("Tue, 27 Mar 2007 19:36:42 +0000"), Some(t));
        assert_eq!(parse_http_date("Tue, 27 Mar 2007 21:36:42 +0200"), Some(t));
        assert_eq!(parse_http_date("Tuesday, 27-Mar-07 19:36:42 GMT"), Some(t));
        assert_eq!(parse_http_date("Tue Mar 27 19:36:42 2007"), Some(t));
        assert_eq!(
            parse_http_date("Fri, 24 May 2013 00:00:00 GMT"),
            Some(datetime!(2013-05-24 00:00:00 UTC))
        );
    }

    #[test]
    fn malformed_dates_are_none() {
        for bad in [
            "",
            "20130524T000000Z",
            "Tue, 27 Mar 2007 19:36:42",
            "Tue, 27 Foo 2007 19:36:42 GMT",
            "Tue, 32 Mar 2007 19:36:42 GMT",
            "Tue, 27 Mar 2007 24:36:42 GMT",
            "Tue, 27 Mar 2007 19:36:42 +9999",
            "Tue, 27 Mar 2007 19:36:42 GMT extra",
            "Tue, 27 Mar +007 19:36:42 GMT",
            ",,,",
            "ሴ, 27 Mar 2007 19:36:42 ሴሴ",
            "Tue, 27 Mar 2007 19:36:42 +ሴa",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }
}
