//! Fetches web pages and sitemaps for the knowledge base (`POST …/documents/fetch`, re-sync).
//!
//! http(s) only, with a size cap, a timeout and at most five redirects per page. Unless the
//! operator allows it, no address on a loopback, private, link-local or otherwise non-public
//! network is ever contacted — checked on every DNS answer and every redirect — so a project
//! owner cannot make the server read its own network. It hands back raw HTML and a sitemap's
//! page URLs; turning HTML into passages is the engine's job.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;
use reqwest::{Client, Url};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    BadUrl(String),
    #[error("{0}")]
    Failed(String),
}

#[derive(Debug, Clone, Copy)]
pub struct FetchSettings {
    pub timeout: Duration,
    pub max_bytes: usize,
    pub sitemap_max_pages: usize,
    /// Allow loopback and private addresses (a trusted intranet; tests).
    pub private_networks: bool,
}

#[derive(Clone)]
pub struct WebFetcher {
    client: Client,
    settings: FetchSettings,
}

const MAX_REDIRECTS: usize = 5;

impl WebFetcher {
    pub fn new(settings: FetchSettings) -> Result<WebFetcher, String> {
        let private = settings.private_networks;
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if let Err(error) = check_url(attempt.url(), private) {
                attempt.error(error.to_string())
            } else {
                attempt.follow()
            }
        });
        let mut builder = Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(policy)
            .user_agent(concat!(
                "HelpYap/",
                env!("CARGO_PKG_VERSION"),
                " (knowledge base sync)"
            ));
        if !private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        let client = builder.build().map_err(|error| error.to_string())?;
        Ok(WebFetcher { client, settings })
    }

    /// The body of `url` as text, at most `max_bytes`.
    pub async fn page(&self, url: &str) -> Result<(Url, String), FetchError> {
        let url = Url::parse(url.trim())
            .map_err(|error| FetchError::BadUrl(format!("url is not a valid URL: {error}")))?;
        check_url(&url, self.settings.private_networks)?;
        let response = self.client.get(url.clone()).send().await.map_err(|error| {
            FetchError::Failed(format!("fetching {url} failed: {}", cause(&error)))
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Failed(format!("{url} answered {status}")));
        }
        let final_url = response.url().clone();
        let mut body = Vec::new();
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|error| {
                FetchError::Failed(format!("reading {url} failed: {}", cause(&error)))
            })?;
            if body.len() + chunk.len() > self.settings.max_bytes {
                return Err(FetchError::Failed(format!(
                    "{url} is larger than {} bytes",
                    self.settings.max_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((final_url, String::from_utf8_lossy(&body).into_owned()))
    }

    /// The page URLs a sitemap lists (`<url><loc>…`), at most `sitemap_max_pages`. Nested
    /// sitemap indexes are not followed: point at one of their sitemaps instead.
    pub async fn sitemap(&self, url: &str) -> Result<Vec<String>, FetchError> {
        let (_, xml) = self.page(url).await?;
        let (pages, is_index) = sitemap_locations(&xml)
            .map_err(|error| FetchError::Failed(format!("{url} is not a sitemap: {error}")))?;
        if is_index {
            return Err(FetchError::Failed(
                "that is a sitemap index: add one of the sitemaps it lists".into(),
            ));
        }
        if pages.is_empty() {
            return Err(FetchError::Failed(format!("{url} lists no pages")));
        }
        if pages.len() > self.settings.sitemap_max_pages {
            return Err(FetchError::Failed(format!(
                "the sitemap lists {} pages; at most {} are fetched at once",
                pages.len(),
                self.settings.sitemap_max_pages
            )));
        }
        Ok(pages)
    }
}

/// The `<loc>` texts of a sitemap, and whether it is a sitemap index.
pub fn sitemap_locations(xml: &str) -> Result<(Vec<String>, bool), quick_xml::Error> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut locations = Vec::new();
    let mut current: Option<String> = None;
    let mut is_index = false;
    loop {
        match reader.read_event()? {
            Event::Start(tag) => {
                let name = tag.local_name();
                is_index |= name.as_ref() == "sitemapindex";
                if name.as_ref() == "loc" {
                    current = Some(String::new());
                }
            }
            Event::Text(text) => {
                if let Some(loc) = current.as_mut() {
                    loc.push_str(&text.xml10_content());
                }
            }
            Event::CData(text) => {
                if let Some(loc) = current.as_mut() {
                    loc.push_str(&text.xml10_content());
                }
            }
            // Since quick-xml 0.41 `&amp;` and `&#38;` arrive as events of their own.
            Event::GeneralRef(reference) => {
                if let Some(loc) = current.as_mut() {
                    if let Some(c) = reference.resolve_char_ref()? {
                        loc.push(c);
                    } else if let Some(text) =
                        quick_xml::escape::resolve_predefined_entity(&reference.xml10_content())
                    {
                        loc.push_str(text);
                    }
                }
            }
            Event::End(tag) if tag.local_name().as_ref() == "loc" => {
                if let Some(loc) = current.take() {
                    locations.push(loc.trim().to_owned());
                }
            }
            Event::Eof => return Ok((locations, is_index)),
            _ => {}
        }
    }
}

/// The innermost cause, which is where reqwest keeps the useful words.
fn cause(error: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

fn check_url(url: &Url, private_networks: bool) -> Result<(), FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::BadUrl("url must be http(s)".into()));
    }
    let literal = match url.host() {
        None => return Err(FetchError::BadUrl("url has no host".into())),
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
    };
    match literal {
        Some(ip) if !private_networks && !is_public(ip) => {
            Err(FetchError::BadUrl(format!("{ip} is not a public address")))
        }
        _ => Ok(()),
    }
}

/// Resolves names, keeping public addresses only.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| is_public(addr.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Whether an address is on the public internet (`IpAddr::is_global` is not stable yet).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(ip),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn sitemaps_list_their_locations_with_entities_resolved() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://shop.example/help/returns</loc><lastmod>2026-01-01</lastmod></url>
  <url><loc> https://shop.example/p?a=1&amp;b=2&#38;c=3 </loc></url>
</urlset>"#;
        let (pages, is_index) = sitemap_locations(xml).unwrap();
        assert!(!is_index);
        assert_eq!(
            pages,
            [
                "https://shop.example/help/returns",
                "https://shop.example/p?a=1&b=2&c=3"
            ]
        );
        let index = r#"<sitemapindex><sitemap><loc>https://a/s.xml</loc></sitemap></sitemapindex>"#;
        assert!(sitemap_locations(index).unwrap().1);
        assert!(sitemap_locations("<urlset><url><loc>x</url>").is_err());
    }

    #[test]
    fn urls_must_be_http_and_public_unless_allowed() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(check_url(&url("file:///etc/passwd"), true).is_err());
        assert!(check_url(&url("http://127.0.0.1:8080/x"), false).is_err());
        assert!(check_url(&url("http://[::1]/x"), false).is_err());
        assert!(check_url(&url("http://127.0.0.1:8080/x"), true).is_ok());
        assert!(check_url(&url("https://example.com/x"), false).is_ok());
    }
}
