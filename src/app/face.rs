//! One face's reading: its number, its crop, the top expression (or "unsure"), and all
//! the model's expressions (its labels) as percentages with bars, largest first; a note when the face is
//! smaller than the model's input; and, on request, the gray input the model read.
//!
//! The exact fractions are also in `data-fractions` (label order, as the model gives
//! them), so the browser tests can compare engines number for number.

use std::sync::Arc;

use image::{DynamicImage, GrayImage, RgbImage};
use leptos::prelude::*;
use mien::emotions::Emotions;

use super::backend::Backend;
use super::canvas::Picture;
use super::pipeline::FaceReading;
use super::why::WhyThisReading;

#[component]
pub fn FaceResult(
    /// Unique in the page, for element ids.
    key: String,
    number: usize,
    reading: FaceReading,
    backend: Backend,
) -> impl IntoView {
    let emotions = reading.emotions;
    let fractions = emotions
        .shares
        .iter()
        .map(|s| s.fraction.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let labels = emotions
        .shares
        .iter()
        .map(|s| s.label.clone())
        .collect::<Vec<_>>()
        .join(",");
    let r = reading.rect;
    let rect = format!("{},{},{},{}", r.x, r.y, r.width, r.height);
    let unsure = emotions.is_unsure();
    let top = emotions.top();
    let title_id = format!("{key}-face-{number}");
    let heading_id = title_id.clone();
    let small_note = reading.small.then(|| {
        let (w, h) = reading.crop_size;
        let (iw, ih) = reading.input.as_ref().map_or((0, 0), |g| g.dimensions());
        view! {
            <p class="small-face">
                {format!(
                    "This face is only {w} × {h} pixels, smaller than the model's {iw} × {ih} input: it \
                     was enlarged to be read, so this reading is less reliable."
                )}
            </p>
        }
    });
    let input_view = reading.input.map(Arc::new).map(|gray| {
        view! {
            <ModelInput gray=gray.clone() number=number />
            <WhyThisReading backend=backend gray=gray emotions=emotions.clone() number=number />
        }
    });
    view! {
        <li
            class="face"
            data-face=number
            data-labels=labels
            data-fractions=fractions
            data-top=top.label.clone()
            data-unsure=unsure.to_string()
            data-box=rect
            data-small=reading.small.to_string()
            data-classify-ms=format!("{:.1}", reading.classify_ms)
            data-classify-model-ms=format!("{:.1}", reading.classify_model_ms)
            aria-labelledby=title_id.clone()
        >
            <div class="face-head">
                {reading.thumbnail.map(|image| view! { <Thumbnail image=image number=number /> })}
                <div>
                    <h4 id=heading_id>{format!("Face {number}")}</h4>
                    <p class="reading">{headline(&emotions)}</p>
                </div>
            </div>
            {small_note}
            <Shares emotions=emotions number=number />
            {input_view}
        </li>
    }
}

/// "happy, 82%" in words, or "unsure" when nothing dominates.
fn headline(emotions: &Emotions) -> AnyView {
    let sorted = emotions.sorted();
    let pct = |i: usize| sorted.get(i).map_or(0.0, |s| s.fraction * 100.0);
    let label = |i: usize| sorted.get(i).map_or(String::new(), |s| s.label.clone());
    if emotions.is_unsure() {
        view! {
            <strong class="top unsure">"Unsure"</strong>
            {format!(": no expression clearly dominates ({} {:.0}%, {} {:.0}%).", label(0), pct(0), label(1), pct(1))}
        }
        .into_any()
    } else {
        view! {
            <strong class="top">{label(0)}</strong>
            {format!(" ({:.0}%)", pct(0))}
        }
        .into_any()
    }
}

/// All expressions, largest first, each with a bar.
#[component]
fn Shares(emotions: Emotions, number: usize) -> impl IntoView {
    let rows = emotions
        .sorted()
        .into_iter()
        .enumerate()
        .map(|(i, share)| {
            let pct = share.fraction * 100.0;
            let label = share.label.clone();
            view! {
                <li class="share" class:first=i == 0 data-label=label>
                    <span class="share-label">{share.label}</span>
                    <span class="share-bar" aria-hidden="true">
                        <span class="share-fill" style:width=format!("{:.2}%", pct.clamp(0.0, 100.0))></span>
                    </span>
                    <span class="share-value">{format!("{pct:.1}%")}</span>
                </li>
            }
        })
        .collect_view();
    view! {
        <ol class="shares" aria-label=format!("Face {number}: all expressions, largest first")>
            {rows}
        </ol>
    }
}

/// The crop the classifier read, drawn on a small canvas.
#[component]
fn Thumbnail(image: Arc<RgbImage>, number: usize) -> impl IntoView {
    view! { <Picture image=image class="thumbnail" label=format!("Face {number}, upright, as the model read it") /> }
}

/// On request: the gray pixels the model actually read (its input size, before
/// normalisation), shown enlarged without smoothing.
#[component]
fn ModelInput(gray: Arc<GrayImage>, number: usize) -> impl IntoView {
    let (w, h) = gray.dimensions();
    let image = Arc::new(DynamicImage::ImageLuma8((*gray).clone()).to_rgb8());
    view! {
        <details class="model-input">
            <summary>"What the model saw"</summary>
            <Picture image=image class="model-input-pixels" label=format!("Face {number}: the {w} × {h} gray pixels the model read") />
            <p class="hint">{format!("The {w} × {h} gray picture the model read, enlarged.")}</p>
        </details>
    }
}
