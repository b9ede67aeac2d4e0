//! Whole words in a text, and short free-text fields from untrusted clients (names, locations,
//! emails, messages): trimmed, empty meaning absent, bounded in characters (not bytes), and free
//! of control characters — except line breaks and tabs where a field may span lines. Each caller
//! names its own error.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextError {
    TooLong,
    ControlCharacters,
}

/// Whether `text` is an absolute http(s) URL with a host: the only links shown to visitors.
pub fn is_web_url(text: &str) -> bool {
    url::Url::parse(text)
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
}

/// Whether `text` holds `words` as whole words (not inside longer ones).
pub fn has_words(text: &str, words: &str) -> bool {
    text.match_indices(words).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + words.len()..].chars().next();
        before.is_none_or(|c| !c.is_alphanumeric()) && after.is_none_or(|c| !c.is_alphanumeric())
    })
}

pub fn clean_field(
    value: Option<String>,
    max_chars: usize,
    multiline: bool,
) -> Result<Option<String>, TextError> {
    let Some(value) = value else { return Ok(None) };
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.chars().count() > max_chars {
        return Err(TextError::TooLong);
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if trimmed.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(TextError::ControlCharacters);
    }
    Ok(Some(trimmed.to_owned()))
}
