//! A real OpenAI-compatible inference server for the `backend = "openai"` tests:
//! llama-cpp-python's server (`python3 -m llama_cpp.server`, installed by `.ci/run`) serving the
//! trained Gemma 3 270M (`PGASK_REAL_MODEL`, fetched by `.ci/fetch-model`) on loopback, started
//! and stopped here like the PostgreSQL clusters. In front of it, a recording relay: every
//! request body pgask sends is kept for the test, and the relay can refuse requests that carry a
//! `grammar` (HTTP 400, as a server that does not know the field would) while everything else
//! is answered by the real server.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The trained model, or `None` (skipped outside CI, a failure under CI=true).
pub fn real_model() -> Option<PathBuf> {
    match std::env::var_os("PGASK_REAL_MODEL").map(PathBuf::from) {
        Some(p) if p.is_file() => Some(p),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "PGASK_REAL_MODEL is not a file; .ci/run must fetch the model (.ci/fetch-model)"
            );
            eprintln!("skipping: set PGASK_REAL_MODEL to the Gemma GGUF (.ci/fetch-model)");
            None
        }
    }
}

/// A running llama-cpp-python server.
pub struct LlmServer {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl LlmServer {
    /// Starts the server on a free loopback port and waits until it answers; `None` when the
    /// server package or the model is missing (skipped outside CI, a failure under CI=true).
    pub async fn start() -> Option<LlmServer> {
        let model = real_model()?;
        if !super::runtime_present("python3", &["-c", "import llama_cpp.server"]) {
            return None;
        }
        // A free port can be taken by a parallel test before the server binds it: try another.
        for _ in 0..3 {
            if let Some(server) = Self::start_on(&model, super::cluster::free_port()).await {
                return Some(server);
            }
        }
        panic!("llama_cpp.server did not start on three ports");
    }

    /// Starts the server on `port`; `None` if it exited because the port was taken.
    async fn start_on(model: &std::path::Path, port: u16) -> Option<LlmServer> {
        let log = std::env::temp_dir().join(format!("pgask-llm-server-{port}.log"));
        super::cluster::remove_at_exit(log.clone());
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("python3")
            .args(["-m", "llama_cpp.server", "--model"])
            .arg(model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            // Gemma 3 270M is a base model without a chat template in its metadata.
            .args([
                "--chat_format",
                "chatml",
                "--n_ctx",
                "4096",
                "--n_threads",
                "2",
            ])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start llama_cpp.server");
        let mut server = LlmServer { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = server.log_text();
                if log.contains("address already in use") {
                    return None;
                }
                panic!("llama_cpp.server exited ({status}):\n{log}");
            }
            if get(port, "/v1/models")
                .await
                .is_some_and(|r| r.contains("200 OK"))
            {
                return Some(server);
            }
            assert!(
                Instant::now() < deadline,
                "llama_cpp.server did not answer within 120 s:\n{}",
                server.log_text()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the server at once (a crash, as far as its clients can tell).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A plain HTTP GET on loopback; the whole response, or `None`.
async fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// POSTs a JSON body on loopback and returns the response's JSON body.
pub async fn post_json(port: u16, path: &str, body: &serde_json::Value) -> serde_json::Value {
    let text = body.to_string();
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), s.read_to_end(&mut out))
        .await
        .expect("answer within 120 s")
        .unwrap();
    let out = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.contains(" 200 "), "{head}\n{body}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

type Exchanges = Arc<Mutex<Vec<(serde_json::Value, Option<serde_json::Value>)>>>;

/// A recording relay in front of a server: keeps every request body, forwards it, and passes
/// the answer back (one request per connection, as reqwest's pooled connections are closed by
/// the `connection: close` the relay adds).
pub struct Relay {
    pub port: u16,
    /// Each request body, with the server's answer body once it came.
    exchanges: Exchanges,
    /// Answer requests that carry `grammar` with HTTP 400 instead of forwarding them.
    pub refuse_grammar: Arc<AtomicBool>,
    /// Set when a request has been forwarded and no answer has come back yet.
    pub in_flight: Arc<AtomicBool>,
}

impl Relay {
    pub async fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = Relay {
            port,
            exchanges: Arc::default(),
            refuse_grammar: Arc::default(),
            in_flight: Arc::default(),
        };
        let (bodies, refuse, in_flight) = (
            relay.exchanges.clone(),
            relay.refuse_grammar.clone(),
            relay.in_flight.clone(),
        );
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let (bodies, refuse, in_flight) =
                    (bodies.clone(), refuse.clone(), in_flight.clone());
                tokio::spawn(async move {
                    let _ = relay_one(s, upstream, bodies, refuse, in_flight).await;
                });
            }
        });
        relay
    }

    /// The request bodies pgask sent, in order.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        let ex = self.exchanges.lock().unwrap();
        ex.iter().map(|(b, _)| b.clone()).collect()
    }

    /// The server's answer to each request (`Null` where none came), in the same order.
    pub fn answers(&self) -> Vec<serde_json::Value> {
        let ex = self.exchanges.lock().unwrap();
        ex.iter()
            .map(|(_, a)| a.clone().unwrap_or_default())
            .collect()
    }
}

async fn relay_one(
    mut s: TcpStream,
    upstream: u16,
    bodies: Exchanges,
    refuse: Arc<AtomicBool>,
    in_flight: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let Some((buf, head_end)) = read_request(&mut s).await else {
        return Ok(());
    };
    let body: serde_json::Value = serde_json::from_slice(&buf[head_end..]).unwrap_or_default();
    let has_grammar = body.get("grammar").is_some();
    let index = {
        let mut ex = bodies.lock().unwrap();
        ex.push((body, None));
        ex.len() - 1
    };
    if has_grammar && refuse.load(Ordering::Acquire) {
        let text = r#"{"error":{"message":"Unrecognized request argument supplied: grammar","type":"invalid_request_error"}}"#;
        let resp = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
            text.len()
        );
        return s.write_all(resp.as_bytes()).await;
    }
    // Forward with `connection: close` so the answer ends with the server's close.
    let mut out = close_after(&buf[..head_end]);
    out.extend_from_slice(&buf[head_end..]);
    let mut up = TcpStream::connect(("127.0.0.1", upstream)).await?;
    up.write_all(&out).await?;
    in_flight.store(true, Ordering::Release);
    let mut answer = Vec::new();
    let read = up.read_to_end(&mut answer).await;
    in_flight.store(false, Ordering::Release);
    read?;
    // A server that died mid-answer: the client sees its connection close too.
    if answer.is_empty() {
        return Ok(());
    }
    // And tell the client the same, so it never reuses this connection.
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return s.write_all(&answer).await;
    };
    let json = serde_json::from_slice(&answer[end + 4..]).ok();
    bodies.lock().unwrap()[index].1 = json;
    let mut back = close_after(&answer[..end + 4]);
    back.extend_from_slice(&answer[end + 4..]);
    s.write_all(&back).await
}

/// Reads one HTTP request with a Content-Length body: the bytes and where the body starts;
/// `None` if the connection closed first.
pub async fn read_request(s: &mut TcpStream) -> Option<(Vec<u8>, usize)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let (head_end, length) = loop {
        let n = s.read(&mut chunk).await.ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (i + 4, len);
        }
    };
    while buf.len() < head_end + length {
        let n = s.read(&mut chunk).await.ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.truncate(head_end + length);
    Some((buf, head_end))
}

/// An HTTP head (ending with the blank line) with `connection: close` instead of its own.
fn close_after(head: &[u8]) -> Vec<u8> {
    let head = String::from_utf8_lossy(&head[..head.len() - 4]).into_owned();
    let mut lines: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.to_lowercase().starts_with("connection:"))
        .collect();
    lines.push("connection: close");
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    out
}
