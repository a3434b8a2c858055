//! A real browser: headless Chromium loads a page from another origin that
//! uploads to the gateway twice — a form POST signed with a POST policy,
//! and a presigned PUT (which needs a CORS preflight) — and reads the
//! answers, ETag included, as a web app would. A page from an origin the
//! rules do not allow gets nothing through. `.ci/run` installs Debian's
//! `chromium`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

use base64::Engine;
use stowage::sigv4::key::{signature, signing_key};

use crate::harness::*;

/// Binds a loopback port for a page; returns its origin and the listener
/// ([`run_page`] serves it).
fn serve_page() -> (String, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    (origin, listener)
}

/// Serves `html` to every request on `listener` until the process ends.
fn run_page(listener: TcpListener, html: String) {
    run_pages(listener, html, String::new());
}

/// Serves `done` to requests for `/done…` and `html` to every other.
fn run_pages(listener: TcpListener, html: String, done: String) {
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap_or(0);
            let html = if buf[..n].starts_with(b"GET /done") {
                &done
            } else {
                &html
            };
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                html.len()
            );
        }
    });
}

/// Loads `url` in headless Chromium and returns the text of `#out` once
/// the page's script has run.
fn chromium(url: &str) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!("chromium did not run ({e}); .ci/run installs it: apt-get install chromium")
        });
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    dom.split("<div id=\"out\">")
        .nth(1)
        .and_then(|s| s.split("</div>").next())
        .unwrap_or_else(|| panic!("no #out in the page: {dom}"))
        .to_string()
}

/// A page that form-POSTs `fields` + a file, then PUTs to `put_url`.
fn page(base: &str, fields: &[(String, String)], put_url: &str, put_body: &str) -> String {
    let fields_js = serde_json::to_string(fields).unwrap();
    format!(
        r#"<html><body><div id="out">pending</div><script>
(async () => {{
  const out = [];
  try {{
    const fd = new FormData();
    for (const [k, v] of {fields_js}) fd.append(k, v);
    fd.append("file", new Blob(["hello from a browser form"], {{type: "text/plain"}}), "note.txt");
    const r = await fetch("{base}/uploads", {{method: "POST", body: fd}});
    out.push("POST:" + r.status + ":" + (r.headers.get("ETag") || "none"));
  }} catch (e) {{ out.push("POST:blocked"); }}
  try {{
    const r = await fetch("{put_url}", {{method: "PUT", headers: {{"Content-Type": "image/png"}},
      body: new Blob([{put_body:?}])}});
    out.push("PUT:" + r.status + ":" + (r.headers.get("ETag") || "none"));
  }} catch (e) {{ out.push("PUT:blocked"); }}
  document.getElementById("out").textContent = out.join(" ");
}})();
</script></body></html>"#
    )
}

/// Form fields of a SigV4 POST policy for keys under `browser/`.
fn policy_fields(s: &TestServer) -> Vec<(String, String)> {
    policy_fields_with(s, "browser/", ("success_action_status", "201"))
}

/// Form fields of a SigV4 POST policy for keys under `prefix`, with one
/// more field (and its `eq` condition).
fn policy_fields_with(s: &TestServer, prefix: &str, extra: (&str, &str)) -> Vec<(String, String)> {
    let now = time::OffsetDateTime::now_utc();
    let date = format!("{:04}{:02}{:02}", now.year(), now.month() as u8, now.day());
    let amz_date = format!("{date}T000000Z");
    let cred = format!(
        "{}/{date}/us-east-1/s3/aws4_request",
        s.app.credentials.access_key_id
    );
    let expiration = (now + time::Duration::minutes(10))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let policy = serde_json::json!({
        "expiration": expiration,
        "conditions": [
            {"bucket": "uploads"},
            ["starts-with", "$key", prefix],
            ["content-length-range", 1, 1_000_000],
            {extra.0: extra.1},
            {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
            {"x-amz-credential": cred},
            {"x-amz-date": amz_date},
        ]
    });
    let b64 = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
    let key = signing_key(
        &s.app.credentials.secret_access_key,
        &date,
        "us-east-1",
        "s3",
    );
    [
        ("key", format!("{prefix}${{filename}}")),
        (extra.0, extra.1.to_string()),
        ("x-amz-algorithm", "AWS4-HMAC-SHA256".to_string()),
        ("x-amz-credential", cred),
        ("x-amz-date", amz_date),
        ("policy", b64.clone()),
        ("x-amz-signature", signature(&key, &b64)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[test]
fn a_page_on_another_origin_uploads_by_form_and_by_presigned_put() {
    // The page's origin must be in the gateway's CORS rule, so bind it first.
    let (origin, listener) = serve_page();
    let s = TestServer::start_with(&format!("[cors]\nallowed_origins = [\"{origin}\"]\n"));
    let file = TestFile {
        bytes: b"png-ish bytes from a browser".to_vec(),
        ..TestFile::new(10)
    };
    let put_url = s.presign_url(&file);
    let html = page(
        &s.base,
        &policy_fields(&s),
        &put_url,
        std::str::from_utf8(&file.bytes).unwrap(),
    );
    run_page(listener, html);
    let out = chromium(&format!("{origin}/"));

    let form_etag = format!("\"{}\"", hex::encode(md5_of(b"hello from a browser form")));
    assert!(out.contains(&format!("POST:201:{form_etag}")), "{out}");
    let put_etag = format!("\"{}\"", hex::encode(md5_of(&file.bytes)));
    assert!(out.contains(&format!("PUT:200:{put_etag}")), "{out}");
    assert_eq!(s.status_of(&file.id), "uploaded");
    let stored = s.blob_bytes(&hex::encode(sha256_of(b"hello from a browser form")));
    assert_eq!(stored.as_deref(), Some(&b"hello from a browser form"[..]));

    // The same page from an origin no rule allows: the preflight fails, so
    // the browser never sends the PUT; the form POST (a "simple" request)
    // is sent and stored, but the page cannot read the answer.
    let (other, listener) = serve_page();
    let second = TestFile {
        bytes: b"another browser upload".to_vec(),
        ..TestFile::new(10)
    };
    let put_url = s.presign_url(&second);
    run_page(
        listener,
        page(
            &s.base,
            &policy_fields(&s),
            &put_url,
            std::str::from_utf8(&second.bytes).unwrap(),
        ),
    );
    let out = chromium(&format!("{other}/"));
    assert!(out.contains("PUT:blocked"), "{out}");
    assert!(out.contains("POST:blocked"), "{out}");
    assert_eq!(
        s.status_of(&second.id),
        "pending",
        "a blocked PUT was stored"
    );
}

#[test]
fn an_html_form_posts_a_file_and_the_browser_follows_the_redirect() {
    let (origin, listener) = serve_page();
    let s = TestServer::start();
    let done = format!("{origin}/done");
    let fields = policy_fields_with(&s, "browser-form/", ("success_action_redirect", &done));
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
                v.replace('"', "&quot;")
            )
        })
        .collect();
    // A real <form> submission: the page fills the file input and submits,
    // the browser POSTs multipart/form-data and follows the 303.
    let html = format!(
        r#"<html><body><div id="out">pending</div>
<form id="f" action="{base}/uploads" method="post" enctype="multipart/form-data">{inputs}
<input type="file" name="file"></form>
<script>
  const dt = new DataTransfer();
  dt.items.add(new File(["hello from an html form"], "form.txt", {{type: "text/plain"}}));
  document.querySelector("input[type=file]").files = dt.files;
  document.getElementById("f").submit();
</script></body></html>"#,
        base = s.base
    );
    let done_page = r#"<html><body><div id="out"></div><script>
  document.getElementById("out").textContent = "DONE" + location.search;
</script></body></html>"#
        .to_string();
    run_pages(listener, html, done_page);
    // The dumped DOM escapes '&'.
    let out = chromium(&format!("{origin}/")).replace("&amp;", "&");
    let etag = hex::encode(md5_of(b"hello from an html form"));
    assert!(
        out.starts_with("DONE?bucket=uploads&key=browser-form%2Fform.txt&etag="),
        "{out}"
    );
    assert!(out.contains(&etag), "{out}");
    let stored = s.blob_bytes(&hex::encode(sha256_of(b"hello from an html form")));
    assert_eq!(stored.as_deref(), Some(&b"hello from an html form"[..]));
}

fn md5_of(b: &[u8]) -> [u8; 16] {
    use md5::Digest as _;
    md5::Md5::digest(b).into()
}

fn sha256_of(b: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(b).into()
}
