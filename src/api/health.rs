//! `GET /healthz`: 200 when the index and the data dir take writes (the
//! storage service's verdict, checked at most once a second), else 503.

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
                "error": "InternalError",
                "errorDescription": "the database or the data dir is not usable; see the server log"
            }),
        )
    }
}
