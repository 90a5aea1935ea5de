//! Writes a tiny classifier with random weights and mien's contract in its metadata,
//! the way `mien-train export` writes a trained one (self-test logits included), for
//! any labels and input size, without libtorch. The browser test loads one through
//! "Use another model"; its readings mean nothing.
//!
//!   cargo run --example tiny-model -- OUT.onnx [--labels a,b,c] [--size 40] [--channels 1] [--seed 7]
//!
//! The labels default to FER+'s eight classes (contempt included), the size to 40.

use mien::contract::ModelContract;
use mien::example_model::random_classifier_with_self_test;

const FERPLUS: &str = "anger,contempt,disgust,fear,happiness,neutral,sadness,surprise";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("tiny-model: {e}");
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let usage =
        "usage: tiny-model OUT.onnx [--labels a,b,c] [--size N] [--channels 1|3] [--seed N]";
    let [out, rest @ ..] = args else {
        return Err(usage.into());
    };
    let (mut labels, mut size, mut channels, mut seed) = (FERPLUS.to_string(), 40u32, 1u32, 7u64);
    let mut rest = rest.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or(usage)?;
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--labels" => labels = value.clone(),
            "--size" => size = number(value)? as u32,
            "--channels" => channels = number(value)? as u32,
            "--seed" => seed = number(value)?,
            _ => return Err(usage.into()),
        }
    }
    let mut contract = ModelContract::new(channels, size, size);
    contract.labels = labels.split(',').map(|l| l.trim().to_string()).collect();
    contract.model_name = "tiny-test".into();
    contract.model_version = "1".into();
    contract.trained_on = "nothing: random weights, for tests".into();
    let bytes = random_classifier_with_self_test(&contract, seed)?.to_bytes();
    // The file must pass the checks the app makes on a chosen model.
    ModelContract::from_model_file(&bytes).map_err(|e| e.to_string())?;
    std::fs::write(out, &bytes).map_err(|e| format!("{out}: {e}"))?;
    println!(
        "{out}: {} labels, {size} x {size} input, {} bytes",
        contract.labels.len(),
        bytes.len()
    );
    Ok(())
}
