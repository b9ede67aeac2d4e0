//! Unit tests of config loading: the shipped file, defaults, and every rejection.

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    let config = Config::parse("test.toml", text)?;
    config.validate()?;
    Ok(config)
}

fn error_of(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(error) => error.to_string(),
    }
}

const PROJECT: &str = r#"
[[projects]]
slug = "shop"
name = "Bot"
push_secret = "sp_0123456789abcdef"
"#;

#[test]
fn the_shipped_file_documents_exactly_the_defaults() {
    let shipped = parse(DEFAULT_CONFIG_TOML).unwrap();
    let defaults = Config::default();
    assert_eq!(shipped.server, defaults.server);
    assert_eq!(shipped.store, defaults.store);
    assert_eq!(shipped.rate_limits, defaults.rate_limits);
    assert_eq!(shipped.llm, defaults.llm);
    assert_eq!(shipped.chat, defaults.chat);
    assert_eq!(shipped.social_proof, defaults.social_proof);
    assert_eq!(
        shipped.rate_limits.chat,
        RateLimit {
            requests: 20,
            window: Duration::from_secs(60)
        }
    );
    assert_eq!(shipped.rate_limits.push.requests, 10);
    assert_eq!(shipped.rate_limits.widget.requests, 60);
}

#[test]
fn the_shipped_file_seeds_the_demo_project_with_a_hashed_secret() {
    let shipped = parse(DEFAULT_CONFIG_TOML).unwrap();
    let seeds = shipped.project_seeds().unwrap();
    assert_eq!(seeds.len(), 1);
    let (slug, settings) = &seeds[0];
    assert_eq!(slug, "demo");
    assert_eq!(
        settings.widget.quick_replies,
        ["Pricing", "How to get started", "Talk to support"]
    );
    assert_eq!(settings.widget.theme.position, Position::BottomRight);
    // Unless HELPYAP_DEMO_PUSH_SECRET is set, the file's local-only secret applies.
    if std::env::var("HELPYAP_DEMO_PUSH_SECRET").is_err() {
        assert!(
            settings
                .push_secret
                .as_ref()
                .unwrap()
                .matches("sp_demo_local_only_secret")
        );
    }
}

#[test]
fn an_empty_file_is_all_defaults() {
    assert_eq!(parse("").unwrap().server, ServerConfig::default());
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    assert!(error_of("[server]\nbnid = \"1.2.3.4:5\"").contains("bnid"));
    assert!(error_of("[nope]\n").contains("nope"));
    assert!(error_of(&format!("{PROJECT}colour = \"red\"")).contains("colour"));
}

#[test]
fn trusted_proxies_take_addresses_and_ranges() {
    let config =
        parse("[server]\ntrusted_proxies = [\"10.0.0.1\", \"192.168.0.0/16\", \"::1\"]").unwrap();
    let expected: Vec<IpNet> = vec![
        "10.0.0.1/32".parse().unwrap(),
        "192.168.0.0/16".parse().unwrap(),
        "::1/128".parse().unwrap(),
    ];
    assert_eq!(config.server.trusted_proxies, expected);
    assert!(error_of("[server]\ntrusted_proxies = [\"localhost\"]").contains("localhost"));
}

#[test]
fn bad_values_are_rejected_with_their_key() {
    let cases = [
        (
            "[rate_limits]\npush = { requests = 0, window = \"60s\" }",
            "rate_limits.push",
        ),
        (
            "[rate_limits]\nchat = { requests = 5, window = \"10ms\" }",
            "rate_limits.chat",
        ),
        ("[server]\nmax_body_bytes = 10", "max_body_bytes"),
        (
            "[server]\nheader_read_timeout = \"soon\"",
            "header_read_timeout",
        ),
        ("[server]\nlog_level = \"loud\"", "log_level"),
        ("[llm]\nprovider = \"magic\"", "magic"),
        ("[llm]\ntemperature = 3.0", "llm.temperature"),
        (
            "[llm]\nprovider = \"openai\"\nbase_url = \"ftp://x\"",
            "llm.base_url",
        ),
        ("[llm]\nfallback = \"retry\"", "retry"),
        ("[llm]\nconnections = 0", "llm.connections"),
        ("[chat]\nmax_messages = 0", "chat.max_messages"),
        ("[social_proof]\nretain_events = 0", "retain_events"),
        ("[social_proof]\nsubscriber_queue = 0", "subscriber_queue"),
        ("[social_proof]\nkeep_alive = \"0s\"", "keep_alive"),
        (
            "[server]\nwrite_stall_timeout = \"0s\"",
            "write_stall_timeout",
        ),
    ];
    for (text, key) in cases {
        let message = error_of(text);
        assert!(message.contains(key), "{key} not named in: {message}");
    }
}

#[test]
fn bad_projects_are_rejected_with_their_slug() {
    let twice = format!("{PROJECT}{PROJECT}");
    assert!(error_of(&twice).contains("appears twice"));
    assert!(error_of(&PROJECT.replace("\"shop\"", "\"Shop!\"")).contains("slug"));
    assert!(error_of(&PROJECT.replace("sp_0123456789abcdef", "short")).contains("at least 16"));
    assert!(
        error_of(&PROJECT.replace("sp_0123456789abcdef", "sp_0123456789 abcdef"))
            .contains("white space")
    );
    let color = format!("{PROJECT}theme = {{ primary_color = \"blue\" }}");
    assert!(error_of(&color).contains("primaryColor"));
    let template =
        format!("{PROJECT}[projects.social_proof.templates]\npurchased = \"{{nme}} bought\"");
    assert!(error_of(&template).contains("{nme}"));
    let unknown_type = format!("{PROJECT}[projects.social_proof.templates]\nrefunded = \"x\"");
    assert!(error_of(&unknown_type).contains("refunded"));
    let origin = format!("{PROJECT}allowed_origins = [\"shop.example.com\"]");
    assert!(error_of(&origin).contains("allowedOrigins"));
    let no_display = format!("{PROJECT}[projects.social_proof]\ndisplay = \"0s\"");
    assert!(error_of(&no_display).contains("displayMs"));
}

#[test]
fn a_named_secret_variable_that_is_unset_is_an_error() {
    let text = PROJECT.replace(
        "push_secret = \"sp_0123456789abcdef\"",
        "push_secret_env = \"HELPYAP_TEST_SURELY_UNSET_VARIABLE\"",
    );
    assert!(error_of(&text).contains("HELPYAP_TEST_SURELY_UNSET_VARIABLE"));
    // With a fallback in the file, the unset variable is not an error.
    let with_fallback =
        format!("{PROJECT}push_secret_env = \"HELPYAP_TEST_SURELY_UNSET_VARIABLE\"");
    assert!(parse(&with_fallback).is_ok());
}

#[test]
fn a_missing_named_file_is_an_error_naming_it() {
    let error = Config::load(
        Some(Path::new("/nonexistent/helpyap.toml")),
        &Overrides::default(),
    );
    assert!(
        error
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/helpyap.toml")
    );
}

#[test]
fn the_cluster_section_the_shipped_file_documents_parses_to_the_defaults() {
    let block: Vec<&str> = DEFAULT_CONFIG_TOML
        .lines()
        .skip_while(|line| *line != "# [cluster]")
        .take_while(|line| line.starts_with('#'))
        .map(|line| line.trim_start_matches("# "))
        .filter(|line| line.starts_with('[') || line.contains(" = "))
        .collect();
    assert_eq!(block.len(), 5, "{block:?}");
    let cluster = parse(&block.join("\n")).unwrap().cluster.unwrap();
    let defaults = ClusterConfig::default();
    assert_eq!(cluster.check_interval, defaults.check_interval);
    assert_eq!(cluster.answer_lease, defaults.answer_lease);
    assert_eq!(cluster.redis_url, "redis://cache.internal:6379/0");
    assert_eq!(parse("").unwrap().cluster, None, "absent: one node on sled");
}

#[test]
fn cluster_urls_and_times_are_checked_and_passwords_never_printed() {
    let cluster = |keys: &str| {
        format!(
            "[cluster]\npostgres_url = \"postgres://u:pw@db/helpyap\"\nredis_url = \"redis://cache/\"\n{keys}"
        )
    };
    assert!(parse(&cluster("")).is_ok());
    let bad_postgres = "[cluster]\npostgres_url = \"mysql://db\"\nredis_url = \"redis://cache/\"";
    assert!(error_of(bad_postgres).contains("cluster.postgres_url"));
    let bad_redis = "[cluster]\npostgres_url = \"postgres://db/x\"\nredis_url = \"http://cache\"";
    assert!(error_of(bad_redis).contains("cluster.redis_url"));
    assert!(error_of("[cluster]\nredis_url = \"redis://cache/\"").contains("postgres_url"));
    assert!(error_of(&cluster("check_interval = \"1ms\"")).contains("check_interval"));
    assert!(error_of(&cluster("answer_lease = \"100ms\"")).contains("answer_lease"));
    let printed = format!("{:?}", parse(&cluster("")).unwrap());
    assert!(!printed.contains("pw@"), "{printed}");
}

/// A seed digested before popups had positions, targeting, summaries and name formats reads the
/// same after the upgrade: the new fields count only when set, and the name format as the
/// `anonymize` it replaced. (Otherwise the first start after an upgrade would apply every
/// seed again, over what owners changed in the dashboard.)
#[test]
fn seeds_digest_as_before_popups_grew_new_settings() {
    let seed = |config: &Config| config.project_seeds().unwrap().remove(0).1;
    let plain = parse("[[projects]]\nslug = \"shop\"\nname = \"Bot\"\n").unwrap();
    let digested = digested_widget(&seed(&plain).widget);
    let keys: Vec<&str> = digested["socialProof"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "anonymize",
            "displayMs",
            "enabled",
            "gapMs",
            "initialDelayMs",
            "maxAgeMs",
            "maxPerVisit",
            "showOnMobile",
            "templates"
        ],
        "the shape digested before the upgrade"
    );
    assert_eq!(digested["socialProof"]["anonymize"], false);
    let hidden = "[[projects]]\nslug = \"shop\"\nname = \"Bot\"\n[projects.social_proof]\nanonymize = true\n";
    let digested = digested_widget(&seed(&parse(hidden).unwrap()).widget);
    assert_eq!(digested["socialProof"]["anonymize"], true);
    // A new setting, once set, is a new seed.
    let mut targeted = plain.clone();
    targeted.projects[0].social_proof.pages.exclude = vec!["/checkout/*".into()];
    targeted.projects[0].social_proof.name_format = NameFormat::FirstInitial;
    let digested = digested_widget(&seed(&targeted).widget);
    assert_eq!(digested["socialProof"]["nameFormat"], "first_initial");
    assert_eq!(
        digested["socialProof"]["pages"]["exclude"][0],
        "/checkout/*"
    );
    assert_ne!(seed(&targeted).seed_digest, seed(&plain).seed_digest);
}
