//! Fetches web pages, files and sitemaps for the knowledge base (`POST …/documents/fetch`,
//! sync and the scheduled re-sync), conditionally when asked with a page's validators.
//!
//! http(s) only, with a size cap, a timeout and at most five redirects per page. Unless the
//! operator allows it, no address that is not global is ever contacted — loopback, private,
//! link-local, documentation…, nor an IPv6 form leading to such an IPv4 address (mapped, NAT64,
//! 6to4) — checked on the URL, every DNS answer and every redirect, and refused as a bad URL
//! whichever way it came, so a project owner cannot make the server read its own network. It
//! hands back raw bytes (with their content type and validators) and a sitemap's page URLs;
//! turning them into passages is the engine's job.

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

/// A DNS answer or a redirect that the rules forbid. It travels inside reqwest's error and
/// comes out as [`FetchError::BadUrl`], like a forbidden address in the URL itself.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

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

/// What a fetch brought back.
pub struct Fetched {
    /// Where it ended, after redirects.
    pub url: Url,
    /// Lower case, parameters included.
    pub content_type: Option<String>,
    /// Its validators, for asking again conditionally.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub body: Vec<u8>,
}

impl WebFetcher {
    pub fn new(settings: FetchSettings) -> Result<WebFetcher, String> {
        let client = client_builder(settings)
            .build()
            .map_err(|error| error.to_string())?;
        Ok(WebFetcher { client, settings })
    }

    /// The body of `url` as text, at most `max_bytes`.
    pub async fn page(&self, url: &str) -> Result<(Url, String), FetchError> {
        let fetched = self.file(url).await?;
        Ok((
            fetched.url,
            String::from_utf8_lossy(&fetched.body).into_owned(),
        ))
    }

    /// The body of `url` as bytes, at most `max_bytes`, with its final URL, content type and
    /// validators.
    pub async fn file(&self, url: &str) -> Result<Fetched, FetchError> {
        self.file_if_changed(url, None, None)
            .await?
            .ok_or_else(|| FetchError::Failed(format!("{url} answered 304 unasked")))
    }

    /// As [`file`](Self::file), asked conditionally with the validators the page gave last
    /// time: `None` when it has not changed since (304 Not Modified).
    pub async fn file_if_changed(
        &self,
        url: &str,
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<Option<Fetched>, FetchError> {
        let url = Url::parse(url.trim())
            .map_err(|error| FetchError::BadUrl(format!("url is not a valid URL: {error}")))?;
        check_url(&url, self.settings.private_networks)?;
        let mut request = self.client.get(url.clone());
        if let Some(etag) = etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(date) = last_modified {
            request = request.header(reqwest::header::IF_MODIFIED_SINCE, date);
        }
        let response = request
            .send()
            .await
            .map_err(|error| match refusal(&error) {
                Some(refused) => FetchError::BadUrl(format!("fetching {url} refused: {refused}")),
                None => FetchError::Failed(format!("fetching {url} failed: {}", cause(&error))),
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_MODIFIED
            && (etag.is_some() || last_modified.is_some())
        {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(FetchError::Failed(format!("{url} answered {status}")));
        }
        let final_url = response.url().clone();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.to_ascii_lowercase());
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|value: &reqwest::header::HeaderValue| value.to_str().ok())
                .map(str::to_owned)
        };
        let new_etag = header(reqwest::header::ETAG);
        let new_last_modified = header(reqwest::header::LAST_MODIFIED);
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
        Ok(Some(Fetched {
            url: final_url,
            content_type,
            etag: new_etag,
            last_modified: new_last_modified,
            body,
        }))
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

/// A client that keeps to the settings: timeouts, redirects and the address rules.
fn client_builder(settings: FetchSettings) -> reqwest::ClientBuilder {
    let private = settings.private_networks;
    let policy = redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if let Err(error) = check_url(attempt.url(), private) {
            let refused = Refused(format!("it redirects to {}: {error}", attempt.url()));
            attempt.error(refused)
        } else {
            attempt.follow()
        }
    });
    // No proxy from the environment: it would be asked for the address instead, unchecked.
    let builder = Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .no_proxy()
        .redirect(policy)
        .user_agent(concat!(
            "HelpYap/",
            env!("CARGO_PKG_VERSION"),
            " (knowledge base sync)"
        ));
    if private {
        builder
    } else {
        builder.dns_resolver(Arc::new(PublicOnly))
    }
}

/// Sends webhook deliveries under the same address rules as fetching: http(s) only, no address
/// that is not global unless allowed (checked on the URL and every DNS answer), no redirects
/// followed (a 3xx is the receiver's answer), a timeout.
#[derive(Clone)]
pub struct WebhookPoster {
    client: Client,
    private_networks: bool,
}

impl WebhookPoster {
    pub fn new(timeout: Duration, private_networks: bool) -> Result<WebhookPoster, String> {
        // No proxy from the environment: it would be asked for the address instead, unchecked.
        let builder = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .no_proxy()
            .redirect(redirect::Policy::none());
        let builder = if private_networks {
            builder
        } else {
            builder.dns_resolver(Arc::new(PublicOnly))
        };
        let client = builder.build().map_err(|error| error.to_string())?;
        Ok(WebhookPoster {
            client,
            private_networks,
        })
    }

    /// `url` if a webhook may be sent there: http(s), and not to a forbidden address literal
    /// (names are checked when sending).
    pub fn check(&self, url: &str) -> Result<String, FetchError> {
        let parsed = Url::parse(url.trim())
            .map_err(|error| FetchError::BadUrl(format!("url is not a valid URL: {error}")))?;
        check_url(&parsed, self.private_networks)?;
        if url.len() > 2000 {
            return Err(FetchError::BadUrl(
                "url must be at most 2000 characters".into(),
            ));
        }
        Ok(parsed.to_string())
    }
}

#[async_trait::async_trait]
impl helpyap_actors::dispatcher::WebhookSender for WebhookPoster {
    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> Result<u16, String> {
        self.check(url).map_err(|error| error.to_string())?;
        let mut request = self.client.post(url).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(error) => Err(match refusal(&error) {
                Some(refused) => format!("refused: {refused}"),
                None if error.is_timeout() => "no answer in time".into(),
                None => cause(&error),
            }),
        }
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

/// The refused DNS answer or redirect among the error's causes, if that is why it failed.
fn refusal(error: &reqwest::Error) -> Option<&Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<Refused>() {
            return Some(refused);
        }
        source = current.source();
    }
    None
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
                return Err(Refused(format!("{host} has no public address")).into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Whether an address is on the public internet (`IpAddr::is_global` is not stable yet). An
/// IPv6 address that leads to an IPv4 one is judged by that IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let embedded_v4 = |high: u16, low: u16| Ipv4Addr::from(u32::from(high) << 16 | u32::from(low));
    match ip.segments() {
        // IPv4-mapped `::ffff:0:0/96` and NAT64 `64:ff9b::/96` reach the IPv4 address they hold.
        [0, 0, 0, 0, 0, 0xffff, high, low] | [0x64, 0xff9b, 0, 0, 0, 0, high, low] => {
            is_public_v4(embedded_v4(high, low))
        }
        // 6to4 `2002::/16` tunnels to the IPv4 address in bits 16..48.
        [0x2002, high, low, ..] => is_public_v4(embedded_v4(high, low)),
        // IETF protocol assignments `2001::/23`: Teredo `2001::/32` (which can lead anywhere),
        // benchmarking, ORCHID…; documentation `2001:db8::/32` and `3fff::/20`.
        [0x2001, second, ..] if second < 0x200 || second == 0xdb8 => false,
        [0x3fff, second, ..] if second < 0x1000 => false,
        // Global unicast is `2000::/3`. Everything else is not: unspecified, loopback,
        // IPv4-compatible `::/96` and IPv4-translated `::ffff:0:0:0/96` (both retired),
        // local-use NAT64 `64:ff9b:1::/48`, discard `100::/64`, SRv6 `5f00::/16`, unique local
        // `fc00::/7`, link-local `fe80::/10`, site-local `fec0::/10`, multicast `ff00::/8`.
        [first, ..] => first & 0xe000 == 0x2000,
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn only_global_addresses_are_public() {
        for (form, address) in [
            ("IPv4 this network 0/8", "0.1.2.3"),
            ("IPv4 unspecified", "0.0.0.0"),
            ("IPv4 private 10/8", "10.1.2.3"),
            ("IPv4 shared 100.64/10", "100.64.0.1"),
            ("IPv4 shared 100.64/10, last", "100.127.255.254"),
            ("IPv4 loopback 127/8", "127.0.0.1"),
            ("IPv4 loopback 127/8, last", "127.255.255.254"),
            ("IPv4 link-local 169.254/16", "169.254.169.254"),
            ("IPv4 private 172.16/12", "172.16.0.1"),
            ("IPv4 private 172.16/12, last", "172.31.255.254"),
            ("IPv4 protocol assignments 192.0.0/24", "192.0.0.8"),
            ("IPv4 documentation 192.0.2/24", "192.0.2.1"),
            ("IPv4 private 192.168/16", "192.168.1.1"),
            ("IPv4 benchmarking 198.18/15", "198.18.0.1"),
            ("IPv4 benchmarking 198.18/15, last", "198.19.255.254"),
            ("IPv4 documentation 198.51.100/24", "198.51.100.1"),
            ("IPv4 documentation 203.0.113/24", "203.0.113.1"),
            ("IPv4 multicast 224/4", "224.0.0.1"),
            ("IPv4 multicast 224/4, last", "239.255.255.250"),
            ("IPv4 reserved 240/4", "240.0.0.1"),
            ("IPv4 broadcast", "255.255.255.255"),
            ("IPv6 unspecified", "::"),
            ("IPv6 loopback", "::1"),
            ("IPv4-mapped loopback", "::ffff:127.0.0.1"),
            ("IPv4-mapped private", "::ffff:10.0.0.1"),
            ("IPv4-compatible loopback", "::127.0.0.1"),
            ("IPv4-compatible private", "::10.0.0.1"),
            (
                "IPv4-compatible, deprecated even for a public IPv4",
                "::8.8.8.8",
            ),
            ("IPv4-translated loopback", "::ffff:0:127.0.0.1"),
            ("IPv4-translated private", "::ffff:0:10.0.0.1"),
            ("NAT64 64:ff9b::/96 loopback", "64:ff9b::127.0.0.1"),
            ("NAT64 64:ff9b::/96 private", "64:ff9b::10.0.0.1"),
            ("NAT64 64:ff9b::/96 link-local", "64:ff9b::169.254.169.254"),
            ("local-use NAT64 64:ff9b:1::/48", "64:ff9b:1::a00:1"),
            (
                "local-use NAT64 64:ff9b:1::/48 of a public IPv4",
                "64:ff9b:1:808:8:800::",
            ),
            ("6to4 2002::/16 loopback", "2002:7f00:1::1"),
            ("6to4 2002::/16 private", "2002:a00:1::1"),
            ("6to4 2002::/16 link-local", "2002:a9fe:a9fe::1"),
            ("discard 100::/64", "100::1"),
            ("Teredo 2001::/32", "2001::1"),
            (
                "Teredo 2001::/32 of a public server",
                "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            ),
            ("benchmarking 2001:2::/48", "2001:2::1"),
            ("ORCHIDv2 2001:20::/28", "2001:20::1"),
            ("documentation 2001:db8::/32", "2001:db8::1"),
            ("documentation 3fff::/20", "3fff::1"),
            ("SRv6 5f00::/16", "5f00::1"),
            ("unique local fc00::/7", "fc00::1"),
            ("unique local fd00::/8", "fd00::1"),
            ("link-local fe80::/10", "fe80::1"),
            ("site-local fec0::/10", "fec0::1"),
            ("multicast ff00::/8", "ff02::1"),
            ("unallocated outside 2000::/3", "4000::1"),
        ] {
            assert!(
                !is_public(address.parse().unwrap()),
                "{form} ({address}) must be refused"
            );
        }
        for (form, address) in [
            ("IPv4 global", "8.8.8.8"),
            ("IPv4 global", "93.184.216.34"),
            ("IPv4 just past shared 100.64/10", "100.128.0.1"),
            ("IPv4 just past private 172.16/12", "172.32.0.1"),
            ("IPv6 global", "2606:4700::1111"),
            ("IPv6 global in 2001::/16", "2001:4860:4860::8888"),
            ("IPv4-mapped global", "::ffff:8.8.8.8"),
            ("NAT64 64:ff9b::/96 of a global IPv4", "64:ff9b::808:808"),
            ("6to4 2002::/16 of a global IPv4", "2002:808:808::1"),
        ] {
            assert!(
                is_public(address.parse().unwrap()),
                "{form} ({address}) must be allowed"
            );
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

    fn settings(private_networks: bool) -> FetchSettings {
        FetchSettings {
            timeout: Duration::from_secs(10),
            max_bytes: 1024 * 1024,
            sitemap_max_pages: 10,
            private_networks,
        }
    }

    #[tokio::test]
    async fn a_name_with_no_public_address_is_a_bad_url() {
        let fetcher = WebFetcher::new(settings(false)).unwrap();
        let error = fetcher.page("http://localhost:9/").await.unwrap_err();
        assert!(
            matches!(&error, FetchError::BadUrl(reason) if reason.contains("localhost has no public address")),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_redirect_to_a_private_address_is_a_bad_url() {
        // A local proxy stands in for a public site that redirects to the cloud metadata address.
        let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut stream, _) = proxy.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(stream.read_u8().await.unwrap());
            }
            stream
                .write_all(
                    b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\n\
                      Content-Length: 0\r\n\r\n",
                )
                .await
                .unwrap();
        });
        let settings = settings(false);
        let client = client_builder(settings)
            .proxy(reqwest::Proxy::http(proxy_url).unwrap())
            .build()
            .unwrap();
        let fetcher = WebFetcher { client, settings };
        let error = fetcher
            .page("http://help.example/returns")
            .await
            .unwrap_err();
        assert!(
            matches!(&error, FetchError::BadUrl(reason) if reason.contains("169.254.169.254")),
            "{error:?}"
        );
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
