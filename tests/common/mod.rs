//! What several test files and `bench/assets.rs` share: reading FER2013 faces straight
//! from the tarball in `../shared/data` (or `$FER_TARBALL`; nothing derived from them
//! is written anywhere), and the list of faces photos are composed from
//! (`tests/fer-faces.txt`, which the browser tests read too).

// Each user takes a part.
#![allow(dead_code)]

use flate2::read::GzDecoder;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// The PNG and JPEG files below `dir`, sorted, folder by folder (an unpacked FER2013
/// or SFEW split, for the measurements over whole folders).
pub fn pictures(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for p in entries {
        if p.is_dir() {
            out.extend(pictures(&p));
        } else if p.extension().is_some_and(|e| {
            ["png", "jpg", "jpeg"].contains(&e.to_string_lossy().to_lowercase().as_str())
        }) {
            out.push(p);
        }
    }
    out
}

/// The FER2013 tarball: `$FER_TARBALL`, else `../shared/data/fer2013.tar.gz`.
pub fn fer_tarball() -> PathBuf {
    std::env::var_os("FER_TARBALL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../shared/data/fer2013.tar.gz"
            ))
        })
}

/// The faces of `tests/fer-faces.txt`, in its order.
pub fn face_list() -> Vec<&'static str> {
    include_str!("../fer-faces.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Walks the tarball in its order, handing `visit` each file's path (as
/// "train/angry/x.jpg") and a reader for its bytes, until `visit` breaks.
pub fn try_walk_fer(
    mut visit: impl FnMut(&str, &mut dyn Read) -> ControlFlow<()>,
) -> Result<(), String> {
    let path = fer_tarball();
    let file = std::fs::File::open(&path).map_err(|e| {
        format!("cannot open {} ({e}): the FER2013 tarball must sit in ../shared/data (or set FER_TARBALL)", path.display())
    })?;
    let mut archive = tar::Archive::new(GzDecoder::new(file));
    for entry in archive
        .entries()
        .map_err(|e| format!("{}: {e}", path.display()))?
    {
        let mut entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
        let name = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        if visit(name.trim_start_matches("./"), &mut entry).is_break() {
            break;
        }
    }
    Ok(())
}

/// [`try_walk_fer`] for tests: a missing or broken tarball panics with the reason.
pub fn walk_fer(visit: impl FnMut(&str, &mut dyn Read) -> ControlFlow<()>) {
    try_walk_fer(visit).unwrap_or_else(|e| panic!("{e}"))
}

/// The named files' bytes, in the order named (a name ending in `/`: the first `.jpg`
/// in that folder), reading the tarball only as far as needed.
pub fn fer_files(names: &[&str]) -> Result<Vec<Vec<u8>>, String> {
    let mut found: Vec<Option<Vec<u8>>> = vec![None; names.len()];
    let mut failed = None;
    try_walk_fer(|path, file| {
        let matches = |n: &&str| {
            if n.ends_with('/') {
                path.starts_with(*n) && path.ends_with(".jpg")
            } else {
                *n == path
            }
        };
        if let Some(i) = (0..names.len()).find(|&i| found[i].is_none() && matches(&names[i])) {
            let mut bytes = Vec::new();
            match file.read_to_end(&mut bytes) {
                Ok(_) => found[i] = Some(bytes),
                Err(e) => failed = Some(format!("{path}: {e}")),
            }
        }
        if failed.is_some() || found.iter().all(Option::is_some) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    found
        .into_iter()
        .zip(names)
        .map(|(f, name)| f.ok_or_else(|| format!("{name} is not in {}", fer_tarball().display())))
        .collect()
}

/// All of a file's bytes.
pub fn read_all(file: &mut dyn Read) -> Vec<u8> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .expect("read a file from the tarball");
    bytes
}

/// A deterministic pseudo-random generator (the same numbers on every machine, no
/// seeding crate needed), for composing test scenes and damaged files.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        self.next() as f32 / (1u64 << 31) as f32
    }

    /// Uniform in 0..n (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() as usize) % n.max(1)
    }
}
