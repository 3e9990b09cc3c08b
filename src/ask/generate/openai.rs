//! An OpenAI-compatible chat-completions server as the LLM (llama.cpp server, vLLM, Ollama): the
//! scale-out path, where inference moves off the proxy's machine. The GBNF grammar goes along in
//! `llm.api_grammar_field` (`grammar` for llama.cpp's servers) when `llm.api_grammar` is on; a
//! server that refuses the field (HTTP 400) is asked again without it and not sent it again, and
//! then the guard and the correction loop do the grammar's work.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::protocol::{Output, Stop, CUE};
use super::supervisor::Request;
use crate::config::LlmConfig;

/// The server could not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    #[error("cannot reach the LLM server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the LLM server at {url} answered HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("the LLM server's answer is not a chat completion: {0}")]
    Malformed(String),
}

/// A chat-completions endpoint.
pub struct OpenAi {
    client: reqwest::Client,
    url: String,
    model: String,
    key: Option<String>,
    /// Still sending the grammar (cleared when the server refused it once).
    grammar: AtomicBool,
    /// Where the grammar goes in the request body: the path of the field.
    grammar_field: Vec<String>,
}

impl OpenAi {
    pub fn new(cfg: &LlmConfig) -> Result<OpenAi, ApiError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.api_timeout_secs.max(1)))
            .build()
            .map_err(|e| ApiError::Client(e.to_string()))?;
        Ok(OpenAi {
            client,
            url: format!("{}/chat/completions", cfg.api_base.trim_end_matches('/')),
            model: cfg.api_model.clone(),
            key: std::env::var(&cfg.api_key_env)
                .ok()
                .filter(|k| !k.is_empty()),
            grammar: AtomicBool::new(cfg.api_grammar),
            grammar_field: cfg
                .api_grammar_field
                .split('.')
                .map(str::to_string)
                .collect(),
        })
    }

    /// Whether an error body is about the grammar field.
    fn names_grammar(&self, body: &str) -> bool {
        let body = body.to_lowercase();
        body.contains("grammar")
            || self
                .grammar_field
                .last()
                .is_some_and(|f| body.contains(&f.to_lowercase()))
    }

    pub async fn generate(&self, req: Request) -> Result<Output, ApiError> {
        let started = Instant::now();
        let with_grammar = self.grammar.load(Ordering::Relaxed) && req.grammar.is_some();
        let first = self.post(&req, with_grammar).await;
        let answer = match first {
            // Only a refusal that names the field: a 400 for a prompt longer than the server's
            // context must not switch the grammar off for good.
            Err(ApiError::Status {
                status: 400,
                ref body,
                ..
            }) if with_grammar && self.names_grammar(body) => {
                tracing::warn!(url = %self.url, "the LLM server refused the grammar; asking without it from now on");
                self.grammar.store(false, Ordering::Relaxed);
                self.post(&req, false).await?
            }
            other => other?,
        };
        let choice = answer
            .pointer("/choices/0")
            .ok_or_else(|| ApiError::Malformed("no choices".into()))?;
        let text = choice
            .pointer("/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::Malformed("no message content".into()))?;
        let stop = match choice.get("finish_reason").and_then(Value::as_str) {
            Some("length") => Stop::MaxTokens,
            _ => Stop::Eos,
        };
        let count = |p: &str| {
            answer
                .pointer(p)
                .and_then(Value::as_u64)
                .map_or(0, |n| n as usize)
        };
        Ok(Output {
            text: strip_fences(text),
            prompt_tokens: count("/usage/prompt_tokens"),
            reused_tokens: 0,
            generated_tokens: count("/usage/completion_tokens"),
            grammar_resamples: 0,
            grammar_checked: 0,
            stop,
            prompt_ms: 0.0,
            generate_ms: started.elapsed().as_secs_f64() * 1e3,
            grammar_ms: 0.0,
            grammar_build_ms: 0.0,
            mean_logprob: 0.0,
            finished: None,
            finish_ms: 0.0,
            fallback_from: None,
            scope_refusals: 0,
            backtracks: 0,
            reused_logits: 0,
        })
    }

    async fn post(&self, req: &Request, with_grammar: bool) -> Result<Value, ApiError> {
        let messages: Vec<Value> = req
            .messages
            .iter()
            .filter(|m| m.role != CUE)
            .map(|m| json!({"role": m.role, "content": m.content}))
            .collect();
        let mut body = json!({
            "messages": messages,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "seed": req.seed,
            "stream": false,
        });
        if !self.model.is_empty() {
            body["model"] = json!(self.model);
        }
        if let (true, Some(g)) = (with_grammar, &req.grammar) {
            put(&mut body, &self.grammar_field, json!(g));
        }
        let mut http = self.client.post(&self.url).json(&body);
        if let Some(key) = &self.key {
            http = http.bearer_auth(key);
        }
        let unreachable = |e: reqwest::Error| ApiError::Unreachable {
            url: self.url.clone(),
            reason: e.to_string(),
        };
        let resp = http.send().await.map_err(unreachable)?;
        let status = resp.status();
        let text = resp.text().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(ApiError::Status {
                url: self.url.clone(),
                status: status.as_u16(),
                body: text.chars().take(500).collect(),
            });
        }
        serde_json::from_str(&text).map_err(|e| ApiError::Malformed(e.to_string()))
    }
}

/// Sets the field at `path` of the request object `body` (objects made on the way), e.g.
/// `structured_outputs.grammar`.
fn put(body: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = body;
    for key in parents {
        if !at.get(key).is_some_and(Value::is_object) {
            at[key.as_str()] = json!({});
        }
        at = &mut at[key.as_str()];
    }
    at[last.as_str()] = value;
}

/// The SQL inside a Markdown code fence, when a model without a grammar wrapped it in one.
fn strip_fences(text: &str) -> String {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("```") {
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
        let body = rest.rsplit_once("```").map_or(rest, |(b, _)| b);
        return body.trim().to_string();
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_goes_in_the_configured_field() {
        let mut body = json!({"messages": []});
        put(&mut body, &["grammar".to_string()], json!("g1"));
        assert_eq!(body["grammar"], "g1");
        let nested: Vec<String> = "structured_outputs.grammar"
            .split('.')
            .map(str::to_string)
            .collect();
        put(&mut body, &nested, json!("g2"));
        assert_eq!(body["structured_outputs"]["grammar"], "g2");
        assert_eq!(body["grammar"], "g1");
    }

    #[test]
    fn only_a_refusal_naming_the_field_turns_the_grammar_off() {
        let mut cfg = LlmConfig {
            api_grammar_field: "structured_outputs.grammar".into(),
            ..LlmConfig::default()
        };
        let api = OpenAi::new(&cfg).unwrap();
        assert!(api.names_grammar("unknown field `grammar`"));
        assert!(api.names_grammar("Unrecognized request argument supplied: grammar"));
        assert!(!api.names_grammar("Requested tokens (5000) exceed context window of 4096"));
        cfg.api_grammar_field = "guided_grammar".into();
        let api = OpenAi::new(&cfg).unwrap();
        assert!(api.names_grammar("extra fields not permitted: guided_grammar"));
    }

    #[test]
    fn code_fences_are_removed() {
        assert_eq!(strip_fences("```sql\nSELECT 1\n```"), "SELECT 1");
        assert_eq!(strip_fences("```\nSELECT 1\n```\n"), "SELECT 1");
        assert_eq!(strip_fences(" SELECT 1 "), "SELECT 1");
    }
}
