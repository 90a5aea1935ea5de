//! The upload area: drop a photo on it, choose one, or paste one anywhere on the page.

use leptos::ev;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::{File, HtmlInputElement};

use super::files::{self, Photo};

#[component]
pub fn UploadArea(
    /// Called with the file's name when reading starts.
    on_reading: Callback<String>,
    /// Called with the photo's bytes, or a sentence saying why it could not be read.
    on_photo: Callback<Result<Photo, String>>,
) -> impl IntoView {
    let dragging = RwSignal::new(false);

    let take = move |file: Option<File>| match file {
        None => on_photo.run(Err(
            "No file arrived; drop, choose or paste a photo.".to_string()
        )),
        Some(file) => {
            on_reading.run(file.name());
            spawn_local(async move { on_photo.run(files::read(file).await) });
        }
    };

    let paste = window_event_listener(ev::paste, move |e| {
        if let Some(file) = files::first_file(e.clipboard_data().and_then(|d| d.files())) {
            e.prevent_default();
            take(Some(file));
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
                take(files::first_file(e.data_transfer().and_then(|d| d.files())));
            }
        >
            <input
                id="photo-input"
                class="visually-hidden"
                type="file"
                accept="image/*"
                on:change=move |e| {
                    let input = e.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok());
                    if let Some(input) = input {
                        take(files::first_file(input.files()));
                        // Choosing the same file again should analyse it again.
                        input.set_value("");
                    }
                }
            />
            <label for="photo-input" class="upload-label">
                <span class="upload-title">"Drop a photo here, choose one, or paste it"</span>
                <span class="upload-detail">
                    "mien finds the faces in it and measures seven expressions for each: "
                    "angry, disgust, fear, happy, neutral, sad and surprise. "
                    "All of it happens on this device."
                </span>
            </label>
        </section>
    }
}
