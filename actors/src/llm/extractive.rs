//! The extractive provider: answers with the help center's own lines that answer the question
//! (chosen by the knowledge index), then where to read more, offline and with no key, streamed
//! in small deltas like a model would. It never makes anything up: when no line answers, it
//! says so in the visitor's language and offers a human.

use futures_util::stream;

use crate::llm::{LlmError, LlmProvider, Prompt, TextStream};

/// Words per streamed delta.
const WORDS_PER_DELTA: usize = 3;

#[derive(Debug, Default)]
pub struct Extractive;

impl Extractive {
    /// The whole answer for `prompt`, before it is cut into deltas.
    pub fn compose(prompt: &Prompt) -> String {
        let phrases = prompt.language.phrases();
        let Some(extract) = &prompt.extract else {
            return phrases.not_found.to_owned();
        };
        if extract.curated {
            return extract.text.clone();
        }
        // Brackets would end the link text early.
        let title: String = extract
            .title
            .chars()
            .filter(|c| !matches!(c, '[' | ']'))
            .collect();
        let source = match extract.url.as_deref().filter(|url| is_web_link(url)) {
            Some(url) => format!("[{title}]({url})"),
            None => title,
        };
        format!("{}\n\n{}: {source}", extract.text, phrases.read_more)
    }
}

/// Only http(s) addresses become links (with no space or parenthesis to break the Markdown).
fn is_web_link(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.contains(|c: char| c.is_whitespace() || c == '(' || c == ')')
}

impl LlmProvider for Extractive {
    fn name(&self) -> &'static str {
        "extractive"
    }

    fn answer(&self, prompt: &Prompt) -> Result<TextStream, LlmError> {
        let answer = Extractive::compose(prompt);
        Ok(Box::pin(stream::iter(
            split_deltas(&answer).into_iter().map(Ok),
        )))
    }
}

/// Cuts `text` into deltas of a few words each, keeping every character (white space included).
pub fn split_deltas(text: &str) -> Vec<String> {
    let mut deltas = Vec::new();
    let mut current = String::new();
    let mut n_words = 0;
    for piece in text.split_inclusive(' ') {
        current.push_str(piece);
        n_words += 1;
        if n_words == WORDS_PER_DELTA {
            deltas.push(std::mem::take(&mut current));
            n_words = 0;
        }
    }
    if !current.is_empty() {
        deltas.push(current);
    }
    deltas
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::Extract;
    use crate::language::Lang;
    use futures_util::StreamExt;

    fn prompt(extract: Option<Extract>, language: Lang) -> Prompt {
        Prompt {
            system: String::new(),
            history: vec![],
            question: "q".into(),
            passages: vec![],
            language,
            extract,
        }
    }

    fn extract(url: Option<&str>) -> Extract {
        Extract {
            text: "Sale items can be returned within 14 days.".into(),
            document_id: "returns.md".into(),
            title: "Returns [and] refunds".into(),
            url: url.map(str::to_owned),
            curated: false,
        }
    }

    #[tokio::test]
    async fn streams_the_lines_then_where_to_read_more_without_losing_a_character() {
        let deltas: Vec<String> = Extractive
            .answer(&prompt(
                Some(extract(Some("https://x.example/r"))),
                Lang::En,
            ))
            .unwrap()
            .map(|d| d.unwrap())
            .collect()
            .await;
        assert!(deltas.len() > 3, "streamed in pieces: {deltas:?}");
        assert_eq!(
            deltas.concat(),
            "Sale items can be returned within 14 days.\n\nRead more: [Returns and refunds](https://x.example/r)"
        );
    }

    #[test]
    fn a_source_without_a_web_address_is_named_not_linked() {
        for url in [
            None,
            Some("javascript:alert(1)"),
            Some("https://x.example/a b"),
        ] {
            let answer = Extractive::compose(&prompt(Some(extract(url)), Lang::Es));
            assert!(
                answer.ends_with("\n\nMás información: Returns and refunds"),
                "{answer}"
            );
        }
    }

    #[test]
    fn says_plainly_in_the_visitors_language_when_nothing_answers() {
        assert_eq!(
            Extractive::compose(&prompt(None, Lang::En)),
            Lang::En.phrases().not_found
        );
        assert!(Extractive::compose(&prompt(None, Lang::De)).contains("nicht gefunden"));
    }
}
