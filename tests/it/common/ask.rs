//! Helpers of the ask tests: a proxy with a scripted LLM over chinook, and the extended-protocol
//! messages a driver would send.

use pgask::ask::generate::backend::Backend;
use pgask::ask::generate::supervisor::Request;
use pgask::net::messages::{cstring, write_message};

use super::raw::messages;
use super::{data, Cluster, Proxy};

/// A proxy in front of the shared cluster with chinook loaded, answering with `script`.
pub async fn proxy(
    script: &[&str],
    edit: impl FnOnce(&mut pgask::config::Config),
) -> Option<(Proxy, String)> {
    proxy_with(Backend::scripted(script.iter().copied()), edit).await
}

/// The same with any backend.
pub async fn proxy_with(
    backend: Backend,
    edit: impl FnOnce(&mut pgask::config::Config),
) -> Option<(Proxy, String)> {
    let cluster = Cluster::shared();
    let db = data::dataset(cluster, "chinook")?;
    let embedder = data::embedder()?;
    let cache = tempfile::tempdir().unwrap().keep();
    super::cluster::remove_at_exit(cache.clone());
    let p = Proxy::start_with(cluster, |c| {
        c.retrieval.embedder_dir = embedder;
        c.retrieval.cache_dir = cache;
        edit(c);
    })
    .await;
    p.shared.asker.as_ref().unwrap().set_backend(backend);
    Some((p, db))
}

/// The requests a scripted backend has received so far (none from any other backend).
pub fn requests(p: &Proxy) -> Vec<Request> {
    match &*p.shared.asker.as_ref().unwrap().backend() {
        Backend::Scripted(s) => s.requests(),
        _ => vec![],
    }
}

/// A request's prompt: its messages' text, one after another.
pub fn prompt(r: &Request) -> String {
    r.messages
        .iter()
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The real llama.cpp path: `model` in the supervised worker (the test binary's own pgask),
/// 2 threads, with a context of `context` tokens.
pub fn llama(model: std::path::PathBuf, context: u32) -> Backend {
    use pgask::ask::generate::supervisor::{Supervisor, WorkerSpec};
    Backend::Llama(Box::new(Supervisor::new(WorkerSpec {
        program: env!("CARGO_BIN_EXE_pgask").into(),
        model,
        threads: 2,
        context,
        chat_template: "auto".into(),
        top_k: 40,
        load_timeout: std::time::Duration::from_secs(120),
    })))
}

/// The texts of every message with this tag (NOTICE and ErrorResponse fields run together).
pub fn texts(bytes: &[u8], tag: u8) -> Vec<String> {
    messages(bytes)
        .into_iter()
        .filter(|(t, _)| *t == tag)
        .map(|(_, b)| String::from_utf8_lossy(&b[5..]).into_owned())
        .collect()
}

/// The first column of every DataRow.
pub fn first_column(bytes: &[u8]) -> Vec<String> {
    messages(bytes)
        .into_iter()
        .filter(|(t, _)| *t == b'D')
        .map(|(_, b)| {
            let len = i32::from_be_bytes(b[7..11].try_into().unwrap()) as usize;
            String::from_utf8_lossy(&b[11..11 + len]).into_owned()
        })
        .collect()
}

/// The column names of the first RowDescription.
pub fn column_names(bytes: &[u8]) -> Vec<String> {
    let Some((_, m)) = messages(bytes).into_iter().find(|(t, _)| *t == b'T') else {
        return vec![];
    };
    let n = u16::from_be_bytes([m[5], m[6]]) as usize;
    let mut rest = &m[7..];
    let mut out = Vec::new();
    for _ in 0..n {
        let end = rest.iter().position(|&b| b == 0).unwrap();
        out.push(String::from_utf8_lossy(&rest[..end]).into_owned());
        rest = &rest[end + 1 + 18..];
    }
    out
}

/// The tags of the messages, as characters.
pub fn tags(bytes: &[u8]) -> String {
    messages(bytes).iter().map(|(t, _)| *t as char).collect()
}

pub fn parse(statement: &str, sql: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_message(&mut out, b'P', |b| {
        cstring(b, statement);
        cstring(b, sql);
        b.extend_from_slice(&0u16.to_be_bytes());
    });
    out
}

pub fn bind(portal: &str, statement: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_message(&mut out, b'B', |b| {
        cstring(b, portal);
        cstring(b, statement);
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    });
    out
}

/// Describe of a statement (`S`) or portal (`P`).
pub fn describe(kind: u8, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_message(&mut out, b'D', |b| {
        b.push(kind);
        cstring(b, name);
    });
    out
}

pub fn execute(portal: &str) -> Vec<u8> {
    execute_rows(portal, 0)
}

/// Execute asking for at most `max_rows` rows (0: all).
pub fn execute_rows(portal: &str, max_rows: u32) -> Vec<u8> {
    let mut out = Vec::new();
    write_message(&mut out, b'E', |b| {
        cstring(b, portal);
        b.extend_from_slice(&max_rows.to_be_bytes());
    });
    out
}

pub fn close(kind: u8, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_message(&mut out, b'C', |b| {
        b.push(kind);
        cstring(b, name);
    });
    out
}

pub fn sync() -> Vec<u8> {
    vec![b'S', 0, 0, 0, 4]
}

pub fn flush() -> Vec<u8> {
    vec![b'H', 0, 0, 0, 4]
}
