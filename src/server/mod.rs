//! The HTTP server: accepts connections, gives each request an id, routes
//! it, and logs one line per request.
//!
//! It also owns the limits that protect the gateway from its clients, so
//! that no client can hold it for others: connections served at once
//! (`[limits] max_connections`; one more is answered 503 SlowDown), the time
//! allowed for a request's headers, the number of header fields, and the
//! idle timeout of every connection ([`idle::IdleIo`]).
//!
//! Each request is given its client's address ([`Peer`]): the TCP peer, or,
//! from a peer in `trusted_proxies`, the address it forwarded
//! ([`forwarded`]). Per-client limits count by it and the access log shows
//! it.
//!
//! `run(listener, app, shutdown)` takes an already-bound listener so tests
//! bind `127.0.0.1:0`. The access log carries the client address, method,
//! path (never the query string, which holds signatures), status, bytes,
//! duration and the request id, which is also returned as
//! `x-amz-request-id` and `x-request-id`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{header, HeaderValue, Request, Response};
use hyper::body::{Body as _, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::api::{self, Body, Peer, Secure};
use crate::app::App;

pub mod forwarded;
mod idle;

/// How often the housekeeping sweep runs.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Longest path written to the access log; the rest is elided.
const MAX_LOGGED_PATH: usize = 200;

/// Serves `listener` until `shutdown` resolves, then lets requests in
/// flight finish (up to `[limits] shutdown_grace_secs`).
pub async fn run(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let sweeper = tokio::spawn(sweep_loop(app.clone()));
    let limits = app.config.limits.clone();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors and the like: wait, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse_busy(stream, limits.max_connections));
            continue;
        };
        let app = app.clone();
        let tls = app.tls.clone();
        let tls_served = tls.is_some();
        let service = service_fn(move |mut req: Request<Incoming>| {
            let client = forwarded::client_addr(
                peer.ip(),
                req.headers(),
                &app.config.limits.trusted_proxies,
            );
            let secure = tls_served
                || forwarded::forwarded_https(
                    peer.ip(),
                    req.headers(),
                    &app.config.limits.trusted_proxies,
                );
            req.extensions_mut().insert(Peer(client));
            req.extensions_mut().insert(Secure(secure));
            serve_one(app.clone(), req)
        });
        let io = idle::IdleIo::new(stream, limits.idle_timeout);
        let builder = {
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_headers(limits.max_headers)
                // A client may close its sending side and still await our
                // answer (e.g. after a short body); keep the socket for it.
                .half_close(true)
                // Bounds what one connection buffers of a body it is reading
                // (hyper's default is about 400 KiB): with hundreds of
                // uploads at once this is a good part of the resident set.
                .max_buf_size(READ_BUFFER);
            b
        };
        let watcher = graceful.watcher();
        let handshake_limit = limits.header_timeout;
        tokio::spawn(async move {
            // Held until the connection ends.
            let _slot = slot;
            let served = match tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(io), service);
                    watcher.watch(conn).await
                }
                Some(acceptor) => {
                    // The handshake gets the time headers get: a client that
                    // connects and stalls is cut off like a slow-loris one.
                    let tls_io =
                        match tokio::time::timeout(handshake_limit, acceptor.accept(io)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::info!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::info!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let conn = builder.serve_connection(TokioIo::new(tls_io), service);
                    watcher.watch(conn).await
                }
            };
            if let Err(e) = served {
                // Requests hyper refuses before our code sees them (bad
                // framing, oversized headers) are only visible here.
                if e.is_parse() || e.is_parse_too_large() || e.is_parse_status() {
                    tracing::info!(%peer, error = %e, "malformed request refused");
                } else {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            }
        });
    }
    sweeper.abort();
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(
                grace_secs = limits.shutdown_grace.as_secs(),
                "requests still running at the end of the shutdown grace; cutting them off \
                 (their temp files are removed)"
            );
        }
    }
    Ok(())
}

/// Answers a connection over `[limits] max_connections` with S3's 503
/// SlowDown and closes it. The request is read (briefly) first, so the
/// client sees the answer rather than a reset of a socket with unread data.
async fn refuse_busy(mut stream: tokio::net::TcpStream, limit: usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tracing::warn!(limit, "connection refused: max_connections reached");
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
         <Message>The gateway is serving its limit of {limit} connections; retry in a \
         moment.</Message></Error>"
    );
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/xml\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let answer = async {
        let mut buf = [0u8; 4096];
        // Whatever of the request has arrived within a moment.
        let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await;
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await?;
        // Drain until the client closes, so our close sends no reset.
        while stream.read(&mut buf).await? > 0 {}
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), answer).await;
}

/// Housekeeping, every [`SWEEP_INTERVAL`]: the sweep, the garbage
/// collector of an upstream store (whose walk for orphans runs every
/// [`ORPHAN_WALK_ROUNDS`] rounds), and the lifecycle worker (every
/// [`LIFECYCLE_ROUNDS`]). Each takes the index's housekeeping lock,
/// so with several gateways one does the work.
async fn sweep_loop(app: Arc<App>) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut round: u64 = 0;
    loop {
        tick.tick().await;
        if let Err(e) = app.storage.sweep_round().await {
            tracing::warn!(error = %e, "sweep failed; will retry");
        }
        let orphans = round % ORPHAN_WALK_ROUNDS == ORPHAN_WALK_ROUNDS - 1;
        if let Err(e) = app.storage.collect_garbage_round(orphans).await {
            tracing::warn!(error = %e, "garbage collection failed; will retry");
        }
        if round % LIFECYCLE_ROUNDS == 0 {
            lifecycle_round(&app, false).await;
        }
        round += 1;
    }
}

/// Rounds of housekeeping between two lifecycle rounds (an hour, at one
/// round a minute; the first at start-up): each walks every version of
/// the buckets with rules, so not every minute.
const LIFECYCLE_ROUNDS: u64 = 60;

/// One lifecycle round, counted in `/metrics`: if no other gateway runs
/// one now, or (`wait`) once it has.
pub async fn lifecycle_round(app: &App, wait: bool) {
    let round = if wait {
        app.storage.run_lifecycle().await
    } else {
        app.storage.lifecycle_round().await
    };
    match round {
        Ok(r) if r.ran => app.metrics.lifecycle_round(
            r.versions_scanned,
            &[
                ("expired", r.expired),
                ("noncurrent_removed", r.noncurrent_removed),
                ("markers_removed", r.markers_removed),
                ("uploads_aborted", r.uploads_aborted),
                ("locked_kept", r.locked_kept),
            ],
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "lifecycle round failed; will retry"),
    }
}

/// Rounds of housekeeping between two walks of the upstream store for
/// orphans (an hour, at one round a minute).
const ORPHAN_WALK_ROUNDS: u64 = 60;

/// Largest read buffer of one connection (see `max_buf_size` above).
const READ_BUFFER: usize = 128 * 1024;

/// A request id in S3's style: 16 uppercase hex characters.
fn new_request_id() -> String {
    crate::random::hex(8).to_ascii_uppercase()
}

async fn serve_one(app: Arc<App>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let start = Instant::now();
    let request_id = new_request_id();
    let client = req.extensions().get::<Peer>().map(|p| p.0);
    let method = req.method().clone();
    let mut path = req.uri().path().to_string();
    if path.len() > MAX_LOGGED_PATH {
        let mut cut = MAX_LOGGED_PATH;
        while !path.is_char_boundary(cut) {
            cut -= 1;
        }
        path.truncate(cut);
        path.push('…');
    }
    let bytes_in = req.body().size_hint().exact().unwrap_or(0);
    // A request that announced a body (perhaps behind `Expect:
    // 100-continue`) and got an early refusal may still have unread bytes
    // in flight, or none coming at all; either way the connection's framing
    // can no longer be trusted for a next request.
    let announced_body = bytes_in > 0 || req.headers().contains_key(header::TRANSFER_ENCODING);
    // Until the answer is counted and logged below.
    let _writing = announced_body.then(|| app.metrics.writing());

    let mut resp = api::handle(&app, req, &request_id).await;

    if announced_body && resp.status().as_u16() >= 300 {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amz-request-id", v.clone());
        resp.headers_mut().insert("x-request-id", v);
    }
    let bytes_out = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .or_else(|| resp.body().size_hint().exact())
        .unwrap_or(0);
    app.metrics.observe(
        crate::metrics::route_of(&path),
        method.as_str(),
        resp.status().as_u16(),
        bytes_in,
        bytes_out,
        start.elapsed().as_secs_f64(),
    );
    tracing::info!(
        target: "stowage::access",
        request_id = %request_id,
        client = %client.map_or_else(|| "-".to_string(), |c| c.to_string()),
        // An invented method (refused) is logged as `other`, not at any length.
        method = %crate::metrics::method_label(method.as_str()),
        path = %path,
        status = resp.status().as_u16(),
        bytes_in,
        bytes_out,
        duration_ms = format!("{:.1}", start.elapsed().as_secs_f64() * 1000.0),
        "request"
    );
    Ok(resp)
}
