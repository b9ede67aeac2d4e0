//! The languages answers are given in: which ones exist, how a text's language is told
//! (whatlang), and the words the assistant says itself in each (no-match answers, intent
//! replies, "Read more").
//!
//! Plain data and pure functions; which language a question is searched and answered in is
//! decided from here by the session, and the knowledge index keeps one analyzer per language.

use serde::{Deserialize, Serialize};

use crate::knowledge::analysis;

/// A language the assistant can search and answer in.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Es,
    De,
    Fr,
    Pt,
    It,
    Nl,
}

impl Lang {
    pub const ALL: [Lang; 7] = [
        Lang::En,
        Lang::Es,
        Lang::De,
        Lang::Fr,
        Lang::Pt,
        Lang::It,
        Lang::Nl,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
            Lang::De => "de",
            Lang::Fr => "fr",
            Lang::Pt => "pt",
            Lang::It => "it",
            Lang::Nl => "nl",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        Lang::ALL
            .into_iter()
            .find(|lang| lang.code().eq_ignore_ascii_case(code))
    }

    /// Its English name, as a model is told to answer in it.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Es => "Spanish",
            Lang::De => "German",
            Lang::Fr => "French",
            Lang::Pt => "Portuguese",
            Lang::It => "Italian",
            Lang::Nl => "Dutch",
        }
    }

    pub fn stemmer(self) -> tantivy::tokenizer::Language {
        use tantivy::tokenizer::Language;
        match self {
            Lang::En => Language::English,
            Lang::Es => Language::Spanish,
            Lang::De => Language::German,
            Lang::Fr => Language::French,
            Lang::Pt => Language::Portuguese,
            Lang::It => Language::Italian,
            Lang::Nl => Language::Dutch,
        }
    }

    fn whatlang(self) -> whatlang::Lang {
        match self {
            Lang::En => whatlang::Lang::Eng,
            Lang::Es => whatlang::Lang::Spa,
            Lang::De => whatlang::Lang::Deu,
            Lang::Fr => whatlang::Lang::Fra,
            Lang::Pt => whatlang::Lang::Por,
            Lang::It => whatlang::Lang::Ita,
            Lang::Nl => whatlang::Lang::Nld,
        }
    }

    fn of_whatlang(lang: whatlang::Lang) -> Option<Lang> {
        Lang::ALL.into_iter().find(|ours| ours.whatlang() == lang)
    }

    /// What the assistant says in this language.
    pub fn phrases(self) -> &'static Phrases {
        match self {
            Lang::En => &EN,
            Lang::Es => &ES,
            Lang::De => &DE,
            Lang::Fr => &FR,
            Lang::Pt => &PT,
            Lang::It => &IT,
            Lang::Nl => &NL,
        }
    }
}

/// The language `text` is most likely in, among `among`; `None` when it has no letters to tell
/// by. With one candidate, that one.
pub fn detect(text: &str, among: &[Lang]) -> Option<Detected> {
    match among {
        [] => None,
        [only] => Some(Detected {
            lang: *only,
            reliable: true,
        }),
        _ => {
            let detector = whatlang::Detector::with_allowlist(
                among.iter().map(|lang| lang.whatlang()).collect(),
            );
            let info = detector.detect(text)?;
            Some(Detected {
                lang: Lang::of_whatlang(info.lang())?,
                reliable: info.is_reliable(),
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detected {
    pub lang: Lang,
    /// whatlang is sure; short texts seldom are.
    pub reliable: bool,
}

/// The language a visitor wrote `question` in, for a project answering in `languages` (the
/// first is its main one). A question whatlang is sure of is taken at its word. A short one
/// (whatlang seldom is sure) is told by its function words ("how", "the", "cómo", "el"): the
/// language with clearly the most of them, else the project's main language.
pub fn of_question(question: &str, languages: &[Lang]) -> Lang {
    let main = languages.first().copied().unwrap_or(Lang::En);
    if let Some(Detected {
        lang,
        reliable: true,
    }) = detect(question, &Lang::ALL)
    {
        return lang;
    }
    let mut counts: Vec<(usize, Lang)> = Lang::ALL
        .iter()
        .map(|&lang| (analysis::function_words(lang, question), lang))
        .collect();
    // Most function words first; on a tie, the project's own languages, its main one first.
    let rank = |lang: Lang| {
        languages
            .iter()
            .position(|l| *l == lang)
            .unwrap_or(usize::MAX)
    };
    counts.sort_by_key(|&(count, lang)| (std::cmp::Reverse(count), rank(lang)));
    match counts.as_slice() {
        [(best, lang), (next, _), ..] if *best > *next => *lang,
        [(best, lang), ..] if *best > 0 && languages.contains(lang) => *lang,
        _ => main,
    }
}

/// The assistant's own words in one language.
#[derive(Debug)]
pub struct Phrases {
    /// The knowledge base has nothing on the question.
    pub not_found: &'static str,
    /// Before the source an extractive answer came from.
    pub read_more: &'static str,
    pub greeting: &'static str,
    pub thanks: &'static str,
    pub goodbye: &'static str,
    /// The visitor asked for a person: the contact form opens below this.
    pub human: &'static str,
}

const EN: Phrases = Phrases {
    not_found: "Sorry, I couldn't find that in our help center. Would you like to talk to a \
        human? Leave your email and our team will get back to you.",
    read_more: "Read more",
    greeting: "Hi! How can I help you today?",
    thanks: "You're welcome! Is there anything else I can help with?",
    goodbye: "Goodbye, and thanks for stopping by!",
    human: "Of course. Leave your email below and a person from our team will get back to you.",
};

const ES: Phrases = Phrases {
    not_found: "Lo siento, no encontré eso en nuestro centro de ayuda. ¿Quieres hablar con una \
        persona? Déjanos tu correo y nuestro equipo te responderá.",
    read_more: "Más información",
    greeting: "¡Hola! ¿En qué puedo ayudarte hoy?",
    thanks: "¡De nada! ¿Puedo ayudarte con algo más?",
    goodbye: "¡Adiós, y gracias por tu visita!",
    human: "Claro. Déjanos tu correo abajo y una persona de nuestro equipo te responderá.",
};

const DE: Phrases = Phrases {
    not_found: "Das habe ich in unserem Hilfe-Center leider nicht gefunden. Möchten Sie mit \
        einem Menschen sprechen? Hinterlassen Sie Ihre E-Mail-Adresse, und unser Team meldet \
        sich bei Ihnen.",
    read_more: "Mehr dazu",
    greeting: "Hallo! Wie kann ich Ihnen heute helfen?",
    thanks: "Gern geschehen! Kann ich sonst noch helfen?",
    goodbye: "Auf Wiedersehen und danke für Ihren Besuch!",
    human: "Gern. Hinterlassen Sie unten Ihre E-Mail-Adresse, und jemand aus unserem Team \
        meldet sich bei Ihnen.",
};

const FR: Phrases = Phrases {
    not_found: "Désolé, je n'ai pas trouvé cela dans notre centre d'aide. Voulez-vous parler à \
        une personne ? Laissez votre e-mail et notre équipe vous répondra.",
    read_more: "En savoir plus",
    greeting: "Bonjour ! Comment puis-je vous aider aujourd'hui ?",
    thanks: "Avec plaisir ! Puis-je vous aider pour autre chose ?",
    goodbye: "Au revoir, et merci de votre visite !",
    human: "Bien sûr. Laissez votre e-mail ci-dessous et une personne de notre équipe vous \
        répondra.",
};

const PT: Phrases = Phrases {
    not_found: "Desculpe, não encontrei isso na nossa central de ajuda. Quer falar com uma \
        pessoa? Deixe seu e-mail e nossa equipe vai responder.",
    read_more: "Saiba mais",
    greeting: "Olá! Como posso ajudar hoje?",
    thanks: "De nada! Posso ajudar com mais alguma coisa?",
    goodbye: "Tchau, e obrigado pela visita!",
    human: "Claro. Deixe seu e-mail abaixo e uma pessoa da nossa equipe vai responder.",
};

const IT: Phrases = Phrases {
    not_found: "Mi dispiace, non ho trovato questo nel nostro centro assistenza. Vuoi parlare \
        con una persona? Lascia la tua email e il nostro team ti risponderà.",
    read_more: "Per saperne di più",
    greeting: "Ciao! Come posso aiutarti oggi?",
    thanks: "Prego! Posso aiutarti con qualcos'altro?",
    goodbye: "Arrivederci, e grazie della visita!",
    human: "Certo. Lascia qui sotto la tua email e una persona del nostro team ti risponderà.",
};

const NL: Phrases = Phrases {
    not_found: "Sorry, dat kon ik niet vinden in ons helpcentrum. Wil je met een mens praten? \
        Laat je e-mailadres achter en ons team neemt contact met je op.",
    read_more: "Lees meer",
    greeting: "Hallo! Waarmee kan ik je vandaag helpen?",
    thanks: "Graag gedaan! Kan ik je nog ergens anders mee helpen?",
    goodbye: "Tot ziens, en bedankt voor je bezoek!",
    human: "Natuurlijk. Laat hieronder je e-mailadres achter en iemand van ons team neemt \
        contact met je op.",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for lang in Lang::ALL {
            assert_eq!(Lang::from_code(lang.code()), Some(lang));
        }
        assert_eq!(Lang::from_code("ES"), Some(Lang::Es));
        assert_eq!(Lang::from_code("xx"), None);
    }

    #[test]
    fn a_clear_question_is_read_in_its_language_and_an_unclear_one_in_the_projects() {
        let english = [Lang::En];
        assert_eq!(
            of_question("¿Cuánto tarda el envío a Madrid?", &english),
            Lang::Es
        );
        assert_eq!(
            of_question("Wie lange dauert der Versand nach Berlin?", &english),
            Lang::De
        );
        assert_eq!(
            of_question("How long does shipping to Boston take?", &english),
            Lang::En
        );
        // Too short to tell: the project's language.
        assert_eq!(of_question("pricing?", &english), Lang::En);
        assert_eq!(of_question("envío?", &[Lang::Es, Lang::En]), Lang::Es);
    }
}
