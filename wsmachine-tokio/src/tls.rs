//! The transport of [`connect`](crate::connect): TCP, or TLS over TCP.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::Error;

/// The transport [`connect`](crate::connect) opens: plain TCP for `ws://`,
/// TLS over TCP for `wss://` (feature `rustls`).
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://` through rustls.
    #[cfg(feature = "rustls")]
    Rustls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            MaybeTlsStream::Plain($s) => $e,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls($s) => $e,
        }
    };
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            #[cfg(feature = "rustls")]
            Self::Rustls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}

/// TLS for a `wss://` URL with the default client settings.
#[cfg(feature = "rustls")]
pub(crate) async fn wrap_default(tcp: TcpStream, host: &str) -> Result<MaybeTlsStream, Error> {
    wrap(tcp, host, client_config()?).await
}

#[cfg(not(feature = "rustls"))]
pub(crate) async fn wrap_default(_tcp: TcpStream, _host: &str) -> Result<MaybeTlsStream, Error> {
    Err(Error::TlsUnavailable)
}

#[cfg(feature = "rustls")]
pub use with_rustls::*;

#[cfg(feature = "rustls")]
mod with_rustls {
    use std::sync::Arc;

    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio::net::TcpStream;
    use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
    use wsmachine::Negotiated;
    use wsmachine::handshake::ClientRequest;

    use super::MaybeTlsStream;
    use crate::{Error, WebSocket};

    /// The crypto provider every configuration here is built with: ring
    /// (see the crate docs' "TLS" section for why, and for what it lacks:
    /// post-quantum key exchange).
    pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
        // rustls 0.23.48 deprecates ring's provider for its lack of
        // post-quantum key exchange; it remains supported and is the
        // provider that builds with a C compiler alone.
        #[allow(deprecated)]
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// The client settings [`connect`](crate::connect) uses for `wss://`:
    /// the ring provider, TLS 1.2 and 1.3, and the roots of the enabled
    /// features (`webpki-roots`: Mozilla's, compiled in; `native-roots`:
    /// the operating system's). With neither, no server is trusted: build
    /// a `ClientConfig` yourself and use [`connect_with_tls`].
    pub fn client_config() -> Result<Arc<ClientConfig>, Error> {
        #[allow(unused_mut)]
        let mut roots = RootCertStore::empty();
        #[cfg(feature = "webpki-roots")]
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        #[cfg(feature = "native-roots")]
        {
            let found = rustls_native_certs::load_native_certs();
            let (_added, _ignored) = roots.add_parsable_certificates(found.certs);
        }
        let config = ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    /// Server settings for one certificate chain and its key, with the ring
    /// provider: wrap with `tokio_rustls::TlsAcceptor::from(config)`, accept
    /// TLS on a TCP stream, then [`accept`](crate::accept) on the TLS
    /// stream. Bound the TLS handshake yourself (`tokio::time::timeout`):
    /// [`Config::handshake_timeout`](wsmachine::Config::handshake_timeout)
    /// starts with `accept`.
    pub fn server_config(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Arc<ServerConfig>, Error> {
        let config = ServerConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(tls_error)?;
        Ok(Arc::new(config))
    }

    /// [`connect_with`](crate::connect_with) with these TLS client settings
    /// for `wss://` (a private CA, client certificates).
    pub async fn connect_with_tls(
        request: ClientRequest,
        config: wsmachine::Config,
        tls: Arc<ClientConfig>,
    ) -> Result<(WebSocket<MaybeTlsStream>, Negotiated), Error> {
        crate::opening::within_handshake_timeout(&config.clone(), async move {
            let tcp = crate::opening::tcp_connect(&request).await?;
            let io =
                if request.is_secure() { wrap(tcp, request.host(), tls).await? } else { MaybeTlsStream::Plain(tcp) };
            crate::client(io, request, config).await
        })
        .await
    }

    pub(crate) async fn wrap(tcp: TcpStream, host: &str, tls: Arc<ClientConfig>) -> Result<MaybeTlsStream, Error> {
        // An IPv6 literal comes without its brackets, as ServerName wants.
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
        let stream = tokio_rustls::TlsConnector::from(tls).connect(name, tcp).await?;
        Ok(MaybeTlsStream::Rustls(Box::new(stream)))
    }

    fn tls_error(e: rustls::Error) -> Error {
        Error::Io(std::io::Error::other(e))
    }
}
