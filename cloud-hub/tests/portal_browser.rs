//! The analytics portal in a real browser (headless Debian Chromium driven by playwright-core,
//! `tests/ui/portal.mjs`) against the real hub: login, a device's synced readings plotted and
//! zoomed, a lot traced into a drawn graph, a recall simulated, the FSMA 204 spreadsheet
//! downloaded, a forecast fan chart, a production plan read and signed into force, the audit
//! trail verified, no console errors. Screenshots
//! are kept in `<target>/ui-artifacts/portal/`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Body, admin_create, curl, curl_bearer, hub, login, upload_readings};

const PLANT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/foodgraph/tests/data/pasta-plant.json"
);
const LOT: &str = "urn:epc:class:lgtin:0614141.000200.E1";
const PASSWORD: &str = "correct horse battery staple";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn people_work_in_the_portal() {
    let ui = workspace().join("tests/ui");
    assert!(
        ui.join("node_modules/playwright-core").exists(),
        "playwright-core is missing in tests/ui: run `make deps` (it runs npm ci there)"
    );
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let data = dir.path().join("data");
    let (p, d) = (pki.to_str().unwrap(), data.to_str().unwrap());
    hub(&["pki", "init", "--dir", p]);
    hub(&[
        "pki",
        "issue",
        "--dir",
        p,
        "--gateway",
        "gw",
        "--tenant",
        "acme",
    ]);
    hub(&[
        "pki", "issue", "--dir", p, "--device", "line-1", "--tenant", "acme",
    ]);
    assert!(admin_create(d, "acme", "ada", PASSWORD).status.success());
    let served = support::start(d, p);
    let (port, public) = (served.port, served.public);

    // Traceability records from the plant's gateway; an hour of oven readings from line-1.
    let (code, body) = curl(
        "POST",
        &format!("https://127.0.0.1:{port}/v1/epcis/capture"),
        &pki,
        "gw",
        Body::File(Path::new(PLANT)),
    );
    assert_eq!(code, 200, "{body}");
    let now = foodflow_protocol::time::now_ns();
    let points: Vec<(i64, f64)> = (0..360i64)
        .map(|i| {
            (
                now - (360 - i) * 10_000_000_000,
                180.0 + 10.0 * ((i as f64) / 20.0).sin(),
            )
        })
        .collect();
    assert_eq!(
        upload_readings(port, &pki, "line-1", "plc", "line1.oven.temp", &points).await,
        360
    );

    // A finished forecast to look at.
    let base = format!("https://127.0.0.1:{public}");
    let token = login(&base, &pki, "acme", "ada", PASSWORD);
    let mut csv = String::from("unique_id,ds,y\n");
    for t in 0..36 {
        let season = [0.8, 0.9, 1.0, 1.1, 1.3, 1.2, 1.0, 0.9, 0.9, 1.0, 1.1, 0.8][t % 12];
        csv.push_str(&format!(
            "penne,{}-{:02}-01,{:.1}\n",
            2023 + t / 12,
            t % 12 + 1,
            (200.0 + 2.0 * t as f64) * season
        ));
    }
    let (code, body) = curl_bearer(
        "POST",
        &format!("{base}/v1/forecasts"),
        &pki,
        Some(&token),
        Body::Json(&serde_json::json!({"csv": csv, "horizon": 12}).to_string()),
    );
    assert_eq!(code, 202, "{body}");
    let id = json(&body)["id"].as_str().unwrap().to_owned();
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = curl_bearer(
            "GET",
            &format!("{base}/v1/forecasts/{id}"),
            &pki,
            Some(&token),
            Body::None,
        );
        if json(&body)["status"]["state"] == "done" {
            break;
        }
        assert!(Instant::now() < until, "forecast not done: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // A finished production plan to read and sign.
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/optimize/plan.example.yaml"
    ))
    .unwrap();
    let (code, body) = curl_bearer(
        "POST",
        &format!("{base}/v1/optimization/plan"),
        &pki,
        Some(&token),
        Body::Json(&serde_json::json!({"instance": example, "time_limit_s": 20}).to_string()),
    );
    assert_eq!(code, 202, "{body}");
    let plan = json(&body)["id"].as_str().unwrap().to_owned();
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = curl_bearer(
            "GET",
            &format!("{base}/v1/optimization/jobs/{plan}"),
            &pki,
            Some(&token),
            Body::None,
        );
        let state = json(&body)["status"]["state"].clone();
        if state == "done" {
            break;
        }
        assert!(
            state != "failed" && Instant::now() < until,
            "plan not done: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let out_dir = {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target"));
        let d = target.join("ui-artifacts").join("portal");
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let run = Command::new("node")
        .arg(ui.join("portal.mjs"))
        .args([
            &base,
            out_dir.to_str().unwrap(),
            "acme",
            "ada",
            PASSWORD,
            LOT,
        ])
        .current_dir(&ui)
        .output()
        .expect("node (apt nodejs) runs the browser test");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(
        run.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}"
    );
}
