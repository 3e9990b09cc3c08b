//! The upstream side of a session: opening the connection (TCP, then TLS as configured) and
//! relaying the client's startup and authentication exchange without knowing any password.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use super::cancel::{CancelGuard, CancelMap, Target};
use super::SessionError;
use crate::config::{UpstreamConfig, UpstreamTls};
use crate::net::frame::{Header, HEADER_LEN};
use crate::net::messages::{self, auth, SCRAM_PLUS};
use crate::net::startup::Startup;
use crate::net::stream::Stream;
use crate::net::tls;

/// Largest message accepted during login (authentication messages are small).
const MAX_LOGIN_MESSAGE: usize = 1 << 20;

/// How to reach the upstream server, fixed for a session when it starts.
#[derive(Clone)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
    pub tls: UpstreamTls,
    pub connector: Option<tokio_rustls::TlsConnector>,
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{} (tls {:?})", self.host, self.port, self.tls)
    }
}

impl Upstream {
    pub fn from_config(c: &UpstreamConfig) -> Result<Upstream, tls::TlsError> {
        let connector = match c.tls {
            UpstreamTls::Disable => None,
            mode => Some(tls::connector(mode, c.ca_file.as_deref())?),
        };
        Ok(Upstream {
            host: c.host.clone(),
            port: c.port,
            tls: c.tls,
            connector,
            connect_timeout: Duration::from_secs(c.connect_timeout_secs),
        })
    }

    /// The same server without TLS (for the channel-binding fallback of `prefer`).
    fn plain(&self) -> Upstream {
        Upstream {
            tls: UpstreamTls::Disable,
            connector: None,
            ..self.clone()
        }
    }
}

/// Opens a connection and negotiates TLS as configured. A host that is a path (`/run/postgresql`)
/// is the server's socket directory, as in libpq: the socket is `<dir>/.s.PGSQL.<port>`.
pub async fn connect(up: &Upstream) -> Result<Stream, SessionError> {
    let started = Instant::now();
    if up.host.starts_with('/') {
        let path = unix_socket(&up.host, up.port);
        let unix = within(up.connect_timeout, &path, UnixStream::connect(&path)).await?;
        metrics::histogram!("pgask_upstream_connect_seconds")
            .record(started.elapsed().as_secs_f64());
        return Ok(Stream::Unix(unix));
    }
    let addr = format!("{}:{}", up.host, up.port);
    let tcp = within(up.connect_timeout, &addr, TcpStream::connect(&addr)).await?;
    tcp.set_nodelay(true).map_err(SessionError::UpstreamIo)?;
    let stream = match &up.connector {
        None => Stream::Plain(tcp),
        Some(connector) => negotiate_tls(tcp, up, connector).await?,
    };
    metrics::histogram!("pgask_upstream_connect_seconds").record(started.elapsed().as_secs_f64());
    Ok(stream)
}

/// A connect to `addr` that may take `limit`; its failure or timeout names the address.
async fn within<T>(
    limit: Duration,
    addr: &str,
    connect: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, SessionError> {
    let failed = |reason: String| SessionError::UpstreamConnect {
        addr: addr.to_string(),
        reason,
    };
    tokio::time::timeout(limit, connect)
        .await
        .map_err(|_| failed("timed out".into()))?
        .map_err(|e| failed(e.to_string()))
}

async fn negotiate_tls(
    mut tcp: TcpStream,
    up: &Upstream,
    connector: &tokio_rustls::TlsConnector,
) -> Result<Stream, SessionError> {
    const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 4, 210, 22, 47];
    tcp.write_all(&SSL_REQUEST)
        .await
        .map_err(SessionError::UpstreamIo)?;
    let answer = tcp.read_u8().await.map_err(SessionError::UpstreamIo)?;
    match answer {
        b'S' => {
            let name = tls::server_name(&up.host)?;
            let tls =
                connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| SessionError::UpstreamConnect {
                        addr: format!("{}:{}", up.host, up.port),
                        reason: format!("TLS handshake failed: {e}"),
                    })?;
            Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Client(tls))))
        }
        b'N' if up.tls == UpstreamTls::Prefer => Ok(Stream::Plain(tcp)),
        _ => Err(SessionError::UpstreamConnect {
            addr: format!("{}:{}", up.host, up.port),
            reason: format!(
                "server does not support TLS but upstream.tls is {:?}",
                up.tls
            ),
        }),
    }
}

/// The socket of a server listening in directory `dir` on `port`.
pub fn unix_socket(dir: &str, port: u16) -> String {
    format!("{}/.s.PGSQL.{port}", dir.trim_end_matches('/'))
}

/// Reads one whole message (header included), refusing lengths over `max`.
pub async fn read_message<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> std::io::Result<Vec<u8>> {
    let mut header = [0u8; HEADER_LEN];
    r.read_exact(&mut header).await?;
    let invalid =
        |e: crate::net::frame::FrameError| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let h = Header::read(&header)
        .unwrap_or(Err(crate::net::frame::FrameError::BadLength {
            tag: header[0] as char,
            len: 0,
        }))
        .and_then(|h| h.within(max))
        .map_err(invalid)?;
    let mut msg = header.to_vec();
    msg.resize(h.total(), 0);
    r.read_exact(&mut msg[HEADER_LEN..]).await?;
    Ok(msg)
}

/// A finished login: the upstream connection and the session's registered cancel key.
pub struct LoggedIn {
    pub upstream: Stream,
    pub cancel: Option<CancelGuard>,
}

/// Relays startup and authentication between `client` and a new upstream connection, until the
/// server's first ReadyForQuery has been passed on.
///
/// SCRAM-SHA-256-PLUS is taken off the server's list: channel binding ties the exchange to one
/// TLS channel and pgask terminates TLS on both sides. A client that then says it supports
/// binding ("y") is refused by a TLS server; with `tls = prefer` pgask replays its first message
/// over a plain upstream connection, otherwise it fails the login with an explicit message.
pub async fn login<C>(
    client: &mut C,
    startup: &Startup,
    up: &Upstream,
    cancels: &CancelMap,
) -> Result<LoggedIn, SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let mut upstream = connect(up).await?;
    upstream
        .write_all(&startup.raw)
        .await
        .map_err(SessionError::UpstreamIo)?;
    let mut cancel = None;
    let mut stripped_plus = false;
    let mut replay: Option<Vec<u8>> = None;
    loop {
        let msg = read_message(&mut upstream, MAX_LOGIN_MESSAGE)
            .await
            .map_err(SessionError::UpstreamIo)?;
        let body = &msg[HEADER_LEN..];
        match msg[0] {
            b'R' => {
                let code = body
                    .get(..4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                let code = code.ok_or(SessionError::Message(messages::MessageError::Malformed(
                    "Authentication",
                )))?;
                if code == auth::SASL {
                    if let Some(first) = replay.take() {
                        // The client already has the mechanism list; answer with its first message.
                        upstream
                            .write_all(&first)
                            .await
                            .map_err(SessionError::UpstreamIo)?;
                        continue;
                    }
                    let mut mechs = messages::sasl_mechanisms(&body[4..])?;
                    stripped_plus = mechs.iter().any(|m| m == SCRAM_PLUS);
                    mechs.retain(|m| m != SCRAM_PLUS);
                    write_client(client, &messages::auth_sasl(&mechs)).await?;
                } else {
                    write_client(client, &msg).await?;
                }
                if !auth::expects_reply(code) {
                    continue;
                }
                let reply = read_message(client, MAX_LOGIN_MESSAGE)
                    .await
                    .map_err(SessionError::ClientIo)?;
                if code == auth::SASL
                    && stripped_plus
                    && reply[0] == b'p'
                    && messages::sasl_initial_flag(&reply[HEADER_LEN..])? == b'y'
                {
                    if up.tls != UpstreamTls::Prefer {
                        return Err(SessionError::ChannelBinding);
                    }
                    tracing::info!("client announced SCRAM channel binding; retrying upstream login without TLS (upstream.tls = prefer)");
                    upstream = connect(&up.plain()).await?;
                    upstream
                        .write_all(&startup.raw)
                        .await
                        .map_err(SessionError::UpstreamIo)?;
                    replay = Some(reply);
                    stripped_plus = false;
                    continue;
                }
                upstream
                    .write_all(&reply)
                    .await
                    .map_err(SessionError::UpstreamIo)?;
            }
            b'K' => {
                let key = messages::parse_backend_key_data(body)?;
                let guard = cancels.register(Target {
                    upstream: up.clone(),
                    key,
                    asks: Default::default(),
                });
                write_client(client, &messages::backend_key_data(&guard.key)).await?;
                cancel = Some(guard);
            }
            b'E' => {
                write_client(client, &msg).await?;
                return Err(SessionError::UpstreamRejected);
            }
            b'Z' => {
                write_client(client, &msg).await?;
                return Ok(LoggedIn { upstream, cancel });
            }
            _ => write_client(client, &msg).await?,
        }
    }
}

async fn write_client<C: AsyncWrite + Unpin>(
    client: &mut C,
    bytes: &[u8],
) -> Result<(), SessionError> {
    client
        .write_all(bytes)
        .await
        .map_err(SessionError::ClientIo)
}
