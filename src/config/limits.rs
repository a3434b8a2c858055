//! `[limits]`: bounds on what one client can hold or ask of the gateway.
//!
//! Owns each bound's range (a timeout of 0 or a limit that would overflow
//! is refused, naming its key) and who "one client" is (`trusted_proxies`,
//! from the file's list or the environment's comma-separated one). Must
//! never enforce a bound: the server, the throttles and the form reader do.

use super::defaults::{
    DEFAULT_AUTH_FAILURES_PER_SEC, DEFAULT_FORM_FIELDS_MIN_BYTES_PER_SEC,
    DEFAULT_FORM_FIELDS_TIMEOUT_SECS, DEFAULT_HEADER_TIMEOUT_SECS, DEFAULT_IDLE_TIMEOUT_SECS,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HEADERS, DEFAULT_PRESIGN_PER_TOKEN_PER_SEC,
    DEFAULT_SHUTDOWN_GRACE_SECS, MAX_FORM_FIELDS_TIMEOUT_SECS,
};
use super::env::{env_name, parse_u64};
use super::error::{invalid, ConfigError};
use super::file::FileLimits;
use super::ipnet::IpNet;

/// Bounds on what one client can hold or ask of the gateway, so that a
/// slow, broken or hostile client cannot take it away from the others.
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// A connection on which nothing moves, in either direction, this long
    /// is closed: a stalled upload is abandoned (its temp file removed), a
    /// download nobody reads stops holding its buffers, an idle keep-alive
    /// connection is given back.
    pub idle_timeout: std::time::Duration,
    /// The whole header block of a request must arrive within this time
    /// (slow-loris clients that trickle headers are cut off).
    pub header_timeout: std::time::Duration,
    /// Connections served at once; one more is answered 503 SlowDown and
    /// closed, so a flood cannot use up file descriptors or memory.
    pub max_connections: usize,
    /// Header fields in one request; more is answered 431.
    pub max_headers: usize,
    /// Presign requests one bearer token may make per second (bursts up to
    /// twice that); more is answered 429 with Retry-After. 0 = no limit.
    pub presign_per_token_per_sec: u32,
    /// Failed authentications (bad token, bad signature) one client address
    /// may make per second (bursts up to ten times that); beyond it, its
    /// requests that fail authentication are answered 429 until it slows
    /// down. A request with valid credentials is never refused for this,
    /// from any address. 0 = no limit.
    pub auth_failures_per_sec: u32,
    /// On SIGTERM or Ctrl-C, how long requests in flight (uploads) may go
    /// on after the gateway stops accepting; the rest are then cut off,
    /// their temp files removed.
    pub shutdown_grace: std::time::Duration,
    /// Who "one client" is. Reverse proxies whose `X-Forwarded-For` (or
    /// `Forwarded`) header is believed: a request from one of these
    /// addresses is taken to come from the address the proxies forwarded
    /// (the rightmost one that is not itself a trusted proxy), for the
    /// per-client limits and the access log. Empty (the default): every
    /// client is its TCP peer, and those headers are ignored.
    pub trusted_proxies: Vec<IpNet>,
    /// A form upload (POST Object) is read before it is authenticated, up
    /// to its signature: those fields must all arrive within this time
    /// (at most 60 s), or the client is answered 400 RequestTimeout and
    /// nothing is stored. The file after them has no such limit.
    pub form_fields_timeout: std::time::Duration,
    /// …and, once [`FORM_FIELDS_RATE_GRACE_SECS`](super::FORM_FIELDS_RATE_GRACE_SECS)
    /// have passed, at an average of at least this many bytes per second
    /// since the body began. 0 = no minimum (the timeout alone).
    pub form_fields_min_bytes_per_sec: u64,
}

/// Every bound of `[limits]`, each from its `STOWAGE_LIMITS_*` variable,
/// else the file, else its default.
pub(super) fn resolve_limits(
    file: &FileLimits,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<LimitsConfig, ConfigError> {
    let secs = |key: &'static str, v: Option<u64>, default: u64| {
        let v = parse_u64(key, env, v)?.unwrap_or(default);
        if !(1..=86_400).contains(&v) {
            return Err(invalid(key, format!("{v} is outside 1..=86400 seconds")));
        }
        Ok(std::time::Duration::from_secs(v))
    };
    let count = |key: &'static str, v: Option<u64>, default: u64, max: u64| {
        let v = parse_u64(key, env, v)?.unwrap_or(default);
        if !(1..=max).contains(&v) {
            return Err(invalid(key, format!("{v} is outside 1..={max}")));
        }
        Ok(v)
    };
    let rate = |key: &'static str, v: Option<u64>, default: u64| {
        let v = parse_u64(key, env, v)?.unwrap_or(default);
        u32::try_from(v)
            .map_err(|_| invalid(key, format!("{v} is too large (0 turns the limit off)")))
    };
    Ok(LimitsConfig {
        idle_timeout: secs(
            "limits.idle_timeout_secs",
            file.idle_timeout_secs,
            DEFAULT_IDLE_TIMEOUT_SECS,
        )?,
        header_timeout: secs(
            "limits.header_timeout_secs",
            file.header_timeout_secs,
            DEFAULT_HEADER_TIMEOUT_SECS,
        )?,
        max_connections: count(
            "limits.max_connections",
            file.max_connections,
            DEFAULT_MAX_CONNECTIONS,
            1_000_000,
        )? as usize,
        max_headers: count(
            "limits.max_headers",
            file.max_headers,
            DEFAULT_MAX_HEADERS,
            10_000,
        )? as usize,
        presign_per_token_per_sec: rate(
            "limits.presign_per_token_per_sec",
            file.presign_per_token_per_sec,
            DEFAULT_PRESIGN_PER_TOKEN_PER_SEC,
        )?,
        auth_failures_per_sec: rate(
            "limits.auth_failures_per_sec",
            file.auth_failures_per_sec,
            DEFAULT_AUTH_FAILURES_PER_SEC,
        )?,
        shutdown_grace: secs(
            "limits.shutdown_grace_secs",
            file.shutdown_grace_secs,
            DEFAULT_SHUTDOWN_GRACE_SECS,
        )?,
        trusted_proxies: match env(&env_name("limits.trusted_proxies")) {
            // The environment lists them comma-separated.
            Some(v) => v
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
                .collect(),
            None => file.trusted_proxies.clone().unwrap_or_default(),
        }
        .iter()
        .map(|s| IpNet::parse(s).map_err(|m| invalid("limits.trusted_proxies", m)))
        .collect::<Result<Vec<_>, _>>()?,
        form_fields_timeout: std::time::Duration::from_secs(count(
            "limits.form_fields_timeout_secs",
            file.form_fields_timeout_secs,
            DEFAULT_FORM_FIELDS_TIMEOUT_SECS,
            MAX_FORM_FIELDS_TIMEOUT_SECS,
        )?),
        form_fields_min_bytes_per_sec: parse_u64(
            "limits.form_fields_min_bytes_per_sec",
            env,
            file.form_fields_min_bytes_per_sec,
        )?
        .unwrap_or(DEFAULT_FORM_FIELDS_MIN_BYTES_PER_SEC),
    })
}
