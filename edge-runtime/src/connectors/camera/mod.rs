//! Camera sources on GStreamer: each camera a pipeline ending in an appsink that hands RGB frames
//! to a one-frame slot (latest frame wins, replaced frames counted as drops), a per-camera fps
//! limit, reconnection on stream loss, and a vision worker that runs the camera's models and
//! journals one `Detection` record per model and frame.
//!
//! The pipeline text for each kind of source is built by a pure function so it can be tested and
//! printed; the GStreamer runtime is in [`runtime`].

pub mod keep;
pub mod runtime;

use std::sync::{Condvar, Mutex};
use std::time::Instant;

/// A decoded frame as the vision worker receives it.
pub struct Frame {
    pub image: image::RgbImage,
    /// Wall-clock time at which the frame left the pipeline.
    pub ts_ns: i64,
}

/// Where the capture thread puts frames and the vision worker takes them: one frame deep, so a
/// slow model sees the newest frame, never a backlog.
#[derive(Default)]
pub struct FrameSlot {
    inner: Mutex<SlotState>,
    ready: Condvar,
}

#[derive(Default)]
struct SlotState {
    frame: Option<Frame>,
    closed: bool,
}

impl FrameSlot {
    /// Puts a frame; answers true when it replaced one the worker had not taken (a drop).
    pub fn put(&self, frame: Frame) -> bool {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let dropped = s.frame.replace(frame).is_some();
        self.ready.notify_one();
        dropped
    }

    /// Waits for a frame up to `until`; `None` on timeout or once closed.
    pub fn take(&self, until: Instant) -> Option<Frame> {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(f) = s.frame.take() {
                return Some(f);
            }
            let now = Instant::now();
            if s.closed || now >= until {
                return None;
            }
            s = self
                .ready
                .wait_timeout(s, until - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    pub fn close(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.ready.notify_all();
    }
}

/// Lets through at most `fps` frames per second, by arrival time.
pub struct FpsLimit {
    min_gap_ns: i64,
    last_ns: Option<i64>,
}

impl FpsLimit {
    pub fn new(fps: u32) -> Self {
        Self {
            min_gap_ns: 1_000_000_000 / i64::from(fps.max(1)),
            last_ns: None,
        }
    }

    /// Whether a frame arriving at `ts_ns` is kept.
    pub fn admit(&mut self, ts_ns: i64) -> bool {
        match self.last_ns {
            // Keep the cadence on average: measure from the ideal slot, not from the late frame,
            // and let a frame through up to 10 % early (a source at exactly the limit jitters).
            Some(last) if ts_ns - last < self.min_gap_ns - self.min_gap_ns / 10 => false,
            Some(last) => {
                let behind = ts_ns - last - self.min_gap_ns;
                self.last_ns = Some(if behind < self.min_gap_ns {
                    last + self.min_gap_ns
                } else {
                    ts_ns
                });
                true
            }
            None => {
                self.last_ns = Some(ts_ns);
                true
            }
        }
    }
}

/// Quotes a value for `gst-launch` syntax.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The GStreamer pipeline for a profile's camera source, ending in an RGB appsink named `sink`.
///
/// - `test:` or `test:PATTERN` — `videotestsrc` (e.g. `test:ball`), 640x480, live;
/// - `file:///path.png|jpg` — one image, repeated (`imagefreeze`) at `fps`;
/// - `file:///dir/frame_%05d.png` — an image sequence (`multifilesrc`, looping) at `fps`;
/// - `file:///path.mp4|mkv|…` — a video file, decoded (reconnect restarts it at its end);
/// - `rtsp://…`, `rtsps://…` — `rtspsrc` + `decodebin` (H.264 needs gstreamer1.0-libav);
/// - `v4l2:///dev/videoN` — `v4l2src` (USB cameras included).
pub fn pipeline_description(source: &str, fps: u32) -> Result<String, String> {
    let fps = fps.max(1);
    let tail = "videoconvert ! video/x-raw,format=RGB ! appsink name=sink max-buffers=1 drop=true";
    let head = if let Some(rest) = source.strip_prefix("test:") {
        let pattern = if rest.is_empty() { "smpte" } else { rest };
        if !pattern
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(format!(
                "test pattern {pattern:?} is not a videotestsrc pattern name (e.g. smpte, ball, snow)"
            ));
        }
        format!(
            "videotestsrc is-live=true pattern={pattern} ! video/x-raw,width=640,height=480,framerate={fps}/1"
        )
    } else if let Some(path) = source.strip_prefix("file://") {
        if path.is_empty() || !path.starts_with('/') {
            return Err(format!(
                "{source:?}: a file source needs an absolute path, file:///path"
            ));
        }
        let lower = path.to_ascii_lowercase();
        let image = [".png", ".jpg", ".jpeg"].iter().any(|e| lower.ends_with(e));
        if image && path.contains('%') {
            let caps = if lower.ends_with(".png") {
                "image/png"
            } else {
                "image/jpeg"
            };
            format!(
                "multifilesrc location={} loop=true caps={caps},framerate={fps}/1 ! decodebin",
                quoted(path)
            )
        } else if image {
            format!(
                "filesrc location={} ! decodebin ! imagefreeze is-live=true ! videorate ! video/x-raw,framerate={fps}/1",
                quoted(path)
            )
        } else {
            format!("filesrc location={} ! decodebin", quoted(path))
        }
    } else if source.starts_with("rtsp://") || source.starts_with("rtsps://") {
        format!(
            "rtspsrc location={} latency=200 ! decodebin",
            quoted(source)
        )
    } else if let Some(dev) = source.strip_prefix("v4l2://") {
        if !dev.starts_with("/dev/") {
            return Err(format!("{source:?}: use v4l2:///dev/videoN"));
        }
        format!("v4l2src device={}", quoted(dev))
    } else if source.starts_with("uvc:") {
        return Err(format!(
            "{source:?}: UVC through nokhwa is not built into this binary; use v4l2:///dev/videoN for the same camera"
        ));
    } else {
        return Err(format!(
            "{source:?} is not a camera source; use rtsp://…, v4l2:///dev/videoN, file:///path or test:"
        ));
    };
    Ok(format!("{head} ! {tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_kind_has_a_pipeline() {
        let t = pipeline_description("test:ball", 5).unwrap();
        assert!(
            t.starts_with("videotestsrc is-live=true pattern=ball") && t.contains("framerate=5/1"),
            "{t}"
        );
        assert!(t.ends_with("appsink name=sink max-buffers=1 drop=true"));
        let f = pipeline_description("file:///data/a b.png", 2).unwrap();
        assert!(
            f.contains("filesrc location=\"/data/a b.png\" ! decodebin ! imagefreeze"),
            "{f}"
        );
        let s = pipeline_description("file:///seq/f_%05d.jpg", 10).unwrap();
        assert!(
            s.contains("multifilesrc") && s.contains("image/jpeg,framerate=10/1"),
            "{s}"
        );
        assert!(
            pipeline_description("file:///v.mp4", 10)
                .unwrap()
                .starts_with("filesrc location=\"/v.mp4\" ! decodebin !")
        );
        assert!(
            pipeline_description("rtsp://cam/x", 10)
                .unwrap()
                .starts_with("rtspsrc location=\"rtsp://cam/x\"")
        );
        assert!(
            pipeline_description("v4l2:///dev/video2", 10)
                .unwrap()
                .starts_with("v4l2src device=\"/dev/video2\"")
        );
    }

    #[test]
    fn bad_sources_are_explained() {
        assert!(
            pipeline_description("uvc:0", 5)
                .unwrap_err()
                .contains("v4l2:///dev/videoN")
        );
        assert!(
            pipeline_description("file://rel.png", 5)
                .unwrap_err()
                .contains("absolute")
        );
        assert!(
            pipeline_description("test:a ! fakesink", 5)
                .unwrap_err()
                .contains("pattern")
        );
        assert!(
            pipeline_description("http://x", 5)
                .unwrap_err()
                .contains("not a camera source")
        );
        let q = pipeline_description("file:///a\"b.png", 5).unwrap();
        assert!(q.contains(r#""/a\"b.png""#), "{q}");
    }

    #[test]
    fn the_slot_keeps_the_newest_frame_and_counts_drops() {
        let slot = FrameSlot::default();
        let f = |ts| Frame {
            image: image::RgbImage::new(1, 1),
            ts_ns: ts,
        };
        assert!(!slot.put(f(1)));
        assert!(slot.put(f(2)), "an untaken frame replaced is a drop");
        assert_eq!(slot.take(Instant::now()).unwrap().ts_ns, 2);
        assert!(slot.take(Instant::now()).is_none());
        slot.close();
        assert!(
            slot.take(Instant::now() + std::time::Duration::from_secs(5))
                .is_none(),
            "closed: no wait"
        );
    }

    #[test]
    fn the_fps_limit_keeps_the_cadence() {
        let mut l = FpsLimit::new(10);
        let ms = 1_000_000;
        // 30 fps arrivals for one second: 10 admitted.
        let admitted = (0..30).filter(|i| l.admit(i * 33 * ms)).count();
        assert_eq!(admitted, 10);
        let mut l = FpsLimit::new(5);
        assert!(l.admit(0) && !l.admit(100 * ms) && l.admit(200 * ms) && l.admit(5_000 * ms));
    }
}
