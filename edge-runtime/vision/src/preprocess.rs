//! Image to input tensor: letterbox (or stretch), bilinear resize, normalisation and layout in one
//! pass over the output pixels, so a frame is read once and written once.
//!
//! The resize samples like OpenCV's `INTER_LINEAR` (half-pixel centres, edge clamping, no
//! antialiasing), which is what Ultralytics' and Anomalib's own pre-processing uses; the Python
//! reference in `tests/reference.py` implements the same arithmetic in numpy.

use image::RgbImage;

use crate::manifest::{ChannelOrder, InputSpec, Layout, Resize};

/// Where the original image sits in the network input; maps boxes back to image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Input pixels per image pixel, horizontally and vertically (equal for a letterbox).
    pub scale_x: f32,
    pub scale_y: f32,
    /// Padding before the image, in input pixels.
    pub pad_x: f32,
    pub pad_y: f32,
    /// The original image size.
    pub image_w: u32,
    pub image_h: u32,
}

impl Placement {
    /// Input-space point to image pixels, clamped to the image.
    pub fn to_image(&self, x: f32, y: f32) -> (f32, f32) {
        let ix = ((x - self.pad_x) / self.scale_x).clamp(0.0, self.image_w as f32);
        let iy = ((y - self.pad_y) / self.scale_y).clamp(0.0, self.image_h as f32);
        (ix, iy)
    }
}

/// Rounds half away from zero; the reference uses `floor(x + 0.5)` for the same non-negative values.
fn round_pos(x: f32) -> u32 {
    (x + 0.5).floor().max(0.0) as u32
}

/// Computes where an `image_w`×`image_h` image lands in a `dst_w`×`dst_h` input.
pub fn placement(
    spec: &InputSpec,
    image_w: u32,
    image_h: u32,
    dst_w: u32,
    dst_h: u32,
) -> Placement {
    match spec.resize {
        Resize::Stretch => Placement {
            scale_x: dst_w as f32 / image_w as f32,
            scale_y: dst_h as f32 / image_h as f32,
            pad_x: 0.0,
            pad_y: 0.0,
            image_w,
            image_h,
        },
        Resize::Letterbox | Resize::LetterboxTopLeft => {
            let r = (dst_w as f32 / image_w as f32).min(dst_h as f32 / image_h as f32);
            let new_w = round_pos(image_w as f32 * r).clamp(1, dst_w);
            let new_h = round_pos(image_h as f32 * r).clamp(1, dst_h);
            let (pad_x, pad_y) = if spec.resize == Resize::LetterboxTopLeft {
                (0.0, 0.0)
            } else {
                // Ultralytics splits the padding with round(d - 0.1) before and round(d + 0.1) after.
                let dw = (dst_w - new_w) as f32 / 2.0;
                let dh = (dst_h - new_h) as f32 / 2.0;
                (round_pos(dw - 0.1) as f32, round_pos(dh - 0.1) as f32)
            };
            Placement {
                scale_x: r,
                scale_y: r,
                pad_x,
                pad_y,
                image_w,
                image_h,
            }
        }
    }
}

/// Per-axis sample positions: for each output index, the two source indices and the weight of the
/// second one.
fn axis_taps(src: u32, dst_len: u32) -> Vec<(u32, u32, f32)> {
    let inv = src as f32 / dst_len as f32;
    (0..dst_len)
        .map(|d| {
            let f = (d as f32 + 0.5) * inv - 0.5;
            let (i0, w) = if f <= 0.0 {
                (0, 0.0)
            } else {
                (f.floor() as u32, f - f.floor())
            };
            let i0 = i0.min(src - 1);
            let i1 = (i0 + 1).min(src - 1);
            (i0, i1, w)
        })
        .collect()
}

/// Fills `out` (length 3·dst_w·dst_h: a reused buffer, or a tensor ONNX Runtime reads in place)
/// with the network input for `image` and returns its placement.
pub fn fill_input(
    spec: &InputSpec,
    image: &RgbImage,
    dst_w: u32,
    dst_h: u32,
    out: &mut [f32],
) -> Placement {
    let (iw, ih) = image.dimensions();
    let place = placement(spec, iw, ih, dst_w, dst_h);
    let (new_w, new_h, x0, y0) = match spec.resize {
        Resize::Stretch => (dst_w, dst_h, 0, 0),
        _ => (
            round_pos(iw as f32 * place.scale_x).clamp(1, dst_w),
            round_pos(ih as f32 * place.scale_y).clamp(1, dst_h),
            place.pad_x as u32,
            place.pad_y as u32,
        ),
    };
    let plane = (dst_w * dst_h) as usize;
    assert_eq!(
        out.len(),
        plane * 3,
        "the input buffer fits the network input"
    );

    // Normalised value of a raw 0..255 sample for channel c of the *network's* order.
    let order: [usize; 3] = match spec.channels {
        ChannelOrder::Rgb => [0, 1, 2],
        ChannelOrder::Bgr => [2, 1, 0],
    };
    let mul: [f32; 3] = std::array::from_fn(|c| spec.scale / spec.std[c]);
    let add: [f32; 3] = std::array::from_fn(|c| -spec.mean[c] / spec.std[c]);
    let pad: [f32; 3] = std::array::from_fn(|c| spec.pad_value * mul[c] + add[c]);
    let nchw = spec.layout == Layout::Nchw;
    let put = |out: &mut [f32], idx: usize, c: usize, v: f32| {
        if nchw {
            out[c * plane + idx] = v;
        } else {
            out[idx * 3 + c] = v;
        }
    };

    for idx in 0..plane {
        for (c, p) in pad.iter().enumerate() {
            put(out, idx, c, *p);
        }
    }

    let xs = axis_taps(iw, new_w);
    let ys = axis_taps(ih, new_h);
    let src = image.as_raw();
    let stride = iw as usize * 3;
    for (dy, &(y0s, y1s, wy)) in ys.iter().enumerate() {
        let row0 = &src[y0s as usize * stride..][..stride];
        let row1 = &src[y1s as usize * stride..][..stride];
        let oy = (y0 + dy as u32) as usize * dst_w as usize;
        for (dx, &(x0s, x1s, wx)) in xs.iter().enumerate() {
            let (a, b) = (x0s as usize * 3, x1s as usize * 3);
            let idx = oy + x0 as usize + dx;
            for (c, &sc) in order.iter().enumerate() {
                let top = row0[a + sc] as f32 * (1.0 - wx) + row0[b + sc] as f32 * wx;
                let bot = row1[a + sc] as f32 * (1.0 - wx) + row1[b + sc] as f32 * wx;
                let v = top * (1.0 - wy) + bot * wy;
                put(out, idx, c, v * mul[c] + add[c]);
            }
        }
    }
    place
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::InputSpec;

    fn spec(resize: Resize) -> InputSpec {
        InputSpec {
            resize,
            ..InputSpec::default()
        }
    }

    #[test]
    fn letterbox_centres_a_wide_image_and_maps_back() {
        let p = placement(&spec(Resize::Letterbox), 640, 320, 320, 320);
        assert_eq!((p.scale_x, p.pad_x, p.pad_y), (0.5, 0.0, 80.0));
        assert_eq!(p.to_image(160.0, 160.0), (320.0, 160.0));
        assert_eq!(p.to_image(-5.0, 400.0), (0.0, 320.0));
    }

    #[test]
    fn identity_resize_copies_pixels_and_pads_with_the_pad_value() {
        let mut img = RgbImage::new(4, 2);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = image::Rgb([(x * 10) as u8, (y * 100) as u8, 7]);
        }
        let mut out = vec![0.0; 48];
        let s = spec(Resize::Letterbox);
        let p = fill_input(&s, &img, 4, 4, &mut out);
        assert_eq!((p.pad_x, p.pad_y), (0.0, 1.0));
        // Row 0 is padding (114/255); rows 1..3 are the image.
        assert!((out[0] - 114.0 / 255.0).abs() < 1e-6);
        assert!((out[4 + 3] - 30.0 / 255.0).abs() < 1e-6, "R of pixel (3,0)");
        assert!(
            (out[16 + 8 + 1] - 100.0 / 255.0).abs() < 1e-6,
            "G of pixel (1,1)"
        );
        assert!((out[32 + 4] - 7.0 / 255.0).abs() < 1e-6, "B plane");
    }

    #[test]
    fn downscale_by_two_averages_pixel_pairs() {
        let mut img = RgbImage::new(4, 1);
        for (x, _, p) in img.enumerate_pixels_mut() {
            *p = image::Rgb([(x * 20) as u8; 3]);
        }
        let s = InputSpec {
            resize: Resize::Stretch,
            scale: 1.0,
            ..InputSpec::default()
        };
        let mut out = vec![0.0; 6];
        fill_input(&s, &img, 2, 1, &mut out);
        assert_eq!(&out[..2], &[10.0, 50.0]);
    }

    #[test]
    fn bgr_nhwc_with_mean_and_std() {
        let img = RgbImage::from_pixel(1, 1, image::Rgb([10, 20, 30]));
        let s = InputSpec {
            resize: Resize::Stretch,
            layout: Layout::Nhwc,
            channels: ChannelOrder::Bgr,
            scale: 1.0,
            mean: [1.0, 2.0, 3.0],
            std: [2.0, 2.0, 3.0],
            ..InputSpec::default()
        };
        let mut out = vec![0.0; 3];
        fill_input(&s, &img, 1, 1, &mut out);
        let want = [(30.0 - 1.0) / 2.0, (20.0 - 2.0) / 2.0, (10.0 - 3.0) / 3.0];
        assert!(
            out.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5),
            "{out:?}"
        );
    }
}
