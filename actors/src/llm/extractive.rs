//! The extractive provider: answers with the best-matching knowledge-base passage, offline and
//! with no key, streamed in small deltas like a model would. It never makes anything up: when
//! no passage matched it says so and offers a human.

use futures_util::stream;

use crate::llm::{LlmError, LlmProvider, Prompt, TextStream};

/// Words per streamed delta.
const WORDS_PER_DELTA: usize = 3;

/// Said when the knowledge base has nothing on the question.
pub const NO_MATCH_ANSWER: &str = "I'm sorry, I couldn't find anything about that in our help \
    center. Would you like to talk to a human? Leave your email address and our team will get \
    back to you.";

#[derive(Debug, Default)]
pub struct Extractive;

impl Extractive {
    /// The whole answer for `prompt`, before it is cut into deltas.
    pub fn compose(prompt: &Prompt) -> String {
        let Some(best) = prompt.passages.first() else {
            return NO_MATCH_ANSWER.to_owned();
        };
        let mut answer = format!(
            "Here is what our help center says in \"{}\":\n\n",
            best.title
        );
        answer.push_str(strip_heading(&best.text));
        let others: Vec<&str> = prompt
            .passages
            .iter()
            .skip(1)
            .filter(|p| p.document_id != best.document_id)
            .map(|p| p.title.as_str())
            .collect();
        if !others.is_empty() {
            answer.push_str(&format!("\n\nSee also: {}.", others.join(", ")));
        }
        answer
    }
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

/// A passage's leading Markdown heading repeats its title; the answer names the title already.
fn strip_heading(text: &str) -> &str {
    match text.strip_prefix('#') {
        Some(_) => text
            .split_once("\n\n")
            .map(|(_, rest)| rest)
            .unwrap_or(text),
        None => text,
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
    use crate::knowledge::Passage;
    use futures_util::StreamExt;

    fn passage(document_id: &str, title: &str, text: &str) -> Passage {
        Passage {
            document_id: document_id.into(),
            title: title.into(),
            url: None,
            text: text.into(),
            score: 1.0,
        }
    }

    fn prompt(passages: Vec<Passage>) -> Prompt {
        Prompt {
            system: String::new(),
            history: vec![],
            question: "q".into(),
            passages,
        }
    }

    #[tokio::test]
    async fn streams_the_best_passage_without_losing_a_character() {
        let passages = vec![
            passage(
                "returns.md",
                "Returns",
                "# Returns\n\nReturn within 30 days.",
            ),
            passage("shipping.md", "Shipping", "Ships fast."),
        ];
        let deltas: Vec<String> = Extractive
            .answer(&prompt(passages))
            .unwrap()
            .map(|d| d.unwrap())
            .collect()
            .await;
        assert!(deltas.len() > 3, "streamed in pieces: {deltas:?}");
        let text = deltas.concat();
        assert_eq!(
            text,
            "Here is what our help center says in \"Returns\":\n\nReturn within 30 days.\n\nSee also: Shipping."
        );
    }

    #[test]
    fn says_plainly_when_nothing_matches() {
        assert_eq!(Extractive::compose(&prompt(vec![])), NO_MATCH_ANSWER);
    }
}
