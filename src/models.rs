//! `pgask models`: which model files the config needs and whether they are there (`list`), and
//! downloading the defaults from the Hugging Face hub (`fetch`): resumable (`.part` files and
//! HTTP ranges), checked against the SHA-256 the hub publishes for large files, with a progress
//! bar on a terminal. Offline, it says which files to put where by hand.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::Config;

/// A download or check failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    #[error("cannot download {url}: {reason}\n{manual}")]
    Download {
        url: String,
        reason: String,
        manual: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: checksum mismatch (expected sha256 {expected}, got {got}); the file was removed, run `pgask models fetch` again")]
    Checksum {
        path: PathBuf,
        expected: String,
        got: String,
    },
}

/// One file a configured model needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFile {
    /// What it is for.
    pub role: &'static str,
    /// Hugging Face repository and file name in it.
    pub repo: &'static str,
    pub file: &'static str,
    /// Where the config wants it.
    pub dest: PathBuf,
}

/// The default LLM (a GGUF for llama.cpp) and its repository.
pub const DEFAULT_LLM: (&str, &str) = (
    "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
);
/// The default sentence embedder.
pub const DEFAULT_EMBEDDER: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// The files the config needs: the LLM at `llm.model`, the embedder in
/// `retrieval.embedder_dir`.
pub fn needed(config: &Config) -> Vec<ModelFile> {
    let mut out = vec![ModelFile {
        role: "LLM (GGUF)",
        repo: DEFAULT_LLM.0,
        file: DEFAULT_LLM.1,
        dest: config.llm.model.clone(),
    }];
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        out.push(ModelFile {
            role: "embedder",
            repo: DEFAULT_EMBEDDER,
            file,
            dest: config.retrieval.embedder_dir.join(file),
        });
    }
    out
}

/// The hub's address (`HF_ENDPOINT`, as the hub's own tools read it).
pub fn endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .unwrap_or_else(|_| "https://huggingface.co".into())
        .trim_end_matches('/')
        .to_string()
}

fn url(f: &ModelFile) -> String {
    format!("{}/{}/resolve/main/{}", endpoint(), f.repo, f.file)
}

/// The instructions for filling the model directory by hand.
fn manual(files: &[ModelFile]) -> String {
    let mut s = String::from(
        "Without network access, download these files elsewhere and put them in place by hand:\n",
    );
    for f in files {
        s.push_str(&format!("  {}\n    -> {}\n", url(f), f.dest.display()));
    }
    s.push_str("(or point llm.model and retrieval.embedder_dir at copies you already have)");
    s
}

/// An error with its causes ("error sending request: … : connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// Hex SHA-256 of a file.
pub fn sha256(path: &Path) -> Result<String, ModelsError> {
    let io = |source| ModelsError::Io {
        path: path.into(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// `pgask models list`: one line per file: role, present or not, size, SHA-256, path.
pub fn list(config: &Config) -> Result<String, ModelsError> {
    let mut out = String::new();
    for f in needed(config) {
        let line = match std::fs::metadata(&f.dest) {
            Ok(m) => format!(
                "{:<11} present  {:>12} bytes  sha256 {}  {}",
                f.role,
                m.len(),
                sha256(&f.dest)?,
                f.dest.display()
            ),
            Err(_) => format!(
                "{:<11} MISSING  {}  (from {}/{})",
                f.role,
                f.dest.display(),
                f.repo,
                f.file
            ),
        };
        out.push_str(line.trim_end());
        out.push('\n');
    }
    Ok(out)
}

/// `pgask models fetch`: downloads every missing file. Returns the paths written.
pub async fn fetch(config: &Config, progress: bool) -> Result<Vec<PathBuf>, ModelsError> {
    let files: Vec<ModelFile> = needed(config)
        .into_iter()
        .filter(|f| !f.dest.is_file())
        .collect();
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| ModelsError::Client(e.to_string()))?;
    let no_redirect = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ModelsError::Client(e.to_string()))?;
    let mut written = Vec::new();
    for f in &files {
        download(&client, &no_redirect, f, &files, progress).await?;
        written.push(f.dest.clone());
    }
    Ok(written)
}

async fn download(
    client: &reqwest::Client,
    no_redirect: &reqwest::Client,
    f: &ModelFile,
    all: &[ModelFile],
    progress: bool,
) -> Result<(), ModelsError> {
    let url = url(f);
    let fail = |reason: String| ModelsError::Download {
        url: url.clone(),
        reason,
        manual: manual(all),
    };
    // The hub names a large file's SHA-256 in X-Linked-Etag before redirecting to its store.
    let head = no_redirect
        .head(&url)
        .send()
        .await
        .map_err(|e| fail(chain(&e)))?;
    if head.status().is_client_error() || head.status().is_server_error() {
        return Err(fail(format!("HTTP {}", head.status())));
    }
    let expected = ["x-linked-etag", "etag"]
        .iter()
        .filter_map(|h| head.headers().get(*h)?.to_str().ok())
        .map(|v| v.trim_start_matches("W/").trim_matches('"').to_lowercase())
        .find(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ModelsError::Io { path, source }
    };
    if let Some(dir) = f.dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let part = PathBuf::from(format!("{}.part", f.dest.display()));
    let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let mut req = client.get(&url);
    if have > 0 {
        req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let mut resp = req.send().await.map_err(|e| fail(chain(&e)))?;
    if !resp.status().is_success() {
        return Err(fail(format!("HTTP {}", resp.status())));
    }
    let resumed = resp.status() == reqwest::StatusCode::PARTIAL_CONTENT;
    let start = if resumed { have } else { 0 };
    let total = resp.content_length().map(|n| n + start);
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(&part)
        .map_err(io(&part))?;
    let bar = if progress {
        indicatif::ProgressBar::new(total.unwrap_or(0))
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(f.file.to_string());
    bar.set_position(start);
    while let Some(chunk) = resp.chunk().await.map_err(|e| fail(chain(&e)))? {
        out.write_all(&chunk).map_err(io(&part))?;
        bar.inc(chunk.len() as u64);
    }
    out.flush().map_err(io(&part))?;
    drop(out);
    bar.finish_and_clear();
    if let Some(expected) = expected {
        let got = sha256(&part)?;
        if got != expected {
            let _ = std::fs::remove_file(&part);
            return Err(ModelsError::Checksum {
                path: f.dest.clone(),
                expected,
                got,
            });
        }
    }
    std::fs::rename(&part, &f.dest).map_err(io(&f.dest))?;
    Ok(())
}
