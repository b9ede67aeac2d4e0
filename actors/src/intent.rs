//! What a visitor's message is for when it is not a question for the knowledge base: a
//! greeting, thanks, a goodbye, or asking for a person. Told from word lists in every
//! supported language, the same with or without a model.
//!
//! Pure functions; the session decides what to answer, and the widget opens the contact form.

use serde::{Deserialize, Serialize};

use crate::language::Lang;
use crate::text::has_words;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Intent {
    Greeting,
    Thanks,
    Goodbye,
    /// A person, an agent, a phone number: the contact form opens.
    Human,
}

impl Intent {
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Greeting => "greeting",
            Intent::Thanks => "thanks",
            Intent::Goodbye => "goodbye",
            Intent::Human => "human",
        }
    }

    /// The assistant's short reply to it.
    pub fn reply(self, lang: Lang) -> &'static str {
        let phrases = lang.phrases();
        match self {
            Intent::Greeting => phrases.greeting,
            Intent::Thanks => phrases.thanks,
            Intent::Goodbye => phrases.goodbye,
            Intent::Human => phrases.human,
        }
    }
}

/// Small talk: phrases that make a message small talk when nothing but them (and filler) is in
/// it, so "hi, how do returns work?" is still a question.
const SMALL_TALK: &[(Lang, Intent, &[&str])] = &[
    (
        Lang::En,
        Intent::Greeting,
        &[
            "hi",
            "hello",
            "hey",
            "hiya",
            "howdy",
            "yo",
            "good morning",
            "good afternoon",
            "good evening",
            "greetings",
        ],
    ),
    (
        Lang::En,
        Intent::Thanks,
        &[
            "thanks",
            "thank you",
            "thx",
            "ty",
            "cheers",
            "thank u",
            "many thanks",
            "appreciate it",
        ],
    ),
    (
        Lang::En,
        Intent::Goodbye,
        &[
            "bye",
            "goodbye",
            "good bye",
            "see you",
            "see ya",
            "bye bye",
            "have a nice day",
            "later",
        ],
    ),
    (
        Lang::Es,
        Intent::Greeting,
        &[
            "hola",
            "buenos días",
            "buenos dias",
            "buenas tardes",
            "buenas noches",
            "buenas",
        ],
    ),
    (
        Lang::Es,
        Intent::Thanks,
        &["gracias", "muchas gracias", "mil gracias"],
    ),
    (
        Lang::Es,
        Intent::Goodbye,
        &[
            "adiós",
            "adios",
            "hasta luego",
            "hasta pronto",
            "chao",
            "nos vemos",
        ],
    ),
    (
        Lang::De,
        Intent::Greeting,
        &[
            "hallo",
            "guten tag",
            "guten morgen",
            "guten abend",
            "servus",
            "moin",
            "grüß gott",
        ],
    ),
    (
        Lang::De,
        Intent::Thanks,
        &[
            "danke",
            "vielen dank",
            "danke schön",
            "dankeschön",
            "besten dank",
        ],
    ),
    (
        Lang::De,
        Intent::Goodbye,
        &["tschüss", "tschüs", "auf wiedersehen", "bis bald"],
    ),
    (
        Lang::Fr,
        Intent::Greeting,
        &["bonjour", "bonsoir", "salut", "coucou"],
    ),
    (
        Lang::Fr,
        Intent::Thanks,
        &["merci", "merci beaucoup", "merci bien"],
    ),
    (
        Lang::Fr,
        Intent::Goodbye,
        &["au revoir", "à bientôt", "bonne journée", "à plus"],
    ),
    (
        Lang::Pt,
        Intent::Greeting,
        &["olá", "ola", "oi", "bom dia", "boa tarde", "boa noite"],
    ),
    (
        Lang::Pt,
        Intent::Thanks,
        &[
            "obrigado",
            "obrigada",
            "muito obrigado",
            "muito obrigada",
            "valeu",
        ],
    ),
    (
        Lang::Pt,
        Intent::Goodbye,
        &["tchau", "até logo", "até mais", "adeus"],
    ),
    (
        Lang::It,
        Intent::Greeting,
        &["ciao", "buongiorno", "buonasera", "salve"],
    ),
    (
        Lang::It,
        Intent::Thanks,
        &["grazie", "grazie mille", "molte grazie"],
    ),
    (
        Lang::It,
        Intent::Goodbye,
        &["arrivederci", "a presto", "buona giornata"],
    ),
    (
        Lang::Nl,
        Intent::Greeting,
        &[
            "hoi",
            "hallo",
            "goedemorgen",
            "goedemiddag",
            "goedenavond",
            "dag",
        ],
    ),
    (
        Lang::Nl,
        Intent::Thanks,
        &["bedankt", "dank je", "dank je wel", "dank u", "dank u wel"],
    ),
    (
        Lang::Nl,
        Intent::Goodbye,
        &["doei", "tot ziens", "fijne dag", "tot later"],
    ),
];

/// Words that may stand beside small talk without making it a question.
const FILLER: &[&str] = &[
    "ok", "okay", "great", "cool", "perfect", "awesome", "so", "much", "very", "a", "lot", "there",
    "again", "everyone", "guys", "team", "all", "for", "the", "help", "your", "oh", "well", "and",
    "you", "too", "sí", "si", "vale", "por", "tu", "ayuda", "perfecto", "genial", "für", "die",
    "hilfe", "ihre", "pour", "votre", "aide", "pela", "ajuda", "per", "aiuto", "voor", "je",
    "hulp", "de", "la", "el",
];

/// Asking for a person: one of `verbs` with one of `people` anywhere in the message, or one of
/// `contact` (your phone number…): asking for *ours*, so "how do I change my phone number?"
/// stays a question.
struct HumanWords {
    lang: Lang,
    verbs: &'static [&'static str],
    people: &'static [&'static str],
    contact: &'static [&'static str],
}

const HUMAN: &[HumanWords] = &[
    HumanWords {
        lang: Lang::En,
        verbs: &[
            "speak", "talk", "chat", "connect", "transfer", "reach", "contact",
        ],
        people: &[
            "person",
            "human",
            "agent",
            "someone",
            "somebody",
            "representative",
            "rep",
            "operator",
            "staff",
            "real",
        ],
        contact: &[
            "your phone number",
            "your telephone number",
            "your number",
            "call you",
            "call someone",
            "live agent",
            "human agent",
            "customer service number",
        ],
    },
    HumanWords {
        lang: Lang::Es,
        verbs: &[
            "hablar",
            "comunicar",
            "contactar",
            "chatear",
            "hablo",
            "pasar",
        ],
        people: &[
            "persona",
            "humano",
            "agente",
            "alguien",
            "asesor",
            "representante",
            "operador",
        ],
        contact: &[
            "su teléfono",
            "su telefono",
            "su número",
            "su numero",
            "tu teléfono",
            "tu telefono",
            "vuestro teléfono",
            "llamarles",
            "llamaros",
            "llamarlos",
        ],
    },
    HumanWords {
        lang: Lang::De,
        verbs: &["sprechen", "reden", "verbinden", "kontaktieren", "chatten"],
        people: &[
            "mensch",
            "menschen",
            "mitarbeiter",
            "mitarbeiterin",
            "person",
            "jemandem",
            "agent",
            "berater",
        ],
        contact: &[
            "ihre telefonnummer",
            "eure telefonnummer",
            "sie anrufen",
            "euch anrufen",
        ],
    },
    HumanWords {
        lang: Lang::Fr,
        verbs: &["parler", "discuter", "contacter", "joindre"],
        people: &[
            "humain",
            "personne",
            "conseiller",
            "conseillère",
            "agent",
            "quelqu",
            "opérateur",
        ],
        contact: &[
            "votre numéro",
            "votre téléphone",
            "votre telephone",
            "vous appeler",
        ],
    },
    HumanWords {
        lang: Lang::Pt,
        verbs: &["falar", "conversar", "contatar", "contactar"],
        people: &[
            "atendente",
            "pessoa",
            "humano",
            "agente",
            "alguém",
            "operador",
        ],
        contact: &[
            "seu telefone",
            "seu número",
            "seu numero",
            "ligar para vocês",
            "ligar para voces",
        ],
    },
    HumanWords {
        lang: Lang::It,
        verbs: &["parlare", "contattare", "chattare"],
        people: &[
            "operatore",
            "persona",
            "umano",
            "agente",
            "qualcuno",
            "consulente",
        ],
        contact: &["vostro numero", "vostro telefono", "chiamarvi"],
    },
    HumanWords {
        lang: Lang::Nl,
        verbs: &["spreken", "praten", "contact", "chatten"],
        people: &["medewerker", "mens", "persoon", "iemand", "agent"],
        contact: &[
            "jullie telefoonnummer",
            "uw telefoonnummer",
            "jullie bellen",
            "u bellen",
        ],
    },
];

/// What `message` is for, and the language that told, when it is not a plain question.
pub fn detect(message: &str) -> Option<(Intent, Lang)> {
    let normalized = normalize(message);
    if normalized.is_empty() {
        return None;
    }
    human(&normalized).or_else(|| small_talk(&normalized))
}

/// Lower case, words separated by single spaces, punctuation and emoji dropped.
fn normalize(message: &str) -> String {
    message
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn human(normalized: &str) -> Option<(Intent, Lang)> {
    let words: Vec<&str> = normalized.split(' ').collect();
    let has = |list: &[&str]| list.iter().any(|word| words.contains(word));
    HUMAN
        .iter()
        .find(|set| {
            (has(set.verbs) && has(set.people))
                || set
                    .contact
                    .iter()
                    .any(|phrase| has_words(normalized, phrase))
        })
        .map(|set| (Intent::Human, set.lang))
}

/// Small talk when, with its phrases taken out (longest first), only filler is left. A goodbye
/// said with thanks is a goodbye; thanks said with a greeting are thanks.
fn small_talk(normalized: &str) -> Option<(Intent, Lang)> {
    let mut phrases: Vec<(Lang, Intent, &str)> = SMALL_TALK
        .iter()
        .flat_map(|(lang, intent, phrases)| phrases.iter().map(move |p| (*lang, *intent, *p)))
        .collect();
    phrases.sort_by_key(|(_, _, phrase)| std::cmp::Reverse(phrase.len()));
    let mut rest = format!(" {normalized} ");
    let mut found: Option<(Intent, Lang)> = None;
    for (lang, intent, phrase) in phrases {
        let padded = format!(" {phrase} ");
        if rest.contains(&padded) {
            rest = rest.replace(&padded, " ");
            let rank = |intent: Intent| intent as u8;
            if found.is_none_or(|(kept, _)| rank(intent) > rank(kept)) {
                found = Some((intent, lang));
            }
        }
    }
    let only_filler = rest.split_whitespace().all(|word| FILLER.contains(&word));
    found.filter(|_| only_filler)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_talk_in_every_language() {
        for (message, intent, lang) in [
            ("hi", Intent::Greeting, Lang::En),
            ("Hey there!", Intent::Greeting, Lang::En),
            ("thanks!", Intent::Thanks, Lang::En),
            (
                "ok thank you so much for the help",
                Intent::Thanks,
                Lang::En,
            ),
            ("thanks, bye", Intent::Goodbye, Lang::En),
            ("Hola", Intent::Greeting, Lang::Es),
            ("¡Muchas gracias!", Intent::Thanks, Lang::Es),
            ("adiós", Intent::Goodbye, Lang::Es),
            ("Guten Tag", Intent::Greeting, Lang::De),
            ("Danke schön", Intent::Thanks, Lang::De),
            ("merci beaucoup", Intent::Thanks, Lang::Fr),
            ("Au revoir", Intent::Goodbye, Lang::Fr),
            ("Olá", Intent::Greeting, Lang::Pt),
            ("obrigada", Intent::Thanks, Lang::Pt),
            ("grazie mille", Intent::Thanks, Lang::It),
            ("tot ziens", Intent::Goodbye, Lang::Nl),
        ] {
            assert_eq!(detect(message), Some((intent, lang)), "{message}");
        }
    }

    #[test]
    fn asking_for_a_person_in_every_language() {
        for (message, lang) in [
            ("I want to speak to a person", Lang::En),
            ("can I talk to a real agent??", Lang::En),
            ("what is your phone number", Lang::En),
            ("Quiero hablar con una persona", Lang::Es),
            ("Ich möchte mit einem Mitarbeiter sprechen", Lang::De),
            ("Je veux parler à un humain", Lang::Fr),
            ("posso falar com um atendente?", Lang::Pt),
            ("vorrei parlare con un operatore", Lang::It),
            ("kan ik met een medewerker spreken", Lang::Nl),
        ] {
            assert_eq!(detect(message), Some((Intent::Human, lang)), "{message}");
        }
    }

    #[test]
    fn questions_stay_questions() {
        for message in [
            "hi, how do I return a jacket?",
            "thanks, and how long does shipping take?",
            "Can a person pick up my order for me?",
            "How do I update my phone number?",
            "¿Cómo cambio el teléfono de mi cuenta?",
            "Il telefono è compatibile?",
            "Como ligar o aparelho?",
            "How do I reset my password?",
            "",
            "???",
        ] {
            assert_eq!(detect(message), None, "{message}");
        }
    }
}
