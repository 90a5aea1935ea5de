//! "About this model": what the classifier file says about itself (its contract
//! metadata), its confusion matrix when the site ships one, what the numbers do and
//! do not mean, and "Use another model".

use leptos::prelude::*;
use mien::contract::ModelContract;
use mien::emotions::{UNSURE_MARGIN, UNSURE_TOP};

use super::backend::Backend;
use super::own_model::OwnModel;

/// Optional image of the validation confusion matrix, shipped beside the model.
const CONFUSION_URL: &str = "models/mien-confusion.png";

#[component]
pub fn About(backend: Backend, visible: Signal<bool>) -> impl IntoView {
    let contract = backend.contract;
    let chosen = move || backend.chosen_model.get().is_some();
    // Set when the image is not on the site; it is only asked for once the view opens.
    let no_confusion = RwSignal::new(false);
    let count = move || {
        contract
            .get()
            .map_or_else(|| "listed".to_string(), |c| count_words(c.labels.len()))
    };
    let facts = move || match contract.get() {
        None => view! { <p class="working">"Loading the model's description…"</p> }.into_any(),
        Some(c) => facts(&c).into_any(),
    };
    let confusion = move || {
        if chosen() {
            view! { <p class="hint">"The confusion matrix shown here is the built-in model's; the model in use now comes without one."</p> }
                .into_any()
        } else if no_confusion.get() {
            view! { <p class="hint">"This version of the model comes without a confusion matrix image."</p> }
                .into_any()
        } else if visible.get() {
            view! {
                <figure class="confusion">
                    <img
                        src=CONFUSION_URL
                        alt="Confusion matrix on the validation faces: for each true expression (rows), \
                             the share of faces read as each expression (columns)."
                        on:error=move |_| no_confusion.set(true)
                    />
                    <figcaption>
                        "Confusion matrix on the validation faces: each row is the expression a face was "
                        "labelled with, each column what the model read. A strong diagonal is good; the "
                        "cells off it show which expressions get mixed up."
                    </figcaption>
                </figure>
            }
            .into_any()
        } else {
            ().into_any()
        }
    };
    view! {
        <div class="about">
            <h2>"About this model"</h2>
            {facts}
            {confusion}
            <OwnModel backend=backend />
            <h3>"What the numbers mean, and what they do not"</h3>
            <ul class="caveats">
                <li>
                    "The percentages say how much a face's "<em>"expression"</em>" looks like each of "
                    "the "{count}" in the pictures the model learnt from. They add up to 100%. When no "
                    "expression reaches "{format!("{:.0}%", UNSURE_TOP * 100.0)}", or the first leads "
                    "the second by less than "{format!("{:.0}", UNSURE_MARGIN * 100.0)}" points, mien "
                    "says it is unsure."
                </li>
                <li>
                    "An expression is not a feeling. People smile when they are uneasy and look "
                    "neutral when they are happy; a face is also read differently across cultures. "
                    "mien measures the face in one picture, not what the person feels or thinks."
                </li>
                <li>
                    "It is not a lie detector, and must not be used to judge anyone: not in hiring, "
                    "schools, policing, insurance or any decision about a person."
                </li>
                <li>
                    "Accuracy is measured on held-out FER2013 faces: the share of faces whose top "
                    "expression matches the label. Macro-F1 averages the score of each expression, so "
                    "rare ones (disgust) count as much as common ones (happy). Your photos differ from "
                    "those faces (light, angle, resolution, glasses, age), so expect less."
                </li>
                <li hidden=move || !chosen() id="about-chosen-note">
                    "The model in use now is the file you chose: its name, labels, input and what "
                    "it was trained on are what that file says. The notes on FER2013 below are about "
                    "mien's built-in model."
                </li>
                <li>
                    "FER2013 has known biases. Its ~35,000 small grayscale faces were found by web "
                    "image search in 2013 and each labelled by one person; many labels are debatable "
                    "(people agree with them only about two times in three), many expressions are "
                    "posed or exaggerated, disgust is rare, and the people shown were never balanced "
                    "by age, skin tone, gender or culture. The model can be wrong more often for "
                    "some groups of people than for others."
                </li>
                <li id="about-data">
                    "mien's built-in model (version 6) learned from FER2013, film faces (SFEW, and "
                    "IMFDB's Indian films) and web photos of people of many populations (ExpW): "
                    "research-use data sets, each under its own terms (the model card lists them). "
                    "Read the way this page reads photos, it names the labelled expression for 41% "
                    "of ExpW web photos it never saw (seven expressions equally often: chance is "
                    "14%), 47% of film faces and 69% of FER2013's; disgust and fear are its "
                    "weakest. docs/model-card.md in mien's repository has every number, per "
                    "expression."
                </li>
                <li>
                    "Faces are found by MediaPipe BlazeFace (Apache-2.0). Everything runs in this "
                    "page; no picture, face or result is sent anywhere."
                </li>
            </ul>
            <h3>"Good to know"</h3>
            <ul class="features" id="about-features">
                <li>
                    "mien works offline after the first visit: a service worker keeps the app, its "
                    "workers and the models on this device, and replaces them when a newer version "
                    "is fetched (the browser can also install mien as an app)."
                </li>
                <li>
                    "Under each face, \"What the model saw\" shows the small gray picture the model "
                    "actually read; a face smaller than that picture is marked as less reliable."
                </li>
                <li>
                    "Another expression model can be used (\"Use another model\" above): one exported "
                    "by mien-train, with its own expressions and input size; the bars, the table and "
                    "the CSV follow its labels."
                </li>
                <li id="about-video">
                    "A video file (MP4 or WebM, whatever this browser can play) dropped or chosen is "
                    "read 2 to 10 frames per second: each face is followed from frame to frame with "
                    "its own number and gets a timeline of its expressions, the share of time each "
                    "was on top and a CSV. Reading costs about as much per frame as a photo, so a "
                    "long video takes a while (at most "{mien::timeline::MAX_FRAMES.to_string()}" frames "
                    "are read); a video the browser cannot play cannot be read."
                </li>
                <li>
                    "In webcam mode the readings are smoothed over the last few frames so they do "
                    "not flicker; the switch beside the camera turns that off."
                </li>
            </ul>
        </div>
    }
}

fn facts(c: &ModelContract) -> impl IntoView {
    let percent =
        |v: Option<f32>| v.map_or("not recorded".to_string(), |v| format!("{:.1}%", v * 100.0));
    let f1 = c
        .val_macro_f1
        .map_or("not recorded".to_string(), |v| format!("{v:.3}"));
    let channels = if c.channels == 1 {
        "grayscale"
    } else {
        "grayscale, repeated in 3 channels"
    };
    let trained_on = if c.trained_on.is_empty() {
        "not recorded".to_string()
    } else {
        c.trained_on.clone()
    };
    let views = if c.mirror_averaged {
        "the face and its mirror image, averaged (inside the model file)"
    } else {
        "the face as it is"
    };
    view! {
        <dl class="facts" id="model-facts">
            <dt>"Name"</dt>
            <dd data-fact="name">{c.model_name.clone()}</dd>
            <dt>"Version"</dt>
            <dd data-fact="version">{c.model_version.clone()}</dd>
            <dt>"Trained on"</dt>
            <dd data-fact="trained-on">{trained_on}</dd>
            <dt>"Validation accuracy"</dt>
            <dd data-fact="accuracy">{percent(c.val_accuracy)}</dd>
            <dt>"Validation macro-F1"</dt>
            <dd data-fact="macro-f1">{f1}</dd>
            <dt>"Expressions"</dt>
            <dd data-fact="labels">{c.labels.join(", ")}</dd>
            <dt>"Input"</dt>
            <dd data-fact="input">{format!("{} × {} pixels, {channels}", c.width, c.height)}</dd>
            <dt>"Views per face"</dt>
            <dd data-fact="views">{views}</dd>
        </dl>
    }
}

/// "seven", "eight"... for a count of expressions (digits past twelve).
pub fn count_words(n: usize) -> String {
    const WORDS: [&str; 13] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    WORDS
        .get(n)
        .map_or_else(|| n.to_string(), |w| w.to_string())
}
