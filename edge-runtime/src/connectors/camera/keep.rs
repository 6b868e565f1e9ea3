//! Frames worth keeping (something was found, or the product is anomalous) as files on the box:
//! a thumbnail of the frame and a crop of every box, in `<dir>/<camera>/<ts_ns>/`, referenced
//! from the journal by `<camera>/<ts_ns>` (the `frame_ref` of its `Detection` records). Oldest
//! frames go first once the byte quota or the age limit is passed.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use image::RgbImage;

/// A kept frame on disk.
#[derive(Debug, Clone, PartialEq)]
struct Kept {
    ts_ns: i64,
    dir: PathBuf,
    bytes: u64,
}

pub struct FrameKeeper {
    root: PathBuf,
    max_bytes: u64,
    max_age_ns: i64,
    kept: VecDeque<Kept>,
    bytes: u64,
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Frame id as journaled: `<camera>/<ts_ns>`.
pub fn frame_id(camera: &str, ts_ns: i64) -> String {
    format!("{camera}/{ts_ns}")
}

impl FrameKeeper {
    /// Opens `root/<camera>`, picking up what earlier runs kept.
    pub fn open(
        root: &Path,
        camera: &str,
        max_bytes: u64,
        max_age_s: u64,
    ) -> std::io::Result<Self> {
        let root = root.join(camera);
        std::fs::create_dir_all(&root)?;
        let mut kept: Vec<Kept> = std::fs::read_dir(&root)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let ts_ns = e.file_name().to_str()?.parse::<i64>().ok()?;
                let dir = e.path();
                Some(Kept {
                    ts_ns,
                    bytes: dir_bytes(&dir),
                    dir,
                })
            })
            .collect();
        kept.sort_by_key(|k| k.ts_ns);
        let bytes = kept.iter().map(|k| k.bytes).sum();
        Ok(Self {
            root,
            max_bytes,
            max_age_ns: (max_age_s as i64).saturating_mul(1_000_000_000),
            kept: kept.into(),
            bytes,
        })
    }

    /// Keeps a frame: its thumbnail and one crop per box (image pixels, padded by 10 %).
    /// Returns the frame id, or the I/O error (the caller counts it; the record is journaled
    /// without a reference).
    pub fn keep(
        &mut self,
        camera: &str,
        ts_ns: i64,
        image: &RgbImage,
        boxes: &[[f32; 4]],
    ) -> std::io::Result<String> {
        let dir = self.root.join(ts_ns.to_string());
        std::fs::create_dir_all(&dir)?;
        let mut bytes = 0;
        let mut write = |name: String, jpeg: Option<Vec<u8>>| -> std::io::Result<()> {
            if let Some(j) = jpeg {
                bytes += j.len() as u64;
                std::fs::write(dir.join(name), j)?;
            }
            Ok(())
        };
        write(
            "frame.jpg".into(),
            crate::screen::vision::thumbnail(image, boxes, 640),
        )?;
        let (w, h) = image.dimensions();
        for (i, b) in boxes.iter().enumerate() {
            let (bw, bh) = (b[2] - b[0], b[3] - b[1]);
            let x1 = (b[0] - bw * 0.1).max(0.0) as u32;
            let y1 = (b[1] - bh * 0.1).max(0.0) as u32;
            let x2 = ((b[2] + bw * 0.1).ceil() as u32).min(w);
            let y2 = ((b[3] + bh * 0.1).ceil() as u32).min(h);
            if x2 <= x1 + 1 || y2 <= y1 + 1 {
                continue;
            }
            let crop = image::imageops::crop_imm(image, x1, y1, x2 - x1, y2 - y1).to_image();
            write(
                format!("crop-{i:02}.jpg"),
                crate::screen::vision::thumbnail(&crop, &[], 640),
            )?;
        }
        self.kept.push_back(Kept { ts_ns, dir, bytes });
        self.bytes += bytes;
        self.retain(ts_ns);
        Ok(frame_id(camera, ts_ns))
    }

    /// Drops the oldest frames beyond the byte quota or older than the age limit.
    fn retain(&mut self, now_ns: i64) {
        while let Some(first) = self.kept.front() {
            let too_old = now_ns - first.ts_ns > self.max_age_ns;
            let too_big = self.bytes > self.max_bytes && self.kept.len() > 1;
            if !too_old && !too_big {
                break;
            }
            if let Some(k) = self.kept.pop_front() {
                self.bytes = self.bytes.saturating_sub(k.bytes);
                if let Err(e) = std::fs::remove_dir_all(&k.dir) {
                    tracing::warn!(dir = %k.dir.display(), error = %e, "cannot remove a kept frame");
                }
            }
        }
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn frames(&self) -> usize {
        self.kept.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_crops_are_kept_until_the_quota_then_oldest_go_first() {
        let tmp = tempfile::tempdir().unwrap();
        let img = RgbImage::from_fn(200, 100, |x, y| {
            image::Rgb([(x % 256) as u8, (y * 2) as u8, 90])
        });
        let mut k = FrameKeeper::open(tmp.path(), "top", u64::MAX, 3600).unwrap();
        let id = k
            .keep("top", 1_000, &img, &[[10.0, 10.0, 60.0, 50.0]])
            .unwrap();
        assert_eq!(id, "top/1000");
        let files: Vec<_> = std::fs::read_dir(tmp.path().join("top/1000"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files.len(), 2, "{files:?}");
        let one = k.bytes();
        // A quota of about two frames: the third pushes the first out.
        let mut k = FrameKeeper::open(tmp.path(), "top", one * 2 + one / 2, 3600).unwrap();
        assert_eq!(k.frames(), 1, "picks up what was kept before");
        k.keep("top", 2_000, &img, &[[10.0, 10.0, 60.0, 50.0]])
            .unwrap();
        k.keep("top", 3_000, &img, &[[10.0, 10.0, 60.0, 50.0]])
            .unwrap();
        assert_eq!(k.frames(), 2);
        assert!(!tmp.path().join("top/1000").exists() && tmp.path().join("top/3000").exists());
    }

    #[test]
    fn frames_older_than_the_age_limit_go() {
        let tmp = tempfile::tempdir().unwrap();
        let img = RgbImage::new(32, 32);
        let mut k = FrameKeeper::open(tmp.path(), "c", u64::MAX, 10).unwrap();
        k.keep("c", 0, &img, &[]).unwrap();
        k.keep("c", 11_000_000_000, &img, &[]).unwrap();
        assert_eq!(k.frames(), 1);
        assert!(!tmp.path().join("c/0").exists());
    }
}
