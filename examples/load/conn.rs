//! One keep-alive HTTP/1.1 connection per worker (hyper's low-level client, `TCP_NODELAY`),
//! re-established when the server closes it; answers read whole within a per-operation timeout.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{header, Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::body::{ReqBody, CHUNK};

/// How much of a response body is kept (for JSON answers — the part list of a 1 GiB file in
/// 8 MiB parts is about 80 KB — and error messages).
const KEEP_BODY: usize = 1024 * 1024;

/// One keep-alive connection, re-established when the server closes it.
pub struct Conn {
    addr: SocketAddr,
    sender: Option<SendRequest<ReqBody>>,
    timeout: Duration,
}

pub struct Answer {
    pub status: StatusCode,
    /// Body bytes received.
    pub len: u64,
    /// The first `KEEP_BODY` bytes, if asked for.
    pub kept: Bytes,
    /// The `ETag` header (an S3 part's, for CompleteMultipartUpload).
    pub etag: Option<String>,
}

impl Answer {
    pub fn describe(&self, what: &str) -> String {
        let text = String::from_utf8_lossy(&self.kept[..self.kept.len().min(400)]);
        format!("{what}: HTTP {} {}", self.status.as_u16(), text.trim())
    }
}

impl Conn {
    pub fn new(addr: SocketAddr, timeout: Duration) -> Self {
        Conn {
            addr,
            sender: None,
            timeout,
        }
    }

    async fn connect(&mut self) -> Result<(), String> {
        let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(self.addr))
            .await
            .map_err(|_| format!("connecting to {} timed out after 5 s", self.addr))?
            .map_err(|e| format!("cannot connect to {}: {e}", self.addr))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::Builder::new()
            .max_buf_size(4 * CHUNK)
            .handshake::<_, ReqBody>(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {} failed: {e}", self.addr))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    /// Sends one request and reads the whole answer (keeping up to `KEEP_BODY` bytes when
    /// `keep` or the status is not 2xx), within the per-operation timeout.
    pub async fn call(&mut self, req: Request<ReqBody>, keep: bool) -> Result<Answer, String> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.call_inner(req, keep)).await {
            Ok(r) => r,
            Err(_) => {
                self.sender = None;
                Err(format!("no complete answer within {} s", timeout.as_secs()))
            }
        }
    }

    async fn call_inner(&mut self, req: Request<ReqBody>, keep: bool) -> Result<Answer, String> {
        let usable = match self.sender.as_mut() {
            Some(s) => !s.is_closed() && s.ready().await.is_ok(),
            None => false,
        };
        if !usable {
            self.sender = None;
            self.connect().await?;
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err("no connection".into());
        };
        if sender.ready().await.is_err() {
            self.sender = None;
            return Err("connection closed before the request could be sent".into());
        }
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(format!("request failed: {e}"));
            }
        };
        match read_answer(resp, keep).await {
            Ok(a) => Ok(a),
            Err(e) => {
                self.sender = None;
                Err(e)
            }
        }
    }
}

async fn read_answer(resp: Response<Incoming>, keep: bool) -> Result<Answer, String> {
    let status = resp.status();
    let etag = resp
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let keep = keep || !status.is_success();
    let mut body = resp.into_body();
    let mut len = 0u64;
    let mut kept = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| format!("reading the answer failed after {len} bytes: {e}"))?;
        if let Ok(data) = frame.into_data() {
            len += data.len() as u64;
            if keep && kept.len() < KEEP_BODY {
                let n = data.len().min(KEEP_BODY - kept.len());
                kept.extend_from_slice(&data[..n]);
            }
        }
    }
    Ok(Answer {
        status,
        len,
        kept: kept.freeze(),
        etag,
    })
}

/// A request for an absolute URL (as a presigned URL is): origin-form target, `Host` from the
/// URL's authority (it is signed), sent to whichever address the connection uses.
pub fn request_for_url(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: ReqBody,
) -> Result<Request<ReqBody>, String> {
    let uri: Uri = url.parse().map_err(|e| format!("bad URL {url}: {e}"))?;
    let host = uri
        .authority()
        .ok_or_else(|| format!("URL without a host: {url}"))?
        .as_str()
        .to_owned();
    let target = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut b = Request::builder()
        .method(method)
        .uri(target)
        .header(header::HOST, host)
        .header(header::CONTENT_LENGTH, body.len());
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body)
        .map_err(|e| format!("cannot build request: {e}"))
}
