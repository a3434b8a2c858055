//! `GET /metrics`: the Prometheus text of [`crate::metrics`], with what a
//! scrape reads fresh (index counts, free disk, index size). Who may read
//! it is `[metrics] access`: a token with the `read` scope (default),
//! anyone, or no one.

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::auth;
use crate::api::body::{full, Body};
use crate::api::error::ApiError;
use crate::app::App;
use crate::config::MetricsAccess;
use crate::metrics::Snapshot;

pub async fn serve(app: &App, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (parts, _body) = req.into_parts();
    match app.config.metrics {
        MetricsAccess::Off => {
            return Err(ApiError::NotFound(
                "metrics are off ([metrics] access = \"off\")".into(),
            ))
        }
        MetricsAccess::Token => {
            auth::require(app, &parts, "read").await?;
        }
        MetricsAccess::Open => {}
    }
    if parts.method != Method::GET {
        return Err(ApiError::MethodNotAllowed(
            "/metrics accepts only GET".into(),
        ));
    }
    let stats = app.storage.stats().await?;
    let dir = &app.config.data_dir;
    let size = |name: &str| {
        std::fs::metadata(dir.join(name))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let index_bytes = size(crate::index::DB_FILE) + size(&format!("{}-wal", crate::index::DB_FILE));
    let text = app.metrics.render(Snapshot {
        pending_uploads: stats.pending_files,
        stored_files: stats.stored_files,
        stored_objects: stats.objects,
        stored_bytes: stats.blob_bytes,
        // The data dir's filesystem whichever the store: an S3 store's
        // cluster has no free space to tell, and a 0 would read as full.
        free_disk_bytes: match app.storage.free_space()? {
            Some(free) => free,
            None => crate::store::fsutil::free_space(dir).unwrap_or(0),
        },
        index_bytes,
    });
    let mut r = Response::new(full(text));
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(r)
}
