//! [`Client`]: one connection pool to the upstream S3 store, and the one
//! way a request to it is built, signed, sent and its failure told apart.
//! The calls themselves live beside it, one family per file (`object.rs`,
//! `multipart.rs`, `list.rs`).
//!
//! Every request is signed by [`crate::sigv4::sign_request`] over exactly
//! what is sent: the path encoded once (keys are ours, but encoded all the
//! same), the query in canonical order, `host` and every `x-amz-*` /
//! `content-md5` header. One attempt per call: whether to try again is
//! the caller's decision ([`UpstreamError::is_transient`]).
//!
//! Several endpoints (the nodes of one cluster, any of which serves any
//! request): a call goes to the one that answered last, and only when it
//! cannot even be connected to — so nothing of the request was sent, and
//! sending it elsewhere cannot do anything twice — to the next in the
//! configured order, which then takes the following calls. A request cut
//! or timed out after it was sent is not passed on: that is `Unreachable`
//! for the caller to judge.
//!
//! Must never: log or put in an error a signature, the secret or a
//! response body; wait on a silent store past the idle timeout; or read
//! the clock other than through the injected [`Clock`].

use std::fmt;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as Pool;
use hyper_util::rt::TokioExecutor;

use super::body::{chain, read_small, Activity, Body, BodyFailed, Sending};
use super::config::{targets, Config, Target};
use super::connect::{connector, Connector};
use super::error::UpstreamError;
use super::xml;
use crate::clock::{Clock, SystemClock};
use crate::sigv4::canonical::canonical_query;
use crate::sigv4::encode::uri_encode;
use crate::sigv4::{sign_request, Credentials, SignRequest};

/// Largest answer read into memory: a listing page of 1000 long keys, a
/// completion's answer, an error.
pub(super) const MAX_ANSWER: usize = 8 << 20;

/// A client of one bucket of one S3 store. Cheap to clone (one shared
/// pool).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool<Connector, Sending>,
    /// The endpoints in their configured order (at least one).
    endpoints: Vec<Endpoint>,
    /// The endpoint calls go to first: the one that answered last.
    current: AtomicUsize,
    region: String,
    creds: Credentials,
    idle: Duration,
    list_page_size: u32,
    clock: Arc<dyn Clock>,
}

/// A [`Call`] without its body: what each attempt signs again.
struct Head<'a> {
    method: Method,
    key: Option<&'a str>,
    query: Vec<(&'a str, String)>,
    headers: Vec<(&'static str, String)>,
    length: u64,
    payload_hash: String,
}

/// One endpoint of the store.
struct Endpoint {
    target: Target,
    /// `scheme://host`, for messages.
    origin: Arc<str>,
}

/// Which endpoint answered, kept in a response's extensions (for the
/// messages of a body read later).
#[derive(Clone)]
struct AnsweredBy(Arc<str>);

/// How one attempt at one endpoint failed.
enum Attempt {
    /// No connection could be made: nothing was sent, and the body is
    /// back for the next endpoint.
    NoConnection { body: Body, detail: String },
    /// Anything else, final.
    Failed(UpstreamError),
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origins: Vec<&str> = self.inner.endpoints.iter().map(|e| &*e.origin).collect();
        f.debug_struct("Client")
            .field("endpoints", &origins)
            .field("base_path", &self.base_path())
            .field("region", &self.inner.region)
            .field("access_key_id", &self.inner.creds.access_key_id)
            .finish()
    }
}

/// One request to make: the object `key` (or the bucket itself when
/// `None`), decoded query pairs, extra headers to send and sign, and a
/// body with its length and payload hash.
pub(super) struct Call<'a> {
    pub method: Method,
    pub key: Option<&'a str>,
    pub query: Vec<(&'a str, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
    pub length: u64,
    /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    pub payload_hash: String,
}

impl<'a> Call<'a> {
    /// A call without a body (GET, HEAD, DELETE, or a POST of nothing).
    pub fn bare(method: Method, key: Option<&'a str>) -> Call<'a> {
        Call {
            method,
            key,
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::empty(),
            length: 0,
            payload_hash: crate::sigv4::string_to_sign::EMPTY_SHA256.to_owned(),
        }
    }

    pub fn query(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// A small body held in memory, its SHA-256 signed.
    pub fn small_body(mut self, body: String) -> Self {
        self.payload_hash = crate::sigv4::string_to_sign::sha256_hex(body.as_bytes());
        self.length = body.len() as u64;
        self.body = Body::from_bytes(Bytes::from(body));
        self
    }
}

impl Client {
    /// A client for `config`, on the system clock.
    pub fn new(config: Config) -> Result<Client, UpstreamError> {
        Client::with_clock(config, Arc::new(SystemClock))
    }

    /// A client whose requests are signed at `clock`'s time.
    pub fn with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<Client, UpstreamError> {
        let endpoints = targets(&config)?
            .into_iter()
            .map(|target| Endpoint {
                origin: target.origin().into(),
                target,
            })
            .collect();
        let connector = connector(config.ca_file.as_deref(), config.connect_timeout)
            .map_err(UpstreamError::Config)?;
        let pool = Pool::builder(TokioExecutor::new())
            // Below the keep-alive of the stores we know (Garage's hyper
            // server keeps idle connections far longer), so a pooled
            // connection is rarely one the store is closing.
            .pool_idle_timeout(Duration::from_secs(20))
            .build(connector);
        Ok(Client {
            inner: Arc::new(Inner {
                pool,
                endpoints,
                current: AtomicUsize::new(0),
                region: config.region,
                creds: Credentials {
                    access_key_id: config.access_key_id,
                    secret_access_key: config.secret_access_key,
                },
                idle: config.idle_timeout,
                list_page_size: config.list_page_size,
                clock,
            }),
        })
    }

    /// The idle timeout of every request.
    pub(super) fn idle(&self) -> Duration {
        self.inner.idle
    }

    /// The endpoint calls go to first (the one that answered last), as
    /// `scheme://host`.
    pub fn current_endpoint(&self) -> Arc<str> {
        let inner = &*self.inner;
        inner.endpoints[inner.current.load(Ordering::Relaxed) % inner.endpoints.len()]
            .origin
            .clone()
    }

    /// The endpoint that gave `answer` (for the messages of its body).
    pub(super) fn answered_by(&self, answer: &http::response::Parts) -> Arc<str> {
        match answer.extensions.get::<AnsweredBy>() {
            Some(a) => a.0.clone(),
            None => self.current_endpoint(),
        }
    }

    /// The path before a key: the same at every endpoint.
    fn base_path(&self) -> &str {
        &self.inner.endpoints[0].target.base_path
    }

    pub(super) fn list_page_size(&self) -> u32 {
        self.inner.list_page_size
    }

    /// The path of `key` (or of the bucket) as it goes on the wire.
    fn path(&self, key: Option<&str>) -> String {
        let base = self.base_path();
        let raw = match key {
            Some(k) => format!("{base}/{k}"),
            None if base.is_empty() => "/".to_owned(),
            None => base.to_owned(),
        };
        uri_encode(&raw, false)
    }

    /// Signs and sends `call`; the answer's head as soon as it comes, its
    /// body still to read. `Err` only for a transport failure, a silent
    /// store or a failing request body: statuses are the caller's to read.
    /// An endpoint that cannot be connected to passes the call to the next
    /// (see the module docs).
    pub(super) async fn send(&self, call: Call<'_>) -> Result<Response<Incoming>, UpstreamError> {
        let inner = &*self.inner;
        let Call {
            method,
            key,
            query,
            headers,
            mut body,
            length,
            payload_hash,
        } = call;
        let head = Head {
            method,
            key,
            query,
            headers,
            length,
            payload_hash,
        };
        let count = inner.endpoints.len();
        let first = inner.current.load(Ordering::Relaxed) % count;
        let mut refused = Vec::new();
        for step in 0..count {
            let at = (first + step) % count;
            let endpoint = &inner.endpoints[at];
            match self.send_to(endpoint, &head, body).await {
                Ok(mut answer) => {
                    if step > 0 {
                        inner.current.store(at, Ordering::Relaxed);
                        tracing::warn!(
                            unreachable = %inner.endpoints[first].origin,
                            now = %endpoint.origin,
                            "an upstream S3 endpoint cannot be connected to; calls go to \
                             the next one"
                        );
                    }
                    answer
                        .extensions_mut()
                        .insert(AnsweredBy(endpoint.origin.clone()));
                    return Ok(answer);
                }
                Err(Attempt::NoConnection { body: back, detail }) => {
                    refused.push((endpoint.origin.clone(), detail));
                    body = back;
                }
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
        Err(match <[_; 1]>::try_from(refused) {
            Ok([(origin, detail)]) => UpstreamError::Unreachable {
                endpoint: origin.to_string(),
                detail,
            },
            Err(all) => UpstreamError::Unreachable {
                endpoint: all.iter().map(|(o, _)| &**o).collect::<Vec<_>>().join(", "),
                detail: all
                    .iter()
                    .map(|(o, d)| format!("{o}: {d}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            },
        })
    }

    /// One attempt of `call`, with `body`, at `endpoint`.
    async fn send_to(
        &self,
        endpoint: &Endpoint,
        call: &Head<'_>,
        body: Body,
    ) -> Result<Response<Incoming>, Attempt> {
        let inner = &*self.inner;
        let target = &endpoint.target;
        let path = self.path(call.key);
        let query: Vec<(&str, &str)> = call.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let rendered_query = canonical_query(&query);
        let mut signed: Vec<(&str, &str)> = vec![("host", target.host.as_str())];
        signed.extend(call.headers.iter().map(|(n, v)| (*n, v.as_str())));
        let auth = sign_request(
            &inner.creds,
            &SignRequest {
                method: call.method.as_str(),
                canonical_path: &path,
                query: &query,
                headers: &signed,
                payload_hash: &call.payload_hash,
                region: &inner.region,
                service: "s3",
                content_sha256_header: true,
            },
            inner.clock.now(),
        );
        let uri = if rendered_query.is_empty() {
            format!("{}://{}{path}", target.scheme, target.host)
        } else {
            format!("{}://{}{path}?{rendered_query}", target.scheme, target.host)
        };
        let mut req = Request::builder().method(call.method.clone()).uri(uri);
        for (name, value) in &signed {
            req = req.header(*name, *value);
        }
        for (name, value) in auth.pairs() {
            req = req.header(name, value);
        }
        // A length on every write, even an empty one; none on a GET,
        // HEAD or DELETE, which carry no body.
        if call.length > 0 || matches!(call.method, Method::PUT | Method::POST) {
            req = req.header(http::header::CONTENT_LENGTH, call.length);
        }
        let activity = Activity::new();
        let (sending, unsent) = Sending::new(body, call.length, activity.clone());
        let req = req.body(sending).map_err(|e| {
            Attempt::Failed(UpstreamError::Config(format!(
                "cannot build a request: {e}"
            )))
        })?;

        let mut answer = pin!(inner.pool.request(req));
        loop {
            let wait = inner.idle.saturating_sub(activity.idle());
            tokio::select! {
                r = &mut answer => {
                    let e = match r {
                        Ok(answer) => return Ok(answer),
                        Err(e) => e,
                    };
                    // Not connected: nothing was sent, the body is whole.
                    if e.is_connect() {
                        if let Some(body) = unsent.take_back() {
                            return Err(Attempt::NoConnection { body, detail: chain(&e) });
                        }
                    }
                    return Err(Attempt::Failed(transport(&endpoint.origin, e)));
                }
                _ = tokio::time::sleep(wait) => {
                    if activity.idle() >= inner.idle {
                        return Err(Attempt::Failed(UpstreamError::Unreachable {
                            endpoint: endpoint.origin.to_string(),
                            detail: format!(
                                "nothing moved for {} s ({} {})",
                                inner.idle.as_secs(),
                                call.method,
                                path
                            ),
                        }));
                    }
                }
            }
        }
    }

    /// Sends `call` and reads a successful answer whole; any other answer
    /// becomes its [`UpstreamError`].
    pub(super) async fn call_ok(
        &self,
        call: Call<'_>,
    ) -> Result<(http::response::Parts, Bytes), UpstreamError> {
        let resp = self.send(call).await?;
        let (parts, body) = resp.into_parts();
        if !parts.status.is_success() {
            return Err(self.refusal(parts.status, body).await);
        }
        let origin = self.answered_by(&parts);
        let body = read_small(body, MAX_ANSWER, self.inner.idle, &origin).await?;
        Ok((parts, body))
    }

    /// The error an unsuccessful answer means, from its status and the
    /// `<Code>` of its body (read up to a limit; never kept).
    pub(super) async fn refusal(&self, status: http::StatusCode, body: Incoming) -> UpstreamError {
        // Only the code is kept: the endpoint a failed read would name
        // goes nowhere.
        let origin = self.current_endpoint();
        let code = match read_small(body, 64 << 10, self.inner.idle, &origin).await {
            Ok(doc) => xml::error_code(&doc).unwrap_or_default(),
            // The status alone still says what happened.
            Err(_) => String::new(),
        };
        UpstreamError::from_refusal(status.as_u16(), &code)
    }
}

/// A transport failure at `origin`: our own body's (the caller's to
/// answer for) or the store's (unreachable).
fn transport(origin: &str, e: hyper_util::client::legacy::Error) -> UpstreamError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(c) = cause {
        if let Some(b) = c.downcast_ref::<BodyFailed>() {
            return UpstreamError::Body(b.0.clone());
        }
        cause = c.source();
    }
    UpstreamError::Unreachable {
        endpoint: origin.to_owned(),
        detail: chain(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(path_style: bool) -> Client {
        let mut c = Config::new("http://127.0.0.1:9", "garage", "blobs", "GK1", "secret");
        c.path_style = path_style;
        Client::new(c).unwrap()
    }

    #[test]
    fn paths_are_encoded_once_in_either_addressing() {
        let c = client(true);
        assert_eq!(
            c.path(Some("ab/cd ef+%.bin")),
            "/blobs/ab/cd%20ef%2B%25.bin"
        );
        assert_eq!(c.path(None), "/blobs");
        let c = client(false);
        assert_eq!(c.path(Some("k")), "/k");
        assert_eq!(c.path(None), "/");
    }

    #[test]
    fn debug_shows_no_secret() {
        let shown = format!("{:?}", client(true));
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("GK1"), "{shown}");
    }
}
