//! One photo's card: the picture with a numbered box on each face, and beside it
//! each face's reading; or what is happening; or why the file cannot be analysed.

use leptos::prelude::*;

use super::backend::Backend;
use super::batch::{Batch, Outcome, PhotoEntry, Reading};
use super::face::FaceResult;

#[component]
pub fn PhotoCard(entry: PhotoEntry, batch: Batch, backend: Backend) -> impl IntoView {
    let key = format!("photo-{}", entry.id);
    let title = format!("{key}-title");
    let heading_id = title.clone();
    let file_name = entry.name.clone();
    let file_attr = entry.name.clone();
    let outcome = entry.outcome.clone();
    let state = {
        let outcome = outcome.clone();
        move || match outcome.get() {
            Outcome::Waiting => "waiting",
            Outcome::Working(_) => "working",
            Outcome::Failed(_) => "error",
            Outcome::Done(r) if r.faces.faces.is_empty() => "no-face",
            Outcome::Done(_) => "done",
        }
    };
    let done = {
        let outcome = outcome.clone();
        move || match outcome.get() {
            Outcome::Done(reading) => Some(reading),
            _ => None,
        }
    };
    let faces = {
        let done = done.clone();
        move || done().map(|r| r.faces.faces.len().to_string())
    };
    let engine = {
        let done = done.clone();
        move || done().map(|r| r.engine.code())
    };
    let detect_ms = {
        let done = done.clone();
        move || done().map(|r| format!("{:.1}", r.faces.detect_ms))
    };
    let detect_model_ms = {
        let done = done.clone();
        move || done().map(|r| format!("{:.1}", r.faces.detect_model_ms))
    };

    let name = entry.name.clone();
    let url = entry.url.clone();
    let picture = {
        let done = done.clone();
        move || match done() {
            Some(reading) => picture(&reading, url.clone(), &name).into_any(),
            None => view! { <div class="picture-placeholder" aria-hidden="true"></div> }.into_any(),
        }
    };

    let card_key = key.clone();
    let body = move || match outcome.get() {
        Outcome::Waiting => view! { <p class="working">"Waiting its turn…"</p> }.into_any(),
        Outcome::Working(what) => view! {
            <p class="working">
                <span class="spinner" aria-hidden="true"></span>
                {what}
            </p>
        }
        .into_any(),
        Outcome::Failed(why) => view! { <p class="error">{why}</p> }.into_any(),
        Outcome::Done(reading) if reading.faces.faces.is_empty() => {
            let entry = entry.clone();
            view! {
                <p class="no-face">"No face found in this picture."</p>
                <p class="hint">
                    "Faces smaller than about a tenth of the picture, turned far away or partly "
                    "hidden can be missed. If the picture is already a close crop of one face, "
                    "mien can read all of it as that face."
                </p>
                <button type="button" class="whole" on:click=move |_| batch.read_whole(entry.clone(), backend)>
                    "Analyse the whole picture as one face"
                </button>
            }
            .into_any()
        }
        Outcome::Done(reading) => {
            let n = reading.faces.faces.len();
            let classify_ms: f64 = reading
                .faces
                .faces
                .iter()
                .map(|f| f.classify_ms)
                .sum::<f64>()
                / n.max(1) as f64;
            let timing = if reading.whole {
                format!("The whole picture was read as one face in {classify_ms:.0} ms.")
            } else {
                format!(
                    "{} found in {:.0} ms; each read in {classify_ms:.0} ms.",
                    if n == 1 {
                        "1 face".to_string()
                    } else {
                        format!("{n} faces")
                    },
                    reading.faces.detect_ms
                )
            };
            let faces = reading
                .faces
                .faces
                .iter()
                .enumerate()
                .map(|(i, face)| view! { <FaceResult key=card_key.clone() number=i + 1 reading=face.clone() backend=backend /> })
                .collect_view();
            view! {
                <ol class="faces">{faces}</ol>
                <p class="timing">{timing}</p>
            }
            .into_any()
        }
    };

    view! {
        <article
            class="photo"
            id=key
            data-file=file_attr
            data-state=state
            data-faces=faces
            data-engine=engine
            data-detect-ms=detect_ms
            data-detect-model-ms=detect_model_ms
            aria-labelledby=title
        >
            <h3 id=heading_id class="photo-name">{file_name}</h3>
            <div class="photo-body">
                {picture}
                <div class="photo-results">{body}</div>
            </div>
        </article>
    }
}

/// The person's picture with a numbered box on each face.
fn picture(reading: &Reading, url: Option<String>, name: &str) -> impl IntoView {
    let (w, h) = (reading.width as f32, reading.height as f32);
    let font = (w.max(h) / 28.0).max(8.0);
    let boxes = reading
        .faces
        .faces
        .iter()
        .enumerate()
        .map(|(i, face)| {
            let r = face.rect;
            let label_y = if r.y - font * 0.3 > font {
                r.y - font * 0.3
            } else {
                r.y + r.height + font
            };
            view! {
                <g class="face-box" class:unsure=face.emotions.is_unsure()>
                    <rect x=r.x y=r.y width=r.width.max(1.0) height=r.height.max(1.0)></rect>
                    <text x=r.x y=label_y font-size=font>{(i + 1).to_string()}</text>
                </g>
            }
        })
        .collect_view();
    let alt = match reading.faces.faces.len() {
        0 => format!("{name}: no face found"),
        1 => format!("{name}, with its face numbered 1"),
        n => format!("{name}, with its {n} faces numbered 1 to {n} from left to right"),
    };
    view! {
        <figure class="picture" style:aspect-ratio=format!("{w} / {h}")>
            <img src=url alt=alt />
            <svg
                class="boxes"
                viewBox=format!("0 0 {w} {h}")
                preserveAspectRatio="none"
                aria-hidden="true"
            >
                {boxes}
            </svg>
        </figure>
    }
}
