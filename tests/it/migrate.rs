//! Moving an index between backends with the real binary and real
//! servers: a SQLite gateway's data dir, stopped, copied into a fresh
//! PostgreSQL database with `stowage index migrate`, then served from
//! there with everything reading back the same — files, the S3 listing
//! and bytes, a bucket's CORS, an API upload and an S3 multipart upload in
//! progress that then complete, the old token and key — and back through
//! `stowage backup` to a SQLite data dir that serves the same. Each
//! refusal is checked to say why and to leave the target as it was.
//!
//! These need PostgreSQL in either run of the suite (a database of their
//! own on `STOWAGE_TEST_POSTGRES_URL`, which scripts/test starts); without
//! it they fail, unless `STOWAGE_TEST_POSTGRES=off`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use stowage::sigv4::Credentials;

use crate::harness::*;
use crate::index_db::TestIndex;

/// Put into the target's URL (the test server trusts its users, so it is
/// never checked): no output may show it.
const PASSWORD: &str = "pw-never-shown-5e1f";

/// The gateway's own S3 key, the same on every configuration of a site.
fn site_key() -> Credentials {
    Credentials {
        access_key_id: "AKIAMIGRATIONTEST001".into(),
        secret_access_key: "migration-test-secret-key-0123456789abcd".into(),
    }
}

/// Writes `dir/NAME.toml` for a gateway on `data_dir`, its index SQLite
/// (`url` None) or the PostgreSQL database at `url`.
fn config(dir: &Path, name: &str, data_dir: &Path, url: Option<&str>) -> PathBuf {
    let key = site_key();
    let index = url
        .map(|u| format!("[index]\nbackend = \"postgres\"\nurl = \"{u}\"\n"))
        .unwrap_or_default();
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n[s3]\naccess_key_id = \"{}\"\n\
             secret_access_key = \"{}\"\n{index}",
            data_dir.display(),
            key.access_key_id,
            key.secret_access_key
        ),
    )
    .unwrap();
    path
}

/// Runs `stowage ARGS… --config CONFIG` (the index named only by the
/// configuration); (exit code, stdout, stderr).
fn stowage(args: &[&str], config: &Path) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("STOWAGE_INDEX_BACKEND")
        .env_remove("STOWAGE_INDEX_URL")
        .env_remove("STOWAGE_MIGRATE_TO")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `stowage index migrate --to URL`, which must fail: its stderr.
fn migrate_refused(to: &str, config: &Path) -> String {
    let (code, out, err) = stowage(&["index", "migrate", "--to", to], config);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("nothing was committed to the target"), "{err}");
    assert!(!format!("{out}{err}").contains(PASSWORD), "{out}{err}");
    err
}

/// The URL of `db` with [`PASSWORD`] in it, unless it carries one already.
fn with_password(db: &TestIndex) -> String {
    let url = db.url().unwrap();
    let (scheme, rest) = url.split_once("://").unwrap();
    match rest.split_once('@') {
        Some((user, host)) if !user.contains(':') => {
            format!("{scheme}://{user}:{PASSWORD}@{host}")
        }
        _ => url,
    }
}

/// The database holds no table: nothing was ever committed to it.
fn assert_untouched(db: &TestIndex) {
    assert_eq!(db.tables(), Vec::<String>::new());
}

/// A query-signed S3 request to the gateway at `base`.
fn s3(
    base: &str,
    creds: &Credentials,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
) -> ureq::Request {
    let host = base.trim_start_matches("http://");
    let q = stowage::sigv4::presign(
        creds,
        &stowage::sigv4::PresignParams {
            method,
            host,
            path,
            region: "us-east-1",
            service: "s3",
            expires_secs: 300,
            extra_query: query,
            extra_signed_headers: &[],
        },
        time::OffsetDateTime::now_utc(),
    );
    ureq::request(
        method,
        &format!(
            "{base}{}?{q}",
            stowage::sigv4::encode::uri_encode(path, false)
        ),
    )
}

fn s3_call(base: &str, method: &str, path: &str, query: &[(&str, &str)], body: &[u8]) -> Resp {
    let req = s3(base, &site_key(), method, path, query);
    Resp::from(if body.is_empty() && method != "PUT" {
        req.call()
    } else {
        req.send_bytes(body)
    })
}

fn api_get(base: &str, token: &str, path: &str) -> Resp {
    Resp::from(
        ureq::get(&format!("{base}/api/inspect/v1/{path}"))
            .set("Authorization", &format!("Bearer {token}"))
            .call(),
    )
}

fn api_post(base: &str, token: &str, path: &str, body: &Value) -> Resp {
    Resp::from(
        ureq::post(&format!("{base}/api/inspect/v1/{path}"))
            .set("Authorization", &format!("Bearer {token}"))
            .send_string(&body.to_string()),
    )
}

/// Presigns `f` through the API; its upload URL.
fn presign(base: &str, token: &str, f: &TestFile) -> String {
    let r = api_post(base, token, "file/upload/presigned", &f.declaration());
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["data"]["presignedURL"]
        .as_str()
        .unwrap()
        .to_string()
}

fn complete(base: &str, token: &str, id: &str) {
    let r = api_post(
        base,
        token,
        "file/upload/complete",
        &serde_json::json!({ "id": id }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

fn between<'a>(s: &'a str, a: &str, b: &str) -> &'a str {
    s.split(a).nth(1).unwrap().split(b).next().unwrap()
}

/// A record without its presigned link (signed anew at each request).
fn without_link(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("downloadURL");
    }
    v
}

/// What a site holds, to be read back the same wherever it is served.
struct Holdings {
    /// The all-scopes token printed on first start, and a read-only one.
    token: String,
    reader: String,
    /// A key made with `stowage key create`, allowed to read `photos`.
    key: Credentials,
    /// Completed, uploaded-not-completed and pending API files.
    completed: Vec<TestFile>,
    uploaded: TestFile,
    pending: TestFile,
    /// S3 objects in `photos`: (key, bytes).
    objects: Vec<(String, Vec<u8>)>,
    /// The multipart upload in progress on `photos/video.mp4`: its id,
    /// its first part and that part's ETag.
    upload_id: String,
    part1: (Vec<u8>, String),
}

const CORS: &str =
    "<CORSConfiguration><CORSRule><AllowedOrigin>https://field.example</AllowedOrigin>\
    <AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><MaxAgeSeconds>600\
    </MaxAgeSeconds></CORSRule></CORSConfiguration>";

/// Fills the gateway at `base` (on a fresh data dir whose config is
/// `cfg`) with one of everything.
fn populate(served: &Served, cfg: &Path) -> Holdings {
    let base = served.base.as_str();
    let token = served.initial_token();
    let (code, out, err) = stowage(
        &["token", "create", "--name", "reader", "--scopes", "read"],
        cfg,
    );
    assert_eq!(code, 0, "{err}");
    let reader = out.lines().last().unwrap().to_string();
    // Both above and below the size kept inline in the index (64 KiB).
    let completed = vec![TestFile::new(1000), TestFile::new(300 * 1024)];
    for f in &completed {
        assert_eq!(
            put(&presign(base, &token, f), &f.content_type, &f.bytes).status,
            200
        );
        complete(base, &token, &f.id);
    }
    let uploaded = TestFile::new(2000);
    let url = presign(base, &token, &uploaded);
    assert_eq!(
        put(&url, &uploaded.content_type, &uploaded.bytes).status,
        200
    );
    let pending = TestFile::new(3000);
    presign(base, &token, &pending);

    assert_eq!(s3_call(base, "PUT", "/photos", &[], b"").status, 200);
    let objects = vec![
        (
            "notes/small.txt".to_string(),
            b"a small object, inline".to_vec(),
        ),
        ("big/ü é.bin".to_string(), TestFile::new(200 * 1024).bytes),
        ("empty".to_string(), Vec::new()),
    ];
    for (k, bytes) in &objects {
        let r = s3_call(base, "PUT", &format!("/photos/{k}"), &[], bytes);
        assert_eq!(r.status, 200, "{k}: {}", r.body);
    }
    let r = s3_call(base, "PUT", "/photos", &[("cors", "")], CORS.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);

    let r = s3_call(base, "POST", "/photos/video.mp4", &[("uploads", "")], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let upload_id = between(&r.body, "<UploadId>", "</UploadId>").to_string();
    let part = TestFile::new(5 * 1024 * 1024).bytes;
    let r = s3_call(
        base,
        "PUT",
        "/photos/video.mp4",
        &[("partNumber", "1"), ("uploadId", &upload_id)],
        &part,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let etag = r.header("etag").unwrap().to_string();

    let (code, out, err) = stowage(&["key", "create", "--name", "laptop"], cfg);
    assert_eq!(code, 0, "{err}");
    let key = created_key(&out);
    let (code, _, err) = stowage(&["key", "allow", "laptop", "photos"], cfg);
    assert_eq!(code, 0, "{err}");
    Holdings {
        token,
        reader,
        key,
        completed,
        uploaded,
        pending,
        objects,
        upload_id,
        part1: (part, etag),
    }
}

/// What a gateway answers about a site's holdings, minus what is signed
/// anew per request: the files list (newest first), each file's record,
/// the bucket listings, its CORS, the uploads in progress, the token and
/// key lists.
fn answers(base: &str, h: &Holdings, cfg: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let files = api_get(base, &h.token, "files?limit=100");
    assert_eq!(files.status, 200, "{}", files.body);
    let listed: Vec<Value> = files.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .map(without_link)
        .collect();
    out.push(serde_json::to_string(&listed).unwrap());
    for f in h.completed.iter().chain([&h.uploaded, &h.pending]) {
        let r = api_get(base, &h.token, &format!("file/{}", f.id));
        assert_eq!(r.status, 200, "{}", r.body);
        out.push(without_link(r.json()["data"].clone()).to_string());
    }
    for (path, query) in [
        ("/", vec![]),
        ("/photos", vec![("list-type", "2")]),
        ("/photos", vec![("cors", "")]),
        ("/photos", vec![("uploads", "")]),
    ] {
        let r = s3_call(base, "GET", path, &query, b"");
        assert_eq!(r.status, 200, "{path} {query:?}: {}", r.body);
        out.push(r.body);
    }
    // The parts of the upload, while it is in progress.
    if out
        .last()
        .is_some_and(|uploads| uploads.contains(&h.upload_id))
    {
        let query = [("uploadId", h.upload_id.as_str())];
        let r = s3_call(base, "GET", "/photos/video.mp4", &query, b"");
        assert_eq!(r.status, 200, "ListParts: {}", r.body);
        out.push(r.body);
    }
    for cmd in ["token", "key"] {
        let (code, list, err) = stowage(&[cmd, "list"], cfg);
        assert_eq!(code, 0, "{err}");
        out.push(list);
    }
    out
}

/// The bytes of every completed file and every object read back, through
/// the gateway's key, the operator's key, and the read-only token.
fn assert_bytes(base: &str, h: &Holdings) {
    for f in &h.completed {
        let r = api_get(base, &h.reader, &format!("file/{}", f.id));
        assert_eq!(r.status, 200, "the read-only token: {}", r.body);
        let url = r.json()["data"]["downloadURL"]
            .as_str()
            .unwrap()
            .to_string();
        let (status, _, body) = get(&url);
        assert_eq!(status, 200);
        assert!(body == f.bytes, "bytes of file {}", f.id);
    }
    for (k, bytes) in &h.objects {
        for creds in [&site_key(), &h.key] {
            let r = s3(base, creds, "GET", &format!("/photos/{k}"), &[])
                .call()
                .unwrap_or_else(|e| panic!("GET {k}: {e}"));
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut r.into_reader(), &mut body).unwrap();
            assert!(&body == bytes, "bytes of object {k}");
        }
    }
}

/// Stops a gateway (at once, as a crash would: the index is durable).
fn stop(mut served: Served) {
    let _ = served.child.kill();
    let _ = served.child.wait();
}

#[test]
fn a_sqlite_index_moves_to_postgresql_and_back_through_a_backup() {
    let Some(db) = TestIndex::fresh_postgres() else {
        return;
    };
    let site = tempfile::tempdir().unwrap();
    let data = site.path().join("data");
    let on_sqlite = config(site.path(), "sqlite", &data, None);
    let on_postgres = config(site.path(), "postgres", &data, db.url().as_deref());
    let target = with_password(&db);

    let served = Served::start(&on_sqlite);
    let mut h = populate(&served, &on_sqlite);
    let before = answers(&served.base, &h, &on_sqlite);
    assert_bytes(&served.base, &h);

    // Not while the gateway runs: refused, nothing written; nor does a
    // second gateway start on its data dir.
    let err = migrate_refused(&target, &on_sqlite);
    assert!(err.contains("a gateway is running on"), "{err}");
    assert!(err.contains("stowage serve"), "{err}");
    assert_untouched(&db);
    let second = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&on_sqlite)
        .output()
        .unwrap();
    let second_err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{second_err}");
    assert!(
        second_err.contains("one gateway serves a data dir at a time"),
        "{second_err}"
    );
    stop(served);

    let sqlite = TestIndex::Sqlite(data.clone());
    let (code, out, err) = stowage(&["index", "migrate", "--to", &target], &on_sqlite);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!format!("{out}{err}").contains(PASSWORD), "{out}{err}");
    // Per-table counts, as in both indexes, and what to do next.
    for table in [
        "files",
        "tokens",
        "blobs",
        "blob_bytes",
        "objects",
        "multipart_parts",
    ] {
        let n = sqlite
            .value(&format!("SELECT count(*) FROM {table}"))
            .unwrap();
        assert_ne!(n, "0", "{table}");
        assert_eq!(
            db.value(&format!("SELECT count(*) FROM {table}")).unwrap(),
            n
        );
        assert!(
            out.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == [table, &n]),
            "{table} {n}: {out}"
        );
    }
    for step in [
        "backend = \"postgres\"",
        "STOWAGE_INDEX_BACKEND=postgres",
        "STOWAGE_INDEX_URL",
        "stowage verify",
    ] {
        assert!(out.contains(step), "{step}: {out}");
    }
    let (code, out, err) = stowage(&["verify"], &on_postgres);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("0 missing, 0 corrupt, 0 orphaned, 0 dangling"),
        "{out}"
    );

    // On PostgreSQL: the same answers and bytes, no new initial token.
    let served = Served::start(&on_postgres);
    assert!(!served.stdout().iter().any(|l| l.starts_with("stw_")));
    let base = served.base.clone();
    assert_eq!(answers(&base, &h, &on_postgres), before);
    assert_bytes(&base, &h);
    // What was in progress goes on: the uploaded file completes, the
    // pending one takes its bytes, the multipart upload completes.
    complete(&base, &h.token, &h.uploaded.id);
    // (Presigned again: a URL names the gateway's address, which changed.)
    let pending = h.pending.clone();
    let url = presign(&base, &h.token, &pending);
    assert_eq!(put(&url, &pending.content_type, &pending.bytes).status, 200);
    complete(&base, &h.token, &pending.id);
    let last = b"the last part".to_vec();
    let r = s3_call(
        &base,
        "PUT",
        "/photos/video.mp4",
        &[("partNumber", "2"), ("uploadId", &h.upload_id)],
        &last,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let etag2 = r.header("etag").unwrap().to_string();
    let xml = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part>\
         <Part><PartNumber>2</PartNumber><ETag>{etag2}</ETag></Part></CompleteMultipartUpload>",
        h.part1.1
    );
    let r = s3_call(
        &base,
        "POST",
        "/photos/video.mp4",
        &[("uploadId", &h.upload_id)],
        xml.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut video = h.part1.0.clone();
    video.extend_from_slice(&last);
    // New rows take new positions (the sequences were set past the
    // copied rowids): a new file is listed first, a new small object is
    // stored inline.
    let fresh = TestFile::new(500);
    assert_eq!(
        put(
            &presign(&base, &h.token, &fresh),
            &fresh.content_type,
            &fresh.bytes
        )
        .status,
        200
    );
    complete(&base, &h.token, &fresh.id);
    let first = api_get(&base, &h.token, "files?limit=1");
    assert_eq!(first.json()["data"][0]["id"], fresh.id.as_str());
    let r = s3_call(&base, "PUT", "/photos/new.txt", &[], b"new and small");
    assert_eq!(r.status, 200, "{}", r.body);
    h.objects.push(("video.mp4".into(), video));
    h.objects
        .push(("new.txt".into(), b"new and small".to_vec()));
    h.completed.extend([h.uploaded.clone(), pending, fresh]);
    assert_bytes(&base, &h);
    let (code, out, err) = stowage(&["verify"], &on_postgres);
    assert_eq!(code, 0, "{out}\n{err}");

    // A backup of the PostgreSQL index, taken while it serves, is a SQLite
    // data dir that serves the same and verifies.
    let dest = site.path().join("backup");
    let (code, out, err) = stowage(&["backup", dest.to_str().unwrap()], &on_postgres);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("backed up"), "{out}");
    let on_pg_now = answers(&base, &h, &on_postgres);
    stop(served);
    let restored_cfg = config(site.path(), "restored", &dest, None);
    let (code, out, err) = stowage(&["verify"], &restored_cfg);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("0 missing, 0 corrupt, 0 orphaned, 0 dangling"),
        "{out}"
    );
    let restored = Served::start(&restored_cfg);
    assert!(!restored.stdout().iter().any(|l| l.starts_with("stw_")));
    assert_eq!(answers(&restored.base, &h, &restored_cfg), on_pg_now);
    assert_bytes(&restored.base, &h);
}

#[test]
fn each_refusal_says_why_and_commits_nothing() {
    let Some(db) = TestIndex::fresh_postgres() else {
        return;
    };
    let site = tempfile::tempdir().unwrap();
    let data = site.path().join("data");
    let cfg = config(site.path(), "sqlite", &data, None);
    let target = with_password(&db);

    // On SQLite, an S3 key may hold the NUL character; PostgreSQL's text
    // cannot.
    let served = Served::start(&cfg);
    assert_eq!(s3_call(&served.base, "PUT", "/bkt", &[], b"").status, 200);
    for k in ["/bkt/fine", "/bkt/a\0b"] {
        let r = s3_call(&served.base, "PUT", k, &[], b"bytes");
        assert_eq!(r.status, 200, "{}", r.body);
    }
    stop(served);

    let err = migrate_refused("mysql://root@127.0.0.1/x", &cfg);
    assert!(err.contains("not a PostgreSQL URL"), "{err}");
    let err = migrate_refused("/var/lib/postgresql", &cfg);
    assert!(err.contains("not a PostgreSQL URL"), "{err}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = migrate_refused(
        &format!("postgresql://ann:{PASSWORD}@127.0.0.1:{port}/x"),
        &cfg,
    );
    assert!(
        err.contains(&format!(
            "cannot connect to PostgreSQL at postgresql://ann@127.0.0.1:{port}/x"
        )),
        "{err}"
    );

    // The whole copy is refused, naming the row; nothing is committed.
    let err = migrate_refused(&target, &cfg);
    assert!(
        err.contains(r#"objects row bucket="bkt" key="a\0b": its key contains the NUL character"#),
        "{err}"
    );
    assert_untouched(&db);

    // Once that object is gone, the copy goes through…
    let served = Served::start(&cfg);
    assert_eq!(
        s3_call(&served.base, "DELETE", "/bkt/a\0b", &[], b"").status,
        204
    );
    stop(served);
    let (code, out, err) = stowage(&["index", "migrate", "--to", &target], &cfg);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        db.value("SELECT count(*) FROM objects").as_deref(),
        Some("1")
    );

    // …and never again into a database that holds an index.
    let tokens = db.value("SELECT count(*) FROM tokens");
    let err = migrate_refused(&target, &cfg);
    assert!(
        err.contains("already holds rows (tokens 1, blob_bytes 1, blobs 1, buckets 2, objects 1)"),
        "{err}"
    );
    assert!(err.contains("never merges"), "{err}");
    assert_eq!(
        db.value("SELECT count(*) FROM objects").as_deref(),
        Some("1")
    );
    assert_eq!(db.value("SELECT count(*) FROM tokens"), tokens);

    // A target whose schema is newer than this binary's.
    let newer = TestIndex::fresh_postgres().unwrap();
    newer.execute(
        "CREATE TABLE stowage_schema (one BOOLEAN PRIMARY KEY DEFAULT true, version BIGINT NOT NULL)",
        &[],
    );
    newer.execute("INSERT INTO stowage_schema (version) VALUES (999)", &[]);
    let err = migrate_refused(&newer.url().unwrap(), &cfg);
    assert!(
        err.contains("schema version 999, newer than this binary's"),
        "{err}"
    );
    assert_eq!(newer.tables(), ["stowage_schema"]);

    // A SQLite index whose schema is newer than this binary's.
    let sqlite = TestIndex::Sqlite(data.clone());
    sqlite.execute("PRAGMA user_version = 999", &[]);
    let fresh = TestIndex::fresh_postgres().unwrap();
    let err = migrate_refused(&fresh.url().unwrap(), &cfg);
    assert!(err.contains("newer than this binary supports"), "{err}");
    assert_untouched(&fresh);

    // A data dir without an index.
    let empty = config(site.path(), "empty", &site.path().join("nothing"), None);
    let err = migrate_refused(&fresh.url().unwrap(), &empty);
    assert!(err.contains("holds no SQLite index"), "{err}");
    assert_untouched(&fresh);
}
