//! YOLO output decoding and class-aware non-maximum suppression. Pure: tensors in, boxes in
//! original-image pixels out.

use serde::Serialize;

use crate::VisionError;
use crate::manifest::{OutputLayout, Thresholds};
use crate::preprocess::Placement;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    pub label: String,
    pub class_id: usize,
    pub score: f32,
    /// x1, y1, x2, y2 in original-image pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}

/// A candidate in network-input pixels, before NMS and mapping.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    class_id: usize,
    score: f32,
    b: [f32; 4],
}

fn shape_error(layout: OutputLayout, expected: String, shape: &[i64]) -> VisionError {
    VisionError::OutputShape {
        layout: layout.name(),
        expected,
        actual: shape.to_vec(),
    }
}

/// What decoding needs to know about a detector, from its manifest entry.
#[derive(Debug, Clone, Copy)]
pub struct Decoder<'a> {
    pub layout: OutputLayout,
    /// Network input width and height (YOLOX's grid depends on it).
    pub input_size: [u32; 2],
    pub thresholds: &'a Thresholds,
    /// Class labels; their count fixes the output width of every layout but yolo-e2e.
    pub labels: &'a [String],
}

impl Decoder<'_> {
    /// Decodes one image's output (batch index 0) into detections.
    pub fn decode(
        &self,
        shape: &[i64],
        data: &[f32],
        place: &Placement,
    ) -> Result<Vec<Detection>, VisionError> {
        decode(self, shape, data, place)
    }
}

fn decode(
    dec: &Decoder<'_>,
    shape: &[i64],
    data: &[f32],
    place: &Placement,
) -> Result<Vec<Detection>, VisionError> {
    let (layout, thresholds, labels, input_size) =
        (dec.layout, dec.thresholds, dec.labels, dec.input_size);
    let num_classes = labels.len();
    let dims: Vec<usize> = shape.iter().map(|d| (*d).max(0) as usize).collect();
    if dims.len() != 3 || dims[0] < 1 || data.len() < dims.iter().product() {
        return Err(shape_error(layout, "[batch, a, b] (rank 3)".into(), shape));
    }
    let (a, b) = (dims[1], dims[2]);
    let conf = thresholds.score;
    let mut cands = Vec::new();
    let needs_nms = layout != OutputLayout::YoloE2e;
    match layout {
        OutputLayout::Yolov8 => {
            if a != 4 + num_classes {
                return Err(shape_error(
                    layout,
                    format!(
                        "[batch, 4 + {num_classes} classes = {}, anchors]",
                        4 + num_classes
                    ),
                    shape,
                ));
            }
            let n = b;
            // Class-major layout: one pass per class row keeps reads sequential.
            let mut best = vec![f32::NEG_INFINITY; n];
            let mut arg = vec![0usize; n];
            for c in 0..num_classes {
                let row = &data[(4 + c) * n..(5 + c) * n];
                for (i, &s) in row.iter().enumerate() {
                    if s > best[i] {
                        best[i] = s;
                        arg[i] = c;
                    }
                }
            }
            for i in 0..n {
                if best[i] > conf {
                    let (cx, cy, w, h) = (data[i], data[n + i], data[2 * n + i], data[3 * n + i]);
                    cands.push(Candidate {
                        class_id: arg[i],
                        score: best[i],
                        b: xywh(cx, cy, w, h),
                    });
                }
            }
        }
        OutputLayout::Yolov5 | OutputLayout::Yolox => {
            if b != 5 + num_classes {
                return Err(shape_error(
                    layout,
                    format!(
                        "[batch, anchors, 5 + {num_classes} classes = {}]",
                        5 + num_classes
                    ),
                    shape,
                ));
            }
            let grid = if layout == OutputLayout::Yolox {
                Some(yolox_grid(input_size, a, shape)?)
            } else {
                None
            };
            for i in 0..a {
                let row = &data[i * b..(i + 1) * b];
                let obj = row[4];
                if obj <= conf {
                    continue;
                }
                let (c, s) = argmax(&row[5..]);
                let score = obj * s;
                if score <= conf {
                    continue;
                }
                let (cx, cy, w, h) = match &grid {
                    Some(g) => {
                        let (gx, gy, stride) = g[i];
                        (
                            (row[0] + gx) * stride,
                            (row[1] + gy) * stride,
                            row[2].exp() * stride,
                            row[3].exp() * stride,
                        )
                    }
                    None => (row[0], row[1], row[2], row[3]),
                };
                cands.push(Candidate {
                    class_id: c,
                    score,
                    b: xywh(cx, cy, w, h),
                });
            }
        }
        OutputLayout::YoloE2e => {
            if b != 6 {
                return Err(shape_error(
                    layout,
                    "[batch, detections, 6] (x1, y1, x2, y2, score, class)".into(),
                    shape,
                ));
            }
            for i in 0..a {
                let r = &data[i * 6..i * 6 + 6];
                if r[4] > conf {
                    let class_id = r[5].max(0.0) as usize;
                    if num_classes > 0 && class_id >= num_classes {
                        return Err(VisionError::Decode(format!(
                            "detection {i} has class {class_id} but the manifest lists {num_classes} labels"
                        )));
                    }
                    cands.push(Candidate {
                        class_id,
                        score: r[4],
                        b: [r[0], r[1], r[2], r[3]],
                    });
                }
            }
        }
        other => {
            return Err(VisionError::Decode(format!(
                "`{}` is not a detection layout",
                other.name()
            )));
        }
    }
    let kept = if needs_nms {
        nms(cands, thresholds.iou, thresholds.max_detections)
    } else {
        let mut c = cands;
        sort_by_score(&mut c);
        c.truncate(thresholds.max_detections);
        c
    };
    Ok(kept
        .into_iter()
        .map(|c| {
            let (x1, y1) = place.to_image(c.b[0], c.b[1]);
            let (x2, y2) = place.to_image(c.b[2], c.b[3]);
            Detection {
                label: labels
                    .get(c.class_id)
                    .cloned()
                    .unwrap_or_else(|| format!("class_{}", c.class_id)),
                class_id: c.class_id,
                score: c.score,
                bbox: [x1, y1, x2, y2],
            }
        })
        .collect())
}

fn xywh(cx: f32, cy: f32, w: f32, h: f32) -> [f32; 4] {
    [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
}

fn argmax(xs: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &x) in xs.iter().enumerate() {
        if x > best.1 {
            best = (i, x);
        }
    }
    best
}

/// YOLOX anchor points: strides 8, 16 and 32 over the input, row-major per stride.
fn yolox_grid(
    size: [u32; 2],
    anchors: usize,
    shape: &[i64],
) -> Result<Vec<(f32, f32, f32)>, VisionError> {
    let mut g = Vec::with_capacity(anchors);
    for stride in [8u32, 16, 32] {
        let (gw, gh) = (size[0] / stride, size[1] / stride);
        for y in 0..gh {
            for x in 0..gw {
                g.push((x as f32, y as f32, stride as f32));
            }
        }
    }
    if g.len() != anchors {
        return Err(shape_error(
            OutputLayout::Yolox,
            format!(
                "{} anchors for a {}x{} input (strides 8/16/32)",
                g.len(),
                size[0],
                size[1]
            ),
            shape,
        ));
    }
    Ok(g)
}

fn sort_by_score(c: &mut [Candidate]) {
    // Stable, so equal scores keep anchor order (the reference does the same).
    c.sort_by(|a, b| b.score.total_cmp(&a.score));
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Greedy class-aware NMS: highest score first, a box is dropped when it overlaps a kept box of the
/// same class by more than `iou_threshold`.
fn nms(mut cands: Vec<Candidate>, iou_threshold: f32, max_keep: usize) -> Vec<Candidate> {
    sort_by_score(&mut cands);
    let mut kept: Vec<Candidate> = Vec::new();
    for c in cands {
        if kept.len() >= max_keep {
            break;
        }
        if kept
            .iter()
            .all(|k| k.class_id != c.class_id || iou(&k.b, &c.b) <= iou_threshold)
        {
            kept.push(c);
        }
    }
    kept
}

/// Intersection over union of two boxes given as x1, y1, x2, y2.
pub fn box_iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    iou(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(w: u32, h: u32) -> Placement {
        Placement {
            scale_x: 1.0,
            scale_y: 1.0,
            pad_x: 0.0,
            pad_y: 0.0,
            image_w: w,
            image_h: h,
        }
    }

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    fn run(
        layout: OutputLayout,
        shape: &[i64],
        data: &[f32],
        nc: usize,
        size: u32,
        place: &Placement,
    ) -> Result<Vec<Detection>, VisionError> {
        let (t, l) = (Thresholds::default(), labels(nc));
        Decoder {
            layout,
            input_size: [size, size],
            thresholds: &t,
            labels: &l,
        }
        .decode(shape, data, place)
    }

    /// Builds a YOLOv8 output from (cx, cy, w, h, class, score) anchors.
    fn v8(anchors: &[(f32, f32, f32, f32, usize, f32)], nc: usize) -> (Vec<i64>, Vec<f32>) {
        let n = anchors.len();
        let mut d = vec![0.0; (4 + nc) * n];
        for (i, &(cx, cy, w, h, c, s)) in anchors.iter().enumerate() {
            d[i] = cx;
            d[n + i] = cy;
            d[2 * n + i] = w;
            d[3 * n + i] = h;
            d[(4 + c) * n + i] = s;
        }
        (vec![1, 4 + nc as i64, n as i64], d)
    }

    #[test]
    fn yolov8_nms_is_class_aware() {
        let (shape, data) = v8(
            &[
                (50.0, 50.0, 20.0, 20.0, 0, 0.9),
                (51.0, 50.0, 20.0, 20.0, 0, 0.8), // same class, overlaps: suppressed
                (51.0, 50.0, 20.0, 20.0, 1, 0.7), // other class, kept
                (10.0, 10.0, 4.0, 4.0, 0, 0.1),   // under the score threshold
            ],
            2,
        );
        let d = run(
            OutputLayout::Yolov8,
            &shape,
            &data,
            2,
            100,
            &identity(100, 100),
        )
        .unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].class_id, d[0].score), (0, 0.9));
        assert_eq!(d[0].bbox, [40.0, 40.0, 60.0, 60.0]);
        assert_eq!((d[1].label.as_str(), d[1].score), ("c1", 0.7));
    }

    #[test]
    fn boxes_map_back_through_the_letterbox_and_clip() {
        let (shape, data) = v8(&[(160.0, 160.0, 40.0, 400.0, 0, 0.9)], 1);
        let place = Placement {
            scale_x: 0.5,
            scale_y: 0.5,
            pad_x: 0.0,
            pad_y: 80.0,
            image_w: 640,
            image_h: 320,
        };
        let d = run(OutputLayout::Yolov8, &shape, &data, 1, 320, &place).unwrap();
        assert_eq!(d[0].bbox, [280.0, 0.0, 360.0, 320.0]);
    }

    #[test]
    fn e2e_needs_no_nms_and_v5_multiplies_objectness() {
        let data = vec![
            1.0, 2.0, 11.0, 12.0, 0.9, 1.0, 1.0, 2.0, 11.0, 12.0, 0.8, 1.0,
        ];
        let d = run(
            OutputLayout::YoloE2e,
            &[1, 2, 6],
            &data,
            2,
            20,
            &identity(20, 20),
        )
        .unwrap();
        assert_eq!(
            d.len(),
            2,
            "overlapping boxes both kept: the model already suppressed"
        );
        let data = vec![10.0, 10.0, 4.0, 4.0, 0.5, 0.2, 0.9];
        let d = run(
            OutputLayout::Yolov5,
            &[1, 1, 7],
            &data,
            2,
            20,
            &identity(20, 20),
        )
        .unwrap();
        assert_eq!((d[0].class_id, d[0].score), (1, 0.45));
    }

    #[test]
    fn yolox_decodes_grid_offsets() {
        // A 32x32 input: 16 + 4 + 1 anchors. Put a box on the stride-16 cell (1, 0).
        let mut data = vec![0.0; 21 * 6];
        let i = 16 + 1;
        data[i * 6..i * 6 + 6].copy_from_slice(&[0.5, 0.5, 0.0, 0.0, 0.9, 0.9]);
        let d = run(
            OutputLayout::Yolox,
            &[1, 21, 6],
            &data,
            1,
            32,
            &identity(32, 32),
        )
        .unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].bbox, [16.0, 0.0, 32.0, 16.0]);
    }

    #[test]
    fn a_wrong_layout_names_the_expected_shape() {
        let e = run(
            OutputLayout::Yolov8,
            &[1, 300, 6],
            &vec![0.0; 1800],
            18,
            320,
            &identity(1, 1),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("yolov8")
                && msg.contains("4 + 18 classes = 22")
                && msg.contains("[1, 300, 6]"),
            "{msg}"
        );
    }
}
