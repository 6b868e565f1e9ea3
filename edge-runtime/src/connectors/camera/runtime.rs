//! The GStreamer side of a camera (capture thread, reconnection) and its vision worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use foodflow_protocol::{
    BoundingBox, Detection, Event, Payload, PriorityClass, Severity, StreamId,
};
use foodflow_transport::metrics::Metrics;
use foodflow_vision::ocr::{TextLine, code_mismatch};
use foodflow_vision::{Model, Reader};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use tokio_util::sync::CancellationToken;

use super::keep::FrameKeeper;
use super::{Capture, FpsLimit, Frame, FrameSlot, capture_of};
use crate::connectors::ConnectorError;
use crate::connectors::stats::SourceStats;
use crate::journal::Journal;
use crate::profile::Camera;
use crate::screen::vision::{ModelView, SharedVision, Verdict, thumbnail};
use crate::time::now_ns;

/// A stream with no frame for this long is treated as lost and reopened.
const STALL: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Per-camera frame counters (Prometheus).
#[derive(Clone)]
pub struct CameraCounters {
    /// Frames admitted by the fps limit.
    pub frames: Arc<AtomicU64>,
    /// Frames replaced in the slot before the vision worker took them (latest frame wins).
    pub dropped: Arc<AtomicU64>,
    /// Frames over the fps limit, never decoded further.
    pub limited: Arc<AtomicU64>,
    /// Frames through every model of the camera.
    pub inferred: Arc<AtomicU64>,
    /// Last inference time over all models, microseconds.
    pub infer_us: Arc<AtomicU64>,
    /// Frames kept on disk (thumbnail and crops), and failures to keep one.
    pub kept: Arc<AtomicU64>,
    pub keep_errors: Arc<AtomicU64>,
}

impl CameraCounters {
    pub fn new(metrics: &Metrics, camera: &str) -> Self {
        let l = [("camera", camera)];
        Self {
            frames: metrics.counter("foodflow_camera_frames_total", "Frames admitted by the camera's fps limit", &l),
            dropped: metrics.counter(
                "foodflow_camera_frames_dropped_total",
                "Frames replaced by a newer one before the vision worker took them (latest frame wins)",
                &l,
            ),
            limited: metrics.counter("foodflow_camera_frames_limited_total", "Frames skipped by the camera's fps limit", &l),
            inferred: metrics.counter("foodflow_camera_frames_inferred_total", "Frames run through all of the camera's models", &l),
                        infer_us: metrics.gauge("foodflow_camera_inference_last_us", "Inference time of the last frame, all models, microseconds", &l),
            kept: metrics.counter("foodflow_camera_frames_kept_total", "Frames kept on disk with their crops (something was found)", &l),
            keep_errors: metrics.counter("foodflow_camera_keep_errors_total", "Frames that could not be kept on disk (full disk, permissions)", &l),
        }
    }
}

/// The journal stream `vision/<camera><suffix>`.
fn stream_of(camera: &str, suffix: &str) -> Result<StreamId, ConnectorError> {
    StreamId::new(format!("vision/{camera}{suffix}")).map_err(|e| ConnectorError::Config {
        source_name: camera.to_owned(),
        message: format!("camera name cannot form the stream vision/{camera}{suffix}: {e}"),
    })
}

/// What runs on a camera's frames: a detector, or an OCR detector with its recogniser.
pub enum Analyzer {
    Detector(Box<Model>),
    Reader(Box<Reader>),
}

/// Answers the code the packs in view must carry now (the latest value of the camera's
/// `expected_code_tag`), or `None` while it is unknown.
pub type ExpectedCode = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Raises `vision.code_mismatch` when reads stop matching the expected code and
/// `vision.code_ok` when they match again: one event per change, not per frame.
#[derive(Default)]
struct CodeCheck {
    /// Frames read wrong since the mismatch began.
    wrong_frames: Option<u64>,
}

impl CodeCheck {
    fn observe(
        &mut self,
        camera: &str,
        model: &str,
        read: &[TextLine],
        expected: &str,
    ) -> Option<Event> {
        match (code_mismatch(read, expected), self.wrong_frames.as_mut()) {
            (Some(why), None) => {
                self.wrong_frames = Some(1);
                Some(Event {
                    name: "vision.code_mismatch".into(),
                    severity: Severity::Critical,
                    message: format!("camera {camera}, model {model}: {why}"),
                })
            }
            (Some(_), Some(n)) => {
                *n += 1;
                None
            }
            (None, Some(n)) => {
                let n = *n;
                self.wrong_frames = None;
                Some(Event {
                    name: "vision.code_ok".into(),
                    severity: Severity::Info,
                    message: format!(
                        "camera {camera}, model {model}: {expected:?} read again after {n} wrong frame(s)"
                    ),
                })
            }
            (None, None) => None,
        }
    }
}

/// Runs one camera until `cancel` fires: frames from GStreamer into the slot, models on the newest
/// frame, one `Detection` per model and frame into the journal stream `vision/<camera>`.
/// Where a camera's results go besides its own threads.
pub struct CameraIo {
    pub journal: Journal,
    pub stats: Arc<SourceStats>,
    pub counters: CameraCounters,
    /// The code the packs must carry now (OCR models), when the profile names its tag.
    pub expected: Option<ExpectedCode>,
    /// The line screen's camera panel, when the box serves one.
    pub board: Option<SharedVision>,
    /// Where frames with findings are kept, when configured.
    pub keeper: Option<FrameKeeper>,
}

pub async fn run(
    cam: Camera,
    models: Vec<Analyzer>,
    io: CameraIo,
    cancel: CancellationToken,
) -> Result<(), ConnectorError> {
    let CameraIo {
        journal,
        stats,
        counters,
        expected,
        board,
        keeper,
    } = io;
    if let Some(b) = &board {
        b.lock()
            .unwrap_or_else(|p| p.into_inner())
            .register(&cam.name, &cam.source, cam.fps);
    }
    let cfg = |message: String| ConnectorError::Config {
        source_name: cam.name.clone(),
        message,
    };
    gst::init().map_err(|e| {
        cfg(format!(
            "GStreamer cannot start: {e}; install gstreamer1.0-plugins-base"
        ))
    })?;
    let capture = capture_of(&cam.source, cam.fps).map_err(cfg)?;
    let streams = (stream_of(&cam.name, "")?, stream_of(&cam.name, "/codes")?);
    let slot = Arc::new(FrameSlot::default());

    let capture = {
        let ctx = CaptureCtx {
            name: cam.name.clone(),
            fps: cam.fps,
            slot: slot.clone(),
            stats: stats.clone(),
            counters: counters.clone(),
            cancel: cancel.clone(),
        };
        let body: Box<dyn FnOnce() + Send> = match capture {
            Capture::Pipeline(desc) => Box::new(move || capture_loop(&ctx, &desc)),
            #[cfg(feature = "uvc")]
            Capture::Uvc(spec) => Box::new(move || super::uvc::capture_loop(&ctx, spec)),
            #[cfg(not(feature = "uvc"))]
            Capture::Uvc(_) => {
                return Err(cfg(format!(
                    "{:?}: this foodflow-edge was built without UVC support; rebuild with `cargo build --features uvc` (needs libclang-dev) or use v4l2:///dev/videoN for the same camera",
                    cam.source
                )));
            }
        };
        std::thread::Builder::new()
            .name(format!("camera-{}", cam.name))
            .spawn(body)
            .map_err(|e| cfg(format!("cannot start the capture thread: {e}")))?
    };
    let worker = {
        let (slot, stats, counters, cancel, name) = (
            slot.clone(),
            stats.clone(),
            counters.clone(),
            cancel.clone(),
            cam.name.clone(),
        );
        let rt = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name(format!("vision-{}", cam.name))
            .spawn(move || {
                let ctx = WorkerCtx {
                    name: &name,
                    journal: &journal,
                    streams,
                    rt: &rt,
                    stats: &stats,
                    counters: &counters,
                    board: board.as_ref(),
                };
                vision_loop(&ctx, models, expected, keeper, &slot, &cancel)
            })
            .map_err(|e| cfg(format!("cannot start the vision worker: {e}")))?
    };
    cancel.cancelled().await;
    slot.close();
    let name = cam.name.clone();
    let _ = tokio::task::spawn_blocking(move || {
        let _ = worker.join();
        // A driver can block a capture thread in a read that no cancellation reaches (a UVC
        // camera that stalls without unplugging): wait a while, then leave it behind.
        let until = Instant::now() + CAPTURE_JOIN;
        while !capture.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        if capture.is_finished() {
            let _ = capture.join();
        } else {
            tracing::warn!(camera = %name, "the capture thread did not stop within 2 s; left behind");
        }
    })
    .await;
    Ok(())
}

const CAPTURE_JOIN: Duration = Duration::from_secs(2);

/// The wait before each attempt to (re)open a source: none the first time, then 0.5 s doubling
/// up to 30 s, back to 0.5 s once frames flow.
pub(super) struct Backoff<'a> {
    ctx: &'a CaptureCtx,
    next: Duration,
    first: bool,
}

impl<'a> Backoff<'a> {
    pub(super) fn new(ctx: &'a CaptureCtx) -> Self {
        Self {
            ctx,
            next: Duration::from_millis(500),
            first: true,
        }
    }

    /// Waits before an attempt and counts it as a reconnect; false once cancelled.
    pub(super) fn before_attempt(&mut self) -> bool {
        let cancel = &self.ctx.cancel;
        if !self.first {
            self.ctx.stats.reconnects.fetch_add(1, Ordering::Relaxed);
            let until = Instant::now() + self.next;
            while Instant::now() < until && !cancel.is_cancelled() {
                std::thread::sleep(Duration::from_millis(100));
            }
            self.next = (self.next * 2).min(BACKOFF_MAX);
        }
        self.first = false;
        !cancel.is_cancelled()
    }

    pub(super) fn current(&self) -> Duration {
        self.next
    }

    /// Frames flow: the next loss starts from the shortest wait again.
    pub(super) fn streaming(&mut self) {
        self.next = Duration::from_millis(500);
        let stats = &self.ctx.stats;
        stats.connected.store(1, Ordering::Relaxed);
        // A camera's one item is its stream.
        stats.items.store(1, Ordering::Relaxed);
        tracing::info!(camera = %self.ctx.name, "camera streaming");
    }
}

/// What a capture thread works with, whatever captures the frames.
pub(super) struct CaptureCtx {
    pub(super) name: String,
    pub(super) fps: u32,
    pub(super) slot: Arc<FrameSlot>,
    pub(super) stats: Arc<SourceStats>,
    pub(super) counters: CameraCounters,
    pub(super) cancel: CancellationToken,
}

impl CaptureCtx {
    /// A fresh intake for a newly opened source, noting frame arrivals in `last_frame`.
    pub(super) fn intake(&self, last_frame: Arc<AtomicU64>) -> Intake {
        Intake {
            name: self.name.clone(),
            limit: FpsLimit::new(self.fps),
            slot: self.slot.clone(),
            counters: self.counters.clone(),
            last_frame,
        }
    }
}

/// Where captured frames enter: the fps limit, the counters, then the one-frame slot.
pub(super) struct Intake {
    name: String,
    limit: FpsLimit,
    slot: Arc<FrameSlot>,
    counters: CameraCounters,
    /// Arrival time of the newest frame, admitted or not (stall detection).
    last_frame: Arc<AtomicU64>,
}

impl Intake {
    /// Offers a frame that arrived now; `decode` runs only for a frame the limit admits.
    pub(super) fn offer(&mut self, decode: impl FnOnce() -> Result<image::RgbImage, String>) {
        let ts_ns = now_ns();
        self.last_frame.store(ts_ns as u64, Ordering::Relaxed);
        if !self.limit.admit(ts_ns) {
            self.counters.limited.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match decode() {
            Ok(image) => {
                self.counters.frames.fetch_add(1, Ordering::Relaxed);
                if self.slot.put(Frame { image, ts_ns }) {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => tracing::warn!(camera = %self.name, error = %e, "frame skipped"),
        }
    }
}

/// Copies an RGB sample (rows may be padded) into an image.
fn to_image(sample: &gst::Sample) -> Result<image::RgbImage, String> {
    let caps = sample.caps().ok_or("a sample without caps")?;
    let info = gst_video::VideoInfo::from_caps(caps)
        .map_err(|e| format!("caps are not raw video: {e}"))?;
    let buffer = sample.buffer().ok_or("a sample without a buffer")?;
    let map = buffer
        .map_readable()
        .map_err(|e| format!("cannot map the frame: {e}"))?;
    let (w, h) = (info.width() as usize, info.height() as usize);
    let stride = info.stride()[0] as usize;
    if w == 0 || h == 0 || stride < w * 3 || map.len() < stride * (h - 1) + w * 3 {
        return Err(format!(
            "a {w}x{h} RGB frame with stride {stride} does not fit {} bytes",
            map.len()
        ));
    }
    let mut px = Vec::with_capacity(w * h * 3);
    for row in map.chunks(stride).take(h) {
        px.extend_from_slice(&row[..w * 3]);
    }
    image::RgbImage::from_raw(w as u32, h as u32, px).ok_or_else(|| "frame size mismatch".into())
}

/// Opens the pipeline, watches its bus, reopens it with backoff after an error, the end of the
/// stream or a stall, until cancelled.
fn capture_loop(ctx: &CaptureCtx, desc: &str) {
    let CaptureCtx {
        name,
        stats,
        cancel,
        ..
    } = ctx;
    let name = name.as_str();
    let mut backoff = Backoff::new(ctx);
    while backoff.before_attempt() {
        let pipeline = match gst::parse::launch(desc) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(camera = name, pipeline = desc, error = %e,
                    "cannot build the camera pipeline; for rtsp install gstreamer1.0-plugins-good (and -libav for H.264), for v4l2 gstreamer1.0-plugins-good");
                continue;
            }
        };
        let Some(sink) = pipeline
            .downcast_ref::<gst::Bin>()
            .and_then(|b| b.by_name("sink"))
            .and_then(|s| s.downcast::<gst_app::AppSink>().ok())
        else {
            tracing::error!(camera = name, "the pipeline has no appsink named sink");
            return;
        };
        let last_frame = Arc::new(AtomicU64::new(0));
        let mut intake = ctx.intake(last_frame.clone());
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    intake.offer(|| to_image(&sample));
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        if let Err(e) = pipeline.set_state(gst::State::Playing) {
            tracing::warn!(camera = name, error = %e, backoff_ms = backoff.current().as_millis() as u64, "camera did not start; retrying");
            let _ = pipeline.set_state(gst::State::Null);
            continue;
        }
        let Some(bus) = pipeline.bus() else {
            tracing::error!(camera = name, "the pipeline has no bus");
            let _ = pipeline.set_state(gst::State::Null);
            return;
        };
        let opened = Instant::now();
        let mut announced = false;
        while !cancel.is_cancelled() {
            let msg = bus.timed_pop_filtered(
                gst::ClockTime::from_mseconds(250),
                &[gst::MessageType::Error, gst::MessageType::Eos],
            );
            let last = last_frame.load(Ordering::Relaxed) as i64;
            if last > 0 && !announced {
                announced = true;
                backoff.streaming();
            }
            match msg.as_ref().map(|m| m.view()) {
                Some(gst::MessageView::Error(err)) => {
                    tracing::warn!(camera = name, error = %err.error(), debug = ?err.debug(), "camera stream lost; reconnecting");
                    break;
                }
                Some(gst::MessageView::Eos(_)) => {
                    tracing::info!(camera = name, "camera stream ended; reopening");
                    break;
                }
                _ => {}
            }
            let since = if last > 0 {
                Duration::from_nanos((now_ns() - last).max(0) as u64)
            } else {
                opened.elapsed()
            };
            if since > STALL {
                tracing::warn!(
                    camera = name,
                    stalled_s = since.as_secs(),
                    "no frame from the camera; reconnecting"
                );
                break;
            }
        }
        stats.connected.store(0, Ordering::Relaxed);
        let _ = pipeline.set_state(gst::State::Null);
    }
}

fn to_record(model: &Model, d: &foodflow_vision::Inference) -> Payload {
    Payload::Detection(Detection {
        model: model.spec.name.clone(),
        version: model.spec.version.clone(),
        boxes: d
            .detections
            .iter()
            .map(|x| BoundingBox {
                x: x.bbox[0],
                y: x.bbox[1],
                w: x.bbox[2] - x.bbox[0],
                h: x.bbox[3] - x.bbox[1],
                class_id: x.class_id as u32,
                score: x.score,
            })
            .collect(),
        anomaly_score: d.anomaly_score,
        frame_ref: None,
    })
}

/// What the vision worker writes to and counts in.
struct WorkerCtx<'a> {
    name: &'a str,
    journal: &'a Journal,
    /// `vision/<camera>` (operational) and `vision/<camera>/codes` (critical).
    streams: (StreamId, StreamId),
    rt: &'a tokio::runtime::Handle,
    stats: &'a SourceStats,
    counters: &'a CameraCounters,
    board: Option<&'a SharedVision>,
}

impl WorkerCtx<'_> {
    /// Shows the frame's outcome on the line screen; the thumbnail at most once a second.
    fn show(
        &self,
        frame: &Frame,
        views: Vec<ModelView>,
        boxes: &[[f32; 4]],
        infer_ms: f64,
        last_thumb: &mut Option<Instant>,
    ) {
        let Some(board) = self.board else { return };
        let thumb = if last_thumb.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            *last_thumb = Some(Instant::now());
            thumbnail(&frame.image, boxes, 480)
        } else {
            None
        };
        let counts = (
            self.counters.frames.load(Ordering::Relaxed),
            self.counters.dropped.load(Ordering::Relaxed),
        );
        let mut b = board.lock().unwrap_or_else(|p| p.into_inner());
        b.frame(self.name, frame.ts_ns / 1_000_000, infer_ms, views, counts);
        if let Some(t) = thumb {
            b.set_thumbnail(self.name, t);
        }
    }

    fn journal(&self, stream: &StreamId, class: PriorityClass, items: Vec<(i64, Payload)>) -> bool {
        if items.is_empty() {
            return true;
        }
        let n = items.len() as u64;
        match self
            .rt
            .block_on(self.journal.append(stream.clone(), class, items))
        {
            Ok(_) => {
                self.stats.records.fetch_add(n, Ordering::Relaxed);
                true
            }
            Err(e) => {
                tracing::error!(camera = self.name, error = %e, "cannot journal vision results; the camera stops");
                false
            }
        }
    }
}

fn vision_loop(
    ctx: &WorkerCtx<'_>,
    mut analyzers: Vec<Analyzer>,
    expected: Option<ExpectedCode>,
    mut keeper: Option<FrameKeeper>,
    slot: &FrameSlot,
    cancel: &CancellationToken,
) {
    let name = ctx.name;
    let mut last_error_log: Option<Instant> = None;
    let mut checks: Vec<CodeCheck> = analyzers.iter().map(|_| CodeCheck::default()).collect();
    let mut last_thumb = None;
    while !cancel.is_cancelled() {
        let Some(frame) = slot.take(Instant::now() + Duration::from_millis(250)) else {
            continue;
        };
        ctx.stats.messages.fetch_add(1, Ordering::Relaxed);
        let t = Instant::now();
        let mut items = Vec::with_capacity(analyzers.len());
        let mut codes = Vec::new();
        let want = expected.as_ref().and_then(|f| f());
        let (mut views, mut boxes) = (Vec::new(), Vec::new());
        for (a, check) in analyzers.iter_mut().zip(checks.iter_mut()) {
            let (model, result) = match a {
                Analyzer::Detector(m) => {
                    let threshold = m.spec.thresholds.anomaly;
                    let result = m.detect(&frame.image).map(|d| {
                        boxes.extend(d.detections.iter().map(|x| x.bbox));
                        views.push(detection_view(&m.spec.name, &d, threshold));
                        to_record(m, &d)
                    });
                    (m.spec.name.clone(), result)
                }
                Analyzer::Reader(r) => {
                    let model = r.det.spec.name.clone();
                    let result = r.read(&frame.image).map(|(lines, _)| {
                        if let Some(e) = want
                            .as_deref()
                            .and_then(|w| check.observe(name, &model, &lines, w))
                        {
                            codes.push((frame.ts_ns, Payload::Event(e)));
                        }
                        boxes.extend(lines.iter().map(|l| l.bbox));
                        views.push(text_view(&model, &lines, want.as_deref()));
                        Payload::Event(Event {
                            name: "vision.text".into(),
                            severity: Severity::Info,
                            message: serde_json::to_string(&lines).unwrap_or_default(),
                        })
                    });
                    (model, result)
                }
            };
            match result {
                Ok(p) => items.push((frame.ts_ns, p)),
                Err(e) => {
                    views.push(ModelView {
                        model: model.clone(),
                        verdict: Verdict::Error,
                        summary: e.to_string(),
                    });
                    ctx.stats.bad.fetch_add(1, Ordering::Relaxed);
                    if last_error_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                        last_error_log = Some(Instant::now());
                        tracing::warn!(camera = name, model = %model, error = %e, "inference failed; the frame is recorded as an event");
                    }
                    items.push((
                        frame.ts_ns,
                        Payload::Event(Event {
                            name: "vision.inference_failed".into(),
                            severity: Severity::Warning,
                            message: format!("camera {name}, model {model}: {e}"),
                        }),
                    ));
                }
            }
        }
        let infer = t.elapsed();
        // Evidence: frames where something was found are kept, and their records point to them.
        let found = views
            .iter()
            .any(|v| matches!(v.verdict, Verdict::Reject | Verdict::Mismatch))
            || items
                .iter()
                .any(|(_, p)| matches!(p, Payload::Detection(d) if !d.boxes.is_empty()));
        if let (true, Some(k)) = (found, keeper.as_mut()) {
            match k.keep(name, frame.ts_ns, &frame.image, &boxes) {
                Ok(id) => {
                    ctx.counters.kept.fetch_add(1, Ordering::Relaxed);
                    for (_, p) in items.iter_mut().chain(codes.iter_mut()) {
                        match p {
                            Payload::Detection(d) => d.frame_ref = Some(id.clone()),
                            Payload::Event(e) if e.name == "vision.code_mismatch" => {
                                e.message.push_str(&format!(" (frame {id})"))
                            }
                            _ => {}
                        }
                    }
                }
                Err(e) => {
                    ctx.counters.keep_errors.fetch_add(1, Ordering::Relaxed);
                    if last_error_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                        last_error_log = Some(Instant::now());
                        tracing::warn!(camera = name, error = %e, "cannot keep the frame on disk (is the disk full?); its records are journaled without it");
                    }
                }
            }
        }
        ctx.counters
            .infer_us
            .store(infer.as_micros() as u64, Ordering::Relaxed);
        ctx.counters.inferred.fetch_add(1, Ordering::Relaxed);
        ctx.show(
            &frame,
            views,
            &boxes,
            infer.as_secs_f64() * 1e3,
            &mut last_thumb,
        );
        // Quality events first: a mismatch is durable before the frame's reads are.
        if !ctx.journal(&ctx.streams.1, PriorityClass::Critical, codes)
            || !ctx.journal(&ctx.streams.0, PriorityClass::Operational, items)
        {
            return;
        }
    }
}

/// A detector's or anomaly model's answer in words.
fn detection_view(model: &str, d: &foodflow_vision::Inference, threshold: f32) -> ModelView {
    let (verdict, summary) = match d.anomaly_score {
        Some(a) if a > threshold => (
            Verdict::Reject,
            format!("anomalous: score {a:.2} (threshold {threshold:.2})"),
        ),
        Some(a) => (
            Verdict::Ok,
            format!("normal: score {a:.2} (threshold {threshold:.2})"),
        ),
        None if d.detections.is_empty() => (Verdict::Ok, "nothing found".to_owned()),
        None => {
            let found: Vec<String> = d
                .detections
                .iter()
                .take(4)
                .map(|x| format!("{} {:.2}", x.label, x.score))
                .collect();
            let more = d.detections.len().saturating_sub(4);
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            (
                Verdict::Ok,
                format!("{} found: {}{tail}", d.detections.len(), found.join(", ")),
            )
        }
    };
    ModelView {
        model: model.to_owned(),
        verdict,
        summary,
    }
}

/// What OCR read, against the batch's code when there is one.
fn text_view(model: &str, lines: &[TextLine], expected: Option<&str>) -> ModelView {
    let read: Vec<String> = lines.iter().map(|l| format!("{:?}", l.text)).collect();
    let read = if read.is_empty() {
        "no text".to_owned()
    } else {
        format!("read {}", read.join(", "))
    };
    let (verdict, summary) = match expected {
        Some(w) => match code_mismatch(lines, w) {
            None => (Verdict::Ok, format!("{read}: matches the batch code")),
            Some(_) => (
                Verdict::Mismatch,
                format!("{read}: the batch code is {w:?}"),
            ),
        },
        None => (Verdict::Ok, read),
    };
    ModelView {
        model: model.to_owned(),
        verdict,
        summary,
    }
}
