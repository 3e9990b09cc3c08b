//! The few server messages pgask writes or reads itself: ErrorResponse (with a named constructor
//! per SQLSTATE it uses), BackendKeyData, and the SASL mechanism list it must edit during
//! authentication. Everything else passes as raw bytes.

use super::startup::CancelKey;

/// A server message that pgask had to read but could not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("malformed {0} message from the server")]
    Malformed(&'static str),
}

/// Appends a message with a type byte, computing its length.
pub fn write_message(out: &mut Vec<u8>, tag: u8, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.push(tag);
    out.extend_from_slice(&[0; 4]);
    body(out);
    let len = (out.len() - start - 1) as u32;
    out[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
}

pub fn cstring(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

/// Severity of an error pgask raises: FATAL ends the connection, ERROR ends the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Fatal,
}

/// An ErrorResponse built by pgask itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    pub severity: Severity,
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl ErrorResponse {
    pub fn new(severity: Severity, code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorResponse {
            severity,
            code: code.into(),
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// 08P01: the client broke the protocol.
    pub fn protocol_violation(message: impl Into<String>) -> Self {
        Self::new(Severity::Fatal, "08P01", message)
    }

    /// 08001: pgask could not reach the upstream server.
    pub fn cannot_connect(message: impl Into<String>) -> Self {
        Self::new(Severity::Fatal, "08001", message)
    }

    /// 08006: the upstream connection failed after it was established.
    pub fn connection_failure(message: impl Into<String>) -> Self {
        Self::new(Severity::Fatal, "08006", message)
    }

    /// 57P01: pgask is shutting down.
    pub fn admin_shutdown() -> Self {
        Self::new(
            Severity::Fatal,
            "57P01",
            "terminating connection due to administrator command",
        )
        .detail("pgask is shutting down")
    }

    /// 53300: the connection cap is reached.
    pub fn too_many_connections(max: usize) -> Self {
        Self::new(Severity::Fatal, "53300", "sorry, too many clients already").detail(format!(
            "pgask accepts at most {max} connections (max_connections)"
        ))
    }

    /// 28000: the client must use TLS (`tls.mode = "require"`).
    pub fn tls_required() -> Self {
        Self::new(
            Severity::Fatal,
            "28000",
            "pgask requires an SSL/TLS connection",
        )
        .hint("connect with sslmode=require")
    }

    /// 08006: the login did not finish within `login_timeout_secs`.
    pub fn login_timeout() -> Self {
        Self::new(
            Severity::Fatal,
            "08006",
            "canceling authentication due to timeout",
        )
    }

    /// The message as bytes ('E').
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.message.len());
        write_message(&mut out, b'E', |b| {
            let sev = match self.severity {
                Severity::Error => "ERROR",
                Severity::Fatal => "FATAL",
            };
            for (field, value) in [(b'S', sev), (b'V', sev), (b'C', self.code.as_str())] {
                b.push(field);
                cstring(b, value);
            }
            b.push(b'M');
            cstring(b, &self.message);
            for (field, value) in [(b'D', &self.detail), (b'H', &self.hint)] {
                if let Some(v) = value {
                    b.push(field);
                    cstring(b, v);
                }
            }
            b.push(0);
        });
        out
    }
}

/// Encodes BackendKeyData ('K').
pub fn backend_key_data(key: &CancelKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + key.secret.len());
    write_message(&mut out, b'K', |b| {
        b.extend_from_slice(&key.pid.to_be_bytes());
        b.extend_from_slice(&key.secret);
    });
    out
}

/// Decodes the body of BackendKeyData.
pub fn parse_backend_key_data(body: &[u8]) -> Result<CancelKey, MessageError> {
    if body.len() < 8 || body.len() > 4 + 256 {
        return Err(MessageError::Malformed("BackendKeyData"));
    }
    let pid = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    Ok(CancelKey {
        pid,
        secret: body[4..].to_vec(),
    })
}

/// Authentication request codes pgask acts on (the int32 opening an 'R' message).
pub mod auth {
    pub const OK: u32 = 0;
    pub const SASL: u32 = 10;
    pub const SASL_CONTINUE: u32 = 11;
    pub const SASL_FINAL: u32 = 12;
    /// Whether the client must answer this request with a message of its own.
    pub fn expects_reply(code: u32) -> bool {
        matches!(code, 2 | 3 | 5 | 7 | 8 | 9 | SASL | SASL_CONTINUE)
    }
}

/// The SCRAM mechanism that binds to the TLS channel; it cannot pass through a TLS-terminating
/// proxy, because the client and the server would bind to different channels.
pub const SCRAM_PLUS: &str = "SCRAM-SHA-256-PLUS";

/// Reads the mechanisms of an AuthenticationSASL body (after its code).
pub fn sasl_mechanisms(body: &[u8]) -> Result<Vec<String>, MessageError> {
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(MessageError::Malformed("SASL"))?;
        if end == 0 {
            return Ok(out);
        }
        out.push(String::from_utf8_lossy(&rest[..end]).into_owned());
        rest = &rest[end + 1..];
    }
}

/// Encodes an AuthenticationSASL message offering `mechanisms`.
pub fn auth_sasl(mechanisms: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    write_message(&mut out, b'R', |b| {
        b.extend_from_slice(&auth::SASL.to_be_bytes());
        for m in mechanisms {
            cstring(b, m);
        }
        b.push(0);
    });
    out
}

/// The gs2 channel-binding flag of a SASLInitialResponse body: `b'n'` (client does not support
/// binding), `b'y'` (supports it, thinks the server does not) or `b'p'` (uses it).
pub fn sasl_initial_flag(body: &[u8]) -> Result<u8, MessageError> {
    let end = body
        .iter()
        .position(|&b| b == 0)
        .ok_or(MessageError::Malformed("SASLInitialResponse"))?;
    // mechanism name, int32 length of the data, data
    body.get(end + 5)
        .copied()
        .ok_or(MessageError::Malformed("SASLInitialResponse"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_response_layout() {
        let e = ErrorResponse::protocol_violation("bad").hint("h").encode();
        assert_eq!(e[0], b'E');
        assert_eq!(
            u32::from_be_bytes([e[1], e[2], e[3], e[4]]) as usize,
            e.len() - 1
        );
        assert_eq!(&e[5..], b"SFATAL\0VFATAL\0C08P01\0Mbad\0Hh\0\0");
    }

    #[test]
    fn sasl_list_round_trip() {
        let mechs = vec![SCRAM_PLUS.to_string(), "SCRAM-SHA-256".to_string()];
        let msg = auth_sasl(&mechs);
        assert_eq!(sasl_mechanisms(&msg[9..]).unwrap(), mechs);
        assert!(sasl_mechanisms(b"SCRAM").is_err());
    }

    #[test]
    fn reads_gs2_flag() {
        let mut body = b"SCRAM-SHA-256\0".to_vec();
        body.extend_from_slice(&10u32.to_be_bytes());
        body.extend_from_slice(b"y,,n=,r=abc");
        assert_eq!(sasl_initial_flag(&body), Ok(b'y'));
        assert!(sasl_initial_flag(b"SCRAM\0\0\0").is_err());
    }

    #[test]
    fn auth_codes_needing_replies() {
        assert!(!auth::expects_reply(auth::OK));
        assert!(!auth::expects_reply(auth::SASL_FINAL));
        for code in [3, 5, 7, 8, 9, auth::SASL, auth::SASL_CONTINUE] {
            assert!(auth::expects_reply(code), "{code}");
        }
    }
}
