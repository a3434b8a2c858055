//! `public_url`: the base of every URL the gateway signs.
//!
//! Owns what such a base may be (scheme and authority only, the default
//! port dropped as clients drop it from `Host`) and the one derived from
//! the bound address when none is configured. Must never accept a path
//! prefix: the signature covers the path the gateway receives. A leaf of
//! `config/`.

use std::net::SocketAddr;

/// A base URL with only scheme and authority, as presigned URLs need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `scheme://authority`, no trailing slash, default port dropped.
    pub base: String,
    /// The authority a client will send as `Host` for this URL.
    pub host: String,
}

impl PublicUrl {
    /// Parses `http(s)://host[:port][/]`. A path prefix is refused: the
    /// signature covers the path the gateway receives, so a proxy that strips
    /// a prefix would break every URL.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (scheme, rest) = s.split_once("://").ok_or_else(|| {
            format!("'{s}' is not a URL; expected e.g. http://files.example:8080")
        })?;
        let default_port = match scheme {
            "http" => "80",
            "https" => "443",
            _ => return Err(format!("scheme '{scheme}' is not http or https")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err("the URL has no host".into());
        }
        if authority.contains(['/', '?', '#', '@', ' ']) {
            return Err(
                "the URL must be only scheme://host[:port], without path, query or user".into(),
            );
        }
        // Clients omit a default port from Host, so the signed host must too.
        let host = match authority.rsplit_once(':') {
            // A ']' after the last ':' means a bare IPv6 literal, no port.
            Some((h, port)) if !port.contains(']') => {
                if port.parse::<u16>().is_err() {
                    return Err(format!("port '{port}' is not a number"));
                }
                if port == default_port {
                    h.to_string()
                } else {
                    authority.to_string()
                }
            }
            _ => authority.to_string(),
        };
        Ok(PublicUrl {
            base: format!("{scheme}://{host}"),
            host,
        })
    }

    /// The public URL for a server bound at `addr` with no configured URL
    /// (`https` when it serves TLS).
    pub fn from_addr(addr: SocketAddr, tls: bool) -> Self {
        let scheme = if tls { "https" } else { "http" };
        PublicUrl {
            base: format!("{scheme}://{addr}"),
            host: addr.to_string(),
        }
    }
}
