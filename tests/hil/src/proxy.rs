//! The fault proxy: a TCP proxy between two tiers that can cut, blackhole, delay, throttle and
//! reset connections, on command (HTTP control port or in-process handle) or on a schedule.
//! It works below TLS, so the tiers' mutual TLS is untouched: what it breaks is the network.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What the proxy does to traffic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Mode {
    /// Forward everything.
    Pass,
    /// Close every connection and refuse new ones (a pulled cable with a fast RST).
    Cut,
    /// Accept connections but forward nothing, close nothing (a dead route: timeouts).
    Blackhole,
    /// Forward each chunk after a delay.
    Delay { ms: u64 },
    /// Forward at most `bytes_per_s` per direction and connection.
    Throttle { bytes_per_s: u64 },
    /// Reset every open connection once (RST), then pass.
    Reset,
}

/// A mode as written in schedule and scenario files: its name, and `ms` / `bytes_per_s` for
/// the modes that take them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeName {
    Pass,
    Cut,
    Blackhole,
    Delay,
    Throttle,
    Reset,
}

impl ModeName {
    pub fn with(self, ms: u64, bytes_per_s: u64) -> Mode {
        match self {
            ModeName::Pass => Mode::Pass,
            ModeName::Cut => Mode::Cut,
            ModeName::Blackhole => Mode::Blackhole,
            ModeName::Delay => Mode::Delay { ms },
            ModeName::Throttle => Mode::Throttle { bytes_per_s },
            ModeName::Reset => Mode::Reset,
        }
    }
}

/// A step of a schedule: at `at_s` seconds after start, switch to `mode`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub at_s: f64,
    pub mode: ModeName,
    #[serde(default)]
    pub ms: u64,
    #[serde(default)]
    pub bytes_per_s: u64,
}

#[derive(Clone)]
pub struct ProxyHandle {
    mode: watch::Sender<(Mode, u64)>,
    pub listen: SocketAddr,
    pub upstream: SocketAddr,
    pub connections: Arc<AtomicU64>,
}

impl ProxyHandle {
    pub fn set(&self, mode: Mode) {
        tracing::info!(listen = %self.listen, ?mode, "proxy mode");
        self.mode.send_modify(|(m, generation)| {
            *m = mode;
            *generation += 1;
        });
    }

    pub fn mode(&self) -> Mode {
        self.mode.borrow().0
    }

    /// Plays a schedule (in the background).
    pub fn play(&self, steps: Vec<Step>, cancel: CancellationToken) {
        let h = self.clone();
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            for s in steps {
                let at = start + Duration::from_secs_f64(s.at_s.max(0.0));
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => h.set(s.mode.with(s.ms, s.bytes_per_s)),
                    _ = cancel.cancelled() => return,
                }
            }
        });
    }
}

/// Starts a proxy from `listen` to `upstream`.
pub async fn start(
    listen: SocketAddr,
    upstream: SocketAddr,
    cancel: CancellationToken,
) -> std::io::Result<ProxyHandle> {
    let listener = TcpListener::bind(listen).await?;
    let listen = listener.local_addr()?;
    let (tx, rx) = watch::channel((Mode::Pass, 0u64));
    let handle = ProxyHandle {
        mode: tx,
        listen,
        upstream,
        connections: Arc::new(AtomicU64::new(0)),
    };
    let conns = handle.connections.clone();
    tokio::spawn(async move {
        loop {
            let (down, _) = tokio::select! {
                _ = cancel.cancelled() => return,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(_) => continue,
                },
            };
            let mode = rx.borrow().0;
            if matches!(mode, Mode::Cut) {
                rst_on_close(&down);
                drop(down);
                continue;
            }
            conns.fetch_add(1, Ordering::Relaxed);
            let rx = rx.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                let _ = down.set_nodelay(true);
                let up = match TcpStream::connect(upstream).await {
                    Ok(u) => u,
                    Err(_) => {
                        rst_on_close(&down);
                        return;
                    }
                };
                let _ = up.set_nodelay(true);
                rst_on_close(&down);
                rst_on_close(&up);
                let (dr, dw) = down.into_split();
                let (ur, uw) = up.into_split();
                let born = rx.borrow().1;
                let a = pump(dr, uw, rx.clone(), born, cancel.clone());
                let b = pump(ur, dw, rx, born, cancel);
                // Either direction ending ends the connection (both halves dropped: RST).
                tokio::select! { _ = a => {}, _ = b => {} }
            });
        }
    });
    Ok(handle)
}

/// Zero linger: closing sends RST at once, as a reset or a cut link does. (The deprecation
/// warns about blocking on drop, which only a non-zero linger does.)
#[allow(deprecated)]
fn rst_on_close(s: &TcpStream) {
    let _ = s.set_linger(Some(Duration::ZERO));
}

/// Copies one direction under the current mode. Returns when the connection must end.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut rx: watch::Receiver<(Mode, u64)>,
    born: u64,
    cancel: CancellationToken,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let (mode, generation) = *rx.borrow();
        match mode {
            Mode::Cut => return,
            Mode::Reset if generation != born => return,
            Mode::Blackhole => {
                // Hold the connection, move nothing, until the mode changes.
                tokio::select! {
                    r = rx.changed() => if r.is_err() { return },
                    _ = cancel.cancelled() => return,
                }
                continue;
            }
            _ => {}
        }
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            r = rx.changed() => { if r.is_err() { return } continue; }
            _ = cancel.cancelled() => return,
        };
        let (mode, _) = *rx.borrow();
        match mode {
            Mode::Delay { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
            Mode::Throttle { bytes_per_s } => {
                let secs = n as f64 / bytes_per_s.max(1) as f64;
                tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            }
            Mode::Blackhole => {
                // Data read while going dark is dropped, as a dead route would.
                continue;
            }
            Mode::Cut => return,
            _ => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The HTTP control port of a standalone proxy: `POST /mode` with a JSON [`Mode`]
/// (`{"mode":"blackhole"}`, `{"mode":"delay","ms":200}`), `GET /mode` for the current one.
pub fn control_router(h: ProxyHandle) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/mode",
            get(
                |axum::extract::State(h): axum::extract::State<ProxyHandle>| async move {
                    axum::Json(h.mode())
                },
            )
            .post(
                |axum::extract::State(h): axum::extract::State<ProxyHandle>,
                 axum::Json(m): axum::Json<Mode>| async move {
                    h.set(m);
                    axum::Json(h.mode())
                },
            ),
        )
        .with_state(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut b = [0u8; 1024];
                    while let Ok(n) = s.read(&mut b).await {
                        if n == 0 || s.write_all(&b[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        a
    }

    async fn roundtrip(addr: SocketAddr, timeout_ms: u64) -> Option<Vec<u8>> {
        let fut = async {
            let mut s = TcpStream::connect(addr).await.ok()?;
            s.write_all(b"ping").await.ok()?;
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await.ok()?;
            Some(b.to_vec())
        };
        tokio::time::timeout(Duration::from_millis(timeout_ms), fut)
            .await
            .ok()
            .flatten()
    }

    #[tokio::test]
    async fn modes_do_what_they_say() {
        let up = echo_server().await;
        let cancel = CancellationToken::new();
        let p = start("127.0.0.1:0".parse().unwrap(), up, cancel.clone())
            .await
            .unwrap();
        assert_eq!(
            roundtrip(p.listen, 2000).await.as_deref(),
            Some(&b"ping"[..])
        );
        p.set(Mode::Blackhole);
        assert_eq!(
            roundtrip(p.listen, 300).await,
            None,
            "blackhole answers nothing"
        );
        p.set(Mode::Cut);
        let t = std::time::Instant::now();
        assert_eq!(roundtrip(p.listen, 2000).await, None);
        assert!(t.elapsed() < Duration::from_millis(1000), "cut fails fast");
        p.set(Mode::Delay { ms: 300 });
        let t = std::time::Instant::now();
        assert!(roundtrip(p.listen, 3000).await.is_some());
        assert!(t.elapsed() >= Duration::from_millis(550), "delay both ways");
        // An open connection is reset by Reset.
        p.set(Mode::Pass);
        let mut s = TcpStream::connect(p.listen).await.unwrap();
        s.write_all(b"ping").await.unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).await.unwrap();
        p.set(Mode::Reset);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = s.write_all(b"ping").await;
        let r = tokio::time::timeout(Duration::from_secs(2), s.read(&mut b)).await;
        assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "reset closes: {r:?}");
        assert_eq!(
            roundtrip(p.listen, 2000).await.as_deref(),
            Some(&b"ping"[..]),
            "then passes"
        );
        cancel.cancel();
    }
}
