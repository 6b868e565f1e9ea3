//! `foodflow-edge vision run|bench`: one model on image files, as JSON lines comparable with other
//! tools (boxes in original-image pixels), and per-stage latency.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use foodflow_vision::manifest::OutputLayout;
use foodflow_vision::{EngineOptions, IoBindingMode, Manifest, Model, Provider, Reader, Runtime};

#[derive(Subcommand)]
pub enum VisionCmd {
    /// Runs a model (a detector, or an OCR detector with its recogniser) on image files and
    /// prints one JSON line per image.
    Run {
        #[command(flatten)]
        model: ModelArgs,
        /// Image files (PNG or JPEG); repeatable.
        #[arg(long = "image", required = true)]
        images: Vec<PathBuf>,
        /// json (one object per line) or text.
        #[arg(long, default_value = "json")]
        format: String,
        /// For anomaly models: writes DIR/<image name>.heatmap.png, the map over the image.
        #[arg(long, value_name = "DIR")]
        heatmaps: Option<PathBuf>,
    },
    /// Measures per-frame latency (decode → pre-processing → inference → post-processing).
    Bench {
        #[command(flatten)]
        model: ModelArgs,
        /// The image to decode and run on every iteration.
        #[arg(long)]
        image: PathBuf,
        #[arg(long, default_value_t = 200)]
        iterations: usize,
        /// Untimed iterations first.
        #[arg(long, default_value_t = 10)]
        warmup: usize,
    },
}

#[derive(Args)]
pub struct ModelArgs {
    /// A model name from the manifest, or the path of an ONNX file (an Ultralytics export
    /// describes itself; other files need a manifest entry).
    #[arg(long)]
    model: String,
    /// The model manifest.
    #[arg(long, env = "FOODFLOW_MODELS", default_value = "models/models.yaml")]
    manifest: PathBuf,
    /// Execution providers in order of preference (tensorrt, cuda, openvino, rocm, cpu).
    #[arg(long, value_delimiter = ',', default_value = "cpu")]
    provider: Vec<String>,
    /// Fail instead of falling back when the first provider cannot run.
    #[arg(long)]
    no_fallback: bool,
    /// Intra-op threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// ONNX Runtime IO binding: auto (on GPU providers), on, off.
    #[arg(long, default_value = "auto", value_parser = parse_io_binding)]
    io_binding: IoBindingMode,
    /// Overrides the manifest's score threshold.
    #[arg(long)]
    score: Option<f32>,
    /// Overrides the manifest's NMS IoU threshold.
    #[arg(long)]
    iou: Option<f32>,
    /// The ONNX Runtime library (default: $ORT_DYLIB_PATH, then beside the executable).
    #[arg(long)]
    ort_library: Option<PathBuf>,
}

/// What `--model` names: a detector, or an OCR detector with its recogniser.
enum Loaded {
    Detector(Box<Model>),
    Reader(Box<Reader>),
}

/// One image's answer.
struct Answer {
    detections: Vec<foodflow_vision::Detection>,
    anomaly_score: Option<f32>,
    heatmap: Option<foodflow_vision::anomaly::Heatmap>,
    text: Vec<foodflow_vision::TextLine>,
    timings: foodflow_vision::Timings,
}

impl Loaded {
    fn name(&self) -> &str {
        match self {
            Self::Detector(m) => &m.spec.name,
            Self::Reader(r) => &r.det.spec.name,
        }
    }

    fn provider(&self) -> &'static str {
        match self {
            Self::Detector(m) => m.provider.name(),
            Self::Reader(r) => r.det.provider.name(),
        }
    }

    fn io_bound(&self) -> bool {
        match self {
            Self::Detector(m) => m.io_bound(),
            Self::Reader(r) => r.det.io_bound(),
        }
    }

    fn run(&mut self, img: &image::RgbImage) -> anyhow::Result<Answer> {
        Ok(match self {
            Self::Detector(m) => {
                let out = m.detect(img)?;
                Answer {
                    detections: out.detections,
                    anomaly_score: out.anomaly_score,
                    heatmap: out.heatmap,
                    text: Vec::new(),
                    timings: out.timings,
                }
            }
            Self::Reader(r) => {
                let (text, timings) = r.read(img)?;
                Answer {
                    detections: Vec::new(),
                    anomaly_score: None,
                    heatmap: None,
                    text,
                    timings,
                }
            }
        })
    }
}

impl ModelArgs {
    fn load(&self) -> anyhow::Result<Loaded> {
        let runtime = Runtime::get(self.ort_library.as_deref())?;
        let providers = self
            .provider
            .iter()
            .map(|p| Provider::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        let opts = EngineOptions {
            providers,
            fallback: !self.no_fallback,
            intra_threads: self.threads,
            warmup: 1,
            io_binding: self.io_binding,
        };
        let as_path = Path::new(&self.model);
        let mut model = if self.manifest.is_file() && !as_path.is_file() {
            let manifest = Manifest::load(&self.manifest)?;
            let spec = manifest.get(&self.model).with_context(|| {
                format!(
                    "no model `{}` in {} (it lists: {}); or pass the path of an ONNX file",
                    self.model,
                    self.manifest.display(),
                    manifest
                        .models
                        .iter()
                        .map(|m| m.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            let base = self.manifest.parent().unwrap_or(Path::new("."));
            if spec.output.layout == OutputLayout::PpocrDet {
                let mut reader = Reader::load(runtime, &manifest, &self.model, base, &opts)?;
                if let Some(s) = self.score {
                    reader.rec.spec.thresholds.score = s;
                }
                return Ok(Loaded::Reader(Box::new(reader)));
            }
            Model::load(runtime, spec, base, &opts)?
        } else if as_path.is_file() {
            Model::load_unlisted(runtime, as_path, &opts)?
        } else {
            bail!(
                "`{}` is neither an ONNX file nor a model of a manifest ({} does not exist; --manifest or FOODFLOW_MODELS names another)",
                self.model,
                self.manifest.display()
            );
        };
        if let Some(s) = self.score {
            model.spec.thresholds.score = s;
        }
        if let Some(i) = self.iou {
            model.spec.thresholds.iou = i;
        }
        Ok(Loaded::Detector(Box::new(model)))
    }
}

fn decode_image(bytes: &[u8], path: &Path) -> anyhow::Result<image::RgbImage> {
    Ok(image::load_from_memory(bytes)
        .with_context(|| format!("{} is not a readable PNG or JPEG image", path.display()))?
        .to_rgb8())
}

pub fn run(cmd: VisionCmd) -> anyhow::Result<()> {
    match cmd {
        VisionCmd::Run {
            model,
            images,
            format,
            heatmaps,
        } => {
            if format != "json" && format != "text" {
                bail!("--format {format}: use json or text");
            }
            let mut model = model.load()?;
            for path in images {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let img = decode_image(&bytes, &path)?;
                let out = model.run(&img)?;
                if let (Some(dir), Some(heat)) = (&heatmaps, &out.heatmap) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
                    let file = dir.join(format!("{stem}.heatmap.png"));
                    foodflow_vision::anomaly::overlay(&img, heat)
                        .save(&file)
                        .with_context(|| format!("cannot write {}", file.display()))?;
                }
                if format == "json" {
                    let line = serde_json::json!({
                        "model": model.name(),
                        "image": path.display().to_string(),
                        "provider": model.provider(),
                        "detections": out.detections,
                        "anomaly_score": out.anomaly_score,
                        "text": out.text,
                        "timings": out.timings,
                    });
                    println!("{line}");
                } else {
                    println!(
                        "{} ({} on {}):",
                        path.display(),
                        model.name(),
                        model.provider()
                    );
                    if let Some(a) = out.anomaly_score {
                        println!("  anomaly score {a:.3}");
                    }
                    for d in &out.detections {
                        let b = d.bbox;
                        println!(
                            "  {:<24} {:.3}  [{:.1}, {:.1}, {:.1}, {:.1}]",
                            d.label, d.score, b[0], b[1], b[2], b[3]
                        );
                    }
                    for t in &out.text {
                        let b = t.bbox;
                        let quoted = format!("{:?}", t.text);
                        println!(
                            "  {quoted:<24} {:.3}  [{:.1}, {:.1}, {:.1}, {:.1}]",
                            t.score, b[0], b[1], b[2], b[3]
                        );
                    }
                }
            }
            Ok(())
        }
        VisionCmd::Bench {
            model,
            image,
            iterations,
            warmup,
        } => {
            let mut model = model.load()?;
            let bytes = std::fs::read(&image)
                .with_context(|| format!("cannot read {}", image.display()))?;
            let mut total = Vec::with_capacity(iterations);
            let (mut decode, mut pre, mut infer, mut post) = (0.0, 0.0, 0.0, 0.0);
            let mut found = 0;
            for i in 0..warmup + iterations {
                let t = Instant::now();
                let img = decode_image(&bytes, &image)?;
                let td = t.elapsed().as_secs_f64() * 1e3;
                let out = model.run(&img)?;
                let all = t.elapsed().as_secs_f64() * 1e3;
                if i >= warmup {
                    total.push(all);
                    decode += td;
                    pre += out.timings.pre_ms;
                    infer += out.timings.infer_ms;
                    post += out.timings.post_ms;
                    found = out.detections.len() + out.text.len();
                }
                if (i + 1) % 50 == 0 {
                    eprintln!("vision bench: {}/{} frames", i + 1, warmup + iterations);
                }
            }
            let n = iterations.max(1) as f64;
            total.sort_by(f64::total_cmp);
            let mean = total.iter().sum::<f64>() / n;
            let line = serde_json::json!({
                "model": model.name(),
                "provider": model.provider(),
                "io_binding": model.io_bound(),
                "image": image.display().to_string(),
                "iterations": iterations,
                "detections": found,
                "ours_ms": round3(mean),
                "p50_ms": round3(total.get(total.len() / 2).copied().unwrap_or(0.0)),
                "decode_ms": round3(decode / n),
                "pre_ms": round3(pre / n),
                "session_ms": round3(infer / n),
                "post_ms": round3(post / n),
                "overhead_pct": round3(100.0 * (pre + post) / infer.max(1e-9)),
                "fps": round3(1e3 / mean.max(1e-9)),
            });
            println!("{line}");
            Ok(())
        }
    }
}

fn parse_io_binding(s: &str) -> Result<IoBindingMode, String> {
    match s {
        "auto" => Ok(IoBindingMode::Auto),
        "on" => Ok(IoBindingMode::On),
        "off" => Ok(IoBindingMode::Off),
        _ => Err(format!("{s:?}: use auto, on or off")),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}
