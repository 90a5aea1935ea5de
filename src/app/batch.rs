//! A batch: the photos given at once, analysed one after the other. Each photo is
//! read, decoded (`mien::decode`: limits, EXIF orientation), brought to a working
//! size once, then its faces are found and read; every failure becomes a sentence
//! on that photo's card, and the next photo goes on.

use std::sync::Arc;

use gloo::timers::future::TimeoutFuture;
use image::DynamicImage;
use leptos::prelude::*;
use leptos::task::spawn_local;
use mien::analysis::{picture_from_bytes, AnalysisError};
use mien::decode::DecodeLimits;
use web_sys::File;

use super::backend::{Backend, Inference};
use super::files;
use super::pipeline::{self, Faces};
use super::status::Status;
use super::worker::EngineKind;

/// One photo of the batch.
#[derive(Clone)]
pub struct PhotoEntry {
    pub id: u64,
    pub name: String,
    /// Shows the person's own file back to them (a `blob:` URL).
    pub url: Option<String>,
    pub outcome: ArcRwSignal<Outcome>,
}

#[derive(Clone)]
pub enum Outcome {
    Waiting,
    /// Being analysed: what is happening.
    Working(String),
    /// Why this file cannot be analysed, as a sentence.
    Failed(String),
    Done(Arc<Reading>),
}

/// What was found in a photo.
pub struct Reading {
    /// The analysed picture's size (boxes are in its pixels).
    pub width: u32,
    pub height: u32,
    pub faces: Faces,
    pub engine: EngineKind,
    /// True when the whole picture was read as one face.
    pub whole: bool,
    /// The analysed picture, kept only while no face was found, so that it can be
    /// read as one face on request.
    pub picture: Option<Arc<DynamicImage>>,
}

/// The batch being shown (copyable handle).
#[derive(Clone, Copy)]
pub struct Batch {
    pub entries: RwSignal<Vec<PhotoEntry>>,
    /// Photos done and in all, while a batch runs.
    pub progress: RwSignal<Option<(usize, usize)>>,
    pub status: RwSignal<Status>,
    generation: StoredValue<u64>,
    next_id: StoredValue<u64>,
}

impl Batch {
    pub fn new(status: RwSignal<Status>) -> Self {
        Batch {
            entries: RwSignal::new(Vec::new()),
            progress: RwSignal::new(None),
            status,
            generation: StoredValue::new(0),
            next_id: StoredValue::new(0),
        }
    }

    /// Replaces the shown batch with these files and analyses them in order.
    pub fn start(self, files: Vec<File>, backend: Backend) {
        if files.is_empty() {
            self.status.set(Status::error(
                "No file arrived; drop, choose or paste a photo.",
            ));
            return;
        }
        let generation = self.generation.get_value().wrapping_add(1);
        self.generation.set_value(generation);
        for old in self.entries.get_untracked() {
            if let Some(url) = &old.url {
                files::revoke(url);
            }
        }
        let entries: Vec<PhotoEntry> = files
            .iter()
            .map(|file| {
                let id = self.next_id.get_value();
                self.next_id.set_value(id + 1);
                PhotoEntry {
                    id,
                    name: file.name(),
                    url: files::object_url(file),
                    outcome: ArcRwSignal::new(Outcome::Waiting),
                }
            })
            .collect();
        self.entries.set(entries.clone());
        let total = entries.len();
        spawn_local(async move {
            for (done, (file, entry)) in files.iter().zip(&entries).enumerate() {
                if self.generation.get_value() != generation {
                    return;
                }
                self.progress.set(Some((done, total)));
                let counter = if total > 1 {
                    format!(" ({} of {total})", done + 1)
                } else {
                    String::new()
                };
                self.status
                    .set(Status::busy(format!("Analysing {}{counter}…", entry.name)));
                let outcome = analyse(file, &entry.outcome, backend).await;
                if self.generation.get_value() != generation {
                    return;
                }
                entry.outcome.set(outcome);
            }
            self.progress.set(None);
            self.status.set(summary(&entries));
        });
    }

    /// Drops the batch shown, and stops one still running: its readings came from a
    /// classifier no longer in use, whose labels may differ.
    pub fn clear(self) {
        self.generation
            .set_value(self.generation.get_value().wrapping_add(1));
        let old = self.entries.get_untracked();
        for entry in &old {
            if let Some(url) = &entry.url {
                files::revoke(url);
            }
        }
        self.entries.set(Vec::new());
        self.progress.set(None);
        self.status.set(Status::info(if old.is_empty() {
            "Another expression model is in use. Waiting for a photo."
        } else {
            "Another expression model is in use: the earlier results were cleared. Waiting for a photo."
        }));
    }

    /// Reads a photo with no face found as one face (its centred square).
    pub fn read_whole(self, entry: PhotoEntry, backend: Backend) {
        let Outcome::Done(reading) = entry.outcome.get_untracked() else {
            return;
        };
        let Some(picture) = reading.picture.clone() else {
            return;
        };
        let (width, height) = (reading.width, reading.height);
        spawn_local(async move {
            entry.outcome.set(Outcome::Working(
                "Reading the whole picture as one face…".into(),
            ));
            self.status
                .set(Status::busy(format!("Reading {} as one face…", entry.name)));
            let result = with_engine(backend, |inference| {
                let picture = picture.clone();
                async move {
                    pipeline::read_whole(&inference, &picture)
                        .await
                        .map(|f| (f, inference.kind()))
                }
            })
            .await;
            let (outcome, status) = match result {
                Ok((faces, engine)) => {
                    let reading = Reading {
                        width,
                        height,
                        faces,
                        engine,
                        whole: true,
                        picture: None,
                    };
                    (
                        Outcome::Done(Arc::new(reading)),
                        Status::info(format!("{}: read as one face.", entry.name)),
                    )
                }
                Err(why) => (
                    Outcome::Failed(why.clone()),
                    Status::error(format!("{}: {why}", entry.name)),
                ),
            };
            entry.outcome.set(outcome);
            self.status.set(status);
        });
    }
}

/// One file, from bytes to faces.
async fn analyse(file: &File, outcome: &ArcRwSignal<Outcome>, backend: Backend) -> Outcome {
    outcome.set(Outcome::Working("Reading the file…".into()));
    let bytes = match files::read(file).await {
        Ok(bytes) => bytes,
        Err(why) => return Outcome::Failed(why),
    };
    outcome.set(Outcome::Working("Decoding the picture…".into()));
    // Let the page show that before decoding holds the main thread.
    TimeoutFuture::new(16).await;
    let picture = match picture_from_bytes(&bytes, &DecodeLimits::default()) {
        Ok(image) => Arc::new(image),
        Err(why) => return Outcome::Failed(why.to_string()),
    };
    drop(bytes);
    outcome.set(Outcome::Working("Finding faces…".into()));
    let result = with_engine(backend, |inference| {
        let picture = picture.clone();
        async move {
            pipeline::read_photo(&inference, &picture)
                .await
                .map(|f| (f, inference.kind()))
        }
    })
    .await;
    match result {
        Ok((faces, engine)) => {
            let keep = faces.faces.is_empty().then(|| picture.clone());
            Outcome::Done(Arc::new(Reading {
                width: picture.width(),
                height: picture.height(),
                faces,
                engine,
                whole: false,
                picture: keep,
            }))
        }
        Err(why) => Outcome::Failed(why),
    }
}

/// Runs `work` on the engine in use (a photo, or a video's frame). When the GPU fails, the CPU takes over (the
/// page says so) and the work is done again there; when the CPU worker crashes (an
/// engine error from a dead worker), a new one does it again (once). Models whose
/// outputs do not match their contract fail at once on the CPU: another try would
/// give the same outputs.
pub async fn with_engine<T, F, Fut>(backend: Backend, work: F) -> Result<T, String>
where
    F: Fn(Inference) -> Fut,
    Fut: std::future::Future<Output = Result<T, AnalysisError>>,
{
    for attempt in 0..2 {
        let inference = backend
            .ready()
            .await
            .map_err(|why| format!("The models are not available: {why}"))?;
        let kind = inference.kind();
        let used = inference.clone();
        match work(inference).await {
            Ok(value) => return Ok(value),
            Err(why) if kind == EngineKind::Gpu => {
                backend.gpu_failed(format!("it failed during an analysis: {why}"))
            }
            Err(AnalysisError::Engine(_)) if attempt == 0 && used.is_dead() => {}
            Err(why) => return Err(format!("The analysis failed: {why}")),
        }
        // Let the switch to the CPU begin before asking for the engine again.
        TimeoutFuture::new(0).await;
    }
    Err("The analysis failed on every engine.".into())
}

/// The status sentence once a batch is done.
fn summary(entries: &[PhotoEntry]) -> Status {
    let outcomes: Vec<Outcome> = entries.iter().map(|e| e.outcome.get_untracked()).collect();
    if let ([entry], [outcome]) = (entries, outcomes.as_slice()) {
        return match outcome {
            Outcome::Failed(why) => Status::error(format!("{}: {why}", entry.name)),
            Outcome::Done(reading) => Status::info(format!(
                "{}: {}.",
                entry.name,
                faces_found(reading.faces.faces.len())
            )),
            _ => Status::info(""),
        };
    }
    let faces: usize = outcomes
        .iter()
        .map(|o| match o {
            Outcome::Done(r) => r.faces.faces.len(),
            _ => 0,
        })
        .sum();
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed(_)))
        .count();
    let mut text = format!("{} photos analysed: {}", entries.len(), faces_found(faces));
    if failed > 0 {
        text.push_str(&format!("; {failed} could not be read (see below)"));
    }
    text.push('.');
    if failed == entries.len() {
        Status::error(text)
    } else {
        Status::info(text)
    }
}

fn faces_found(n: usize) -> String {
    match n {
        0 => "no face found".into(),
        1 => "1 face found".into(),
        n => format!("{n} faces found"),
    }
}
