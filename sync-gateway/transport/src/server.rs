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
use hyper_util::rt::{TokioExecutor, TokioIo};
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

/// Serves `app` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerTls>,
    app: Router,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let accepted = metrics.counter(
        "foodflow_tls_connections_total",
        "Mutual-TLS connections accepted",
        &[],
    );
    while let Some((tcp, addr)) = accept(&listener, &shutdown).await {
        let (cfg, verifier, crl_err) = tls.config();
        if let Some(e) = crl_err {
            tracing::error!(error = %e, "CRL changed but could not be loaded; the previous one stays in force");
        }
        let app = app.clone();
        let metrics = metrics.clone();
        let accepted = accepted.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
            let stream =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
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
                        refuse(&metrics, addr, "TLS handshake timed out after 10 s");
                        return;
                    }
                };
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
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(peer.clone());
                app.clone().oneshot(req)
            });
            serve_connection(stream, svc, addr, shutdown).await;
        });
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
    shutdown: CancellationToken,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    while let Some((tcp, addr)) = accept(&listener, &shutdown).await {
        let (acceptor, app, shutdown) = (acceptor.clone(), app.clone(), shutdown.clone());
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%addr, error = %e, "public TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(RemoteAddr(addr));
                app.clone().oneshot(req)
            });
            serve_connection(stream, svc, addr, shutdown).await;
        });
    }
}

/// HTTP/1.1 or HTTP/2 on an accepted TLS stream, with a graceful end on shutdown.
async fn serve_connection<S, F>(stream: S, svc: F, addr: SocketAddr, shutdown: CancellationToken)
where
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
    builder
        .http2()
        .initial_stream_window_size(8 << 20)
        .initial_connection_window_size(16 << 20)
        .max_frame_size(1 << 20)
        .max_concurrent_streams(64);
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%addr, error = %e, "connection ended with an error");
            }
        }
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
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
