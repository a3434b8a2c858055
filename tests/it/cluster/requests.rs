//! Requests to the cluster through the gateway a test picks: presigned
//! S3 requests, JSON API calls with the cluster's token, curl PUTs (whole,
//! or slow ones that run on while the test breaks something), downloads,
//! the whole upload flow, `/healthz`; and what a test reads of Garage.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Cluster, KEY_ID, SECRET};
use crate::harness::{curl_answer, curl_put_command, curl_put_with, Resp, TestFile};

impl Cluster {
    /// A URL of gateway `i` (by its own address) for the S3 request
    /// `method path?query`, presigned with the cluster's key pair, signing
    /// `headers` too (lowercase names).
    pub fn s3_url(
        &self,
        i: usize,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> String {
        let creds = stowage::sigv4::Credentials {
            access_key_id: KEY_ID.into(),
            secret_access_key: SECRET.into(),
        };
        let host = self.addrs[i].to_string();
        let q = stowage::sigv4::presign(
            &creds,
            &stowage::sigv4::PresignParams {
                method,
                host: &host,
                path,
                region: "us-east-1",
                service: "s3",
                expires_secs: 600,
                extra_query: query,
                extra_signed_headers: headers,
            },
            time::OffsetDateTime::now_utc(),
        );
        format!(
            "http://{host}{}?{q}",
            stowage::sigv4::encode::uri_encode(path, false)
        )
    }

    /// An S3 request through gateway `i`, presigned: (status, body).
    pub fn s3(
        &self,
        i: usize,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<u8>) {
        let url = self.s3_url(i, method, path, query, headers);
        let mut req = self.agent(i).request(method, &url);
        for (n, v) in headers {
            req = req.set(n, v);
        }
        answer_bytes(i, req.send_bytes(body))
    }
}

/// (status, body) of gateway `i`'s answer, whatever its status; no answer
/// fails the test.
fn answer_bytes(i: usize, r: Result<ureq::Response, ureq::Error>) -> (u16, Vec<u8>) {
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("gateway {i}: {e}"),
    };
    let status = resp.status();
    let mut body = Vec::new();
    resp.into_reader().read_to_end(&mut body).unwrap();
    (status, body)
}

/// Requests through one gateway, for the tests of any file.
impl Cluster {
    /// `method url` sent to gateway `i` with `headers` and `body`:
    /// whatever it answers.
    pub fn request(
        &self,
        i: usize,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let mut req = self.agent(i).request(method, url);
        for (n, v) in headers {
            req = req.set(n, v);
        }
        let r = if body.is_empty() && matches!(method, "GET" | "HEAD" | "DELETE") {
            req.call()
        } else {
            req.send_bytes(body)
        };
        if let Err(ureq::Error::Transport(e)) = &r {
            panic!("gateway {i}: {method} {url}: {e}\n{}", self.log(i));
        }
        Resp::from(r)
    }

    /// A JSON API call through gateway `i` with the cluster's token.
    pub fn api_resp(&self, i: usize, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let auth = format!("Bearer {}", self.token);
        let url = self.url(path);
        match body {
            Some(b) => self.request(
                i,
                method,
                &url,
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                ],
                b.to_string().as_bytes(),
            ),
            None => self.request(i, method, &url, &[("Authorization", &auth)], b""),
        }
    }

    /// [`Self::api_resp`] as (status, body), the body as JSON when it is.
    pub fn api(&self, i: usize, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let r = self.api_resp(i, method, path, body);
        let v = serde_json::from_str(&r.body).unwrap_or(Value::String(r.body));
        (r.status, v)
    }

    /// curl PUT of `bytes` to a public URL, sent to gateway `i` (curl
    /// reads an early answer while still sending): (status, body).
    pub fn curl_put(&self, i: usize, url: &str, content_type: &str, bytes: &[u8]) -> (u16, String) {
        let to = self.connect_to(i);
        curl_put_with(&["--connect-to", &to], url, content_type, bytes)
    }

    /// curl PUT of `bytes` to a public URL through gateway `i`, sent at
    /// `rate` (curl's `--limit-rate`, e.g. `2M`), running on while the
    /// test does something to the cluster.
    pub fn slow_put(
        &self,
        i: usize,
        url: &str,
        content_type: &str,
        bytes: &[u8],
        rate: &str,
    ) -> SlowPut {
        let to = self.connect_to(i);
        let extra = ["--connect-to", &to, "--limit-rate", rate];
        let (mut cmd, dir) = curl_put_command(&extra, url, content_type, bytes);
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        SlowPut { child, _dir: dir }
    }

    /// Waits until Garage has a multipart upload in progress in the
    /// cluster's bucket (a large body's parts are going up), for up to a
    /// minute.
    pub fn wait_upload_in_garage(&self, why: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.garage_uploads().contains("UploadId") {
            assert!(
                Instant::now() < deadline,
                "{why}: no upload went up to Garage"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Garage's multipart uploads in progress in the cluster's bucket, as
    /// the AWS CLI lists them (through node 0).
    pub fn garage_uploads(&self) -> String {
        let bucket = self.garage.bucket();
        self.garage
            .aws(0, &["s3api", "list-multipart-uploads", "--bucket", bucket])
    }

    /// Garage's objects under the blobs' prefix, as the AWS CLI lists them
    /// (through node 0).
    pub fn garage_blobs(&self) -> String {
        let prefix = format!("s3://{}/blobs/", self.garage.bucket());
        self.garage.aws(0, &["s3", "ls", &prefix])
    }

    /// The upstream ids the index records (the locations of blob rows),
    /// sorted.
    pub fn upstream_ids(&self) -> Vec<String> {
        self.index
            .rows("SELECT location FROM blobs WHERE location IS NOT NULL")
    }

    /// The status of file `id`'s row (one a row: none when there is no
    /// row).
    pub fn file_status(&self, id: &str) -> Vec<Option<String>> {
        self.index
            .column(&format!("SELECT status FROM files WHERE id = '{id}'"))
    }

    /// The bytes behind a public URL (a presigned download), from gateway
    /// `i`.
    pub fn fetch(&self, i: usize, url: &str) -> (u16, Vec<u8>) {
        answer_bytes(i, self.agent(i).get(url).call())
    }

    /// `f` declared for upload through gateway `i`, asserted: its
    /// presigned URL (presigning needs the index only).
    pub fn presign(&self, i: usize, f: &TestFile) -> String {
        let (status, body) = self.api(
            i,
            "POST",
            "/api/inspect/v1/file/upload/presigned",
            Some(&f.declaration()),
        );
        assert_eq!(status, 201, "presign on gateway {i}: {body}");
        body["data"]["presignedURL"].as_str().unwrap().to_string()
    }

    /// `f` presigned, PUT and completed through gateway `i`, each step
    /// asserted: its download URL.
    pub fn store_file(&self, i: usize, f: &TestFile) -> String {
        let url = self.presign(i, f);
        let (status, text) = self.curl_put(i, &url, &f.content_type, &f.bytes);
        assert_eq!(
            status,
            200,
            "PUT through gateway {i}: {text}\n{}",
            self.log(i)
        );
        let (status, body) = self.api(
            i,
            "POST",
            "/api/inspect/v1/file/upload/complete",
            Some(&serde_json::json!({ "id": f.id })),
        );
        assert_eq!(status, 200, "complete on gateway {i}: {body}");
        body["data"]["downloadURL"].as_str().unwrap().to_string()
    }

    /// Gateway `i`'s `/healthz`.
    pub fn health(&self, i: usize) -> Resp {
        self.request(i, "GET", &self.url("/healthz"), &[], b"")
    }

    /// Polls gateway `i`'s `/healthz` until it answers `status` (it holds
    /// a verdict for a second), for up to `within`: that answer.
    pub fn wait_health(&self, i: usize, status: u16, within: Duration) -> Resp {
        let deadline = Instant::now() + within;
        loop {
            let got = self.health(i);
            if got.status == status {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "gateway {i}'s /healthz still answers {} {}, not {status}\n{}",
                got.status,
                got.body,
                self.log(i)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Fails the test if a gateway's log shows a panic or a 500 (a fault
    /// must be answered as what it is).
    pub fn assert_no_panic_or_500(&self) {
        for i in 0..self.gateways.len() {
            let log = self.log(i);
            assert!(!log.contains("panicked"), "gateway {i} panicked:\n{log}");
            assert!(
                !log.contains("status=500"),
                "gateway {i} answered 500:\n{log}"
            );
        }
    }
}

/// A curl PUT under way ([`Cluster::slow_put`]).
pub struct SlowPut {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl SlowPut {
    /// Waits for its end: (status, body, curl's stderr); status 0 when no
    /// answer came.
    pub fn finish(self) -> (u16, String, String) {
        let out = self.child.wait_with_output().unwrap();
        let (status, body) = curl_answer(&out.stdout);
        (
            status,
            body,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }
}
