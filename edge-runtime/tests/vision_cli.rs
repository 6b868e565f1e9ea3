//! `foodflow-edge vision run`: the JSON a user compares with other tools, and the errors of a
//! wrong model name, an unreadable image and a missing ONNX Runtime library.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> PathBuf {
    let p = root().join("tests/data/external/vision").join(name);
    assert!(p.is_file(), "{} is missing: run `make deps`", p.display());
    p
}

fn edge(args: &[&str]) -> Output {
    let lib = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".cache/onnxruntime/libonnxruntime.so.1.31.1"));
    Command::new(env!("CARGO_BIN_EXE_foodflow-edge"))
        .current_dir(root())
        .env("ORT_DYLIB_PATH", lib)
        .args(["vision", "run"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn run_prints_one_json_object_per_image_with_boxes_in_image_pixels() {
    let model = fixture("nudenet-320n.onnx");
    let (a, b) = (fixture("astronaut.png"), fixture("chelsea.png"));
    let out = edge(&[
        "--model",
        model.to_str().unwrap(),
        "--image",
        a.to_str().unwrap(),
        "--image",
        b.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let first = &lines[0];
    assert_eq!(first["model"], "nudenet-320n");
    assert_eq!(first["provider"], "cpu");
    assert!(first["anomaly_score"].is_null() && first["text"].as_array().unwrap().is_empty());
    let dets = first["detections"].as_array().unwrap();
    assert_eq!(dets.len(), 1, "{dets:?}");
    assert_eq!(dets[0]["label"], "FACE_FEMALE");
    assert_eq!(dets[0]["class_id"], 1);
    let bx: Vec<f64> = dets[0]["box"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    // The astronaut's face, in the 512x512 photo's own pixels (not the 320x320 network input).
    assert!(
        bx[0] > 150.0 && bx[2] < 300.0 && bx[1] > 60.0 && bx[3] < 200.0 && bx[2] - bx[0] > 80.0,
        "{bx:?}"
    );
    assert!(lines[1]["image"].as_str().unwrap().ends_with("chelsea.png"));
}

#[test]
fn bad_inputs_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("nudenet-320n.onnx");
    let not_image = dir.path().join("notes.png");
    std::fs::write(&not_image, "not a picture").unwrap();
    let out = edge(&[
        "--model",
        model.to_str().unwrap(),
        "--image",
        not_image.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("notes.png is not a readable PNG or JPEG image"),
        "{err}"
    );

    let out = edge(&[
        "--model",
        "no-such-model",
        "--image",
        not_image.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("`no-such-model`"),
        "{err}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_foodflow-edge"))
        .env(
            "ORT_DYLIB_PATH",
            dir.path().join("libonnxruntime.so.1.31.1"),
        )
        .args([
            "vision",
            "run",
            "--model",
            model.to_str().unwrap(),
            "--image",
            not_image.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("does not exist") && err.contains("make deps"),
        "{err}"
    );
}

#[test]
fn an_ocr_model_of_the_shipped_manifest_prints_the_text_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    let label = dir.path().join("label.png");
    let out = Command::new(root().join(".venv/bin/python"))
        .arg(root().join("edge-runtime/vision/reference/render_label.py"))
        .arg(&label)
        .args(["36", "LOT B2044"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // From the repository root, `--model` names an entry of models/models.yaml.
    let out = edge(&["--model", "ppocr-det", "--image", label.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model"], "ppocr-det");
    assert!(v["detections"].as_array().unwrap().is_empty());
    let text = v["text"].as_array().unwrap();
    assert_eq!(text.len(), 1, "{v}");
    let read: String = text[0]["text"]
        .as_str()
        .unwrap()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    assert_eq!(read, "LOTB2044", "{v}");
    let b: Vec<f64> = text[0]["box"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!(
        b[0] >= 20.0 && b[0] < 60.0 && b[2] > 150.0 && b[2] < 640.0,
        "{b:?}"
    );
}
