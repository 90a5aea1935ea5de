//! "Use another model": the person chooses a classifier file (`.onnx`, as exported by
//! `mien-train export`); the shared core reads its contract from its metadata and
//! checks it, the engine in use starts it and runs its self-test, and only then does
//! it replace the model everywhere ([`Backend::use_file`]). A file that cannot be used
//! gets a sentence, and the model in use goes on. The file never leaves the page.

use js_sys::Uint8Array;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{File, HtmlInputElement};

use super::backend::{Backend, ModelChange};
use super::files::{all_files, js_error_text};

/// Largest classifier file accepted (a ResNet-50 in float32 is ~100 MB).
const MAX_MODEL_BYTES: f64 = 256.0 * 1_048_576.0;

async fn read_model(file: &File) -> Result<Vec<u8>, String> {
    if file.size() > MAX_MODEL_BYTES {
        return Err(format!(
            "{}: the file is too large ({:.0} MB); model files up to {:.0} MB can be used.",
            file.name(),
            file.size() / 1_048_576.0,
            MAX_MODEL_BYTES / 1_048_576.0
        ));
    }
    let buffer = JsFuture::from(file.array_buffer()).await.map_err(|e| {
        format!(
            "{}: the file could not be read ({}).",
            file.name(),
            js_error_text(&e)
        )
    })?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

#[component]
pub fn OwnModel(backend: Backend) -> impl IntoView {
    let change = backend.model_change;
    let loading = move || matches!(change.get(), ModelChange::Loading(_));
    let state = move || match change.get() {
        ModelChange::Loading(_) => "loading",
        ModelChange::Refused(_) => "refused",
        ModelChange::Idle if backend.chosen_model.get().is_some() => "chosen",
        ModelChange::Idle => "built-in",
    };
    let in_use = move || {
        let contract = backend.contract.get()?;
        let from = match backend.chosen_model.get() {
            Some(file) => format!("your file {file}"),
            None => "the model that comes with mien".to_string(),
        };
        Some(format!(
            "In use: {} {}, from {from}: {} expressions, {} × {} pixels in.",
            contract.model_name,
            contract.model_version,
            contract.labels.len(),
            contract.width,
            contract.height
        ))
    };
    let take = move |input: HtmlInputElement| {
        let Some(file) = all_files(input.files()).into_iter().next() else {
            return;
        };
        // Choosing the same file again should try it again.
        input.set_value("");
        change.set(ModelChange::Loading(file.name()));
        spawn_local(async move {
            match read_model(&file).await {
                Ok(bytes) => {
                    change.set(ModelChange::Idle);
                    backend.use_file(file.name(), bytes);
                }
                Err(why) => change.set(ModelChange::Refused(why)),
            }
        });
    };
    view! {
        <section class="own-model" id="own-model" data-state=state aria-labelledby="own-model-title">
            <h3 id="own-model-title">"Use another model"</h3>
            <p class="hint">
                "mien can read faces with another expression classifier: an "<code>".onnx"</code>
                " file exported by "<code>"mien-train export"</code>", with its own expressions "
                "and input size. Its description is read from the file itself; it is checked, "
                "started and self-tested before it replaces the model in use. The file stays on "
                "this device."
            </p>
            <p class="model-in-use" id="model-in-use">{in_use}</p>
            <div class="own-model-controls">
                <input
                    type="file"
                    id="model-input"
                    class="visually-hidden"
                    accept=".onnx"
                    prop:disabled=loading
                    on:change=move |e| {
                        if let Some(input) = e.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok()) {
                            take(input);
                        }
                    }
                />
                <label for="model-input" class="button" class:disabled=loading>
                    "Choose a model file…"
                </label>
                <button
                    type="button"
                    id="model-builtin"
                    hidden=move || backend.chosen_model.get().is_none()
                    prop:disabled=loading
                    on:click=move |_| backend.use_builtin()
                >
                    "Back to the built-in model"
                </button>
            </div>
            <p class="working" id="model-loading" role="status" hidden=move || !loading()>
                <span class="spinner" aria-hidden="true"></span>
                {move || match change.get() {
                    ModelChange::Loading(name) => format!("Checking {name}, then starting it and running its self-test…"),
                    _ => String::new(),
                }}
            </p>
            <p class="error" id="model-problem" role="alert" hidden=move || !matches!(change.get(), ModelChange::Refused(_))>
                {move || match change.get() {
                    ModelChange::Refused(why) => why,
                    _ => String::new(),
                }}
            </p>
        </section>
    }
}
