//! The model manifest (`models/models.yaml`): what each model is, how to feed it, how to read its
//! outputs, and the digest its file must have. Parsing and validation are pure; checking a file's
//! digest and a session's shapes against the manifest lives in [`crate::engine`].

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::VisionError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub models: Vec<ModelSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Detect,
    Anomaly,
    Ocr,
}

/// How to read the model's outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputLayout {
    /// YOLOv8/v11: `[batch, 4 + classes, anchors]`, boxes as centre/size, no objectness, needs NMS.
    Yolov8,
    /// YOLOv5: `[batch, anchors, 5 + classes]`, centre/size, objectness × class score, needs NMS.
    Yolov5,
    /// YOLOv10/YOLO26 (NMS-free): `[batch, detections, 6]` as x1, y1, x2, y2, score, class.
    YoloE2e,
    /// YOLOX raw head: `[batch, anchors, 5 + classes]`, grid offsets and log sizes per stride 8/16/32.
    Yolox,
    /// Anomalib export: an anomaly map and (optionally) an image score.
    Anomalib,
    /// PP-OCR text detection (DB probability map).
    PpocrDet,
    /// PP-OCR text recognition (CTC over a character list).
    PpocrRec,
}

impl OutputLayout {
    pub fn task(self) -> Task {
        match self {
            Self::Yolov8 | Self::Yolov5 | Self::YoloE2e | Self::Yolox => Task::Detect,
            Self::Anomalib => Task::Anomaly,
            Self::PpocrDet | Self::PpocrRec => Task::Ocr,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Yolov8 => "yolov8",
            Self::Yolov5 => "yolov5",
            Self::YoloE2e => "yolo-e2e",
            Self::Yolox => "yolox",
            Self::Anomalib => "anomalib",
            Self::PpocrDet => "ppocr-det",
            Self::PpocrRec => "ppocr-rec",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    #[default]
    Nchw,
    Nhwc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    #[default]
    Rgb,
    Bgr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resize {
    /// Keep the aspect ratio, pad the rest evenly (Ultralytics).
    #[default]
    Letterbox,
    /// Keep the aspect ratio, pad right and bottom only (YOLOX).
    LetterboxTopLeft,
    /// Scale each axis independently (Anomalib, PP-OCR recognition).
    Stretch,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputSpec {
    /// Tensor name; the model's first input when absent.
    pub name: Option<String>,
    /// Width and height the network takes.
    pub size: [u32; 2],
    pub layout: Layout,
    pub channels: ChannelOrder,
    pub resize: Resize,
    /// Raw 0..255 samples are multiplied by `scale`, then `(v - mean) / std` per channel (in the
    /// network's channel order).
    pub scale: f32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Raw value of padding pixels (0..255).
    pub pad_value: f32,
}

impl Default for InputSpec {
    fn default() -> Self {
        Self {
            name: None,
            size: [640, 640],
            layout: Layout::Nchw,
            channels: ChannelOrder::Rgb,
            resize: Resize::Letterbox,
            scale: 1.0 / 255.0,
            mean: [0.0; 3],
            std: [1.0; 3],
            pad_value: 114.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub layout: OutputLayout,
    /// Tensor name; the model's first output when absent.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Minimum detection score.
    pub score: f32,
    /// IoU above which a lower-scored box of the same class is suppressed.
    pub iou: f32,
    pub max_detections: usize,
    /// Image anomaly score above which a frame is anomalous.
    pub anomaly: f32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            score: 0.25,
            iou: 0.45,
            max_detections: 300,
            anomaly: 0.5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    pub version: String,
    pub task: Task,
    /// The ONNX file, relative to the manifest.
    pub file: PathBuf,
    /// Hex SHA-256 of the file; loading refuses any other content.
    pub sha256: String,
    #[serde(default)]
    pub input: InputSpec,
    pub output: OutputSpec,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub thresholds: Thresholds,
    /// For a `ppocr-det` model: the `ppocr-rec` entry that reads the text it finds.
    #[serde(default)]
    pub recognizer: Option<String>,
    pub licence: String,
    pub source: String,
}

impl ModelSpec {
    /// Checks what serde cannot: consistency between fields. Each problem names the field.
    pub fn validate(&self) -> Result<(), VisionError> {
        let bad = |field: &str, message: String| {
            Err(VisionError::Manifest {
                model: self.name.clone(),
                field: field.to_owned(),
                message,
            })
        };
        if self.name.trim().is_empty() {
            return bad("name", "is empty".into());
        }
        if self.output.layout.task() != self.task {
            return bad(
                "output.layout",
                format!(
                    "`{}` is a {:?} layout but the model's task is {:?}",
                    self.output.layout.name(),
                    self.output.layout.task(),
                    self.task
                ),
            );
        }
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return bad(
                "sha256",
                "must be 64 hexadecimal digits (sha256sum of the file)".into(),
            );
        }
        if self.input.size.contains(&0) {
            return bad("input.size", "width and height must be positive".into());
        }
        if self.input.std.contains(&0.0) {
            return bad("input.std", "must not contain 0".into());
        }
        if self.task == Task::Detect
            && self.output.layout != OutputLayout::YoloE2e
            && self.labels.is_empty()
        {
            return bad(
                "labels",
                "a detector needs its class labels (their count fixes the output width)".into(),
            );
        }
        let t = &self.thresholds;
        if !(0.0..=1.0).contains(&t.score) || !(0.0..=1.0).contains(&t.iou) {
            return bad("thresholds", "score and iou must lie in 0..1".into());
        }
        Ok(())
    }
}

impl Manifest {
    /// Parses manifest text; `file` only names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<Self, VisionError> {
        let de = serde_yaml::Deserializer::from_str(text);
        let manifest: Manifest = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let at = inner
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            VisionError::ManifestSyntax {
                file: format!("{}{at}", file.display()),
                field,
                message: inner.to_string(),
            }
        })?;
        let mut seen = std::collections::HashSet::new();
        for m in &manifest.models {
            m.validate()?;
            let bad = |message: String| VisionError::Manifest {
                model: m.name.clone(),
                field: "recognizer".into(),
                message,
            };
            match (&m.recognizer, m.output.layout) {
                (Some(r), OutputLayout::PpocrDet) => {
                    match manifest.models.iter().find(|x| &x.name == r) {
                        Some(x) if x.output.layout == OutputLayout::PpocrRec => {}
                        Some(_) => return Err(bad(format!("`{r}` is not a ppocr-rec model"))),
                        None => return Err(bad(format!("no model `{r}` in the manifest"))),
                    }
                }
                (None, OutputLayout::PpocrDet) => {
                    return Err(bad(
                        "a ppocr-det model needs the name of its ppocr-rec recognizer".into(),
                    ));
                }
                (Some(_), _) => return Err(bad("only ppocr-det models have a recognizer".into())),
                (None, _) => {}
            }
            if !seen.insert(m.name.as_str()) {
                return Err(VisionError::Manifest {
                    model: m.name.clone(),
                    field: "name".into(),
                    message: "appears twice in the manifest".into(),
                });
            }
        }
        Ok(manifest)
    }

    pub fn load(path: &Path) -> Result<Self, VisionError> {
        let text = std::fs::read_to_string(path).map_err(|e| VisionError::Io {
            what: format!("the manifest {}", path.display()),
            source: e,
        })?;
        Self::parse(path, &text)
    }

    pub fn get(&self, name: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
models:
  - name: fixture
    version: "1"
    task: detect
    file: fixture.onnx
    sha256: c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f
    input: { size: [320, 320] }
    output: { layout: yolov8 }
    labels: [a, b]
    licence: MIT
    source: generated
"#;

    #[test]
    fn parses_with_defaults() {
        let m = Manifest::parse(Path::new("models.yaml"), GOOD).unwrap();
        let s = m.get("fixture").unwrap();
        assert_eq!(s.input.resize, Resize::Letterbox);
        assert_eq!(s.thresholds.iou, 0.45);
        assert_eq!(s.input.size, [320, 320]);
    }

    #[test]
    fn unknown_layout_names_file_line_and_field() {
        let text = GOOD.replace("yolov8", "yolov9");
        let e = Manifest::parse(Path::new("models.yaml"), &text)
            .unwrap_err()
            .to_string();
        assert!(e.contains("models.yaml:9:"), "{e}");
        assert!(e.contains("models[0].output.layout"), "{e}");
        assert!(e.contains("yolo-e2e"), "lists the known layouts: {e}");
    }

    #[test]
    fn inconsistent_fields_are_named() {
        let e = Manifest::parse(
            Path::new("m"),
            &GOOD.replace("task: detect", "task: anomaly"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("`fixture` field output.layout"),
            "{e}"
        );
        let e = Manifest::parse(
            Path::new("m"),
            &GOOD.replace("sha256: c15d", "sha256: zz5d"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("field sha256"), "{e}");
        let e = Manifest::parse(
            Path::new("m"),
            &GOOD.replace("labels: [a, b]", "labels: []"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("field labels"), "{e}");
    }
}
