//! Optimization jobs through the hub's public API as a plant uses them: a planner submits a
//! production plan, a schedule, routes and an inventory policy as jobs and reads them back;
//! a production manager signs the plan into force with a re-entered password, audited; bad
//! and infeasible inputs are explained; permissions hold — the real binary over TLS with curl.

mod support;

use std::time::{Duration, Instant};

use support::{Body, FT06, TINY, admin_create, curl_bearer, hub, login, routing_args, run_hub};

const PASSWORD: &str = "correct horse battery staple";
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/optimize/plan.example.yaml");

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn cli(args: &[&str]) -> String {
    let (ok, out, err) = run_hub(args);
    assert!(ok, "{err}");
    out
}

#[test]
fn plans_schedules_routes_and_stock_levels_run_as_jobs_and_plans_are_signed_into_force() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let data = dir.path().join("data");
    let (p, d) = (pki.to_str().unwrap(), data.to_str().unwrap());
    hub(&["pki", "init", "--dir", p]);
    assert!(admin_create(d, "acme", "ada", PASSWORD).status.success());
    let served = support::start(d, p);
    let base = served.public_url.clone();
    let call = |method: &str, path: &str, bearer: &str, body: Body<'_>| {
        curl_bearer(method, &format!("{base}{path}"), &pki, Some(bearer), body)
    };
    let post_file = |path: &str, bearer: &str, v: &serde_json::Value| {
        let f = dir.path().join("req.json");
        std::fs::write(&f, v.to_string()).unwrap();
        call("POST", path, bearer, Body::File(&f))
    };
    let ada = login(&base, &pki, "acme", "ada", PASSWORD);
    for (user, role) in [("pat", "planner"), ("mo", "production_manager")] {
        let (code, body) = call(
            "POST",
            "/v1/users",
            &ada,
            Body::Json(&format!(
                r#"{{"username":"{user}","password":"{PASSWORD}","roles":["{role}"]}}"#
            )),
        );
        assert_eq!(code, 201, "{body}");
    }
    let pat = login(&base, &pki, "acme", "pat", PASSWORD);
    let mo = login(&base, &pki, "acme", "mo", PASSWORD);
    let wait = |id: &str| {
        let until = Instant::now() + Duration::from_secs(120);
        let mut seen = Vec::new();
        loop {
            let (code, body) = call(
                "GET",
                &format!("/v1/optimization/jobs/{id}"),
                &pat,
                Body::None,
            );
            assert_eq!(code, 200, "{body}");
            let v = json(&body);
            let state = v["status"]["state"].as_str().unwrap().to_owned();
            if !seen.contains(&state) {
                seen.push(state.clone());
            }
            if state == "done" || state == "failed" {
                return (v, seen);
            }
            assert!(Instant::now() < until, "job {id} still {state}: {body}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let submit = |kind: &str, req: serde_json::Value| {
        let (code, body) = post_file(&format!("/v1/optimization/{kind}"), &pat, &req);
        assert_eq!(code, 202, "{body}");
        json(&body)["id"].as_str().unwrap().to_owned()
    };

    // The example plan as a job: the same optimum the CLI finds.
    let yaml = std::fs::read_to_string(EXAMPLE).unwrap();
    let plan_id = submit(
        "plan",
        serde_json::json!({"instance": yaml, "time_limit_s": 20, "seed": 1}),
    );
    let (plan, states) = wait(&plan_id);
    assert_eq!(plan["status"]["state"], "done", "{plan}");
    assert!(
        states
            .iter()
            .all(|s| ["queued", "running", "done"].contains(&s.as_str())),
        "{states:?}"
    );
    assert_eq!(plan["status"]["kind"], "plan");
    assert_eq!(plan["status"]["actor"], "user:pat");
    assert!(
        plan["status"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("bakery-week: 2 lines × 4 products × 5 days"),
        "{plan}"
    );
    let result = &plan["result"];
    let by_cli = json(&cli(&[
        "optimize",
        "plan",
        "--instance",
        EXAMPLE,
        "--time-limit",
        "20",
        "--seed",
        "1",
        "--format",
        "json",
    ]));
    assert_eq!(result["status"], "optimal", "{result}");
    let (api_cost, cli_cost) = (
        result["cost"]["total"].as_f64().unwrap(),
        by_cli["cost"]["total"].as_f64().unwrap(),
    );
    assert!(
        (api_cost - cli_cost).abs() < 1e-6 * cli_cost.abs().max(1.0),
        "{api_cost} vs {cli_cost}"
    );
    assert_eq!(result["periods"].as_array().unwrap().len(), 5);

    // A plan is not in force until it is signed, and a planner cannot sign it.
    let (code, body) = call("GET", "/v1/optimization/plans/active", &pat, Body::None);
    assert_eq!(
        (code, json(&body)["job"].clone()),
        (200, serde_json::Value::Null),
        "{body}"
    );
    let approve = format!("/v1/optimization/jobs/{plan_id}/approve");
    let sig = |pw: &str, meaning: &str| serde_json::json!({"meaning": meaning, "password": pw, "comment": "week 48"});
    let (code, body) = post_file(&approve, &pat, &sig(PASSWORD, "approve"));
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("lacks the permission plan:approve"), "{body}");
    let (code, body) = post_file(&approve, &mo, &sig("not my password", "approve"));
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("the signature was not applied"), "{body}");
    let (code, body) = post_file(&approve, &mo, &sig(PASSWORD, "bless"));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("use one of approve, reject"), "{body}");
    let (code, body) = call("GET", "/v1/optimization/plans/active", &pat, Body::None);
    assert!(
        code == 200 && json(&body)["job"].is_null(),
        "still none after refused signatures: {body}"
    );
    let (code, body) = post_file(&approve, &mo, &sig(PASSWORD, "approve"));
    assert_eq!(code, 201, "{body}");
    let signed = json(&body);
    assert_eq!(signed["active"], true);
    assert_eq!(signed["signature"]["signature"]["signer"], "mo");
    let seq = signed["audit_seq"].as_u64().unwrap();

    let (code, body) = call("GET", "/v1/optimization/plans/active", &pat, Body::None);
    assert_eq!(code, 200, "{body}");
    let active = json(&body);
    assert_eq!(active["job"], plan_id.as_str());
    assert_eq!(active["approved"]["signer"], "mo");
    assert_eq!(active["plan"]["cost"]["total"], result["cost"]["total"]);
    let (code, body) = call(
        "GET",
        &format!("/v1/optimization/jobs/{plan_id}"),
        &pat,
        Body::None,
    );
    assert_eq!(code, 200);
    assert_eq!(json(&body)["signatures"][0]["meaning"], "approve");

    // The trail holds the signature, and still verifies.
    let (code, body) = call(
        "GET",
        &format!("/v1/audit/entries?from={seq}&limit=1"),
        &ada,
        Body::None,
    );
    assert_eq!(code, 200, "{body}");
    let entry = &json(&body)[0];
    assert_eq!(entry["action"], "plan.approve", "{entry}");
    assert_eq!(entry["object"], plan_id.as_str());
    assert_eq!(entry["actor"], "user:mo");
    assert_eq!(entry["signature"]["signer"], "mo");
    assert_eq!(entry["signature"]["reauthenticated"], true);
    let (code, body) = call("GET", "/v1/audit/verify", &ada, Body::None);
    assert_eq!(code, 200, "{body}");

    // Bad input is refused at once, naming the line, column and field; nothing is queued.
    let (code, body) = post_file(
        "/v1/optimization/plan",
        &pat,
        &serde_json::json!({"instance": yaml.replace("shelf_life: 3", "shelf_life: three")}),
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("instance:35:17: products[1].shelf_life"),
        "{body}"
    );
    let (code, body) = post_file(
        "/v1/optimization/plan",
        &pat,
        &serde_json::json!({"instance": yaml, "time_limit_s": 100000}),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("time_limit_s must lie in (0, 600]"), "{body}");
    let (code, body) = post_file("/v1/optimization/teleport", &pat, &serde_json::json!({}));
    assert_eq!(code, 404, "{body}");
    assert!(
        body.contains("use one of plan, schedule, routing, inventory"),
        "{body}"
    );

    // An infeasible plan fails with the constraints that conflict, and cannot be signed.
    let infeasible = yaml
        .replace("min_service: 0.8", "min_service: 1.0")
        .replace(
            "[6000, 6500, 6200, 7000, 7500]",
            "[6000, 6500, 6200, 7000, 60000]",
        );
    let bad_id = submit(
        "plan",
        serde_json::json!({"instance": infeasible, "time_limit_s": 20}),
    );
    let (bad, _) = wait(&bad_id);
    assert_eq!(bad["status"]["state"], "failed", "{bad}");
    assert!(
        bad["status"]["error"]
            .as_str()
            .unwrap()
            .contains("the plan is infeasible"),
        "{bad}"
    );
    let (code, body) = post_file(
        &format!("/v1/optimization/jobs/{bad_id}/approve"),
        &mo,
        &sig(PASSWORD, "approve"),
    );
    assert_eq!(code, 409, "{body}");

    // A job shop: Fisher and Thompson's ft06 to its optimum, checked by the hub.
    let sched = submit(
        "schedule",
        serde_json::json!({"instance": FT06, "name": "ft06", "time_limit_s": 30, "iterations": 20000}),
    );
    let (s, _) = wait(&sched);
    assert_eq!(s["status"]["state"], "done", "{s}");
    assert_eq!(s["result"]["makespan"], 55, "{s}");
    assert!(
        s["result"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Instance ft06\nMakespan 55\n")
    );
    let (code, body) = post_file(
        &format!("/v1/optimization/jobs/{sched}/approve"),
        &mo,
        &sig(PASSWORD, "approve"),
    );
    assert_eq!(code, 409, "only plans are signed: {body}");

    // Routes: with an iteration budget the answer depends on the seed only, as in the CLI.
    let route = submit(
        "routing",
        serde_json::json!({"instance": TINY, "time_limit_s": 60, "iterations": 300, "seed": 4}),
    );
    let (r, _) = wait(&route);
    assert_eq!(r["status"]["state"], "done", "{r}");
    let inst = dir.path().join("tiny.vrp");
    std::fs::write(&inst, TINY).unwrap();
    let out = cli(&routing_args(inst.to_str().unwrap(), &["--seed", "4"]));
    assert_eq!(r["result"]["vrplib"].as_str().unwrap(), out);
    let mut served: Vec<u64> = r["result"]["routes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|x| x.as_array().unwrap().iter().map(|c| c.as_u64().unwrap()))
        .collect();
    served.sort_unstable();
    assert_eq!(served, vec![1, 2, 3, 4]);

    // Stock levels: a 4-period lead time over steady demand (sd 10 a period) at 95 %.
    let inv = submit(
        "inventory",
        serde_json::json!({"items": [{"id": "white-loaf", "mean": [100, 100, 100, 100, 100], "sd": [10, 10, 10, 10, 10]}], "lead_time": 4, "service_level": 0.95}),
    );
    let (i, _) = wait(&inv);
    assert_eq!(i["status"]["state"], "done", "{i}");
    let rec = &i["result"]["recommendations"][0];
    assert_eq!(rec["demand"], 400.0);
    // z(0.95) = 1.644854; √4 × 10 = 20.
    assert!(
        (rec["safety_stock"].as_f64().unwrap() - 32.897).abs() < 0.01,
        "{rec}"
    );
    let (code, body) = post_file(
        "/v1/optimization/inventory",
        &pat,
        &serde_json::json!({"forecast": "fc-0-0", "lead_time": 2}),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("no forecast \\\"fc-0-0\\\""), "{body}");

    // Every accepted job is listed, newest first, without its answer.
    let (code, body) = call("GET", "/v1/optimization/jobs", &pat, Body::None);
    assert_eq!(code, 200);
    let list = json(&body);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 5, "{list}");
    assert_eq!(ids[0], inv.as_str());
    assert!(list[0].get("result").is_none());
}
