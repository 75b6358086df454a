//! Where webhooks may go: http(s) URLs whose every address is public,
//! unless `[webhooks] allow_private_targets` (loopback, private, link-local,
//! shared, multicast and reserved ranges are refused — SSRF). Checked when
//! a subscription is made, and again at every connection through the HTTP
//! client's resolver, so a name that later resolves inside is refused too.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// Whether an address is one a webhook may not reach by default.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return private_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || (first == 0x0064 && v6.segments()[1] == 0xff9b) // NAT64 (maps v4 inside)
        }
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared 100.64/10
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
}

/// Why `url` cannot be a webhook target (the text of a 422), or its
/// addresses.
pub async fn check(url: &str, allow_private: bool) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|err| format!("url {url:?}: {err}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "url must be http or https, not {:?}",
            parsed.scheme()
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "url must not carry credentials (put a secret in a path or rely on the signature)"
                .into(),
        );
    }
    if url.len() > 2048 {
        return Err("url is longer than 2048 characters".into());
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("url {url:?} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await
        .map_err(|_| format!("url host {host:?} did not resolve within 5 s"))?
        .map_err(|err| format!("url host {host:?} does not resolve: {err}"))?
        .collect(),
    };
    if addresses.is_empty() {
        return Err(format!("url host {host:?} has no address"));
    }
    if !allow_private && let Some(inside) = addresses.iter().find(|a| is_private(a.ip())) {
        return Err(format!(
            "url host {host:?} is {} — in a private, loopback or reserved range, which webhooks \
             may not reach (an operator may allow it: [webhooks] allow_private_targets)",
            inside.ip()
        ));
    }
    Ok(())
}

/// The HTTP client's resolver: public addresses only (unless allowed).
#[derive(Debug, Clone)]
pub struct PublicOnly {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || !is_private(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} has no address a webhook may reach").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

impl PublicOnly {
    pub fn shared(allow_private: bool) -> Arc<PublicOnly> {
        Arc::new(PublicOnly { allow_private })
    }
}

/// Whether a URL names a private address literally (the resolver is not
/// asked for those).
pub fn literal_private(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
        })
        .and_then(|h| h.parse::<IpAddr>().ok())
        .is_some_and(is_private)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn private_ranges_are_recognized() {
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::",
        ] {
            assert!(is_private(inside.parse().unwrap()), "{inside}");
        }
        for outside in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "172.32.0.1"] {
            assert!(!is_private(outside.parse().unwrap()), "{outside}");
        }
        assert!(literal_private("http://[::1]:8080/x"));
        assert!(!literal_private("https://example.org/x"));
    }

    #[tokio::test]
    async fn targets_are_checked() {
        assert!(
            check("http://127.0.0.1:9/hook", false)
                .await
                .unwrap_err()
                .contains("private")
        );
        assert!(check("http://127.0.0.1:9/hook", true).await.is_ok());
        assert!(check("http://localhost:9/hook", false).await.is_err());
        assert!(
            check("ftp://example.org/", false)
                .await
                .unwrap_err()
                .contains("http")
        );
        assert!(
            check("http://u:p@8.8.8.8/", false)
                .await
                .unwrap_err()
                .contains("credentials")
        );
        assert!(check("http://8.8.8.8/hook", false).await.is_ok());
    }
}
