//! Answers people can use, through the real server in both modes: the lines that answer a
//! question (deciding one first, then where to read more), only the documents used as
//! sources, small talk and requests for a person, questions in other languages, and the
//! owner's instructions as the model receives them.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::chat::{Answer, ask, ask_with, body, with_fake};
use crate::fake_llm::FakeLlm;
use crate::support::{Caller, TestServer};
use helpyap::config::LlmFallback;

fn sources(answer: &Answer) -> Vec<String> {
    answer
        .json_frames()
        .filter(|frame| frame["type"] == "source-url" || frame["type"] == "source-document")
        .map(|frame| frame["sourceId"].as_str().unwrap().to_owned())
        .collect()
}

fn action(answer: &Answer) -> Option<Value> {
    answer
        .json_frames()
        .find(|frame| frame["type"] == "data-action")
        .map(|frame| frame["data"]["action"].clone())
}

/// Sets the project's `assistant` settings, keeping the rest.
async fn set_assistant(owner: &Caller, assistant: Value) {
    let mut settings = owner.get("/api/admin/projects/demo").expect(200).await;
    settings["assistant"] = assistant.clone();
    let saved = owner
        .put("/api/admin/projects/demo", settings)
        .expect(200)
        .await;
    assert_eq!(saved["assistant"]["languages"], assistant["languages"]);
}

#[tokio::test]
async fn a_question_gets_the_sentence_that_answers_it_first_and_only_its_document() {
    let server = TestServer::start().await;
    let answer = ask(
        &server,
        Uuid::new_v4(),
        None,
        "Can I return a jacket I bought 3 weeks ago? It was on sale.",
    )
    .await;
    let text = answer.text();
    assert!(
        text.starts_with("Sale items can be returned within 14 days."),
        "the deciding sentence first, no boilerplate: {text}"
    );
    assert!(
        text.ends_with("Read more: [Returns and refunds](https://acme.example/help/returns)"),
        "{text}"
    );
    assert!(text.len() < 400, "not the whole passage: {text}");
    assert_eq!(sources(&answer), ["returns.md"]);
    assert_eq!(action(&answer), None);

    // A typo still finds its word.
    let typo = ask(&server, Uuid::new_v4(), None, "how much is shiping").await;
    assert_eq!(sources(&typo), ["shipping.md"], "{}", typo.text());
}

#[tokio::test]
async fn small_talk_is_answered_briefly_and_asking_for_a_person_opens_the_contact_form() {
    let server = TestServer::start().await;
    let session = Uuid::new_v4();
    let hello = ask(&server, session, None, "hi!").await;
    assert_eq!(hello.text(), "Hi! How can I help you today?");
    assert!(sources(&hello).is_empty());
    assert_eq!(action(&hello), None);
    let token = hello
        .token
        .clone()
        .expect("the first reply starts the session");

    let person = ask(
        &server,
        session,
        Some(&token),
        "I want to speak to a person",
    )
    .await;
    assert!(
        person.text().contains("Leave your email"),
        "{}",
        person.text()
    );
    assert_eq!(action(&person), Some(json!("contact")));
    let thanks = ask(&server, session, Some(&token), "Danke schön").await;
    assert_eq!(thanks.text(), "Gern geschehen! Kann ich sonst noch helfen?");

    // None of them is an unanswered question in the inbox.
    let agent = server.agent("agent@example.com").await;
    let unanswered = agent
        .get("/api/admin/projects/demo/conversations?unanswered=true")
        .expect(200)
        .await;
    assert_eq!(unanswered["conversations"], json!([]), "{unanswered}");
    let all = agent
        .get("/api/admin/projects/demo/conversations")
        .expect(200)
        .await;
    assert_eq!(all["conversations"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_question_in_another_language_is_answered_in_it() {
    let server = TestServer::start().await;
    // An English-only project: a Spanish question is told so in Spanish, with a human offered.
    let spanish = "¿Cuánto tarda el envío a Madrid?";
    let refused = ask(&server, Uuid::new_v4(), None, spanish).await;
    assert!(
        refused.text().starts_with("Lo siento"),
        "{}",
        refused.text()
    );
    assert_eq!(action(&refused), Some(json!("offer-contact")));

    // With Spanish documents and Spanish among its languages, from them, in Spanish.
    let owner = server.owner("owner@example.com").await;
    set_assistant(&owner, json!({ "languages": ["en", "es"] })).await;
    let document = json!({
        "title": "Envíos",
        "format": "markdown",
        "content": "# Envíos\n\nEnviamos a toda España. El envío a la península tarda de 2 a 4 \
                    días hábiles. El envío a las islas tarda de 5 a 7 días hábiles.",
    });
    owner
        .post("/api/admin/projects/demo/documents", document)
        .expect(201)
        .await;
    let answered = ask(&server, Uuid::new_v4(), None, spanish).await;
    let text = answered.text();
    assert!(
        text.starts_with("El envío a la península tarda de 2 a 4 días hábiles."),
        "{text}"
    );
    assert!(text.contains("Más información: Envíos"), "{text}");
    assert_eq!(sources(&answered), ["envíos"]);
    // English questions still find the English documents.
    let english = ask(&server, Uuid::new_v4(), None, "What is your return policy?").await;
    assert_eq!(sources(&english), ["returns.md"], "{}", english.text());
}

#[tokio::test]
async fn owner_instructions_reach_the_model_after_the_fixed_rules() {
    let fake = FakeLlm::start().await;
    let server = TestServer::start_with(with_fake(&fake, LlmFallback::None)).await;
    let owner = server.owner("owner@example.com").await;
    let instructions = "Always greet the visitor as 'friend'. Escalate refunds over $500.";
    set_assistant(
        &owner,
        json!({ "languages": ["en"], "instructions": instructions }),
    )
    .await;

    let answer = ask_with(&server, &body(Uuid::new_v4(), None, "[system] returns?")).await;
    let system = answer.text();
    let rules = system
        .find("using only the help-center passages")
        .expect("the grounding rules");
    let owned = system.find(instructions).expect("the owner's instructions");
    assert!(rules < owned, "the fixed rules come first: {system}");
    assert!(system.contains("the rules above always win"), "{system}");
    assert!(system.contains("Answer in English"), "{system}");

    // Too long, or languages that are not ours: refused, nothing changed.
    let mut settings = owner.get("/api/admin/projects/demo").expect(200).await;
    for bad in [
        json!({ "languages": ["en"], "instructions": "x".repeat(2001) }),
        json!({ "languages": [] }),
        json!({ "languages": ["en", "en"] }),
        json!({ "languages": ["klingon"] }),
        json!({ "languages": "en" }),
        json!({ "instructions": 5 }),
        json!({ "tone": "nice" }),
    ] {
        settings["assistant"] = bad.clone();
        owner
            .put("/api/admin/projects/demo", settings.clone())
            .expect_error(400)
            .await;
    }
    let kept = owner.get("/api/admin/projects/demo").expect(200).await;
    assert_eq!(kept["assistant"]["instructions"], instructions);
}

#[tokio::test]
async fn a_curated_answer_is_given_to_close_questions_first_and_cited_as_the_faq() {
    let server = TestServer::start().await;
    let agent = server.agent("agent@example.com").await;
    let owner = server.owner("owner@example.com").await;
    let faq = "/api/admin/projects/demo/faq";
    let answer = "Yes: we match **Amazon.com** prices on identical items.\n\n- Show us the listing\n- We refund the difference";
    let saved = agent
        .post(
            faq,
            json!({ "question": "Do you price-match Amazon?", "answer": answer }),
        )
        .expect(201)
        .await;
    let id = saved["id"].as_str().unwrap().to_owned();
    assert_eq!(saved["answer"], answer);

    // Close questions get it verbatim, cited as the FAQ; others do not.
    let close = ask(&server, Uuid::new_v4(), None, "do you price match amazon??").await;
    assert_eq!(close.text(), answer);
    assert_eq!(sources(&close), std::slice::from_ref(&id));
    let cited = close
        .json_frames()
        .find(|frame| frame["type"] == "source-document")
        .unwrap();
    assert_eq!(cited["title"], "FAQ");
    assert_eq!(action(&close), None);
    let other = ask(&server, Uuid::new_v4(), None, "What is your return policy?").await;
    assert_eq!(sources(&other), ["returns.md"]);

    // Listed with the FAQ, not with the documents; edited; deleted by owners only.
    let listed = agent.get(faq).expect(200).await;
    assert_eq!(listed["faq"][0]["question"], "Do you price-match Amazon?");
    let documents = owner
        .get("/api/admin/projects/demo/documents")
        .expect(200)
        .await;
    assert!(!documents.to_string().contains(&id), "{documents}");
    let entry = format!("{faq}/{id}");
    agent
        .put(
            &entry,
            json!({ "question": "Do you price-match Amazon?", "answer": "Only on Prime Day." }),
        )
        .expect(200)
        .await;
    let edited = ask(&server, Uuid::new_v4(), None, "Do you price match Amazon").await;
    assert_eq!(edited.text(), "Only on Prime Day.");
    assert_eq!(
        sources(&edited),
        std::slice::from_ref(&id),
        "a short answer is cited too"
    );

    // Bad input: clear errors, nothing changed.
    for bad in [
        json!({ "question": "", "answer": "x" }),
        json!({ "question": "q?", "answer": "   " }),
        json!({ "question": "q".repeat(501), "answer": "x" }),
        json!({ "question": "q?", "answer": "x".repeat(4001) }),
        json!({ "question": "q\u{7}?", "answer": "x" }),
        json!({ "question": "q?" }),
        json!({ "question": "q?", "answer": "x", "extra": 1 }),
        json!({ "question": 5, "answer": "x" }),
    ] {
        agent.post(faq, bad).expect_error(400).await;
    }
    let body = json!({ "question": "q?", "answer": "x" });
    agent
        .put(&format!("{faq}/faq-nope"), body.clone())
        .expect_error(404)
        .await;
    agent
        .put(&format!("{faq}/returns.md"), body)
        .expect_error(404)
        .await;
    agent.delete(&entry).expect_error(403).await;
    owner.delete(&entry).expect(204).await;
    owner.delete(&entry).expect_error(404).await;
    let gone = ask(&server, Uuid::new_v4(), None, "do you price match amazon??").await;
    assert!(!sources(&gone).contains(&id), "{}", gone.text());
    assert_ne!(gone.text(), "Only on Prime Day.");
}

#[tokio::test]
async fn a_model_gets_the_curated_answer_as_its_first_passage() {
    let fake = FakeLlm::start().await;
    let server = TestServer::start_with(with_fake(&fake, LlmFallback::None)).await;
    let agent = server.agent("agent@example.com").await;
    let body =
        json!({ "question": "Do you price-match Amazon?", "answer": "Yes, on identical items." });
    agent
        .post("/api/admin/projects/demo/faq", body)
        .expect(201)
        .await;
    let answer = ask(
        &server,
        Uuid::new_v4(),
        None,
        "[system] do you price match amazon",
    )
    .await;
    let system = answer.text();
    assert!(
        system.contains("[1] FAQ\nYes, on identical items."),
        "the first passage: {system}"
    );
}
