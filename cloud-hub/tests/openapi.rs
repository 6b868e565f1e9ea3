//! `/openapi.json` describes the API that is served: every documented operation is called on
//! its listener and must reach a handler (a route-less 404 has no JSON error body), and every
//! error answer carries a documented `reason` code.

mod support;

use support::{Body, curl, curl_bearer, hub};

#[test]
fn every_documented_operation_is_served() {
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
    let created = std::process::Command::new(support::HUB)
        .args([
            "admin",
            "create",
            "--data-dir",
            d,
            "--tenant",
            "acme",
            "--username",
            "ada",
        ])
        .env("FOODFLOW_ADMIN_PASSWORD", "correct horse battery staple")
        .output()
        .unwrap();
    assert!(created.status.success());
    let served = support::start(d, p);
    let (port, public) = (served.port, served.public);
    let (mtls, open) = (
        format!("https://127.0.0.1:{port}"),
        format!("https://127.0.0.1:{public}"),
    );
    let (_, body) = curl_bearer(
        "POST",
        &format!("{open}/auth/login"),
        &pki,
        None,
        Body::Json(
            r#"{"tenant":"acme","username":"ada","password":"correct horse battery staple"}"#,
        ),
    );
    let token: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = token["token"].as_str().unwrap().to_owned();

    let (code, body) = curl_bearer(
        "GET",
        &format!("{open}/openapi.json"),
        &pki,
        None,
        Body::None,
    );
    assert_eq!(code, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let reasons: Vec<String> =
        doc["components"]["schemas"]["Error"]["properties"]["reason"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 25, "{}", paths.len());
    let mut called = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let concrete = path
                .replace("{direction}", "forward")
                .replace("{stream}", "plc")
                .replace("{id}", "zz-probe")
                .replace("{name}", "zz-probe")
                .replace("{lot}", "zz-probe")
                .replace("{device}", "zz-probe")
                .replace("{seq}", "1");
            let m = method.to_uppercase();
            let body = if matches!(method.as_str(), "post" | "put" | "patch") {
                Body::Json("{}")
            } else {
                Body::None
            };
            let mtls_only = op["security"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s.get("mutualTLS").is_some())
                && !op["security"].as_array().unwrap().is_empty();
            let (code, text) = if mtls_only {
                curl(&m, &format!("{mtls}{concrete}"), &pki, "gw", body)
            } else {
                curl_bearer(&m, &format!("{open}{concrete}"), &pki, Some(&token), body)
            };
            called += 1;
            assert!(code != 0, "{m} {concrete}: no answer");
            if code >= 400 {
                let e: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|_| {
                    panic!("{m} {concrete}: {code} without a JSON error (route missing?): {text:?}")
                });
                let reason = e["reason"].as_str().unwrap_or_default();
                assert!(
                    reasons.iter().any(|r| r == reason),
                    "{m} {concrete}: undocumented reason {reason:?}"
                );
            }
        }
    }
    assert!(called >= 30, "{called}");
    // And a route that is not documented is not served.
    let (code, _) = curl_bearer(
        "GET",
        &format!("{open}/v1/nothing-here"),
        &pki,
        Some(&token),
        Body::None,
    );
    assert_eq!(code, 404);
}
