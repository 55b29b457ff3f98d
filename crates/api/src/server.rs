//! The listener: plain HTTP, or TLS with rustls on aws-lc-rs (HTTP/2 and HTTP/1.1 chosen
//! by ALPN), with limits that protect the server from slow and greedy clients.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use http::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// What a connection may cost the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request's headers (HTTP/1.1: the whole head, request line included; HTTP/2: the
    /// decoded header list). Larger heads get 431 or a reset.
    pub max_header_bytes: usize,
    /// A request's path and query. Longer ones get 414.
    pub max_uri_bytes: usize,
    /// A request's head must arrive within this (a slow-loris client is cut off).
    pub header_timeout: Duration,
    /// A connection on which no byte moves either way for this long is closed: idle
    /// keep-alive connections and clients that stall mid-body or mid-download.
    pub idle_timeout: Duration,
    /// The TLS handshake must finish within this.
    pub handshake_timeout: Duration,
    /// A request's whole body must arrive within this of its head, except a registry
    /// upload's (authorised before its body is read, and bounded by `idle_timeout`):
    /// a client trickling a body is answered 408 and the connection closed.
    pub body_timeout: Duration,
    /// Connections open at once; one more is answered 503 and closed (over TLS, closed).
    pub max_connections: usize,
    /// Serve cleartext HTTP/2 (h2c, prior knowledge) beside HTTP/1.1. Off by default:
    /// hyper's HTTP/2 has no header timeout, so a slow client could hold a stream's
    /// headers open; over TLS, HTTP/2 is chosen by ALPN.
    pub h2c: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 64 * 1024,
            max_uri_bytes: 8 * 1024,
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            handshake_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            max_connections: 1024,
            h2c: false,
        }
    }
}

/// Marks a request that arrived over TLS (`aws:SecureTransport`).
#[derive(Debug, Clone, Copy)]
pub struct SecureTransport;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the certificate chain from {path}: {message}")]
    Certificate { path: String, message: String },
    #[error("cannot read the private key from {path}: {message}")]
    Key { path: String, message: String },
    #[error("the certificate and key do not work together: {0}")]
    Config(String),
}

/// A TLS configuration from PEM files: the certificate chain (leaf first) and its key
/// (PKCS#8, PKCS#1 or SEC1). ALPN offers HTTP/2, then HTTP/1.1.
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert_error = |message: String| TlsError::Certificate {
        path: cert.display().to_string(),
        message,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("no CERTIFICATE block in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        message: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `app` on `listener` until `shutdown` completes, then lets requests in flight
/// finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // hyper refuses a head that does not fit its read buffer (431).
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    let builder = Arc::new(builder);
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            refuse_connection(stream, acceptor.is_some(), limits.max_connections);
            continue;
        };
        let app = app.clone();
        let builder = Arc::clone(&builder);
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let secure = acceptor.is_some();
            // hyper's auto builder answers the HTTP/2 preface on a plain connection by
            // itself (its `http1_only` does not apply to connections served with
            // upgrades): a cleartext client that opens with it is closed here instead.
            if !secure && !limits.h2c && opens_with_h2_preface(&stream, limits.header_timeout).await
            {
                tracing::debug!(%peer, "cleartext HTTP/2 refused (serve --h2c allows it)");
                return;
            }
            let io = IdleTimeout::new(stream, limits.idle_timeout);
            let service = hyper::service::service_fn(move |request| {
                handle(app.clone(), request, peer, secure, limits)
            });
            let result = match acceptor {
                Some(acceptor) => {
                    let tls =
                        match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(io))
                            .await
                        {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                    watcher.watch(conn.into_owned()).await
                }
                None => {
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Whether the first bytes a client sends are HTTP/2's connection preface (`PRI * HTTP/2.0`),
/// read without consuming them; `false` when they are not, or do not come in `wait`.
async fn opens_with_h2_preface(stream: &tokio::net::TcpStream, wait: Duration) -> bool {
    const PREFIX: &[u8] = b"PRI ";
    let peek = async {
        let mut buf = [0_u8; 4];
        // Peeking does not consume: while only part of the prefix has come, wait before
        // looking again, longer each time, so a client that sends a byte and stops costs
        // a few dozen wake-ups, not thousands.
        let mut pause = Duration::from_millis(5);
        loop {
            match stream.peek(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) if n >= PREFIX.len() => return buf == PREFIX,
                // Not the preface's start: an HTTP/1 request for hyper.
                Ok(n) if buf[..n] != PREFIX[..n] => return false,
                Ok(_) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
            }
        }
    };
    tokio::time::timeout(wait, peek).await.unwrap_or(false)
}

/// Answers a connection over the `--max-connections` bound and closes it, off the accept
/// loop: a plain-HTTP client reads why; a TLS one, which could not, is closed at once.
fn refuse_connection(stream: tokio::net::TcpStream, tls: bool, max: usize) {
    tracing::warn!(
        max_connections = max,
        "connection refused: the server has its maximum open"
    );
    if tls {
        return;
    }
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let body = format!("the server has its maximum of {max} connections open; retry shortly\n");
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = stream;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
        })
        .await;
    });
}

/// Whether the request streams a registry upload's bytes: such a body is read only after
/// the request is authorised, and may take as long as the client needs (the idle timeout
/// still applies).
fn is_registry_upload(request: &Request<hyper::body::Incoming>) -> bool {
    matches!(
        *request.method(),
        http::Method::PATCH | http::Method::PUT | http::Method::POST
    ) && request.uri().path().starts_with("/v2/")
        && matches!(
            berth_oci::parse_path(request.uri().path()),
            Ok(berth_oci::Endpoint::UploadStart { .. } | berth_oci::Endpoint::Upload { .. })
        )
}

async fn handle(
    app: Router,
    mut request: Request<hyper::body::Incoming>,
    peer: SocketAddr,
    secure: bool,
    limits: Limits,
) -> Result<Response, Infallible> {
    let max_uri_bytes = limits.max_uri_bytes;
    let uri_len = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if uri_len > max_uri_bytes {
        return Ok((
            StatusCode::URI_TOO_LONG,
            format!("the request path and query are longer than {max_uri_bytes} bytes\n"),
        )
            .into_response());
    }
    request.extensions_mut().insert(ConnectInfo(peer));
    if secure {
        request.extensions_mut().insert(SecureTransport);
    }
    if is_registry_upload(&request) || hyper::body::Body::is_end_stream(request.body()) {
        let mut app = app;
        return tower::Service::call(&mut app, request.map(Body::new)).await;
    }
    let expired = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            deadline: Box::pin(tokio::time::sleep(limits.body_timeout)),
            expired: Arc::clone(&expired),
        })
    });
    let mut app = app;
    let response = tower::Service::call(&mut app, request).await?;
    if expired.load(Ordering::Relaxed) {
        tracing::info!(%peer, "request body not received within the body timeout");
        let mut response = (
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s\n",
                limits.body_timeout.as_secs_f64()
            ),
        )
            .into_response();
        response.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        return Ok(response);
    }
    Ok(response)
}

/// A request body that fails once its deadline passes while the client has not sent
/// the rest: the handler reading it sees an error, and `handle` answers 408.
struct DeadlineBody<B> {
    inner: B,
    deadline: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
}

impl<B> hyper::body::Body for DeadlineBody<B>
where
    B: hyper::body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = bytes::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.expired.store(true, Ordering::Relaxed);
                    Poll::Ready(Some(Err("the request body did not arrive in time".into())))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Closes a connection on which no byte moved, in either direction, for `timeout`.
struct IdleTimeout<T> {
    inner: T,
    timeout: Duration,
    last_progress: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<T> IdleTimeout<T> {
    fn new(inner: T, timeout: Duration) -> Self {
        let now = Instant::now();
        Self {
            inner,
            timeout,
            last_progress: now,
            timer: Box::pin(tokio::time::sleep_until(now + timeout)),
        }
    }

    fn progressed(&mut self) {
        self.last_progress = Instant::now();
    }

    /// Called when the inner IO is pending: an error once the deadline passed, else a
    /// wake-up registered for it.
    fn pending<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let deadline = self.last_progress + self.timeout;
        if Instant::now() >= deadline {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            )));
        }
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.progressed();
                Poll::Ready(r)
            }
            Poll::Pending => this.pending(cx),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.progressed();
                Poll::Ready(r)
            }
            Poll::Pending => this.pending(cx),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => this.pending(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                this.progressed();
                Poll::Ready(r)
            }
            Poll::Pending => this.pending(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
