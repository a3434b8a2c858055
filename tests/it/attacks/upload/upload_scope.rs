//! Finding B: the scope `upload` sends files, it does not read them. Ids
//! are no secret (the client derives them from a file's hash, size and
//! name), so an upload-only token may hold the id of a file it never sent;
//! completing that id, or declaring another file under it, must tell it
//! nothing a reader would see: no download URL, name, hash, size or type.

use super::*;

/// A file someone with the `read` scope stored: a name, a type and bytes
/// an upload-only token must not learn.
fn someone_elses(g: &Gateway) -> TestFile {
    let mut f = TestFile::new(3_000);
    f.name = "merger-plans.pdf".into();
    f.content_type = "application/pdf".into();
    store(g, &f);
    f
}

/// Asserts `body` carries nothing of `f` but its id.
fn reveals_nothing_of(body: &str, f: &TestFile) {
    let body = body.replace(&f.id, "").replace(&f.id.to_uppercase(), "");
    for secret in [
        f.name.as_str(),
        f.content_type.as_str(),
        &f.hash_b64(),
        &hex::encode(f.sha256()),
        &f.bytes.len().to_string(),
        "http",
        "X-Amz-Signature",
    ] {
        assert!(!body.contains(secret), "{secret:?} revealed: {body}");
    }
}

/// Asserts that the OpenAPI document the gateway serves describes
/// `answer` (an upload-only token's 200 to complete) as one of complete's
/// 200 answers, field for field.
fn documented_as_a_receipt(g: &Gateway, answer: &Value) {
    let (status, _, raw) = get(&format!("{}/api/openapi.json", g.served.base));
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_slice(&raw).expect("the OpenAPI document is JSON");
    let resolve = |v: &Value| -> Value {
        match v["$ref"].as_str() {
            Some(r) => doc
                .pointer(r.trim_start_matches('#'))
                .cloned()
                .unwrap_or(Value::Null),
            None => v.clone(),
        }
    };
    let ok = &doc["paths"]["/api/inspect/v1/file/upload/complete"]["post"]["responses"]["200"];
    let choices = ok["content"]["application/json"]["schema"]["oneOf"]
        .as_array()
        .expect("complete's 200 is one of several shapes");
    let data = answer["data"].as_object().expect("data");
    let fits = choices.iter().map(resolve).any(|schema| {
        let d = &schema["properties"]["data"];
        let props = d["properties"].as_object();
        let required: Vec<&str> = d["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        d["additionalProperties"] == false
            && props.is_some_and(|p| data.keys().all(|k| p.contains_key(k)))
            && required.iter().all(|k| data.contains_key(*k))
    });
    assert!(fits, "{answer} is not among the documented answers: {ok}");
}

#[test]
fn completing_a_known_id_gives_an_upload_token_no_download_url() {
    let g = Gateway::start("", "");
    let f = someone_elses(&g);
    let meta = file(&g, &f.id);
    let token = upload_token(&g, "tablet");

    // The attack: complete someone else's id.
    let r = post_as(
        &g,
        &token,
        "/upload/complete",
        &serde_json::json!({"id": f.id}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        serde_json::json!({"data": {"id": f.id, "status": "completed"}})
    );
    reveals_nothing_of(&r.body, &f);
    documented_as_a_receipt(&g, &r.json());
    // Nor under another spelling of the id.
    let upper = serde_json::json!({"id": f.id.to_uppercase()});
    let r = post_as(&g, &token, "/upload/complete", &upper);
    assert_eq!(r.status, 200, "{}", r.body);
    reveals_nothing_of(&r.body, &f);
    // The read endpoints stay closed to it.
    for path in [format!("{API}/{}", f.id), "/api/inspect/v1/files".into()] {
        Resp::from(
            ureq::get(&format!("{}{path}", g.served.base))
                .set("Authorization", &format!("Bearer {token}"))
                .call(),
        )
        .assert_json_error(403, "Forbidden");
    }
    // The file is as it was.
    assert_eq!(file(&g, &f.id)["fileName"], meta["fileName"]);
    assert_eq!(file(&g, &f.id)["completedAt"], meta["completedAt"]);

    // Its own uploads get the same receipt, whole or in parts; a token
    // that may read gets the record, download URL included.
    let own = TestFile::new(2_000);
    let r = post_as(&g, &token, "/upload/presigned", &own.declaration());
    assert_eq!(r.status, 201, "{}", r.body);
    let url = r.json()["data"]["presignedURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(put(&url, &own.content_type, &own.bytes).status, 200);
    let r = post_as(
        &g,
        &token,
        "/upload/complete",
        &serde_json::json!({"id": own.id}),
    );
    assert_eq!(
        (r.status, r.json()),
        (
            200,
            serde_json::json!({"data": {"id": own.id, "status": "completed"}})
        )
    );
    let big = TestFile::new(PART + 10);
    let mut d = big.declaration();
    d["partSize"] = PART.into();
    let r = post_as(&g, &token, "/upload/parts", &d);
    assert_eq!(r.status, 201, "{}", r.body);
    for (i, p) in r.json()["data"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let bytes = &big.bytes[i * PART..big.bytes.len().min((i + 1) * PART)];
        let r = Resp::from(ureq::put(p["url"].as_str().unwrap()).send_bytes(bytes));
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = post_as(
        &g,
        &token,
        "/upload/complete",
        &serde_json::json!({"id": big.id}),
    );
    assert_eq!(
        (r.status, r.json()),
        (
            200,
            serde_json::json!({"data": {"id": big.id, "status": "completed"}})
        )
    );
    assert_eq!(download(&g, &big), big.bytes);
    let reader = g.cli(&[
        "token",
        "create",
        "--name",
        "reader",
        "--scopes",
        "upload,read",
    ]);
    let reader = reader.lines().last().unwrap().trim().to_string();
    let r = post_as(
        &g,
        &reader,
        "/upload/complete",
        &serde_json::json!({"id": f.id}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["data"]["fileName"], f.name.as_str());
    assert!(r.json()["data"]["downloadURL"].is_string(), "{}", r.body);
}

#[test]
fn a_conflicting_declaration_tells_an_upload_token_nothing_of_the_stored_file() {
    let g = Gateway::start("", "");
    let f = someone_elses(&g);
    let before = state(&g);
    let token = upload_token(&g, "tablet");

    // The same id, declared with another size, type and hash: 409, and
    // the answer does not say what the stored declaration is — through
    // presign or the part-wise upload.
    let mut other = TestFile::new(10);
    other.id = f.id.clone();
    other.content_type = "text/plain".into();
    let why = post_as(&g, &token, "/upload/presigned", &other.declaration())
        .assert_json_error(409, "Conflict");
    reveals_nothing_of(&why, &f);
    assert!(
        why.contains("another file") && why.contains("new id"),
        "{why}"
    );
    let mut d = other.declaration();
    d["partSize"] = PART.into();
    let parts = post_as(&g, &token, "/upload/parts", &d).assert_json_error(409, "Conflict");
    assert_eq!(parts, why);
    // One field at a time (an oracle on each would give the size away by
    // guesses): the same answer.
    let mut sized = f.clone();
    sized.bytes.push(0);
    let mut typed = f.clone();
    typed.content_type = "image/png".into();
    for probe in [&sized, &typed] {
        let again = post_as(&g, &token, "/upload/presigned", &probe.declaration())
            .assert_json_error(409, "Conflict");
        assert_eq!(again, why, "the answer differs with the field that differs");
    }
    assert_eq!(state(&g), before, "a refused declaration changed something");

    // A token that may read files (and could look the file up) is told
    // what differs, as before.
    let why =
        post(&g, "/upload/presigned", &sized.declaration()).assert_json_error(409, "Conflict");
    assert!(why.contains("size (stored 3000)"), "{why}");
}
