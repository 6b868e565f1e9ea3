//! What the line screen shows of the cameras, kept by each camera's vision worker: frame counts,
//! what every model found on the newest frame in words, an active code mismatch, and a small JPEG
//! of the newest frame with its boxes. Pure state and drawing: no I/O.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use image::RgbImage;
use serde::Serialize;

/// The cameras of this box, by name.
pub type SharedVision = Arc<Mutex<VisionBoard>>;

#[derive(Debug, Default, Clone, Serialize)]
pub struct VisionBoard {
    pub cameras: BTreeMap<String, CameraView>,
}

/// How a model's answer reads to an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    /// Anomalous product, or a detection of a reject class.
    Reject,
    /// The code read is not the batch's.
    Mismatch,
    Error,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelView {
    pub model: String,
    pub verdict: Verdict,
    /// One line for the operator, e.g. `anomaly 0.88 (threshold 0.50)` or `read "EXP 2027-03-15"`.
    pub summary: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CameraView {
    pub source: String,
    pub fps_limit: u32,
    pub frames: u64,
    pub dropped: u64,
    pub last_ms: Option<i64>,
    pub infer_ms: Option<f64>,
    pub models: Vec<ModelView>,
    /// Frames with a reject or mismatch verdict since start.
    pub flagged: u64,
    /// JPEG of the newest frame (served at /screen/camera/{name}.jpg).
    #[serde(skip)]
    pub thumbnail: Option<Vec<u8>>,
}

impl VisionBoard {
    pub fn shared() -> SharedVision {
        Arc::new(Mutex::new(Self::default()))
    }

    pub fn register(&mut self, name: &str, source: &str, fps_limit: u32) {
        self.cameras.insert(
            name.to_owned(),
            CameraView {
                source: source.to_owned(),
                fps_limit,
                ..Default::default()
            },
        );
    }

    /// Records one processed frame.
    pub fn frame(
        &mut self,
        name: &str,
        ts_ms: i64,
        infer_ms: f64,
        models: Vec<ModelView>,
        counts: (u64, u64),
    ) {
        let cam = self.cameras.entry(name.to_owned()).or_default();
        cam.last_ms = Some(ts_ms);
        cam.infer_ms = Some(infer_ms);
        if models
            .iter()
            .any(|m| matches!(m.verdict, Verdict::Reject | Verdict::Mismatch))
        {
            cam.flagged += 1;
        }
        cam.models = models;
        (cam.frames, cam.dropped) = counts;
    }

    /// A camera that cannot run (its models did not load), with the reason for the operator.
    pub fn fail(&mut self, name: &str, source: &str, why: &str) {
        let cam = self.cameras.entry(name.to_owned()).or_default();
        cam.source = source.to_owned();
        cam.models = vec![ModelView {
            model: "—".into(),
            verdict: Verdict::Error,
            summary: format!("not running: {why}"),
        }];
    }

    pub fn set_thumbnail(&mut self, name: &str, jpeg: Vec<u8>) {
        if let Some(c) = self.cameras.get_mut(name) {
            c.thumbnail = Some(jpeg);
        }
    }
}

/// A JPEG at most `max_w` pixels wide of `img`, with `boxes` (image pixels) outlined in the
/// Okabe–Ito vermillion.
pub fn thumbnail(img: &RgbImage, boxes: &[[f32; 4]], max_w: u32) -> Option<Vec<u8>> {
    let (w, h) = img.dimensions();
    let scale = (max_w as f32 / w as f32).min(1.0);
    let (tw, th) = (
        ((w as f32 * scale) as u32).max(1),
        ((h as f32 * scale) as u32).max(1),
    );
    let mut t = image::imageops::resize(img, tw, th, image::imageops::FilterType::Triangle);
    let red = image::Rgb([213, 94, 0]);
    for b in boxes {
        let [x1, y1, x2, y2] = b.map(|v| v * scale);
        let (x1, y1) = (x1.max(0.0) as u32, y1.max(0.0) as u32);
        let (x2, y2) = ((x2 as u32).min(tw - 1), (y2 as u32).min(th - 1));
        if x1 >= x2 || y1 >= y2 {
            continue;
        }
        for x in x1..=x2 {
            for y in [y1, y2, (y1 + 1).min(y2), y2.saturating_sub(1).max(y1)] {
                t.put_pixel(x, y, red);
            }
        }
        for y in y1..=y2 {
            for x in [x1, x2, (x1 + 1).min(x2), x2.saturating_sub(1).max(x1)] {
                t.put_pixel(x, y, red);
            }
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&t)
        .ok()?;
    Some(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_update_the_camera_and_count_flagged_ones() {
        let mut b = VisionBoard::default();
        b.register("top", "test:", 5);
        let ok = ModelView {
            model: "m".into(),
            verdict: Verdict::Ok,
            summary: "ok".into(),
        };
        let bad = ModelView {
            verdict: Verdict::Reject,
            ..ok.clone()
        };
        b.frame("top", 1_000, 12.5, vec![ok.clone()], (1, 0));
        b.frame("top", 1_200, 11.0, vec![ok, bad], (2, 1));
        let c = &b.cameras["top"];
        assert_eq!(
            (c.frames, c.dropped, c.flagged, c.last_ms),
            (2, 1, 1, Some(1_200))
        );
        assert_eq!(c.models.len(), 2);
    }

    #[test]
    fn thumbnails_are_jpeg_scaled_down_with_boxes() {
        let img = RgbImage::from_pixel(640, 480, image::Rgb([200, 200, 200]));
        let jpeg = thumbnail(&img, &[[100.0, 100.0, 300.0, 200.0]], 320).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        let back = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        assert_eq!(back.dimensions(), (320, 240));
        let edge = back.get_pixel(100, 50).0; // the top edge of the box, scaled by 0.5
        assert!(
            edge[0] > 150 && edge[2] < 100,
            "box outline drawn: {edge:?}"
        );
    }
}
