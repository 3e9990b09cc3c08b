//! The client side of a session before the regular protocol: TLS (through SSLRequest or
//! PostgreSQL 17's direct TLS), GSSENCRequest refusal, CancelRequest, and the StartupMessage.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::SessionError;
use crate::net::startup::{self, CancelKey, Startup, StartupPacket};
use crate::net::stream::Stream;
use crate::net::tls::ALPN_POSTGRESQL;

/// First byte of a TLS ClientHello record: a client doing direct TLS.
const TLS_HANDSHAKE: u8 = 0x16;

/// What the client asked for.
pub enum Hello {
    /// A session to start.
    Startup { stream: Stream, startup: Startup },
    /// A cancel for another session; the connection carries nothing else, and is closed only
    /// after the cancel has been delivered (a client takes the close as "handled").
    Cancel { stream: Stream, key: CancelKey },
}

/// Runs the pre-startup negotiation until the client sends a StartupMessage or a CancelRequest.
pub async fn hello(
    tcp: TcpStream,
    acceptor: Option<&tokio_rustls::TlsAcceptor>,
) -> Result<Hello, SessionError> {
    let mut first = [0u8; 1];
    let n = tcp.peek(&mut first).await.map_err(SessionError::ClientIo)?;
    if n == 0 {
        return Err(SessionError::ClientGone);
    }
    let mut stream = if first[0] == TLS_HANDSHAKE {
        let acceptor = acceptor.ok_or(SessionError::DirectTlsUnavailable)?;
        accept_tls(tcp, acceptor, true).await?
    } else {
        Stream::Plain(tcp)
    };
    loop {
        let parsed = match read_packet(&mut stream).await {
            Ok(packet) => startup::parse(&packet).map_err(SessionError::from),
            Err(e) => Err(e),
        };
        let packet = match parsed {
            Ok(p) => p,
            Err(e) => return Err(refuse(&mut stream, e).await),
        };
        match packet {
            StartupPacket::SslRequest => {
                stream = match (stream, acceptor) {
                    (Stream::Plain(mut tcp), Some(acceptor)) => {
                        tcp.write_all(b"S").await.map_err(SessionError::ClientIo)?;
                        accept_tls(tcp, acceptor, false).await?
                    }
                    (Stream::Plain(mut tcp), None) => {
                        tcp.write_all(b"N").await.map_err(SessionError::ClientIo)?;
                        Stream::Plain(tcp)
                    }
                    (Stream::Tls(_) | Stream::Unix(_), _) => {
                        return Err(SessionError::Protocol("SSLRequest inside TLS".into()))
                    }
                };
            }
            StartupPacket::GssEncRequest => stream
                .write_all(b"N")
                .await
                .map_err(SessionError::ClientIo)?,
            StartupPacket::Cancel(key) => return Ok(Hello::Cancel { stream, key }),
            StartupPacket::Startup(startup) => return Ok(Hello::Startup { stream, startup }),
        }
    }
}

/// Tells the client why its startup packet is refused, when there is something to tell.
async fn refuse(stream: &mut Stream, e: SessionError) -> SessionError {
    if let Some(err) = e.client_error() {
        let _ = stream.write_all(&err.encode()).await;
        let _ = stream.shutdown().await;
    }
    e
}

async fn read_packet(stream: &mut Stream) -> Result<Vec<u8>, SessionError> {
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len).await {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(SessionError::ClientGone)
        }
        other => other.map_err(SessionError::ClientIo)?,
    };
    let len = startup::packet_len(len)?;
    let mut packet = vec![0u8; len];
    packet[..4].copy_from_slice(&(len as u32).to_be_bytes());
    stream
        .read_exact(&mut packet[4..])
        .await
        .map_err(SessionError::ClientIo)?;
    Ok(packet)
}

async fn accept_tls(
    tcp: TcpStream,
    acceptor: &tokio_rustls::TlsAcceptor,
    direct: bool,
) -> Result<Stream, SessionError> {
    let tls = acceptor
        .accept(tcp)
        .await
        .map_err(|e| SessionError::ClientTls(e.to_string()))?;
    // Direct TLS skips SSLRequest, so PostgreSQL insists on ALPN to be sure it speaks to a
    // PostgreSQL client; so does pgask.
    if direct && tls.get_ref().1.alpn_protocol() != Some(ALPN_POSTGRESQL) {
        return Err(SessionError::ClientTls(
            "direct TLS without ALPN \"postgresql\"".into(),
        ));
    }
    Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Server(tls))))
}
