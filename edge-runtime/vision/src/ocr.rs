//! Text reading for date and lot codes: PP-OCR's detection map (DB: differentiable binarisation)
//! turned into text boxes, and its recogniser's per-step character probabilities decoded by CTC.
//! Pure; [`crate::engine::Reader`] runs the two models around these functions.
//!
//! Boxes are axis-aligned (codes on packs and labels are printed level with the line of
//! travel); rotated text is not read.

use serde::Serialize;

use crate::regions::{box_stats, components};

/// One line of text found in an image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextLine {
    pub text: String,
    /// Mean probability of the characters read.
    pub score: f32,
    /// x1, y1, x2, y2 in original-image pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}

/// DB post-processing settings (PaddleOCR's defaults).
#[derive(Debug, Clone, Copy)]
pub struct DbParams {
    /// Probability above which a pixel is text.
    pub thresh: f32,
    /// Mean probability a region needs to count as a text box.
    pub box_thresh: f32,
    /// How far a shrunk text region is grown back: distance = area · ratio / perimeter.
    pub unclip_ratio: f32,
    /// Smallest box side, in map pixels.
    pub min_size: f32,
}

impl Default for DbParams {
    fn default() -> Self {
        Self {
            thresh: 0.3,
            box_thresh: 0.5,
            unclip_ratio: 1.6,
            min_size: 3.0,
        }
    }
}

/// Text boxes from a DB probability map of `w`×`h`, in map pixels (x1, y1, x2, y2), with their
/// mean probability; ordered top to bottom, then left to right.
pub fn db_boxes(map: &[f32], w: usize, h: usize, p: &DbParams) -> Vec<([f32; 4], f32)> {
    if w == 0 || h == 0 || map.len() < w * h {
        return Vec::new();
    }
    // Binarise, then dilate with a 2x2 kernel (joins characters split by thin gaps).
    let bin: Vec<bool> = map[..w * h].iter().map(|v| *v > p.thresh).collect();
    let mut mask = bin.clone();
    for y in 0..h {
        for x in 0..w {
            if !mask[y * w + x] {
                let near = (x > 0 && bin[y * w + x - 1])
                    || (y > 0 && bin[(y - 1) * w + x])
                    || (x > 0 && y > 0 && bin[(y - 1) * w + x - 1]);
                mask[y * w + x] = near;
            }
        }
    }
    let mut out = Vec::new();
    for [x1, y1, x2, y2] in components(&mask, w, h) {
        let (bw, bh) = ((x2 - x1 + 1) as f32, (y2 - y1 + 1) as f32);
        if bw.min(bh) < p.min_size {
            continue;
        }
        // Score: mean probability inside the box ("fast" mode).
        let (_, score) = box_stats(map, w, &[x1, y1, x2, y2]);
        if score < p.box_thresh {
            continue;
        }
        // The network marks a shrunk core of each text line; grow it back by the DB offset.
        let d = bw * bh * p.unclip_ratio / (2.0 * (bw + bh));
        let b = [
            (x1 as f32 - d).max(0.0),
            (y1 as f32 - d).max(0.0),
            ((x2 + 1) as f32 + d).min(w as f32),
            ((y2 + 1) as f32 + d).min(h as f32),
        ];
        if (b[2] - b[0]).min(b[3] - b[1]) < p.min_size + 2.0 {
            continue;
        }
        out.push((b, score));
    }
    // Reading order: by line (boxes whose tops are within half a line are one row), then by x.
    out.sort_by(|a, b| a.0[1].total_cmp(&b.0[1]));
    let mut rows: Vec<Vec<([f32; 4], f32)>> = Vec::new();
    for bx in out {
        match rows.last_mut() {
            Some(row) if (bx.0[1] - row[0].0[1]).abs() < (row[0].0[3] - row[0].0[1]) / 2.0 => {
                row.push(bx)
            }
            _ => rows.push(vec![bx]),
        }
    }
    rows.into_iter()
        .flat_map(|mut r| {
            r.sort_by(|a, b| a.0[0].total_cmp(&b.0[0]));
            r
        })
        .collect()
}

/// Greedy CTC decoding of `steps`×`classes` probabilities: the best class per step, repeats
/// collapsed, the blank (class 0) dropped. `chars[i]` is the text of class `i + 1`; the class
/// after the last listed character is a space (PP-OCR's convention). Returns the text and the
/// mean probability of the characters kept (0 for an empty read).
pub fn ctc_decode(probs: &[f32], steps: usize, classes: usize, chars: &[String]) -> (String, f32) {
    let mut text = String::new();
    let (mut sum, mut n) = (0.0f32, 0usize);
    let mut prev = 0usize;
    for t in 0..steps.min(probs.len() / classes.max(1)) {
        let row = &probs[t * classes..(t + 1) * classes];
        let (mut best, mut p) = (0usize, f32::NEG_INFINITY);
        for (i, &v) in row.iter().enumerate() {
            if v > p {
                best = i;
                p = v;
            }
        }
        if best != 0 && best != prev {
            match chars.get(best - 1) {
                Some(c) => text.push_str(c),
                None => text.push(' '),
            }
            sum += p;
            n += 1;
        }
        prev = best;
    }
    (text, if n == 0 { 0.0 } else { sum / n as f32 })
}

/// Compares codes read on a pack with the code expected for the running batch, ignoring case and
/// spaces (the recogniser may drop or add them; a code's meaning is in its characters). `None`
/// when one of the lines reads as the expected code.
pub fn code_mismatch(read: &[TextLine], expected: &str) -> Option<String> {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase()
    };
    let want = norm(expected);
    if read.iter().any(|l| norm(&l.text) == want) {
        return None;
    }
    let seen: Vec<String> = read.iter().map(|l| format!("{:?}", l.text)).collect();
    Some(if seen.is_empty() {
        format!("expected code {expected:?} but no text was read")
    } else {
        format!("expected code {expected:?} but read {}", seen.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_text_regions_become_two_boxes_in_reading_order() {
        let (w, h) = (40, 20);
        let mut map = vec![0.0; w * h];
        // A line on the right drawn first, a line on the left, both on rows 5..=8.
        for y in 5..=8 {
            for x in 25..=35 {
                map[y * w + x] = 0.9;
            }
            for x in 2..=12 {
                map[y * w + x] = 0.8;
            }
        }
        let b = db_boxes(&map, w, h, &DbParams::default());
        assert_eq!(b.len(), 2, "{b:?}");
        assert!(b[0].0[0] < b[1].0[0], "left first: {b:?}");
        // The 2x2 dilation grows each 11x4 core to 12x5; the score is the mean inside: 0.9·44/60.
        assert!((b[1].1 - 0.66).abs() < 1e-5, "{b:?}");
        // Grown by 12·5·1.6/34 = 2.82 on each side.
        let right = b[1].0;
        let d = 60.0 * 1.6 / 34.0;
        assert!(
            (right[0] - (25.0 - d)).abs() < 1e-3 && (right[3] - (10.0 + d)).abs() < 1e-3,
            "{right:?}"
        );
    }

    #[test]
    fn faint_and_tiny_regions_are_dropped() {
        let (w, h) = (20, 20);
        let mut map = vec![0.0; w * h];
        for y in 2..=6 {
            for x in 2..=10 {
                map[y * w + x] = 0.4; // above thresh, below box_thresh
            }
        }
        map[15 * w + 15] = 0.99; // a 1-pixel speck (2x2 after dilation)
        assert!(db_boxes(&map, w, h, &DbParams::default()).is_empty());
    }

    #[test]
    fn ctc_collapses_repeats_and_drops_blanks() {
        let chars: Vec<String> = ["A", "B", "1"].iter().map(|s| s.to_string()).collect();
        // classes: 0 blank, 1 A, 2 B, 3 "1", 4 space
        let seq = [1, 1, 0, 1, 2, 2, 4, 3, 0, 0];
        let classes = 5;
        let mut probs = vec![0.0; seq.len() * classes];
        for (t, &c) in seq.iter().enumerate() {
            probs[t * classes + c] = 0.9;
        }
        let (text, score) = ctc_decode(&probs, seq.len(), classes, &chars);
        assert_eq!(text, "AAB 1");
        assert!((score - 0.9).abs() < 1e-6);
        assert_eq!(
            ctc_decode(&[0.0; 0], 0, classes, &chars),
            (String::new(), 0.0)
        );
    }

    #[test]
    fn code_comparison_ignores_case_and_spacing() {
        let line = |t: &str| TextLine {
            text: t.into(),
            score: 0.9,
            bbox: [0.0; 4],
        };
        assert_eq!(
            code_mismatch(&[line("exp  2027-03-15")], "EXP 2027-03-15"),
            None
        );
        assert_eq!(
            code_mismatch(&[line("EXP2027-03-15")], "EXP 2027-03-15"),
            None
        );
        let m = code_mismatch(&[line("EXP 2027-03-16"), line("LOT A1")], "EXP 2027-03-15").unwrap();
        assert!(m.contains("\"EXP 2027-03-16\", \"LOT A1\""), "{m}");
        assert!(
            code_mismatch(&[], "X")
                .unwrap()
                .contains("no text was read")
        );
    }
}
