//! The kit the rig's tests share for driving real binaries: start a service and wait for its
//! ready line, poll until a condition holds (with the service's log when it does not), plain
//! HTTP probes, MQTT publishing that counts the broker's acknowledgements.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::peers::{Proc, bin};

/// Runs a FoodFlow binary to completion; panics with its stderr when it fails.
pub fn run(program: &str, args: &[&str]) {
    let out = Command::new(bin(program).unwrap())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts a service and waits for its ready line (a JSON object with `ready`) on stdout; its
/// log goes to `log`, shown when the line does not come.
pub fn start(mut cmd: Command, log: &Path) -> (Proc, serde_json::Value) {
    let mut child: Child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(out).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v.get("ready").is_some()
            {
                let _ = tx.send(v);
                break;
            }
        }
        lines.for_each(drop);
    });
    let proc = Proc(child);
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(v) => (proc, v),
        Err(_) => panic!(
            "{:?} did not get ready:\n{}",
            cmd.get_program(),
            std::fs::read_to_string(log).unwrap_or_default()
        ),
    }
}

/// `GET url` → (status, body); status 0 when nothing answered.
pub fn get(url: &str) -> (u16, String) {
    let o = Command::new("curl")
        .args(["-sS", "-m", "10", "-w", "\n%{http_code}", url])
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&o.stdout).to_string();
    let (body, code) = t.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// A running `foodflow-edge` and its HTTP address (from its ready line).
pub struct Edge {
    _proc: Proc,
    pub http: String,
}

impl Edge {
    /// Starts `cmd` (a `foodflow-edge run … --http 127.0.0.1:0`) and waits for its ready line.
    pub fn start(cmd: Command, log: &Path) -> Self {
        let (proc, ready) = start(cmd, log);
        Self {
            _proc: proc,
            http: ready["http"].as_str().unwrap_or_default().to_owned(),
        }
    }

    pub fn health(&self) -> serde_json::Value {
        serde_json::from_str(&get(&format!("{}/healthz", self.http)).1).unwrap_or_default()
    }

    pub fn metrics(&self) -> String {
        get(&format!("{}/metrics", self.http)).1
    }

    /// Sends SIGTERM and waits up to `within` for the exit; its status code, `None` if it
    /// still runs (it is killed when dropped).
    pub fn terminate(&mut self, within: Duration) -> Option<i32> {
        // SAFETY: kill(2) on the pid of a child this kit spawned and has not reaped.
        unsafe {
            libc::kill(self._proc.0.id() as i32, libc::SIGTERM);
        }
        let t0 = Instant::now();
        while t0.elapsed() < within {
            if let Ok(Some(status)) = self._proc.0.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Until the broker granted the subscriptions of [`edge_profile`]: a message published
    /// before would be dropped unheard (an open port is not readiness).
    pub fn wait_subscribed(&self, log: &Path) {
        wait_for(
            "the MQTT subscriptions",
            log,
            Duration::from_secs(20),
            || self.health()["sources"][0]["items"].as_u64() == Some(PROFILE_SUBSCRIPTIONS),
        );
    }

    /// Until this run journaled at least `n` records.
    pub fn wait_journaled(&self, n: u64, log: &Path) {
        wait_for(
            "the messages journaled",
            log,
            Duration::from_secs(30),
            || metric_total(&self.metrics(), "foodflow_journal_records_total") >= n,
        );
    }
}

/// Waits until `ok`; panics with `what` and the service's log when it does not come.
pub fn wait_for(what: &str, log: &Path, within: Duration, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        assert!(
            t0.elapsed() < within,
            "{what}: not within {within:?}; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The sum of a metric's samples (all label sets) in a Prometheus text page.
pub fn metric_total(page: &str, name: &str) -> u64 {
    page.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.trim().parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Publishes JSON readings `{"id": "m-<i>", "tag": "t", "value": …, "ts": …}` for every `i`
/// in `ids` with QoS 1 on `plant/x/json/t`, and waits until the broker acknowledged each.
pub async fn publish(port: u16, ids: std::ops::Range<u64>, bytes: usize) {
    let bodies = ids.clone().map(|i| {
        serde_json::json!({"id": format!("m-{i}"), "tag": "t", "value": "v".repeat(bytes), "ts": 1_700_000_000_000u64 + i})
    });
    publish_on(port, ids.start, "plant/x/json/t", bodies).await;
}

/// Publishes numeric readings `{"id": "n-<i>", "tag": "n", "value": i}` without a source
/// time (the box's clock stamps them) on `plant/x/num/n` (stream `mqtt/n` of
/// [`edge_profile`]), QoS 1, and waits until the broker acknowledged each.
pub async fn publish_numbers(port: u16, ids: std::ops::Range<u64>) {
    let bodies = ids
        .clone()
        .map(|i| serde_json::json!({"id": format!("n-{i}"), "tag": "n", "value": i}));
    publish_on(port, ids.start, "plant/x/num/n", bodies).await;
}

async fn publish_on(
    port: u16,
    first: u64,
    topic: &str,
    bodies: impl Iterator<Item = serde_json::Value>,
) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
    let mut opts = MqttOptions::new(format!("kit-pub-{first}"), "127.0.0.1", port);
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut ev) = AsyncClient::new(opts, 1000);
    let bodies: Vec<serde_json::Value> = bodies.collect();
    let n = bodies.len() as u64;
    let poll = tokio::spawn(async move {
        let mut acked = 0;
        while acked < n {
            match ev.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        acked
    });
    for body in bodies {
        client
            .publish(topic, QoS::AtLeastOnce, false, body.to_string())
            .await
            .unwrap();
    }
    let acked = tokio::time::timeout(Duration::from_secs(30), poll)
        .await
        .expect("the broker acknowledges every message")
        .unwrap();
    assert_eq!(acked, n);
    let _ = client.disconnect().await;
}

/// libfaketime's preload library from the Debian package, where installed.
pub fn libfaketime() -> Option<PathBuf> {
    let lib = std::fs::read_dir("/usr/lib")
        .ok()?
        .flatten()
        .map(|d| d.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists());
    lib.or_else(|| {
        let p = PathBuf::from("/usr/lib/faketime/libfaketime.so.1");
        p.exists().then_some(p)
    })
}

/// A wall clock for a child process that tests can step while it runs: libfaketime reads
/// the offset from a file on every call. The monotonic clock stays real, as it does when NTP
/// steps a real box.
pub struct FakeClock {
    lib: PathBuf,
    file: PathBuf,
}

impl FakeClock {
    /// `None` (say why and skip) where libfaketime is not installed.
    pub fn new(dir: &Path) -> Option<Self> {
        let lib = libfaketime()?;
        let c = Self {
            lib,
            file: dir.join("faketime"),
        };
        c.set_offset_s(0);
        Some(c)
    }

    /// Sets the wall clock `s` seconds away from the true time (negative: behind).
    pub fn set_offset_s(&self, s: i64) {
        // Renamed into place: the library must never read a half-written file.
        let tmp = self.file.with_extension("new");
        std::fs::write(&tmp, format!("{s:+}s\n")).unwrap();
        std::fs::rename(&tmp, &self.file).unwrap();
    }

    /// Runs `cmd` on this clock.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("LD_PRELOAD", &self.lib)
            .env("FAKETIME_TIMESTAMP_FILE", &self.file)
            .env("FAKETIME_NO_CACHE", "1")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    }
}

/// The records a hub holds for one device stream (the first 10,000), read with a gateway's
/// certificate; none while the hub cannot be asked.
pub async fn hub_records(
    hub: &foodflow_transport::SyncClient,
    device: &str,
    stream: &str,
) -> Vec<serde_json::Value> {
    let v = hub
        .get_json(&format!(
            "/v1/devices/{device}/streams/{stream}/records?limit=10000"
        ))
        .await
        .unwrap_or_default();
    v["records"].as_array().cloned().unwrap_or_default()
}

/// The origin ids of the readings among `records`, in order.
pub fn origin_ids(records: &[serde_json::Value]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| {
            r["payload"]["reading"]["origin_id"]
                .as_str()
                .map(String::from)
        })
        .collect()
}

/// A hub on run-time ports with its own development PKI (tenant `t1`): a device certificate
/// per name in `devices`, and a `reader` gateway certificate for reading what the hub holds.
pub struct Hub {
    _proc: Proc,
    pub api: String,
    pub pki: PathBuf,
    pub reader: foodflow_transport::SyncClient,
}

impl Hub {
    pub fn start(dir: &Path, devices: &[&str]) -> Self {
        Self::start_on(dir, devices, None)
    }

    /// As [`Hub::start`], the server on `clock` (its PKI is made on the true time).
    pub fn start_on(dir: &Path, devices: &[&str], clock: Option<&FakeClock>) -> Self {
        let pki = dir.join("pki");
        let p = pki.to_str().unwrap_or_default();
        run("foodflow-hub", &["pki", "init", "--dir", p]);
        let ids = devices
            .iter()
            .map(|d| ("--device", *d))
            .chain([("--gateway", "reader")]);
        for (role, id) in ids {
            let a = ["pki", "issue", "--dir", p, "--tenant", "t1", role, id];
            run("foodflow-hub", &[&a[..], &["--host", "127.0.0.1"]].concat());
        }
        let mut cmd = Command::new(bin("foodflow-hub").unwrap());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
            .args(["--public", "127.0.0.1:0"])
            .args(["--pki-dir", p, "--data-dir"])
            .arg(dir.join("hub"));
        if let Some(c) = clock {
            c.apply(&mut cmd);
        }
        let (proc, ready) = start(cmd, &dir.join("hub.log"));
        let api = ready["api"].as_str().unwrap_or_default().to_owned();
        let reader = foodflow_transport::SyncClient::new(
            &api,
            &foodflow_transport::tls::TlsFiles::in_dir(&pki, "reader"),
            Duration::from_secs(10),
        )
        .unwrap();
        Self {
            _proc: proc,
            api,
            pki,
            reader,
        }
    }

    /// [`edge_profile`] with an uplink to this hub.
    pub fn edge_profile(&self, dir: &Path, mqtt_port: u16, journal_extra: &str) -> PathBuf {
        edge_profile(dir, &dir.join("edge"), mqtt_port, journal_extra, Some(self))
    }

    /// The records of one of `box-1`'s streams, waiting (up to `within`) until `done` says
    /// they are complete; the records as they are then.
    pub async fn wait_for_records(
        &self,
        stream: &str,
        within: Duration,
        mut done: impl FnMut(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let t0 = Instant::now();
        loop {
            let records = hub_records(&self.reader, "box-1", stream).await;
            if done(&records) || t0.elapsed() > within {
                return records;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits (up to `within`) until the hub holds `n` readings of `box-1`'s MQTT stream;
    /// returns the stream's records as they are then.
    pub async fn wait_for_readings(&self, n: usize, within: Duration) -> Vec<serde_json::Value> {
        self.wait_for_records("mqtt/x", within, |r| origin_ids(r).len() >= n)
            .await
    }
}

/// The MQTT subscriptions [`edge_profile`] writes.
pub const PROFILE_SUBSCRIPTIONS: u64 = 2;

/// Writes `dir/edge.yaml` for the edge `box-1`: its journal in `data`, one MQTT source (JSON
/// on `plant/x/json/#`, ids from `/id`, stream `mqtt/x`: what [`publish`] sends; numbers
/// without source time on `plant/x/num/#`, stream `mqtt/n`: [`publish_numbers`]), an uplink
/// to `hub` if given. `journal_extra` goes into the journal section (`, key: value`); tests
/// append further top-level sections to the file.
pub fn edge_profile(
    dir: &Path,
    data: &Path,
    mqtt_port: u16,
    journal_extra: &str,
    hub: Option<&Hub>,
) -> PathBuf {
    let uplink = hub.map_or(String::new(), |h| {
        format!(
            "uplink: {{ gateway: '{api}', client_cert: {p}/box-1.pem, client_key: {p}/box-1.key, ca: {p}/ca.pem }}\n",
            api = h.api,
            p = h.pki.display(),
        )
    });
    let profile = dir.join("edge.yaml");
    std::fs::write(
        &profile,
        format!(
            "device: {{ id: box-1, site: s, role: line-edge }}\n\
             hardware: {{ arch: x86_64, execution_providers: [cpu] }}\n\
             journal: {{ data_dir: {data}{journal_extra} }}\n\
             mqtt:\n  - name: b\n    broker: mqtt://127.0.0.1:{mqtt_port}\n    client_id: edge-box-1\n\
             \x20   subscriptions:\n\
             \x20     - {{ topic: plant/x/json/#, codec: json, stream: mqtt/x, json: {{ tag_path: /tag, value_path: /value, timestamp_path: /ts, timestamp_format: unix_ms, id_path: /id }} }}\n\
             \x20     - {{ topic: plant/x/num/#, codec: json, stream: mqtt/n, json: {{ tag_path: /tag, value_path: /value, id_path: /id }} }}\n\
             {uplink}",
            data = data.display(),
        ),
    )
    .unwrap();
    profile
}
