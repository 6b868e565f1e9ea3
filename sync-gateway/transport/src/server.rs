//! The HTTP/2-over-TLS server loop shared by the gateway and the hub: accepts TCP, completes a
//! mutual-TLS handshake (refusals logged with the reason and counted), reads the peer's
//! identity from its certificate and hands every request to an axum router with that identity
//! as a request extension ([`Peer`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::identity::{Identity, Role};
use crate::metrics::Metrics;
use crate::tls::{ServerTls, explain_rustls, explain_server_error};

/// The authenticated client of a request.
#[derive(Debug, Clone)]
pub struct Peer {
    pub identity: Identity,
    pub addr: SocketAddr,
}

/// What one listener allows: connections (in all, and per source address), how long a
/// client may take over its headers, a request and a connection, and HTTP/2 streams. Every
/// listener has its own, so a flood of one (the public listener) cannot starve another (the
/// plants' mTLS uploads).
#[derive(Debug, Clone)]
pub struct ListenerLimits {
    pub max_connections: usize,
    pub max_per_source: usize,
    /// TLS handshake, then each request's headers.
    pub handshake_timeout: Duration,
    pub header_read_timeout: Duration,
    /// A whole request, body included, and its answer.
    pub request_timeout: Duration,
    /// A connection is closed (gracefully) after this long, so every client re-handshakes and
    /// its certificate is checked afresh against the CA, the CRL and the clock.
    pub max_connection_age: Duration,
    /// HTTP/2 ping interval; a peer that does not answer within it is dropped.
    pub keep_alive: Duration,
    pub max_streams: u32,
}

impl ListenerLimits {
    /// Plants and gateways: few sources, many streams each, large uploads.
    pub fn mtls() -> Self {
        ListenerLimits {
            max_connections: 4096,
            max_per_source: 512,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_connection_age: Duration::from_secs(3600),
            keep_alive: Duration::from_secs(30),
            max_streams: 64,
        }
    }

    /// People and services on the open listener: anyone can connect, so less of everything.
    pub fn public() -> Self {
        ListenerLimits {
            max_connections: 1024,
            max_per_source: 64,
            request_timeout: Duration::from_secs(60),
            max_streams: 32,
            ..Self::mtls()
        }
    }
}

/// Counts a listener's open connections, in all and per source address.
struct Gate {
    limits: ListenerLimits,
    open: std::sync::Mutex<(usize, std::collections::HashMap<std::net::IpAddr, usize>)>,
}

/// An admitted connection; leaves the gate when dropped.
struct Admitted {
    gate: Arc<Gate>,
    ip: std::net::IpAddr,
}

impl Gate {
    fn new(limits: ListenerLimits) -> Arc<Self> {
        Arc::new(Gate {
            limits,
            open: Default::default(),
        })
    }

    fn admit(self: &Arc<Self>, ip: std::net::IpAddr) -> Result<Admitted, &'static str> {
        let mut g = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if g.0 >= self.limits.max_connections {
            return Err("listener");
        }
        let n = g.1.entry(ip).or_insert(0);
        if *n >= self.limits.max_per_source {
            return Err("source");
        }
        *n += 1;
        g.0 += 1;
        Ok(Admitted {
            gate: self.clone(),
            ip,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut g = self.gate.open.lock().unwrap_or_else(|p| p.into_inner());
        g.0 = g.0.saturating_sub(1);
        if let Some(n) = g.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                g.1.remove(&self.ip);
            }
        }
    }
}

/// The next connection the gate admits; the others are closed at once and counted.
async fn accept_within(
    listener: &TcpListener,
    gate: &Arc<Gate>,
    metrics: &Metrics,
    listener_name: &'static str,
    shutdown: &CancellationToken,
) -> Option<(tokio::net::TcpStream, SocketAddr, Admitted)> {
    loop {
        let (tcp, addr) = accept(listener, shutdown).await?;
        match gate.admit(addr.ip()) {
            Ok(a) => return Some((tcp, addr, a)),
            Err(limit) => {
                metrics
                    .counter(
                        "foodflow_connections_refused_total",
                        "Connections closed at once because a connection limit was reached",
                        &[("listener", listener_name), ("limit", limit)],
                    )
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%addr, limit, listener = listener_name, "connection limit reached");
            }
        }
    }
}

/// Re-checks a connected client's certificate against the current CA, CRL and clock, so that
/// a revocation or an expiry bites on connections already open, not only on new ones.
struct Revalidate {
    tls: Arc<ServerTls>,
    certs: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// The verifier last checked against and when: checking again needs a new CRL or a new
    /// second (expiry).
    last: std::sync::Mutex<(usize, std::time::Instant)>,
}

impl Revalidate {
    fn check(&self) -> Result<(), String> {
        let (_, verifier, _) = self.tls.config();
        let id = Arc::as_ptr(&verifier) as *const () as usize;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.0 == id && last.1.elapsed() < Duration::from_secs(1) {
            return Ok(());
        }
        ServerTls::verify_chain(verifier.as_ref(), &self.certs).map_err(|e| explain_rustls(&e))?;
        *last = (id, std::time::Instant::now());
        Ok(())
    }
}

/// Serves `app` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerTls>,
    app: Router,
    metrics: Arc<Metrics>,
    limits: ListenerLimits,
    shutdown: CancellationToken,
) {
    let accepted = metrics.counter(
        "foodflow_tls_connections_total",
        "Mutual-TLS connections accepted",
        &[],
    );
    let gate = Gate::new(limits.clone());
    while let Some((tcp, addr, admitted)) =
        accept_within(&listener, &gate, &metrics, "mtls", &shutdown).await
    {
        let (cfg, verifier, crl_err) = tls.config();
        if let Some(e) = crl_err {
            tracing::error!(error = %e, "CRL changed but could not be loaded; the previous one stays in force");
        }
        let app = app.clone();
        let metrics = metrics.clone();
        let accepted = accepted.clone();
        let shutdown = shutdown.clone();
        let (tls, limits) = (tls.clone(), limits.clone());
        tokio::spawn(async move {
            let _admitted = admitted;
            let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
            let stream =
                match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        // A port probe or a client that gave up: no certificate to judge.
                        tracing::debug!(%addr, "connection closed before the TLS handshake ended");
                        return;
                    }
                    Ok(Err(e)) => {
                        let why = explain_server_error(&e);
                        refuse(&metrics, addr, &why);
                        return;
                    }
                    Err(_) => {
                        refuse(&metrics, addr, "TLS handshake timed out");
                        return;
                    }
                };
            let certs: Vec<_> = stream
                .get_ref()
                .1
                .peer_certificates()
                .unwrap_or_default()
                .iter()
                .map(|c| c.clone().into_owned())
                .collect();
            let verdict = {
                let (_, conn) = stream.get_ref();
                let certs = conn.peer_certificates().unwrap_or_default();
                match ServerTls::verify_chain(verifier.as_ref(), certs) {
                    Err(e) => Err(explain_rustls(&e)),
                    Ok(()) => match certs.first().map(|c| Identity::from_der(c)) {
                        Some(Ok(i)) if i.role != Role::Server => Ok(i),
                        Some(Ok(i)) => {
                            Err(format!("{i} is a server certificate, not a client one"))
                        }
                        Some(Err(e)) => Err(e.to_string()),
                        None => Err("no client certificate".into()),
                    },
                }
            };
            let identity = match verdict {
                Ok(i) => i,
                Err(why) => {
                    refuse(&metrics, addr, &why);
                    answer_refusal(stream, why).await;
                    return;
                }
            };
            accepted.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%addr, %identity, "mTLS client connected");
            let peer = Peer { identity, addr };
            let again = Arc::new(Revalidate {
                tls,
                certs,
                last: std::sync::Mutex::new((
                    Arc::as_ptr(&verifier) as *const () as usize,
                    std::time::Instant::now(),
                )),
            });
            // Ends this connection (gracefully) when its certificate stops being good.
            let revoked = CancellationToken::new();
            let watch = {
                let (again, revoked, metrics) = (again.clone(), revoked.clone(), metrics.clone());
                let peer = peer.clone();
                async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        if let Err(why) = again.check() {
                            refuse(
                                &metrics,
                                peer.addr,
                                &format!("{} (connection closed): {why}", peer.identity),
                            );
                            revoked.cancel();
                            return;
                        }
                    }
                }
            };
            let watcher = tokio::spawn(watch);
            let timeout = limits.request_timeout;
            let svc = hyper::service::service_fn({
                let revoked = revoked.clone();
                move |mut req: hyper::Request<Incoming>| {
                    req.extensions_mut().insert(peer.clone());
                    let checked = again.check();
                    let (app, revoked) = (app.clone(), revoked.clone());
                    async move {
                        if let Err(why) = checked {
                            revoked.cancel();
                            return Ok(refusal(
                                axum::http::StatusCode::UNAUTHORIZED,
                                "certificate",
                                format!("client certificate refused: {why}"),
                                None,
                            ));
                        }
                        within(timeout, app.oneshot(req)).await
                    }
                }
            });
            serve_connection(stream, svc, addr, &limits, shutdown, revoked).await;
            watcher.abort();
        });
    }
}

/// A request's answer, or 503 once `timeout` has passed (the handler is dropped).
async fn within<F>(
    timeout: Duration,
    f: F,
) -> Result<axum::response::Response, std::convert::Infallible>
where
    F: std::future::Future<Output = Result<axum::response::Response, std::convert::Infallible>>,
{
    match tokio::time::timeout(timeout, f).await {
        Ok(r) => r,
        Err(_) => Ok(refusal(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request took longer than {} s (body and answer included)",
                timeout.as_secs()
            ),
            None,
        )),
    }
}

/// The next connection (nodelay set), or `None` once `shutdown` is cancelled. A failed
/// accept (out of descriptors, …) is logged and retried after a pause.
async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            r = listener.accept() => match r {
                Ok((tcp, addr)) => {
                    let _ = tcp.set_nodelay(true);
                    return Some((tcp, addr));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// The client address of a request on the public listener.
#[derive(Debug, Clone, Copy)]
pub struct RemoteAddr(pub SocketAddr);

/// Serves `app` over TLS without client certificates until `shutdown`: the door for people
/// and services, who authenticate per request (the app decides how). Requests carry
/// [`RemoteAddr`].
pub async fn serve_public(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    app: Router,
    metrics: Arc<Metrics>,
    limits: ListenerLimits,
    shutdown: CancellationToken,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let gate = Gate::new(limits.clone());
    while let Some((tcp, addr, admitted)) =
        accept_within(&listener, &gate, &metrics, "public", &shutdown).await
    {
        let (acceptor, app, shutdown) = (acceptor.clone(), app.clone(), shutdown.clone());
        let limits = limits.clone();
        tokio::spawn(async move {
            let _admitted = admitted;
            let stream =
                match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%addr, error = %e, "public TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let timeout = limits.request_timeout;
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(RemoteAddr(addr));
                within(timeout, app.clone().oneshot(req))
            });
            serve_connection(
                stream,
                svc,
                addr,
                &limits,
                shutdown,
                CancellationToken::new(),
            )
            .await;
        });
    }
}

/// HTTP/1.1 or HTTP/2 on an accepted TLS stream, with the listener's timers and limits, and
/// a graceful end on shutdown, on `close` (a revoked certificate) and at the connection's
/// maximum age.
async fn serve_connection<S, F>(
    stream: S,
    svc: F,
    addr: SocketAddr,
    limits: &ListenerLimits,
    shutdown: CancellationToken,
    close: CancellationToken,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    F: hyper::service::Service<
            hyper::Request<Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    F::Future: Send + 'static,
{
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // Without a timer hyper applies none of its timeouts.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(64 << 10);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.keep_alive)
        .keep_alive_timeout(limits.keep_alive)
        .max_header_list_size(64 << 10)
        .max_pending_accept_reset_streams(64)
        .max_local_error_reset_streams(256)
        .initial_stream_window_size(8 << 20)
        .initial_connection_window_size(16 << 20)
        .max_frame_size(1 << 20)
        .max_concurrent_streams(limits.max_streams);
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    let age = tokio::time::sleep(limits.max_connection_age);
    tokio::pin!(age);
    let why = tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%addr, error = %e, "connection ended with an error");
            }
            return;
        }
        _ = shutdown.cancelled() => "shutdown",
        _ = close.cancelled() => "certificate no longer valid",
        _ = &mut age => "maximum connection age",
    };
    tracing::debug!(%addr, why, "closing connection");
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
}

/// Serves a refused client one answer to whatever it asks — 401 with the reason — so that it
/// can say what is wrong with its certificate, then closes.
async fn answer_refusal<S>(stream: S, why: String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let body = serde_json::json!({
        "reason": "certificate",
        "message": format!("client certificate refused: {why}"),
    })
    .to_string();
    let svc = hyper::service::service_fn(move |_req: hyper::Request<Incoming>| {
        let body = body.clone();
        async move {
            hyper::Response::builder()
                .status(401)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body))
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
}

fn refuse(metrics: &Metrics, addr: SocketAddr, why: &str) {
    metrics
        .counter(
            "foodflow_tls_refused_total",
            "Connections refused during the mutual-TLS handshake",
            &[],
        )
        .fetch_add(1, Ordering::Relaxed);
    tracing::warn!(%addr, "refused TLS client {addr}: {why}");
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// A refusal of the sync API: the status and the JSON body ([`SyncRefusal`]) every client
/// reads.
///
/// [`SyncRefusal`]: foodflow_protocol::SyncRefusal
pub fn refusal(
    status: axum::http::StatusCode,
    reason: &str,
    message: String,
    retry_after_ms: Option<u64>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        status,
        axum::Json(foodflow_protocol::SyncRefusal {
            reason: reason.into(),
            message,
            retry_after_ms,
        }),
    )
        .into_response()
}

/// Serves the plain-HTTP admin endpoints (`/healthz`, `/metrics`, …) until `shutdown`.
pub fn spawn_admin(listener: TcpListener, app: Router, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
    });
}

/// Cancels `token` on SIGTERM or Ctrl-C.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        token.cancel();
    });
}
