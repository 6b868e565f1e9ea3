//! GStreamer camera sources through the vision engine into the journal: a still image played as a
//! 5 fps stream, `videotestsrc`, and a source that cannot open (reconnects while the others flow).
//! Uses nudenet's YOLOv8n export (fetched by `make deps`) and the ONNX Runtime library from the
//! wheel (`ORT_DYLIB_PATH`, set by the Makefile, or .cache/onnxruntime).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use foodflow_edge::connectors::camera::keep::FrameKeeper;
use foodflow_edge::connectors::camera::runtime::{
    self, Analyzer, CameraCounters, CameraIo, ExpectedCode,
};
use foodflow_edge::connectors::stats::SourceStats;
use foodflow_edge::journal::{Journal, Store};
use foodflow_edge::metrics::Metrics;
use foodflow_edge::profile::Camera;
use foodflow_edge::screen::vision::{Verdict, VisionBoard};
use foodflow_protocol::{DeviceId, Payload};
use foodflow_vision::{EngineOptions, Manifest, Model, Reader, Runtime};
use tokio_util::sync::CancellationToken;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> PathBuf {
    let p = root().join("tests/data/external/vision").join(name);
    assert!(p.is_file(), "{} is missing: run `make deps`", p.display());
    p
}

fn runtime_lib() -> &'static Runtime {
    let default = root().join(".cache/onnxruntime/libonnxruntime.so.1.31.1");
    let explicit = std::env::var_os("ORT_DYLIB_PATH")
        .is_none()
        .then_some(default.as_path());
    Runtime::get(explicit).unwrap_or_else(|e| panic!("{e} (run `make deps`)"))
}

/// The shipped PP-OCR pair from models/models.yaml.
fn ocr_reader() -> Reader {
    let manifest = Manifest::load(&root().join("models/models.yaml")).unwrap();
    Reader::load(
        runtime_lib(),
        &manifest,
        "ppocr-det",
        &root().join("models"),
        &EngineOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e} (run `make deps`)"))
}

/// A printed label with a date code (edge-runtime/vision/reference/render_label.py).
fn label(path: &Path, code: &str) {
    let out = std::process::Command::new(root().join(".venv/bin/python"))
        .arg(root().join("edge-runtime/vision/reference/render_label.py"))
        .arg(path)
        .args(["36", code])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn model() -> Model {
    let rt = runtime_lib();
    let onnx = fixture("nudenet-320n.onnx");
    let sha: String = {
        use sha2::Digest;
        sha2::Sha256::digest(std::fs::read(&onnx).unwrap())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let labels: Vec<String> = (0..18).map(|i| format!("c{i}")).collect();
    let text = format!(
        "models:\n  - name: faces\n    version: \"3.4.2\"\n    task: detect\n    file: {}\n    sha256: {sha}\n    \
         input: {{ size: [320, 320] }}\n    output: {{ layout: yolov8 }}\n    labels: [{}]\n    licence: AGPL-3.0 (fixture)\n    source: nudenet\n",
        onnx.display(),
        labels.join(", ")
    );
    std::fs::write(dir.path().join("models.yaml"), text).unwrap();
    let m = Manifest::load(&dir.path().join("models.yaml")).unwrap();
    Model::load(
        rt,
        m.get("faces").unwrap(),
        dir.path(),
        &EngineOptions::default(),
    )
    .unwrap()
}

fn camera(name: &str, source: String, fps: u32) -> Camera {
    Camera {
        name: name.into(),
        source,
        fps,
        models: vec!["faces".into()],
        expected_code_tag: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_frames_become_detection_records() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DeviceId::new("cam-box").unwrap();
    let store = Store::open(&dir.path().join("j"), dev.clone()).unwrap();
    let metrics = Metrics::new();
    let (journal, writer) = Journal::start(store, 64, Default::default(), metrics.clone()).unwrap();
    let cancel = CancellationToken::new();

    let photo = fixture("astronaut.png");
    let printed = dir.path().join("label.png");
    label(&printed, "EXP 2027-03-15");
    let cams = [
        camera("still", format!("file://{}", photo.display()), 5),
        camera("pattern", "test:ball".into(), 5),
        camera(
            "broken",
            format!("file://{}/no-such-image.png", dir.path().display()),
            5,
        ),
        camera("label", format!("file://{}", printed.display()), 2),
    ];
    let mut tasks = Vec::new();
    let board = VisionBoard::shared();
    let mut stats = Vec::new();
    let mut counters = Vec::new();
    for cam in cams {
        let s = SourceStats::new(&metrics, &cam.name, "camera");
        let c = CameraCounters::new(&metrics, &cam.name);
        stats.push(s.clone());
        counters.push(c.clone());
        // The label camera reads codes; the line expects a different date than the one printed.
        let (models, expected): (Vec<Analyzer>, Option<ExpectedCode>) = if cam.name == "label" {
            (
                vec![Analyzer::Reader(Box::new(ocr_reader()))],
                Some(std::sync::Arc::new(|| Some("EXP 2027-03-16".to_owned()))),
            )
        } else {
            (vec![Analyzer::Detector(Box::new(model()))], None)
        };
        let io = CameraIo {
            journal: journal.clone(),
            stats: s,
            counters: c,
            expected,
            board: Some(board.clone()),
            keeper: Some(
                FrameKeeper::open(&dir.path().join("vision"), &cam.name, 64 << 20, 3600).unwrap(),
            ),
        };
        tasks.push(tokio::spawn(runtime::run(cam, models, io, cancel.clone())));
    }
    // Until the still camera has journaled 8 frames (about 1.6 s at 5 fps), at most 60 s.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while stats[0].records.load(Ordering::Relaxed) < 8
        || stats[1].records.load(Ordering::Relaxed) < 3
        || stats[3].records.load(Ordering::Relaxed) < 4
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "cameras produced too few records: still {}, pattern {}",
            stats[0].records.load(Ordering::Relaxed),
            stats[1].records.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cancel.cancel();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!(
        stats[2].reconnects.load(Ordering::Relaxed) >= 1,
        "the broken source is retried"
    );
    // The line screen's panel: the label camera shows the mismatch, the photo camera a thumbnail.
    {
        let b = board.lock().unwrap();
        let label = &b.cameras["label"];
        assert_eq!(
            label.models[0].verdict,
            Verdict::Mismatch,
            "{:?}",
            label.models
        );
        assert!(
            label.models[0]
                .summary
                .contains("the batch code is \"EXP 2027-03-16\""),
            "{:?}",
            label.models
        );
        assert!(label.flagged >= 3);
        let still = &b.cameras["still"];
        assert!(
            still.models[0].summary.contains("1 found: c1 0.8"),
            "{:?}",
            still.models
        );
        let jpeg = still.thumbnail.as_ref().expect("a thumbnail");
        assert_eq!(image::load_from_memory(jpeg).unwrap().width(), 480);
        assert!(b.cameras["broken"].last_ms.is_none());
    }
    assert_eq!(stats[2].records.load(Ordering::Relaxed), 0);
    assert!(counters[0].frames.load(Ordering::Relaxed) >= 8);
    assert!(counters[0].inferred.load(Ordering::Relaxed) >= 8);
    drop(journal);
    writer.join().unwrap();
    let reader = Store::open(&dir.path().join("j"), dev).unwrap();

    // What the engine finds on the PNG decoded here is what it found on GStreamer's frames.
    let expected = model()
        .detect(&image::open(&photo).unwrap().to_rgb8())
        .unwrap()
        .detections;
    assert_eq!(
        expected.len(),
        1,
        "the fixture photo has one face: {expected:?}"
    );
    let still: Vec<_> = reader
        .read(
            &foodflow_protocol::StreamId::new("vision/still").unwrap(),
            0,
        )
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(still.len() >= 8, "{} records", still.len());
    for (i, r) in still.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1);
        let Payload::Detection(d) = &r.payload else {
            panic!("not a detection: {r:?}")
        };
        assert_eq!((d.model.as_str(), d.version.as_str()), ("faces", "3.4.2"));
        assert_eq!(d.boxes.len(), 1, "{d:?}");
        // The face is a finding: the frame and a crop of it are kept, and the record says where.
        let id = d.frame_ref.as_deref().expect("a kept frame");
        let kept = dir.path().join("vision").join(id);
        assert!(
            kept.join("frame.jpg").is_file() && kept.join("crop-00.jpg").is_file(),
            "{id}"
        );
        let b = &d.boxes[0];
        let e = &expected[0];
        assert_eq!(b.class_id as usize, e.class_id);
        assert!(
            (b.score - e.score).abs() < 1e-4,
            "{} vs {}",
            b.score,
            e.score
        );
        let got = [b.x, b.y, b.x + b.w, b.y + b.h];
        assert!(
            foodflow_vision::box_iou(&got, &e.bbox) > 0.999,
            "{got:?} vs {:?}",
            e.bbox
        );
    }
    // Timestamps follow the 5 fps limit (200 ms apart on average; never a burst).
    let span = (still.last().unwrap().ts_ns - still[0].ts_ns) as f64 / 1e9;
    let rate = (still.len() - 1) as f64 / span;
    assert!(
        rate <= 5.5,
        "{rate:.2} frames/s over {span:.1} s exceeds the 5 fps limit"
    );

    let pattern = reader
        .read(
            &foodflow_protocol::StreamId::new("vision/pattern").unwrap(),
            0,
        )
        .unwrap()
        .filter(|r| matches!(r.as_ref().map(|r| &r.payload), Ok(Payload::Detection(_))))
        .count();
    assert!(pattern >= 3, "videotestsrc frames journaled: {pattern}");

    // The label camera: every frame's text as a `vision.text` event, and exactly one critical
    // `vision.code_mismatch` (raised once, not per frame) naming both codes.
    let texts: Vec<String> = reader
        .read(
            &foodflow_protocol::StreamId::new("vision/label").unwrap(),
            0,
        )
        .unwrap()
        .filter_map(|r| match r.unwrap().payload {
            Payload::Event(e) if e.name == "vision.text" => Some(e.message),
            _ => None,
        })
        .collect();
    assert!(texts.len() >= 3, "{texts:?}");
    assert!(
        texts
            .iter()
            .all(|t| t.replace(' ', "").contains("EXP2027-03-15")),
        "{texts:?}"
    );
    let quality: Vec<_> = reader
        .read(
            &foodflow_protocol::StreamId::new("vision/label/codes").unwrap(),
            0,
        )
        .unwrap()
        .map(|r| r.unwrap().payload)
        .collect();
    assert_eq!(quality.len(), 1, "{quality:?}");
    let Payload::Event(e) = &quality[0] else {
        panic!("{quality:?}")
    };
    assert_eq!(
        (e.name.as_str(), e.severity),
        (
            "vision.code_mismatch",
            foodflow_protocol::Severity::Critical
        )
    );
    assert!(
        e.message.contains("expected code \"EXP 2027-03-16\"")
            && e.message.replace(' ', "").contains("read\"EXP2027-03-15\""),
        "{}",
        e.message
    );
}
