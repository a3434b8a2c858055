//! What the server learnt of a request's connection, put in its
//! extensions before any surface sees it: the client's address and whether
//! it came over HTTPS.

/// The client address of a request, put in its extensions by the server:
/// the TCP peer, or the address a trusted proxy forwarded
/// (`trusted_proxies`). Keys per-client limits; never logged with a secret.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub std::net::IpAddr);

/// Whether a request came over HTTPS (served by us, or by a trusted proxy
/// in front that said so): policies' `aws:SecureTransport`.
#[derive(Clone, Copy, Debug)]
pub struct Secure(pub bool);

impl Peer {
    /// The key per-client limits count this client by: its address, or for
    /// IPv6 its /64 — one host usually has a whole /64 to pick addresses
    /// from, and must not get a fresh limit with each.
    pub fn limit_key(&self) -> String {
        match self.0.to_canonical() {
            std::net::IpAddr::V6(v6) => {
                let net = u128::from(v6) & (u128::MAX << 64);
                format!("{}/64", std::net::Ipv6Addr::from(net))
            }
            v4 => v4.to_string(),
        }
    }
}
