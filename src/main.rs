//! mien's web app. trunk builds this binary for wasm32 (see `index.html`); the
//! app itself lives in `src/app/`.

#[cfg(target_arch = "wasm32")]
mod app;

#[cfg(target_arch = "wasm32")]
fn main() {
    app::crash::install();
    leptos::mount::mount_to_body(app::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    println!(
        "mien runs in the browser: start it with `make serve`, then open http://127.0.0.1:8080"
    );
}
