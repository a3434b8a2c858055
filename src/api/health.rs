//! `GET /healthz`: 200 when the index and the blob store (the data dir, or
//! the storage cluster) take writes (the storage service's verdict,
//! checked at most once a second), else 503: a load balancer sends this
//! gateway's requests elsewhere while its index or storage is away.

use http::{Response, StatusCode};

use crate::api::body::{json, Body};
use crate::app::App;

pub async fn healthz(app: &App) -> Response<Body> {
    if app.storage.healthy().await {
        json(StatusCode::OK, serde_json::json!({"status": "ok"}))
    } else {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({
                "error": "ServiceUnavailable",
                "errorDescription": "the index or the blob store (the data dir, or the storage \
                                     cluster) does not take writes now; see the server log"
            }),
        )
    }
}
