//! Direct answers without a model: the one to three sentences (or list items, or table rows)
//! of the best passages that answer a question, the deciding one first; and, for any answer,
//! which documents it used.
//!
//! Sentences are scored by the question's terms they hold (stems and synonyms, weighted by how
//! rare they are), helped a little by the passage's title and heading and its search rank. It
//! never writes a word of its own: every line is the help center's, verbatim.

use std::collections::HashSet;

use super::Passage;
use super::analysis;
use super::index::{KnowledgeIndex, SYNONYM_WEIGHT, TermWeights};
use crate::language::Lang;
use crate::text::has_words;

/// Share of the question's weight the answer's deciding line (with its passage's title and
/// heading) must hold; below it the help center does not answer the question.
const MIN_COVERAGE: f32 = 0.4;
/// The share a passage holding only one of the question's words must hold.
const ONE_WORD_COVERAGE: f32 = 0.6;
/// How much a title or heading word not in the line itself counts.
const CONTEXT_WEIGHT: f32 = 0.3;
/// Passages read for lines, best first.
const PASSAGES_READ: usize = 3;
/// Lines in an answer, the deciding one included.
const MAX_LINES: usize = 3;
/// A line joins the deciding one when it scores at least this share of it.
const COMPANION_SHARE: f32 = 0.6;
/// List items shown after a deciding line that introduces a list ("Options:").
const MAX_LIST_ITEMS: usize = 8;
/// How much a line's length counts against it (BM25's `b`, for lines).
const LENGTH_NORM: f32 = 0.5;
/// A line of the kind the question asks for (a price for "how much"…) answers it better.
const KIND_BONUS: f32 = 1.5;
/// A model's answer used a passage when this share of its terms are the passage's.
const MODEL_OVERLAP: f32 = 0.4;

/// The help center's own lines that answer a question.
#[derive(Debug, Clone, PartialEq)]
pub struct Extract {
    /// Markdown: sentences, list items or a table, the deciding one first.
    pub text: String,
    pub document_id: String,
    pub title: String,
    pub url: Option<String>,
    /// A curated answer: said as it is, with no "Read more" (its source is the FAQ).
    pub curated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sentence,
    ListItem,
    TableRow,
}

/// One line of a passage an answer may be made of.
#[derive(Debug, Clone)]
struct Line {
    text: String,
    kind: Kind,
    /// For a table row: the table's header row.
    header: Option<String>,
    /// The heading the line stands under.
    heading: Option<String>,
    /// Which list or table (or paragraph) of the passage it belongs to.
    block: usize,
}

impl KnowledgeIndex {
    /// The lines of `passages` (this index's search hits for `question`, best first) that
    /// answer it; `None` when none holds enough of the question.
    pub fn extract(&self, question_text: &str, passages: &[Passage]) -> Option<Extract> {
        let lang = passages.first()?.lang;
        let weights = self.scorer(lang)?;
        let terms = self.question_terms(lang, question_text);

        // Coverage is measured against the visitor's own words; synonyms only help.
        let own_weight: f32 = terms
            .iter()
            .filter(|(_, synonym)| !synonym)
            .map(|(term, _)| weights.weight(term))
            .sum();
        let mut question: Vec<(String, f32)> = terms
            .into_iter()
            .map(|(term, synonym)| {
                let factor = if synonym { SYNONYM_WEIGHT } else { 1.0 };
                let weight = weights.weight(&term) * factor;
                (term, weight)
            })
            .collect();
        let want = wanted(lang, question_text);
        // "How much is Pro?" is answered by "Pro costs $29": price words count too.
        if want == Some(Want::Price) {
            for term in PRICE_WORDS
                .iter()
                .flat_map(|word| analysis::terms(weights.analyzer, word))
            {
                if !question.iter().any(|(known, _)| *known == term) {
                    let weight = weights.weight(&term) * SYNONYM_WEIGHT;
                    question.push((term, weight));
                }
            }
        }
        if own_weight <= 0.0 {
            return None;
        }
        let best_score = passages[0].score.max(f32::EPSILON);

        // Every line of the passages read, scored.
        let mut scored: Vec<(f32, usize, usize)> = Vec::new(); // (score, passage, line)
        let lines_of: Vec<Vec<Line>> = passages
            .iter()
            .take(PASSAGES_READ)
            .map(|passage| lines(&passage.text))
            .collect();
        let n_terms = |line: &Line| analysis::terms(weights.analyzer, &line.text).len() as f32;
        let n_lines = lines_of.iter().map(Vec::len).sum::<usize>().max(1) as f32;
        let average_terms = lines_of.iter().flatten().map(n_terms).sum::<f32>() / n_lines;
        for (p, passage) in passages.iter().take(PASSAGES_READ).enumerate() {
            // The passage (with its title) must hold enough of the question to answer it.
            let mut whole = term_set(&weights, &passage.text);
            whole.extend(term_set(&weights, &passage.title));
            let (held, n_held) = holds(&question, &whole);
            // One shared word answers only when it is most of the question: "Do you sell
            // kayaks?" is not answered by "Everything we sell…", "How do returns work?" is.
            let needed = if n_held == 1 {
                ONE_WORD_COVERAGE
            } else {
                MIN_COVERAGE
            };
            if n_held == 0 || held / own_weight < needed {
                continue;
            }
            let title = term_set(&weights, &passage.title);
            for (l, line) in lines_of[p].iter().enumerate() {
                let mut own = term_set(&weights, &line.text);
                if let Some(header) = &line.header {
                    own.extend(term_set(&weights, header));
                }
                let (held, n_held) = holds(&question, &own);
                if n_held == 0 {
                    continue;
                }
                let mut context = title.clone();
                if let Some(heading) = &line.heading {
                    context.extend(term_set(&weights, heading));
                }
                context.retain(|term| !own.contains(term));
                let hint = holds(&question, &context).0 * CONTEXT_WEIGHT;
                let rank = 0.7 + 0.3 * passage.score / best_score;
                // Of two lines holding the same words, the shorter is the more direct answer.
                let longer = n_terms(line) / average_terms.max(1.0) - 1.0;
                let length = 1.0 + LENGTH_NORM * longer.max(0.0);
                let kind = match want {
                    Some(want) if fits(want, &line.text) => KIND_BONUS,
                    _ => 1.0,
                };
                scored.push(((held + hint) * rank * kind / length, p, l));
            }
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let &(top, p, l) = scored.first()?;
        let passage = &passages[p];
        let deciding = &lines_of[p][l];

        let mut chosen: Vec<&Line> = vec![deciding];
        if deciding.kind == Kind::Sentence && deciding.text.trim_end().ends_with(':') {
            // "You can choose from:" answers with the list that follows it.
            chosen.extend(
                lines_of[p][l + 1..]
                    .iter()
                    .take_while(|line| line.kind != Kind::Sentence)
                    .take(MAX_LIST_ITEMS),
            );
        } else {
            let mut companions: Vec<&Line> = scored[1..]
                .iter()
                .filter(|(score, q, _)| {
                    *score >= top * COMPANION_SHARE
                        && passages[*q].document_id == passage.document_id
                })
                .map(|&(_, q, m)| &lines_of[q][m])
                .filter(|line| line.text != deciding.text)
                .take(MAX_LINES - 1)
                .collect();
            // After the deciding line, the others keep the help center's order.
            companions.sort_by_key(|line| {
                lines_of
                    .iter()
                    .flatten()
                    .position(|other| std::ptr::eq(other, *line))
            });
            chosen.extend(companions);
        }
        Some(Extract {
            text: render(&chosen),
            document_id: passage.document_id.clone(),
            title: passage.title.clone(),
            url: passage.url.clone(),
            curated: false,
        })
    }

    /// The documents `answer` drew on, among `passages` (best first), each once: those whose
    /// lines it quotes, or, when it quotes none (a model wrote it), those it shares most of its
    /// words with.
    pub fn cited<'p>(&self, answer: &str, passages: &'p [Passage]) -> Vec<&'p Passage> {
        let Some(first) = passages.first() else {
            return Vec::new();
        };
        let Some(weights) = self.scorer(first.lang) else {
            return Vec::new();
        };
        // The assistant's own "not found" cites nothing, whatever words it shares.
        if answer.contains(first.lang.phrases().not_found) {
            return Vec::new();
        }
        let answer_flat = squeeze(answer);
        // Quoted: the whole passage (a curated answer, however short), or a line of it long
        // enough not to be there by chance.
        let quoted: Vec<&Passage> = passages
            .iter()
            .filter(|passage| {
                answer_flat.contains(&squeeze(&passage.text))
                    || lines(&passage.text).iter().any(|line| {
                        let line = squeeze(&line.text);
                        line.chars().count() >= 20 && answer_flat.contains(&line)
                    })
            })
            .collect();
        let used = if quoted.is_empty() {
            let words = term_set(&weights, answer);
            if words.len() < 3 {
                return Vec::new();
            }
            passages
                .iter()
                .filter(|passage| {
                    let shared = term_set(&weights, &passage.text)
                        .intersection(&words)
                        .count();
                    shared as f32 / words.len() as f32 >= MODEL_OVERLAP
                })
                .collect()
        } else {
            quoted
        };
        let mut documents: Vec<&Passage> = Vec::new();
        for passage in used {
            if !documents
                .iter()
                .any(|kept| kept.document_id == passage.document_id)
            {
                documents.push(passage);
            }
        }
        documents
    }
}

/// What kind of answer a question asks for, told from how it asks ("how much", "cuánto
/// tarda"): a line of that kind answers it more directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Price,
    Duration,
    When,
    Number,
}

/// The cues of each kind of answer, in each language, most specific first.
fn cues(lang: Lang) -> &'static [(Want, &'static [&'static str])] {
    match lang {
        Lang::En => &[
            (
                Want::Duration,
                &[
                    "how long",
                    "how many days",
                    "how soon",
                    "how fast",
                    "how quickly",
                    "take",
                ],
            ),
            (
                Want::Price,
                &[
                    "how much",
                    "price",
                    "cost",
                    "fee",
                    "charge",
                    "expensive",
                    "cheap",
                    "pay",
                ],
            ),
            (
                Want::When,
                &["when", "what time", "what hours", "hours", "open", "close"],
            ),
            (
                Want::Number,
                &["how many", "minimum", "maximum", "the most", "limit"],
            ),
        ],
        Lang::Es => &[
            (
                Want::Duration,
                &[
                    "cuánto tarda",
                    "cuanto tarda",
                    "cuánto tiempo",
                    "cuanto tiempo",
                    "cuántos días",
                    "cuantos dias",
                    "tarda",
                    "plazo",
                    "demora",
                ],
            ),
            (
                Want::Price,
                &[
                    "cuánto cuesta",
                    "cuanto cuesta",
                    "cuánto cobran",
                    "precio",
                    "costo",
                    "cuesta",
                    "cobran",
                    "tarifa",
                    "pagar",
                ],
            ),
            (
                Want::When,
                &[
                    "cuándo",
                    "cuando",
                    "horario",
                    "a qué hora",
                    "abren",
                    "cierran",
                ],
            ),
            (
                Want::Number,
                &[
                    "cuántos", "cuantos", "cuántas", "cuantas", "mínimo", "máximo", "cuánto",
                ],
            ),
        ],
        Lang::De => &[
            (Want::Duration, &["wie lange", "dauert"]),
            (
                Want::Price,
                &["wie viel", "wieviel", "preis", "kosten", "kostet"],
            ),
            (Want::When, &["wann", "öffnungszeiten"]),
        ],
        Lang::Fr => &[
            (Want::Duration, &["combien de temps", "délai"]),
            (Want::Price, &["combien", "prix", "coût", "coûte"]),
            (Want::When, &["quand", "horaires"]),
        ],
        Lang::Pt => &[
            (Want::Duration, &["quanto tempo", "prazo", "demora"]),
            (Want::Price, &["quanto custa", "preço", "custo"]),
            (Want::When, &["quando", "horário"]),
        ],
        Lang::It => &[
            (Want::Duration, &["quanto tempo", "tempi"]),
            (Want::Price, &["quanto costa", "prezzo", "costo"]),
            (Want::When, &["quando", "orari"]),
        ],
        Lang::Nl => &[
            (Want::Duration, &["hoe lang", "duurt"]),
            (Want::Price, &["hoeveel kost", "prijs", "kosten", "kost"]),
            (Want::When, &["wanneer", "openingstijden"]),
        ],
    }
}

fn wanted(lang: Lang, question: &str) -> Option<Want> {
    let question = question.to_lowercase();
    cues(lang)
        .iter()
        .find(|(_, cues)| cues.iter().any(|cue| has_words(&question, cue)))
        .map(|(want, _)| *want)
}

/// Words a price is given with, in the languages we answer in.
const PRICE_WORDS: &[&str] = &[
    "cost", "price", "fee", "charge", "costo", "precio", "cuesta", "tarifa", "kostet", "preis",
    "prix", "coûte", "custa", "preço", "costa", "prezzo", "kost", "prijs",
];

/// Words a time or a date is given with (besides digits), in English and Spanish.
const WHEN_WORDS: &[&str] = &[
    "am",
    "pm",
    "noon",
    "midnight",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "lunes",
    "martes",
    "miércoles",
    "jueves",
    "viernes",
    "sábado",
    "domingo",
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];

/// Words that name a span of time, in the languages we answer in.
const TIME_UNITS: &[&str] = &[
    "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks", "month", "months",
    "year", "years", "minuto", "minutos", "hora", "horas", "día", "días", "semana", "semanas",
    "mes", "meses", "año", "años", "stunde", "stunden", "tag", "tage", "tagen", "woche", "wochen",
    "heure", "heures", "jour", "jours", "semaine", "semaines", "mois", "an", "ans", "dia", "dias",
    "giorno", "giorni", "ora", "ore", "uur", "dag", "dagen", "week", "weken",
];

/// Whether a line is the kind of answer wanted: a price, a span of time, a date or hour, a
/// number.
fn fits(want: Want, line: &str) -> bool {
    let lower = line.to_lowercase();
    let has_digit = line.contains(|c: char| c.is_ascii_digit());
    match want {
        Want::Price => {
            line.contains(['$', '€', '£', '%'])
                || [
                    "free",
                    "gratis",
                    "gratuit",
                    "kostenlos",
                    "no cost",
                    "sin costo",
                ]
                .iter()
                .any(|word| has_words(&lower, word))
        }
        Want::Duration => TIME_UNITS.iter().any(|unit| has_words(&lower, unit)),
        Want::When => has_digit || WHEN_WORDS.iter().any(|word| has_words(&lower, word)),
        Want::Number => has_digit,
    }
}

/// The weight of the question's terms `terms` holds, and how many they are.
fn holds(question: &[(String, f32)], terms: &HashSet<String>) -> (f32, usize) {
    question
        .iter()
        .filter(|(term, _)| terms.contains(term))
        .fold((0.0, 0), |(weight, n), (_, w)| (weight + w, n + 1))
}

fn term_set(weights: &TermWeights<'_>, text: &str) -> HashSet<String> {
    analysis::terms(weights.analyzer, text)
        .into_iter()
        .collect()
}

/// White space collapsed to single spaces, for comparing quotes across line wraps.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A passage's lines: each sentence of its paragraphs, each list item and each table row, with
/// the heading above and the table header they belong to. Headings themselves are not lines.
fn lines(passage: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut heading: Option<String> = None;
    let mut header: Option<String> = None;
    let mut paragraph = String::new();
    let mut block = 0;
    let flush = |paragraph: &mut String, lines: &mut Vec<Line>, heading: &Option<String>, block| {
        for sentence in sentences(paragraph) {
            lines.push(Line {
                text: sentence,
                kind: Kind::Sentence,
                header: None,
                heading: heading.clone(),
                block,
            });
        }
        paragraph.clear();
    };
    let mut last_kind = None;
    for raw in passage.lines() {
        let line = raw.trim();
        let kind = if line.is_empty() {
            None
        } else if line.starts_with('#') {
            Some(Written::Heading)
        } else if line.starts_with('|') {
            Some(Written::Table)
        } else if is_list_item(line) {
            Some(Written::List)
        } else {
            Some(Written::Text)
        };
        if kind != last_kind || kind != Some(Written::Text) {
            flush(&mut paragraph, &mut lines, &heading, block);
        }
        if kind != last_kind {
            block += 1;
            if kind != Some(Written::Table) {
                header = None;
            }
        }
        last_kind = kind;
        match kind {
            None => {}
            Some(Written::Heading) => {
                heading = Some(line.trim_start_matches('#').trim().to_owned());
            }
            Some(Written::Table) => {
                let separator = line.chars().all(|c| "|-: ".contains(c));
                if separator {
                    continue;
                }
                if header.is_none() {
                    header = Some(line.to_owned());
                    continue;
                }
                lines.push(Line {
                    text: line.to_owned(),
                    kind: Kind::TableRow,
                    header: header.clone(),
                    heading: heading.clone(),
                    block,
                });
            }
            Some(Written::List) => lines.push(Line {
                text: line.to_owned(),
                kind: Kind::ListItem,
                header: None,
                heading: heading.clone(),
                block,
            }),
            Some(Written::Text) => {
                if !paragraph.is_empty() {
                    paragraph.push(' ');
                }
                paragraph.push_str(line);
            }
        }
    }
    flush(&mut paragraph, &mut lines, &heading, block);
    lines
}

/// What a line of a passage's text is, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Heading,
    Table,
    List,
    Text,
}

fn is_list_item(line: &str) -> bool {
    if line.starts_with("- ") || line.starts_with("* ") || line.starts_with("+ ") {
        return true;
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && (line[digits..].starts_with(". ") || line[digits..].starts_with(") "))
}

/// Words after which a full stop does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "etc", "mr", "mrs", "ms", "dr", "st", "vs", "approx", "nr", "z.b", "p.ej", "ej",
    "sr", "sra", "inc", "ltd",
];

/// A paragraph's sentences, each as written: a sentence ends at `.`, `!` or `?` followed by a
/// space and a capital letter, a digit, or an opening mark.
fn sentences(paragraph: &str) -> Vec<String> {
    let mut sentences = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = paragraph.char_indices().collect();
    for (i, &(at, c)) in chars.iter().enumerate() {
        if !matches!(c, '.' | '!' | '?') {
            continue;
        }
        // Closing quotes or brackets stay with their sentence.
        let mut end = i + 1;
        while end < chars.len() && matches!(chars[end].1, '"' | '\'' | ')' | '”' | '’' | '»') {
            end += 1;
        }
        let Some(&(_, space)) = chars.get(end) else {
            continue;
        };
        let next = chars.get(end + 1).map(|&(_, c)| c);
        let starts_sentence = next.is_some_and(|next| {
            next.is_uppercase() || next.is_ascii_digit() || "¿¡\"“«(*".contains(next)
        });
        if !space.is_whitespace() || !starts_sentence {
            continue;
        }
        let word = paragraph[start..at]
            .rsplit(|c: char| c.is_whitespace() || c == '(')
            .next()
            .unwrap_or("")
            .to_lowercase();
        // "e.g." ends no sentence, nor do initials followed by more ("EE. UU.", "U. S. A."):
        // "the US. Returns…" does.
        let is_initials = |token: &str| {
            let letters = token.trim_end_matches('.');
            (1..=2).contains(&letters.chars().count())
                && letters.chars().all(|c| c.is_uppercase() || c == '.')
        };
        let before = paragraph[start..at]
            .rsplit(char::is_whitespace)
            .next()
            .unwrap_or("");
        let after = paragraph[chars[end].0..]
            .split_whitespace()
            .next()
            .unwrap_or("");
        let initials = is_initials(before) && after.ends_with('.') && is_initials(after);
        if c == '.' && (ABBREVIATIONS.contains(&word.as_str()) || initials) {
            continue;
        }
        let byte_end = chars[end].0;
        sentences.push(paragraph[start..byte_end].trim().to_owned());
        start = byte_end;
    }
    let rest = paragraph[start..].trim();
    if !rest.is_empty() {
        sentences.push(rest.to_owned());
    }
    sentences
}

/// The chosen lines as Markdown: sentences run together, list items one per line, table rows
/// under their header.
fn render(lines: &[&Line]) -> String {
    let mut out = String::new();
    let mut previous: Option<(Kind, usize)> = None;
    for line in lines {
        let same_block =
            previous.is_some_and(|(kind, block)| kind == line.kind && block == line.block);
        match (previous, line.kind) {
            (None, _) => {}
            (Some((Kind::Sentence, _)), Kind::Sentence) => out.push(' '),
            _ if same_block => out.push('\n'),
            _ => out.push_str("\n\n"),
        }
        if line.kind == Kind::TableRow && !same_block {
            let header = line.header.as_deref().unwrap_or("");
            let columns = header.matches('|').count().saturating_sub(1).max(1);
            out.push_str(header);
            out.push('\n');
            out.push_str(&format!("|{}\n", "---|".repeat(columns)));
        }
        out.push_str(&line.text);
        previous = Some((line.kind, line.block));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_end_at_stops_but_not_at_abbreviations_or_numbers() {
        assert_eq!(
            sentences("Ships in 2.5 days, e.g. Monday. Returns are free! Ask us? \"Yes.\" Done"),
            vec![
                "Ships in 2.5 days, e.g. Monday.",
                "Returns are free!",
                "Ask us?",
                "\"Yes.\"",
                "Done"
            ]
        );
        assert_eq!(
            sentences("Plan B costs $9. 30 days free."),
            vec!["Plan B costs $9.", "30 days free."]
        );
        assert_eq!(
            sentences("Solo aplica en EE. UU. y Canadá. Nada más."),
            vec!["Solo aplica en EE. UU. y Canadá.", "Nada más."]
        );
        assert_eq!(
            sentences("We ship within the US. Returns are free. Say No. Then go."),
            vec![
                "We ship within the US.",
                "Returns are free.",
                "Say No.",
                "Then go."
            ]
        );
    }

    #[test]
    fn lists_and_tables_are_lines_of_their_own() {
        let passage = "# Rates\n\nWe ship to:\n- Canada\n- Mexico\n\n| Zone | Price |\n|---|---|\n| EU | $15 |\n| Asia | $25 |";
        let lines = lines(passage);
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "We ship to:",
                "- Canada",
                "- Mexico",
                "| EU | $15 |",
                "| Asia | $25 |"
            ]
        );
        assert_eq!(lines[3].header.as_deref(), Some("| Zone | Price |"));
        assert_eq!(lines[0].heading.as_deref(), Some("Rates"));
        assert_eq!(
            render(&[&lines[3], &lines[4]]),
            "| Zone | Price |\n|---|---|\n| EU | $15 |\n| Asia | $25 |"
        );
        assert_eq!(
            render(&[&lines[0], &lines[1], &lines[2]]),
            "We ship to:\n\n- Canada\n- Mexico"
        );
    }
}
