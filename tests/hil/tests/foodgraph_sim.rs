//! `foodflow-sim foodgraph` output is what the hub captures: every generated document is
//! accepted whole over mutual TLS, and the sample lots trace through the hub.

use std::path::Path;
use std::process::{Command, Stdio};

use foodflow_hil::peers::{Proc, bin, free_port, wait_for_port};

fn curl(url: &str, pki: &Path, body: Option<&Path>) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-sS", "--http2", "-w", "\n%{http_code}"])
        .arg("--cacert")
        .arg(pki.join("ca.pem"))
        .arg("--cert")
        .arg(pki.join("gw.pem"))
        .arg("--key")
        .arg(pki.join("gw.key"));
    if let Some(f) = body {
        c.args(["-H", "content-type: application/json", "--data-binary"])
            .arg(format!("@{}", f.display()));
    }
    let o = c.arg(url).output().expect("curl");
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn generated_supply_chain_is_captured_and_traced_by_the_hub() {
    let (sim, hub) = (bin("foodflow-sim").unwrap(), bin("foodflow-hub").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (pki, data, docs) = (
        dir.path().join("pki"),
        dir.path().join("data"),
        dir.path().join("docs"),
    );
    let run = |cmd: &Path, args: &[&str]| {
        let o = Command::new(cmd).args(args).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    run(
        &sim,
        &[
            "foodgraph",
            "--lots",
            "2000",
            "--seed",
            "3",
            "--out",
            docs.to_str().unwrap(),
        ],
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(docs.join("summary.json")).unwrap()).unwrap();
    let p = pki.to_str().unwrap();
    run(&hub, &["pki", "init", "--dir", p]);
    run(
        &hub,
        &[
            "pki",
            "issue",
            "--dir",
            p,
            "--gateway",
            "gw",
            "--tenant",
            "acme",
        ],
    );
    let port = free_port();
    let _hub = Proc(
        Command::new(&hub)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--public",
                "127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
            ])
            .args(["--data-dir", data.to_str().unwrap(), "--pki-dir", p])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_for_port(port, std::time::Duration::from_secs(10)));
    let base = format!("https://127.0.0.1:{port}");
    let mut files: Vec<_> = std::fs::read_dir(&docs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("epcis-")
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 2);
    let mut captured = 0;
    for f in &files {
        let (code, body) = curl(&format!("{base}/v1/epcis/capture"), &pki, Some(f));
        assert_eq!(code, 200, "{}: {body}", f.display());
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        captured += v["captured"].as_u64().unwrap();
    }
    assert_eq!(captured, summary["events"].as_u64().unwrap());
    let raw = summary["sample_raw"][0]
        .as_str()
        .unwrap()
        .replace(':', "%3A");
    let (code, body) = curl(
        &format!("{base}/v1/trace/forward?id={raw}&depth=5"),
        &pki,
        None,
    );
    assert_eq!(code, 200, "{body}");
    let t: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(t["nodes"].as_array().unwrap().len() >= 3, "{body}");
    let (code, body) = curl(&format!("{base}/v1/mass-balance?only_bad=true"), &pki, None);
    assert_eq!((code, body.as_str()), (200, "[]"));
}
