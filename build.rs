//! With the `train` feature, keep libtorch's CUDA library linked even though no
//! symbol of it is referenced directly: otherwise the linker drops it and the trainer
//! never sees a GPU (see ../shared/docs/stack.md).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let train = std::env::var_os("CARGO_FEATURE_TRAIN").is_some();
    let native = std::env::var("CARGO_CFG_TARGET_ARCH")
        .map(|a| a != "wasm32")
        .unwrap_or(true);
    if train && native {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
    }
}
