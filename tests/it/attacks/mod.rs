//! The security review's attacks (issue 13), each performed against the real
//! `stowage` binary on loopback, as an attacker would: a second access key,
//! an anonymous client, a hostile form, a flood behind the shipped proxy.
//! Every test asserts the refusal (status, S3 or JSON code) and that nothing
//! was stored, changed or revealed.
//!
//! This file is the fixture they share: a gateway process with known
//! credentials, the CLI against its data dir, and requests signed every way
//! S3 clients sign them (SigV4 query and header, SigV2 query and header),
//! sent byte for byte so an encoding is exactly the one under test.

mod authz;
mod buckets;
mod limits;
mod upload;

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;

use stowage::sigv4::canonical::{
    canonical_headers, canonical_query, canonical_request, canonical_uri, parse_query,
};
use stowage::sigv4::string_to_sign::{
    credential_scope, format_amz_date, format_date_stamp, sha256_hex, string_to_sign,
};
use stowage::sigv4::v2::{
    canonicalized_amz_headers, canonicalized_resource, sign_v2, StringToSignV2,
};
use stowage::sigv4::{signing_key, Credentials};

use crate::harness::{created_key, raw_request, request_bytes, write_config, Resp, Served, BIN};

/// The configured (all-powerful) key of every fixture gateway.
pub const MAIN_KEY: &str = "AKIAMAINKEYFORTESTS";
const MAIN_SECRET: &str = "main-secret-for-the-attack-tests";

/// A `stowage serve` process in a temp dir.
pub struct Gateway {
    pub served: Served,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub addr: SocketAddr,
    /// `host:port`, as clients send it in `Host`.
    pub host: String,
    /// The initial API token (scopes upload, read, admin).
    pub token: String,
    /// The configured key pair.
    pub main: Credentials,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // The processes first, then their database (on PostgreSQL).
        for child in self.served.children() {
            let _ = child.kill();
            let _ = child.wait();
        }
        crate::index_db::forget_config_dir(self.dir.path());
    }
}

impl Gateway {
    /// Starts the binary; `s3` is added to its `[s3]` table (e.g.
    /// `public_read = ["pub"]`), `extra` after it (other tables). In a
    /// cluster run, three of them behind one address (`Served::start_site`).
    pub fn start(s3: &str, extra: &str) -> Self {
        Self::start_as(s3, extra, true)
    }

    /// One gateway on its local store whatever the run's layout, for the
    /// attacks on blob files in its data dir.
    pub fn start_single(s3: &str, extra: &str) -> Self {
        Self::start_as(s3, extra, false)
    }

    fn start_as(s3: &str, extra: &str, site: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(
            dir.path(),
            &format!(
                "[s3]\naccess_key_id = \"{MAIN_KEY}\"\nsecret_access_key = \"{MAIN_SECRET}\"\n\
                 {s3}\n[storage]\nfsync = false\n{extra}"
            ),
        );
        let served = if site {
            Served::start_site(&config)
        } else {
            Served::start(&config)
        };
        let token = served.initial_token();
        let host = served.base.trim_start_matches("http://").to_string();
        Gateway {
            addr: host.parse().unwrap(),
            host,
            token,
            served,
            config,
            dir,
            main: Credentials {
                access_key_id: MAIN_KEY.into(),
                secret_access_key: MAIN_SECRET.into(),
            },
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs `stowage ARGS… --config <this gateway's config>`; its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "stowage {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A new access key made with `stowage key create`.
    pub fn new_key(&self, name: &str) -> Credentials {
        created_key(&self.cli(&["key", "create", "--name", name]))
    }

    /// One column of a query on the index, read beside the running gateway
    /// (sorted), on whichever backend it runs.
    pub fn index_rows(&self, sql: &str) -> Vec<String> {
        crate::index_db::of_config_dir(self.dir.path(), |i| i.rows(sql))
    }

    /// Sends `method target` (path and query exactly as given) with
    /// `headers` and `body` over a fresh connection.
    pub fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Resp {
        let bytes = self.request_bytes(method, target, headers, body);
        Resp::from_raw(&raw_request(self.addr, &bytes, false))
    }

    /// The bytes [`Self::send`] writes: `headers`, with this gateway's
    /// `host` unless they name one.
    pub fn request_bytes(
        &self,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Vec<u8> {
        let mut all = headers.to_vec();
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            all.insert(0, ("host".into(), self.host.clone()));
        }
        request_bytes(method, target, &all, body)
    }

    /// `method path?query` with no credentials at all.
    pub fn anonymous(&self, method: &str, target: &str) -> Resp {
        self.send(method, target, &[], b"")
    }

    /// SigV4 header auth of `method wire_path?wire_query` (both as sent on
    /// the wire) with `extra` headers signed too; the body's hash is signed.
    pub fn v4(
        &self,
        creds: &Credentials,
        method: &str,
        wire_path: &str,
        wire_query: &str,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let headers = self.v4_headers(creds, method, wire_path, wire_query, extra, body);
        self.send(method, &target(wire_path, wire_query), &headers, body)
    }

    /// The headers of [`Self::v4`], `authorization` among them.
    pub fn v4_headers(
        &self,
        creds: &Credentials,
        method: &str,
        wire_path: &str,
        wire_query: &str,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<(String, String)> {
        let at = time::OffsetDateTime::now_utc();
        let (amz_date, day) = (format_amz_date(at), format_date_stamp(at));
        let content_sha = sha256_hex(body);
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), self.host.clone()),
            ("x-amz-date".into(), amz_date.clone()),
            ("x-amz-content-sha256".into(), content_sha.clone()),
        ];
        headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        let mut names: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
        names.sort();
        let path = stowage::sigv4::encode::percent_decode(wire_path).expect("a decodable path");
        let query = parse_query(wire_query).expect("a decodable query");
        let creq = canonical_request(
            method,
            &canonical_uri(&path),
            &canonical_query(&query),
            &canonical_headers(&names, &headers),
            &names.join(";"),
            &content_sha,
        );
        let scope = credential_scope(&day, "us-east-1", "s3");
        let key = signing_key(&creds.secret_access_key, &day, "us-east-1", "s3");
        let sig = stowage::sigv4::key::signature(&key, &string_to_sign(&amz_date, &scope, &creq));
        headers.push((
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={sig}",
                creds.access_key_id,
                names.join(";")
            ),
        ));
        headers
    }

    /// SigV2 header auth of `method wire_path?wire_query` with `extra`
    /// headers (`x-amz-*` among them are signed).
    pub fn v2(
        &self,
        creds: &Credentials,
        method: &str,
        wire_path: &str,
        wire_query: &str,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let date = stowage::api::s3::http_date(now)
            .and_then(|v| v.to_str().ok().map(str::to_string))
            .unwrap();
        let content_type = extra
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map_or("", |(_, v)| *v);
        let sts = StringToSignV2 {
            method,
            content_md5: "",
            content_type,
            date: &date,
            amz_headers: &canonicalized_amz_headers(extra),
            resource: &canonicalized_resource(wire_path, wire_query).unwrap(),
        }
        .render();
        let mut headers: Vec<(String, String)> = vec![
            ("date".into(), date),
            (
                "authorization".into(),
                format!(
                    "AWS {}:{}",
                    creds.access_key_id,
                    sign_v2(&creds.secret_access_key, &sts)
                ),
            ),
        ];
        headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        self.send(method, &target(wire_path, wire_query), &headers, body)
    }

    /// A SigV4 presigned URL's path and query for `method path` (decoded
    /// path; `query` decoded pairs, signed), valid for `expires_secs`.
    pub fn v4_presigned(
        &self,
        creds: &Credentials,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        expires_secs: u64,
    ) -> String {
        let q = stowage::sigv4::presign(
            creds,
            &stowage::sigv4::PresignParams {
                method,
                host: &self.host,
                path,
                region: "us-east-1",
                service: "s3",
                expires_secs,
                extra_query: query,
                extra_signed_headers: &[],
            },
            time::OffsetDateTime::now_utc(),
        );
        format!("{}?{q}", stowage::sigv4::encode::uri_encode(path, false))
    }

    /// A SigV2 presigned URL's path and query for `method path`, expiring
    /// at `expires_unix`.
    pub fn v2_presigned(
        &self,
        creds: &Credentials,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        expires_unix: i64,
    ) -> String {
        let raw = stowage::sigv4::encode::uri_encode(path, false);
        let q = stowage::sigv4::presign_v2(
            creds,
            &stowage::sigv4::PresignV2Params {
                method,
                raw_path: &raw,
                query,
                content_type: None,
                amz_headers: &[],
                expires_unix,
            },
        );
        format!("{raw}?{q}")
    }

    /// The fields of a browser form whose POST policy (`conditions`, plus
    /// the conditions naming its own authentication fields) is signed by
    /// `creds` with SigV4 (`v4`) or SigV2; `fields` come first, as a page
    /// would write them.
    pub fn form(
        &self,
        creds: &Credentials,
        v4: bool,
        conditions: &[serde_json::Value],
        fields: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let now = time::OffsetDateTime::now_utc();
        let expiration = (now + time::Duration::minutes(10))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let mut conditions = conditions.to_vec();
        let mut out: Vec<(String, String)> = fields
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let (day, amz_date) = (format_date_stamp(now), format_amz_date(now));
        let credential = format!("{}/{day}/us-east-1/s3/aws4_request", creds.access_key_id);
        if v4 {
            for (n, v) in [
                ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
                ("x-amz-credential", credential.as_str()),
                ("x-amz-date", amz_date.as_str()),
            ] {
                conditions.push(serde_json::json!({ n: v }));
                out.push((n.to_string(), v.to_string()));
            }
        }
        let policy = serde_json::json!({"expiration": expiration, "conditions": conditions});
        let b64 = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            policy.to_string(),
        );
        out.push(("policy".into(), b64.clone()));
        if v4 {
            let key = signing_key(&creds.secret_access_key, &day, "us-east-1", "s3");
            out.push((
                "x-amz-signature".into(),
                stowage::sigv4::key::signature(&key, &b64),
            ));
        } else {
            out.push(("AWSAccessKeyId".into(), creds.access_key_id.clone()));
            out.push(("signature".into(), sign_v2(&creds.secret_access_key, &b64)));
        }
        out
    }

    /// POSTs a multipart/form-data form of `fields` and then `file` to
    /// `path`, as a browser does.
    pub fn post_form(&self, path: &str, fields: &[(String, String)], file: &[u8]) -> Resp {
        let mut body = form_head(fields, "f.txt");
        body.extend_from_slice(file);
        body.extend(form_tail());
        let headers = [(
            "content-type".to_string(),
            format!("multipart/form-data; boundary={FORM_BOUNDARY}"),
        )];
        self.send("POST", path, &headers, &body)
    }

    /// A new connection to the gateway, for tests that speak slowly.
    pub fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).unwrap()
    }
}

/// The boundary of the forms [`form_head`] writes.
pub const FORM_BOUNDARY: &str = "----stowage-attack-form";

/// A multipart/form-data body of `fields`, then the head of the file part
/// (its bytes and [`form_tail`] follow).
pub fn form_head(fields: &[(String, String)], filename: &str) -> Vec<u8> {
    let mut out = String::new();
    for (name, value) in fields {
        out.push_str(&format!(
            "--{FORM_BOUNDARY}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    out.push_str(&format!(
        "--{FORM_BOUNDARY}\r\ncontent-disposition: form-data; name=\"file\"; \
         filename=\"{filename}\"\r\ncontent-type: text/plain\r\n\r\n"
    ));
    out.into_bytes()
}

/// The end of a form [`form_head`] began.
pub fn form_tail() -> Vec<u8> {
    format!("\r\n--{FORM_BOUNDARY}--\r\n").into_bytes()
}

/// The text of the first `<tag>` element in an XML answer.
pub fn xml_value(body: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = body
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {body}"))
        + open.len();
    let end = start + body[start..].find(&format!("</{tag}>")).unwrap();
    body[start..end].to_string()
}

impl Gateway {
    /// Where the local store keeps the file of blob `hex` (a gateway of
    /// [`Gateway::start_single`]).
    pub fn blob_file(&self, hex: &str) -> PathBuf {
        self.data_dir()
            .join("blobs")
            .join(&hex[0..2])
            .join(&hex[2..4])
            .join(hex)
    }

    /// Whether the bytes of blob `hex` are kept outside the index: its file,
    /// or in a cluster run its object in the test bucket under a row that
    /// names it.
    pub fn has_blob_bytes(&self, hex: &str) -> bool {
        match &self.served.blob_prefix {
            None => self.blob_file(hex).is_file(),
            Some(prefix) => {
                let named = self.index_rows(&format!(
                    "SELECT location FROM blobs WHERE sha256 = '{hex}' AND location IS NOT NULL"
                ));
                let objects = crate::topology::objects(prefix);
                named.iter().any(|id| objects.iter().any(|(o, _)| o == id))
            }
        }
    }

    /// Blob bytes kept outside the index (`harness::site_blobs`).
    pub fn stored_blobs(&self) -> Vec<String> {
        crate::harness::site_blobs(&self.served, &self.data_dir(), |sql| self.index_rows(sql))
    }

    /// Files under `tmp/` of every gateway of the site.
    pub fn temps(&self) -> Vec<PathBuf> {
        crate::harness::site_temps(&self.data_dir())
    }
}

fn target(wire_path: &str, wire_query: &str) -> String {
    if wire_query.is_empty() {
        wire_path.to_string()
    } else {
        format!("{wire_path}?{wire_query}")
    }
}
