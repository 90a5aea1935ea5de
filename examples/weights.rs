//! Stores an exported classifier's weights as float16 or int8 (src/weights/), the way
//! `mien-train export --store-weights` does, for a file exported before:
//!
//!   cargo run --release --example weights -- float16|int8 IN.onnx [OUT.onnx]
//!
//! OUT defaults to IN. A file already stored compactly is expanded to float32 first.
//! The file's self-test logits become what the stored file computes; its stated val
//! accuracy is kept: check it with `mien-train eval --model OUT.onnx --data data/val`
//! (or `cargo test --release --test shipped_model` for the shipped file).

use mien::onnx::ModelProto;
use mien::weights::{expand, store_classifier, Precision};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("weights: {e}");
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let [precision, input, rest @ ..] = args else {
        return Err("usage: weights float16|int8|float32 IN.onnx [OUT.onnx]".into());
    };
    let precision: Precision = precision.parse()?;
    let output = rest.first().unwrap_or(input);
    let bytes = std::fs::read(input).map_err(|e| format!("{input}: {e}"))?;
    let mut model = ModelProto::decode_bytes(&bytes).map_err(|e| format!("{input}: {e}"))?;
    let expanded = expand(&mut model).map_err(|e| format!("{input}: {e}"))?;
    let (stored, moved) =
        store_classifier(&mut model, precision).map_err(|e| format!("{input}: {e}"))?;
    let out = model.to_bytes();
    std::fs::write(output, &out).map_err(|e| format!("{output}: {e}"))?;
    println!(
        "{output}: {expanded} compact tensors expanded, then {} tensors ({} values) stored as {precision:?}, {:.2} MB -> {:.2} MB; self-test logits moved by {moved:.2e}",
        stored.tensors,
        stored.values,
        bytes.len() as f64 / 1e6,
        out.len() as f64 / 1e6
    );
    Ok(())
}
