//! The chat answer on the wire: the Vercel AI SDK "UI message stream" protocol v1 over SSE.
//!
//! Turns the engine's `ChatEvent`s into `start`, `text-start`, `text-delta`…, `text-end`,
//! `source-url`/`source-document`, `finish` (or `error`) and `data: [DONE]` frames, with
//! keep-alive comments during silences. Framing is sse-stream's; this module only decides
//! which frames, in which order. A token's frame is made in the poll that reads it: the frames
//! are a plain [`Stream`] over the answer's events, with no task, channel or future of its own.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use helpyap_actors::session::AnswerStream;
use helpyap_actors::{ChatEvent, Source};
use serde::Serialize;
use sse_stream::{KeepAlive, Sse, SseBody};

use crate::admission::StreamSlot;
use crate::timer::KeepAliveTimer;
use crate::views::HandoffNotice;

/// The response header AI SDK clients check.
pub const PROTOCOL_HEADER: (&str, &str) = ("x-vercel-ai-ui-message-stream", "v1");

/// The SSE body of one answer, holding the client's stream `slot` until it is dropped.
pub fn body(
    message_id: String,
    events: AnswerStream,
    keep_alive: Duration,
    slot: StreamSlot,
) -> SseBody<Frames, KeepAliveTimer> {
    let frames = Frames::new(&message_id, events, slot);
    SseBody::new(frames).with_keep_alive(KeepAlive::new().interval(keep_alive))
}

/// One frame of the protocol; serialized as `{"type": "text-delta", …}`.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum Frame<'a> {
    #[serde(rename_all = "camelCase")]
    Start {
        message_id: &'a str,
    },
    TextStart {
        id: &'a str,
    },
    TextDelta {
        id: &'a str,
        delta: &'a str,
    },
    TextEnd {
        id: &'a str,
    },
    #[serde(rename_all = "camelCase")]
    SourceUrl {
        source_id: &'a str,
        url: &'a str,
        title: &'a str,
    },
    #[serde(rename_all = "camelCase")]
    SourceDocument {
        source_id: &'a str,
        media_type: &'a str,
        title: &'a str,
    },
    /// Who answers, for the widget to show as a status line (an AI SDK data part).
    #[serde(rename = "data-handoff")]
    DataHandoff {
        data: HandoffNotice,
    },
    /// What the widget does after the answer: open the contact form, or offer it.
    #[serde(rename = "data-action")]
    DataAction {
        data: ActionData,
    },
    Finish,
    #[serde(rename_all = "camelCase")]
    Error {
        error_text: &'a str,
    },
}

#[derive(Serialize)]
struct ActionData {
    action: &'static str,
}

fn to_json(frame: &Frame) -> String {
    serde_json::to_string(frame).expect("frames are plain strings")
}

/// One answer's frames, in order, ending with `[DONE]`.
pub struct Frames {
    events: AnswerStream,
    /// Frames made but not yet sent: usually one, more when an event opens or closes the text.
    queued: VecDeque<String>,
    text_open: bool,
    text_done: bool,
    ended: bool,
    _slot: StreamSlot,
}

const TEXT_ID: &str = "text-1";

impl Stream for Frames {
    type Item = Result<Sse, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // An event may make no frame (sources of none): read on until one does.
        loop {
            if let Some(frame) = this.queued.pop_front() {
                return Poll::Ready(Some(Ok(Sse::default().data(frame))));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            let event = ready!(this.events.poll_next_unpin(cx));
            this.on(event);
        }
    }
}

impl Frames {
    fn new(message_id: &str, events: AnswerStream, slot: StreamSlot) -> Frames {
        Frames {
            events,
            queued: VecDeque::from([to_json(&Frame::Start { message_id })]),
            text_open: false,
            text_done: false,
            ended: false,
            _slot: slot,
        }
    }

    /// Queues the frames `event` makes (`None`: the answer's events ended).
    fn on(&mut self, event: Option<ChatEvent>) {
        match event {
            Some(ChatEvent::Handoff(status)) => {
                self.close_text();
                self.queue(&Frame::DataHandoff {
                    data: HandoffNotice::of(status),
                });
            }
            Some(ChatEvent::Delta(delta)) => {
                if !self.text_open {
                    self.text_open = true;
                    self.queue(&Frame::TextStart { id: TEXT_ID });
                }
                self.queue(&Frame::TextDelta {
                    id: TEXT_ID,
                    delta: &delta,
                });
            }
            Some(ChatEvent::Sources(sources)) => {
                self.close_text();
                for source in &sources {
                    self.queue(&source_frame(source));
                }
            }
            Some(ChatEvent::Action(action)) => {
                self.close_text();
                self.queue(&Frame::DataAction {
                    data: ActionData {
                        action: action.as_str(),
                    },
                });
            }
            Some(ChatEvent::Finished) => {
                self.close_text();
                self.queue(&Frame::Finish);
                self.end();
            }
            Some(ChatEvent::Failed(reason)) => {
                self.close_text();
                self.queue(&Frame::Error {
                    error_text: &reason,
                });
                self.end();
            }
            None => {
                self.close_text();
                self.queue(&Frame::Error {
                    error_text: "the answer ended unexpectedly",
                });
                self.end();
            }
        }
    }

    fn queue(&mut self, frame: &Frame) {
        self.queued.push_back(to_json(frame));
    }

    fn end(&mut self) {
        self.ended = true;
        self.queued.push_back("[DONE]".to_owned());
    }

    fn close_text(&mut self) {
        if self.text_open && !self.text_done {
            self.text_done = true;
            self.queue(&Frame::TextEnd { id: TEXT_ID });
        }
    }
}

/// Only http(s) URLs are cited as links; anything else (`javascript:`…) is cited by title.
fn source_frame(source: &Source) -> Frame<'_> {
    let link = source.url.as_deref().filter(|url| {
        let lower = url.trim_start().to_ascii_lowercase();
        lower.starts_with("https://") || lower.starts_with("http://")
    });
    match link {
        Some(url) => Frame::SourceUrl {
            source_id: &source.id,
            url,
            title: &source.title,
        },
        None => Frame::SourceDocument {
            source_id: &source.id,
            media_type: "text/plain",
            title: &source.title,
        },
    }
}

#[cfg(test)]
mod tests {
    use futures_util::stream;
    use serde_json::Value;

    use super::*;
    use crate::admission::StreamQuota;

    fn json_of(frame: &Frame) -> Value {
        serde_json::from_str(&to_json(frame)).unwrap()
    }

    #[test]
    fn only_http_urls_become_links() {
        let source = |url: &str| Source {
            id: "doc".into(),
            title: "Doc".into(),
            url: Some(url.into()),
        };
        let link = json_of(&source_frame(&source("https://a.example/x")));
        assert_eq!(link["type"], "source-url");
        assert_eq!(link["sourceId"], "doc");
        assert_eq!(link["url"], "https://a.example/x");
        for bad in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "data:text/html,x",
            "ftp://a",
        ] {
            let frame = json_of(&source_frame(&source(bad)));
            assert_eq!(frame["type"], "source-document", "{bad}");
            assert_eq!(frame["mediaType"], "text/plain");
            assert!(frame.get("url").is_none());
        }
    }

    async fn frames_of(events: Vec<ChatEvent>) -> Vec<String> {
        let slot = StreamQuota::new(0).open([127, 0, 0, 1].into()).unwrap();
        Frames::new("m-1", stream::iter(events).boxed(), slot)
            .map(|frame| frame.unwrap().data.unwrap())
            .collect()
            .await
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
        assert_eq!(frames[0], r#"{"type":"start","messageId":"m-1"}"#);
        assert_eq!(frames[1], r#"{"type":"text-start","id":"text-1"}"#);
        assert_eq!(
            frames[2],
            r#"{"type":"text-delta","id":"text-1","delta":"Hi "}"#
        );
        assert!(frames[5].contains("\"url\":\"https://x/r\""));
        assert_eq!(frames[6], r#"{"type":"finish"}"#);
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
    async fn an_event_that_makes_no_frame_does_not_end_the_stream() {
        let frames = frames_of(vec![
            ChatEvent::Sources(Vec::new()),
            ChatEvent::Delta("Hi".into()),
            ChatEvent::Finished,
        ])
        .await;
        assert_eq!(frames.len(), 6, "{frames:?}");
        assert_eq!(frames.last().unwrap(), "[DONE]");
    }

    #[tokio::test]
    async fn a_failure_closes_the_text_then_sends_an_error() {
        let frames = frames_of(vec![
            ChatEvent::Delta("Hi".into()),
            ChatEvent::Failed("cut off".into()),
        ])
        .await;
        assert!(frames[3].contains("\"text-end\""));
        assert_eq!(frames[4], r#"{"type":"error","errorText":"cut off"}"#);
        assert_eq!(frames[5], "[DONE]");
        // A generation that vanishes still ends the stream properly.
        let frames = frames_of(vec![]).await;
        assert!(frames[1].contains("\"error\""));
        assert_eq!(frames.last().unwrap(), "[DONE]");
    }
}
