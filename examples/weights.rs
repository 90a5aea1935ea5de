//! Stores an exported classifier's weights as float16 (src/float16.rs), the way
//! `mien-train export` does by default, for a file exported before that:
//!
//!   cargo run --release --example float16 -- IN.onnx [OUT.onnx]   (OUT defaults to IN)
//!
//! The file's self-test logits become what the float16 file computes; its stated val
//! accuracy is kept: check it with `mien-train eval --model OUT.onnx --data data/val`
//! (or `cargo test --release --test shipped_model` for the shipped file).

use mien::float16::store_float16_classifier;
use mien::onnx::ModelProto;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("float16: {e}");
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let [input, rest @ ..] = args else {
        return Err("usage: float16 IN.onnx [OUT.onnx]".into());
    };
    let output = rest.first().unwrap_or(input);
    let bytes = std::fs::read(input).map_err(|e| format!("{input}: {e}"))?;
    let mut model = ModelProto::decode_bytes(&bytes).map_err(|e| format!("{input}: {e}"))?;
    let (stored, moved) =
        store_float16_classifier(&mut model).map_err(|e| format!("{input}: {e}"))?;
    let out = model.to_bytes();
    std::fs::write(output, &out).map_err(|e| format!("{output}: {e}"))?;
    println!(
        "{output}: {} tensors ({} values) stored as float16, {:.2} MB -> {:.2} MB; self-test logits moved by {moved:.2e}",
        stored.tensors,
        stored.values,
        bytes.len() as f64 / 1e6,
        out.len() as f64 / 1e6
    );
    Ok(())
}
