//! `pgask models`: offline it fails fast and says which files go where; against a stand-in hub
//! it downloads, resumes a partial file with an HTTP range, checks the published SHA-256, and
//! `list` shows what is there.

use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn write_config(dir: &Path) -> std::path::PathBuf {
    let cfg = dir.join("pgask.toml");
    std::fs::write(
        &cfg,
        format!(
            "[llm]\nmodel = \"{}\"\n[retrieval]\nembedder_dir = \"{}\"\n",
            dir.join("models/model.gguf").display(),
            dir.join("models/embedder").display()
        ),
    )
    .unwrap();
    cfg
}

async fn pgask(args: &[&str], config: &Path, endpoint: &str) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_pgask"));
    // PGASK_* variables (CI sets PGASK_EMBEDDER_DIR) would override the config file.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PGASK_")) {
        cmd.env_remove(k);
    }
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env("HF_ENDPOINT", endpoint);
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("pgask models finished within a minute")
        .unwrap()
}

fn content(path: &str) -> Vec<u8> {
    (0..150_000u32)
        .map(|i| (i.wrapping_mul(31) ^ path.len() as u32) as u8)
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A stand-in hub: HEAD gives X-Linked-Etag (the SHA-256, or a wrong one when `lie`), GET
/// honours `Range: bytes=N-`. Records each request line with its Range header.
async fn hub(lie: bool) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let first = head.lines().next().unwrap_or("").to_string();
                let path = first.split(' ').nth(1).unwrap_or("/").to_string();
                let range = head
                    .lines()
                    .find_map(|l| {
                        l.to_lowercase()
                            .strip_prefix("range: bytes=")
                            .map(String::from)
                    })
                    .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
                seen.lock()
                    .unwrap()
                    .push(format!("{first} range={range:?}"));
                let body = content(&path);
                let sha = if lie { "0".repeat(64) } else { hex(&body) };
                let resp = if first.starts_with("HEAD") {
                    format!("HTTP/1.1 200 OK\r\nx-linked-etag: \"{sha}\"\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len()).into_bytes()
                } else {
                    let from = range.unwrap_or(0).min(body.len());
                    let status = if range.is_some() {
                        "206 Partial Content"
                    } else {
                        "200 OK"
                    };
                    let mut r = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len() - from
                    )
                    .into_bytes();
                    r.extend_from_slice(&body[from..]);
                    r
                };
                let _ = s.write_all(&resp).await;
            });
        }
    });
    (addr, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_fetch_fails_fast_and_names_the_files_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = pgask(&["models", "fetch"], &cfg, &endpoint).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("by hand"), "{err}");
    assert!(
        err.contains(&dir.path().join("models/model.gguf").display().to_string())
            && err.contains(&dir.path().join("models/embedder").display().to_string()),
        "{err}"
    );
    assert!(
        err.contains("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_resumes_checks_and_list_shows_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let (endpoint, log) = hub(false).await;
    let out = pgask(&["models", "list"], &cfg, &endpoint).await;
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listed.matches("MISSING").count(), 4, "{listed}");
    // Half of the GGUF is already there from an interrupted download.
    let gguf_path = "/Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/resolve/main/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";
    let full = content(gguf_path);
    std::fs::create_dir_all(dir.path().join("models")).unwrap();
    std::fs::write(dir.path().join("models/model.gguf.part"), &full[..60_000]).unwrap();
    let out = pgask(&["models", "fetch"], &cfg, &endpoint).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(dir.path().join("models/model.gguf")).unwrap(),
        full
    );
    assert!(!dir.path().join("models/model.gguf.part").exists());
    assert!(dir
        .path()
        .join("models/embedder/model.safetensors")
        .is_file());
    let requests = log.lock().unwrap().clone();
    assert!(
        requests.iter().any(|r| r.starts_with("GET")
            && r.contains("q4_k_m.gguf")
            && r.ends_with("range=Some(60000)")),
        "{requests:#?}"
    );
    let out = pgask(&["models", "list"], &cfg, &endpoint).await;
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(!listed.contains("MISSING"), "{listed}");
    assert!(listed.contains(&hex(&full)), "{listed}");
    // Everything present: nothing to do.
    let out = pgask(&["models", "fetch"], &cfg, &endpoint).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("already in place"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_checksum_is_an_error_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let (endpoint, _) = hub(true).await;
    let out = pgask(&["models", "fetch"], &cfg, &endpoint).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum mismatch"));
    assert!(!dir.path().join("models/model.gguf").exists());
    assert!(!dir.path().join("models/model.gguf.part").exists());
}
