//! Who the client is: the TCP peer, or — when the peer is one of
//! `trusted_proxies` — the address the proxies forwarded.
//!
//! This module owns reading `X-Forwarded-For` and `Forwarded` (RFC 7239).
//! It must never believe them from a peer that is not a trusted proxy (any
//! client could name any address and dodge its own limits, or pin its
//! failures on someone else), and never take an address a client could
//! have written in place of one a trusted proxy wrote: the chain is read
//! from the right (the hop nearest to us), skipping trusted proxies, and
//! the first address that is not one is the client. Everything to the left
//! of it was written by that client and is ignored.
//!
//! `X-Forwarded-For` is read when present (it is what `deploy/nginx.conf`
//! appends to); `Forwarded` only when it is absent, so a client cannot
//! override the proxy's `X-Forwarded-For` with a `Forwarded` header the
//! proxy passes through untouched.

use std::net::IpAddr;

use http::HeaderMap;

use crate::config::IpNet;

/// Hops looked at, at most, from the right: more trusted proxies in a row
/// than this is a misconfiguration, and a long header costs no more than
/// this to read.
const MAX_HOPS: usize = 16;

/// The client address of a request that arrived from `peer` with `headers`.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if trusted.is_empty() || !is_trusted(peer) {
        return peer;
    }
    let hops = if headers.contains_key("x-forwarded-for") {
        hops(headers, "x-forwarded-for", x_forwarded_for_hop)
    } else {
        hops(headers, "forwarded", forwarded_hop)
    };
    // Walk from the nearest hop outwards; `nearest` is the last address
    // known to be a trusted proxy's.
    let mut nearest = peer;
    for hop in hops.into_iter().rev().take(MAX_HOPS) {
        match hop {
            // A hop that names no usable address ("unknown", an obfuscated
            // name, garbage): nothing beyond it can be believed, and the
            // proxy that received it is as close to a client as we know.
            None => return nearest,
            Some(ip) if is_trusted(ip) => nearest = ip,
            Some(ip) => return ip,
        }
    }
    nearest
}

/// Whether a request reached the proxy in front of us over HTTPS: from a
/// peer in `trusted` only, by the `X-Forwarded-Proto` it set (its last
/// value: a proxy appends), or else `Forwarded`'s `proto=` of the hop
/// nearest to us.
pub fn forwarded_https(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> bool {
    let peer = peer.to_canonical();
    if !trusted.iter().any(|n| n.contains(peer)) {
        return false;
    }
    let last = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| !v.is_empty())
            .map(str::to_string)
    };
    if let Some(proto) = last("x-forwarded-proto") {
        return proto.eq_ignore_ascii_case("https");
    }
    last("forwarded").is_some_and(|element| {
        element.split(';').any(|pair| {
            pair.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("proto")
                    && v.trim().trim_matches('"').eq_ignore_ascii_case("https")
            })
        })
    })
}

/// Every hop of every `name` header, in order (left = farthest), each
/// parsed by `parse` (`None` if it names no address). A header that is not
/// text is one unusable hop.
fn hops(headers: &HeaderMap, name: &str, parse: fn(&str) -> Option<IpAddr>) -> Vec<Option<IpAddr>> {
    let mut out = Vec::new();
    for value in headers.get_all(name) {
        match value.to_str() {
            Ok(v) => out.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(parse),
            ),
            Err(_) => out.push(None),
        }
    }
    out
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `2001:db8::1`, and the forms
/// with a port some proxies write (`1.2.3.4:5678`, `[2001:db8::1]:5678`).
fn x_forwarded_for_hop(h: &str) -> Option<IpAddr> {
    node_addr(h)
}

/// One `Forwarded` element: its `for=` parameter (`for=192.0.2.60`,
/// `for="[2001:db8:cafe::17]:4711"`), if it names an address.
fn forwarded_hop(element: &str) -> Option<IpAddr> {
    let value = element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim().eq_ignore_ascii_case("for").then_some(v.trim())
    })?;
    node_addr(value.trim_matches('"'))
}

/// An address, with or without a port; IPv6 with a port in brackets.
fn node_addr(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (v6, _) = rest.split_once(']')?;
        return v6.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    }
    let (v4, port) = s.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    v4.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| IpNet::parse(s).unwrap()).collect()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let h = headers(&[("x-forwarded-for", "1.1.1.1"), ("forwarded", "for=2.2.2.2")]);
        assert_eq!(client_addr(ip("9.9.9.9"), &h, &[]), ip("9.9.9.9"));
        let trusted = nets(&["127.0.0.1"]);
        assert_eq!(client_addr(ip("9.9.9.9"), &h, &trusted), ip("9.9.9.9"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        let peer = ip("127.0.0.1");
        // nginx appends the address it saw: what the client wrote before
        // it is ignored.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7")]);
        assert_eq!(client_addr(peer, &h, &trusted), ip("203.0.113.7"));
        // Two proxies in a row, and the header split over two lines.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 203.0.113.7"),
            ("x-forwarded-for", "10.1.2.3"),
        ]);
        assert_eq!(client_addr(peer, &h, &trusted), ip("203.0.113.7"));
        // A client claiming to be a trusted proxy only moves one hop on.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 198.51.100.1")]);
        assert_eq!(client_addr(peer, &h, &trusted), ip("198.51.100.1"));
        // Every hop trusted: the farthest is as near a client as we know.
        let h = headers(&[("x-forwarded-for", "10.0.0.5, 10.0.0.6")]);
        assert_eq!(client_addr(peer, &h, &trusted), ip("10.0.0.5"));
        // No header from a trusted proxy: the proxy itself.
        assert_eq!(client_addr(peer, &HeaderMap::new(), &trusted), peer);
    }

    #[test]
    fn ports_brackets_and_mapped_addresses() {
        let trusted = nets(&["127.0.0.1"]);
        let peer = ip("::ffff:127.0.0.1");
        for (xff, client) in [
            ("203.0.113.7:4711", "203.0.113.7"),
            ("[2001:db8::1]:4711", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
            ("::ffff:203.0.113.7", "203.0.113.7"),
        ] {
            let h = headers(&[("x-forwarded-for", xff)]);
            assert_eq!(client_addr(peer, &h, &trusted), ip(client), "{xff}");
        }
    }

    #[test]
    fn an_unusable_hop_stops_the_walk_at_the_proxy() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        let peer = ip("127.0.0.1");
        for xff in ["unknown, 10.0.0.2", "garbage", "1.2.3.4:99999", "[::1"] {
            let h = headers(&[("x-forwarded-for", xff)]);
            let got = client_addr(peer, &h, &trusted);
            assert!(
                trusted.iter().any(|n| n.contains(got)),
                "{xff}: {got} should be the last trusted hop"
            );
        }
        let h = headers(&[("x-forwarded-for", "unknown, 10.0.0.2")]);
        assert_eq!(client_addr(peer, &h, &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn https_at_the_proxy_is_believed_from_trusted_proxies_only() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-proto", "https")]);
        assert!(forwarded_https(ip("10.0.0.1"), &h, &trusted));
        assert!(!forwarded_https(ip("203.0.113.9"), &h, &trusted));
        assert!(!forwarded_https(ip("10.0.0.1"), &h, &[]));
        let h = headers(&[("x-forwarded-proto", "https, http")]);
        assert!(!forwarded_https(ip("10.0.0.1"), &h, &trusted));
        let h = headers(&[("forwarded", "for=192.0.2.60;proto=https")]);
        assert!(forwarded_https(ip("10.0.0.1"), &h, &trusted));
        let h = headers(&[("forwarded", "for=192.0.2.60;proto=http")]);
        assert!(!forwarded_https(ip("10.0.0.1"), &h, &trusted));
        assert!(!forwarded_https(
            ip("10.0.0.1"),
            &HeaderMap::new(),
            &trusted
        ));
    }

    #[test]
    fn forwarded_is_read_only_without_x_forwarded_for() {
        let trusted = nets(&["127.0.0.1"]);
        let peer = ip("127.0.0.1");
        let h = headers(&[(
            "forwarded",
            "for=6.6.6.6;proto=http, For=\"[2001:db8:cafe::17]:4711\";by=127.0.0.1",
        )]);
        assert_eq!(client_addr(peer, &h, &trusted), ip("2001:db8:cafe::17"));
        let h = headers(&[("forwarded", "for=192.0.2.60;proto=https")]);
        assert_eq!(client_addr(peer, &h, &trusted), ip("192.0.2.60"));
        let h = headers(&[("forwarded", "for=_hidden, for=unknown")]);
        assert_eq!(client_addr(peer, &h, &trusted), peer);
        // The proxy's X-Forwarded-For wins over a Forwarded it passed on.
        let h = headers(&[
            ("forwarded", "for=6.6.6.6"),
            ("x-forwarded-for", "203.0.113.7"),
        ]);
        assert_eq!(client_addr(peer, &h, &trusted), ip("203.0.113.7"));
    }

    #[test]
    fn a_long_chain_is_read_only_so_far() {
        let trusted = nets(&["10.0.0.0/8"]);
        let chain: Vec<String> = (0..1000)
            .map(|i| format!("10.0.{}.{}", i / 250, i % 250))
            .collect();
        let h = headers(&[("x-forwarded-for", &format!("6.6.6.6, {}", chain.join(", ")))]);
        let got = client_addr(ip("10.0.0.1"), &h, &trusted);
        assert!(trusted[0].contains(got), "{got}");
    }
}
