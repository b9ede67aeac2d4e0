//! `POST /api/chat` bodies: the messages and the question taken from them.
#![no_main]
use helpyap::routes::chat::{ChatLimits, parse_question};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = ChatLimits {
        max_messages: 100,
        max_message_chars: 4000,
    };
    if let Ok(question) = parse_question(data, &limits) {
        assert!(!question.trim().is_empty());
        assert!(question.chars().count() <= limits.max_message_chars);
    }
});
