//! A raw protocol client: sends bytes it builds itself and records every byte the server sends,
//! so the same conversation can be compared directly and through pgask.

use std::time::Duration;

use pgask::net::frame::StreamScanner;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct RawClient {
    pub stream: TcpStream,
    /// Everything the server sent during startup (authentication to the first ReadyForQuery).
    pub startup_response: Vec<u8>,
}

/// Appends one message with a type byte.
pub fn msg(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
}

pub fn startup_packet(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

pub fn query(sql: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut body = sql.as_bytes().to_vec();
    body.push(0);
    msg(&mut out, b'Q', &body);
    out
}

impl RawClient {
    /// Connects as a trust user and reads the startup response to the first ReadyForQuery.
    pub async fn connect(port: u16, user: &str, db: &str) -> RawClient {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        stream.set_nodelay(true).unwrap();
        stream
            .write_all(&startup_packet(&[
                ("user", user),
                ("database", db),
                ("application_name", "raw"),
            ]))
            .await
            .unwrap();
        let mut client = RawClient {
            stream,
            startup_response: Vec::new(),
        };
        client.startup_response = client.read_until_ready(1).await.expect("startup response");
        client
    }

    /// Sends `bytes` and returns what the server answers up to the `readies`-th ReadyForQuery.
    pub async fn exchange(&mut self, bytes: &[u8], readies: usize) -> Result<Vec<u8>, String> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| e.to_string())?;
        self.read_until_ready(readies).await
    }

    /// Reads until `readies` ReadyForQuery messages have arrived (10 s at most between reads).
    pub async fn read_until_ready(&mut self, readies: usize) -> Result<Vec<u8>, String> {
        self.read_until_ready_within(readies, Duration::from_secs(10))
            .await
    }

    /// The same with another bound on the wait for each read.
    pub async fn read_until_ready_within(
        &mut self,
        readies: usize,
        wait: Duration,
    ) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let mut scanner = StreamScanner::default();
        let mut seen = 0;
        let mut buf = vec![0u8; 64 * 1024];
        while seen < readies {
            let n = tokio::time::timeout(wait, self.stream.read(&mut buf))
                .await
                .map_err(|_| {
                    format!(
                        "timed out after {seen} ReadyForQuery; got {} bytes: {}",
                        out.len(),
                        String::from_utf8_lossy(&out[..out.len().min(3000)])
                    )
                })?
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(format!("connection closed after {seen} ReadyForQuery"));
            }
            scanner
                .feed(&buf[..n], |s| seen += usize::from(s.header.tag == b'Z'))
                .map_err(|e| e.to_string())?;
            out.extend_from_slice(&buf[..n]);
        }
        Ok(out)
    }

    /// Reads until a message of type `tag` has arrived, without sending anything (`wait` at most
    /// between reads): for answers that must come before the client's next message.
    pub async fn read_until_tag(&mut self, tag: u8, wait: Duration) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let mut scanner = StreamScanner::default();
        let mut found = false;
        let mut buf = vec![0u8; 64 * 1024];
        while !found {
            let n = tokio::time::timeout(wait, self.stream.read(&mut buf))
                .await
                .map_err(|_| {
                    format!(
                        "no {:?} within {wait:?}; got {} bytes: {}",
                        tag as char,
                        out.len(),
                        String::from_utf8_lossy(&out[..out.len().min(3000)])
                    )
                })?
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(format!("connection closed before {:?}", tag as char));
            }
            scanner
                .feed(&buf[..n], |s| found |= s.header.tag == tag)
                .map_err(|e| e.to_string())?;
            out.extend_from_slice(&buf[..n]);
        }
        Ok(out)
    }

    /// Reads whatever arrives until the server closes the connection (5 s at most).
    pub async fn read_to_close(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(5), self.stream.read_to_end(&mut out)).await;
        out
    }
}

/// Splits a response into messages (type byte, whole message bytes).
pub fn messages(bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 5 {
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let total = (1 + len).min(rest.len());
        out.push((rest[0], &rest[..total]));
        rest = &rest[total..];
    }
    out
}

/// The SQLSTATE of the first ErrorResponse in `bytes`.
pub fn sqlstate(bytes: &[u8]) -> Option<String> {
    let (_, m) = messages(bytes).into_iter().find(|(t, _)| *t == b'E')?;
    m[5..]
        .split(|&b| b == 0)
        .find(|f| f.first() == Some(&b'C'))
        .map(|f| String::from_utf8_lossy(&f[1..]).into_owned())
}
