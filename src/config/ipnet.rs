//! An address range as `[limits] trusted_proxies` lists them, and whether
//! an address is in it.
//!
//! Owns parsing `addr` and `addr/prefix` and comparing peers (an IPv4
//! address written as IPv6 is the IPv4 one). Must never decide whom to
//! trust: the list is the operator's, its use `server/forwarded.rs`'s.
//! A leaf of `config/`.

use std::fmt;

/// An address range, `192.168.0.0/16` or `fd00::/8` (a bare address is a
/// range of one), as `trusted_proxies` lists them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// The first address of the range (host bits cleared).
    addr: std::net::IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `addr` or `addr/prefix`. IPv4 addresses written as IPv6
    /// (`::ffff:10.0.0.1`) are taken as IPv4, as peers are compared.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr_s, prefix_s) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = addr_s
            .parse()
            .map_err(|_| format!("'{s}' is not an address or range like 10.0.0.0/8 or fd00::/8"))?;
        let addr = addr.to_canonical();
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_s {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{s}' has a prefix length outside 0..={max}"))?,
        };
        Ok(IpNet {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// The prefix length: 32 (IPv4) or 128 (IPv6) for one address.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// Whether `ip` is in the range.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

/// `ip` with all but its first `prefix` bits cleared.
fn mask(ip: std::net::IpAddr, prefix: u8) -> std::net::IpAddr {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & keep).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & keep).into())
        }
    }
}

impl fmt::Debug for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}
