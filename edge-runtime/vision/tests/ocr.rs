//! PP-OCR through the shipped manifest (models/models.yaml, models extracted by `make deps`):
//! date and lot codes rendered on a label (Pillow's own font, so the test needs no system fonts)
//! are read exactly (every printed character; spaces aside), line by line in reading order, and a
//! wrong code is named.

use std::path::{Path, PathBuf};
use std::process::Command;

use foodflow_vision::ocr::code_mismatch;
use foodflow_vision::{EngineOptions, IoBindingMode, Manifest, Reader, Runtime};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn runtime() -> &'static Runtime {
    let default = root().join(".cache/onnxruntime/libonnxruntime.so.1.31.1");
    let explicit = std::env::var_os("ORT_DYLIB_PATH")
        .is_none()
        .then_some(default.as_path());
    Runtime::get(explicit).unwrap_or_else(|e| panic!("{e} (run `make deps`)"))
}

/// Renders lines of dark text on label stock (edge-runtime/vision/reference/render_label.py).
fn render(lines: &[&str], size: u32, path: &Path) {
    let py = root().join(".venv/bin/python");
    assert!(py.is_file(), "no {}: run `make deps`", py.display());
    let out = Command::new(py)
        .arg(root().join("edge-runtime/vision/reference/render_label.py"))
        .arg(path)
        .arg(size.to_string())
        .args(lines)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn reader(io_binding: IoBindingMode) -> Reader {
    let manifest_path = root().join("models/models.yaml");
    let manifest = Manifest::load(&manifest_path).unwrap();
    assert!(
        root()
            .join("models/ppocr/ch_PP-OCRv4_rec_infer.onnx")
            .is_file(),
        "models/ppocr is empty: run `make deps`"
    );
    Reader::load(
        runtime(),
        &manifest,
        "ppocr-det",
        &root().join("models"),
        &EngineOptions {
            io_binding,
            ..EngineOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn rendered_date_and_lot_codes_are_read_exactly() {
    // Plain runs, and IO binding: the recogniser's input width changes with every line, so its
    // bound input tensor is reallocated as it goes.
    for mode in [IoBindingMode::Off, IoBindingMode::On] {
        reads_exactly(mode);
    }
}

fn reads_exactly(mode: IoBindingMode) {
    let dir = tempfile::tempdir().unwrap();
    let mut reader = reader(mode);
    for (lines, size) in [
        (vec!["EXP 2027-03-15", "LOT A7C0412"], 36),
        (vec!["BEST BEFORE 31/12/2026", "L2611-24 08:15"], 30),
    ] {
        let path = dir.path().join("label.png");
        render(&lines, size, &path);
        let img = image::open(&path).unwrap().to_rgb8();
        let (read, _) = reader.read(&img).unwrap();
        // Every printed character exactly, in order. Spaces are not ink: PP-OCRv4 reads them
        // unreliably (RapidOCR itself, on these labels, reads none of them), so they are left
        // out of the comparison — and out of code checks (`code_mismatch`).
        let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        let texts: Vec<String> = read.iter().map(|l| squeeze(&l.text)).collect();
        let want: Vec<String> = lines.iter().map(|l| squeeze(l)).collect();
        assert_eq!(texts, want, "read {read:?}");
        assert!(read.iter().all(|l| l.score > 0.8), "{read:?}");
        // Boxes are in the label's pixels, one line above the other.
        assert!(
            read[0].bbox[3] <= read[1].bbox[1] + 4.0 && read[0].bbox[0] < 80.0,
            "{read:?}"
        );
        assert_eq!(code_mismatch(&read, lines[0]), None);
        let m = code_mismatch(&read, "EXP 2027-03-16").unwrap();
        assert!(
            m.contains("EXP 2027-03-16") && m.contains(&format!("{:?}", read[0].text)),
            "{m}"
        );
    }
}

#[test]
fn a_blank_label_reads_nothing() {
    let img = image::RgbImage::from_pixel(640, 160, image::Rgb([246, 243, 232]));
    let (read, _) = reader(IoBindingMode::Auto).read(&img).unwrap();
    assert!(read.is_empty(), "{read:?}");
}
