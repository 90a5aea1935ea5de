//! The upload area: drop photos on it, choose them, or paste them anywhere on the page.
//! Several photos at once make a batch; a video goes to the video view.

use leptos::ev;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{File, HtmlInputElement};

use super::files::all_files;

#[component]
pub fn UploadArea(
    /// Called with the files given (possibly none).
    on_files: Callback<Vec<File>>,
    /// The expressions of the model in use (empty while it loads).
    labels: Signal<Vec<String>>,
) -> impl IntoView {
    let dragging = RwSignal::new(false);
    let take = move |files: Vec<File>| on_files.run(files);

    let paste = window_event_listener(ev::paste, move |e| {
        let files = all_files(e.clipboard_data().and_then(|d| d.files()));
        if !files.is_empty() {
            e.prevent_default();
            take(files);
        }
    });
    on_cleanup(move || paste.remove());

    view! {
        <section
            class="upload"
            id="upload"
            class:dragging=move || dragging.get()
            on:dragover=move |e| {
                e.prevent_default();
                dragging.set(true);
            }
            on:dragleave=move |_| dragging.set(false)
            on:drop=move |e| {
                e.prevent_default();
                dragging.set(false);
                take(all_files(e.data_transfer().and_then(|d| d.files())));
            }
        >
            <input
                id="photo-input"
                class="visually-hidden"
                type="file"
                accept="image/*,video/*"
                multiple
                on:change=move |e| {
                    let input = e.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok());
                    if let Some(input) = input {
                        take(all_files(input.files()));
                        // Choosing the same file again should analyse it again.
                        input.set_value("");
                    }
                }
            />
            <label for="photo-input" class="upload-label">
                <span class="upload-title">"Drop photos or a video here, choose them, or paste one"</span>
                <span class="upload-button" aria-hidden="true">"Choose photos or a video"</span>
                <span class="upload-detail">
                    {move || expressions_sentence(&labels.get())}
                    " All of it happens on this device."
                </span>
            </label>
        </section>
    }
}

/// "mien finds the faces in each photo and measures seven expressions for each: angry,
/// ..., sad and surprise." for the labels of the model in use.
fn expressions_sentence(labels: &[String]) -> String {
    match labels {
        [] => "mien finds the faces in each photo and measures the expressions of each.".into(),
        [only] => format!("mien finds the faces in each photo and measures {only} in each."),
        [rest @ .., last] => format!(
            "mien finds the faces in each photo and measures {} expressions for each: {} and {last}.",
            super::about::count_words(labels.len()),
            rest.join(", ")
        ),
    }
}
