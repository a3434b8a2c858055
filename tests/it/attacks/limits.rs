//! Limits an attacker runs into: how long a signed URL may live, how many
//! failed authentications one client may make (and only that client, even
//! behind the shipped proxy), and how long an unauthenticated form may take
//! to reach its signature.

use super::*;

/// Objects stored under any key in any bucket (`bucket/key`).
fn objects(g: &Gateway) -> Vec<String> {
    g.index_rows("SELECT bucket || '/' || key FROM objects")
}

/// Finding 10: a SigV2 query URL that expires a century from now would be a
/// credential nobody can withdraw short of rotating the key. It is refused
/// like a SigV4 URL of more than 7 days, and a PUT through it stores
/// nothing; the same URL signed for a minute works.
#[test]
fn a_sigv2_url_valid_for_a_century_is_refused() {
    let g = Gateway::start("", "");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let century = now + 100 * 365 * 86_400;
    let url = g.v2_presigned(&g.main, "PUT", "/uploads/forever", &[], century);
    let r = g.send("PUT", &url, &[], b"kept for ever");
    let why = r.assert_s3_error(403, "AccessDenied");
    assert!(why.contains("at most 7 days"), "{why}");
    assert!(!r.body.contains("Signature="), "{}", r.body);
    assert_eq!(objects(&g), Vec::<String>::new());
    // A GET through such a URL is refused as well.
    let url = g.v2_presigned(&g.main, "GET", "/uploads/forever", &[], century);
    g.send("GET", &url, &[], b"")
        .assert_s3_error(403, "AccessDenied");
    // The refusal is the lifetime's: a short-lived URL for the same PUT works.
    let url = g.v2_presigned(&g.main, "PUT", "/uploads/forever", &[], now + 60);
    assert_eq!(g.send("PUT", &url, &[], b"a minute").status, 200);
    assert_eq!(objects(&g), vec!["uploads/forever".to_string()]);
}
