//! The app shell: a title, the upload area, what is happening, and the promise
//! that photos stay on this device. One component or job per file.

mod backend;
mod files;
mod footer;
mod photo;
mod status;
mod upload;
mod worker;

use leptos::prelude::*;

use backend::BackendLine;
use footer::PrivacyFooter;
use status::{Status, StatusLine};
use upload::UploadArea;
use worker::{BackendState, CpuWorker};

#[component]
pub fn App() -> impl IntoView {
    let status = RwSignal::new(Status::info("Waiting for a photo."));
    let backend = RwSignal::new(BackendState::Starting);

    // The worker lives as long as the page (the store belongs to the app's owner);
    // later requests go through it.
    let _cpu = StoredValue::new_local(match CpuWorker::start(backend) {
        Ok(worker) => Some(worker),
        Err(message) => {
            backend.set(BackendState::Failed(message));
            None
        }
    });

    let on_reading =
        Callback::new(move |name: String| status.set(Status::busy(format!("Reading {name}…"))));
    let on_photo = Callback::new(move |read: Result<files::Photo, String>| {
        status.set(match read {
            Ok(photo) => photo::describe(&photo),
            Err(message) => Status::error(message),
        });
    });

    view! {
        <main class="app">
            <header class="masthead">
                <h1>"mien"</h1>
                <p class="tagline">"Which expressions does a face show? Seven of them, measured in your browser."</p>
            </header>
            <UploadArea on_reading=on_reading on_photo=on_photo />
            <StatusLine status=status />
            <BackendLine state=backend />
        </main>
        <PrivacyFooter />
    }
}
