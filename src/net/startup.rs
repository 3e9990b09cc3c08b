//! The untyped packets a client sends before the regular protocol starts: SSLRequest,
//! GSSENCRequest, CancelRequest and the StartupMessage itself.

/// PostgreSQL's own limit on a startup packet (`MAX_STARTUP_PACKET_LENGTH`).
pub const MAX_STARTUP_LEN: usize = 10_000;

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;

/// A startup-phase packet that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartupError {
    #[error("invalid length of startup packet: {0}")]
    BadLength(u32),
    #[error("unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.x")]
    UnsupportedProtocol { major: u16, minor: u16 },
    #[error("invalid startup packet layout: {0}")]
    Layout(&'static str),
}

/// One decoded startup-phase packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupPacket {
    SslRequest,
    GssEncRequest,
    Cancel(CancelKey),
    Startup(Startup),
}

/// The key of a CancelRequest or of BackendKeyData: a process id and a secret (4 bytes before
/// protocol 3.2, up to 256 after).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CancelKey {
    pub pid: u32,
    pub secret: Vec<u8>,
}

impl CancelKey {
    /// Encodes the key as a CancelRequest packet.
    pub fn cancel_request(&self) -> Vec<u8> {
        let len = 12 + self.secret.len();
        let mut v = Vec::with_capacity(len);
        v.extend_from_slice(&(len as u32).to_be_bytes());
        v.extend_from_slice(&CANCEL_REQUEST.to_be_bytes());
        v.extend_from_slice(&self.pid.to_be_bytes());
        v.extend_from_slice(&self.secret);
        v
    }
}

/// A StartupMessage: the raw packet (forwarded upstream as is) and the parameters read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Startup {
    pub raw: Vec<u8>,
    pub params: Vec<(String, String)>,
}

impl Startup {
    /// A startup parameter by name (`user`, `database`, `application_name`...).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the length word of a startup packet and checks it before the body is read.
pub fn packet_len(header: [u8; 4]) -> Result<usize, StartupError> {
    let len = u32::from_be_bytes(header);
    if !(8..=MAX_STARTUP_LEN as u32).contains(&len) {
        return Err(StartupError::BadLength(len));
    }
    Ok(len as usize)
}

/// Decodes a whole startup packet, length word included.
pub fn parse(packet: &[u8]) -> Result<StartupPacket, StartupError> {
    if packet.len() < 8 {
        return Err(StartupError::BadLength(packet.len() as u32));
    }
    let code = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
    let body = &packet[8..];
    match code {
        SSL_REQUEST => Ok(StartupPacket::SslRequest),
        GSSENC_REQUEST => Ok(StartupPacket::GssEncRequest),
        CANCEL_REQUEST => parse_cancel(body),
        _ => parse_startup(code, packet),
    }
}

fn parse_cancel(body: &[u8]) -> Result<StartupPacket, StartupError> {
    if body.len() < 8 || body.len() > 4 + 256 {
        return Err(StartupError::Layout(
            "cancel request key has the wrong size",
        ));
    }
    let pid = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    Ok(StartupPacket::Cancel(CancelKey {
        pid,
        secret: body[4..].to_vec(),
    }))
}

fn parse_startup(code: u32, packet: &[u8]) -> Result<StartupPacket, StartupError> {
    let (major, minor) = ((code >> 16) as u16, (code & 0xffff) as u16);
    if major != 3 {
        return Err(StartupError::UnsupportedProtocol { major, minor });
    }
    let mut fields = packet[8..].split(|&b| b == 0);
    let mut params = Vec::new();
    loop {
        let key = fields
            .next()
            .ok_or(StartupError::Layout("missing terminator"))?;
        if key.is_empty() {
            break;
        }
        let value = fields
            .next()
            .ok_or(StartupError::Layout("parameter without a value"))?;
        params.push((
            String::from_utf8_lossy(key).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
    }
    // The terminating empty key must be the last byte of the packet.
    if fields.next() != Some(&[][..]) || fields.next().is_some() {
        return Err(StartupError::Layout("bytes after the terminator"));
    }
    if !params.iter().any(|(k, _)| k == "user") {
        return Err(StartupError::Layout(
            "no PostgreSQL user name specified in startup packet",
        ));
    }
    Ok(StartupPacket::Startup(Startup {
        raw: packet.to_vec(),
        params,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn startup(body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(&196_608u32.to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn parses_startup_params() {
        let p = startup(b"user\0alice\0database\0app\0\0");
        let StartupPacket::Startup(s) = parse(&p).unwrap() else {
            panic!("not startup")
        };
        assert_eq!(s.param("user"), Some("alice"));
        assert_eq!(s.param("database"), Some("app"));
        assert_eq!(s.raw, p);
    }

    #[test]
    fn rejects_malformed_startup() {
        assert!(parse(&startup(b"user\0alice\0")).is_err(), "no terminator");
        assert!(parse(&startup(b"user\0\0\0")).is_ok(), "empty user value");
        assert!(
            parse(&startup(b"user\0\0")).is_err(),
            "value but no terminator"
        );
        assert!(parse(&startup(b"user\0")).is_err(), "no value");
        assert!(parse(&startup(b"database\0x\0\0")).is_err(), "no user");
        assert!(
            parse(&startup(b"user\0a\0\0junk")).is_err(),
            "trailing bytes"
        );
        assert_eq!(
            packet_len(*b"GET "),
            Err(StartupError::BadLength(0x47455420))
        );
    }

    #[test]
    fn cancel_round_trip() {
        let key = CancelKey {
            pid: 42,
            secret: vec![1, 2, 3, 4],
        };
        assert_eq!(
            parse(&key.cancel_request()).unwrap(),
            StartupPacket::Cancel(key)
        );
    }
}
