//! Who is on the other end: the client address (the peer, or behind a configured
//! trusted reverse proxy, the address it forwarded) and the User-Agent. Only a trusted
//! proxy's `X-Forwarded-For` counts: from anyone else the header is ignored, so a
//! client cannot talk its way into an allow-list.

use std::net::IpAddr;

use crate::tls::Peer;
use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The client of a request, put in its extensions by [`client_info`].
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// The client address: the peer, unless the peer is a trusted proxy, in which case the
/// right-most address of `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let peer = peer?;
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().parse::<IpAddr>())
        .collect::<Result<_, _>>()
        // A garbled chain proves nothing: fall back to the proxy itself.
        .unwrap_or_default();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(Some(peer))
}

pub async fn client_info(
    trusted: std::sync::Arc<Vec<IpNet>>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|c| c.0.0.ip());
    let info = ClientInfo {
        ip: client_ip(peer, req.headers(), &trusted),
        user_agent: req
            .headers()
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect()),
    };
    req.extensions_mut().insert(info);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn only_a_trusted_proxy_may_forward_an_address() {
        let proxy: IpNet = "10.0.0.1/32".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        let h = headers("203.0.113.9, 198.51.100.7");
        // From an untrusted peer the header is ignored.
        assert_eq!(client_ip(ip("192.0.2.1"), &h, &[proxy]), ip("192.0.2.1"));
        // From the proxy, the right-most untrusted address is the client (a client can
        // prepend anything, but not what the proxy appended).
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &[proxy]), ip("198.51.100.7"));
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers("198.51.100.7, 10.0.0.1"), &[proxy]),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers("nonsense"), &[proxy]),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &HeaderMap::new(), &[proxy]),
            ip("10.0.0.1")
        );
    }
}
