//! `GET /healthz`: 200 when the index answers and the data dir is writable.

use http::{Response, StatusCode};

use super::{json, Body};
use crate::app::App;

pub async fn healthz(app: &App) -> Response<Body> {
    let db = app.db(|db| db.check()).await;
    let store = app.store.check().await;
    match (db, store) {
        (Ok(()), Ok(())) => json(StatusCode::OK, serde_json::json!({"status": "ok"})),
        (db, store) => {
            // Detail for the operator's log; the probe only needs the verdict.
            tracing::error!(db = ?db.err(), store = ?store.err(), "health check failed");
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({
                    "error": "InternalError",
                    "errorDescription": "the database or the data dir is not usable; see the server log"
                }),
            )
        }
    }
}
