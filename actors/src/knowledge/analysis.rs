//! How text becomes search terms in each language: the analyzer (words, lower case, stop
//! words, accents folded, stems) and a small list of words visitors use for what help centers
//! call something else ("money back" for "refund").
//!
//! One analyzer serves a language's documents, its questions and the sentences an answer is
//! chosen from, so the three always agree on what a term is.

use std::sync::OnceLock;

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter,
    TextAnalyzer,
};

use crate::language::Lang;

/// NLTK's English stop words and the words every visitor question is made of. tantivy's own
/// list (Lucene's) keeps "you", "your", "what", "how", "do"… and they would match every
/// document.
const ENGLISH_STOP_WORDS: &[&str] = &[
    "i",
    "me",
    "my",
    "myself",
    "we",
    "our",
    "ours",
    "ourselves",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "he",
    "him",
    "his",
    "himself",
    "she",
    "her",
    "hers",
    "herself",
    "it",
    "its",
    "itself",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "what",
    "which",
    "who",
    "whom",
    "this",
    "that",
    "these",
    "those",
    "am",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "do",
    "does",
    "did",
    "doing",
    "a",
    "an",
    "the",
    "and",
    "but",
    "if",
    "or",
    "because",
    "as",
    "until",
    "while",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "against",
    "between",
    "into",
    "through",
    "during",
    "before",
    "after",
    "above",
    "below",
    "to",
    "from",
    "up",
    "down",
    "in",
    "out",
    "on",
    "off",
    "over",
    "under",
    "again",
    "further",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "s",
    "t",
    "can",
    "will",
    "just",
    "don",
    "should",
    "now",
    "d",
    "ll",
    "m",
    "o",
    "re",
    "ve",
    "y",
    "could",
    "would",
    "please",
    "hi",
    "hello",
    "thanks",
    "tell",
    "know",
    "want",
    "need",
    "get",
    "also",
    "im",
    "ive",
    "id",
    "hey",
    "ok",
    "okay",
    "guys",
    "still",
    "got",
    "much",
    "many",
    "long",
    "isn",
    "aren",
    "wasn",
    "weren",
    "hasn",
    "haven",
    "hadn",
    "doesn",
    "didn",
    "won",
    "wouldn",
    "couldn",
    "shouldn",
    "mustn",
];

/// Question words the other languages' (Snowball) lists keep.
fn extra_stop_words(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::En => &[],
        Lang::Es => &[
            "qué", "cómo", "cuánto", "cuánta", "cuántos", "cuántas", "cuándo", "dónde", "puedo",
            "puede", "pueden", "hola", "gracias", "quiero", "necesito", "saber", "hay", "hacer",
            "tengo", "mi", "mis", "favor",
        ],
        Lang::De => &[
            "wie", "was", "wann", "wo", "kann", "können", "ich", "hallo", "danke", "bitte", "gibt",
            "möchte",
        ],
        Lang::Fr => &[
            "comment", "quoi", "quand", "où", "combien", "puis", "peux", "bonjour", "merci", "est",
            "quel", "quelle", "faire",
        ],
        Lang::Pt => &[
            "como", "quanto", "quando", "onde", "posso", "pode", "olá", "obrigado", "quero",
            "preciso", "fazer",
        ],
        Lang::It => &[
            "come", "quanto", "quando", "dove", "posso", "può", "ciao", "grazie", "voglio", "fare",
        ],
        Lang::Nl => &[
            "hoe", "wat", "wanneer", "waar", "kan", "ik", "hallo", "bedankt", "wil",
        ],
    }
}

/// Groups of words a visitor may use for one another; a question's word brings in the rest of
/// its group (at a lower weight). Matched on the word's stem.
fn synonym_groups(lang: Lang) -> &'static [&'static [&'static str]] {
    match lang {
        Lang::En => &[
            &["refund", "money", "reimburse", "reimbursement"],
            &["return", "send back", "exchange"],
            &[
                "cost",
                "price",
                "pricing",
                "fee",
                "charge",
                "pay",
                "expensive",
                "cheap",
            ],
            &[
                "ship", "shipping", "delivery", "deliver", "arrive", "shipped", "dispatch",
            ],
            &["cancel", "cancellation", "unsubscribe"],
            &["account", "profile", "login", "sign"],
            &["password", "login", "locked"],
            &["damaged", "broken", "defective", "wrong", "faulty"],
            &["plan", "subscription", "tier", "membership"],
            &["discount", "coupon", "promo", "code", "voucher"],
            &[
                "international",
                "abroad",
                "overseas",
                "worldwide",
                "country",
                "countries",
            ],
            &["size", "fit", "sizing"],
            &["warranty", "guarantee"],
            &["week", "weeks", "day", "days", "month"],
            &["contact", "email", "support", "reach"],
            &["order", "purchase", "bought", "buy"],
            &["exchange", "swap", "switch"],
            &["2fa", "two-factor", "mfa", "authentication"],
            &["wash", "washing", "clean", "cleaning", "care"],
            &["cheaper", "lower", "less", "price match"],
            &["installments", "pay later", "klarna", "afterpay", "affirm"],
            &["charged", "charge", "billed", "bill"],
            &["hours", "open", "opening", "available"],
        ],
        Lang::Es => &[
            &[
                "envío", "envio", "entrega", "enviar", "llegar", "llega", "envían",
            ],
            &["devolución", "devolver", "reembolso", "cambio", "cambiar"],
            &[
                "precio", "costo", "coste", "cuesta", "tarifa", "pagar", "cobran",
            ],
            &["cancelar", "anular", "baja"],
            &["cuenta", "perfil", "contraseña"],
            &["talla", "tamaño", "medida", "tallas"],
            &["garantía", "garantia"],
            &["semana", "semanas", "día", "días"],
            &["pedido", "compra", "compré", "orden"],
            &["reembolso", "dinero", "regresan", "regresar", "devuelven"],
            &["alquilar", "alquiler", "rentar", "renta"],
            &["regalo", "regalar", "regalarle"],
            &["horario", "abierto", "abren", "atención"],
        ],
        _ => &[],
    }
}

/// The analyzer of `lang`: its documents, questions and answer sentences all go through it.
pub fn analyzer(lang: Lang) -> TextAnalyzer {
    let stop_words = match lang {
        Lang::En => StopWordFilter::remove(ENGLISH_STOP_WORDS.iter().map(|w| w.to_string())),
        other => StopWordFilter::new(other.stemmer()).expect("tantivy lists stop words for all"),
    };
    // Visitors often leave accents out: folded on both sides, "envio" meets "envío". Stop words
    // are dropped before folding (the lists are accented) and again after, unaccented.
    let unaccented = extra_stop_words(lang).iter().map(|word| fold(word));
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(stop_words)
        .filter(AsciiFoldingFilter)
        .filter(StopWordFilter::remove(unaccented))
        .filter(Stemmer::new(lang.stemmer()))
        .build()
}

/// How many of `text`'s words are `lang`'s function words ("the", "how", "el", "cómo"…):
/// short questions tell their language by these better than by letter patterns.
pub fn function_words(lang: Lang, text: &str) -> usize {
    static ANALYZERS: OnceLock<Vec<(Lang, TextAnalyzer)>> = OnceLock::new();
    let analyzers = ANALYZERS.get_or_init(|| Lang::ALL.iter().map(|&l| (l, analyzer(l))).collect());
    let Some((_, analyzer)) = analyzers.iter().find(|(l, _)| *l == lang) else {
        return 0;
    };
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| word.chars().any(char::is_alphabetic))
        .filter(|word| terms(analyzer, word).is_empty())
        .count()
}

/// The terms `text` is made of in `lang`, in order, repeats kept.
pub fn terms(analyzer: &TextAnalyzer, text: &str) -> Vec<String> {
    let mut analyzer = analyzer.clone();
    let mut stream = analyzer.token_stream(text);
    let mut terms = Vec::new();
    while stream.advance() {
        terms.push(stream.token().text.clone());
    }
    terms
}

/// A question's terms and the terms its words' synonyms bring, each once: `(term, is_synonym)`.
pub fn question_terms(analyzer: &TextAnalyzer, lang: Lang, question: &str) -> Vec<(String, bool)> {
    let mut own: Vec<String> = Vec::new();
    for term in terms(analyzer, question) {
        // A lone letter ("e-gift", "plan b") says nothing; a lone digit may ("5 weeks").
        let lone_letter = term.chars().count() == 1 && term.chars().all(char::is_alphabetic);
        if !lone_letter && !own.contains(&term) {
            own.push(term);
        }
    }
    let mut all: Vec<(String, bool)> = own.iter().map(|term| (term.clone(), false)).collect();
    for group in synonym_groups(lang) {
        let stems: Vec<Vec<String>> = group.iter().map(|word| terms(analyzer, word)).collect();
        if !stems.iter().flatten().any(|stem| own.contains(stem)) {
            continue;
        }
        for stem in stems.into_iter().flatten() {
            if !all.iter().any(|(term, _)| *term == stem) {
                all.push((stem, true));
            }
        }
    }
    all
}

fn fold(word: &str) -> String {
    let mut analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build();
    let mut stream = analyzer.token_stream(word);
    let mut folded = String::new();
    while stream.advance() {
        folded.push_str(&stream.token().text);
    }
    folded
}
