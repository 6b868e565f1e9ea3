//! The synthetic conveyor camera of the rig: frames with ground truth (made by
//! `tests/hil/conveyor/make_conveyor.py`), the cameras an edge profile needs to watch them, and
//! the end-to-end score of what the edge journaled against the truth.
//!
//! Alignment: record k of a camera's stream is frame k (modulo the sequence length). That holds
//! when the edge neither dropped nor skipped a frame, which the caller checks in the edge's
//! `/metrics` (`foodflow_camera_frames_dropped_total`, `..._limited_total`) before scoring.

use std::path::{Path, PathBuf};
use std::process::Command;

use foodflow_edge::journal::Store;
use foodflow_protocol::{DeviceId, Payload, StreamId};
use serde::{Deserialize, Serialize};

/// The anomaly camera and the label camera.
pub const TOP: &str = "conveyor-top";
pub const LABEL: &str = "conveyor-label";

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Truth {
    pub frame: usize,
    pub defect: Option<String>,
    pub code: String,
    pub code_ok: bool,
}

/// What the conveyor shows.
#[derive(Debug, Clone)]
pub struct Spec {
    pub frames: usize,
    pub seed: u64,
    /// The batch's code, printed on most packs.
    pub code: String,
    pub defect_rate: f64,
    pub wrong_code_rate: f64,
}

/// Makes the frames in `out` (biscuits/, labels/, truth.jsonl) with the test venv's Python.
pub fn generate(python: &Path, root: &Path, out: &Path, spec: &Spec) -> Result<(), String> {
    let script = root.join("tests/hil/conveyor/make_conveyor.py");
    let o = Command::new(python)
        .arg(&script)
        .arg(out)
        .arg(spec.frames.to_string())
        .arg(spec.seed.to_string())
        .arg(&spec.code)
        .args([
            "--defect-rate",
            &spec.defect_rate.to_string(),
            "--wrong-code-rate",
            &spec.wrong_code_rate.to_string(),
        ])
        .output()
        .map_err(|e| {
            format!(
                "cannot run {} (`make deps` makes the .venv): {e}",
                python.display()
            )
        })?;
    if !o.status.success() {
        return Err(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(())
}

/// The `cameras:` entries that play the conveyor to an edge at `fps`.
pub fn cameras_yaml(out: &Path, fps: u32, expected_code_tag: Option<&str>) -> String {
    let tag = expected_code_tag
        .map(|t| format!("\n    expected_code_tag: {t}"))
        .unwrap_or_default();
    format!(
        "cameras:\n  - name: {TOP}\n    source: file://{top}/frame_%05d.png\n    fps: {fps}\n    models: [biscuit-anomaly]\n  \
         - name: {LABEL}\n    source: file://{label}/frame_%05d.png\n    fps: {fps}\n    models: [ppocr-det]{tag}\n",
        top = out.join("biscuits").display(),
        label = out.join("labels").display(),
    )
}

pub fn read_truth(path: &Path) -> Result<Vec<Truth>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// What the edge journaled per frame, in order: anomaly scores of the top camera, and the text
/// read by the label camera (lines joined by `|`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Observed {
    pub scores: Vec<f32>,
    pub reads: Vec<String>,
}

/// Reads the two cameras' streams from a stopped edge's journal (`<data dir>/journal.redb`).
pub fn read_journal(data_dir: &Path, device: &str) -> Result<Observed, String> {
    let dev = DeviceId::new(device).map_err(|e| e.to_string())?;
    let store = Store::open(&data_dir.join("journal.redb"), dev).map_err(|e| e.to_string())?;
    let stream = |name: &str| -> Result<Vec<Payload>, String> {
        let id = StreamId::new(format!("vision/{name}")).map_err(|e| e.to_string())?;
        let it = store.read(&id, 0).map_err(|e| e.to_string())?;
        it.map(|r| r.map(|r| r.payload).map_err(|e| e.to_string()))
            .collect()
    };
    let mut obs = Observed::default();
    for p in stream(TOP)? {
        match p {
            Payload::Detection(d) => obs.scores.push(
                d.anomaly_score
                    .ok_or("a top-camera record without an anomaly score")?,
            ),
            other => return Err(format!("unexpected record in vision/{TOP}: {other:?}")),
        }
    }
    for p in stream(LABEL)? {
        match p {
            Payload::Event(e) if e.name == "vision.text" => {
                let lines: Vec<serde_json::Value> =
                    serde_json::from_str(&e.message).map_err(|e| e.to_string())?;
                let texts: Vec<&str> = lines.iter().filter_map(|l| l["text"].as_str()).collect();
                obs.reads.push(texts.join("|"));
            }
            other => return Err(format!("unexpected record in vision/{LABEL}: {other:?}")),
        }
    }
    Ok(obs)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Score {
    pub frames_top: usize,
    pub frames_label: usize,
    /// At the model's threshold (0.5): defective frames flagged, good frames flagged, …
    pub true_positives: usize,
    pub false_positives: usize,
    pub true_negatives: usize,
    pub false_negatives: usize,
    pub anomaly_auroc: Option<f64>,
    /// Share of label frames whose read equals the printed code (spaces aside).
    pub ocr_exact_rate: f64,
    /// Wrong codes on the line flagged as wrong, of all wrong codes shown.
    pub wrong_codes_caught: usize,
    pub wrong_codes_shown: usize,
    /// Right codes flagged as wrong.
    pub false_code_alarms: usize,
}

fn squeeze(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase()
}

/// Probability that a defective frame scores above a good one (ties count half).
pub fn auroc(pos: &[f32], neg: &[f32]) -> Option<f64> {
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut s = 0.0;
    for p in pos {
        for n in neg {
            s += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(s / (pos.len() * neg.len()) as f64)
}

/// Scores what was observed against the truth; record k is frame k mod the sequence length.
pub fn score(truth: &[Truth], obs: &Observed, expected_code: &str, threshold: f32) -> Score {
    let n = truth.len().max(1);
    let (mut tp, mut fp, mut tn, mut fneg) = (0, 0, 0, 0);
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for (k, s) in obs.scores.iter().enumerate() {
        let defective = truth[k % n].defect.is_some();
        match (defective, *s > threshold) {
            (true, true) => tp += 1,
            (true, false) => fneg += 1,
            (false, true) => fp += 1,
            (false, false) => tn += 1,
        }
        if defective {
            pos.push(*s)
        } else {
            neg.push(*s)
        }
    }
    let (mut exact, mut caught, mut shown, mut false_alarms) = (0, 0, 0, 0);
    for (k, read) in obs.reads.iter().enumerate() {
        let t = &truth[k % n];
        let read_codes: Vec<String> = read.split('|').map(squeeze).collect();
        if read_codes.iter().any(|r| *r == squeeze(&t.code)) {
            exact += 1;
        }
        let flagged = !read_codes.iter().any(|r| *r == squeeze(expected_code));
        if !t.code_ok {
            shown += 1;
            caught += usize::from(flagged);
        } else if flagged {
            false_alarms += 1;
        }
    }
    Score {
        frames_top: obs.scores.len(),
        frames_label: obs.reads.len(),
        true_positives: tp,
        false_positives: fp,
        true_negatives: tn,
        false_negatives: fneg,
        anomaly_auroc: auroc(&pos, &neg),
        ocr_exact_rate: if obs.reads.is_empty() {
            0.0
        } else {
            exact as f64 / obs.reads.len() as f64
        },
        wrong_codes_caught: caught,
        wrong_codes_shown: shown,
        false_code_alarms: false_alarms,
    }
}

/// The repository root, from this crate's manifest (the rig runs from a checkout).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(frame: usize, defect: Option<&str>, code: &str, ok: bool) -> Truth {
        Truth {
            frame,
            defect: defect.map(str::to_owned),
            code: code.into(),
            code_ok: ok,
        }
    }

    #[test]
    fn scores_align_records_with_frames_and_count_each_outcome() {
        let truth = vec![
            t(0, None, "EXP 1", true),
            t(1, Some("burnt"), "EXP 2", false),
        ];
        // Three records: frame 0, frame 1, frame 0 again (the sequence loops).
        let obs = Observed {
            scores: vec![0.2, 0.7, 0.6],
            reads: vec!["EXP1".into(), "EXP 2".into(), "xyz|EXP 1".into()],
        };
        let s = score(&truth, &obs, "EXP 1", 0.5);
        assert_eq!(
            (
                s.true_positives,
                s.false_positives,
                s.true_negatives,
                s.false_negatives
            ),
            (1, 1, 1, 0)
        );
        assert_eq!(s.anomaly_auroc, Some(1.0));
        assert_eq!(s.ocr_exact_rate, 1.0);
        assert_eq!(
            (
                s.wrong_codes_caught,
                s.wrong_codes_shown,
                s.false_code_alarms
            ),
            (1, 1, 0)
        );
    }

    #[test]
    fn auroc_counts_ties_half_and_needs_both_classes() {
        assert_eq!(auroc(&[0.5], &[0.5]), Some(0.5));
        assert_eq!(auroc(&[0.9, 0.1], &[0.5]), Some(0.5));
        assert_eq!(auroc(&[], &[0.5]), None);
    }

    #[test]
    fn the_cameras_play_both_sequences() {
        let y = cameras_yaml(Path::new("/c"), 4, Some("line1.code"));
        assert!(
            y.contains("source: file:///c/biscuits/frame_%05d.png")
                && y.contains("models: [ppocr-det]")
        );
        assert!(y.contains("expected_code_tag: line1.code"));
    }
}
