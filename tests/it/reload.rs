//! Reloading `[ask]`, `[llm]`, `[retrieval]` and `[catalog]` settings documented "reload: yes":
//! each is changed through `Asker::reload` (what SIGHUP calls, see
//! `lifecycle::sighup_applies_ask_settings_to_the_next_ask` for the signal itself) and observed
//! on the next ask, with a scripted LLM that records every request.

use crate::common;

use common::ask::{prompt, proxy, requests, texts};
use common::raw::{query, sqlstate, RawClient};
use common::{Cluster, Proxy};
use pgask::ask::generate::backend::Backend;
use pgask::ask::generate::grammar::Profile;
use pgask::config::Config;

/// Asks `q` (numbered, so no answer is reused) and returns the reply.
async fn ask(c: &mut RawClient, q: &str) -> Vec<u8> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    c.exchange(&query(&format!("-- ask: {q} ({n})")), 1)
        .await
        .unwrap()
}

/// Applies `edit` to the running config, as a reload would.
fn reload(p: &Proxy, edit: impl FnOnce(&mut Config)) {
    let mut next = (**p.shared.config.load()).clone();
    edit(&mut next);
    p.shared.asker.as_ref().unwrap().reload(&next);
    p.shared.config.store(std::sync::Arc::new(next));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reloadable_ask_setting_applies_to_the_next_ask() {
    let cluster = Cluster::shared();
    let Some((p, db)) = proxy(&["SELECT country FROM customer"], |c| {
        c.ask.cache_ttl_secs = 0;
        c.ask.max_attempts = 1;
        // Retrieval's own tables, whatever other tests added to the shared chinook: a small
        // database shown whole would hide `retrieval.top_k`.
        c.retrieval.whole_schema = 0;
    })
    .await
    else {
        return;
    };
    cluster.psql_as("postgres", &db, "ANALYZE customer");
    let mut c = RawClient::connect(p.port(), "postgres", &db).await;
    let before = {
        ask(&mut c, "which countries do customers live in").await;
        requests(&p).pop().unwrap()
    };
    let tables_before = prompt(&before).matches("CREATE TABLE").count();

    // [llm] sampling settings, candidates, grammar profile, prompt templates.
    let prompts = tempfile::tempdir().unwrap();
    std::fs::write(
        prompts.path().join("system.txt"),
        "RELOADED-SYSTEM-PROMPT: write one PostgreSQL query.\n\n{schema}",
    )
    .unwrap();
    let dir = prompts.path().to_path_buf();
    reload(&p, |c| {
        c.llm.max_tokens = 77;
        c.llm.temperature = 0.25;
        c.llm.seed = 1234;
        c.llm.candidates = 2;
        c.llm.grammar = Profile::Strict;
        c.llm.prompt_dir = Some(dir);
        c.retrieval.top_k = 1;
    });
    let asked = requests(&p).len();
    ask(&mut c, "which countries do customers live in").await;
    let after = requests(&p);
    assert_eq!(after.len() - asked, 2, "llm.candidates = 2");
    let r = &after[asked];
    assert_eq!(
        (r.max_tokens, r.temperature, r.seed),
        (77, 0.25, 1234),
        "llm.max_tokens, llm.temperature, llm.seed"
    );
    assert_ne!(r.grammar, before.grammar, "llm.grammar = strict");
    assert!(
        prompt(r).contains("RELOADED-SYSTEM-PROMPT"),
        "llm.prompt_dir"
    );
    let tables_after = prompt(r).matches("CREATE TABLE").count();
    assert!(
        tables_after == 1 && tables_before > 1,
        "retrieval.top_k: {tables_before} → {tables_after}"
    );

    // [catalog]: sample values appear, then a sensitive pattern hides them.
    assert!(!prompt(&before).contains("'USA'"), "{}", prompt(&before));
    reload(&p, |c| c.catalog.sample_values = true);
    ask(&mut c, "which countries do customers live in").await;
    let last = prompt(&requests(&p).pop().unwrap());
    assert!(last.contains("USA"), "catalog.sample_values: {last}");
    reload(&p, |c| {
        c.catalog.sensitive_patterns = vec!["country".into()]
    });
    ask(&mut c, "which countries do customers live in").await;
    let last = prompt(&requests(&p).pop().unwrap());
    assert!(!last.contains("USA"), "catalog.sensitive_patterns: {last}");

    // [llm] min_relevance and [ask] limits.
    reload(&p, |c| c.llm.min_relevance = 0.99);
    let got = ask(&mut c, "which countries do customers live in").await;
    assert_eq!(
        sqlstate(&got).as_deref(),
        Some("42P01"),
        "llm.min_relevance"
    );
    reload(&p, |c| {
        c.llm.min_relevance = 0.0;
        c.ask.max_question_bytes = 10;
    });
    let got = ask(&mut c, "which countries do customers live in").await;
    assert_eq!(
        sqlstate(&got).as_deref(),
        Some("54000"),
        "ask.max_question_bytes"
    );
    reload(&p, |c| {
        c.ask.max_question_bytes = 4096;
        c.ask.max_cost = 0.5;
    });
    let got = ask(&mut c, "which countries do customers live in").await;
    assert!(
        texts(&got, b'E').join(" ").contains("estimated cost"),
        "ask.max_cost: {:?}",
        texts(&got, b'E')
    );
    reload(&p, |c| c.ask.max_cost = 0.0);
    let asker = p.shared.asker.as_ref().unwrap();
    asker.set_backend(Backend::scripted([
        "SELECT quote_ident(country) FROM customer",
    ]));
    let got = ask(&mut c, "hash the countries").await;
    assert_eq!(
        sqlstate(&got).as_deref(),
        Some("42501"),
        "quote_ident is not allowed"
    );
    reload(&p, |c| c.ask.extra_functions = vec!["quote_ident".into()]);
    let got = ask(&mut c, "hash the countries").await;
    assert!(
        sqlstate(&got).is_none(),
        "ask.extra_functions: {:?}",
        texts(&got, b'E')
    );

    // [llm] relevance_check: a "no" to the yes/no question refuses the ask before any SQL.
    asker.set_backend(Backend::scripted(["no", "SELECT count(*) FROM customer"]));
    reload(&p, |c| c.llm.relevance_check = true);
    let got = ask(&mut c, "what is the weather on mars").await;
    assert_eq!(
        sqlstate(&got).as_deref(),
        Some("42P01"),
        "llm.relevance_check"
    );
    assert!(texts(&got, b'E').join(" ").contains("cannot answer"));
    let relevance = requests(&p);
    assert_eq!(relevance.len(), 1, "no SQL was generated after the no");
    assert_eq!(relevance[0].max_tokens, 2);
    reload(&p, |c| c.llm.relevance_check = false);

    // [ask] catalog_user: the catalog is read as that role from the next ask on.
    reload(&p, |c| c.ask.catalog_user = "trust_user".into());
    ask(&mut c, "hash the countries").await;
    let who = cluster.psql_as(
        "postgres",
        &db,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgask catalog' AND usename = 'trust_user'",
    );
    assert_eq!(who.trim(), "1", "ask.catalog_user");
}
