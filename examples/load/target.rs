//! The two kinds of target: Stowage's upload API (URLs from its presign API) and any S3
//! endpoint (URLs presigned here with Stowage's own signer). With several endpoints — gateways
//! of one service: one public URL, one key pair — connection `j` goes to endpoint `j mod n`,
//! and every request carries the first endpoint's `Host` (an API call) or the signed one (a
//! presigned URL), so any gateway can answer any of them.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use stowage::sigv4::canonical::{
    canonical_headers, canonical_query, canonical_request, canonical_uri, signed_headers_line,
};
use stowage::sigv4::key::{signature, signing_key};
use stowage::sigv4::string_to_sign::{
    credential_scope, format_amz_date, format_date_stamp, string_to_sign, ALGORITHM, EMPTY_SHA256,
};
use stowage::sigv4::{presign, Credentials, PresignParams};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::body::{Gen, ReqBody};
use crate::conn::{request_for_url, Answer, Conn};
use crate::report::Errors;
use crate::{Target, API, MIB};

/// What every worker needs to know about the target.
pub struct Ctx {
    pub target: Target,
    pub base: String,
    pub host: String,
    /// Every endpoint's address; connection `j` uses `addrs[j % len]`.
    pub addrs: Vec<SocketAddr>,
    pub token: Option<String>,
    pub creds: Option<Credentials>,
    pub bucket: String,
    pub region: String,
    pub content_type: String,
    pub gen: Gen,
    pub timeout: Duration,
    pub errors: Errors,
}

/// An object ready to be PUT: its URL and which generated body it carries.
pub struct PutJob {
    pub url: String,
    pub idx: u64,
    pub size: u64,
    /// Stowage id, for `complete`.
    pub id: Option<Uuid>,
}

impl Ctx {
    /// Connection `j`, to endpoint `j mod n`.
    pub fn conn(&self, j: usize) -> Conn {
        Conn::new(self.addrs[j % self.addrs.len()], self.timeout)
    }

    pub fn token(&self) -> Result<&str, String> {
        self.token
            .as_deref()
            .ok_or_else(|| "--token is required for --target stowage".to_owned())
    }

    pub fn creds(&self) -> Result<&Credentials, String> {
        self.creds
            .as_ref()
            .ok_or_else(|| "--access-key and --secret-key are required for --target s3".to_owned())
    }

    /// A SigV4 presigned URL for the S3 target (`UNSIGNED-PAYLOAD`, only `host` signed).
    pub fn s3_url(&self, method: &str, key: &str) -> Result<String, String> {
        self.s3_url_query(method, key, &[])
    }

    /// The same, with signed query parameters (`uploads`, `partNumber`, `uploadId`).
    pub fn s3_url_query(
        &self,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
    ) -> Result<String, String> {
        let path = format!("/{}/{}", self.bucket, key);
        let query = presign(
            self.creds()?,
            &PresignParams {
                method,
                host: &self.host,
                path: &path,
                region: &self.region,
                service: "s3",
                expires_secs: 3600,
                extra_query: query,
                extra_signed_headers: &[],
            },
            OffsetDateTime::now_utc(),
        );
        Ok(format!("{}{}?{}", self.base, canonical_uri(&path), query))
    }

    /// Header-signed (SigV4 `Authorization`) request with an empty body, for bucket setup.
    fn s3_header_signed(&self, method: &str, path: &str) -> Result<Request<ReqBody>, String> {
        let creds = self.creds()?;
        let now = OffsetDateTime::now_utc();
        let amz_date = format_amz_date(now);
        let date = format_date_stamp(now);
        let scope = credential_scope(&date, &self.region, "s3");
        let headers = [
            ("host", self.host.as_str()),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", amz_date.as_str()),
        ];
        let names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
        let signed = signed_headers_line(&names);
        let creq = canonical_request(
            method,
            &canonical_uri(path),
            &canonical_query::<&str, &str>(&[]),
            &canonical_headers(&names, &headers),
            &signed,
            EMPTY_SHA256,
        );
        let sts = string_to_sign(&amz_date, &scope, &creq);
        let key = signing_key(&creds.secret_access_key, &date, &self.region, "s3");
        let auth = format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed}, Signature={}",
            creds.access_key_id,
            signature(&key, &sts)
        );
        let mut b = Request::builder()
            .method(method)
            .uri(canonical_uri(path))
            .header(header::CONTENT_LENGTH, 0)
            .header(header::AUTHORIZATION, auth);
        for (k, v) in headers {
            b = b.header(k, v);
        }
        b.body(ReqBody::empty())
            .map_err(|e| format!("cannot build request: {e}"))
    }

    /// Creates the S3 bucket unless it exists.
    pub async fn ensure_bucket(&self, conn: &mut Conn) -> Result<(), String> {
        let path = format!("/{}", self.bucket);
        let head = conn
            .call(self.s3_header_signed("HEAD", &path)?, true)
            .await?;
        if !head.status.is_success() {
            let put = conn
                .call(self.s3_header_signed("PUT", &path)?, true)
                .await?;
            if !put.status.is_success() && put.status != StatusCode::CONFLICT {
                return Err(put.describe(&format!("creating bucket {}", self.bucket)));
            }
        }
        // A cluster's other nodes may learn of a new bucket a moment later (Garage answers
        // NoSuchBucket meanwhile): every endpoint must see it before the run starts.
        for j in 1..self.addrs.len() {
            let mut other = self.conn(j);
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                let head = other
                    .call(self.s3_header_signed("HEAD", &path)?, true)
                    .await?;
                if head.status.is_success() {
                    break;
                }
                if std::time::Instant::now() > deadline {
                    return Err(head.describe(&format!(
                        "bucket {} not visible through endpoint {} after 30 s",
                        self.bucket,
                        j + 1
                    )));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Stowage: `POST …/presigned` for object `idx`. Returns the URL (None: already stored).
    pub async fn stowage_presign(
        &self,
        conn: &mut Conn,
        id: Uuid,
        sha: [u8; 32],
        size: u64,
    ) -> Result<Option<String>, String> {
        let body = json!({
            "id": id.to_string(),
            "contentType": self.content_type,
            "hash": base64::engine::general_purpose::STANDARD.encode(sha),
            "fileName": format!("bench-{id}.bin"),
            "size": size,
        });
        let ans = self
            .api_post("/file/upload/presigned", body.to_string(), conn)
            .await?;
        if ans.status == StatusCode::OK {
            return Ok(None); // already stored (deduplicated)
        }
        if ans.status != StatusCode::CREATED {
            return Err(ans.describe("presign"));
        }
        let v: Value = serde_json::from_slice(&ans.kept)
            .map_err(|e| format!("presign answered 201 with a body that is not JSON: {e}"))?;
        v["data"]["presignedURL"]
            .as_str()
            .map(|s| Some(s.to_owned()))
            .ok_or_else(|| "presign answered 201 without data.presignedURL".to_owned())
    }

    pub async fn api_post(
        &self,
        path: &str,
        body: String,
        conn: &mut Conn,
    ) -> Result<Answer, String> {
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("{API}{path}"))
            .header(header::HOST, &self.host)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token()?))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, body.len())
            .body(ReqBody::Full(Some(Bytes::from(body))))
            .map_err(|e| format!("cannot build request: {e}"))?;
        conn.call(req, true).await
    }

    pub async fn stowage_complete(&self, conn: &mut Conn, id: Uuid) -> Result<(), String> {
        let ans = self
            .api_post(
                "/file/upload/complete",
                json!({"id": id.to_string()}).to_string(),
                conn,
            )
            .await?;
        if ans.status.is_success() {
            Ok(())
        } else {
            Err(ans.describe("complete"))
        }
    }

    pub async fn stowage_download_url(&self, conn: &mut Conn, id: Uuid) -> Result<String, String> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(format!("{API}/file/{id}"))
            .header(header::HOST, &self.host)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token()?))
            .body(ReqBody::empty())
            .map_err(|e| format!("cannot build request: {e}"))?;
        let ans = conn.call(req, true).await?;
        if !ans.status.is_success() {
            return Err(ans.describe("GET file metadata"));
        }
        let v: Value = serde_json::from_slice(&ans.kept)
            .map_err(|e| format!("file metadata is not JSON: {e}"))?;
        v["data"]["downloadURL"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| {
                format!(
                    "file {id} has no downloadURL (status {})",
                    v["data"]["status"]
                )
            })
    }

    /// Prepares a PUT of generated object `idx` (Stowage: hash + presign; S3: sign here).
    pub async fn prepare_put(
        &self,
        conn: &mut Conn,
        idx: u64,
        size: u64,
    ) -> Result<PutJob, String> {
        match self.target {
            Target::S3 => Ok(PutJob {
                url: self.s3_url("PUT", &format!("obj-{:016x}-{idx}", self.gen.nonce))?,
                idx,
                size,
                id: None,
            }),
            Target::Stowage => {
                let gen = self.gen.clone();
                let sha = if size > 8 * MIB {
                    tokio::task::spawn_blocking(move || gen.sha256(idx, size))
                        .await
                        .map_err(|e| format!("hashing task failed: {e}"))?
                } else {
                    gen.sha256(idx, size)
                };
                let id = Uuid::new_v4();
                let url = self
                    .stowage_presign(conn, id, sha, size)
                    .await?
                    .ok_or_else(|| {
                        format!("presign of {id} answered 200: these bytes are already stored")
                    })?;
                Ok(PutJob {
                    url,
                    idx,
                    size,
                    id: Some(id),
                })
            }
        }
    }

    /// PUTs a prepared object; `Ok(bytes sent)` on 2xx.
    pub async fn put(&self, conn: &mut Conn, job: &PutJob) -> Result<u64, String> {
        let body = ReqBody::Gen(self.gen.body(job.idx, job.size));
        let ct = self.content_type.as_str();
        let req = request_for_url(Method::PUT, &job.url, &[("content-type", ct)], body)?;
        let ans = conn.call(req, false).await?;
        if ans.status.is_success() {
            Ok(job.size)
        } else {
            Err(ans.describe("PUT"))
        }
    }

    /// GETs a URL; `Ok(bytes received)` on 2xx with the expected length.
    pub async fn get(&self, conn: &mut Conn, url: &str, expect: u64) -> Result<u64, String> {
        let req = request_for_url(Method::GET, url, &[], ReqBody::empty())?;
        let ans = conn.call(req, false).await?;
        if !ans.status.is_success() {
            return Err(ans.describe("GET"));
        }
        if ans.len != expect {
            return Err(format!("GET returned {} bytes, expected {expect}", ans.len));
        }
        Ok(ans.len)
    }

    /// Uploads object `idx` (outside the timed phase) and returns a GET URL for it.
    pub async fn upload_for_get(
        &self,
        conn: &mut Conn,
        idx: u64,
        size: u64,
    ) -> Result<String, String> {
        let job = self.prepare_put(conn, idx, size).await?;
        self.put(conn, &job).await?;
        match (self.target, job.id) {
            (Target::Stowage, Some(id)) => {
                self.stowage_complete(conn, id).await?;
                self.stowage_download_url(conn, id).await
            }
            _ => self.s3_url("GET", &format!("obj-{:016x}-{idx}", self.gen.nonce)),
        }
    }
}
