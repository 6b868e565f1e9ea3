//! FoodFlow OS edge vision: the model manifest, the ONNX Runtime engine and the pure pre- and
//! post-processing around it. Knows no camera, journal or HTTP: the edge runtime feeds it frames
//! and turns its answers into records.

pub mod anomaly;
pub mod detect;
pub mod engine;
pub mod manifest;
pub mod ocr;
pub mod preprocess;
pub mod regions;

pub use detect::{Detection, box_iou};
pub use engine::{
    EngineOptions, Inference, IoBindingMode, Model, Provider, Reader, Runtime, Timings,
};
pub use manifest::{Manifest, ModelSpec};
pub use ocr::TextLine;

#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{file}: {field}: {message}")]
    ManifestSyntax {
        file: String,
        field: String,
        message: String,
    },
    #[error("model `{model}` field {field}: {message}")]
    Manifest {
        model: String,
        field: String,
        message: String,
    },
    #[error("{0}")]
    Runtime(String),
    #[error("{0}")]
    Provider(String),
    #[error("model `{model}`: {message}")]
    Model { model: String, message: String },
    #[error("output does not fit the `{layout}` layout: expected {expected}, got {actual:?}")]
    OutputShape {
        layout: &'static str,
        expected: String,
        actual: Vec<i64>,
    },
    #[error("cannot decode the output: {0}")]
    Decode(String),
    #[error("{0}")]
    Unsupported(String),
}
