//! Authorization reads what the handler executes: copy sources, form
//! buckets and subresources behind percent-encoding, and anonymous reads.

use super::*;

/// The fixture itself: every signing scheme it offers is accepted for a
/// plain request, so a refusal in the tests below is the attack's.
#[test]
fn the_fixture_signs_every_way() {
    let g = Gateway::start("", "");
    let m = &g.main;
    assert_eq!(g.v4(m, "PUT", "/fixture", "", &[], b"").status, 200);
    assert_eq!(g.v4(m, "PUT", "/fixture/a", "", &[], b"v4").status, 200);
    assert_eq!(g.v2(m, "PUT", "/fixture/b", "", &[], b"v2").status, 200);
    let url = g.v4_presigned(m, "GET", "/fixture/a", &[], 60);
    let r = g.send("GET", &url, &[], b"");
    assert_eq!((r.status, r.body.as_str()), (200, "v4"));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let url = g.v2_presigned(m, "GET", "/fixture/b", &[], now + 60);
    let r = g.send("GET", &url, &[], b"");
    assert_eq!((r.status, r.body.as_str()), (200, "v2"));
    let other = g.new_key("other");
    g.v4(&other, "GET", "/fixture/a", "", &[], b"")
        .assert_s3_error(403, "AccessDenied");
}
