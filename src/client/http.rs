//! The client's one HTTP(S) connection pool, and the rules for trying
//! again.
//!
//! Retried: connection failures (refused, reset, cut mid-body, stalled past
//! the watchdog), 5xx, 408 and 429 — with exponential backoff and jitter,
//! honouring `Retry-After`. Everything else is an answer the caller reads.
//! Every call the client makes is safe to repeat: presign, parts and
//! complete are idempotent on the server, and a PUT of the same bytes to
//! the same URL stores the same thing.
//!
//! Bodies are streamed from disk in pieces (never a whole file in memory),
//! counting progress as they go and, with a rate limit, pacing themselves.
//! This module never logs or prints a URL's query (it holds a signature)
//! or the token.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::ClientError;

/// Every request body the client sends.
pub type ReqBody = BoxBody<Bytes, std::io::Error>;

/// Largest answer read into memory (a part list of 10,000 URLs fits).
const MAX_ANSWER: usize = 32 << 20;
/// Piece of a file read and sent at a time.
const PIECE: usize = 256 << 10;

/// How often, and how patiently, to try again.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Tries after the first one.
    pub retries: u32,
    /// Wait before the first retry; doubles each time.
    pub first: Duration,
    /// Longest wait between tries.
    pub max: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            retries: 8,
            first: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

impl Retry {
    /// The wait after the `failures`-th failure (1-based): the server's
    /// `Retry-After` if it gave one (capped at `max`), else `first ×
    /// 2^(failures-1)` capped at `max`, less up to a quarter at random so
    /// many clients cut off together do not return together.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        if let Some(d) = retry_after {
            return d.min(self.max);
        }
        let exp = self
            .first
            .saturating_mul(1u32 << failures.saturating_sub(1).min(20));
        exp.min(self.max)
            .mul_f64(1.0 - 0.25 * jitter.clamp(0.0, 1.0))
    }
}

/// Whether an answer means "try again later".
pub fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// A whole (small) answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The JSON body, or `Null`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The error this answer carries, in the server's words: the JSON API's
    /// `{"error", "errorDescription"}` or S3's `<Code>` / `<Message>`.
    pub fn refusal(&self) -> ClientError {
        let v = self.json();
        let (code, message) = if let Some(code) = v["error"].as_str() {
            (
                code.to_string(),
                v["errorDescription"].as_str().unwrap_or("").to_string(),
            )
        } else {
            let text = String::from_utf8_lossy(&self.body);
            (
                xml_text(&text, "Code").unwrap_or_default(),
                xml_text(&text, "Message").unwrap_or_else(|| text.chars().take(200).collect()),
            )
        };
        ClientError::Refused {
            status: self.status.as_u16(),
            code,
            message,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        self.headers
            .get(header::RETRY_AFTER)?
            .to_str()
            .ok()?
            .trim()
            .parse()
            .ok()
            .map(Duration::from_secs)
    }
}

/// The text of the first `<tag>…</tag>` (S3 error bodies are flat).
fn xml_text(doc: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = doc.find(&open)? + open.len();
    let end = doc[start..].find(&format!("</{tag}>"))? + start;
    Some(
        doc[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// Failures that no retry can mend: a certificate not trusted, a local
/// file that cannot be read or shrank, a request that cannot be built.
fn permanent(why: &str) -> bool {
    [
        "certificate",
        "cannot read ",
        "became shorter",
        "bad request: ",
    ]
    .iter()
    .any(|m| why.contains(m))
}

/// A URL without its query, for messages (the query holds a signature).
pub fn redact(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// A file range to send as a request body.
pub struct FileRange<'a> {
    pub path: &'a Path,
    pub offset: u64,
    pub len: u64,
}

/// Sent bytes, reported as they go (to progress bars).
pub type OnBytes = Arc<dyn Fn(u64) + Send + Sync>;

/// One try of a request.
type Attempt<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Answer, String>> + Send + 'a>>;

/// Says why a retry happens (to the user's screen).
pub type OnRetry<'a> = &'a (dyn Fn(String) + Send + Sync);

pub struct Http {
    client: Client<crate::upstream::connect::Connector, ReqBody>,
    pub retry: Retry,
    /// A transfer that moves no byte for this long is given up and retried.
    pub stall: Duration,
    /// The upload pace limit, shared by every body in flight (`None`: as
    /// fast as it goes).
    pub pacer: Option<Arc<Pacer>>,
    server: String,
}

impl Http {
    /// A client for `server`; `ca_file` adds trusted certificates (PEM) to
    /// the system's, for a gateway with a private or self-signed one.
    pub fn new(server: &str, ca_file: Option<&Path>) -> Result<Http, ClientError> {
        // The system's roots even for an http:// server: the presigned URLs
        // point at its `public_url`, which may well be https.
        let https = crate::upstream::connect::connector(ca_file, Duration::from_secs(15))
            .map_err(ClientError::Config)?;
        Ok(Http {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(https),
            retry: Retry::default(),
            stall: Duration::from_secs(60),
            pacer: None,
            server: server.to_string(),
        })
    }

    /// One request, its answer read whole; `Err` is a transport failure
    /// (worth retrying). Gives up when no byte moved for `stall` (counted
    /// by `moved`, if the body reports into it) or after `limit` in all.
    async fn once(
        &self,
        req: Request<ReqBody>,
        moved: Option<Arc<AtomicU64>>,
        limit: Duration,
    ) -> Result<Answer, String> {
        let call = async {
            let resp = self.client.request(req).await.map_err(describe)?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| format!("the answer broke off: {e}"))?
                .to_bytes();
            Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        let watchdog = async {
            let started = Instant::now();
            let mut last = (0, Instant::now());
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let now = moved.as_ref().map_or(0, |m| m.load(Ordering::Relaxed));
                if now != last.0 {
                    last = (now, Instant::now());
                } else if last.1.elapsed() >= self.stall.min(limit) && moved.is_some() {
                    return format!("no progress for {} s", self.stall.as_secs());
                }
                if started.elapsed() >= limit {
                    return format!("no answer within {} s", limit.as_secs());
                }
            }
        };
        tokio::select! {
            r = call => r,
            why = watchdog => Err(why),
        }
    }

    /// Tries `attempt()` until it gets an answer that is not "try again",
    /// or the retries run out. `what` names the step in retry notices.
    async fn with_retries<'a>(
        &self,
        what: &str,
        on_retry: OnRetry<'_>,
        mut attempt: impl FnMut() -> Attempt<'a>,
    ) -> Result<Answer, ClientError> {
        let mut failures = 0u32;
        loop {
            let (why, after) = match attempt().await {
                Ok(a) if retryable(a.status) => {
                    let why = format!("the server answered {}", a.status);
                    if failures >= self.retry.retries {
                        return Ok(a);
                    }
                    (why, a.retry_after())
                }
                Ok(a) => return Ok(a),
                Err(why) if permanent(&why) => {
                    return Err(ClientError::Unreachable {
                        server: self.server.clone(),
                        detail: format!("{what}: {why} (not retried: trying again cannot help)"),
                    })
                }
                Err(why) => {
                    if failures >= self.retry.retries {
                        return Err(ClientError::Unreachable {
                            server: self.server.clone(),
                            detail: format!("{what}: {why} (gave up after {} tries)", failures + 1),
                        });
                    }
                    (why, None)
                }
            };
            failures += 1;
            let wait = self.retry.delay(failures, after, crate::random::unit_f64());
            on_retry(format!(
                "{what}: {why}; retrying in {:.1} s (retry {failures} of {})",
                wait.as_secs_f64(),
                self.retry.retries
            ));
            tokio::time::sleep(wait).await;
        }
    }

    /// A JSON API call with the bearer token; the answer, whatever its
    /// status (after retries of the retryable ones).
    pub async fn api(
        &self,
        method: Method,
        url: &str,
        token: &str,
        body: Option<&serde_json::Value>,
        limit: Duration,
        on_retry: OnRetry<'_>,
    ) -> Result<Answer, ClientError> {
        let bytes = body.map(|b| Bytes::from(b.to_string()));
        let auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            ClientError::Config("the token holds characters a header cannot".into())
        })?;
        let what = format!("{method} {}", redact(url));
        self.with_retries(&what, on_retry, || {
            Box::pin(self.api_once(method.clone(), url, auth.clone(), bytes.clone(), limit))
        })
        .await
    }

    async fn api_once(
        &self,
        method: Method,
        url: &str,
        auth: HeaderValue,
        body: Option<Bytes>,
        limit: Duration,
    ) -> Result<Answer, String> {
        let mut req = Request::builder()
            .method(method)
            .uri(url)
            .header(header::AUTHORIZATION, auth);
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(full(body.unwrap_or_default()))
            .map_err(|e| format!("bad request: {e}"))?;
        self.once(req, None, limit).await
    }

    /// PUTs a file range to a presigned URL with `headers`, streamed from
    /// disk; `on_bytes` hears of every piece sent, `on_undo` of the count
    /// sent by an attempt that failed (to roll progress back).
    pub async fn put_file(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        range: &FileRange<'_>,
        on_bytes: OnBytes,
        on_undo: &(dyn Fn(u64) + Send + Sync),
        on_retry: OnRetry<'_>,
    ) -> Result<Answer, ClientError> {
        let what = format!("PUT {}", redact(url));
        self.with_retries(&what, on_retry, || {
            Box::pin(self.put_once(url, headers, range, on_bytes.clone(), on_undo))
        })
        .await
    }

    async fn put_once(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        range: &FileRange<'_>,
        on_bytes: OnBytes,
        on_undo: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Answer, String> {
        let moved = Arc::new(AtomicU64::new(0));
        let body = file_body(range, moved.clone(), on_bytes, self.pacer.clone())
            .await
            .map_err(|e| format!("cannot read {}: {e}", range.path.display()))?;
        let mut req = Request::builder()
            .method(Method::PUT)
            .uri(url)
            .header(header::CONTENT_LENGTH, range.len);
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let req = req.body(body).map_err(|e| format!("bad request: {e}"))?;
        // The whole range may take long on a slow link; only a stall (or,
        // at the end, an answer that never comes) stops it.
        let answer = self.once(req, Some(moved.clone()), Duration::MAX).await;
        if !matches!(&answer, Ok(a) if a.status.is_success()) {
            on_undo(moved.load(Ordering::Relaxed));
        }
        answer
    }

    /// A GET streamed back to the caller, from byte `from` (a `Range`
    /// request when above 0); `Err` is a transport failure.
    pub async fn get_stream(
        &self,
        url: &str,
        from: u64,
    ) -> Result<hyper::Response<Incoming>, String> {
        let mut req = Request::builder().method(Method::GET).uri(url);
        if from > 0 {
            req = req.header(header::RANGE, format!("bytes={from}-"));
        }
        let req = req
            .body(full(Bytes::new()))
            .map_err(|e| format!("bad request: {e}"))?;
        match tokio::time::timeout(self.stall, self.client.request(req)).await {
            Ok(r) => r.map_err(describe),
            Err(_) => Err(format!("no answer within {} s", self.stall.as_secs())),
        }
    }
}

/// A whole in-memory body.
pub fn full(b: Bytes) -> ReqBody {
    Full::new(b).map_err(|never| match never {}).boxed()
}

/// The transport failure in words, with its cause (hyper's own message is
/// only "client error (Connect)").
fn describe(e: hyper_util::client::legacy::Error) -> String {
    let mut s = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// One upload pace for the whole command: all bodies in flight together
/// send at most `rate` bytes per second (so `--jobs` and parallel parts do
/// not multiply a limit meant for a shared link).
pub struct Pacer {
    rate: u64,
    /// When the current run of sending began, and the bytes since.
    state: std::sync::Mutex<(Instant, u64)>,
}

impl Pacer {
    pub fn new(rate: u64) -> Pacer {
        Pacer::starting(rate, Instant::now())
    }

    fn starting(rate: u64, at: Instant) -> Pacer {
        Pacer {
            rate: rate.max(1),
            state: std::sync::Mutex::new((at, 0)),
        }
    }

    /// How long to wait before sending `n` more bytes. Idle time earns at
    /// most a second of credit, so a pause is not followed by a burst.
    pub fn delay(&self, n: u64, now: Instant) -> Duration {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let due = s.0 + Duration::from_secs_f64(s.1 as f64 / self.rate as f64);
        if due + Duration::from_secs(1) < now {
            *s = (now - Duration::from_secs(1), self.rate);
        }
        let due = s.0 + Duration::from_secs_f64(s.1 as f64 / self.rate as f64);
        s.1 += n;
        due.saturating_duration_since(now)
    }

    /// Pieces small enough for a smooth pace.
    fn piece(&self) -> usize {
        (self.rate as usize / 8).clamp(4096, PIECE)
    }
}

/// The bytes of `range` as a stream of pieces, paced by `pacer` if set;
/// fails if the file ends early (it shrank).
async fn file_body(
    range: &FileRange<'_>,
    moved: Arc<AtomicU64>,
    on_bytes: OnBytes,
    pacer: Option<Arc<Pacer>>,
) -> std::io::Result<ReqBody> {
    let mut file = tokio::fs::File::open(range.path).await?;
    file.seek(std::io::SeekFrom::Start(range.offset)).await?;
    let piece = pacer.as_ref().map_or(PIECE, |p| p.piece());
    let state = (file, range.len);
    let stream = futures_util::stream::unfold(state, move |(mut file, left)| {
        let (moved, on_bytes, pacer) = (moved.clone(), on_bytes.clone(), pacer.clone());
        async move {
            if left == 0 {
                return None;
            }
            let want = piece.min(left as usize);
            if let Some(p) = &pacer {
                tokio::time::sleep(p.delay(want as u64, Instant::now())).await;
            }
            let mut buf = vec![0u8; want];
            let read = match file.read(&mut buf).await {
                Ok(0) => Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file became shorter while it was being sent",
                )),
                Ok(n) => Ok(n),
                Err(e) => Err(e),
            };
            match read {
                Ok(n) => {
                    buf.truncate(n);
                    moved.fetch_add(n as u64, Ordering::Relaxed);
                    on_bytes(n as u64);
                    Some((Ok(Frame::data(Bytes::from(buf))), (file, left - n as u64)))
                }
                Err(e) => Some((Err(e), (file, 0))),
            }
        }
    });
    Ok(BodyExt::boxed(StreamBody::new(stream)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_honours_retry_after() {
        let r = Retry {
            retries: 8,
            first: Duration::from_millis(500),
            max: Duration::from_secs(30),
        };
        assert_eq!(r.delay(1, None, 0.0), Duration::from_millis(500));
        assert_eq!(r.delay(2, None, 0.0), Duration::from_secs(1));
        assert_eq!(r.delay(4, None, 0.0), Duration::from_secs(4));
        assert_eq!(r.delay(12, None, 0.0), Duration::from_secs(30));
        assert_eq!(r.delay(40, None, 0.0), Duration::from_secs(30));
        // Jitter takes off at most a quarter.
        assert_eq!(r.delay(2, None, 1.0), Duration::from_millis(750));
        assert_eq!(
            r.delay(1, Some(Duration::from_secs(3)), 0.5),
            Duration::from_secs(3)
        );
        assert_eq!(
            r.delay(1, Some(Duration::from_secs(3600)), 0.0),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn one_pace_for_all_bodies_with_a_second_of_credit_at_most() {
        let t0 = Instant::now();
        let p = Pacer::starting(1000, t0);
        // Right after start, within the second of credit: no wait.
        assert_eq!(p.delay(500, t0), Duration::ZERO);
        // 500 bytes are due by 0.5 s: the next 500 wait for it, whoever
        // sends them.
        assert_eq!(p.delay(500, t0), Duration::from_millis(500));
        assert_eq!(p.delay(1000, t0), Duration::from_secs(1));
        // After a long pause, a second's worth goes at once, not more.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(p.delay(1000, later), Duration::ZERO);
        assert_eq!(p.delay(1000, later), Duration::from_secs(1));
    }

    #[test]
    fn which_answers_are_retried() {
        for s in [500, 502, 503, 504, 507, 408, 429] {
            assert!(retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [200, 201, 400, 401, 403, 404, 409, 413] {
            assert!(!retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }

    #[test]
    fn refusals_are_read_from_json_and_from_s3_xml() {
        let a = Answer {
            status: StatusCode::CONFLICT,
            headers: HeaderMap::new(),
            body: Bytes::from(r#"{"error":"conflict","errorDescription":"id used"}"#),
        };
        assert_eq!(
            a.refusal().to_string(),
            "the server answered 409 conflict: id used"
        );
        let a = Answer {
            status: StatusCode::FORBIDDEN,
            headers: HeaderMap::new(),
            body: Bytes::from(
                "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>\
                 <Message>Request has expired &amp; more</Message></Error>",
            ),
        };
        assert_eq!(
            a.refusal().to_string(),
            "the server answered 403 AccessDenied: Request has expired & more"
        );
    }

    #[test]
    fn failures_no_retry_can_mend_are_not_retried() {
        assert!(permanent(
            "client error (Connect): invalid peer certificate: UnknownIssuer"
        ));
        assert!(permanent("cannot read /x/a.jpg: Permission denied"));
        assert!(permanent(
            "error from user's Body stream: the file became shorter while it was being sent"
        ));
        assert!(!permanent(
            "client error (SendRequest): connection closed before message completed"
        ));
        assert!(!permanent(
            "client error (Connect): tcp connect error: Connection refused"
        ));
        assert!(!permanent("no progress for 60 s"));
    }

    #[test]
    fn messages_never_carry_a_query() {
        assert_eq!(redact("http://h/b/k?X-Amz-Signature=abc"), "http://h/b/k");
    }
}
