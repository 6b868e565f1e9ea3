//! The attack suite: each test performs one attack of the hardening review against the real
//! hub binary (run-time ports, real certificates, curl as the client) and checks that the hub,
//! and every other tenant, carry on. Numbers refer to the items of the hardening issue.

mod support;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use foodflow_protocol::batch::Entry;
use foodflow_protocol::{Batch, DeviceId, Payload, PriorityClass, Segment, StreamId};
use support::{Body, Kill, TINY, admin_create, curl, curl_bearer, hub, login};

const PASSWORD: &str = "correct horse battery staple";

/// A hub with two tenants (acme: gateway `gw`, devices `line-1`, `line-2`, person `ada`;
/// other: gateway `gw-b`, person `bob`), serving on run-time ports.
struct Plant {
    _dir: tempfile::TempDir,
    pki: PathBuf,
    data: PathBuf,
    mtls: String,
    public: String,
    admin: String,
    hub_process: Kill,
}

impl Plant {
    fn start() -> Plant {
        Self::start_in(None)
    }

    /// With the data directory at `data` (a small filesystem, for the disk tests).
    fn start_in(data: Option<PathBuf>) -> Plant {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        let data = data.unwrap_or_else(|| dir.path().join("data"));
        let p = pki.to_str().unwrap();
        hub(&["pki", "init", "--dir", p]);
        for (flag, id, tenant) in [
            ("--gateway", "gw", "acme"),
            ("--device", "line-1", "acme"),
            ("--device", "line-2", "acme"),
            ("--gateway", "gw-b", "other"),
        ] {
            hub(&["pki", "issue", "--dir", p, flag, id, "--tenant", tenant]);
        }
        let d = data.to_str().unwrap();
        for (tenant, user) in [("acme", "ada"), ("other", "bob")] {
            assert!(admin_create(d, tenant, user, PASSWORD).status.success());
        }
        let (hub_process, [mtls, public, admin]) = spawn_hub(&pki, &data);
        Plant {
            mtls,
            public,
            admin,
            _dir: dir,
            pki,
            data,
            hub_process,
        }
    }

    fn token(&self, tenant: &str, user: &str) -> String {
        login(&self.public, &self.pki, tenant, user, PASSWORD)
    }

    fn people(&self, method: &str, path: &str, token: &str, body: Body<'_>) -> (u16, String) {
        curl_bearer(
            method,
            &format!("{}{path}", self.public),
            &self.pki,
            Some(token),
            body,
        )
    }

    fn client(&self, who: &str) -> foodflow_transport::SyncClient {
        foodflow_transport::SyncClient::new(
            &self.mtls,
            &foodflow_transport::tls::TlsFiles::in_dir(&self.pki, who),
            Duration::from_secs(10),
        )
        .unwrap()
    }
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn segment(device: &str, stream: &str, seqs: &[u64], payload: impl Fn(u64) -> Payload) -> Segment {
    Segment {
        device: DeviceId::new(device).unwrap(),
        stream: StreamId::new(stream).unwrap(),
        class: PriorityClass::Critical,
        entries: seqs
            .iter()
            .map(|&seq| Entry {
                seq,
                ts_ns: foodflow_protocol::time::now_ns(),
                payload: payload(seq),
                clock: None,
            })
            .collect(),
    }
}

fn event(seq: u64) -> Payload {
    Payload::Event(foodflow_protocol::Event {
        severity: foodflow_protocol::Severity::Info,
        name: format!("e{seq}"),
        message: "m".into(),
    })
}

fn upload(
    c: &foodflow_transport::SyncClient,
    segments: Vec<Segment>,
) -> Result<foodflow_protocol::SyncAck, foodflow_transport::SendError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(c.upload(Batch { segments }.encode(1)))
}

fn refused_with(
    r: Result<foodflow_protocol::SyncAck, foodflow_transport::SendError>,
    reason: &str,
) {
    match r {
        Err(e) => assert!(e.to_string().contains(reason), "{e}"),
        Ok(a) => panic!("accepted, expected a refusal with {reason}: {a:?}"),
    }
}

/// 1 and 8: announced sizes are refused before anything is allocated, the job queue is
/// bounded per tenant, another tenant's first job runs at once, and jobs can be cancelled.
#[test]
fn one_request_cannot_crash_or_exhaust_the_hub() {
    let p = Plant::start();
    let ada = p.token("acme", "ada");
    let bob = p.token("other", "bob");
    let huge_vrp = "NAME : x\nTYPE : CVRPTW\nDIMENSION : 10000000000000000\nVEHICLES : 2\nCAPACITY : 10\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n1 0 0\nEOF\n";
    let many_vehicles = TINY.replace("VEHICLES : 2", "VEHICLES : 10000000000000000");
    for (kind, body, limit) in [
        (
            "routing",
            serde_json::json!({"instance": huge_vrp}),
            "DIMENSION 10000000000000000 exceeds the limit",
        ),
        (
            "routing",
            serde_json::json!({"instance": many_vehicles}),
            "VEHICLES 10000000000000000 exceeds the limit",
        ),
        (
            "schedule",
            serde_json::json!({"instance": "100000000000000 5\n0 1 1 1\n"}),
            "jobs 100000000000000 exceeds the limit",
        ),
    ] {
        let (code, text) = p.people(
            "POST",
            &format!("/v1/optimization/{kind}"),
            &ada,
            Body::Json(&body.to_string()),
        );
        assert_eq!(code, 400, "{kind}: {text}");
        assert!(text.contains(limit), "{kind}: {text}");
    }
    let csv = "unique_id,ds,y\\na,1,1\\na,2,2\\na,3,3\\n";
    let (code, text) = p.people(
        "POST",
        "/v1/forecasts",
        &ada,
        Body::Json(&format!(r#"{{"csv":"{csv}","horizon":1000000000000000}}"#)),
    );
    assert_eq!(code, 400, "{text}");
    assert!(
        text.contains("horizon 1000000000000000 exceeds the limit"),
        "{text}"
    );

    // Sixteen long jobs: one runs, fifteen wait; the seventeenth is refused.
    let long = serde_json::json!({"instance": TINY, "time_limit_s": 600}).to_string();
    let mut ids = Vec::new();
    for _ in 0..16 {
        let (code, text) = p.people("POST", "/v1/optimization/routing", &ada, Body::Json(&long));
        assert_eq!(code, 202, "{text}");
        ids.push(json(&text)["id"].as_str().unwrap().to_owned());
    }
    let (code, text) = p.people("POST", "/v1/optimization/routing", &ada, Body::Json(&long));
    assert_eq!(code, 429, "{text}");
    assert_eq!(json(&text)["reason"], "queue_full");
    // Another tenant's first job does not wait behind them.
    let inventory = r#"{"items":[{"id":"a","mean":[10,10],"sd":[1,1]}],"lead_time":1}"#;
    let (code, text) = p.people(
        "POST",
        "/v1/optimization/inventory",
        &bob,
        Body::Json(inventory),
    );
    assert_eq!(code, 202, "{text}");
    let bobs = json(&text)["id"].as_str().unwrap().to_owned();
    let t0 = Instant::now();
    let state = |who: &str, id: &str| {
        let (_, text) = p.people(
            "GET",
            &format!("/v1/optimization/jobs/{id}"),
            who,
            Body::None,
        );
        json(&text)["status"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    while state(&bob, &bobs) != "done" {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "bob's job waited behind acme's"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Cancelling: a queued job never runs; the running one stops at once.
    let (code, text) = p.people(
        "POST",
        &format!("/v1/optimization/jobs/{}/cancel", ids[5]),
        &ada,
        Body::None,
    );
    assert_eq!(code, 200, "{text}");
    assert_eq!(state(&ada, &ids[5]), "cancelled");
    // Not another tenant's.
    let (code, _) = p.people(
        "POST",
        &format!("/v1/optimization/jobs/{}/cancel", ids[0]),
        &bob,
        Body::None,
    );
    assert_eq!(code, 404);
    let (code, text) = p.people(
        "POST",
        &format!("/v1/optimization/jobs/{}/cancel", ids[0]),
        &ada,
        Body::None,
    );
    assert_eq!(code, 200, "{text}");
    let t0 = Instant::now();
    while state(&ada, &ids[0]) != "cancelled" {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{}",
            state(&ada, &ids[0])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        state(&ada, &ids[1]),
        "running",
        "the next job took the freed place"
    );
    let (code, _) = p.people("GET", "/v1/me", &ada, Body::None);
    assert_eq!(code, 200, "the hub serves on");
}

/// 2: names are checked, the body is small, parallel guesses get no more tries than
/// sequential ones, and a stranger's failures lock out only the stranger's address.
#[test]
fn login_is_bounded_and_throttled_per_source() {
    let p = Plant::start();
    let url = format!("{}/auth/login", p.public);
    let attempt = |from: &str, user: &str, password: &str| -> u16 {
        let body = serde_json::json!({"tenant": "acme", "username": user, "password": password})
            .to_string();
        let o = std::process::Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--interface",
                from,
            ])
            .arg("--cacert")
            .arg(p.pki.join("ca.pem"))
            .args([
                "-H",
                "content-type: application/json",
                "--data",
                &body,
                &url,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    };
    assert_eq!(
        attempt("127.0.0.1", &"a".repeat(100), "x"),
        400,
        "over-long user name"
    );
    assert_eq!(
        attempt("127.0.0.1", "ada", &"p".repeat(5000)),
        413,
        "body over the login limit"
    );
    // Twenty guesses at once from a stranger's address: five reach the password check.
    let codes: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..20)
            .map(|_| s.spawn(|| attempt("127.0.0.2", "ada", "wrong guess 123")))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let checked = codes.iter().filter(|c| **c == 401).count();
    let throttled = codes.iter().filter(|c| **c == 429).count();
    assert!(checked <= 5 && checked + throttled == 20, "{codes:?}");
    assert_eq!(
        attempt("127.0.0.2", "ada", PASSWORD),
        429,
        "the stranger's address is locked"
    );
    // Ada, from her own address, is not.
    assert_eq!(attempt("127.0.0.1", "ada", PASSWORD), 200);
}

/// 3: a slowloris on the public listener does not stop plants uploading over mTLS, is capped
/// per source address, and its connections are closed by the handshake timeout.
#[test]
fn slowloris_on_the_public_listener_does_not_stop_uploads() {
    let p = Plant::start();
    let public: std::net::SocketAddr = p.public.trim_start_matches("https://").parse().unwrap();
    let from = |ip: &str| {
        let s = connect_from(ip, public);
        s.map(|mut t| {
            use std::io::Write;
            // The start of a TLS ClientHello, then silence.
            let _ = t.write_all(&[0x16, 0x03, 0x01]);
            t
        })
    };
    let held: Vec<TcpStream> = (0..200).filter_map(|_| from("127.0.0.3")).collect();
    assert!(!held.is_empty());
    let t0 = Instant::now();
    let ack = upload(
        &p.client("line-1"),
        vec![segment("line-1", "plc", &[1, 2, 3], event)],
    )
    .unwrap();
    assert_eq!(ack.accepted, 3);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    let _ = p.token("acme", "ada");
    // The attacker's address got at most its share; the rest were closed at once.
    let open = held.iter().filter(|t| still_open(t)).count();
    assert!(open <= 64, "{open} connections held from one address");
    std::thread::sleep(Duration::from_secs(12));
    let open = held.iter().filter(|t| still_open(t)).count();
    assert_eq!(open, 0, "handshakes that never end are closed after 10 s");
}

/// A TCP connection from another loopback address: a distinct source for the hub.
fn connect_from(ip: &str, to: std::net::SocketAddr) -> Option<TcpStream> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?
        .block_on(async {
            let sock = tokio::net::TcpSocket::new_v4().ok()?;
            sock.bind(format!("{ip}:0").parse().ok()?).ok()?;
            let s = sock.connect(to).await.ok()?.into_std().ok()?;
            s.set_nonblocking(false).ok()?;
            Some(s)
        })
}

fn still_open(t: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    t.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    match t.peek(&mut b) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// 4: revoking a certificate cuts off a client that is already connected.
#[test]
fn revocation_bites_on_an_open_connection() {
    let p = Plant::start();
    let c = p.client("line-2");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let send = |seq: u64| {
        rt.block_on(
            c.upload(
                Batch {
                    segments: vec![segment("line-2", "plc", &[seq], event)],
                }
                .encode(1),
            ),
        )
    };
    assert_eq!(send(1).unwrap().accepted, 1);
    hub(&[
        "pki",
        "revoke",
        "--dir",
        p.pki.to_str().unwrap(),
        "--id",
        "line-2",
    ]);
    let e = send(2).unwrap_err();
    assert!(e.to_string().contains("revoked"), "{e}");
}

/// 5: a record with a seq far above the stream's mark is refused, and cannot make later
/// records duplicates.
#[test]
fn a_stream_cannot_be_poisoned() {
    let p = Plant::start();
    let c = p.client("line-1");
    assert_eq!(
        upload(&c, vec![segment("line-1", "plc", &[1, 2], event)])
            .unwrap()
            .accepted,
        2
    );
    refused_with(
        upload(&c, vec![segment("line-1", "plc", &[3, u64::MAX], event)]),
        "seq_jump",
    );
    refused_with(
        upload(&c, vec![segment("line-1", "plc", &[1 << 40], event)]),
        "seq_jump",
    );
    let a = upload(&c, vec![segment("line-1", "plc", &[3, 4], event)]).unwrap();
    assert_eq!((a.accepted, a.duplicates), (2, 0));
    assert_eq!(a.marks[0].seq, 4);
}

/// 5: a gateway uploads only for the devices its tenant bound it to; the binding is audited
/// and stays in its tenant.
#[test]
fn a_gateway_writes_only_for_its_bound_devices() {
    let p = Plant::start();
    let g = p.client("gw");
    refused_with(
        upload(&g, vec![segment("line-1", "plc", &[1], event)]),
        "bound to no devices",
    );
    let ada = p.token("acme", "ada");
    let (code, text) = p.people(
        "PUT",
        "/v1/gateways/gw/devices",
        &ada,
        Body::Json(r#"{"devices":["line-1"]}"#),
    );
    assert_eq!(code, 200, "{text}");
    assert_eq!(
        upload(&g, vec![segment("line-1", "plc", &[1, 2], event)])
            .unwrap()
            .accepted,
        2
    );
    // One foreign segment refuses the whole batch: nothing of it is stored.
    refused_with(
        upload(
            &g,
            vec![
                segment("line-1", "plc", &[3], event),
                segment("line-2", "plc", &[1], event),
            ],
        ),
        "not bound to device \"line-2\"",
    );
    let (_, marks) = curl(
        "GET",
        &format!("{}/v1/devices/line-1/streams", p.mtls),
        &p.pki,
        "gw",
        Body::None,
    );
    assert!(
        json(&marks).to_string().contains("\"records\":2"),
        "{marks}"
    );
    // Its own gap stream needs no binding.
    assert_eq!(
        upload(&g, vec![segment("gw", "gateway/gaps", &[1], event)])
            .unwrap()
            .accepted,
        1
    );
    // Acme's binding of a gateway named gw-b does not bind the other tenant's gw-b.
    let (code, _) = p.people(
        "PUT",
        "/v1/gateways/gw-b/devices",
        &ada,
        Body::Json(r#"{"devices":["line-9"]}"#),
    );
    assert_eq!(code, 200);
    refused_with(
        upload(
            &p.client("gw-b"),
            vec![segment("line-9", "plc", &[1], event)],
        ),
        "bound to no devices",
    );
    // A binding body past what 10,000 device ids need is not read.
    let huge = p.pki.with_file_name("huge-binding.json");
    std::fs::write(
        &huge,
        format!(r#"{{"devices":["{}"]}}"#, "x".repeat(900_000)),
    )
    .unwrap();
    let (code, _) = p.people("PUT", "/v1/gateways/gw/devices", &ada, Body::File(&huge));
    assert_eq!(code, 413);
    let bob = p.token("other", "bob");
    let (code, text) = p.people("GET", "/v1/gateways", &bob, Body::None);
    assert_eq!((code, text.as_str()), (200, "{}"));
    let (code, text) = p.people("GET", "/v1/audit/entries", &ada, Body::None);
    assert_eq!(code, 200);
    assert_eq!(text.matches("gateway.bind").count(), 2, "{text}");
}

/// 6: tiers own their stream prefixes, and a device's Trace records become EPCIS events only
/// with a grant, and only for its own locations.
#[test]
fn who_may_write_what() {
    let p = Plant::start();
    let c = p.client("line-1");
    refused_with(
        upload(&c, vec![segment("line-1", "hub/alarms", &[1], event)]),
        "hub/ streams",
    );
    refused_with(
        upload(&c, vec![segment("line-1", "gateway/gaps", &[1], event)]),
        "gateway/",
    );
    let g = p.client("gw");
    refused_with(
        upload(&g, vec![segment("line-1", "gateway/gaps", &[1], event)]),
        "gateway/",
    );
    refused_with(
        upload(&g, vec![segment("line-1", "hub/rollups", &[1], event)]),
        "hub/",
    );

    let here = "urn:epc:id:sgln:0614141.00777.0";
    let lot = |n: u64| format!("urn:epc:class:lgtin:0614141.000300.X{n}");
    let trace = |n: u64, at: &str| Payload::Trace {
        epcis: format!(
            r#"{{"type":"ObjectEvent","action":"ADD","bizStep":"commissioning","eventTime":"2026-11-21T09:00:00Z","eventTimeZoneOffset":"+00:00","readPoint":{{"id":"{at}"}},"quantityList":[{{"epcClass":"{}","quantity":5,"uom":"KGM"}}]}}"#,
            lot(n)
        ),
    };
    let known = |n: u64| {
        let (code, _) = curl(
            "GET",
            &format!(
                "{}/v1/trace/forward?id={}",
                p.mtls,
                lot(n).replace(':', "%3A")
            ),
            &p.pki,
            "gw",
            Body::None,
        );
        code == 200
    };
    // No grant: kept as received, not an event.
    let a = upload(
        &c,
        vec![segment("line-1", "trace/lots", &[1], |_| trace(1, here))],
    )
    .unwrap();
    assert_eq!(a.accepted, 1);
    assert!(!known(1));
    // A device certificate cannot grant itself; a person with trace:sources can.
    let (code, _) = curl(
        "PUT",
        &format!("{}/v1/trace/sources/line-1", p.mtls),
        &p.pki,
        "line-1",
        Body::Json(r#"{"locations":["urn:epc:id:sgln:0614141.00777.0"]}"#),
    );
    assert_eq!(code, 403);
    let ada = p.token("acme", "ada");
    let (code, text) = p.people(
        "PUT",
        "/v1/trace/sources/line-1",
        &ada,
        Body::Json(&format!(r#"{{"locations":["{here}"]}}"#)),
    );
    assert_eq!(code, 200, "{text}");
    let a = upload(
        &c,
        vec![segment("line-1", "trace/lots", &[2, 3], |s| {
            if s == 2 {
                trace(2, "urn:epc:id:sgln:0614141.00888.0")
            } else {
                trace(3, here)
            }
        })],
    )
    .unwrap();
    assert_eq!(a.accepted, 2);
    assert!(!known(2), "another location is not the device's to record");
    assert!(known(3));
    // The grant and the captured event are in the verified trail.
    let (code, text) = p.people("GET", "/v1/audit/verify", &ada, Body::None);
    assert_eq!(code, 200, "{text}");
    assert_eq!(json(&text)["ok"], true, "{text}");
    let (_, text) = p.people(
        "GET",
        "/v1/audit/entries?from=1&limit=100",
        &ada,
        Body::None,
    );
    assert!(text.contains("trace.source.grant"), "{text}");
}

/// 7: a Trace record and its FoodGraph event and audit entry commit together: the hub killed
/// at any moment of a stream of lot uploads leaves every acknowledged record indexed and
/// audited after the restart.
#[test]
fn regulated_writes_survive_a_kill_together() {
    let mut p = Plant::start();
    let ada = p.token("acme", "ada");
    let here = "urn:epc:id:sgln:0614141.00777.0";
    let (code, _) = p.people(
        "PUT",
        "/v1/trace/sources/line-1",
        &ada,
        Body::Json(&format!(r#"{{"locations":["{here}"]}}"#)),
    );
    assert_eq!(code, 200);
    let lot = |n: u64| format!("urn:epc:class:lgtin:0614141.000300.K{n}");
    let c = p.client("line-1");
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let pid = p.hub_process.0.id();
    std::thread::scope(|s| {
        let acked = acked.clone();
        let c = &c;
        s.spawn(move || {
            for n in 1..=400u64 {
                let payload = Payload::Trace {
                    epcis: format!(
                        r#"{{"type":"ObjectEvent","action":"ADD","bizStep":"commissioning","eventTime":"2026-11-21T09:00:00Z","eventTimeZoneOffset":"+00:00","readPoint":{{"id":"{here}"}},"quantityList":[{{"epcClass":"{}","quantity":5,"uom":"KGM"}}]}}"#,
                        lot(n)
                    ),
                };
                match upload(c, vec![segment("line-1", "trace/lots", &[n], |_| payload.clone())]) {
                    Ok(_) => acked.store(n, std::sync::atomic::Ordering::SeqCst),
                    Err(_) => break,
                }
            }
        });
        std::thread::sleep(Duration::from_millis(1500));
        // SIGKILL: no shutdown path runs. SAFETY: a plain signal to our own child process.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
    let _ = p.hub_process.0.wait();
    let n = acked.load(std::sync::atomic::Ordering::SeqCst);
    assert!(n > 0, "nothing was acknowledged before the kill");
    p.restart();
    let ada = p.token("acme", "ada");
    for k in 1..=n {
        let (code, text) = p.people(
            "GET",
            &format!("/v1/trace/forward?id={}", lot(k).replace(':', "%3A")),
            &ada,
            Body::None,
        );
        assert_eq!(
            code, 200,
            "lot {k} of {n} acknowledged but not indexed: {text}"
        );
    }
    let (code, text) = p.people("GET", "/v1/audit/verify", &ada, Body::None);
    assert_eq!(code, 200, "{text}");
    assert_eq!(json(&text)["ok"], true, "{text}");
}

impl Plant {
    /// Starts the hub again on the same data and PKI (new ports).
    fn restart(&mut self) {
        let (k, [mtls, public, admin]) = spawn_hub(&self.pki, &self.data);
        (self.hub_process, self.mtls, self.public, self.admin) = (k, mtls, public, admin);
    }
}

/// `foodflow-hub serve` on run-time ports: the process and its mTLS, public and admin base URLs.
fn spawn_hub(pki: &Path, data: &Path) -> (Kill, [String; 3]) {
    let s = support::start(data, pki);
    (s.process, [s.api_url, s.public_url, s.admin_url])
}

/// 9: a full disk: writes are refused (never acknowledged), `/healthz` says why, and writes
/// come back by themselves when space returns, with nothing acknowledged lost.
#[test]
fn a_full_disk_is_reported_and_recovered_from() {
    let disk = match foodflow_storekit::testing::SmallDisk::mount(24) {
        Ok(d) => d,
        Err(why) => {
            eprintln!("SKIP a_full_disk_is_reported_and_recovered_from: {why}");
            return;
        }
    };
    let p = Plant::start_in(Some(disk.path().join("data")));
    let c = p.client("line-1");
    let health = || {
        let o = std::process::Command::new("curl")
            .args([
                "-sS",
                "-w",
                "\n%{http_code}",
                &format!("{}/healthz", p.admin),
            ])
            .output()
            .unwrap();
        let t = String::from_utf8_lossy(&o.stdout).to_string();
        let (body, code) = t.rsplit_once('\n').unwrap();
        (code.trim().parse::<u16>().unwrap_or(0), body.to_owned())
    };
    assert_eq!(health().0, 200);
    // Fill the disk with a ballast file, leaving about 3 MB for the store to run into.
    disk.fill(3 << 20);
    let big = |seq: u64| {
        Payload::Event(foodflow_protocol::Event {
            severity: foodflow_protocol::Severity::Info,
            name: format!("e{seq}"),
            message: "x".repeat(200_000),
        })
    };
    let mut acked = 0;
    let mut refused = false;
    for seq in 1..=200u64 {
        match upload(&c, vec![segment("line-1", "plc", &[seq], big)]) {
            Ok(a) => acked = a.marks[0].seq,
            Err(e) => {
                assert!(e.to_string().contains("disk error"), "{e}");
                refused = true;
                break;
            }
        }
    }
    assert!(refused, "the disk never filled");
    let (code, body) = health();
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("store writes failing"), "{body}");
    disk.free();
    // Space is back: health and writes recover by themselves.
    let t0 = Instant::now();
    while health().0 != 200 {
        assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", health());
        std::thread::sleep(Duration::from_millis(200));
    }
    let a = upload(&c, vec![segment("line-1", "plc", &[acked + 1], event)]).unwrap();
    assert_eq!((a.accepted, a.marks[0].seq), (1, acked + 1));
    // Everything acknowledged is there.
    let (code, text) = curl(
        "GET",
        &format!(
            "{}/v1/devices/line-1/streams/plc/records?from=1&limit=1000",
            p.mtls
        ),
        &p.pki,
        "gw",
        Body::None,
    );
    assert_eq!(code, 200);
    assert_eq!(
        json(&text)["records"].as_array().unwrap().len() as u64,
        acked + 1
    );
}
