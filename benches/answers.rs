//! Answer quality, measured: the labelled visitor questions of `benches/answers/questions.json`
//! over the demo help center (English) and Northtrail's (English and Spanish), run through the
//! same path a chat takes (intent, language, search, the chosen lines, the model, the cited
//! sources), and scored:
//!
//! - top source: the first cited document is the labelled one;
//! - fact first: the answer's first sentence holds one of the labelled facts;
//! - out of scope: a question no document answers gets no source (the "not found" answer);
//! - intents: greetings, thanks, goodbyes and requests for a person are told as such.
//!
//! `cargo bench --bench answers` scores the extractive provider; with
//! `-- --model http://127.0.0.1:PORT/v1` it scores an OpenAI-compatible model (e.g. SmolLM2
//! served by `python scripts/llama_server.py`). `-- --failures` lists every miss.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use helpyap_actors::intent::{self, Intent};
use helpyap_actors::knowledge::KnowledgeIndex;
use helpyap_actors::language::Lang;
use helpyap_actors::llm::extractive::Extractive;
use helpyap_actors::llm::openai::{OpenAi, OpenAiArguments};
use helpyap_actors::llm::{LlmProvider, Persona, Prompt};
use helpyap_actors::{Document, DocumentFormat};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Question {
    id: String,
    help_center: String,
    lang: String,
    question: String,
    expect: String,
    source: Option<String>,
    #[serde(default)]
    facts: Vec<String>,
}

/// One help center, indexed as a project answering in `languages` would have it.
struct HelpCenter {
    name: &'static str,
    index: KnowledgeIndex,
}

#[derive(Default)]
struct Score {
    hits: usize,
    total: usize,
}

impl Score {
    fn add(&mut self, hit: bool) {
        self.total += 1;
        self.hits += usize::from(hit);
    }

    fn show(&self) -> String {
        if self.total == 0 {
            return "–".into();
        }
        format!(
            "{:.1}% ({}/{})",
            100.0 * self.hits as f64 / self.total as f64,
            self.hits,
            self.total
        )
    }
}

#[derive(Default)]
struct Scores {
    top_source: Score,
    fact_first: Score,
    out_of_scope: Score,
    intents: Score,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = args
        .iter()
        .position(|arg| arg == "--model")
        .and_then(|at| args.get(at + 1).cloned());
    let show_failures = args.iter().any(|arg| arg == "--failures");
    let provider: Box<dyn LlmProvider> = match &model {
        Some(url) => Box::new(openai(url)),
        None => Box::new(Extractive),
    };

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let centers = [
        HelpCenter {
            name: "demo",
            index: index(&root.join("knowledge/demo"), &[Lang::En]),
        },
        HelpCenter {
            name: "outdoor",
            index: index(&root.join("benches/answers/outdoor"), &[Lang::En, Lang::Es]),
        },
    ];
    let questions: Vec<Question> = serde_json::from_str(
        &std::fs::read_to_string(root.join("benches/answers/questions.json")).unwrap(),
    )
    .expect("questions.json parses");

    let mut by_set: Vec<((String, String), Scores)> = Vec::new();
    let mut all = Scores::default();
    let mut failures = Vec::new();
    for question in &questions {
        let center = centers
            .iter()
            .find(|center| center.name == question.help_center)
            .expect("a known help center");
        let outcome = answer(&*provider, &center.index, &question.question).await;
        let set = (question.help_center.clone(), question.lang.clone());
        let at = match by_set.iter().position(|(key, _)| *key == set) {
            Some(at) => at,
            None => {
                by_set.push((set, Scores::default()));
                by_set.len() - 1
            }
        };
        let mut missed = Vec::new();
        for scores in [&mut by_set[at].1, &mut all] {
            missed.clear();
            match question.expect.as_str() {
                "answer" => {
                    let source = question.source.as_deref().unwrap_or_default();
                    let top = outcome.sources.first().map(String::as_str) == Some(source);
                    let first = first_sentence(&outcome.text).to_lowercase();
                    let fact = question
                        .facts
                        .iter()
                        .any(|fact| first.contains(&fact.to_lowercase()));
                    scores.top_source.add(top);
                    scores.fact_first.add(fact);
                    if !top {
                        missed.push("top source");
                    }
                    if !fact {
                        missed.push("fact first");
                    }
                }
                "not_found" => {
                    let hit = outcome.intent.is_none() && outcome.sources.is_empty();
                    scores.out_of_scope.add(hit);
                    if !hit {
                        missed.push("out of scope");
                    }
                }
                expected => {
                    let hit = outcome.intent.map(Intent::as_str) == Some(expected);
                    scores.intents.add(hit);
                    if !hit {
                        missed.push("intent");
                    }
                }
            }
        }
        if !missed.is_empty() {
            failures.push(format!(
                "{} [{}] {:?}\n    expected {} {:?} {:?}\n    got sources {:?} intent {:?}\n    {:?}",
                question.id,
                missed.join(", "),
                question.question,
                question.expect,
                question.source,
                question.facts,
                outcome.sources,
                outcome.intent,
                outcome.text.chars().take(300).collect::<String>(),
            ));
        }
    }

    let provider_name = match &model {
        Some(url) => format!("model at {url}"),
        None => "extractive".to_owned(),
    };
    println!(
        "answer quality: {provider_name}, {} questions\n",
        questions.len()
    );
    println!("| set | top source | fact in first sentence | out of scope | intents |");
    println!("|---|---|---|---|---|");
    for ((center, lang), scores) in &by_set {
        row(&format!("{center} ({lang})"), scores);
    }
    row("**all**", &all);
    if show_failures {
        println!("\n{} misses:", failures.len());
        for failure in &failures {
            println!("{failure}");
        }
    }
}

fn row(name: &str, scores: &Scores) {
    println!(
        "| {name} | {} | {} | {} | {} |",
        scores.top_source.show(),
        scores.fact_first.show(),
        scores.out_of_scope.show(),
        scores.intents.show()
    );
}

struct Outcome {
    text: String,
    sources: Vec<String>,
    intent: Option<Intent>,
}

/// What a visitor asking `question` would get, as the session makes it.
async fn answer(provider: &dyn LlmProvider, index: &KnowledgeIndex, question: &str) -> Outcome {
    if let Some((intent, lang)) = intent::detect(question) {
        return Outcome {
            text: intent.reply(lang).to_owned(),
            sources: Vec::new(),
            intent: Some(intent),
        };
    }
    let persona = Persona {
        name: "Support Bot",
        company: "the shop",
        instructions: "",
    };
    let prompt = Prompt::new(question, Vec::new(), index, persona);
    let mut text = String::new();
    match provider.answer(&prompt) {
        Ok(mut deltas) => {
            while let Some(delta) = deltas.next().await {
                match delta {
                    Ok(delta) => text.push_str(&delta),
                    Err(error) => {
                        text = format!("(failed: {error})");
                        break;
                    }
                }
            }
        }
        Err(error) => text = format!("(refused: {error})"),
    }
    let sources = index
        .cited(&text, &prompt.passages)
        .into_iter()
        .map(|passage| passage.document_id.clone())
        .collect();
    Outcome {
        text,
        sources,
        intent: None,
    }
}

/// The first sentence of an answer: its first line that is not a table's header or rule, up
/// to the first full stop, question or exclamation mark followed by a space.
fn first_sentence(text: &str) -> &str {
    let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
    let mut line = lines.next().unwrap_or("");
    if line.starts_with('|') {
        // A table: the header, the rule, then the first row.
        line = lines.nth(1).unwrap_or(line);
    }
    let end = line
        .match_indices(['.', '!', '?'])
        .map(|(at, _)| at + 1)
        .find(|&at| line[at..].starts_with(' '))
        .unwrap_or(line.len());
    &line[..end]
}

fn index(dir: &Path, languages: &[Lang]) -> KnowledgeIndex {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    paths.sort();
    let documents: Vec<Document> = paths
        .iter()
        .map(|path| {
            let id = path.file_name().unwrap().to_string_lossy().into_owned();
            Document::parse(
                &id,
                DocumentFormat::Markdown,
                &std::fs::read_to_string(path).unwrap(),
            )
        })
        .collect();
    KnowledgeIndex::build(&documents, languages).unwrap()
}

fn openai(url: &str) -> OpenAi {
    OpenAi::new(OpenAiArguments {
        base_url: url.to_owned(),
        model: "smollm2".to_owned(),
        api_key: String::new(),
        temperature: 0.0,
        max_tokens: 160,
        connect_timeout: Duration::from_secs(5),
        first_token_timeout: Duration::from_secs(120),
        idle_timeout: Duration::from_secs(60),
        max_concurrent_streams: 4,
        http2_prior_knowledge: false,
        connections: 1,
    })
    .expect("the model server's address is valid")
}
