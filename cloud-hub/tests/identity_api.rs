//! People and services at the hub: the first admin from the CLI (no default password), login
//! with EdDSA tokens, roles and permissions, API keys, disabling, login throttling, tenant
//! isolation, and every identity write in the audit trail — through the real binary's public
//! listener with curl.

mod support;

use std::path::Path;

use support::{Body, admin_create, curl_bearer, hub};

const PASSWORD: &str = "correct horse battery staple";

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn people_log_in_and_act_within_their_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let data = dir.path().join("data");
    let (p, d) = (pki.to_str().unwrap(), data.to_str().unwrap());
    hub(&["pki", "init", "--dir", p]);

    // The first admin comes from the CLI; a weak password is refused with the rule.
    let weak = admin_create(d, "acme", "ada", "short");
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12 characters"));
    assert!(admin_create(d, "acme", "ada", PASSWORD).status.success());
    assert!(admin_create(d, "globex", "gus", PASSWORD).status.success());
    assert!(
        !admin_create(d, "acme", "ada", PASSWORD).status.success(),
        "no second ada"
    );

    let served = support::start(d, p);
    let base = served.public_url.clone();
    let call = |method: &str, path: &str, bearer: Option<&str>, body: Body<'_>| {
        curl_bearer(method, &format!("{base}{path}"), &pki, bearer, body)
    };
    let login = |tenant: &str, user: &str, password: &str| {
        call(
            "POST",
            "/auth/login",
            None,
            Body::Json(&format!(
                r#"{{"tenant":"{tenant}","username":"{user}","password":"{password}"}}"#
            )),
        )
    };

    // Without credentials: 401 everywhere but login and the key set.
    let (code, body) = call("GET", "/v1/me", None, Body::None);
    assert_eq!(code, 401, "{body}");
    assert_eq!(json(&body)["reason"], "unauthenticated");
    let (code, _) = call("GET", "/.well-known/jwks.json", None, Body::None);
    assert_eq!(code, 200);
    let (code, _) = call("GET", "/v1/sync/marks", None, Body::None);
    assert_eq!(
        code, 401,
        "unauthenticated callers learn nothing of the routes"
    );

    let (code, body) = login("acme", "ada", "wrong password!!");
    assert_eq!(code, 401, "{body}");
    assert_eq!(
        json(&body)["message"],
        "wrong tenant, user name or password"
    );
    let (code, body) = login("acme", "nobody", PASSWORD);
    assert_eq!(
        (code, json(&body)["message"].clone()),
        (401, json(r#""wrong tenant, user name or password""#))
    );
    let (code, body) = login("acme", "ada", PASSWORD);
    assert_eq!(code, 200, "{body}");
    let ada = json(&body)["token"].as_str().unwrap().to_owned();
    let (code, body) = call("GET", "/v1/me", Some(&ada), Body::None);
    assert_eq!(code, 200);
    let me = json(&body);
    assert_eq!(
        (me["tenant"].as_str(), me["actor"].as_str()),
        (Some("acme"), Some("user:ada"))
    );
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "user:admin")
    );
    // (GET: a POST body left unread by a 404 can make curl report a reset HTTP/2 stream.)
    let (code, body) = call("GET", "/v1/sync/marks", Some(&ada), Body::None);
    assert_eq!(
        code, 404,
        "sync is not on the public listener, even for an admin: {body}"
    );
    // A token with one character changed is refused.
    let mut forged = ada.clone().into_bytes();
    let at = forged.len() - 5;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let (code, _) = call(
        "GET",
        "/v1/me",
        Some(std::str::from_utf8(&forged).unwrap()),
        Body::None,
    );
    assert_eq!(code, 401);

    // Ada makes an auditor; the auditor reads the trail but may not administer or capture.
    let (code, body) = call(
        "POST",
        "/v1/users",
        Some(&ada),
        Body::Json(&format!(
            r#"{{"username":"quinn","display_name":"Quinn","password":"{PASSWORD}","roles":["auditor"]}}"#
        )),
    );
    assert_eq!(code, 201, "{body}");
    assert!(!body.contains("argon2"), "no hash in answers: {body}");
    let (code, body) = call(
        "POST",
        "/v1/users",
        Some(&ada),
        Body::Json(&format!(
            r#"{{"username":"x","password":"{PASSWORD}","roles":["wizard"]}}"#
        )),
    );
    assert_eq!(code, 400);
    assert!(
        json(&body)["message"]
            .as_str()
            .unwrap()
            .contains("no role \"wizard\"")
    );
    let (_, body) = login("acme", "quinn", PASSWORD);
    let quinn = json(&body)["token"].as_str().unwrap().to_owned();
    let (code, body) = call("GET", "/v1/audit/verify", Some(&quinn), Body::None);
    assert_eq!(code, 200, "{body}");
    let (code, body) = call("GET", "/v1/users", Some(&quinn), Body::None);
    assert_eq!(code, 403);
    assert!(
        json(&body)["message"]
            .as_str()
            .unwrap()
            .contains("lacks the permission user:admin")
    );
    let plant = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/foodgraph/tests/data/pasta-plant.json"
    ));
    let (code, _) = call("POST", "/v1/epcis/capture", Some(&quinn), Body::File(plant));
    assert_eq!(code, 403);
    // A role change applies to the tokens already out, on their next request.
    let sources = |tok: &str| call("GET", "/v1/trace/sources", Some(tok), Body::None).0;
    assert_eq!(sources(&quinn), 403);
    let set_roles = |roles: &str| {
        call(
            "PATCH",
            "/v1/users/quinn",
            Some(&ada),
            Body::Json(&format!(r#"{{"roles":{roles}}}"#)),
        )
    };
    assert_eq!(set_roles(r#"["quality_manager"]"#).0, 200);
    assert_eq!(sources(&quinn), 200);
    assert_eq!(set_roles(r#"["auditor"]"#).0, 200);
    assert_eq!(sources(&quinn), 403);

    // A service key with the quality role captures; its secret is shown once.
    let (code, body) = call(
        "POST",
        "/v1/api-keys",
        Some(&ada),
        Body::Json(r#"{"name":"mes","roles":["quality_manager"]}"#),
    );
    assert_eq!(code, 201, "{body}");
    let key = json(&body)["key"].as_str().unwrap().to_owned();
    let (code, body) = call("POST", "/v1/epcis/capture", Some(&key), Body::File(plant));
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["captured"], 11);
    let (_, body) = call("GET", "/v1/api-keys", Some(&ada), Body::None);
    assert!(
        !body.contains(key.rsplit('.').next().unwrap()),
        "the secret is not listed: {body}"
    );

    // Electronic signatures: a person re-enters the password; keys cannot sign.
    let b1 = "urn%3Aepc%3Aclass%3Algtin%3A0614141.000300.B1";
    let sign = |bearer: &str, body: &str| {
        call(
            "POST",
            &format!("/v1/batches/{b1}/approve"),
            Some(bearer),
            Body::Json(body),
        )
    };
    let (code, body) = sign(
        &ada,
        r#"{"meaning":"release","password":"not my password"}"#,
    );
    assert_eq!(code, 401, "{body}");
    assert_eq!(json(&body)["reason"], "reauthentication");
    let (code, _) = sign(
        &ada,
        &format!(r#"{{"meaning":"maybe","password":"{PASSWORD}"}}"#),
    );
    assert_eq!(code, 400);
    let (code, _) = sign(
        &key,
        &format!(r#"{{"meaning":"release","password":"{PASSWORD}"}}"#),
    );
    assert_eq!(code, 403);
    let (code, body) = call(
        "POST",
        "/v1/batches/urn%3Aepc%3Aclass%3Algtin%3A1.2.NOPE/approve",
        Some(&ada),
        Body::Json(&format!(
            r#"{{"meaning":"release","password":"{PASSWORD}"}}"#
        )),
    );
    assert_eq!(code, 404, "{body}");
    let (code, body) = sign(
        &ada,
        &format!(r#"{{"meaning":"release","password":"{PASSWORD}","comment":"lab OK"}}"#),
    );
    assert_eq!(code, 201, "{body}");
    let signed_at = json(&body)["audit_seq"].as_u64().unwrap();
    let (code, body) = call(
        "GET",
        &format!("/v1/batches/{b1}/approvals"),
        Some(&ada),
        Body::None,
    );
    assert_eq!(code, 200);
    let a = json(&body);
    assert_eq!(a.as_array().unwrap().len(), 1, "{body}");
    assert_eq!(
        (
            a[0]["signature"]["signer"].as_str(),
            a[0]["signature"]["reauthenticated"].as_bool()
        ),
        (Some("ada"), Some(true))
    );
    let (_, body) = call(
        "GET",
        &format!("/v1/audit/entries?from={signed_at}&limit=1"),
        Some(&ada),
        Body::None,
    );
    let entry = json(&body);
    assert_eq!(
        (
            entry[0]["action"].as_str(),
            entry[0]["signature"]["meaning"].as_str()
        ),
        (Some("batch.approve"), Some("release"))
    );
    assert!(!body.contains(PASSWORD));

    // The FSMA spreadsheet as XLSX.
    let (code, body) = call(
        "GET",
        "/v1/fsma204/export?format=xlsx",
        Some(&ada),
        Body::None,
    );
    assert_eq!(code, 200);
    assert!(body.starts_with("PK"), "an XLSX is a zip");

    // Tenants: globex's admin sees none of acme; acme's key under globex's name is refused.
    let (_, body) = login("globex", "gus", PASSWORD);
    let gus = json(&body)["token"].as_str().unwrap().to_owned();
    let (code, body) = call("GET", "/v1/users", Some(&gus), Body::None);
    assert_eq!(code, 200);
    assert_eq!(json(&body).as_array().unwrap().len(), 1, "{body}");
    let (code, body) = call(
        "GET",
        "/v1/trace/forward?id=urn%3Aepc%3Aclass%3Algtin%3A0614141.000200.E1",
        Some(&gus),
        Body::None,
    );
    assert_eq!(code, 404, "{body}");
    // Acme's users, keys and approvals are not there for globex's admin.
    let (code, _) = call(
        "PATCH",
        "/v1/users/quinn",
        Some(&gus),
        Body::Json(r#"{"disabled":true}"#),
    );
    assert_eq!(code, 404);
    let acme_key_id = key.split('.').nth(2).unwrap();
    let (code, _) = call(
        "DELETE",
        &format!("/v1/api-keys/{acme_key_id}"),
        Some(&gus),
        Body::None,
    );
    assert_eq!(code, 404);
    let (code, body) = call(
        "GET",
        &format!("/v1/batches/{b1}/approvals"),
        Some(&gus),
        Body::None,
    );
    assert_eq!((code, body.as_str()), (200, "[]"));
    let (code, body) = call("GET", "/v1/audit/entries", Some(&gus), Body::None);
    assert_eq!(code, 200);
    assert!(
        !body.contains("quinn") && !body.contains("batch.approve"),
        "{body}"
    );
    let moved = key.replacen("ffk.acme.", "ffk.globex.", 1);
    let (code, _) = call("GET", "/v1/me", Some(&moved), Body::None);
    assert_eq!(code, 401);
    let (code, body) = login("acme", "gus", PASSWORD);
    assert_eq!(code, 401, "{body}");

    // Disabling a user ends their tokens at once; revoking a key ends it.
    let (code, body) = call(
        "PATCH",
        "/v1/users/quinn",
        Some(&ada),
        Body::Json(r#"{"disabled":true}"#),
    );
    assert_eq!(code, 200, "{body}");
    let (code, _) = call("GET", "/v1/me", Some(&quinn), Body::None);
    assert_eq!(code, 401);
    let key_id = key.split('.').nth(2).unwrap();
    let (code, _) = call(
        "DELETE",
        &format!("/v1/api-keys/{key_id}"),
        Some(&ada),
        Body::None,
    );
    assert_eq!(code, 204);
    let (code, _) = call("GET", "/v1/me", Some(&key), Body::None);
    assert_eq!(code, 401);

    // Five wrong passwords in a row lock the account for a while.
    for _ in 0..5 {
        assert_eq!(login("globex", "gus", "not the password").0, 401);
    }
    let (code, body) = login("globex", "gus", PASSWORD);
    assert_eq!(code, 429, "{body}");

    // Every identity write is in acme's trail, by whom, and no secret is.
    let (_, body) = call("GET", "/v1/audit/entries?limit=100", Some(&ada), Body::None);
    let entries = json(&body);
    let actions: Vec<(&str, &str)> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] != "epcis.capture")
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(actions[0].0, "user.create");
    assert!(actions[0].1.starts_with("cli:admin-create"), "{actions:?}");
    assert!(actions.contains(&("user.create", "user:ada")));
    assert!(actions.contains(&("apikey.create", "user:ada")));
    assert!(actions.contains(&("user.update", "user:ada")));
    assert!(actions.contains(&("apikey.delete", "user:ada")));
    assert!(actions.contains(&("batch.approve", "user:ada")));
    assert!(
        entries
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "epcis.capture"
                && e["actor"].as_str().unwrap().starts_with("apikey:"))
    );
    assert!(
        !body.contains("argon2")
            && !body.contains(PASSWORD)
            && !body.contains(key.rsplit('.').next().unwrap())
    );
    let (_, body) = call("GET", "/v1/audit/verify", Some(&ada), Body::None);
    assert_eq!(json(&body)["ok"], true, "{body}");
}
