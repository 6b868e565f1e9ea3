//! Helpers shared by the hub's integration tests: the real binary, loopback ports, curl.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub const HUB: &str = env!("CARGO_BIN_EXE_foodflow-hub");

/// A child process killed when dropped.
pub struct Kill(pub Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `foodflow-hub args…`, which must succeed.
pub fn hub(args: &[&str]) -> Output {
    let o = Command::new(HUB).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "foodflow-hub {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running hub on `port` (the store is single-process: stop it before the CLI opens it).
pub fn serve(port: u16, data: &str, pki: &str) -> Kill {
    serve_with_public(port, free_port(), data, pki)
}

/// A running hub with its mTLS API on `port` and its public (people's) API on `public`.
pub fn serve_with_public(port: u16, public: u16, data: &str, pki: &str) -> Kill {
    let k = Kill(
        Command::new(HUB)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--public", &format!("127.0.0.1:{public}")])
            .args(["--admin", &format!("127.0.0.1:{}", free_port())])
            .args(["--data-dir", data, "--pki-dir", pki])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let up = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && std::net::TcpStream::connect(("127.0.0.1", public)).is_ok()
    });
    assert!(up, "hub did not start");
    k
}

/// Body of a curl request.
#[derive(Clone, Copy)]
pub enum Body<'a> {
    None,
    Json(&'a str),
    File(&'a Path),
}

/// An HTTPS request through curl with the certificate `who` from `pki` (the hub's API is plain
/// HTTPS JSON; curl keeps that honest). Returns (status, body).
pub fn curl(method: &str, url: &str, pki: &Path, who: &str, body: Body<'_>) -> (u16, String) {
    let mut c = Command::new("curl");
    c.arg("--cert")
        .arg(pki.join(format!("{who}.pem")))
        .arg("--key")
        .arg(pki.join(format!("{who}.key")));
    send(c, method, url, pki, body)
}

/// An HTTPS request to the public listener (no client certificate), with a bearer token when
/// given. Returns (status, body).
pub fn curl_bearer(
    method: &str,
    url: &str,
    pki: &Path,
    bearer: Option<&str>,
    body: Body<'_>,
) -> (u16, String) {
    let mut c = Command::new("curl");
    if let Some(t) = bearer {
        c.arg("-H").arg(format!("authorization: Bearer {t}"));
    }
    send(c, method, url, pki, body)
}

fn send(mut c: Command, method: &str, url: &str, pki: &Path, body: Body<'_>) -> (u16, String) {
    c.args(["-sS", "--http2", "-X", method, "-w", "\n%{http_code}"])
        .arg("--cacert")
        .arg(pki.join("ca.pem"));
    match body {
        Body::None => {}
        Body::Json(b) => {
            c.args(["-H", "content-type: application/json", "--data", b]);
        }
        Body::File(p) => {
            c.args(["-H", "content-type: application/json", "--data-binary"])
                .arg(format!("@{}", p.display()));
        }
    }
    let o = c.arg(url).output().expect("curl");
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}
