//! "Why this reading", on request for one face: the model is run again on the gray
//! input it read, with each of the core's patches greyed ([`mien::occlusion`]), on the
//! engine in use; the drops of the top expression are drawn as a heatmap over the
//! input, with a legend.

use std::sync::Arc;

use futures::future::join_all;
use image::{GrayImage, Rgb, RgbImage};
use leptos::prelude::*;
use leptos::task::spawn_local;
use mien::emotions::Emotions;
use mien::occlusion::{fill_value, greyed, patches, OcclusionMap, PATCH, STRIDE};
use mien::preprocess::pixels_to_input;

use super::backend::{Backend, Inference};
use super::canvas::Picture;

/// Runs sent to the engine together: the worker queues them, and each one's time
/// limit starts when it is sent, so not all at once.
const IN_FLIGHT: usize = 8;

/// The occlusion map of `gray` for the expression at `label` (index in label order).
async fn occlusion(
    inference: &Inference,
    gray: &GrayImage,
    label: usize,
) -> Result<OcclusionMap, String> {
    let contract = inference.contract();
    let fraction = |logits: Vec<f32>| {
        Emotions::from_logits(&logits, contract)
            .shares
            .get(label)
            .map_or(0.0, |s| s.fraction)
    };
    let (base, _) = inference
        .logits(pixels_to_input(gray.as_raw(), contract))
        .await
        .map_err(|e| e.to_string())?;
    let base = fraction(base);
    let fill = fill_value(gray);
    let all = patches(gray.width(), gray.height(), PATCH, STRIDE);
    let mut occluded = Vec::with_capacity(all.len());
    for chunk in all.chunks(IN_FLIGHT) {
        let runs = chunk.iter().map(|&patch| {
            inference.logits(pixels_to_input(
                greyed(gray, patch, fill).as_raw(),
                contract,
            ))
        });
        for result in join_all(runs).await {
            occluded.push(fraction(result.map_err(|e| e.to_string())?.0));
        }
    }
    OcclusionMap::new(gray.width(), gray.height(), all, base, &occluded)
}

/// The input in gray, tinted red where greying lowered the expression and blue where
/// it raised it, in proportion to the map's largest change.
fn heat_picture(gray: &GrayImage, map: &OcclusionMap) -> RgbImage {
    let scale = map.scale();
    RgbImage::from_fn(gray.width(), gray.height(), |x, y| {
        let v = gray.get_pixel(x, y).0[0] as f32;
        let heat = map.pixels[(y * map.width + x) as usize] / scale;
        let (colour, amount) = if heat >= 0.0 {
            ([220.0, 30.0, 20.0], heat)
        } else {
            ([30.0, 80.0, 230.0], -heat)
        };
        let a = amount.clamp(0.0, 1.0) * 0.7;
        let mix = |c: f32| (v * (1.0 - a) + c * a).round() as u8;
        Rgb([mix(colour[0]), mix(colour[1]), mix(colour[2])])
    })
}

#[derive(Clone, Debug, PartialEq)]
enum State {
    Idle,
    Working,
    Done(Arc<OcclusionMap>),
    Failed(String),
}

/// The "Why this reading?" button and, once asked, the heatmap with its legend.
#[component]
pub fn WhyThisReading(
    backend: Backend,
    gray: Arc<GrayImage>,
    emotions: Emotions,
    number: usize,
) -> impl IntoView {
    let state = RwSignal::new(State::Idle);
    let label_index = emotions.top_index();
    let label = emotions
        .shares
        .get(label_index)
        .map_or_else(String::new, |s| s.label.clone());
    let runs = patches(gray.width(), gray.height(), PATCH, STRIDE).len() + 1;
    let ask = {
        let gray = gray.clone();
        move |_| {
            if state.get_untracked() == State::Working {
                return;
            }
            state.set(State::Working);
            let gray = gray.clone();
            spawn_local(async move {
                let result = match backend.ready().await {
                    Ok(inference) => occlusion(&inference, &gray, label_index).await,
                    Err(why) => Err(why),
                };
                state.set(match result {
                    Ok(map) => State::Done(Arc::new(map)),
                    Err(why) => {
                        State::Failed(format!("The explanation could not be computed: {why}"))
                    }
                });
            });
        }
    };
    let code = move || match state.get() {
        State::Idle => "idle",
        State::Working => "working",
        State::Done(_) => "done",
        State::Failed(_) => "error",
    };
    let hottest = move || match state.get() {
        State::Done(map) => map
            .hottest()
            .map(|(p, _)| format!("{},{},{}", p.x, p.y, p.side)),
        _ => None,
    };
    let drop = move || match state.get() {
        State::Done(map) => map.hottest().map(|(_, d)| d.to_string()),
        _ => None,
    };
    let body = {
        let label = label.clone();
        move || match state.get() {
            State::Idle => ().into_any(),
            State::Working => view! {
                <p class="working">
                    <span class="spinner" aria-hidden="true"></span>
                    {format!("Reading the face {runs} times, each time with one part greyed out…")}
                </p>
            }
            .into_any(),
            State::Failed(why) => view! { <p class="error">{why}</p> }.into_any(),
            State::Done(map) => {
                let picture = Arc::new(heat_picture(&gray, &map));
                let points = map.scale() * 100.0;
                let hot = map.hottest().map_or(0.0, |(_, d)| d * 100.0);
                view! {
                    <div class="why-map">
                        <Picture
                            image=picture
                            class="why-heat"
                            label=format!("Face {number}: where hiding the face changes \"{label}\" most, red where it lowers it")
                        />
                        <div class="why-legend">
                            <span class="why-scale" aria-hidden="true"></span>
                            <span class="why-ends">
                                <span>{format!("hiding it lowers {label} by {points:.0} points")}</span>
                                <span>"no change"</span>
                                <span>{format!("raises it by {points:.0}")}</span>
                            </span>
                        </div>
                    </div>
                    <p class="hint">
                        {format!(
                            "Each part of the face was greyed out in turn ({PATCH} × {PATCH} of the \
                             model's pixels). Red parts are where the model found \"{label}\": greying \
                             the reddest one lowers it by {hot:.0} points."
                        )}
                    </p>
                }
                .into_any()
            }
        }
    };
    view! {
        <div class="why" data-state=code data-label=label.clone() data-hottest=hottest data-drop=drop>
            <button type="button" class="why-button" on:click=ask prop:disabled=move || state.get() == State::Working>
                "Why this reading?"
            </button>
            {body}
        </div>
    }
}
