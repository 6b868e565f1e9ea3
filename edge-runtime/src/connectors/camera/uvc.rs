//! UVC cameras through nokhwa (cargo feature `uvc`): the same slot, fps limit, counters and
//! reconnection as the GStreamer sources, with frames decoded to RGB by nokhwa.
//!
//! nokhwa's V4L2 backend waits for the next frame in a blocking dequeue: a camera that is
//! unplugged fails it (and the loop reconnects), one that stalls while plugged in holds it, so
//! this source has no stall timer; shutdown leaves such a thread behind (see `runtime::run`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nokhwa::Camera;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution,
};

use super::UvcSpec;
use super::runtime::{Backoff, CaptureCtx};

/// Opens and starts the camera, or says why not and what to check.
fn open(spec: UvcSpec, fps: u32) -> Result<Camera, String> {
    let wanted = match spec.size {
        Some([w, h]) => RequestedFormatType::Closest(CameraFormat::new(
            Resolution::new(w, h),
            FrameFormat::MJPEG,
            fps,
        )),
        None => RequestedFormatType::AbsoluteHighestResolution,
    };
    let hint = |e: nokhwa::NokhwaError| {
        format!(
            "UVC camera {} (/dev/video{}): {e}; is it plugged in (ls /dev/video*), and may this user read it (group `video`)?",
            spec.index, spec.index
        )
    };
    let mut camera = Camera::new(
        CameraIndex::Index(spec.index),
        RequestedFormat::new::<RgbFormat>(wanted),
    )
    .map_err(hint)?;
    camera.open_stream().map_err(hint)?;
    Ok(camera)
}

/// Captures from the camera until cancelled, reopening it with backoff after each failure.
pub(super) fn capture_loop(ctx: &CaptureCtx, spec: UvcSpec) {
    let name = ctx.name.as_str();
    let mut backoff = Backoff::new(ctx);
    while backoff.before_attempt() {
        let mut camera = match open(spec, ctx.fps) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(camera = name, error = %e, backoff_ms = backoff.current().as_millis() as u64, "camera did not start; retrying");
                continue;
            }
        };
        let format = camera.camera_format();
        tracing::info!(camera = name, format = %format, "UVC camera opened");
        let mut intake = ctx.intake(Arc::new(AtomicU64::new(0)));
        let mut announced = false;
        while !ctx.cancel.is_cancelled() {
            match camera.frame() {
                Ok(buffer) => {
                    intake.offer(|| {
                        buffer
                            .decode_image::<RgbFormat>()
                            .map_err(|e| format!("cannot decode a {format} frame to RGB: {e}"))
                    });
                    if !announced {
                        announced = true;
                        backoff.streaming();
                    }
                }
                Err(e) => {
                    tracing::warn!(camera = name, error = %e, "camera stream lost; reconnecting");
                    break;
                }
            }
        }
        ctx.stats.connected.store(0, Ordering::Relaxed);
        let _ = camera.stop_stream();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::camera::FrameSlot;
    use crate::connectors::camera::runtime::CameraCounters;
    use crate::connectors::stats::SourceStats;
    use crate::metrics::Metrics;
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    /// An index with no device node on this machine.
    fn absent_index() -> u32 {
        (0..64)
            .rev()
            .find(|i| !std::path::Path::new(&format!("/dev/video{i}")).exists())
            .expect("a free /dev/video index")
    }

    #[test]
    fn a_missing_camera_is_explained() {
        let index = absent_index();
        let e = open(UvcSpec { index, size: None }, 5)
            .err()
            .expect("no such camera");
        assert!(
            e.contains(&format!("/dev/video{index}")) && e.contains("plugged in"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_camera_is_retried_until_cancelled() {
        let metrics = Metrics::new();
        let ctx = CaptureCtx {
            name: "usb".into(),
            fps: 5,
            slot: Arc::new(FrameSlot::default()),
            stats: SourceStats::new(&metrics, "usb", "camera"),
            counters: CameraCounters::new(&metrics, "usb"),
            cancel: CancellationToken::new(),
        };
        let (stats, counters, cancel) =
            (ctx.stats.clone(), ctx.counters.clone(), ctx.cancel.clone());
        let spec = UvcSpec {
            index: absent_index(),
            size: Some([640, 480]),
        };
        let thread = std::thread::spawn(move || capture_loop(&ctx, spec));
        // First attempt at once, the second after 0.5 s.
        std::thread::sleep(Duration::from_millis(1_200));
        cancel.cancel();
        thread.join().expect("the capture loop ends when cancelled");
        assert!(stats.reconnects.load(Ordering::Relaxed) >= 1);
        assert_eq!(stats.connected.load(Ordering::Relaxed), 0);
        assert_eq!(counters.frames.load(Ordering::Relaxed), 0);
    }
}
