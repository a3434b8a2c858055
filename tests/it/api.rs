//! The JSON API: presign validation, auth and scopes, the 201/200/409
//! answers, complete, metadata, health and the sweep.

use serde_json::json;

use crate::harness::*;
use crate::topology;

const PRESIGN: &str = "/api/inspect/v1/file/upload/presigned";
const COMPLETE: &str = "/api/inspect/v1/file/upload/complete";

#[test]
fn presign_returns_a_sigv4_url_bound_to_the_declaration() {
    let s = TestServer::start();
    let f = TestFile::new(1000);
    let r = s.presign(&f);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["data"]["id"], f.id.as_str());
    let url = v["data"]["presignedURL"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/uploads/{}?", s.base, f.id)),
        "{url}"
    );
    for p in [
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "X-Amz-Credential=",
        "%2Fus-east-1%2Fs3%2Faws4_request",
        "X-Amz-Date=",
        "X-Amz-Expires=900",
        "X-Amz-SignedHeaders=content-type%3Bhost",
        &format!("X-Stowage-Sha256={}", hex::encode(f.sha256())),
        "X-Stowage-Size=1000",
        "X-Amz-Signature=",
    ] {
        assert!(url.contains(p), "{p} missing in {url}");
    }
    assert_eq!(s.status_of(&f.id), "pending");
}

#[test]
fn every_invalid_field_is_a_400_naming_the_field() {
    let s = TestServer::start_with("[upload]\nmax_size = 1000");
    let f = TestFile::new(10);
    let cases: Vec<(&str, serde_json::Value)> = vec![
        ("id", json!("12345")),
        ("id", json!(42)),
        ("contentType", json!("png")),
        ("contentType", json!("image/png\r\nX-Evil: 1")),
        ("hash", json!("not base64!")),
        ("hash", json!("AAAA")),
        ("fileName", json!("")),
        ("fileName", json!("a\u{0007}b.png")),
        ("fileName", json!("n".repeat(256))),
        ("size", json!(-1)),
        ("size", json!("10")),
        ("size", json!(1001)),
    ];
    for (field, value) in cases {
        let mut body = f.declaration();
        body[field] = value.clone();
        let r = s.post_json(PRESIGN, &body);
        let d = r.assert_json_error(400, "BadRequest");
        assert!(d.contains(&format!("`{field}`")), "{field}={value}: {d}");
    }
    // Missing fields, one at a time.
    for field in ["id", "contentType", "hash", "fileName", "size"] {
        let mut body = f.declaration();
        body.as_object_mut().unwrap().remove(field);
        let d = s
            .post_json(PRESIGN, &body)
            .assert_json_error(400, "BadRequest");
        assert!(d.contains(&format!("`{field}`")), "{field}: {d}");
    }
    // Not JSON, not an object.
    let d = s
        .post_raw(PRESIGN, "{nope", Some(&s.token))
        .assert_json_error(400, "BadRequest");
    assert!(d.contains("JSON"), "{d}");
    let d = s
        .post_raw(PRESIGN, "[1,2]", Some(&s.token))
        .assert_json_error(400, "BadRequest");
    assert!(d.contains("object"), "{d}");
    // None of it created a row.
    assert_eq!(s.file(&f.id).status, 404);
}

#[test]
fn name_is_accepted_as_alias_of_file_name() {
    let s = TestServer::start();
    let f = TestFile::new(10);
    let mut body = f.declaration();
    let name = body.as_object_mut().unwrap().remove("fileName").unwrap();
    body["name"] = name;
    assert_eq!(s.post_json(PRESIGN, &body).status, 201);
    assert_eq!(s.file(&f.id).json()["data"]["fileName"], f.name.as_str());
}

#[test]
fn oversized_body_is_413() {
    let s = TestServer::start();
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024));
    s.post_raw(PRESIGN, &big, Some(&s.token))
        .assert_json_error(413, "PayloadTooLarge");
}

#[test]
fn tokens_and_scopes_are_enforced() {
    let s = TestServer::start();
    let f = TestFile::new(10);
    let body = f.declaration().to_string();
    let r = s.post_raw(PRESIGN, &body, None);
    r.assert_json_error(401, "Unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    s.post_raw(PRESIGN, &body, Some("stw_unknown"))
        .assert_json_error(401, "Unauthorized");
    let malformed = Resp::from(
        ureq::post(&s.url(PRESIGN))
            .set("Authorization", "Basic dXNlcjpwYXNz")
            .send_string(&body),
    );
    malformed.assert_json_error(401, "Unauthorized");

    let now = 0;
    let rt = s.rt.as_ref().unwrap();
    let create = |name: &str, scope: &str| {
        rt.block_on(stowage::tokens::create(
            &s.app.storage,
            name,
            &[scope.into()],
            now,
        ))
        .unwrap()
    };
    let reader = create("reader", "read");
    let d = s
        .post_raw(PRESIGN, &body, Some(&reader))
        .assert_json_error(403, "Forbidden");
    assert!(d.contains("upload"), "{d}");
    let uploader = create("uploader", "upload");
    assert_eq!(s.post_raw(PRESIGN, &body, Some(&uploader)).status, 201);
    s.get_api(&format!("/api/inspect/v1/file/{}", f.id), Some(&uploader))
        .assert_json_error(403, "Forbidden");
    assert_eq!(
        s.get_api(&format!("/api/inspect/v1/file/{}", f.id), Some(&reader))
            .status,
        200
    );
    // Revocation takes effect at once.
    assert!(rt
        .block_on(s.app.storage.revoke_token("uploader", 1))
        .unwrap());
    s.post_raw(PRESIGN, &body, Some(&uploader))
        .assert_json_error(401, "Unauthorized");
    // Tokens never appear in what the server says.
    assert!(!s
        .post_raw(PRESIGN, &body, Some(&uploader))
        .body
        .contains(&uploader));
}

#[test]
fn repeat_presign_while_pending_issues_a_fresh_url() {
    let s = TestServer::start();
    let f = TestFile::new(10);
    let a = s.presign_url(&f);
    s.clock.advance(2);
    let b = s.presign_url(&f);
    assert_ne!(a, b);
    assert_eq!(put(&b, "image/png", &f.bytes).status, 200);
}

#[test]
fn re_presign_while_pending_takes_the_corrected_file_name() {
    let s = TestServer::start();
    let mut f = TestFile::new(10);
    s.presign_url(&f);
    f.name = "corrected.png".into();
    s.presign_url(&f);
    assert_eq!(s.file(&f.id).json()["data"]["fileName"], "corrected.png");
}

#[test]
fn presign_of_a_stored_file_is_200_without_url() {
    let s = TestServer::start();
    let f = TestFile::new(100);
    let url = s.presign_url(&f);
    assert_eq!(put(&url, "image/png", &f.bytes).status, 200);
    let r = s.presign(&f);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"data": {"id": f.id}}));
}

#[test]
fn reusing_an_id_for_another_file_is_409_naming_the_difference() {
    let s = TestServer::start();
    let f = TestFile::new(100);
    s.presign_url(&f);
    let mut other = TestFile::new(100);
    other.id = f.id.clone();
    let d = s.presign(&other).assert_json_error(409, "Conflict");
    assert!(d.contains("hash"), "{d}");
    let mut typed = f.clone();
    typed.content_type = "image/jpeg".into();
    let d = s.presign(&typed).assert_json_error(409, "Conflict");
    assert!(d.contains("contentType"), "{d}");
    // Also after upload.
    assert_eq!(put(&s.presign_url(&f), "image/png", &f.bytes).status, 200);
    s.presign(&other).assert_json_error(409, "Conflict");
}

#[test]
fn dedupe_links_a_new_id_to_stored_bytes() {
    let s = TestServer::start();
    let f = TestFile::new(5000);
    assert_eq!(put(&s.presign_url(&f), "image/png", &f.bytes).status, 200);
    let mut again = f.clone();
    again.id = uuid::Uuid::new_v4().to_string();
    again.name = "copy.png".into();
    let r = s.presign(&again);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["data"].get("presignedURL").is_none());
    assert_eq!(s.status_of(&again.id), "uploaded");
    assert_eq!(s.blobs().len(), 1);
    // Completing and downloading the linked id gives the same bytes with
    // its own name.
    let c = s.complete(&again.id);
    assert_eq!(c.status, 200, "{}", c.body);
    let url = c.json()["data"]["downloadURL"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, headers, body) = get(&url);
    assert_eq!(status, 200);
    assert_eq!(body, f.bytes);
    let cd = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-disposition"))
        .unwrap();
    assert!(cd.1.contains("copy.png"), "{cd:?}");
}

#[test]
fn without_dedupe_the_same_bytes_need_an_upload() {
    let s = TestServer::start_with("[upload]\ndedupe = false");
    let f = TestFile::new(500);
    assert_eq!(put(&s.presign_url(&f), "image/png", &f.bytes).status, 200);
    let mut again = f.clone();
    again.id = uuid::Uuid::new_v4().to_string();
    assert_eq!(s.presign(&again).status, 201);
}

#[test]
fn complete_is_idempotent_and_explains_refusals() {
    let s = TestServer::start();
    let unknown = uuid::Uuid::new_v4().to_string();
    s.complete(&unknown).assert_json_error(404, "NotFound");
    s.post_json(COMPLETE, &json!({"id": "nope"}))
        .assert_json_error(400, "BadRequest");
    s.post_json(COMPLETE, &json!({}))
        .assert_json_error(400, "BadRequest");

    let f = TestFile::new(300);
    let url = s.presign_url(&f);
    let d = s.complete(&f.id).assert_json_error(409, "Conflict");
    assert!(d.contains("PUT"), "{d}");
    assert_eq!(s.status_of(&f.id), "pending");

    assert_eq!(put(&url, "image/png", &f.bytes).status, 200);
    let first = s.complete(&f.id);
    assert_eq!(first.status, 200, "{}", first.body);
    let data = &first.json()["data"];
    assert_eq!(data["status"], "completed");
    assert_eq!(data["id"], f.id.as_str());
    assert_eq!(data["fileName"], "photo.png");
    assert_eq!(data["contentType"], "image/png");
    assert_eq!(data["size"], 300);
    assert_eq!(data["hash"], f.hash_b64().as_str());
    assert!(data["uploadedAt"].as_str().unwrap().ends_with('Z'));
    let second = s.complete(&f.id);
    assert_eq!(second.status, 200);
    assert_eq!(
        second.json()["data"]["completedAt"],
        first.json()["data"]["completedAt"]
    );
}

#[test]
fn metadata_tracks_status_and_offers_download_only_when_completed() {
    let s = TestServer::start();
    let f = TestFile::new(64);
    let url = s.presign_url(&f);
    let m = s.file(&f.id).json();
    assert_eq!(m["data"]["status"], "pending");
    assert!(m["data"].get("downloadURL").is_none());
    assert_eq!(put(&url, "image/png", &f.bytes).status, 200);
    let m = s.file(&f.id).json();
    assert_eq!(m["data"]["status"], "uploaded");
    assert!(m["data"].get("downloadURL").is_none());
    s.complete(&f.id);
    let m = s.file(&f.id).json();
    assert_eq!(m["data"]["status"], "completed");
    assert!(m["data"]["downloadURL"]
        .as_str()
        .unwrap()
        .contains("X-Amz-SignedHeaders=host"));
    s.file("not-a-uuid").assert_json_error(400, "BadRequest");
    s.file(&uuid::Uuid::new_v4().to_string())
        .assert_json_error(404, "NotFound");
}

#[test]
fn unknown_routes_and_methods_are_explained() {
    let s = TestServer::start();
    s.get_api("/api/inspect/v1/nothing", Some(&s.token))
        .assert_json_error(404, "NotFound");
    let r = s.get_api(PRESIGN, Some(&s.token));
    assert_eq!(r.status, 405, "{}", r.body);
}

#[test]
fn healthz_reports_ok() {
    let s = TestServer::start();
    let r = s.get_api("/healthz", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
}

#[test]
fn every_response_carries_a_request_id() {
    let s = TestServer::start();
    let a = s.get_api("/healthz", None);
    let b = s.get_api("/healthz", None);
    let (ia, ib) = (
        a.header("x-request-id").unwrap(),
        b.header("x-request-id").unwrap(),
    );
    assert_eq!(ia.len(), 16);
    assert_ne!(ia, ib);
    assert_eq!(a.header("x-amz-request-id"), Some(ia));
}

#[test]
fn sweep_removes_expired_pending_rows_and_orphan_temp_files() {
    let s = TestServer::start();
    let stale = TestFile::new(10);
    s.presign_url(&stale);
    let stored = TestFile::new(10);
    assert_eq!(
        put(&s.presign_url(&stored), "image/png", &stored.bytes).status,
        200
    );
    // A temp file of the local store no upload owns (a cluster run's
    // gateways stage bytes upstream instead: cluster::faults covers the
    // uploads a killed gateway left there).
    let orphan = (!topology::cluster()).then(|| {
        let orphan = s.data_dir.join("tmp").join("left-over.part");
        std::fs::write(&orphan, b"junk").unwrap();
        orphan
    });

    // Within the grace hour after expiry nothing goes.
    s.clock.advance(900 + 1800);
    s.sweep();
    assert_eq!(s.status_of(&stale.id), "pending");
    if let Some(orphan) = orphan {
        assert!(!orphan.exists(), "temp file no upload owns was kept");
    }

    s.clock.advance(3600);
    s.sweep();
    s.file(&stale.id).assert_json_error(404, "NotFound");
    assert_eq!(s.status_of(&stored.id), "uploaded");
    assert_eq!(s.blobs().len(), 1);
}

#[test]
fn relaxed_storage_still_verifies_and_serves() {
    // `[storage] fsync = false` skips fsyncs, never checks.
    let s = TestServer::start_with("[storage]\nfsync = false");
    let f = TestFile::new(3000);
    let url = s.presign_url(&f);
    assert_eq!(put(&url, "image/png", &f.bytes).status, 200);
    let f2 = TestFile::new(10);
    let url2 = s.presign_url(&f2);
    let mut bad = f2.bytes.clone();
    bad[0] ^= 1;
    put(&url2, "image/png", &bad).assert_s3_error(400, "BadDigest");
    s.assert_nothing_stored(&f2);
    assert_eq!(s.status_of(&f.id), "uploaded");
    let c = s.complete(&f.id);
    let dl = c.json()["data"]["downloadURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(get(&dl).2, f.bytes);
}

#[test]
fn files_are_listed_newest_first_in_pages() {
    let s = TestServer::start();
    let files: Vec<TestFile> = (0..5).map(|i| TestFile::new(100 + i)).collect();
    for f in &files {
        s.presign_url(f);
    }
    s.store_completed(&TestFile::new(3000));
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/inspect/v1/files?limit=2&cursor={c}"),
            None => "/api/inspect/v1/files?limit=2".to_string(),
        };
        let r = s.get_api(&path, Some(&s.token.clone()));
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        let page = v["data"].as_array().unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
                f.get("downloadURL").is_some(),
            )
        }));
        match v["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    // Newest first: the completed file (made last), then the pending ones
    // in reverse order; only the completed one has a download link.
    assert_eq!((seen[0].1.as_str(), seen[0].2), ("completed", true));
    let ids: Vec<&str> = seen[1..].iter().map(|(id, _, _)| id.as_str()).collect();
    let want: Vec<&str> = files.iter().rev().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, want);
    assert!(seen[1..]
        .iter()
        .all(|(_, st, link)| st == "pending" && !link));
    // Bad paging input and missing scope are refused.
    s.get_api("/api/inspect/v1/files?limit=0", Some(&s.token.clone()))
        .assert_json_error(400, "BadRequest");
    for bad in ["abc", "-1", "%2B3", "1.5"] {
        s.get_api(
            &format!("/api/inspect/v1/files?cursor={bad}"),
            Some(&s.token.clone()),
        )
        .assert_json_error(400, "BadRequest");
    }
    s.get_api("/api/inspect/v1/files", None)
        .assert_json_error(401, "Unauthorized");
}
