//! The fast grammar mask (prefix stand-ins, best candidates first) allows exactly what llama.cpp's
//! whole-vocabulary mask allows, on a SentencePiece and a BPE vocabulary, and greedy generation
//! through it produces the same text as masking everything.

use crate::common;

use common::data;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;
use pgask::ask::generate::grammar::{self, GColumn, GJoin, GTable, Profile, Spec, ValueKind};
use pgask::ask::generate::llama::mask::{ends_mid_char, MaskStats, Masker, Prefixes};
use pgask::ask::generate::llama::{backend, Engine, EngineConfig};
use pgask::ask::generate::protocol::{ChatMessage, Job};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

fn spec() -> Spec {
    let col = |name: &str, kind| GColumn {
        name: name.into(),
        kind,
        labels: vec![],
    };
    Spec {
        tables: vec![
            GTable {
                name: "customer".into(),
                columns: vec![
                    col("customer_id", ValueKind::Number),
                    col("\"Größe\"", ValueKind::Text),
                    col("city", ValueKind::Text),
                    col("since", ValueKind::Time),
                ],
            },
            GTable {
                name: "invoice".into(),
                columns: vec![
                    col("invoice_id", ValueKind::Number),
                    col("customer_id", ValueKind::Number),
                    col("total", ValueKind::Number),
                ],
            },
        ],
        joins: vec![GJoin {
            left: 1,
            right: 0,
            pairs: vec![("customer_id".into(), "customer_id".into())],
        }],
        ..Spec::default()
    }
}

fn full_mask(g: &mut LlamaSampler, logits: &[f32]) -> Vec<LlamaTokenData> {
    let mut all = LlamaTokenDataArray::from_iter(
        logits
            .iter()
            .enumerate()
            .map(|(i, &l)| LlamaTokenData::new(LlamaToken(i as i32), l, 0.0)),
        false,
    );
    g.apply(&mut all);
    all.data.retain(|d| d.logit() != f32::NEG_INFINITY);
    all.data
}

fn ids(mut v: Vec<LlamaTokenData>) -> Vec<i32> {
    v.sort_by(|a, b| b.logit().total_cmp(&a.logit()));
    v.iter().map(|d| d.id().0).collect()
}

/// Walks each grammar for many steps with random logits; at every step the fast mask (all
/// allowed, and the best 1 and 40) equals the whole-vocabulary mask.
#[test]
fn the_fast_mask_equals_the_whole_vocabulary_mask() {
    for vocab_name in ["llama-spm", "deepseek-coder"] {
        let Some(vocab) = data::vocab(vocab_name) else {
            return;
        };
        let params = LlamaModelParams::default().with_vocab_only(true);
        let model = LlamaModel::load_from_file(backend().unwrap(), &vocab, &params).unwrap();
        let prefixes = Prefixes::new(&model);
        let mut masker = Masker::default();
        let n = model.n_vocab() as usize;
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for profile in [Profile::Full, Profile::Strict] {
            let text = grammar::build(&spec(), profile).unwrap().text;
            for walk in 0..3 {
                let mut g = LlamaSampler::grammar(&model, &text, "root").unwrap();
                let mut out: Vec<u8> = Vec::new();
                let mut saved = 0usize;
                for step in 0..30 {
                    // Distinct logits, so "the best k" has one answer.
                    let mut logits: Vec<f32> = (0..n).map(|i| i as f32 / 1000.0).collect();
                    logits.shuffle(&mut rng);
                    let whole = full_mask(&mut g, &logits);
                    let exact = !ends_mid_char(&out);
                    let mut stats = MaskStats::default();
                    let fast = masker.allowed(&mut g, &prefixes, &logits, None, exact, &mut stats);
                    let at = format!(
                        "{vocab_name} {profile:?} walk {walk} step {step} after {:?}",
                        String::from_utf8_lossy(&out)
                    );
                    same(ids(fast), ids(whole.clone()), &format!("all allowed, {at}"));
                    saved += n.saturating_sub(stats.checked);
                    for need in [1, 40] {
                        let best = masker.allowed(
                            &mut g,
                            &prefixes,
                            &logits,
                            Some(need),
                            exact,
                            &mut MaskStats::default(),
                        );
                        let mut best = ids(best);
                        best.truncate(need);
                        let mut want = ids(whole.clone());
                        want.truncate(need);
                        same(best, want, &format!("best {need}, {at}"));
                    }
                    // Move on by an allowed token: usually a random one, sometimes a
                    // non-ASCII one, so partial characters are walked too.
                    let Some(next) = pick(&whole, &model, &mut rng) else {
                        break;
                    };
                    if model.vocab().is_eog(next) {
                        break;
                    }
                    assert!(pgask::ask::generate::llama::engine::accept(&mut g, next));
                    out.extend(model.vocab().token_to_piece(next, true, None));
                }
                assert!(saved > 0, "the prefix stand-ins never saved a check");
            }
        }
    }
}

/// Equal lists, or a failure naming only the differences.
fn same(got: Vec<i32>, want: Vec<i32>, at: &str) {
    if got != want {
        let extra: Vec<_> = got.iter().filter(|t| !want.contains(t)).take(10).collect();
        let missing: Vec<_> = want.iter().filter(|t| !got.contains(t)).take(10).collect();
        panic!(
            "{at}: {} vs {} tokens; extra {extra:?}, missing {missing:?}",
            got.len(),
            want.len()
        );
    }
}

fn pick(allowed: &[LlamaTokenData], model: &LlamaModel, rng: &mut impl Rng) -> Option<LlamaToken> {
    if allowed.is_empty() {
        return None;
    }
    if rng.random_bool(0.3) {
        let wide: Vec<_> = allowed
            .iter()
            .filter(|d| {
                let p = model.vocab().token_to_piece(d.id(), true, None);
                p.iter().any(|b| *b >= 0x80)
            })
            .collect();
        if !wide.is_empty() {
            return Some(wide[rng.random_range(0..wide.len())].id());
        }
    }
    Some(allowed[rng.random_range(0..allowed.len())].id())
}

/// Greedy decoding through the fast mask writes the same SQL as masking the whole vocabulary
/// at every token, and hands far fewer tokens to llama.cpp's grammar check.
#[test]
fn greedy_generation_is_unchanged_by_the_fast_mask() {
    for vocab_name in ["llama-spm", "deepseek-coder"] {
        let Some(model) = data::model(vocab_name, pgask::ask::generate::tiny::Shape::TINY, 11)
        else {
            return;
        };
        let cfg = EngineConfig {
            threads: 2,
            context: 4096,
            chat_template: "auto".into(),
            top_k: 40,
        };
        let mut engine = Engine::load(&model, &cfg).unwrap();
        for profile in [Profile::Full, Profile::Strict] {
            let g = grammar::build(&spec(), profile).unwrap().text;
            for question in ["total per city", "customers since 2020", "größte Rechnung"] {
                let job = |always_mask| Job {
                    id: 1,
                    messages: vec![
                        ChatMessage::new("system", "Write one PostgreSQL query."),
                        ChatMessage::new("user", question),
                    ],
                    grammar: Some(g.clone()),
                    max_tokens: 40,
                    temperature: 0.0,
                    seed: 1,
                    always_mask,
                    scope: None,
                    closing: false,
                    fallback: None,
                };
                let fast = engine.run(&job(false), &|| false).unwrap();
                let whole = engine.run(&job(true), &|| false).unwrap();
                assert_eq!(fast.text, whole.text, "{vocab_name} {profile:?} {question}");
                assert!(fast.generated_tokens > 0);
                assert!(
                    fast.grammar_checked * 4 < whole.grammar_checked,
                    "{vocab_name} {profile:?}: fast mask checked {} tokens, whole {}",
                    fast.grammar_checked,
                    whole.grammar_checked
                );
            }
        }
    }
}

/// Taking a token back reuses the logits kept for its position instead of decoding the token
/// before it again: the same text, the same backtracks, the same log-probability as decoding
/// again, with a random-weight model (which backs out of dead ends often) and the scope check.
#[test]
fn a_backtrack_from_kept_logits_writes_what_decoding_again_writes() {
    use pgask::ask::catalog::{Catalog, Column, Table};
    let Some(model) = data::model("llama-spm", pgask::ask::generate::tiny::Shape::TINY, 13) else {
        return;
    };
    let cfg = EngineConfig {
        threads: 2,
        context: 4096,
        chat_template: "auto".into(),
        top_k: 40,
    };
    let mut engine = Engine::load(&model, &cfg).unwrap();
    let catalog = Catalog {
        database: "shop".into(),
        fingerprint: String::new(),
        extensions: Vec::new(),
        tables: vec![
            Table::new(
                "customer",
                vec![
                    Column::new("customer_id", "integer"),
                    Column::new("city", "text"),
                    Column::new("since", "date"),
                ],
            ),
            Table::new(
                "invoice",
                vec![
                    Column::new("invoice_id", "integer"),
                    Column::new("customer_id", "integer"),
                    Column::new("total", "numeric"),
                ],
            ),
        ],
    };
    let g = grammar::build(&spec(), Profile::Full).unwrap().text;
    let mut backtracked = 0;
    let mut dead_ends = 0;
    let mut reused = 0;
    for (seed, question) in ["total per city", "customers since 2020", "biggest invoice"]
        .iter()
        .enumerate()
    {
        for temperature in [0.0, 0.9] {
            let job = Job {
                id: 1,
                messages: vec![
                    ChatMessage::new("system", "Write one PostgreSQL query."),
                    ChatMessage::new("user", *question),
                ],
                grammar: Some(g.clone()),
                max_tokens: 60,
                temperature,
                seed: seed as u32,
                always_mask: false,
                scope: Some(pgask::ask::generate::scope::Scope::new(
                    &catalog,
                    &[0, 1],
                    question,
                )),
                closing: false,
                fallback: None,
            };
            engine.keep_logits(6);
            let kept = engine.run(&job, &|| false).unwrap();
            engine.keep_logits(0);
            let again = engine.run(&job, &|| false).unwrap();
            assert_eq!(kept.text, again.text, "{question} at {temperature}");
            assert_eq!(kept.backtracks, again.backtracks);
            assert_eq!(again.reused_logits, 0, "nothing kept, nothing reused");
            reused += kept.reused_logits;
            // Decoding a position again is not bit-exact in llama.cpp; the kept logits are.
            assert!(
                (kept.mean_logprob - again.mean_logprob).abs() < 1e-6,
                "{} vs {}",
                kept.mean_logprob,
                again.mean_logprob
            );
            backtracked += kept.backtracks;
            // Whatever the stop, the text holds no problem the scope check refuses: out of
            // backtracks the candidate ends (`DeadEnd`) rather than keep a refused token.
            let scope = job.scope.as_ref().unwrap();
            assert_eq!(
                scope.problems(&kept.text, false),
                0,
                "{:?}: {}",
                kept.stop,
                kept.text
            );
            dead_ends += usize::from(kept.stop == pgask::ask::generate::protocol::Stop::DeadEnd);
        }
    }
    eprintln!(
        "{backtracked} backtracks ({reused} from kept logits), {dead_ends} candidates ended at a dead end"
    );
    assert!(reused > 0, "no step back reused kept logits");
    assert!(
        dead_ends > 0,
        "no candidate ran out of steps back: DeadEnd untested"
    );
    assert!(
        backtracked > 0,
        "no generation backtracked: the test proves nothing"
    );
}
