//! The chat answer on the wire: the Vercel AI SDK "UI message stream" protocol v1 over SSE.
//!
//! Turns the engine's `ChatEvent`s into `start`, `text-start`, `text-delta`…, `text-end`,
//! `source-url`/`source-document`, `finish` (or `error`) and `data: [DONE]` frames, with
//! keep-alive comments during silences. Framing is sse-stream's; this module only decides
//! which frames, in which order.

use std::time::Duration;

use futures_util::{Stream, StreamExt, stream};
use helpyap_actors::{ChatEvent, Source};
use serde_json::{Value, json};
use sse_stream::{KeepAlive, Sse, SseBody};
use tokio::sync::mpsc;

use crate::timer::KeepAliveTimer;

/// The response header AI SDK clients check.
pub const PROTOCOL_HEADER: (&str, &str) = ("x-vercel-ai-ui-message-stream", "v1");

/// The SSE body of one answer.
pub fn body(
    message_id: String,
    events: mpsc::Receiver<ChatEvent>,
    keep_alive: Duration,
) -> SseBody<impl Stream<Item = Result<Sse, std::convert::Infallible>>, KeepAliveTimer> {
    let frames = frames(message_id, events).map(|frame| Ok(Sse::default().data(frame)));
    SseBody::new(frames).with_keep_alive(KeepAlive::new().interval(keep_alive))
}

/// The `data:` payloads of one answer, in order, ending with `[DONE]`.
fn frames(message_id: String, events: mpsc::Receiver<ChatEvent>) -> impl Stream<Item = String> {
    let start = json!({ "type": "start", "messageId": message_id }).to_string();
    let state = Frames {
        events,
        text_open: false,
        text_done: false,
        ended: false,
    };
    let rest = stream::unfold(state, |mut state| async move {
        if state.ended {
            return None;
        }
        let frames = state.next_frames().await;
        Some((stream::iter(frames), state))
    });
    stream::once(async { start }).chain(rest.flatten())
}

struct Frames {
    events: mpsc::Receiver<ChatEvent>,
    text_open: bool,
    text_done: bool,
    ended: bool,
}

const TEXT_ID: &str = "text-1";

impl Frames {
    async fn next_frames(&mut self) -> Vec<String> {
        let mut frames = Vec::new();
        match self.events.recv().await {
            Some(ChatEvent::Delta(delta)) => {
                if !self.text_open {
                    self.text_open = true;
                    frames.push(json!({ "type": "text-start", "id": TEXT_ID }));
                }
                frames.push(json!({ "type": "text-delta", "id": TEXT_ID, "delta": delta }));
            }
            Some(ChatEvent::Sources(sources)) => {
                self.close_text(&mut frames);
                frames.extend(sources.iter().map(source_frame));
            }
            Some(ChatEvent::Finished) => {
                self.close_text(&mut frames);
                frames.push(json!({ "type": "finish" }));
                self.ended = true;
            }
            Some(ChatEvent::Failed(reason)) => {
                self.close_text(&mut frames);
                frames.push(json!({ "type": "error", "errorText": reason }));
                self.ended = true;
            }
            None => {
                self.close_text(&mut frames);
                frames
                    .push(json!({ "type": "error", "errorText": "the answer ended unexpectedly" }));
                self.ended = true;
            }
        }
        let mut frames: Vec<String> = frames.iter().map(Value::to_string).collect();
        if self.ended {
            frames.push("[DONE]".to_owned());
        }
        frames
    }

    fn close_text(&mut self, frames: &mut Vec<Value>) {
        if self.text_open && !self.text_done {
            self.text_done = true;
            frames.push(json!({ "type": "text-end", "id": TEXT_ID }));
        }
    }
}

/// Only http(s) URLs are cited as links; anything else (`javascript:`…) is cited by title.
fn source_frame(source: &Source) -> Value {
    let link = source.url.as_ref().filter(|url| {
        let lower = url.trim_start().to_ascii_lowercase();
        lower.starts_with("https://") || lower.starts_with("http://")
    });
    match link {
        Some(url) => {
            json!({ "type": "source-url", "sourceId": source.id, "url": url, "title": source.title })
        }
        None => json!({
            "type": "source-document",
            "sourceId": source.id,
            "mediaType": "text/plain",
            "title": source.title,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_become_links() {
        let source = |url: &str| Source {
            id: "doc".into(),
            title: "Doc".into(),
            url: Some(url.into()),
        };
        assert_eq!(
            source_frame(&source("https://a.example/x"))["type"],
            "source-url"
        );
        for bad in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "data:text/html,x",
            "ftp://a",
        ] {
            let frame = source_frame(&source(bad));
            assert_eq!(frame["type"], "source-document", "{bad}");
            assert!(frame.get("url").is_none());
        }
    }

    async fn frames_of(events: Vec<ChatEvent>) -> Vec<String> {
        let (sender, receiver) = mpsc::channel(events.len().max(1));
        for event in events {
            sender.send(event).await.unwrap();
        }
        drop(sender);
        frames("m-1".into(), receiver).collect().await
    }

    #[tokio::test]
    async fn a_finished_answer_has_every_frame_in_order() {
        let source = Source {
            id: "returns.md".into(),
            title: "Returns".into(),
            url: Some("https://x/r".into()),
        };
        let frames = frames_of(vec![
            ChatEvent::Delta("Hi ".into()),
            ChatEvent::Delta("there".into()),
            ChatEvent::Sources(vec![source]),
            ChatEvent::Finished,
        ])
        .await;
        let types: Vec<String> = frames
            .iter()
            .map(|f| {
                serde_json::from_str::<Value>(f)
                    .map(|v| v["type"].as_str().unwrap().to_owned())
                    .unwrap_or(f.clone())
            })
            .collect();
        assert_eq!(
            types,
            [
                "start",
                "text-start",
                "text-delta",
                "text-delta",
                "text-end",
                "source-url",
                "finish",
                "[DONE]"
            ]
        );
        assert!(frames[5].contains("\"url\":\"https://x/r\""));
    }

    proptest::proptest! {
        /// Any deltas, sources and ending: valid JSON frames in protocol order, the text intact.
        #[test]
        fn frames_carry_any_answer_in_order(
            deltas in proptest::collection::vec(".{0,40}", 0..20),
            finished in proptest::bool::ANY,
        ) {
            let mut events: Vec<ChatEvent> = deltas.iter().cloned().map(ChatEvent::Delta).collect();
            events.push(if finished { ChatEvent::Finished } else { ChatEvent::Failed("x".into()) });
            let frames = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(frames_of(events));
            proptest::prop_assert_eq!(frames.last().map(String::as_str), Some("[DONE]"));
            let json: Vec<Value> = frames[..frames.len() - 1]
                .iter()
                .map(|f| serde_json::from_str(f).unwrap())
                .collect();
            let types: Vec<&str> = json.iter().map(|f| f["type"].as_str().unwrap()).collect();
            proptest::prop_assert_eq!(types[0], "start");
            proptest::prop_assert_eq!(*types.last().unwrap(), if finished { "finish" } else { "error" });
            let text: String = json.iter().filter_map(|f| f["delta"].as_str()).collect();
            proptest::prop_assert_eq!(text, deltas.concat());
            let opened = types.iter().filter(|t| **t == "text-start").count();
            let closed = types.iter().filter(|t| **t == "text-end").count();
            proptest::prop_assert_eq!(opened, closed);
            proptest::prop_assert_eq!(opened, usize::from(!deltas.is_empty()));
        }
    }

    #[tokio::test]
    async fn a_failure_closes_the_text_then_sends_an_error() {
        let frames = frames_of(vec![
            ChatEvent::Delta("Hi".into()),
            ChatEvent::Failed("cut off".into()),
        ])
        .await;
        assert!(frames[3].contains("\"text-end\""));
        assert_eq!(frames[4], r#"{"errorText":"cut off","type":"error"}"#);
        assert_eq!(frames[5], "[DONE]");
        // A generation that vanishes still ends the stream properly.
        let frames = frames_of(vec![]).await;
        assert!(frames[1].contains("\"error\""));
        assert_eq!(frames.last().unwrap(), "[DONE]");
    }
}
