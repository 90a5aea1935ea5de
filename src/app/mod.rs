//! The app: photos (one or a batch) or the webcam in, each face's expressions out,
//! all computed in this page. One component or job per file:
//!
//! - `worker`: talking to an inference worker (`docs/worker-protocol.md`);
//! - `models`: fetching the model files; `backend`: which engine runs them (GPU with a
//!   self-test, else CPU), behind [`backend::Inference`]; `engine_bar`: showing and
//!   switching it;
//! - `pipeline`: a picture's faces and expressions (the shared core's steps);
//! - `files`, `upload`: files in; `batch`: analysing them; `results`, `face`: one
//!   photo's card and one face's reading; `table`: a batch's table and CSV;
//! - `canvas`: pixels to and from `<canvas>`; `webcam`: live mode; `video`: a video
//!   file read frame by frame, each face followed and charted over time;
//! - `crash`: what a panic shows (a sentence and a reload button);
//! - `about`: the model's description; `own_model`: "Use another model" (a classifier
//!   file the person chooses); `status`, `footer`: what happens, and the privacy promise.
//!
//! Everything that shows or saves expressions follows the labels of the classifier in
//! use (its contract), not a fixed list.

mod about;
mod backend;
mod batch;
mod canvas;
pub mod crash;
mod engine_bar;
mod face;
mod files;
mod footer;
mod models;
mod own_model;
mod pipeline;
mod results;
mod status;
mod table;
mod upload;
mod video;
mod webcam;
mod why;
mod worker;

use leptos::prelude::*;
use web_sys::File;

use about::{count_words, About};
use backend::Backend;
use batch::Batch;
use engine_bar::EngineBar;
use footer::PrivacyFooter;
use results::PhotoCard;
use status::{Status, StatusLine};
use table::BatchTable;
use upload::UploadArea;
use video::{VideoJob, VideoView};
use webcam::Webcam;

/// The four views.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum View {
    Photos,
    Video,
    Webcam,
    About,
}

impl View {
    const ALL: [View; 4] = [View::Photos, View::Video, View::Webcam, View::About];

    fn code(self) -> &'static str {
        match self {
            View::Photos => "photos",
            View::Video => "video",
            View::Webcam => "webcam",
            View::About => "about",
        }
    }

    fn title(self) -> &'static str {
        match self {
            View::Photos => "Photos",
            View::Video => "Video",
            View::Webcam => "Webcam",
            View::About => "About this model",
        }
    }
}

#[component]
pub fn App() -> impl IntoView {
    let status = RwSignal::new(Status::info("Waiting for a photo."));
    let backend = Backend::new();
    let batch = Batch::new(status);
    let video = VideoJob::new();
    let view_shown = RwSignal::new(View::Photos);
    backend.boot();

    // A video goes to the video view (one at a time); photos make a batch.
    let on_files = Callback::new(move |files: Vec<File>| {
        let (videos, photos): (Vec<File>, Vec<File>) = files
            .into_iter()
            .partition(|f| mien::timeline::is_video_file(&f.name(), &f.type_()));
        let mut videos = videos.into_iter();
        if let Some(first) = videos.next() {
            let left: Vec<String> = videos.chain(photos).map(|f| f.name()).collect();
            let note = (!left.is_empty()).then(|| {
                format!(
                    "A video is read on its own: {} {} not read.",
                    left.join(", "),
                    if left.len() == 1 { "was" } else { "were" }
                )
            });
            view_shown.set(View::Video);
            video.start(first, backend, note);
            return;
        }
        view_shown.set(View::Photos);
        batch.start(photos, backend);
    });
    let labels =
        Signal::derive(move || backend.contract.get().map(|c| c.labels).unwrap_or_default());
    // Another classifier took over: the readings shown came from the previous one, with
    // its labels, so they go (the table and the CSV must match the labels shown).
    Effect::new(move |previous: Option<u32>| {
        let serial = backend.model_serial.get();
        if previous.is_some_and(|p| p != serial) {
            batch.clear();
            video.clear();
        }
        serial
    });
    let tagline = move || {
        let n = labels.with(|l| l.len());
        if n == 0 {
            "Which expressions does a face show? Measured in your browser.".to_string()
        } else {
            let mut count = count_words(n);
            if let Some(first) = count.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            format!(
                "Which expressions does a face show? {count} of them, measured in your browser."
            )
        }
    };

    let tabs = View::ALL
        .into_iter()
        .map(|v| {
            view! {
                <button
                    type="button"
                    class="tab"
                    id=format!("tab-{}", v.code())
                    aria-controls=format!("view-{}", v.code())
                    aria-pressed=move || (view_shown.get() == v).to_string()
                    on:click=move |_| view_shown.set(v)
                >
                    {v.title()}
                </button>
            }
        })
        .collect_view();

    let hidden = move |v: View| move || view_shown.get() != v;
    let progress = move || batch.progress.get();

    view! {
        <main class="app">
            <header class="masthead">
                <h1>"mien"</h1>
                <p class="tagline">{tagline}</p>
            </header>
            <nav class="tabs" aria-label="Views">{tabs}</nav>
            <EngineBar backend=backend />

            <section id="view-photos" class="view" aria-labelledby="tab-photos" hidden=hidden(View::Photos)>
                <UploadArea on_files=on_files labels=labels />
                <div class="progress-slot">
                    <StatusLine status=status />
                    <progress
                        id="batch-progress"
                        class:idle=move || progress().is_none()
                        max=move || progress().map_or(1, |(_, total)| total)
                        value=move || progress().map_or(0, |(done, _)| done)
                        aria-label="Photos analysed"
                    ></progress>
                </div>
                <BatchTable batch=batch labels=labels />
                <div class="photos" id="photos">
                    <For
                        each=move || batch.entries.get()
                        key=|entry| entry.id
                        children=move |entry| view! { <PhotoCard entry=entry batch=batch backend=backend /> }
                    />
                </div>
            </section>

            <section id="view-video" class="view" aria-labelledby="tab-video" hidden=hidden(View::Video)>
                <VideoView job=video backend=backend />
            </section>

            <section id="view-webcam" class="view" aria-labelledby="tab-webcam" hidden=hidden(View::Webcam)>
                <Webcam backend=backend active=Signal::derive(move || view_shown.get() == View::Webcam) />
            </section>

            <section id="view-about" class="view" aria-labelledby="tab-about" hidden=hidden(View::About)>
                <About backend=backend visible=Signal::derive(move || view_shown.get() == View::About) />
            </section>
        </main>
        <PrivacyFooter />
    }
}
