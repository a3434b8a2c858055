//! `GET /healthz`: 200 when the index answers and the data dir is writable.
//!
//! The check writes (an index transaction, a synced file in the data dir),
//! and anyone may ask, so it runs at most once per [`FRESH_FOR`]: probes in
//! between, however many, share the last verdict.

use std::time::{Duration, Instant};

use http::{Response, StatusCode};

use super::{json, Body};
use crate::app::App;

/// How long a verdict answers for.
const FRESH_FOR: Duration = Duration::from_secs(1);

/// The last verdict and when it was reached.
#[derive(Default)]
pub struct HealthCache(tokio::sync::Mutex<Option<(Instant, bool)>>);

pub async fn healthz(app: &App) -> Response<Body> {
    // Held while checking: concurrent probes wait for this one's verdict.
    let mut last = app.health.0.lock().await;
    let healthy = match *last {
        Some((at, healthy)) if at.elapsed() < FRESH_FOR => healthy,
        _ => {
            let healthy = check(app).await;
            *last = Some((Instant::now(), healthy));
            healthy
        }
    };
    drop(last);
    if healthy {
        json(StatusCode::OK, serde_json::json!({"status": "ok"}))
    } else {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({
                "error": "InternalError",
                "errorDescription": "the database or the data dir is not usable; see the server log"
            }),
        )
    }
}

async fn check(app: &App) -> bool {
    let db = app.storage.check().await;
    let store = app.store.check().await;
    if db.is_ok() && store.is_ok() {
        return true;
    }
    // Detail for the operator's log; the probe only needs the verdict.
    tracing::error!(db = ?db.err(), store = ?store.err(), "health check failed");
    false
}
