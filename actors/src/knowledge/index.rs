//! The in-memory BM25 index of one project's passages, with a title and a body field per
//! language: each document is indexed in its own language (told by whatlang among the
//! project's languages) and searched with that language's analyzer.

use std::collections::{HashMap, HashSet};

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, Searcher, TantivyDocument, Term};

use super::analysis;
use super::{Document, Passage};
use crate::language::{self, Lang};

/// A passage scoring below this share of the best one is not relevant enough to show.
const RELATIVE_SCORE_FLOOR: f32 = 0.35;
/// A title word says more about a passage than a body word.
const TITLE_BOOST: f32 = 2.0;
/// A synonym the visitor did not write counts for less than their own words.
pub(super) const SYNONYM_WEIGHT: f32 = 0.5;

pub struct KnowledgeIndex {
    reader: IndexReader,
    /// Curated answers, matched by their question before any search.
    curated: Vec<Curated>,
    languages: Vec<Lang>,
    by_lang: HashMap<Lang, LangFields>,
    document: Field,
    url: Field,
    n_passages: usize,
}

impl std::fmt::Debug for KnowledgeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeIndex")
            .field("languages", &self.languages)
            .field("n_passages", &self.n_passages)
            .finish()
    }
}

/// A curated answer, ready to be matched.
struct Curated {
    document_id: String,
    lang: Lang,
    /// Its question's terms.
    terms: Vec<String>,
    answer: String,
}

/// One language's part of the index.
struct LangFields {
    title: Field,
    body: Field,
    analyzer: TextAnalyzer,
    /// Every term of its passages and curated questions: what a misspelt word is matched to.
    vocabulary: Vocabulary,
}

impl KnowledgeIndex {
    /// Indexes `documents` for a project answering in `languages` (the first is its main one;
    /// empty reads as English).
    pub fn build(
        documents: &[Document],
        languages_given: &[Lang],
    ) -> Result<KnowledgeIndex, tantivy::TantivyError> {
        // Each language once (a field per language), English when none.
        let mut languages: Vec<Lang> = Vec::new();
        for &lang in languages_given {
            if !languages.contains(&lang) {
                languages.push(lang);
            }
        }
        if languages.is_empty() {
            languages.push(Lang::En);
        }
        let mut schema = Schema::builder();
        let mut fields = Vec::new();
        for &lang in &languages {
            let indexed = TextOptions::default()
                .set_indexing_options(
                    TextFieldIndexing::default()
                        .set_tokenizer(&analyzer_name(lang))
                        .set_index_option(IndexRecordOption::WithFreqsAndPositions),
                )
                .set_stored();
            let title = schema.add_text_field(&format!("title_{}", lang.code()), indexed.clone());
            let body = schema.add_text_field(&format!("body_{}", lang.code()), indexed);
            fields.push((lang, title, body));
        }
        let document = schema.add_text_field("document", STORED);
        let url = schema.add_text_field("url", STORED);
        let index = Index::create_in_ram(schema.build());
        let mut by_lang = HashMap::new();
        for (lang, title, body) in fields {
            let analyzer = analysis::analyzer(lang);
            index
                .tokenizers()
                .register(&analyzer_name(lang), analyzer.clone());
            by_lang.insert(
                lang,
                LangFields {
                    title,
                    body,
                    analyzer,
                    vocabulary: Vocabulary::default(),
                },
            );
        }

        // The smallest budget tantivy allows; a project's help center is small.
        let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, 15_000_000)?;
        let mut n_passages = 0;
        let mut curated = Vec::new();
        for doc in documents {
            let whole = doc.passages.join("\n\n");
            let lang = language::detect(&whole, &languages).map_or(languages[0], |d| d.lang);
            if let Some(question) = &doc.question {
                curated.push(Curated {
                    document_id: doc.id.clone(),
                    lang,
                    terms: analysis::terms(&by_lang[&lang].analyzer, question),
                    answer: whole.clone(),
                });
            }
            let fields = &by_lang[&lang];
            n_passages += doc.passages.len();
            for passage in &doc.passages {
                let mut entry = TantivyDocument::default();
                entry.add_text(fields.title, &doc.title);
                entry.add_text(fields.body, passage);
                entry.add_text(document, &doc.id);
                entry.add_text(url, doc.url.as_deref().unwrap_or(""));
                writer.add_document(entry)?;
            }
        }
        writer.commit()?;
        let reader = index.reader()?;
        let searcher = reader.searcher();
        for (lang, fields) in by_lang.iter_mut() {
            let curated_terms = curated
                .iter()
                .filter(|curated| curated.lang == *lang)
                .flat_map(|curated| curated.terms.iter().cloned());
            fields.vocabulary = Vocabulary::of(&searcher, fields.body, curated_terms)?;
        }
        Ok(KnowledgeIndex {
            reader,
            curated,
            languages,
            by_lang,
            document,
            url,
            n_passages,
        })
    }

    /// The languages the project answers in, its main one first.
    pub fn languages(&self) -> &[Lang] {
        &self.languages
    }

    /// The best passages in `lang` for `question`, best first; empty when nothing relevant
    /// matches or the project has no documents in `lang`.
    pub fn search(&self, question: &str, lang: Lang, limit: usize) -> Vec<Passage> {
        let Some(fields) = self.by_lang.get(&lang) else {
            return Vec::new();
        };
        // The question's content words only, as terms (no query syntax): a question of stop
        // words alone matches nothing.
        let terms = self.question_terms(lang, question);
        if !terms.iter().any(|(_, synonym)| !synonym) {
            return Vec::new();
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (term, synonym) in &terms {
            let weight = if *synonym { SYNONYM_WEIGHT } else { 1.0 };
            for (field, boost) in [(fields.title, TITLE_BOOST), (fields.body, 1.0)] {
                let query = TermQuery::new(
                    Term::from_field_text(field, term),
                    IndexRecordOption::WithFreqs,
                );
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(query), boost * weight)),
                ));
            }
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let Ok(hits) = searcher.search(&query, &TopDocs::with_limit(limit).order_by_score()) else {
            return Vec::new();
        };
        let best = hits.first().map(|(score, _)| *score).unwrap_or(0.0);
        hits.into_iter()
            .filter(|(score, _)| *score > 0.0 && *score >= best * RELATIVE_SCORE_FLOOR)
            .filter_map(|(score, address)| {
                let stored: TantivyDocument = searcher.doc(address).ok()?;
                let text_of = |field| {
                    stored
                        .get_first(field)
                        .and_then(|value| value.as_str())
                        .unwrap_or("")
                        .to_owned()
                };
                let url = text_of(self.url);
                Some(Passage {
                    document_id: text_of(self.document),
                    title: text_of(fields.title),
                    url: (!url.is_empty()).then_some(url),
                    text: text_of(fields.body),
                    score,
                    lang,
                })
            })
            .collect()
    }

    /// `question`'s terms in `lang` with its words' synonyms (`(term, is_synonym)`), each
    /// misspelt word that no passage has read as the closest word one has.
    pub(super) fn question_terms(&self, lang: Lang, question: &str) -> Vec<(String, bool)> {
        let Some(fields) = self.by_lang.get(&lang) else {
            return Vec::new();
        };
        // A long message of made-up words costs at most MAX_CORRECTIONS searches.
        let mut corrections = 0;
        let corrected: Vec<String> = question
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|word| !word.is_empty())
            .map(|word| {
                let terms = analysis::terms(&fields.analyzer, word);
                match terms.as_slice() {
                    [term]
                        if corrections < MAX_CORRECTIONS
                            && !fields.vocabulary.known.contains(term) =>
                    {
                        corrections += 1;
                        fields.vocabulary.closest(term).unwrap_or(word).to_owned()
                    }
                    _ => word.to_owned(),
                }
            })
            .collect();
        analysis::question_terms(&fields.analyzer, lang, &corrected.join(" "))
    }

    /// The curated answer whose question is closest to `question` (in `lang`), as a passage,
    /// when it is close enough: most of the visitor's words (or their synonyms) are in it, and
    /// most of its words are in the visitor's question.
    pub fn curated_answer(&self, question: &str, lang: Lang) -> Option<Passage> {
        let weights = self.scorer(lang)?;
        let asked = self.question_terms(lang, question);
        let own_weight: f32 = asked
            .iter()
            .filter(|(_, synonym)| !synonym)
            .map(|(term, _)| weights.weight(term))
            .sum();
        if own_weight <= 0.0 {
            return None;
        }
        let closeness = |curated: &Curated| {
            let held: f32 = asked
                .iter()
                .filter(|(term, _)| curated.terms.contains(term))
                .map(|(term, synonym)| {
                    weights.weight(term) * if *synonym { SYNONYM_WEIGHT } else { 1.0 }
                })
                .sum();
            // Its words weighed too: "ship to Mexico for free?" is not "ship to Canada for free?".
            let theirs: f32 = curated.terms.iter().map(|term| weights.weight(term)).sum();
            let found: f32 = curated
                .terms
                .iter()
                .filter(|term| asked.iter().any(|(asked, _)| asked == *term))
                .map(|term| weights.weight(term))
                .sum();
            (held / own_weight).min(found / theirs.max(f32::EPSILON))
        };
        self.curated
            .iter()
            .filter(|curated| curated.lang == lang)
            .map(|curated| (closeness(curated), curated))
            .filter(|(closeness, _)| *closeness >= CURATED_CLOSENESS)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(closeness, curated)| Passage {
                document_id: curated.document_id.clone(),
                title: super::FAQ_TITLE.to_owned(),
                url: None,
                text: curated.answer.clone(),
                score: closeness,
                lang,
            })
    }

    /// `lang`'s analyzer and how rare each term is there, for choosing sentences.
    pub(super) fn scorer(&self, lang: Lang) -> Option<TermWeights<'_>> {
        let fields = self.by_lang.get(&lang)?;
        Some(TermWeights {
            analyzer: &fields.analyzer,
            searcher: self.reader.searcher(),
            body: fields.body,
        })
    }
}

/// A language's analyzer and its terms' inverse document frequencies.
pub(super) struct TermWeights<'a> {
    pub analyzer: &'a TextAnalyzer,
    searcher: Searcher,
    body: Field,
}

impl TermWeights<'_> {
    /// How much finding an analyzed term says: BM25's inverse document frequency among the
    /// passages. A term no passage has counts half as much as one only one passage has: a
    /// visitor's incidental words ("my husband") must not sink a question the help center
    /// answers, but a subject it never mentions ("QuickBooks") still weighs.
    pub fn weight(&self, term: &str) -> f32 {
        let n = self.searcher.num_docs() as f32;
        let df = self
            .searcher
            .doc_freq(&Term::from_field_text(self.body, term))
            .unwrap_or(0);
        let idf = |df: f32| (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
        if df == 0 {
            idf(1.0) * ABSENT_WEIGHT
        } else {
            idf(df as f32)
        }
    }
}

/// Misspelt words corrected in one question, at most.
const MAX_CORRECTIONS: usize = 8;

/// The terms a language's passages and curated questions are made of.
#[derive(Default)]
struct Vocabulary {
    known: HashSet<String>,
    /// The same terms with their character counts, most frequent first.
    by_frequency: Vec<(String, usize)>,
}

impl Vocabulary {
    fn of(
        searcher: &Searcher,
        field: Field,
        extra: impl Iterator<Item = String>,
    ) -> tantivy::Result<Vocabulary> {
        let mut counted: HashMap<String, u32> = HashMap::new();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(field)?;
            let mut terms = inverted.terms().stream()?;
            while terms.advance() {
                if let Ok(term) = std::str::from_utf8(terms.key()) {
                    *counted.entry(term.to_owned()).or_default() += terms.value().doc_freq;
                }
            }
        }
        for term in extra {
            *counted.entry(term).or_default() += 1;
        }
        let mut by_frequency: Vec<(String, u32)> = counted.into_iter().collect();
        by_frequency.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(Vocabulary {
            known: by_frequency.iter().map(|(term, _)| term.clone()).collect(),
            by_frequency: by_frequency
                .into_iter()
                .map(|(term, _)| {
                    let n_chars = term.chars().count();
                    (term, n_chars)
                })
                .collect(),
        })
    }

    /// The most frequent known term one typo away from `term` (two for long words): a letter
    /// missing, extra, changed, or two swapped. Words of three letters or fewer and numbers are
    /// left alone. (Leaving four-letter words alone too answers 1.5 points more questions from the
    /// right source but lets one more out-of-scope question through: `benches/answers.rs`.)
    fn closest(&self, term: &str) -> Option<&str> {
        let n_chars = term.chars().count();
        if n_chars < 4 || term.chars().any(|c| c.is_ascii_digit()) {
            return None;
        }
        let allowed = if n_chars >= 8 { 2 } else { 1 };
        self.by_frequency
            .iter()
            .find(|(known, known_chars)| {
                known_chars.abs_diff(n_chars) <= allowed
                    && strsim::damerau_levenshtein(known, term) <= allowed
            })
            .map(|(known, _)| known.as_str())
    }
}

/// How close a question must be to a curated answer's for it to be given: the smaller of the
/// share of the visitor's words it holds and the share of its words the visitor used, each
/// weighed by how rare the word is.
const CURATED_CLOSENESS: f32 = 0.6;

/// See [`TermWeights::weight`].
const ABSENT_WEIGHT: f32 = 0.5;

fn analyzer_name(lang: Lang) -> String {
    format!("helpyap_{}", lang.code())
}
