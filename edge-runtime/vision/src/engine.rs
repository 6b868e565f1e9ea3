//! ONNX Runtime through `ort` (`load-dynamic`): finding and loading the shared library once per
//! process, choosing the execution provider, verifying a model file against its manifest entry,
//! and running a detector on a frame with per-stage timings.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use image::RgbImage;
use ort::ep::{self, ExecutionProvider};
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{IoBinding, Session, SessionOutputs};
use ort::value::{Tensor, TensorRef, ValueType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::VisionError;
use crate::anomaly::{self, Heatmap};
use crate::detect::{Decoder, Detection};
use crate::manifest::{Layout, Manifest, ModelSpec, OutputLayout, Task};
use crate::ocr::{self, DbParams, TextLine};
use crate::preprocess;

/// The environment variable ort itself reads for the library path.
pub const LIBRARY_ENV: &str = "ORT_DYLIB_PATH";

/// Execution providers in the profile's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Tensorrt,
    Cuda,
    Openvino,
    Rocm,
    Cpu,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Self::Tensorrt => "tensorrt",
            Self::Cuda => "cuda",
            Self::Openvino => "openvino",
            Self::Rocm => "rocm",
            Self::Cpu => "cpu",
        }
    }

    pub fn parse(s: &str) -> Result<Self, VisionError> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "tensorrt" | "trt" => Self::Tensorrt,
            "cuda" => Self::Cuda,
            "openvino" => Self::Openvino,
            "rocm" => Self::Rocm,
            "cpu" => Self::Cpu,
            other => {
                return Err(VisionError::Provider(format!(
                    "unknown execution provider `{other}`: use tensorrt, cuda, openvino, rocm or cpu"
                )));
            }
        })
    }

    fn available(self) -> bool {
        let r = match self {
            Self::Tensorrt => ep::TensorRT::is_available(),
            Self::Cuda => ep::CUDA::is_available(),
            Self::Openvino => ep::OpenVINO::is_available(),
            Self::Rocm => ep::ROCm::is_available(),
            Self::Cpu => return true,
        };
        r.unwrap_or(false)
    }

    fn dispatch(self) -> Option<ep::ExecutionProviderDispatch> {
        let d = match self {
            Self::Tensorrt => ep::TensorRT::default().build(),
            Self::Cuda => ep::CUDA::default().build(),
            Self::Openvino => ep::OpenVINO::default().build(),
            Self::Rocm => ep::ROCm::default().build(),
            Self::Cpu => return None,
        };
        Some(d.error_on_failure())
    }
}

/// How sessions are built: from the device profile or the CLI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineOptions {
    /// Providers in order of preference.
    pub providers: Vec<Provider>,
    /// Whether to go down the list (and finally to CPU) when a provider cannot run; when false the
    /// first provider must work or loading fails.
    pub fallback: bool,
    /// Threads inside one operator; 0 lets ONNX Runtime decide (one per core).
    pub intra_threads: usize,
    /// Inferences run at load so the first real frame is not slow.
    pub warmup: usize,
    /// Whether frames go through ONNX Runtime's IO binding.
    pub io_binding: IoBindingMode,
}

/// IO binding: the input tensor is allocated once (in page-locked host memory on CUDA, TensorRT
/// and ROCm, so the copy to the device needs no staging) and filled in place by pre-processing;
/// outputs are bound to host memory. On the CPU provider it saves nothing measurable (the plain
/// path already hands ONNX Runtime our buffer without a copy: `make bench-vision`), so `auto`
/// uses it on GPU providers only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IoBindingMode {
    #[default]
    Auto,
    On,
    Off,
}

impl IoBindingMode {
    fn wanted(self, provider: Provider) -> bool {
        match self {
            Self::On => true,
            Self::Off => false,
            Self::Auto => matches!(
                provider,
                Provider::Cuda | Provider::Tensorrt | Provider::Rocm
            ),
        }
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            providers: vec![Provider::Cpu],
            fallback: true,
            intra_threads: 0,
            warmup: 1,
            io_binding: IoBindingMode::Auto,
        }
    }
}

/// The loaded ONNX Runtime library (one per process).
pub struct Runtime {
    env: ort::environment::Environment,
    pub library: PathBuf,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

impl Runtime {
    /// Finds the library: `explicit`, else `$ORT_DYLIB_PATH`, else `libonnxruntime.so*` beside the
    /// executable or in `../lib` from it.
    pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, VisionError> {
        if let Some(p) = explicit {
            return Ok(p.to_owned());
        }
        if let Some(p) = std::env::var_os(LIBRARY_ENV).filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(p));
        }
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_owned));
        for dir in exe_dir.iter().flat_map(|d| [d.clone(), d.join("../lib")]) {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                let mut found: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("libonnxruntime.so"))
                    })
                    .collect();
                found.sort();
                if let Some(p) = found.pop() {
                    return Ok(p);
                }
            }
        }
        Err(VisionError::Runtime(format!(
            "the ONNX Runtime library was not found: set {LIBRARY_ENV} to libonnxruntime.so.1.31.x \
             (`make deps` extracts it to .cache/onnxruntime/ from the onnxruntime wheel) or place it \
             beside the executable"
        )))
    }

    /// Loads the library once; later calls return the loaded runtime whatever path they name.
    pub fn get(explicit: Option<&Path>) -> Result<&'static Runtime, VisionError> {
        if let Some(r) = RUNTIME.get() {
            return Ok(r);
        }
        // Cameras load their models concurrently: one of them loads the library, the others wait.
        static LOADING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = LOADING.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = RUNTIME.get() {
            return Ok(r);
        }
        let library = Self::locate(explicit)?;
        if !library.is_file() {
            return Err(VisionError::Runtime(format!(
                "{} does not exist: point {LIBRARY_ENV} at libonnxruntime.so.1.31.x (`make deps` extracts it to .cache/onnxruntime/)",
                library.display()
            )));
        }
        let builder = ort::init_from(&library).map_err(|e| {
            VisionError::Runtime(format!(
                "cannot load ONNX Runtime from {}: {e}",
                library.display()
            ))
        })?;
        let env = builder
            .with_name("foodflow-vision")
            .build()
            .map_err(|e| VisionError::Runtime(format!("cannot start ONNX Runtime: {e}")))?;
        Ok(RUNTIME.get_or_init(|| Runtime { env, library }))
    }

    /// Providers this library can run, in our words.
    pub fn available_providers(&self) -> Vec<Provider> {
        available_providers()
    }
}

/// Time spent per stage of one frame, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    pub pre_ms: f64,
    pub infer_ms: f64,
    pub post_ms: f64,
}

/// A model's answer for one frame: detections (for an anomaly model, the regions above the
/// threshold), the image anomaly score and heat map of anomaly models, timings.
#[derive(Debug, Clone, Serialize)]
pub struct Inference {
    pub detections: Vec<Detection>,
    pub anomaly_score: Option<f32>,
    #[serde(skip)]
    pub heatmap: Option<Heatmap>,
    pub timings: Timings,
}

/// A verified model with its session, ready for frames.
pub struct Model {
    pub spec: ModelSpec,
    session: Session,
    input_name: String,
    output_name: String,
    /// Anomalib's image score output, when the model has one.
    score_name: Option<String>,
    /// Network input width and height actually used.
    input_size: [u32; 2],
    /// What runs it, e.g. "cpu".
    pub provider: Provider,
    buffer: Vec<f32>,
    /// Set when frames go through IO binding.
    bound: Option<Bound>,
}

/// A model's IO binding and the input tensor pre-processing writes into.
struct Bound {
    binding: IoBinding,
    /// Page-locked host memory for the input on GPU providers; the session's own otherwise.
    pinned: Option<Allocator>,
    /// The input tensor and its shape (reallocated when a dynamic input size changes).
    input: Option<(Tensor<f32>, [usize; 4])>,
    /// The outputs read, and the host memory they are bound to.
    outputs: Vec<String>,
    host: MemoryInfo<'static>,
}

impl Bound {
    /// Binds the model's outputs to host memory, in page-locked memory where the provider has it.
    fn new(session: &Session, provider: Provider, outputs: &[&str]) -> Result<Self, ort::Error> {
        let device = match provider {
            Provider::Cuda | Provider::Tensorrt => Some(AllocationDevice::CUDA_PINNED),
            Provider::Rocm => Some(AllocationDevice::HIP_PINNED),
            _ => None,
        };
        let host = |kind| match &device {
            Some(d) => MemoryInfo::new(d.clone(), 0, AllocatorType::Device, kind),
            None => MemoryInfo::new(AllocationDevice::CPU, 0, AllocatorType::Arena, kind),
        };
        let pinned = match device {
            Some(_) => Some(Allocator::new(session, host(MemoryType::CPUInput)?)?),
            None => None,
        };
        Ok(Self {
            binding: session.create_binding()?,
            pinned,
            input: None,
            outputs: outputs.iter().map(|n| n.to_string()).collect(),
            host: host(MemoryType::CPUOutput)?,
        })
    }

    /// Fills the input tensor in place (allocated on first use or when the shape changes), binds
    /// it and runs; answers the placement, the time pre-processing ended, and the outputs.
    fn run<'s>(
        &'s mut self,
        session: &'s mut Session,
        input_name: &str,
        shape: [usize; 4],
        fill: impl FnOnce(&mut [f32]) -> preprocess::Placement,
    ) -> Result<(preprocess::Placement, Instant, SessionOutputs<'s>), ort::Error> {
        let mut input = match self.input.take() {
            Some((t, s)) if s == shape => t,
            _ => {
                // A bound output keeps the value of the last run, so a new input size (dynamic
                // output shapes) needs its outputs bound afresh.
                self.binding.clear_outputs();
                for name in &self.outputs {
                    self.binding.bind_output_to_device(name, &self.host)?;
                }
                Tensor::new(self.pinned.as_ref().unwrap_or(session.allocator()), shape)?
            }
        };
        let place = fill(input.extract_tensor_mut().1);
        let filled = Instant::now();
        self.binding.bind_input(input_name, &input)?;
        self.input = Some((input, shape));
        let outputs = session.run_binding(&self.binding)?;
        Ok((place, filled, outputs))
    }
}

/// A network's raw answer: the main output's shape and data, the image score of models that
/// give one (Anomalib's `pred_score`), where the image landed, timings.
pub struct RawOutput {
    pub shape: Vec<i64>,
    pub data: Vec<f32>,
    pub score: Option<f32>,
    pub place: preprocess::Placement,
    pub timings: Timings,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn tensor_shape(v: &ValueType) -> Option<Vec<i64>> {
    match v {
        ValueType::Tensor { shape, .. } => Some(shape.to_vec()),
        _ => None,
    }
}

impl Model {
    /// Loads the file of `spec` (relative paths from `base`), refusing a digest other than the
    /// manifest's, then checks the session's tensors against the declared layouts.
    pub fn load(
        runtime: &Runtime,
        spec: &ModelSpec,
        base: &Path,
        opts: &EngineOptions,
    ) -> Result<Self, VisionError> {
        let path = if spec.file.is_absolute() {
            spec.file.clone()
        } else {
            base.join(&spec.file)
        };
        let bytes = std::fs::read(&path).map_err(|e| VisionError::Io {
            what: format!("model `{}` file {}", spec.name, path.display()),
            source: e,
        })?;
        let actual = sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(&spec.sha256) {
            return Err(VisionError::Manifest {
                model: spec.name.clone(),
                field: "sha256".into(),
                message: format!(
                    "{} has sha256 {actual}, the manifest says {}: the file is corrupt or not the model the manifest describes",
                    path.display(),
                    spec.sha256
                ),
            });
        }
        Self::from_bytes(runtime, spec.clone(), &bytes, opts)
    }

    /// Loads an ONNX file that has no manifest entry: an Ultralytics export describes itself in its
    /// metadata (`names`, `imgsz`, `end2end`); anything else needs a manifest entry.
    pub fn load_unlisted(
        runtime: &Runtime,
        path: &Path,
        opts: &EngineOptions,
    ) -> Result<Self, VisionError> {
        let bytes = std::fs::read(path).map_err(|e| VisionError::Io {
            what: format!("model file {}", path.display()),
            source: e,
        })?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model")
            .to_owned();
        let (session, provider) = build_session(runtime, &name, &bytes, opts)?;
        let meta = session.metadata().map_err(|e| VisionError::Model {
            model: name.clone(),
            message: e.to_string(),
        })?;
        let names = meta.custom("names").ok_or_else(|| VisionError::Manifest {
            model: name.clone(),
            field: "labels".into(),
            message: format!(
                "{} carries no Ultralytics metadata (`names`): describe it in models/models.yaml (layout, input, labels)",
                path.display()
            ),
        })?;
        let labels = parse_names(&names).map_err(|m| VisionError::Manifest {
            model: name.clone(),
            field: "labels".into(),
            message: m,
        })?;
        let imgsz = meta
            .custom("imgsz")
            .and_then(|s| parse_imgsz(&s))
            .unwrap_or([640, 640]);
        let end2end = meta
            .custom("end2end")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        drop(meta);
        let spec = ModelSpec {
            name,
            version: meta_version(&session),
            task: Task::Detect,
            file: path.to_owned(),
            sha256: sha256_hex(&bytes),
            input: crate::manifest::InputSpec {
                size: imgsz,
                ..Default::default()
            },
            output: crate::manifest::OutputSpec {
                layout: if end2end {
                    OutputLayout::YoloE2e
                } else {
                    OutputLayout::Yolov8
                },
                name: None,
            },
            labels,
            thresholds: Default::default(),
            recognizer: None,
            licence: meta_get(&session, "license"),
            source: path.display().to_string(),
        };
        spec.validate()?;
        Self::finish(spec, session, provider, opts)
    }

    fn from_bytes(
        runtime: &Runtime,
        spec: ModelSpec,
        bytes: &[u8],
        opts: &EngineOptions,
    ) -> Result<Self, VisionError> {
        let (session, provider) = build_session(runtime, &spec.name, bytes, opts)?;
        Self::finish(spec, session, provider, opts)
    }

    fn finish(
        spec: ModelSpec,
        session: Session,
        provider: Provider,
        opts: &EngineOptions,
    ) -> Result<Self, VisionError> {
        let pick = |want: &Option<String>,
                    outlets: &[ort::value::Outlet],
                    what: &str|
         -> Result<(String, Vec<i64>), VisionError> {
            let o = match want {
                Some(n) => outlets.iter().find(|o| o.name() == n),
                None => outlets.first(),
            };
            let o = o.ok_or_else(|| VisionError::Manifest {
                model: spec.name.clone(),
                field: format!("{what}.name"),
                message: format!(
                    "the model has no {what} `{}`; it has {:?}",
                    want.as_deref().unwrap_or("(any)"),
                    outlets.iter().map(|o| o.name()).collect::<Vec<_>>()
                ),
            })?;
            let shape = tensor_shape(o.dtype()).ok_or_else(|| VisionError::Manifest {
                model: spec.name.clone(),
                field: format!("{what}.name"),
                message: format!("{what} `{}` is not a tensor", o.name()),
            })?;
            Ok((o.name().to_owned(), shape))
        };
        let (input_name, in_shape) = pick(&spec.input.name, session.inputs(), "input")?;
        // An Anomalib export names its outputs; the map is the main one.
        let has = |n: &str| session.outputs().iter().any(|o| o.name() == n);
        let anomalib = spec.output.layout == OutputLayout::Anomalib;
        let wanted = match &spec.output.name {
            None if anomalib && has("anomaly_map") => Some("anomaly_map".to_owned()),
            other => other.clone(),
        };
        let (output_name, out_shape) = pick(&wanted, session.outputs(), "output")?;
        let score_name = (anomalib && has("pred_score") && output_name != "pred_score")
            .then(|| "pred_score".to_owned());
        check_input(&spec, &in_shape)?;
        check_output(&spec, &out_shape)?;
        let bound = if opts.io_binding.wanted(provider) {
            let outputs: Vec<&str> = std::iter::once(output_name.as_str())
                .chain(score_name.as_deref())
                .collect();
            match Bound::new(&session, provider, &outputs) {
                Ok(b) => Some(b),
                // Asked for by default only: run the plain way, as the provider fallback does.
                Err(e) if opts.io_binding == IoBindingMode::Auto => {
                    tracing::warn!(model = %spec.name, provider = provider.name(), error = %e,
                        "IO binding is not available; frames go the plain way");
                    None
                }
                Err(e) => {
                    return Err(VisionError::Model {
                        model: spec.name.clone(),
                        message: format!(
                            "IO binding on {} failed ({e}); set io_binding: auto or off to run without it",
                            provider.name()
                        ),
                    });
                }
            }
        } else {
            None
        };
        let mut model = Model {
            input_size: spec.input.size,
            spec,
            session,
            input_name,
            output_name,
            score_name,
            provider,
            buffer: Vec::new(),
            bound,
        };
        // Dynamic dimensions can only be checked on a real output: the first warm-up run (always
        // at least one) checks the concrete shape against the declared layout.
        let blank = RgbImage::new(model.input_size[0], model.input_size[1]);
        for i in 0..opts.warmup.max(1) {
            let raw = model.infer_raw(&blank)?;
            if i == 0 {
                check_output(&model.spec, &raw.shape)?;
            }
        }
        Ok(model)
    }

    /// Whether frames go through IO binding.
    pub fn io_bound(&self) -> bool {
        self.bound.is_some()
    }

    /// Runs the network on one frame at the manifest's input size.
    fn infer_raw(&mut self, image: &RgbImage) -> Result<RawOutput, VisionError> {
        let size = self.input_size;
        self.infer_at(image, size)
    }

    /// Runs the network on one frame at `[w, h]` (models with dynamic input sizes) and returns the
    /// raw output (shape, data), where the image landed, and timings.
    pub fn infer_at(
        &mut self,
        image: &RgbImage,
        [w, h]: [u32; 2],
    ) -> Result<RawOutput, VisionError> {
        if image.width() == 0 || image.height() == 0 || w == 0 || h == 0 {
            return Err(VisionError::Decode(format!(
                "model `{}`: an empty image ({}x{}) or input size ({w}x{h})",
                self.spec.name,
                image.width(),
                image.height()
            )));
        }
        let t0 = Instant::now();
        let shape: [usize; 4] = match self.spec.input.layout {
            Layout::Nchw => [1, 3, h as usize, w as usize],
            Layout::Nhwc => [1, h as usize, w as usize, 3],
        };
        let model = self.spec.name.clone();
        let err = |e: ort::Error| VisionError::Model {
            model: model.clone(),
            message: e.to_string(),
        };
        let spec = &self.spec.input;
        let (place, t1, outputs) = match &mut self.bound {
            Some(b) => b
                .run(&mut self.session, &self.input_name, shape, |buf| {
                    preprocess::fill_input(spec, image, w, h, buf)
                })
                .map_err(err)?,
            None => {
                self.buffer.resize(shape.iter().product(), 0.0);
                let place = preprocess::fill_input(spec, image, w, h, &mut self.buffer);
                let t1 = Instant::now();
                let input = TensorRef::from_array_view((shape, &self.buffer[..])).map_err(err)?;
                let outputs = self
                    .session
                    .run(ort::inputs![self.input_name.as_str() => input])
                    .map_err(err)?;
                (place, t1, outputs)
            }
        };
        let t2 = Instant::now();
        let (oshape, data) = outputs[self.output_name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(err)?;
        let (shape, data) = (oshape.to_vec(), data.to_vec());
        let score = match &self.score_name {
            Some(n) => outputs[n.as_str()]
                .try_extract_tensor::<f32>()
                .map_err(err)?
                .1
                .first()
                .copied(),
            None => None,
        };
        let timings = Timings {
            pre_ms: ms(t1 - t0),
            infer_ms: ms(t2 - t1),
            post_ms: 0.0,
        };
        Ok(RawOutput {
            shape,
            data,
            score,
            place,
            timings,
        })
    }

    /// Runs a detection or anomaly model on one RGB frame; boxes are in the frame's pixels.
    pub fn detect(&mut self, image: &RgbImage) -> Result<Inference, VisionError> {
        match self.spec.task {
            Task::Detect => {}
            Task::Anomaly => return self.anomaly(image),
            Task::Ocr => {
                return Err(VisionError::Unsupported(format!(
                    "model `{}` is part of an OCR pair: run its ppocr-det entry, which reads text with its recognizer",
                    self.spec.name
                )));
            }
        }
        let RawOutput {
            shape,
            data,
            place,
            mut timings,
            ..
        } = self.infer_raw(image)?;
        let t = Instant::now();
        let decoder = Decoder {
            layout: self.spec.output.layout,
            input_size: self.input_size,
            thresholds: &self.spec.thresholds,
            labels: &self.spec.labels,
        };
        let detections = decoder.decode(&shape, &data, &place).map_err(|e| match e {
            VisionError::OutputShape { .. } => VisionError::Manifest {
                model: self.spec.name.clone(),
                field: "output.layout".into(),
                message: e.to_string(),
            },
            other => other,
        })?;
        timings.post_ms = ms(t.elapsed());
        Ok(Inference {
            detections,
            anomaly_score: None,
            heatmap: None,
            timings,
        })
    }

    fn anomaly(&mut self, image: &RgbImage) -> Result<Inference, VisionError> {
        let RawOutput {
            shape,
            data,
            score,
            place,
            mut timings,
        } = self.infer_raw(image)?;
        let t = Instant::now();
        let r = anomaly::decode(&shape, &data, score, self.spec.thresholds.anomaly, &place)
            .map_err(|e| VisionError::Manifest {
                model: self.spec.name.clone(),
                field: "output.layout".into(),
                message: e.to_string(),
            })?;
        timings.post_ms = ms(t.elapsed());
        Ok(Inference {
            detections: r.regions,
            anomaly_score: Some(r.score),
            heatmap: Some(r.heatmap),
            timings,
        })
    }
}

impl Model {
    /// A value of the ONNX file's metadata (e.g. PP-OCR's `character` list).
    pub fn metadata(&self, key: &str) -> Option<String> {
        self.session.metadata().ok().and_then(|m| m.custom(key))
    }
}

/// PP-OCR: a text detector and the recogniser its manifest entry names.
pub struct Reader {
    pub det: Model,
    pub rec: Model,
    chars: Vec<String>,
    pub params: DbParams,
    /// The detector's input is the image scaled so its longer side is at most this (and a
    /// multiple of 32).
    pub det_limit: u32,
}

impl Reader {
    /// Loads `det_name` (a ppocr-det entry) and its recogniser from `manifest`.
    pub fn load(
        runtime: &Runtime,
        manifest: &Manifest,
        det_name: &str,
        base: &Path,
        opts: &EngineOptions,
    ) -> Result<Self, VisionError> {
        let missing = |n: &str| VisionError::Manifest {
            model: n.to_owned(),
            field: "name".into(),
            message: "is not in the manifest".into(),
        };
        let det_spec = manifest.get(det_name).ok_or_else(|| missing(det_name))?;
        let rec_name = det_spec
            .recognizer
            .clone()
            .ok_or_else(|| VisionError::Manifest {
                model: det_name.to_owned(),
                field: "recognizer".into(),
                message: "an OCR detector needs its recognizer".into(),
            })?;
        let rec_spec = manifest.get(&rec_name).ok_or_else(|| missing(&rec_name))?;
        let det = Model::load(runtime, det_spec, base, opts)?;
        let rec = Model::load(runtime, rec_spec, base, opts)?;
        let chars = if rec.spec.labels.is_empty() {
            rec.metadata("character")
                .map(|c| c.lines().map(str::to_owned).collect())
                .ok_or_else(|| VisionError::Manifest {
                    model: rec_name.clone(),
                    field: "labels".into(),
                    message: "the model has no `character` metadata: list its characters as labels"
                        .into(),
                })?
        } else {
            rec.spec.labels.clone()
        };
        Ok(Self {
            det,
            rec,
            chars,
            params: DbParams::default(),
            det_limit: 960,
        })
    }

    /// Finds and reads the text lines of an image; timings add up both models.
    pub fn read(&mut self, image: &RgbImage) -> Result<(Vec<TextLine>, Timings), VisionError> {
        let (iw, ih) = image.dimensions();
        let ratio = (self.det_limit as f32 / iw.max(ih) as f32).min(1.0);
        let side = |v: u32| ((((v as f32 * ratio) / 32.0).round() as u32) * 32).max(32);
        let size = [side(iw), side(ih)];
        let RawOutput {
            shape,
            data: map,
            place,
            mut timings,
            ..
        } = self.det.infer_at(image, size)?;
        let t = Instant::now();
        if shape.len() != 4 || shape[1] != 1 {
            return Err(VisionError::Manifest {
                model: self.det.spec.name.clone(),
                field: "output.layout".into(),
                message: format!(
                    "`ppocr-det` expects a probability map [batch, 1, h, w] but the output is {shape:?}"
                ),
            });
        }
        let (mh, mw) = (shape[2].max(0) as usize, shape[3].max(0) as usize);
        let boxes = ocr::db_boxes(&map, mw, mh, &self.params);
        // The map has the input's size: map pixels to image pixels through the placement.
        let (sx, sy) = (mw as f32 / size[0] as f32, mh as f32 / size[1] as f32);
        timings.post_ms += ms(t.elapsed());
        let mut lines = Vec::new();
        for (b, _) in boxes {
            let (x1, y1) = place.to_image(b[0] / sx, b[1] / sy);
            let (x2, y2) = place.to_image(b[2] / sx, b[3] / sy);
            let (cx, cy) = (x1.floor() as u32, y1.floor() as u32);
            let (cw, ch) = (
                (x2.ceil() as u32).min(iw).saturating_sub(cx),
                (y2.ceil() as u32).min(ih).saturating_sub(cy),
            );
            if cw < 2 || ch < 2 {
                continue;
            }
            let crop = image::imageops::crop_imm(image, cx, cy, cw, ch).to_image();
            let [min_w, rh] = self.rec.spec.input.size;
            let rw = ((rh as f32 * cw as f32 / ch as f32).ceil() as u32).max(min_w);
            let RawOutput {
                shape: rshape,
                data: probs,
                timings: rt,
                ..
            } = self.rec.infer_at(&crop, [rw, rh])?;
            timings.pre_ms += rt.pre_ms;
            timings.infer_ms += rt.infer_ms;
            let t = Instant::now();
            if rshape.len() != 3 || rshape[2] as usize != self.chars.len() + 2 {
                return Err(VisionError::Manifest {
                    model: self.rec.spec.name.clone(),
                    field: "labels".into(),
                    message: format!(
                        "`ppocr-rec` expects [batch, steps, {} characters + blank + space = {}] but the output is {rshape:?}",
                        self.chars.len(),
                        self.chars.len() + 2
                    ),
                });
            }
            let (text, score) = ocr::ctc_decode(
                &probs,
                rshape[1].max(0) as usize,
                rshape[2] as usize,
                &self.chars,
            );
            timings.post_ms += ms(t.elapsed());
            if !text.trim().is_empty() && score >= self.rec.spec.thresholds.score {
                lines.push(TextLine {
                    text,
                    score,
                    bbox: [x1, y1, x2, y2],
                });
            }
        }
        Ok((lines, timings))
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn meta_get(session: &Session, key: &str) -> String {
    session
        .metadata()
        .ok()
        .and_then(|m| m.custom(key))
        .unwrap_or_default()
}

fn meta_version(session: &Session) -> String {
    let v = meta_get(session, "version");
    if v.is_empty() {
        "unversioned".into()
    } else {
        v
    }
}

/// Builds a session on the first provider of the list that can run, per the fallback rule.
fn build_session(
    runtime: &Runtime,
    model: &str,
    bytes: &[u8],
    opts: &EngineOptions,
) -> Result<(Session, Provider), VisionError> {
    let provider = chosen_provider(model, opts)?;
    let err = |e: String| VisionError::Model {
        model: model.to_owned(),
        message: e,
    };
    let mut builder = Session::builder(&runtime.env)
        .map_err(|e| err(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| err(e.to_string()))?;
    if opts.intra_threads > 0 {
        builder = builder
            .with_intra_threads(opts.intra_threads)
            .map_err(|e| err(e.to_string()))?;
    }
    if let Some(d) = provider.dispatch() {
        builder = builder.with_execution_providers([d]).map_err(|e| {
            VisionError::Provider(format!(
                "model `{model}`: {} failed to start: {e}",
                provider.name()
            ))
        })?;
    }
    let session = builder.commit_from_memory(bytes).map_err(|e| {
        err(format!("ONNX Runtime cannot load it ({e}); is the file a complete ONNX model? re-export or re-fetch it"))
    })?;
    Ok((session, provider))
}

fn available_providers() -> Vec<Provider> {
    [
        Provider::Tensorrt,
        Provider::Cuda,
        Provider::Openvino,
        Provider::Rocm,
        Provider::Cpu,
    ]
    .into_iter()
    .filter(|p| p.available())
    .collect()
}

/// Picks the provider per the options and logs, once per model, what actually runs and why.
fn chosen_provider(model: &str, opts: &EngineOptions) -> Result<Provider, VisionError> {
    if opts.providers.is_empty() {
        return Ok(Provider::Cpu);
    }
    let mut skipped = Vec::new();
    for (i, p) in opts.providers.iter().enumerate() {
        if p.available() {
            if !skipped.is_empty() || i > 0 {
                tracing::warn!(model, provider = p.name(), skipped = %skipped.join("; "), "vision: model runs on a fallback provider");
            } else {
                tracing::info!(
                    model,
                    provider = p.name(),
                    "vision: model runs on the first choice"
                );
            }
            return Ok(*p);
        }
        skipped.push(format!("{} is not in this ONNX Runtime build", p.name()));
        if !opts.fallback {
            break;
        }
    }
    if opts.fallback && !opts.providers.contains(&Provider::Cpu) {
        tracing::warn!(model, skipped = %skipped.join("; "), "vision: no listed provider can run; model runs on cpu");
        return Ok(Provider::Cpu);
    }
    let available: Vec<&str> = available_providers()
        .into_iter()
        .map(Provider::name)
        .collect();
    Err(VisionError::Provider(format!(
        "model `{model}`: {} and fallback is off; this ONNX Runtime offers {}. Install a build with the \
         provider (e.g. the onnxruntime-gpu wheel's library for cuda/tensorrt), or allow fallback",
        skipped.join("; "),
        available.join(", ")
    )))
}

fn check_input(spec: &ModelSpec, shape: &[i64]) -> Result<(), VisionError> {
    let bad = |message: String| VisionError::Manifest {
        model: spec.name.clone(),
        field: "input".into(),
        message,
    };
    if shape.len() != 4 {
        return Err(bad(format!(
            "the model's input is {shape:?}, not an image batch of rank 4"
        )));
    }
    let (c, h, w) = match spec.input.layout {
        Layout::Nchw => (shape[1], shape[2], shape[3]),
        Layout::Nhwc => (shape[3], shape[1], shape[2]),
    };
    if c != 3 && c >= 0 {
        return Err(bad(format!(
            "input.layout {:?} puts the channels where the model has {c} (input shape {shape:?}); is the layout {}?",
            spec.input.layout,
            if spec.input.layout == Layout::Nchw {
                "nhwc"
            } else {
                "nchw"
            }
        )));
    }
    let [sw, sh] = spec.input.size;
    if (w >= 0 && w != i64::from(sw)) || (h >= 0 && h != i64::from(sh)) {
        return Err(VisionError::Manifest {
            model: spec.name.clone(),
            field: "input.size".into(),
            message: format!(
                "the manifest says {sw}x{sh} but the model takes {w}x{h} (input shape {shape:?})"
            ),
        });
    }
    Ok(())
}

fn check_output(spec: &ModelSpec, shape: &[i64]) -> Result<(), VisionError> {
    let nc = spec.labels.len() as i64;
    let layout = spec.output.layout;
    let ok = match layout {
        OutputLayout::Yolov8 => shape.len() == 3 && (shape[1] < 0 || shape[1] == 4 + nc),
        OutputLayout::Yolov5 | OutputLayout::Yolox => {
            shape.len() == 3 && (shape[2] < 0 || shape[2] == 5 + nc)
        }
        OutputLayout::YoloE2e => shape.len() == 3 && (shape[2] < 0 || shape[2] == 6),
        OutputLayout::Anomalib => {
            matches!(shape.len(), 2..=4) && shape.iter().rev().skip(2).all(|d| *d <= 1)
        }
        OutputLayout::PpocrDet | OutputLayout::PpocrRec => true,
    };
    if ok {
        return Ok(());
    }
    let expected = match layout {
        OutputLayout::Yolov8 => format!("[batch, 4 + {nc} labels = {}, anchors]", 4 + nc),
        OutputLayout::Yolov5 | OutputLayout::Yolox => {
            format!("[batch, anchors, 5 + {nc} labels = {}]", 5 + nc)
        }
        OutputLayout::Anomalib => "an anomaly map [1, 1, h, w] (output `anomaly_map`)".into(),
        _ => "[batch, detections, 6]".into(),
    };
    let hint = if layout != OutputLayout::YoloE2e && shape.len() == 3 && shape[2] == 6 {
        " (an NMS-free yolo-e2e export?)"
    } else if shape.len() == 3 && shape[1] > 0 && shape[1] - 4 > 0 && layout != OutputLayout::Yolov8
    {
        " (a yolov8 export?)"
    } else {
        ""
    };
    Err(VisionError::Manifest {
        model: spec.name.clone(),
        field: "output.layout".into(),
        message: format!(
            "`{}` expects {expected} but the model's output is {shape:?}{hint}",
            layout.name()
        ),
    })
}

/// Parses Ultralytics' `names` metadata, a Python dict literal: `{0: 'person', 1: "it's"}`.
fn parse_names(s: &str) -> Result<Vec<String>, String> {
    let body = s
        .trim()
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
        .ok_or("`names` is not a {index: name} dict")?;
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let (idx, after) = rest.split_once(':').ok_or("`names`: an entry lacks `:`")?;
        let idx: usize = idx
            .trim()
            .parse()
            .map_err(|_| format!("`names`: `{}` is not an index", idx.trim()))?;
        let after = after.trim_start();
        let quote = after
            .chars()
            .next()
            .filter(|c| *c == '\'' || *c == '"')
            .ok_or("`names`: a name is not quoted")?;
        let end = after[1..]
            .find(quote)
            .ok_or("`names`: an unterminated name")?
            + 1;
        out.push((idx, after[1..end].to_owned()));
        rest = after[end + 1..]
            .trim_start()
            .trim_start_matches(',')
            .trim_start();
    }
    out.sort_by_key(|(i, _)| *i);
    if out.iter().enumerate().any(|(i, (j, _))| i != *j) {
        return Err("`names` indices are not 0..n".into());
    }
    Ok(out.into_iter().map(|(_, n)| n).collect())
}

/// `[320, 320]` (height, width) to our [width, height].
fn parse_imgsz(s: &str) -> Option<[u32; 2]> {
    let v: Vec<u32> = s
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .collect();
    match v.as_slice() {
        [h, w] => Some([*w, *h]),
        [s] => Some([*s, *s]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ultralytics_names_parse() {
        assert_eq!(
            parse_names("{0: 'a b', 1: \"it's\", 2: 'c'}").unwrap(),
            vec!["a b", "it's", "c"]
        );
        assert!(parse_names("{0: 'a', 2: 'c'}").is_err());
        assert!(parse_names("[a]").is_err());
        assert_eq!(parse_imgsz("[320, 640]"), Some([640, 320]));
    }

    #[test]
    fn provider_names_parse_and_unknown_ones_are_explained() {
        assert_eq!(Provider::parse("CUDA").unwrap(), Provider::Cuda);
        let e = Provider::parse("tpu").unwrap_err().to_string();
        assert!(e.contains("tpu") && e.contains("openvino"), "{e}");
    }
}
