//! Prometheus metrics: what the server counts as it serves (requests by
//! route and status, bytes, latency, rejections by reason) and what it
//! reads at each scrape (pending uploads, stored files and bytes, free disk,
//! index size).
//!
//! Labels are bounded sets — a route name, a method, a status, an S3 error
//! code — never a path, key, id or anything else a client chooses.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 65 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 18))
}

/// The counters and gauges, and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabel, Histogram, fn() -> Histogram>,
    bytes_in: Counter,
    bytes_out: Counter,
    rejections: Family<ReasonLabel, Counter>,
    pending_uploads: Gauge,
    stored_files: Gauge,
    stored_objects: Gauge,
    stored_bytes: Gauge,
    free_disk_bytes: Gauge,
    index_bytes: Gauge,
    receiving: Gauge,
    writes: Gauge,
    lifecycle_rounds: Counter,
    lifecycle_scanned: Counter,
    lifecycle_actions: Family<ActionLabel, Counter>,
}

/// One request counted in a live gauge (`stowage_receiving_bodies`,
/// `stowage_writes_in_flight`) until dropped.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What a scrape reads from the index and the disk.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub pending_uploads: u64,
    pub stored_files: u64,
    pub stored_objects: u64,
    pub stored_bytes: u64,
    pub free_disk_bytes: u64,
    pub index_bytes: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("stowage");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        let duration = Family::<RouteLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route (presign, upload PUTs, ...)",
            duration.clone(),
        );
        let bytes_in = Counter::default();
        registry.register(
            "http_request_bytes",
            "Request body bytes announced by clients",
            bytes_in.clone(),
        );
        let bytes_out = Counter::default();
        registry.register(
            "http_response_bytes",
            "Response body bytes sent",
            bytes_out.clone(),
        );
        let rejections = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "rejections",
            "Requests refused, by S3 error code (SignatureDoesNotMatch, AccessDenied for an \
             expired URL, BadDigest, EntityTooLarge, ...)",
            rejections.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let pending_uploads = gauge(
            &mut registry,
            "pending_uploads",
            "Presigned uploads whose bytes have not arrived",
        );
        let stored_files = gauge(
            &mut registry,
            "stored_files",
            "Files of the upload API with their bytes stored",
        );
        let stored_objects = gauge(&mut registry, "stored_objects", "S3 objects");
        let stored_bytes = gauge(
            &mut registry,
            "stored_bytes",
            "Bytes of stored blobs (each distinct content once)",
        );
        let free_disk_bytes = gauge(
            &mut registry,
            "free_disk_bytes",
            "Free space on the data dir's filesystem",
        );
        let index_bytes = gauge(
            &mut registry,
            "index_bytes",
            "Size of the SQLite index (database and WAL); 0 when the index is in PostgreSQL",
        );
        let receiving = gauge(
            &mut registry,
            "receiving_bodies",
            "Request bodies this gateway is reading now (upload PUTs, PutObject, parts, POST forms)",
        );
        let writes = gauge(
            &mut registry,
            "writes_in_flight",
            "Requests with a body this gateway is handling now, from their arrival to their \
             answer (the body read, checked and committed): stop a gateway once it is 0, and no \
             upload is cut",
        );
        let lifecycle_rounds = Counter::default();
        registry.register(
            "lifecycle_rounds",
            "Lifecycle rounds this gateway ran (one gateway at a time runs one)",
            lifecycle_rounds.clone(),
        );
        let lifecycle_scanned = Counter::default();
        registry.register(
            "lifecycle_versions_scanned",
            "Object versions and delete markers the lifecycle worker looked at",
            lifecycle_scanned.clone(),
        );
        let lifecycle_actions = Family::<ActionLabel, Counter>::default();
        registry.register(
            "lifecycle_actions",
            "What the lifecycle worker did, by action (expired, noncurrent_removed, \
             markers_removed, uploads_aborted; locked_kept: due but held by Object Lock)",
            lifecycle_actions.clone(),
        );
        Metrics {
            registry,
            lifecycle_rounds,
            lifecycle_scanned,
            lifecycle_actions,
            requests,
            duration,
            bytes_in,
            bytes_out,
            rejections,
            pending_uploads,
            stored_files,
            stored_objects,
            stored_bytes,
            free_disk_bytes,
            index_bytes,
            receiving,
            writes,
        }
    }

    /// Counts a lifecycle round: the versions it scanned and what it did,
    /// by action.
    pub fn lifecycle_round(&self, scanned: u64, actions: &[(&'static str, u64)]) {
        self.lifecycle_rounds.inc();
        self.lifecycle_scanned.inc_by(scanned);
        for (action, n) in actions {
            self.lifecycle_actions
                .get_or_create(&ActionLabel { action })
                .inc_by(*n);
        }
    }

    /// Counts a request body as being read until the guard drops.
    pub fn receiving(&self) -> InFlight {
        self.receiving.inc();
        InFlight(self.receiving.clone())
    }

    /// Counts a request with a body as being handled until the guard
    /// drops.
    pub fn writing(&self) -> InFlight {
        self.writes.inc();
        InFlight(self.writes.clone())
    }

    /// Requests with a body being handled now.
    pub fn writes_now(&self) -> i64 {
        self.writes.get()
    }

    /// Request bodies being received now.
    pub fn receiving_now(&self) -> i64 {
        self.receiving.get()
    }

    /// Counts one answered request.
    pub fn observe(
        &self,
        route: &'static str,
        method: &str,
        status: u16,
        bytes_in: u64,
        bytes_out: u64,
        secs: f64,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method: method_label(method).to_string(),
                status,
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabel { route })
            .observe(secs);
        self.bytes_in.inc_by(bytes_in);
        self.bytes_out.inc_by(bytes_out);
    }

    /// Counts a refusal by its S3 error code.
    pub fn rejected(&self, code: &'static str) {
        self.rejections
            .get_or_create(&ReasonLabel { reason: code })
            .inc();
    }

    /// Renders everything in Prometheus text format, with `now` read in.
    pub fn render(&self, now: Snapshot) -> String {
        let set = |g: &Gauge, v: u64| {
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        set(&self.pending_uploads, now.pending_uploads);
        set(&self.stored_files, now.stored_files);
        set(&self.stored_objects, now.stored_objects);
        set(&self.stored_bytes, now.stored_bytes);
        set(&self.free_disk_bytes, now.free_disk_bytes);
        set(&self.index_bytes, now.index_bytes);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The route a request path belongs to: a fixed set of names.
/// The methods a request may be counted under: the ones the gateway
/// serves, and `other` for anything a client invents (each distinct label
/// would otherwise be a series kept forever).
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "POST" => "POST",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

pub fn route_of(path: &str) -> &'static str {
    match path {
        "/healthz" => "healthz",
        "/metrics" => "metrics",
        "/" => "s3_service",
        "/api/inspect/v1/file/upload/presigned" => "api_presign",
        "/api/inspect/v1/file/upload/complete" => "api_complete",
        "/api/inspect/v1/file/upload/parts" => "api_parts",
        "/api/inspect/v1/files" => "api_files",
        p if p.starts_with("/api/inspect/v1/file/") => "api_file",
        p if p.starts_with("/api/") => "api_other",
        p => match p.trim_start_matches('/').split_once('/') {
            Some((_, key)) if !key.is_empty() => "s3_object",
            _ => "s3_bucket",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_series() {
        let m = Metrics::new();
        for i in 0..100 {
            m.observe("healthz", &format!("M{i}"), 501, 0, 0, 0.001);
        }
        let text = m.render(Snapshot::default());
        assert!(text.contains("method=\"other\""), "{text}");
        assert!(!text.contains("M42"), "{text}");
    }

    #[test]
    fn counts_render_in_prometheus_text() {
        let m = Metrics::new();
        m.observe("api_presign", "POST", 201, 120, 300, 0.002);
        m.observe("api_presign", "POST", 201, 120, 300, 0.004);
        m.rejected("SignatureDoesNotMatch");
        let text = m.render(Snapshot {
            stored_files: 7,
            ..Snapshot::default()
        });
        assert!(
            text.contains(
                "stowage_http_requests_total{route=\"api_presign\",method=\"POST\",status=\"201\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("stowage_rejections_total{reason=\"SignatureDoesNotMatch\"} 1"),
            "{text}"
        );
        assert!(text.contains("stowage_stored_files 7"), "{text}");
        assert!(
            text.contains("stowage_http_request_bytes_total 240"),
            "{text}"
        );
        assert!(
            text.contains("stowage_http_request_duration_seconds_count{route=\"api_presign\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn routes_are_a_fixed_set() {
        assert_eq!(
            route_of("/api/inspect/v1/file/upload/presigned"),
            "api_presign"
        );
        assert_eq!(route_of("/api/inspect/v1/file/abc"), "api_file");
        assert_eq!(route_of("/uploads/some/key"), "s3_object");
        assert_eq!(route_of("/uploads"), "s3_bucket");
        assert_eq!(route_of("/uploads/"), "s3_bucket");
        assert_eq!(route_of("/"), "s3_service");
        assert_eq!(route_of("/api/inspect/v1/file/upload/parts"), "api_parts");
        assert_eq!(route_of("/api/inspect/v1/files"), "api_files");
    }
}
