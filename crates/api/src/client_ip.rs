//! The client's IP address, for rate limits, session binding and a user's
//! list of sessions.
//!
//! The address is the socket's peer. `X-Forwarded-For` is read only when
//! that peer is one of `TRUSTED_PROXIES`: anyone else can write anything in
//! it, so trusting it from any client (as the first entry of the header, the
//! usual shortcut) lets a script pick a fresh address per request and walk
//! past every per-IP limit.
//!
//! Each proxy appends the address it received the request from, so the
//! header reads left to right from the farthest hop to the nearest. Walking
//! it from the right, every entry written by a trusted proxy is the truth
//! about that proxy's peer; the first address that is not itself a trusted
//! proxy is the client. Entries to its left were written by the client or by
//! proxies nobody vouches for, and are ignored.
//!
//! An entry that is not an address (`unknown`, an obfuscated identifier, a
//! typo, an empty entry) stops the walk: nothing to its left can be tied to
//! the request any more, and an unparseable value is never used. The client
//! is then the last hop the walk could verify: the trusted proxy that wrote
//! the unparseable entry (the peer itself when it is the rightmost entry).
//! That groups whoever stands behind that proxy under its address, which
//! errs on the side of sharing a limit rather than of letting a value
//! someone else chose decide it. When every entry is a trusted proxy, the
//! leftmost one is the client (a request made from inside the proxies'
//! network).
//!
//! An entry may carry a port (`203.0.113.7:41234`, `[2001:db8::1]:443`), as
//! some proxies write it; the port is dropped. IPv4 addresses mapped into
//! IPv6 (`::ffff:192.0.2.1`, as a dual-stack listener reports IPv4 peers)
//! are read as the IPv4 address, both in requests and in `TRUSTED_PROXIES`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use ipnet::{IpNet, Ipv4Net};

use crate::error::ApiError;
use crate::state::AppState;

/// The client's IP address as this service can trust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = peer(&parts.extensions)?;
        Ok(ClientIp(
            state.trusted_proxies.client_ip(peer, &parts.headers),
        ))
    }
}

/// The socket's peer, which the server records for every connection.
pub fn peer(extensions: &Extensions) -> Result<IpAddr, ApiError> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "no peer address: serve with into_make_service_with_connect_info"
            ))
        })
}

/// `TRUSTED_PROXIES`: the networks whose `X-Forwarded-For` is believed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(ToString::to_string))
            .finish()
    }
}

impl TrustedProxies {
    /// Reads a comma-separated list of CIDRs (`10.0.0.0/8`, `fd00::/8`); a
    /// bare address is that one address (`/32` or `/128`). The error says
    /// which entry is wrong.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                let net = entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!(
                            "`{entry}` is neither an address nor a network like 10.0.0.0/8 or fd00::/8"
                        )
                    })?;
                Ok(canonical_net(net))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that came from `peer` with `headers` (see
    /// the module's documentation for the rule).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        // Every X-Forwarded-For header, in order, read as one list from the
        // right; a header that is not text is one unparseable entry.
        let entries = headers
            .get_all("x-forwarded-for")
            .iter()
            .rev()
            .flat_map(|value| match value.to_str() {
                Ok(text) => hop_entries(text),
                Err(_) => vec![None],
            });
        for entry in entries {
            let Some(hop) = entry.and_then(parse_hop) else {
                break;
            };
            client = hop;
            if !self.contains(hop) {
                break;
            }
        }
        client
    }
}

/// The entries of one header value, rightmost first, each trimmed; `None`
/// stands for an entry that is not text.
fn hop_entries(text: &str) -> Vec<Option<&str>> {
    text.rsplit(',').map(|entry| Some(entry.trim())).collect()
}

/// One `X-Forwarded-For` entry: an address, or an address and a port.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// A network of IPv4-mapped IPv6 addresses (`::ffff:10.0.0.0/104`) as the
/// IPv4 network it maps, since addresses are compared in that form.
fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && v6.prefix_len() >= 96
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && let Ok(mapped) = Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(mapped);
    }
    net
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        let client = none.client_ip(ip("198.51.100.9"), &forwarded(&["203.0.113.7"]));
        assert_eq!(client, ip("198.51.100.9"));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies = trusted("10.0.0.0/8");
        let client = proxies.client_ip(ip("198.51.100.9"), &forwarded(&["10.0.0.1"]));
        assert_eq!(client, ip("198.51.100.9"));
    }

    #[test]
    fn the_rightmost_address_that_is_no_trusted_proxy_is_the_client() {
        let proxies = trusted("10.0.0.0/8, 192.0.2.10");
        // A forged first entry, the real client, then two trusted hops.
        let headers = forwarded(&["1.1.1.1, 203.0.113.7, 10.1.1.1", "192.0.2.10"]);
        assert_eq!(
            proxies.client_ip(ip("10.0.0.2"), &headers),
            ip("203.0.113.7")
        );
        // The same list in one header.
        let headers = forwarded(&["1.1.1.1,203.0.113.7 , 10.1.1.1,192.0.2.10"]);
        assert_eq!(
            proxies.client_ip(ip("10.0.0.2"), &headers),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn no_header_from_a_trusted_peer_leaves_the_peer() {
        let proxies = trusted("127.0.0.1");
        assert_eq!(
            proxies.client_ip(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn an_unparseable_entry_stops_at_the_last_hop_that_could_be_verified() {
        let proxies = trusted("10.0.0.0/8");
        // Rightmost entry unparseable: the peer.
        let headers = forwarded(&["203.0.113.7, unknown"]);
        assert_eq!(proxies.client_ip(ip("10.0.0.2"), &headers), ip("10.0.0.2"));
        // Behind a trusted hop: that hop.
        let headers = forwarded(&["203.0.113.7, garbage, 10.9.9.9"]);
        assert_eq!(proxies.client_ip(ip("10.0.0.2"), &headers), ip("10.9.9.9"));
        // An empty entry is no address either.
        let headers = forwarded(&["203.0.113.7,,10.9.9.9"]);
        assert_eq!(proxies.client_ip(ip("10.0.0.2"), &headers), ip("10.9.9.9"));
        // A header that is not text.
        let mut headers = forwarded(&["203.0.113.7"]);
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xff10.1.1.1").unwrap(),
        );
        assert_eq!(proxies.client_ip(ip("10.0.0.2"), &headers), ip("10.0.0.2"));
    }

    #[test]
    fn when_every_hop_is_trusted_the_farthest_is_the_client() {
        let proxies = trusted("10.0.0.0/8");
        let headers = forwarded(&["10.3.3.3, 10.2.2.2"]);
        assert_eq!(proxies.client_ip(ip("10.0.0.2"), &headers), ip("10.3.3.3"));
    }

    #[test]
    fn ports_are_dropped_and_mapped_addresses_read_as_ipv4() {
        let proxies = trusted("::ffff:10.0.0.0/104, 2001:db8::1");
        assert!(proxies.contains(ip("10.1.2.3")));
        let headers = forwarded(&["203.0.113.7:41234, [2001:db8::1]:443"]);
        assert_eq!(
            proxies.client_ip(ip("::ffff:10.0.0.2"), &headers),
            ip("203.0.113.7")
        );
        let headers = forwarded(&["::ffff:203.0.113.8"]);
        assert_eq!(
            proxies.client_ip(ip("10.0.0.2"), &headers),
            ip("203.0.113.8")
        );
        // An untrusted mapped peer is reported as IPv4 too.
        assert_eq!(
            TrustedProxies::default().client_ip(ip("::ffff:198.51.100.9"), &HeaderMap::new()),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn a_bare_address_is_one_address_and_a_bad_entry_is_named() {
        let proxies = trusted("192.0.2.10, 2001:db8::1");
        assert!(proxies.contains(ip("192.0.2.10")));
        assert!(!proxies.contains(ip("192.0.2.11")));
        assert!(proxies.contains(ip("2001:db8::1")));
        assert!(!proxies.contains(ip("2001:db8::2")));
        let err = TrustedProxies::parse("10.0.0.0/8, 10.0.0.0/33").unwrap_err();
        assert!(err.contains("`10.0.0.0/33`"), "{err}");
    }
}
