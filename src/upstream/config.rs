//! [`Config`]: where the upstream S3 store is and how to talk to it, and
//! its validation into the parts every request is built from (one
//! [`Target`] per endpoint: the nodes of one cluster, tried in turn).
//!
//! Must never: show the secret (`Debug` hides it), or accept an endpoint
//! the request builder would have to guess about (a path, a query, user
//! info, a scheme other than http or https).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::error::UpstreamError;

/// How to reach the upstream S3 store.
#[derive(Clone)]
pub struct Config {
    /// Where the store answers, each `http://host:port` or
    /// `https://host[:port]` with nothing after the authority (a trailing
    /// `/` is allowed): at least one, several for the nodes of one
    /// cluster (any of which serves any request). Requests go to the one
    /// that answered last; one that cannot be connected to passes the
    /// request to the next (see [`super::Client`]).
    pub endpoints: Vec<String>,
    /// The region requests are signed for (Garage's `s3_region`, e.g.
    /// `garage`; AWS's `us-east-1`, …).
    pub region: String,
    /// The bucket every key lives in.
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Extra trusted CA certificates (PEM), added to the system's roots.
    pub ca_file: Option<PathBuf>,
    /// `https://host/bucket/key` (true, the default: Garage without a
    /// `root_domain`, MinIO, Ceph and SeaweedFS all serve it) or
    /// `https://bucket.host/key` (false: virtual-hosted, AWS's preference).
    pub path_style: bool,
    /// Longest wait for a TCP connection.
    pub connect_timeout: Duration,
    /// Longest time a request may go without a byte moving either way
    /// (the request body sent, the answer awaited, the answer's body read).
    pub idle_timeout: Duration,
    /// Entries asked for per listing page (S3's `max-keys`, 1..=1000).
    pub list_page_size: u32,
}

/// Default [`Config::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Config::idle_timeout`]: long enough for a busy store to
/// answer a large part, short enough to fail over while a client waits.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

impl Config {
    /// A configuration of one endpoint with the defaults: path-style, no
    /// extra CA, 10 s to connect, 30 s idle, 1000 entries a listing page.
    /// More endpoints go in [`Config::endpoints`].
    pub fn new(
        endpoint: impl Into<String>,
        region: impl Into<String>,
        bucket: impl Into<String>,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Config {
        Config {
            endpoints: vec![endpoint.into()],
            region: region.into(),
            bucket: bucket.into(),
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            ca_file: None,
            path_style: true,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            list_page_size: 1000,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("endpoints", &self.endpoints)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("ca_file", &self.ca_file)
            .field("path_style", &self.path_style)
            .field("connect_timeout", &self.connect_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("list_page_size", &self.list_page_size)
            .finish()
    }
}

/// Where requests go, from a checked [`Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The `Host` of every request: the endpoint's authority, or
    /// `bucket.authority` when virtual-hosted.
    pub host: String,
    /// The path before a key: `/bucket` (path-style) or empty.
    pub base_path: String,
}

impl Target {
    /// The endpoint, for messages (no secret in it).
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }
}

/// Checks `c` and derives the request target of each of its endpoints,
/// in their order.
pub fn targets(c: &Config) -> Result<Vec<Target>, UpstreamError> {
    if c.endpoints.is_empty() {
        return Err(UpstreamError::Config("no endpoint is given".into()));
    }
    let targets = c
        .endpoints
        .iter()
        .map(|e| target(c, e))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, t) in targets.iter().enumerate() {
        if targets[..i].contains(t) {
            return Err(UpstreamError::Config(format!(
                "endpoint {:?} is given twice",
                c.endpoints[i]
            )));
        }
    }
    Ok(targets)
}

/// Checks `c` and derives the request target of its `endpoint` from it.
fn target(c: &Config, endpoint: &str) -> Result<Target, UpstreamError> {
    let bad = |why: &str| UpstreamError::Config(format!("endpoint {endpoint:?}: {why}"));
    let (scheme, rest) = if let Some(r) = endpoint.strip_prefix("https://") {
        ("https", r)
    } else if let Some(r) = endpoint.strip_prefix("http://") {
        ("http", r)
    } else {
        return Err(bad("must start with http:// or https://"));
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() {
        return Err(bad("names no host"));
    }
    if authority.contains(['/', '?', '#', '@']) || authority.chars().any(char::is_whitespace) {
        return Err(bad(
            "must be scheme://host[:port] only (no path, query or user)",
        ));
    }
    if authority.parse::<http::uri::Authority>().is_err() {
        return Err(bad("is not a valid host[:port]"));
    }
    if !valid_bucket(&c.bucket) {
        return Err(UpstreamError::Config(format!(
            "bucket {:?}: a bucket name is 3 to 63 lowercase letters, digits, '-' or '.'",
            c.bucket
        )));
    }
    if c.region.is_empty() || c.region.contains(['/', ' ']) {
        return Err(UpstreamError::Config(format!(
            "region {:?}: must be a non-empty name without '/' or spaces",
            c.region
        )));
    }
    if c.access_key_id.is_empty() || c.access_key_id.contains(['/', ' ', ',']) {
        return Err(UpstreamError::Config(
            "the access key id must be non-empty, without '/', ',' or spaces".into(),
        ));
    }
    if c.secret_access_key.is_empty() {
        return Err(UpstreamError::Config(
            "the secret access key is empty".into(),
        ));
    }
    if !(1..=1000).contains(&c.list_page_size) {
        return Err(UpstreamError::Config(format!(
            "list_page_size {}: must be 1 to 1000",
            c.list_page_size
        )));
    }
    if c.connect_timeout.is_zero() || c.idle_timeout.is_zero() {
        return Err(UpstreamError::Config("timeouts must be above zero".into()));
    }
    Ok(if c.path_style {
        Target {
            scheme,
            host: authority.to_owned(),
            base_path: format!("/{}", c.bucket),
        }
    } else {
        Target {
            scheme,
            host: format!("{}.{authority}", c.bucket),
            base_path: String::new(),
        }
    })
}

/// S3's bucket naming rules, the part that matters to a URL: 3 to 63
/// characters of `a-z 0-9 - .`, starting and ending with a letter or digit.
fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoint: &str) -> Config {
        Config::new(endpoint, "garage", "blobs", "GKabc", "s3cr3t")
    }

    #[test]
    fn path_style_and_virtual_hosted_targets() {
        let t = targets(&config("http://127.0.0.1:3900/")).unwrap();
        assert_eq!(
            t,
            [Target {
                scheme: "http",
                host: "127.0.0.1:3900".into(),
                base_path: "/blobs".into()
            }]
        );
        let mut c = config("https://s3.example.com");
        c.path_style = false;
        let t = targets(&c).unwrap().remove(0);
        assert_eq!(t.host, "blobs.s3.example.com");
        assert_eq!(t.base_path, "");
        assert_eq!(t.origin(), "https://blobs.s3.example.com");
    }

    #[test]
    fn endpoints_and_names_that_cannot_work_are_refused() {
        for bad in [
            "s3.example.com",
            "ftp://s3.example.com",
            "https://",
            "https://s3.example.com/prefix",
            "https://user:pw@s3.example.com",
            "https://s3.example.com?x=1",
            "https://s3 example.com",
        ] {
            assert!(
                matches!(targets(&config(bad)), Err(UpstreamError::Config(_))),
                "{bad}"
            );
            // A bad one among good ones is as bad.
            let mut c = config("http://h:1");
            c.endpoints.push(bad.into());
            assert!(targets(&c).is_err(), "{bad}");
        }
        let mut c = config("http://h:1");
        c.bucket = "Bad_Bucket".into();
        assert!(targets(&c).is_err());
        let mut c = config("http://h:1");
        c.list_page_size = 0;
        assert!(targets(&c).is_err());
        let mut c = config("http://h:1");
        c.endpoints.clear();
        assert!(targets(&c).is_err());
    }

    #[test]
    fn several_endpoints_are_targets_in_their_order_each_named_once() {
        let mut c = config("http://10.0.0.1:3900");
        c.endpoints.push("https://10.0.0.2:3900/".into());
        let t = targets(&c).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].origin(), "http://10.0.0.1:3900");
        assert_eq!(t[1].origin(), "https://10.0.0.2:3900");
        assert_eq!(t[1].base_path, "/blobs");
        c.endpoints.push("http://10.0.0.1:3900/".into());
        let e = targets(&c).unwrap_err().to_string();
        assert!(e.contains("given twice"), "{e}");
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", config("http://h:1"));
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("GKabc"), "{shown}");
    }
}
