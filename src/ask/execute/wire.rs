//! The protocol messages an ask writes (NOTICE, RowDescription, DataRow, CommandComplete,
//! ReadyForQuery; Query and the extended-query messages it sends upstream) and the server
//! messages it reads (ErrorResponse fields, CommandComplete tags).

use crate::net::messages::{cstring, write_message};

/// A NoticeResponse at NOTICE level.
pub fn notice(text: &str) -> Vec<u8> {
    notice_with_hint(text, None)
}

/// A NOTICE with a HINT field (psql prints it on its own `HINT:` line).
pub fn notice_with_hint(text: &str, hint: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    write_message(&mut out, b'N', |b| {
        for (f, v) in [
            (b'S', "NOTICE"),
            (b'V', "NOTICE"),
            (b'C', "00000"),
            (b'M', text),
        ] {
            b.push(f);
            cstring(b, v);
        }
        if let Some(h) = hint {
            b.push(b'H');
            cstring(b, h);
        }
        b.push(0);
    });
    out
}

/// A RowDescription of text columns.
pub fn row_description(names: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    write_message(&mut out, b'T', |b| {
        b.extend_from_slice(&(names.len() as u16).to_be_bytes());
        for n in names {
            cstring(b, n);
            b.extend_from_slice(&0u32.to_be_bytes()); // table oid
            b.extend_from_slice(&0u16.to_be_bytes()); // column number
            b.extend_from_slice(&25u32.to_be_bytes()); // text
            b.extend_from_slice(&(-1i16).to_be_bytes());
            b.extend_from_slice(&(-1i32).to_be_bytes());
            b.extend_from_slice(&0u16.to_be_bytes()); // text format
        }
    });
    out
}

/// A DataRow of text values.
pub fn data_row(values: &[Option<&str>]) -> Vec<u8> {
    let mut out = Vec::new();
    write_message(&mut out, b'D', |b| {
        b.extend_from_slice(&(values.len() as u16).to_be_bytes());
        for v in values {
            match v {
                None => b.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(v) => {
                    b.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    b.extend_from_slice(v.as_bytes());
                }
            }
        }
    });
    out
}

pub fn command_complete(tag: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_message(&mut out, b'C', |b| cstring(b, tag));
    out
}

pub fn ready_for_query(status: u8) -> Vec<u8> {
    vec![b'Z', 0, 0, 0, 5, status]
}

/// A simple Query.
pub fn query(sql: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_message(&mut out, b'Q', |b| cstring(b, sql));
    out
}

/// Parse, Bind, Describe (portal), Execute with a row limit, Sync: one unnamed portal.
pub fn run_portal(sql: &str, max_rows: u32) -> Vec<u8> {
    let mut out = Vec::new();
    write_message(&mut out, b'P', |b| {
        cstring(b, "");
        cstring(b, sql);
        b.extend_from_slice(&0u16.to_be_bytes());
    });
    write_message(&mut out, b'B', |b| {
        cstring(b, "");
        cstring(b, "");
        b.extend_from_slice(&0u16.to_be_bytes()); // parameter formats
        b.extend_from_slice(&0u16.to_be_bytes()); // parameters
        b.extend_from_slice(&0u16.to_be_bytes()); // result formats: all text
    });
    write_message(&mut out, b'D', |b| {
        b.push(b'P');
        cstring(b, "");
    });
    out.extend_from_slice(&execute(b"", max_rows));
    write_message(&mut out, b'S', |_| {});
    out
}

/// Execute of `portal`, at most `max_rows` rows (0: all).
pub fn execute(portal: &[u8], max_rows: u32) -> Vec<u8> {
    let mut out = Vec::new();
    write_message(&mut out, b'E', |b| {
        b.extend_from_slice(portal);
        b.push(0);
        b.extend_from_slice(&max_rows.to_be_bytes());
    });
    out
}

/// An error the server reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerError {
    pub sqlstate: String,
    pub message: String,
    pub position: Option<usize>,
    pub hint: Option<String>,
    pub detail: Option<String>,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.sqlstate)
    }
}

/// The fields of an ErrorResponse body.
pub fn server_error(body: &[u8]) -> ServerError {
    let mut e = ServerError::default();
    for field in body.split(|b| *b == 0) {
        let Some((&code, value)) = field.split_first() else {
            continue;
        };
        let value = String::from_utf8_lossy(value).into_owned();
        match code {
            b'C' => e.sqlstate = value,
            b'M' => e.message = value,
            b'P' => e.position = value.parse().ok(),
            b'H' => e.hint = Some(value),
            b'D' => e.detail = Some(value),
            _ => {}
        }
    }
    e
}

/// The text of a CommandComplete body.
pub fn tag(body: &[u8]) -> String {
    String::from_utf8_lossy(body.strip_suffix(&[0]).unwrap_or(body)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_fields_round_trip() {
        let e = crate::net::messages::ErrorResponse::new(
            crate::net::messages::Severity::Error,
            "42703",
            "column \"x\" does not exist",
        )
        .hint("try y")
        .encode();
        let parsed = server_error(&e[5..]);
        assert_eq!(parsed.sqlstate, "42703");
        assert_eq!(parsed.message, "column \"x\" does not exist");
        assert_eq!(parsed.hint.as_deref(), Some("try y"));
    }

    #[test]
    fn lengths_are_right() {
        for m in [
            notice("hi"),
            row_description(&["a", "b"]),
            data_row(&[Some("1"), None]),
            run_portal("SELECT 1", 5),
        ] {
            let mut rest = &m[..];
            while !rest.is_empty() {
                let h = crate::net::frame::Header::read(rest).unwrap().unwrap();
                rest = &rest[h.total()..];
            }
        }
    }
}
