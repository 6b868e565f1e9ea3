//! Decoder parity with the independent Python reference (PIL + numpy + the `onnxruntime` wheel) on
//! a real YOLOv8n export (nudenet's 320n.onnx, fetched by `make deps`, never shipped), and the clear
//! errors of a corrupt model, a wrong layout and a missing provider.

use std::path::{Path, PathBuf};
use std::process::Command;

use foodflow_vision::{EngineOptions, IoBindingMode, Manifest, Model, Provider, Runtime, box_iou};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    let dir = root().join("tests/data/external/vision");
    assert!(
        dir.join("nudenet-320n.onnx").is_file(),
        "{} lacks the vision fixtures: run `make deps` (scripts/install-deps.sh fetches them)",
        dir.display()
    );
    dir
}

fn runtime() -> &'static Runtime {
    let default = root().join(".cache/onnxruntime/libonnxruntime.so.1.31.1");
    let explicit = std::env::var_os("ORT_DYLIB_PATH")
        .is_none()
        .then_some(default.as_path());
    Runtime::get(explicit).unwrap_or_else(|e| panic!("{e} (run `make deps`)"))
}

const IMAGES: [&str; 7] = [
    "astronaut.png",
    "camera.png",
    "chelsea.png",
    "coffee.png",
    "grace_hopper.png",
    "motorcycle_left.png",
    "rocket.png",
];
const SCORE: f32 = 0.05;

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap();
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A manifest in a temporary directory naming the fixture, as an operator would write it.
fn manifest(dir: &Path, size: u32, layout: &str, sha: &str, labels: usize) -> Manifest {
    let labels: Vec<String> = (0..labels).map(|i| format!("'c{i}'")).collect();
    let text = format!(
        "models:\n  - name: nudenet\n    version: \"3.4.2\"\n    task: detect\n    file: {}\n    sha256: {sha}\n    \
         input: {{ size: [{size}, {size}] }}\n    output: {{ layout: {layout} }}\n    labels: [{}]\n    \
         thresholds: {{ score: {SCORE}, iou: 0.45 }}\n    licence: AGPL-3.0 (test fixture only)\n    source: nudenet 3.4.2 wheel\n",
        fixtures().join("nudenet-320n.onnx").display(),
        labels.join(", ")
    );
    let path = dir.join("models.yaml");
    std::fs::write(&path, &text).unwrap();
    Manifest::load(&path).unwrap()
}

#[derive(serde::Deserialize, Debug)]
struct RefDet {
    class_id: usize,
    score: f32,
    #[serde(rename = "box")]
    bbox: [f32; 4],
}

#[derive(serde::Deserialize)]
struct RefLine {
    image: String,
    detections: Vec<RefDet>,
}

fn reference(size: u32) -> Vec<RefLine> {
    let py = root().join(".venv/bin/python");
    assert!(py.is_file(), "no {}: run `make deps`", py.display());
    let mut cmd = Command::new(py);
    cmd.arg(root().join("edge-runtime/vision/reference/reference.py"))
        .args(["run", "--model"])
        .arg(fixtures().join("nudenet-320n.onnx"))
        .args([
            "--size",
            &size.to_string(),
            "--score",
            &SCORE.to_string(),
            "--iou",
            "0.45",
        ]);
    for i in IMAGES {
        cmd.arg(fixtures().join(i));
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "reference failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Both ways frames can reach ONNX Runtime (a borrowed buffer, IO binding) against the reference.
fn parity_at(size: u32) {
    let refs = reference(size);
    assert_eq!(refs.len(), IMAGES.len());
    for mode in [IoBindingMode::Off, IoBindingMode::On] {
        parity_with(size, &refs, mode);
    }
}

fn parity_with(size: u32, refs: &[RefLine], io_binding: IoBindingMode) {
    let tmp = tempfile::tempdir().unwrap();
    let model_file = fixtures().join("nudenet-320n.onnx");
    let m = manifest(tmp.path(), size, "yolov8", &sha256(&model_file), 18);
    let opts = EngineOptions {
        io_binding,
        ..EngineOptions::default()
    };
    let mut model = Model::load(runtime(), m.get("nudenet").unwrap(), tmp.path(), &opts).unwrap();
    assert_eq!(model.io_bound(), io_binding == IoBindingMode::On);
    let mut compared = 0;
    for (name, r) in IMAGES.iter().zip(refs) {
        assert!(r.image.ends_with(name));
        let img = image::open(fixtures().join(name)).unwrap().to_rgb8();
        let ours = model.detect(&img).unwrap().detections;
        // Every detection must have a twin on the other side; only one whose score sits within the
        // score tolerance of the threshold may exist on one side alone.
        let mut used = vec![false; ours.len()];
        for d in &r.detections {
            let twin = ours.iter().enumerate().find(|(i, o)| {
                !used[*i]
                    && o.class_id == d.class_id
                    && (o.score - d.score).abs() <= 1e-3
                    && box_iou(&o.bbox, &d.bbox) >= 0.99
            });
            match twin {
                Some((i, _)) => {
                    used[i] = true;
                    compared += 1;
                }
                None => assert!(
                    (d.score - SCORE).abs() <= 1e-3,
                    "{name} at {size} ({io_binding:?}): reference detection {d:?} has no twin among ours: {ours:?}"
                ),
            }
        }
        for (o, u) in ours.iter().zip(&used) {
            assert!(
                *u || (o.score - SCORE).abs() <= 1e-3,
                "{name} at {size} ({io_binding:?}): our {o:?} is not in the reference"
            );
        }
    }
    assert!(
        compared >= 8,
        "only {compared} detections compared at {size}: the fixture images should give more"
    );
}

#[test]
fn yolov8_decoder_matches_the_python_reference_at_320() {
    parity_at(320);
}

#[test]
fn yolov8_decoder_matches_the_python_reference_at_640() {
    parity_at(640);
}

#[test]
fn a_corrupt_model_is_refused_by_digest_and_by_onnx_runtime() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixtures().join("nudenet-320n.onnx")).unwrap();
    let broken = tmp.path().join("broken.onnx");
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();

    // Listed with the real digest: the manifest's sha256 catches it before ONNX Runtime sees it.
    let m = manifest(
        tmp.path(),
        320,
        "yolov8",
        &sha256(&fixtures().join("nudenet-320n.onnx")),
        18,
    );
    let mut spec = m.get("nudenet").unwrap().clone();
    spec.file = broken.clone();
    let e = Model::load(runtime(), &spec, tmp.path(), &EngineOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("`nudenet` field sha256") && e.contains("corrupt"),
        "{e}"
    );

    // Unlisted: ONNX Runtime's refusal is passed on with the model and a hint.
    let e = Model::load_unlisted(runtime(), &broken, &EngineOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("`broken`") && e.contains("complete ONNX model"),
        "{e}"
    );
}

#[test]
fn a_wrong_layout_or_label_count_names_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let sha = sha256(&fixtures().join("nudenet-320n.onnx"));
    let opts = EngineOptions::default();
    let m = manifest(tmp.path(), 320, "yolo-e2e", &sha, 18);
    let e = Model::load(runtime(), m.get("nudenet").unwrap(), tmp.path(), &opts)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("field output.layout")
            && e.contains("yolo-e2e")
            && e.contains("[1, 22, 2100]")
            && e.contains("a yolov8 export?"),
        "{e}"
    );
    let m = manifest(tmp.path(), 320, "yolov8", &sha, 80);
    let e = Model::load(runtime(), m.get("nudenet").unwrap(), tmp.path(), &opts)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("4 + 80 labels = 84"), "{e}");
    let m = manifest(tmp.path(), 320, "yolov5", &sha, 18);
    let e = Model::load(runtime(), m.get("nudenet").unwrap(), tmp.path(), &opts)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("a yolov8 export?"), "{e}");
}

#[test]
fn a_missing_provider_is_an_error_without_fallback_and_a_logged_fallback_with_it() {
    let runtime = runtime();
    let path = fixtures().join("nudenet-320n.onnx");
    if runtime.available_providers().contains(&Provider::Cuda) {
        eprintln!("skipped: this ONNX Runtime has CUDA, so CUDA is not missing here");
        return;
    }
    let strict = EngineOptions {
        providers: vec![Provider::Cuda],
        fallback: false,
        ..EngineOptions::default()
    };
    let e = Model::load_unlisted(runtime, &path, &strict)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("cuda is not in this ONNX Runtime build")
            && e.contains("offers cpu")
            && e.contains("onnxruntime-gpu"),
        "{e}"
    );
    let lenient = EngineOptions {
        providers: vec![Provider::Tensorrt, Provider::Cuda],
        fallback: true,
        ..EngineOptions::default()
    };
    let model = Model::load_unlisted(runtime, &path, &lenient).unwrap();
    assert_eq!(model.provider, Provider::Cpu);
}

#[test]
fn an_ultralytics_export_describes_itself() {
    let model = Model::load_unlisted(
        runtime(),
        &fixtures().join("nudenet-320n.onnx"),
        &EngineOptions::default(),
    )
    .unwrap();
    assert_eq!(model.spec.input.size, [320, 320]);
    assert_eq!(model.spec.labels.len(), 18);
    assert_eq!(model.spec.labels[1], "FACE_FEMALE");
    assert!(model.spec.licence.contains("AGPL"));
}

/// Biscuit images from the anomaly model's own generator (good and each defect in turn).
fn biscuit_samples(dir: &Path) -> Vec<PathBuf> {
    let out = Command::new(root().join(".venv/bin/python"))
        .arg(root().join("models/anomaly/make_biscuit_anomaly.py"))
        .args(["--samples-only", "8", "--samples"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    assert_eq!(v.len(), 8);
    v
}

#[test]
fn anomaly_scores_and_maps_match_the_python_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let samples = biscuit_samples(tmp.path());
    let manifest = Manifest::load(&root().join("models/models.yaml")).unwrap();
    let spec = manifest.get("biscuit-anomaly").unwrap();
    // Through IO binding, so both of an Anomalib export's outputs (map and score) are read from
    // bound host memory; the camera tests run it the plain way.
    let opts = EngineOptions {
        io_binding: IoBindingMode::On,
        ..EngineOptions::default()
    };
    let mut model = Model::load(runtime(), spec, &root().join("models"), &opts).unwrap();
    let mut cmd = Command::new(root().join(".venv/bin/python"));
    cmd.arg(root().join("edge-runtime/vision/reference/reference.py"))
        .args(["anomaly", "--model"])
        .arg(root().join("models/anomaly/biscuit-anomaly.onnx"))
        .args(["--size", "256"])
        .args(&samples);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refs: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for (path, r) in samples.iter().zip(&refs) {
        let img = image::open(path).unwrap().to_rgb8();
        let ours = model.detect(&img).unwrap();
        let score = ours.anomaly_score.unwrap();
        let want = r["score"].as_f64().unwrap() as f32;
        assert!(
            (score - want).abs() <= 1e-3,
            "{}: ours {score}, reference {want}",
            path.display()
        );
        let heat = ours.heatmap.as_ref().unwrap();
        assert_eq!((heat.w, heat.h), (256, 256));
        let mean = heat.values.iter().sum::<f32>() / heat.values.len() as f32;
        assert!((mean - r["map_mean"].as_f64().unwrap() as f32).abs() <= 1e-3);
        // Regions exist exactly when the score passes the threshold.
        assert_eq!(
            !ours.detections.is_empty(),
            score > 0.5,
            "{}: {:?}",
            path.display(),
            ours.detections
        );
        if path.to_string_lossy().contains("good") {
            good.push(score)
        } else {
            bad.push(score)
        }
    }
    // Sanity, not a quality claim (that is the model card's): defects score higher on average.
    let avg = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    assert!(avg(&bad) > avg(&good), "defective {bad:?} vs good {good:?}");
}

#[test]
fn our_defect_detector_matches_the_python_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let samples = biscuit_samples(tmp.path());
    let manifest = Manifest::load(&root().join("models/models.yaml")).unwrap();
    let mut spec = manifest.get("biscuit-defects").unwrap().clone();
    spec.thresholds.score = SCORE;
    let mut model = Model::load(
        runtime(),
        &spec,
        &root().join("models"),
        &EngineOptions::default(),
    )
    .unwrap();
    let out = Command::new(root().join(".venv/bin/python"))
        .arg(root().join("edge-runtime/vision/reference/reference.py"))
        .args(["run", "--model"])
        .arg(root().join("models/detector/biscuit-defects.onnx"))
        .args([
            "--size",
            "256",
            "--score",
            &SCORE.to_string(),
            "--iou",
            "0.45",
        ])
        .args(&samples)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refs: Vec<RefLine> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut compared = 0;
    for (path, r) in samples.iter().zip(&refs) {
        let ours = model
            .detect(&image::open(path).unwrap().to_rgb8())
            .unwrap()
            .detections;
        assert_eq!(
            ours.len(),
            r.detections.len(),
            "{}: {ours:?} vs {:?}",
            path.display(),
            r.detections
        );
        for (o, d) in ours.iter().zip(&r.detections) {
            assert_eq!(o.class_id, d.class_id);
            assert!(
                (o.score - d.score).abs() <= 1e-3 && box_iou(&o.bbox, &d.bbox) >= 0.99,
                "{o:?} vs {d:?}"
            );
            compared += 1;
        }
    }
    assert!(
        compared > 0,
        "the detector found nothing on the generator's defects"
    );
}

#[test]
fn an_empty_image_is_an_error_not_a_crash() {
    let mut model = Model::load_unlisted(
        runtime(),
        &fixtures().join("nudenet-320n.onnx"),
        &EngineOptions::default(),
    )
    .unwrap();
    let e = model
        .detect(&image::RgbImage::new(0, 0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty image"), "{e}");
}
