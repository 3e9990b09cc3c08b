//! TLS for pgask's own tokio-postgres connections (catalog reads, the history store) with the
//! same rustls settings as the session's upstream connections (`upstream.tls`, `ca_file`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_rustls::client::TlsStream as RustlsStream;

use super::tls::{server_name, TlsError};

/// Makes a TLS connector per connection, for the host being connected to.
#[derive(Clone)]
pub struct MakeRustls(tokio_rustls::TlsConnector);

impl MakeRustls {
    pub fn new(config: rustls::ClientConfig) -> MakeRustls {
        MakeRustls(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Tls<S>;
    type TlsConnect = Connect;
    type Error = TlsError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Connect, TlsError> {
        Ok(Connect {
            connector: self.0.clone(),
            name: server_name(domain)?,
        })
    }
}

/// Connects one stream.
pub struct Connect {
    connector: tokio_rustls::TlsConnector,
    name: rustls_pki_types::ServerName<'static>,
}

impl<S> TlsConnect<S> for Connect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Tls<S>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Tls<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let tls = self.connector.connect(self.name, stream).await?;
            Ok(Tls(tls))
        })
    }
}

/// A TLS stream tokio-postgres can use (no channel binding: the server then does not ask for
/// SCRAM-PLUS).
pub struct Tls<S>(RustlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Tls<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Tls<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Tls<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Connects a tokio-postgres client with the upstream TLS settings and runs its connection in
/// the background.
pub async fn connect(
    config: &tokio_postgres::Config,
    upstream: &crate::config::UpstreamConfig,
) -> Result<tokio_postgres::Client, String> {
    use crate::config::UpstreamTls;
    let mut config = config.clone();
    // A socket directory: PostgreSQL has no TLS there (and tokio-postgres would ask for a TLS
    // connector with an empty server name, which rustls refuses).
    if upstream.tls == UpstreamTls::Disable || upstream.host.starts_with('/') {
        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        let (client, conn) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        return Ok(client);
    }
    config.ssl_mode(if upstream.tls == UpstreamTls::Prefer {
        tokio_postgres::config::SslMode::Prefer
    } else {
        tokio_postgres::config::SslMode::Require
    });
    let tls = super::tls::client_config(upstream.tls, upstream.ca_file.as_deref())
        .map_err(|e| e.to_string())?;
    let (client, conn) = config
        .connect(MakeRustls::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(client)
}
