//! `POST /api/widget/salespop-push` bodies, through the engine's field validation.
#![no_main]
use helpyap::routes::salespop_push::parse_body;
use helpyap_actors::social_proof::NewEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((project, fields)) = parse_body(data) {
        assert!(!project.is_empty());
        let _ = NewEvent::validate(fields);
    }
});
