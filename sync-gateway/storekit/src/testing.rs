//! A small filesystem to run a store into a full disk: a size-limited tmpfs (mounting needs
//! root; elsewhere [`SmallDisk::mount`] says why and the test skips).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct SmallDisk {
    root: PathBuf,
    ballast: PathBuf,
    _dir: tempfile_free::Dir,
}

/// A directory removed on drop (no tempfile dependency outside tests).
mod tempfile_free {
    use std::path::PathBuf;

    pub struct Dir(pub PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl SmallDisk {
    /// Mounts a tmpfs of `mib` MiB; `Err` says why not (the caller prints it and skips).
    pub fn mount(mib: u32) -> Result<Self, String> {
        let base = std::env::temp_dir().join(format!(
            "foodflow-small-disk-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
        let dir = tempfile_free::Dir(base.clone());
        let root = base.join("mnt");
        std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&root)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cannot mount a small tmpfs here (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self {
            ballast: root.join("ballast"),
            root,
            _dir: dir,
        })
    }

    /// The mounted directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Fills the disk with a ballast file, then frees `leave` bytes of it again.
    pub fn fill(&self, leave: u64) {
        let mut f = std::fs::File::create(&self.ballast).expect("creating the ballast file");
        let chunk = vec![0u8; 64 << 10];
        while f.write_all(&chunk).is_ok() {}
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.set_len(len.saturating_sub(leave));
    }

    /// Space is back.
    pub fn free(&self) {
        let _ = std::fs::remove_file(&self.ballast);
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.root).status();
    }
}
