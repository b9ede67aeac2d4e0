//! Sitemaps fetched from owners' sites.
#![no_main]
use helpyap::web_fetch::sitemap_locations;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(xml) = std::str::from_utf8(data) {
        let _ = sitemap_locations(xml);
    }
});
