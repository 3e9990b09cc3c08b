//! Differential tests: each case of `tests/differential/cases.jsonl` is sent as raw protocol
//! messages directly to PostgreSQL and through pgask, and the response bytes must be identical,
//! except BackendKeyData (pgask's own) and the sender pid inside NotificationResponse (each run
//! has its own backend).

use crate::common;

use common::raw::{messages, msg, RawClient};
use common::{Cluster, Proxy};
use serde_json::Value;

/// Encodes one case message from its JSON form (format: tests/differential/README.md).
fn encode(m: &Value, out: &mut Vec<u8>) {
    let (tag, v) = m
        .as_object()
        .and_then(|o| o.iter().next())
        .expect("one-key message");
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let list = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut body = Vec::new();
    let cstr = |b: &mut Vec<u8>, t: &str| {
        b.extend_from_slice(t.as_bytes());
        b.push(0);
    };
    let i16s = |b: &mut Vec<u8>, xs: &[Value]| {
        b.extend_from_slice(&(xs.len() as i16).to_be_bytes());
        for x in xs {
            b.extend_from_slice(&(x.as_i64().unwrap() as i16).to_be_bytes());
        }
    };
    let params = |b: &mut Vec<u8>, formats: &[Value], xs: &[Value]| {
        b.extend_from_slice(&(xs.len() as i16).to_be_bytes());
        for (i, x) in xs.iter().enumerate() {
            let fmt = match formats.len() {
                0 => 0,
                1 => formats[0].as_i64().unwrap(),
                _ => formats[i].as_i64().unwrap(),
            };
            match x.as_str() {
                None => b.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(t) => {
                    let bytes = if fmt == 1 {
                        hex(t)
                    } else {
                        t.as_bytes().to_vec()
                    };
                    b.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                    b.extend(bytes);
                }
            }
        }
    };
    let t = tag.as_bytes()[0];
    match t {
        b'Q' => cstr(&mut body, v.as_str().unwrap()),
        b'P' => {
            cstr(&mut body, &s(v, "name"));
            cstr(&mut body, &s(v, "sql"));
            let types = list(v, "types");
            body.extend_from_slice(&(types.len() as i16).to_be_bytes());
            for ty in types {
                body.extend_from_slice(&(ty.as_u64().unwrap() as u32).to_be_bytes());
            }
        }
        b'B' => {
            cstr(&mut body, &s(v, "portal"));
            cstr(&mut body, &s(v, "stmt"));
            let formats = list(v, "param_formats");
            i16s(&mut body, &formats);
            params(&mut body, &formats, &list(v, "params"));
            i16s(&mut body, &list(v, "result_formats"));
        }
        b'D' | b'C' => {
            body.push(s(v, "kind").as_bytes()[0]);
            cstr(&mut body, &s(v, "name"));
        }
        b'E' => {
            cstr(&mut body, &s(v, "portal"));
            body.extend_from_slice(
                &(v.get("max_rows").and_then(Value::as_i64).unwrap_or(0) as i32).to_be_bytes(),
            );
        }
        b'S' | b'H' | b'c' => {}
        b'd' => body.extend_from_slice(v.as_str().unwrap().as_bytes()),
        b'f' => cstr(&mut body, v.as_str().unwrap()),
        b'F' => {
            body.extend_from_slice(&(v["oid"].as_u64().unwrap() as u32).to_be_bytes());
            let formats = list(v, "arg_formats");
            i16s(&mut body, &formats);
            params(&mut body, &formats, &list(v, "args"));
            body.extend_from_slice(
                &(v.get("result_format").and_then(Value::as_i64).unwrap_or(0) as i16).to_be_bytes(),
            );
        }
        other => panic!("unknown message type {:?}", other as char),
    }
    msg(out, t, &body);
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex param"))
        .collect()
}

/// Drops BackendKeyData and masks the pid of NotificationResponse.
fn normalise(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (tag, m) in messages(bytes) {
        match tag {
            b'K' => {}
            b'A' if m.len() >= 9 => {
                out.extend_from_slice(&m[..5]);
                out.extend_from_slice(&[0; 4]);
                out.extend_from_slice(&m[9..]);
            }
            _ => out.extend_from_slice(m),
        }
    }
    out
}

/// Where two responses first differ, for the failure message.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let i = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let show = |x: &[u8]| {
        String::from_utf8_lossy(&x[i.saturating_sub(40)..(i + 40).min(x.len())]).into_owned()
    };
    format!(
        "at byte {i} (lengths {} vs {}):\n  direct: {:?}\n  pgask:  {:?}",
        a.len(),
        b.len(),
        show(a),
        show(b)
    )
}

/// What a case does on its connection, in order.
enum Step {
    /// Send these messages.
    Send(Vec<u8>),
    /// Read until a message of this type arrives, sending nothing meanwhile.
    Await(u8),
    /// Read until this many ReadyForQuery have arrived.
    Ready(usize),
    /// Read until the server closes the connection.
    Close,
}

/// The steps of a case: messages are sent in runs; `{"await": "T"}` reads until a message of
/// type T arrives before anything more is sent (so an answer that a proxy holds back until the
/// next message shows as a time-out); at the end the runner reads one ReadyForQuery per Q, S and
/// F sent since the last await (or to the close, after Terminate `X`).
fn steps(case: &Value) -> Vec<Step> {
    let mut out = Vec::new();
    let mut bytes = Vec::new();
    let mut readies = 0;
    let mut terminated = false;
    for m in case["msgs"].as_array().unwrap() {
        let key = m.as_object().unwrap().keys().next().unwrap().as_str();
        match key {
            "await" => {
                out.push(Step::Send(std::mem::take(&mut bytes)));
                out.push(Step::Await(m[key].as_str().unwrap().as_bytes()[0]));
            }
            "X" => {
                msg(&mut bytes, b'X', &[]);
                terminated = true;
            }
            _ => {
                encode(m, &mut bytes);
                readies += usize::from(matches!(key, "Q" | "S" | "F"));
            }
        }
    }
    out.push(Step::Send(bytes));
    out.push(if terminated {
        Step::Close
    } else {
        Step::Ready(readies)
    });
    out
}

/// Runs the steps; the bytes received, with what an await read before the rest.
async fn run_steps(c: &mut RawClient, steps: &[Step]) -> Result<Vec<u8>, String> {
    let mut got = Vec::new();
    let mut readies_seen = 0;
    for step in steps {
        match step {
            Step::Send(b) if b.is_empty() => {}
            Step::Send(b) => {
                use tokio::io::AsyncWriteExt;
                c.stream.write_all(b).await.map_err(|e| e.to_string())?;
            }
            Step::Await(tag) => {
                let part = c
                    .read_until_tag(*tag, std::time::Duration::from_secs(3))
                    .await?;
                readies_seen += messages(&part).iter().filter(|(t, _)| *t == b'Z').count();
                got.extend(part);
            }
            Step::Ready(n) => {
                let n = n.saturating_sub(readies_seen);
                got.extend(c.read_until_ready(n).await?);
            }
            Step::Close => got.extend(c.read_to_close().await),
        }
    }
    Ok(got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_is_byte_identical_through_pgask() {
    let cluster = Cluster::shared();
    let db = cluster.create_db("diff");
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/differential/fixture.sql"
    ))
    .unwrap();
    cluster.psql_as("postgres", &db, &fixture);
    let proxy = Proxy::start(cluster).await;
    let cases = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/differential/cases.jsonl"
    ))
    .unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    for line in cases.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).expect("case JSON");
        let name = case["name"].as_str().unwrap().to_string();
        let steps = steps(&case);
        let mut direct = RawClient::connect(cluster.port, "postgres", &db).await;
        let want = run_steps(&mut direct, &steps).await;
        let mut through = RawClient::connect(proxy.port(), "postgres", &db).await;
        let got = run_steps(&mut through, &steps).await;
        count += 1;
        let want = match want {
            Ok(w) => w,
            Err(e) => panic!("case {name} fails directly against PostgreSQL: {e}"),
        };
        if normalise(&direct.startup_response) != normalise(&through.startup_response) {
            failures.push(format!(
                "{name}: startup differs {}",
                first_difference(&direct.startup_response, &through.startup_response)
            ));
        }
        match got {
            Err(e) => failures.push(format!("{name}: through pgask: {e}")),
            Ok(got) if normalise(&got) != normalise(&want) => failures.push(format!(
                "{name}: {}",
                first_difference(&normalise(&want), &normalise(&got))
            )),
            Ok(_) => {}
        }
    }
    assert!(count >= 100, "only {count} differential cases");
    assert!(
        failures.is_empty(),
        "{} of {count} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
