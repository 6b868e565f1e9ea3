//! Anomalib-style outputs: an anomaly map (per pixel, normalised so the threshold is 0.5 in
//! Anomalib's convention, or raw) and an image score. Pure: the map becomes an image score, the
//! regions above the threshold (as boxes in image pixels) and a heat map.

use image::RgbImage;
use serde::Serialize;

use crate::VisionError;
use crate::detect::Detection;
use crate::preprocess::Placement;
use crate::regions::{box_stats, components};

/// The anomaly map at network resolution.
#[derive(Debug, Clone)]
pub struct Heatmap {
    pub w: usize,
    pub h: usize,
    pub values: Vec<f32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnomalyResult {
    /// The model's `pred_score` when it has one, else the map's maximum.
    pub score: f32,
    pub anomalous: bool,
    /// Connected regions of the map above the threshold, label `anomaly`, scored by their peak.
    pub regions: Vec<Detection>,
    #[serde(skip)]
    pub heatmap: Heatmap,
}

/// Reads a map of shape [1, 1, h, w], [1, h, w] or [h, w].
pub fn decode(
    shape: &[i64],
    map: &[f32],
    score: Option<f32>,
    threshold: f32,
    place: &Placement,
) -> Result<AnomalyResult, VisionError> {
    let dims: Vec<usize> = shape.iter().map(|d| (*d).max(0) as usize).collect();
    let (h, w) = match dims.as_slice() {
        [1, 1, h, w] | [1, h, w] | [h, w] => (*h, *w),
        _ => {
            return Err(VisionError::OutputShape {
                layout: "anomalib",
                expected: "an anomaly map [1, 1, h, w]".into(),
                actual: shape.to_vec(),
            });
        }
    };
    if map.len() < w * h || w == 0 || h == 0 {
        return Err(VisionError::Decode(format!(
            "anomaly map of {w}x{h} has {} values",
            map.len()
        )));
    }
    let values = map[..w * h].to_vec();
    let peak = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let score = score.unwrap_or(peak);
    let mask: Vec<bool> = values.iter().map(|v| *v > threshold).collect();
    let regions = components(&mask, w, h)
        .into_iter()
        .filter(|b| (b[2] - b[0] + 1) * (b[3] - b[1] + 1) >= 4)
        .map(|b| {
            let (max, _) = box_stats(&values, w, &b);
            let (x1, y1) = place.to_image(b[0] as f32, b[1] as f32);
            let (x2, y2) = place.to_image((b[2] + 1) as f32, (b[3] + 1) as f32);
            Detection {
                label: "anomaly".into(),
                class_id: 0,
                score: max,
                bbox: [x1, y1, x2, y2],
            }
        })
        .collect();
    Ok(AnomalyResult {
        score,
        anomalous: score > threshold,
        regions,
        heatmap: Heatmap { w, h, values },
    })
}

/// The image with the heat map laid over it (blue below the threshold's half, through yellow,
/// to red at 1), for operators and model cards.
pub fn overlay(image: &RgbImage, heat: &Heatmap) -> RgbImage {
    let (iw, ih) = image.dimensions();
    let mut out = image.clone();
    for (x, y, px) in out.enumerate_pixels_mut() {
        let hx = ((x as usize * heat.w) / iw as usize).min(heat.w - 1);
        let hy = ((y as usize * heat.h) / ih as usize).min(heat.h - 1);
        let v = heat.values[hy * heat.w + hx].clamp(0.0, 1.0);
        let colour = if v < 0.5 {
            [0.0, 0.45 * v / 0.5, 1.0 - v]
        } else {
            [1.0, 1.0 - (v - 0.5) * 2.0, 0.0]
        };
        let alpha = 0.25 + 0.35 * v;
        for (p, c) in px.0.iter_mut().zip(colour) {
            *p = (*p as f32 * (1.0 - alpha) + c * 255.0 * alpha) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(w: u32, h: u32, sx: f32, sy: f32) -> Placement {
        Placement {
            scale_x: sx,
            scale_y: sy,
            pad_x: 0.0,
            pad_y: 0.0,
            image_w: w,
            image_h: h,
        }
    }

    #[test]
    fn regions_above_the_threshold_map_back_to_image_pixels() {
        let (w, h) = (8, 4);
        let mut m = vec![0.1; w * h];
        for y in 1..=2 {
            for x in 5..=6 {
                m[y * w + x] = 0.8;
            }
        }
        m[2 * w + 6] = 0.9;
        // The map covers a 16x8 image (scale 0.5).
        let r = decode(
            &[1, 1, h as i64, w as i64],
            &m,
            Some(0.93),
            0.5,
            &place(16, 8, 0.5, 0.5),
        )
        .unwrap();
        assert!(r.anomalous && r.score == 0.93);
        assert_eq!(r.regions.len(), 1);
        assert_eq!(r.regions[0].bbox, [10.0, 2.0, 14.0, 6.0]);
        assert_eq!(r.regions[0].score, 0.9);
    }

    #[test]
    fn without_a_score_output_the_peak_decides() {
        let r = decode(&[4, 4], &[0.2; 16], None, 0.5, &place(4, 4, 1.0, 1.0)).unwrap();
        assert!(!r.anomalous && r.score == 0.2 && r.regions.is_empty());
        assert!(decode(&[1, 2, 4, 4], &[0.0; 32], None, 0.5, &place(4, 4, 1.0, 1.0)).is_err());
    }

    #[test]
    fn the_overlay_turns_hot_pixels_red() {
        let img = RgbImage::from_pixel(2, 1, image::Rgb([100, 100, 100]));
        let heat = Heatmap {
            w: 2,
            h: 1,
            values: vec![0.0, 1.0],
        };
        let o = overlay(&img, &heat);
        assert!(
            o.get_pixel(1, 0).0[0] > 150 && o.get_pixel(1, 0).0[2] < 60,
            "{:?}",
            o.get_pixel(1, 0)
        );
        assert!(o.get_pixel(0, 0).0[2] > o.get_pixel(0, 0).0[0]);
    }
}
