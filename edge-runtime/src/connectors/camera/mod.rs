//! Camera sources on GStreamer: each camera a pipeline ending in an appsink that hands RGB frames
//! to a one-frame slot (latest frame wins, replaced frames counted as drops), a per-camera fps
//! limit, reconnection on stream loss, and a vision worker that runs the camera's models and
//! journals one `Detection` record per model and frame.
//!
//! The pipeline text for each kind of source is built by a pure function so it can be tested and
//! printed; the GStreamer runtime is in [`runtime`].

pub mod keep;
pub mod runtime;
#[cfg(feature = "uvc")]
mod uvc;

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

/// How a camera's frames are captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capture {
    /// A GStreamer pipeline ending in an RGB appsink named `sink`.
    Pipeline(String),
    /// A UVC camera through nokhwa (`uvc:N` or `uvc:N@WIDTHxHEIGHT`).
    Uvc(UvcSpec),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UvcSpec {
    /// The camera's index (`/dev/videoN` on Linux).
    pub index: u32,
    /// The resolution asked of the camera; without one, its highest.
    pub size: Option<[u32; 2]>,
}

/// Reads a profile's camera source: a GStreamer pipeline for every kind but `uvc:`.
pub fn capture_of(source: &str, fps: u32) -> Result<Capture, String> {
    match source.strip_prefix("uvc:") {
        Some(rest) => uvc_spec(source, rest).map(Capture::Uvc),
        None => pipeline_description(source, fps).map(Capture::Pipeline),
    }
}

fn uvc_spec(source: &str, rest: &str) -> Result<UvcSpec, String> {
    let hint =
        "use uvc:N or uvc:N@WIDTHxHEIGHT, N the camera's index (/dev/videoN), e.g. uvc:0@1280x720";
    let (index, size) = match rest.split_once('@') {
        Some((i, s)) => (i, Some(s)),
        None => (rest, None),
    };
    let index = index
        .parse::<u32>()
        .map_err(|_| format!("{source:?}: {index:?} is not a camera index; {hint}"))?;
    let size = match size {
        None => None,
        Some(s) => {
            let parsed = s
                .split_once('x')
                .and_then(|(w, h)| Some([w.parse::<u32>().ok()?, h.parse::<u32>().ok()?]))
                .filter(|[w, h]| (1..=16_384).contains(w) && (1..=16_384).contains(h));
            Some(parsed.ok_or_else(|| format!("{source:?}: {s:?} is not a resolution; {hint}"))?)
        }
    };
    Ok(UvcSpec { index, size })
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
            "{source:?} is a UVC camera, captured through nokhwa, not GStreamer"
        ));
    } else {
        return Err(format!(
            "{source:?} is not a camera source; use rtsp://…, v4l2:///dev/videoN, file:///path, uvc:N or test:"
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
    fn uvc_sources_name_an_index_and_maybe_a_size() {
        let uvc = |s| capture_of(s, 5);
        assert_eq!(
            uvc("uvc:0"),
            Ok(Capture::Uvc(UvcSpec {
                index: 0,
                size: None
            }))
        );
        assert_eq!(
            uvc("uvc:2@1280x720"),
            Ok(Capture::Uvc(UvcSpec {
                index: 2,
                size: Some([1280, 720])
            }))
        );
        for (bad, says) in [
            ("uvc:", "\"\" is not a camera index"),
            ("uvc:cam", "\"cam\" is not a camera index"),
            ("uvc:-1", "not a camera index"),
            ("uvc:0@1280", "\"1280\" is not a resolution"),
            ("uvc:0@0x720", "not a resolution"),
            ("uvc:0@wxh", "not a resolution"),
        ] {
            let e = uvc(bad).unwrap_err();
            assert!(
                e.contains(says) && e.contains("uvc:N@WIDTHxHEIGHT"),
                "{bad}: {e}"
            );
        }
        assert!(
            matches!(uvc("test:ball"), Ok(Capture::Pipeline(p)) if p.starts_with("videotestsrc"))
        );
    }

    #[test]
    fn bad_sources_are_explained() {
        assert!(
            pipeline_description("uvc:0", 5)
                .unwrap_err()
                .contains("nokhwa")
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
