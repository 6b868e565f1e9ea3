//! The conveyor camera end to end: `foodflow-sim`'s synthetic conveyor (biscuits with injected
//! defects, packs with printed codes, ground truth) played to the real edge binary as two
//! GStreamer image-sequence cameras running the shipped models; the journal scored against the
//! truth. The anomaly scores must equal the Python reference's on the same frames (so every stage
//! — GStreamer decode, pre-processing, ONNX Runtime, decoding, journaling, alignment — is
//! checked), the codes must be read and wrong ones caught.

use std::process::Command;
use std::time::{Duration, Instant};

use foodflow_hil::conveyor::{self, LABEL, TOP};
use foodflow_hil::peers::{Proc, bin, free_port, wait_for_port};

const FRAMES: usize = 32;
const CODE: &str = "EXP 2027-03-15";

fn get(port: u16, path: &str) -> String {
    let out = Command::new("curl")
        .args(["-sf", &format!("http://127.0.0.1:{port}{path}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn metric(text: &str, name: &str, camera: &str) -> u64 {
    let prefix = format!("{name}{{camera=\"{camera}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in /metrics"))
}

#[test]
fn the_edge_scores_the_conveyor_as_the_reference_does() {
    let root = conveyor::repo_root();
    let python = root.join(".venv/bin/python");
    assert!(python.is_file(), "no {}: run `make deps`", python.display());
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("conveyor");
    std::fs::create_dir_all(&frames).unwrap();
    let spec = conveyor::Spec {
        frames: FRAMES,
        seed: 3,
        code: CODE.into(),
        defect_rate: 0.4,
        wrong_code_rate: 0.2,
    };
    conveyor::generate(&python, &root, &frames, &spec).unwrap();
    let truth = conveyor::read_truth(&frames.join("truth.jsonl")).unwrap();
    assert!(
        truth.iter().any(|t| t.defect.is_some()) && truth.iter().any(|t| !t.code_ok),
        "the seed shows both faults"
    );

    let data = dir.path().join("edge");
    let profile = dir.path().join("edge.yaml");
    std::fs::write(
        &profile,
        format!(
            "device: {{ id: conveyor-rig, site: hil }}\nvision:\n  manifest: {}\n{}",
            root.join("models/models.yaml").display(),
            conveyor::cameras_yaml(&frames, 4, None)
        ),
    )
    .unwrap();
    let port = free_port();
    let lib = std::env::var_os("ORT_DYLIB_PATH").unwrap_or_else(|| {
        root.join(".cache/onnxruntime/libonnxruntime.so.1.31.1")
            .into_os_string()
    });
    let mut edge = Proc(
        Command::new(bin("foodflow-edge").unwrap())
            .args(["run", "--profile"])
            .arg(&profile)
            .arg("--data-dir")
            .arg(&data)
            .args(["--http", &format!("127.0.0.1:{port}")])
            .env("ORT_DYLIB_PATH", lib)
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap(),
    );
    assert!(
        wait_for_port(port, Duration::from_secs(20)),
        "the edge did not serve HTTP"
    );

    // One pass over the sequence on both cameras (4 frames/s), at most 60 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let health: serde_json::Value =
            serde_json::from_str(&get(port, "/healthz")).unwrap_or_default();
        let records = |name: &str| {
            health["sources"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["name"] == name)
                .and_then(|s| s["records"].as_u64())
                .unwrap_or(0)
        };
        if records(TOP) >= FRAMES as u64 && records(LABEL) >= FRAMES as u64 {
            break;
        }
        assert!(Instant::now() < deadline, "cameras too slow: {health}");
        std::thread::sleep(Duration::from_millis(250));
    }
    // Record k is frame k only if nothing was dropped or skipped.
    let metrics = get(port, "/metrics");
    for cam in [TOP, LABEL] {
        assert_eq!(
            metric(&metrics, "foodflow_camera_frames_dropped_total", cam),
            0,
            "{cam} dropped frames"
        );
        assert_eq!(
            metric(&metrics, "foodflow_camera_frames_limited_total", cam),
            0,
            "{cam} skipped frames"
        );
    }
    // Frames with findings are kept and served by reference; nothing else is reachable.
    let kept: Vec<String> = std::fs::read_dir(data.join("vision").join(TOP))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(!kept.is_empty(), "anomalous biscuits were kept");
    let jpeg = Command::new("curl")
        .args([
            "-sf",
            &format!(
                "http://127.0.0.1:{port}/v1/vision/frames/{TOP}/{}/frame.jpg",
                kept[0]
            ),
        ])
        .output()
        .unwrap();
    assert!(
        jpeg.status.success() && jpeg.stdout.starts_with(&[0xFF, 0xD8]),
        "a kept frame is served as JPEG"
    );
    let code = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://127.0.0.1:{port}/v1/vision/frames/{TOP}/1/..%2F..%2Fjournal.redb"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&code.stdout),
        "400",
        "only kept files are served"
    );
    // SIGTERM: the edge flushes and stops; then its journal is read.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(edge.0.id() as i32, libc::SIGTERM) };
    let stopped = Instant::now() + Duration::from_secs(20);
    while edge.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < stopped, "the edge did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }

    let obs = conveyor::read_journal(&data, "conveyor-rig").unwrap();
    let score = conveyor::score(&truth, &obs, CODE, 0.5);
    eprintln!("conveyor score: {}", serde_json::to_string(&score).unwrap());
    assert!(
        score.frames_top >= FRAMES && score.frames_label >= FRAMES,
        "{score:?}"
    );

    // The reference scores the same frame files offline.
    let mut cmd = Command::new(&python);
    cmd.arg(root.join("edge-runtime/vision/reference/reference.py"))
        .args(["anomaly", "--model"])
        .arg(root.join("models/anomaly/biscuit-anomaly.onnx"))
        .args(["--size", "256"]);
    for i in 0..FRAMES {
        cmd.arg(frames.join(format!("biscuits/frame_{i:05}.png")));
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: Vec<f32> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["score"]
                .as_f64()
                .unwrap() as f32
        })
        .collect();
    for (k, s) in obs.scores.iter().enumerate() {
        let want = reference[k % FRAMES];
        assert!(
            (s - want).abs() <= 1e-3,
            "record {k} (frame {}): edge {s}, reference {want}",
            k % FRAMES
        );
    }

    // Codes: read exactly (spaces aside), every misprint caught, alarms only for misreads.
    assert!(score.ocr_exact_rate >= 0.95, "{score:?}");
    assert_eq!(
        score.wrong_codes_caught, score.wrong_codes_shown,
        "{score:?}"
    );
    let misread_right_codes = obs
        .reads
        .iter()
        .enumerate()
        .filter(|(k, r)| truth[k % FRAMES].code_ok && r.replace(' ', "") != CODE.replace(' ', ""))
        .count();
    assert_eq!(score.false_code_alarms, misread_right_codes, "{score:?}");
}
