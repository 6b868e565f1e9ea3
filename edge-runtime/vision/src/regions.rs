//! Connected regions of a mask (8-neighbourhood), as bounding boxes: shared by OCR's text boxes
//! and the anomaly map's defect regions.

/// Bounding boxes (x1, y1, x2, y2, inclusive pixel indices) of the connected regions of `mask`
/// (`w`×`h`, row-major), in scan order of their first pixel.
pub fn components(mask: &[bool], w: usize, h: usize) -> Vec<[usize; 4]> {
    let mut seen = vec![false; w * h];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    for start in 0..(w * h).min(mask.len()) {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut b = [usize::MAX, usize::MAX, 0, 0];
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = ny * w + nx;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        out.push(b);
    }
    out
}

/// Maximum and mean of `values` inside the inclusive box `b`.
pub fn box_stats(values: &[f32], w: usize, b: &[usize; 4]) -> (f32, f32) {
    let (mut max, mut sum) = (f32::NEG_INFINITY, 0.0f32);
    for y in b[1]..=b[3] {
        for &v in &values[y * w + b[0]..=y * w + b[2]] {
            max = max.max(v);
            sum += v;
        }
    }
    (max, sum / ((b[2] - b[0] + 1) * (b[3] - b[1] + 1)) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagonal_neighbours_join_and_separate_blobs_do_not() {
        #[rustfmt::skip]
        let m = [
            1, 0, 0, 0, 1,
            0, 1, 0, 0, 1,
            0, 0, 0, 0, 0,
            1, 1, 0, 0, 0,
        ].map(|v| v == 1);
        assert_eq!(
            components(&m, 5, 4),
            vec![[0, 0, 1, 1], [4, 0, 4, 1], [0, 3, 1, 3]]
        );
        let vals: Vec<f32> = (0..20).map(|i| i as f32).collect();
        assert_eq!(box_stats(&vals, 5, &[0, 0, 1, 1]), (6.0, 3.0));
    }
}
