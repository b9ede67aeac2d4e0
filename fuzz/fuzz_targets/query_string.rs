//! Query strings: the widget endpoints' `project`, `sessionId`, `since`, and the inbox's
//! filters; and request paths through the route table.
#![no_main]
use helpyap::route::Route;
use helpyap::routes::admin_conversations::parse_inbox_query;
use helpyap::routes::{parse_session_id, project_param, query_param, since_param};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(uri) = format!("/api/widget/salespop?{query}").parse::<hyper::Uri>() else {
        return;
    };
    let _ = project_param(&uri);
    if let Ok(inbox) = parse_inbox_query(&uri) {
        assert!((1..=100).contains(&inbox.limit));
    }
    let _ = Route::parse(query);
    let _ = parse_session_id(query_param(&uri, "sessionId").as_deref());
    let request = hyper::Request::builder().uri(uri).body(()).unwrap();
    let _ = since_param(&request);
});
