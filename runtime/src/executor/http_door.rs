//! The outbound-HTTP door (DESIGN §9): the hooks `wasi:http/outgoing-handler`
//! calls for every request a guest sends. Closed unless the plugin's sidecar
//! lists hosts.
//!
//! Owns sending one request: the allowlist check by the URL actually dialled
//! (its scheme, host and port; the guest cannot set `Host`, which
//! wasmtime-wasi-http forbids and then sets from that URL), resolving the
//! name once and connecting to the very address that was checked (so DNS
//! cannot rebind between check and connect), TLS, the per-run request and
//! response-body limits, and the run's deadline on every wait. A refusal is
//! `HTTP-request-denied` to the guest and a `WARN` line in the run's logs;
//! nothing is written to the process log (a URL may hold a secret).

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::capture::Capture;
use crate::doors::outbound::{AllowedHosts, Scheme};

/// Per-run bounds on outbound HTTP, from the sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Requests one run may send.
    pub max_requests: u32,
    /// Response body bytes one run may read, over all its requests.
    pub max_response_bytes: u64,
}

pub const DEFAULT_HTTP_LIMITS: HttpLimits = HttpLimits { max_requests: 100, max_response_bytes: 16 << 20 };

impl Default for HttpLimits {
    fn default() -> Self {
        DEFAULT_HTTP_LIMITS
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>),
                Error,
            >,
        > + Send,
>;

/// One run's outbound-HTTP state.
pub(crate) struct HttpDoor {
    allowed: Arc<AllowedHosts>,
    limits: HttpLimits,
    sent: u32,
    /// Response body bytes read so far by this run.
    read: Arc<AtomicU64>,
    deadline: Instant,
    log: Capture,
    tls: Arc<rustls::ClientConfig>,
}

impl HttpDoor {
    pub(crate) fn new(
        allowed: Arc<AllowedHosts>,
        limits: HttpLimits,
        deadline: Instant,
        log: Capture,
        tls: Arc<rustls::ClientConfig>,
    ) -> Self {
        Self { allowed, limits, sent: 0, read: Arc::new(AtomicU64::new(0)), deadline, log, tls }
    }
}

/// Writes the refusal to the run's logs and answers the guest with it.
/// `judged` is what the allowlist saw (scheme, host, port), never the
/// whole URL: a path, query or fragment may hold a secret.
fn refuse(log: &Capture, judged: &str, why: &str) -> Error {
    log.write_line("WARN", &format!("outbound HTTP request refused: {judged}: {why}"));
    Error::HttpRequestDenied
}

/// What the allowlist judges of a request: `scheme://host:port`, as far
/// as the URL has them.
fn judged(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("(no scheme)");
    match (uri.host(), uri.port_u16(), uri.scheme_str().and_then(Scheme::parse)) {
        (Some(host), Some(port), _) => format!("{scheme}://{host}:{port}"),
        (Some(host), None, Some(known)) => format!("{scheme}://{host}:{}", known.default_port()),
        (Some(host), None, None) => format!("{scheme}://{host}"),
        (None, _, _) => format!("{scheme}://(no host)"),
    }
}

impl WasiHttpHooks for HttpDoor {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        let url = judged(request.uri());
        let denied = |e: Error| -> ResponseFuture { Box::new(async move { Err(e) }) };
        if self.allowed.is_empty() {
            return denied(refuse(&self.log, &url, "this plugin has no allowed_outbound_hosts"));
        }
        self.sent += 1;
        if self.sent > self.limits.max_requests {
            let why = format!("over this run's limit of {} requests", self.limits.max_requests);
            return denied(refuse(&self.log, &url, &why));
        }
        let uri = request.uri();
        let Some(scheme) = uri.scheme_str().and_then(Scheme::parse) else {
            return denied(refuse(&self.log, &url, "only http and https are allowed"));
        };
        let Some(host) = uri.host().map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
        else {
            return denied(refuse(&self.log, &url, "the URL has no host"));
        };
        let port = uri.port_u16().unwrap_or(scheme.default_port());
        if !self.allowed.allows(scheme, &host, port) {
            return denied(refuse(&self.log, &url, "not in allowed_outbound_hosts"));
        }
        let dial = Dial {
            url,
            scheme,
            host,
            port,
            allowed: self.allowed.clone(),
            log: self.log.clone(),
            tls: self.tls.clone(),
            read: self.read.clone(),
            max_read: self.limits.max_response_bytes,
            options,
        };
        let deadline = tokio::time::Instant::from_std(self.deadline);
        Box::new(async move {
            match tokio::time::timeout_at(deadline, dial.send(request, deadline)).await {
                Ok(sent) => sent,
                Err(_) => Err(Error::ConnectionTimeout),
            }
        })
    }

    fn p2_error_from_hyper(&mut self, _: &hyper::Error) -> ErrorCode {
        ErrorCode::HttpProtocolError
    }

    fn p2_error_from_connect(&mut self, _: &std::io::Error) -> ErrorCode {
        ErrorCode::ConnectionRefused
    }

    fn p2_error_from_tls(&mut self, _: &std::io::Error) -> ErrorCode {
        ErrorCode::TlsProtocolError
    }
}

/// One request on its way: everything it needs, owned.
struct Dial {
    /// `scheme://host:port`, for the run's logs.
    url: String,
    scheme: Scheme,
    host: String,
    port: u16,
    allowed: Arc<AllowedHosts>,
    log: Capture,
    tls: Arc<rustls::ClientConfig>,
    read: Arc<AtomicU64>,
    max_read: u64,
    options: Option<RequestOptions>,
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

impl Dial {
    /// Connects to the first of `addresses` that answers.
    async fn connect(&self, addresses: &[IpAddr]) -> Result<TcpStream, Error> {
        let mut last = Error::ConnectionRefused;
        for ip in addresses {
            let connect = TcpStream::connect((*ip, self.port));
            let connected = match self.options.and_then(|o| o.connect_timeout) {
                Some(t) => tokio::time::timeout(t, connect).await.map_err(|_| Error::ConnectionTimeout)?,
                None => connect.await,
            };
            match connected {
                Ok(tcp) => return Ok(tcp),
                Err(e) => last = Error::Connect(e),
            }
        }
        Err(last)
    }

    async fn send(
        self,
        mut request: http::Request<WasiBody>,
        deadline: tokio::time::Instant,
    ) -> Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error> {
        // Resolve once; connect to the address that passed the check.
        let resolved: Vec<IpAddr> = match self.host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => match tokio::net::lookup_host((self.host.as_str(), self.port)).await {
                Ok(addrs) => addrs.map(|a| a.ip()).collect(),
                Err(e) => {
                    return Err(Error::DnsError { rcode: Some(e.to_string()), info_code: None });
                }
            },
        };
        // Every address the rules allow, in the resolver's order; none: refused.
        let (scheme, host, port) = (self.scheme, self.host.as_str(), self.port);
        let allowed: Vec<IpAddr> = resolved
            .iter()
            .copied()
            .filter(|ip| self.allowed.check(scheme, host, port, &[*ip]).is_ok())
            .collect();
        if allowed.is_empty() {
            let denied = self.allowed.check(scheme, host, port, &resolved).err();
            let why = denied.map_or_else(|| "no allowed address".to_owned(), |d| d.to_string());
            return Err(refuse(&self.log, &self.url, &why));
        }
        let tcp = self.connect(&allowed).await?;
        let stream: Box<dyn Stream> = match self.scheme {
            Scheme::Http => Box::new(tcp),
            Scheme::Https => {
                let name = match self.host.parse::<IpAddr>() {
                    Ok(ip) => rustls::pki_types::ServerName::from(ip),
                    Err(_) => rustls::pki_types::ServerName::try_from(self.host.clone())
                        .map_err(|_| Error::HttpRequestUriInvalid)?,
                };
                let tls = tokio_rustls::TlsConnector::from(self.tls.clone());
                Box::new(tls.connect(name, tcp).await.map_err(Error::Tls)?)
            }
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // The request line carries the path only; `Host` names the authority.
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
        *request.uri_mut() = path.parse().map_err(|_| Error::HttpRequestUriInvalid)?;
        let mut conn = Box::pin(conn);
        let mut conn_done = false;
        let response = {
            let send = sender.send_request(request);
            tokio::pin!(send);
            let first_byte = self.options.and_then(|o| o.first_byte_timeout);
            let first_byte = first_byte.map_or(deadline, |t| deadline.min(tokio::time::Instant::now() + t));
            loop {
                tokio::select! {
                    response = &mut send => break response?,
                    ended = &mut conn, if !conn_done => {
                        conn_done = true;
                        ended?;
                    }
                    _ = tokio::time::sleep_until(first_byte) => return Err(Error::ConnectionReadTimeout),
                }
            }
        };
        let (parts, incoming) = response.into_parts();
        let body =
            Limited { inner: incoming, read: self.read, max: self.max_read, log: self.log, url: self.url };
        let response = http::Response::from_parts(parts, body.boxed_unsync());
        // The connection goes on carrying the body; it ends with the run.
        let io = async move {
            if conn_done {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, conn).await {
                Ok(ended) => ended.map_err(Error::from),
                Err(_) => Ok(()),
            }
        };
        Ok((response, Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>))
    }
}

/// A response body that counts what the run has read and stops at its
/// bound with `HTTP-response-body-size`.
struct Limited {
    inner: hyper::body::Incoming,
    read: Arc<AtomicU64>,
    max: u64,
    log: Capture,
    url: String,
}

impl Body for Limited {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                let total = self.read.fetch_add(n, Ordering::Relaxed) + n;
                if total > self.max {
                    let why = format!("response bodies exceeded this run's limit of {} bytes", self.max);
                    self.log.write_line("WARN", &format!("outbound HTTP response cut: {}: {why}", self.url));
                    return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(self.max)))));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
