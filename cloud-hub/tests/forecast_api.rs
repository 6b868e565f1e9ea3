//! Forecast jobs through the hub's public API as a planner uses them: an uploaded CSV with a
//! hierarchy and readings the plants already synced, progress then results, accuracy,
//! inventory recommendations, permissions and clear errors — the real binary, curl, mTLS sync.

mod support;

use std::time::{Duration, Instant};

use support::{Body, admin_create, curl_bearer, hub, login, upload_readings};

const PASSWORD: &str = "correct horse battery staple";

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn sales_csv() -> String {
    let mut csv = String::from("unique_id,ds,y,product,location\n");
    for (i, (p, l)) in [("pasta", "north"), ("pasta", "south"), ("sauce", "north")]
        .iter()
        .enumerate()
    {
        for t in 0..48 {
            let season = [0.8, 0.9, 1.0, 1.1, 1.3, 1.2, 1.0, 0.9, 0.9, 1.0, 1.1, 0.8][t % 12];
            let y = (80.0 + 25.0 * i as f64 + 0.5 * t as f64) * season;
            csv.push_str(&format!(
                "{p}-{l},{}-{:02}-01,{y:.2},{p},{l}\n",
                2021 + t / 12,
                t % 12 + 1
            ));
        }
    }
    csv
}

#[tokio::test(flavor = "multi_thread")]
async fn planners_run_forecasts_over_uploads_and_stored_readings() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let data = dir.path().join("data");
    let (p, d) = (pki.to_str().unwrap(), data.to_str().unwrap());
    hub(&["pki", "init", "--dir", p]);
    hub(&[
        "pki", "issue", "--dir", p, "--device", "line-1", "--tenant", "acme",
    ]);
    assert!(admin_create(d, "acme", "ada", PASSWORD).status.success());
    let served = support::start(d, p);
    let (port, public) = (served.port, served.public);

    // 60 days of packs from line-1, one reading an hour (24 × (100 + weekday bump) a day).
    let t0: i64 = 1_790_000_000_000_000_000 / 86_400_000_000_000 * 86_400_000_000_000;
    let points: Vec<(i64, f64)> = (0..60 * 24i64)
        .map(|i| {
            let day = i / 24;
            let v = 100.0 + if day % 7 == 2 { 40.0 } else { 0.0 } + (i % 5) as f64;
            (t0 + i * 3_600_000_000_000, v)
        })
        .collect();
    assert_eq!(
        upload_readings(port, &pki, "line-1", "plc", "line1.packs", &points).await,
        1440
    );

    let base = format!("https://127.0.0.1:{public}");
    let call = |method: &str, path: &str, bearer: Option<&str>, body: Body<'_>| {
        curl_bearer(method, &format!("{base}{path}"), &pki, bearer, body)
    };
    let token = login(&base, &pki, "acme", "ada", PASSWORD);
    let tok = Some(token.as_str());
    let wait = |id: &str| {
        let until = Instant::now() + Duration::from_secs(120);
        loop {
            let (code, body) = call("GET", &format!("/v1/forecasts/{id}"), tok, Body::None);
            assert_eq!(code, 200, "{body}");
            let v = json(&body);
            if v["status"]["state"] != "running" {
                return v;
            }
            assert!(
                Instant::now() < until,
                "forecast {id} still running: {body}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };

    // An uploaded CSV with a product × location hierarchy.
    let req = serde_json::json!({"csv": sales_csv(), "hierarchy": "product*location", "horizon": 6, "levels": [80]});
    let req_file = dir.path().join("req.json");
    std::fs::write(&req_file, req.to_string()).unwrap();
    let (code, body) = call("POST", "/v1/forecasts", tok, Body::File(&req_file));
    assert_eq!(code, 202, "{body}");
    let id = json(&body)["id"].as_str().unwrap().to_owned();
    let f = wait(&id);
    assert_eq!(f["status"]["state"], "done", "{f}");
    assert_eq!(f["status"]["alias"], "Auto/MinTrace_method-wls_struct");
    let nodes = f["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1 + 2 + 2 + 3);
    let mean = |id: &str, s: usize| {
        nodes.iter().find(|n| n["id"] == id).unwrap()["mean"][s]
            .as_f64()
            .unwrap()
    };
    for s in 0..6 {
        assert!((mean("Total", s) - mean("pasta", s) - mean("sauce", s)).abs() < 1e-6);
        assert!((mean("north", s) - mean("pasta-north", s) - mean("sauce-north", s)).abs() < 1e-6);
    }
    let total = nodes.iter().find(|n| n["id"] == "Total").unwrap();
    assert_eq!(total["ds"][0], "2025-01-01");
    assert!(total["quantiles"]["p10"][0].as_f64().unwrap() < mean("Total", 0));
    assert!(total["quantiles"]["p90"][0].as_f64().unwrap() > mean("Total", 0));
    assert!(
        f["accuracy"]["overall"]["mase"].as_f64().unwrap() > 0.0,
        "backtest ran: {f}"
    );

    let (code, body) = call(
        "GET",
        &format!("/v1/forecasts/{id}?node=pasta"),
        tok,
        Body::None,
    );
    assert_eq!(
        (code, json(&body)["nodes"].as_array().unwrap().len()),
        (200, 1)
    );
    let (code, body) = call(
        "GET",
        &format!("/v1/forecasts/{id}?node=pizza"),
        tok,
        Body::None,
    );
    assert_eq!(code, 404);
    assert!(
        body.contains("unknown hierarchy node \\\"pizza\\\"")
            || body.contains("unknown hierarchy node"),
        "{body}"
    );
    let (code, body) = call(
        "GET",
        &format!("/v1/forecasts/{id}/inventory?lead_time=2&service_level=0.95&node=Total"),
        tok,
        Body::None,
    );
    assert_eq!(code, 200, "{body}");
    let rec = &json(&body)[0];
    assert!((rec["demand"].as_f64().unwrap() - mean("Total", 0) - mean("Total", 1)).abs() < 1e-6);
    assert!(rec["safety_stock"].as_f64().unwrap() > 0.0);
    let (code, body) = call(
        "GET",
        &format!("/v1/forecasts/{id}/inventory?lead_time=9"),
        tok,
        Body::None,
    );
    assert!(
        code == 400 && body.contains("exceed the forecast horizon"),
        "{code} {body}"
    );

    // Stored readings: daily totals of a tag the plant synced.
    let from = foodflow_protocol::time::format_rfc3339(t0);
    let to = foodflow_protocol::time::format_rfc3339(t0 + 60 * 86_400_000_000_000);
    let req = serde_json::json!({"source": {"device": "line-1", "stream": "plc", "tags": ["line1.packs"], "from": from, "to": to, "bucket": "day", "agg": "sum"}, "horizon": 7, "model": "ets", "season": 7});
    let (code, body) = call("POST", "/v1/forecasts", tok, Body::Json(&req.to_string()));
    assert_eq!(code, 202, "{body}");
    let f = wait(json(&body)["id"].as_str().unwrap());
    assert_eq!(f["status"]["state"], "done", "{f}");
    let packs = &f["nodes"][0];
    assert_eq!(packs["id"], "line1.packs");
    // Ordinary days sell 24 × ~102 packs, the busy weekday 24 × ~142.
    let m: Vec<f64> = packs["mean"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let (lo, hi) = (
        m.iter().cloned().fold(f64::MAX, f64::min),
        m.iter().cloned().fold(0.0, f64::max),
    );
    assert!(
        (lo - 2448.0).abs() < 150.0 && (hi - 3408.0).abs() < 200.0,
        "{m:?}"
    );

    let (code, body) = call("GET", "/v1/forecasts/accuracy", tok, Body::None);
    assert_eq!(code, 200);
    assert_eq!(json(&body).as_array().unwrap().len(), 2);

    // Clear errors.
    for (req, want) in [
        (
            r#"{"csv":"unique_id,ds,y\na,1,1\na,3,2\n","horizon":2}"#,
            "csv: line 3, series \\\"a\\\": 1 period(s) missing",
        ),
        (
            r#"{"csv":"unique_id,ds,y\na,1,1\n","horizon":-1}"#,
            "horizon must be at least 1 period, got -1",
        ),
        (r#"{"horizon":3}"#, "give either `csv`"),
        (
            r#"{"csv":"x","horizon":3,"hierarchy":"a//b"}"#,
            "must be non-empty",
        ),
    ] {
        let (code, body) = call("POST", "/v1/forecasts", tok, Body::Json(req));
        assert_eq!(code, 400, "{body}");
        assert!(body.contains(want), "want {want} in {body}");
    }
    let req = serde_json::json!({"source": {"device": "line-1", "stream": "plc", "tags": ["nope"], "from": from, "to": to}, "horizon": 7});
    let (code, body) = call("POST", "/v1/forecasts", tok, Body::Json(&req.to_string()));
    assert!(
        code == 404 && body.contains("no numeric readings of tag"),
        "{code} {body}"
    );
    let (code, _) = call("GET", "/v1/forecasts/fc-0-0", tok, Body::None);
    assert_eq!(code, 404);
    let (code, _) = call("GET", "/v1/forecasts", None, Body::None);
    assert_eq!(code, 401);
}
