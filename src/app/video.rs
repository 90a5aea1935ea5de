//! Video mode: a video file the browser can play, read at a chosen rate. Each frame is
//! reached by seeking a `<video>` element that is never shown, drawn to a canvas and
//! read by the photo path (`pipeline::read_video_frame`, on the engine in use, with the
//! batch's fallbacks); faces are followed from frame to frame ([`mien::tracking`]) and
//! each gets a timeline chart, a summary and CSV rows ([`mien::timeline`]). The file is
//! shown to the `<video>` element through a `blob:` URL, revoked when the reading ends:
//! nothing leaves the page.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use futures::channel::oneshot;
use futures::future::{select, Either};
use gloo::timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;
use mien::emotions::Emotions;
use mien::face::Rect;
use mien::timeline::{sample_times, time_label, time_ticks, Plot, Timeline, MAX_FRAMES};
use mien::tracking::Tracker;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{EventTarget, File, HtmlInputElement, HtmlVideoElement};

use super::backend::Backend;
use super::batch::with_engine;
use super::canvas::{self, grab};
use super::files::{self, all_files};
use super::pipeline::{self, now_ms};
use super::table::save;

/// Frames are read at most this many pixels a side (faces in a video are often small).
const FRAME_SIDE: u32 = 1280;
/// The reading rates offered, frames per second, and the one chosen at first.
const RATES: [u32; 6] = [2, 3, 4, 5, 8, 10];
const DEFAULT_RATE: u32 = 4;
/// How long the browser may take to open a file, and to reach one frame.
const OPEN_TIMEOUT_MS: u32 = 20_000;
const SEEK_TIMEOUT_MS: u32 = 20_000;
/// The sentence for a file the browser cannot play.
const FORMATS: &str = "Videos that work: MP4 (H.264) and WebM (VP8, VP9 or AV1), the formats \
                       browsers play; a video in another format can be converted to one of those.";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Opening,
    Reading,
    Done,
    Cancelled,
    Failed,
}

impl Phase {
    fn code(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Opening => "opening",
            Phase::Reading => "reading",
            Phase::Done => "done",
            Phase::Cancelled => "cancelled",
            Phase::Failed => "error",
        }
    }

    fn running(self) -> bool {
        matches!(self, Phase::Opening | Phase::Reading)
    }
}

/// The video being read or shown (copyable handle).
#[derive(Clone, Copy)]
pub struct VideoJob {
    name: RwSignal<String>,
    phase: RwSignal<Phase>,
    /// What happens, or how it ended, as a sentence.
    message: RwSignal<String>,
    timeline: RwSignal<Timeline>,
    /// The video's length (seconds), and the frames to read.
    duration: RwSignal<f64>,
    total: RwSignal<usize>,
    /// Seconds left, estimated from the frames read so far.
    left_s: RwSignal<Option<f64>>,
    /// The rate chosen, and the rate of the timeline shown.
    rate: RwSignal<u32>,
    read_rate: RwSignal<f64>,
    /// Bumped by every start, cancel and clear: a reading goes on only while current.
    session: StoredValue<u32>,
}

/// How a reading ended, when it was not stopped from outside.
enum End {
    Read { capped: bool },
    Failed(String),
}

impl Default for VideoJob {
    fn default() -> Self {
        VideoJob::new()
    }
}

impl VideoJob {
    pub fn new() -> Self {
        VideoJob {
            name: RwSignal::new(String::new()),
            phase: RwSignal::new(Phase::Idle),
            message: RwSignal::new(String::new()),
            timeline: RwSignal::new(Timeline::default()),
            duration: RwSignal::new(0.0),
            total: RwSignal::new(0),
            left_s: RwSignal::new(None),
            rate: RwSignal::new(DEFAULT_RATE),
            read_rate: RwSignal::new(DEFAULT_RATE as f64),
            session: StoredValue::new(0),
        }
    }

    fn bump(self) -> u32 {
        let next = self.session.get_value().wrapping_add(1);
        self.session.set_value(next);
        next
    }

    /// Reads `file` (replacing the video shown, and stopping one still being read).
    pub fn start(self, file: File, backend: Backend, note: Option<String>) {
        let this = self.bump();
        let name = file.name();
        let rate = self.rate.get_untracked() as f64;
        self.name.set(name.clone());
        self.phase.set(Phase::Opening);
        self.message.set(format!("Opening {name}…"));
        self.timeline.set(Timeline::default());
        self.duration.set(0.0);
        self.total.set(0);
        self.left_s.set(None);
        self.read_rate.set(rate);
        spawn_local(async move {
            let end = self.read(&file, backend, rate, this).await;
            if self.session.get_value() != this {
                return;
            }
            let read = self.timeline.with_untracked(|t| t.frames_read());
            let faces = self.timeline.with_untracked(|t| t.faces().len());
            let (phase, mut text) = match end {
                End::Failed(why) if read > 0 => (
                    Phase::Failed,
                    format!("{why} The {read} frames read before are kept below."),
                ),
                End::Failed(why) => (Phase::Failed, why),
                End::Read { capped } => {
                    let mut text = match faces {
                        0 => format!(
                            "No face was found in the {read} frames read from {name}: \
                             it may have none, or faces too small or turned away to be found."
                        ),
                        1 => format!("{name}: {read} frames read, 1 face followed."),
                        n => format!("{name}: {read} frames read, {n} faces followed."),
                    };
                    if capped {
                        text.push_str(&format!(
                            " Only the first {MAX_FRAMES} frames were read (up to {}); a lower \
                             rate reads further.",
                            time_label(self.timeline.with_untracked(|t| t.last_time()))
                        ));
                    }
                    (Phase::Done, text)
                }
            };
            if let Some(note) = &note {
                text.push(' ');
                text.push_str(note);
            }
            self.left_s.set(None);
            self.phase.set(phase);
            self.message.set(text);
        });
    }

    /// Stops the reading; what was read so far stays, and the page says so.
    pub fn cancel(self) {
        if !self.phase.get_untracked().running() {
            return;
        }
        self.bump();
        let (read, last) = self
            .timeline
            .with_untracked(|t| (t.frames_read(), t.last_time()));
        let total = self.total.get_untracked();
        self.left_s.set(None);
        self.phase.set(Phase::Cancelled);
        self.message.set(if read == 0 {
            format!("Cancelled: {} was not read.", self.name.get_untracked())
        } else {
            format!(
                "Cancelled after {read} of {total} frames (up to {}): what was read is kept below.",
                time_label(last)
            )
        });
    }

    /// Drops the video shown (another classifier is in use: its labels may differ).
    pub fn clear(self) {
        let was = self.phase.get_untracked();
        self.bump();
        self.timeline.set(Timeline::default());
        self.left_s.set(None);
        self.total.set(0);
        if was != Phase::Idle {
            self.phase.set(Phase::Idle);
            self.message.set(
                "Another expression model is in use: the video's readings were cleared.".into(),
            );
        }
    }

    /// Opens the file in a `<video>` element, then reads its frames one by one.
    async fn read(self, file: &File, backend: Backend, rate: f64, this: u32) -> End {
        let name = file.name();
        let source = match Source::open(file).await {
            Ok(source) => source,
            Err(why) => return End::Failed(format!("{name}: {why}")),
        };
        let video = &source.video;
        let duration = match duration_of(video).await {
            Ok(d) => d,
            Err(why) => return End::Failed(format!("{name}: {why}")),
        };
        let Some(times) = sample_times(duration, rate, MAX_FRAMES) else {
            return End::Failed(format!("{name}: the video's length could not be found."));
        };
        let capped = (duration * rate).ceil() as usize > times.len();
        let labels = match backend.ready().await {
            Ok(inference) => inference.contract().labels.clone(),
            Err(why) => return End::Failed(format!("The models are not available: {why}")),
        };
        let Some(canvas) = canvas::offscreen() else {
            return End::Failed("This browser cannot draw a video's frames.".into());
        };
        if self.session.get_value() != this {
            return End::Read { capped };
        }
        let total = times.len();
        self.duration.set(duration);
        self.total.set(total);
        self.timeline.set(Timeline::new(labels));
        self.phase.set(Phase::Reading);
        self.message
            .set(format!("Reading {name}: frame 1 of {total}…"));
        let mut tracker = Tracker::default();
        let started = now_ms();
        for (i, &time) in times.iter().enumerate() {
            if self.session.get_value() != this {
                return End::Read { capped };
            }
            if let Err(why) = seek(video, time).await {
                return End::Failed(format!(
                    "{name}: the frame at {} could not be reached ({why}).",
                    time_label(time)
                ));
            }
            let picture = match grab(video, &canvas, FRAME_SIDE) {
                Ok(picture) => Arc::new(picture),
                Err(why) => {
                    return End::Failed(format!(
                        "{name}: the frame at {} could not be drawn ({why}).",
                        time_label(time)
                    ))
                }
            };
            let found = with_engine(backend, |inference| {
                let picture = picture.clone();
                async move { pipeline::read_video_frame(&inference, &picture).await }
            })
            .await;
            let faces = match found {
                Ok(faces) => faces,
                Err(why) if why.ends_with('.') => return End::Failed(why),
                Err(why) => return End::Failed(format!("{why}.")),
            };
            if self.session.get_value() != this {
                return End::Read { capped };
            }
            let rects: Vec<Rect> = faces.faces.iter().map(|f| f.rect).collect();
            let numbers = tracker.update(&rects);
            let readings: Vec<(usize, &Emotions)> = numbers
                .into_iter()
                .zip(faces.faces.iter().map(|f| &f.emotions))
                .collect();
            self.timeline.update(|t| t.push_frame(time, &readings));
            let done = i + 1;
            let per_frame = (now_ms() - started) / done as f64;
            self.left_s
                .set(Some(per_frame * (total - done) as f64 / 1000.0));
            if done < total {
                self.message
                    .set(format!("Reading {name}: frame {} of {total}…", done + 1));
            }
            // Let the page draw the chart and react between frames.
            TimeoutFuture::new(0).await;
        }
        End::Read { capped }
    }
}

/// The file, shown to a `<video>` element that is never attached to the page, through
/// a `blob:` URL; both are let go when this is dropped.
struct Source {
    video: HtmlVideoElement,
    url: String,
}

impl Source {
    async fn open(file: &File) -> Result<Source, String> {
        let video = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.create_element("video").ok())
            .and_then(|v| v.dyn_into::<HtmlVideoElement>().ok())
            .ok_or("this browser cannot play videos in this page.")?;
        let url = files::object_url(file).ok_or("the file could not be opened in this page.")?;
        let source = Source { video, url };
        source.video.set_muted(true);
        source.video.set_preload("auto");
        let opened = Waiter::new(&source.video, "loadedmetadata");
        source.video.set_src(&source.url);
        match opened.wait(OPEN_TIMEOUT_MS).await {
            Ok(()) => {}
            Err(Waited::Failed) => {
                return Err(format!(
                    "this browser cannot play this file as a video: it may not be a video, or \
                     its format or codec may be one this browser lacks. {FORMATS}"
                ))
            }
            Err(Waited::TimedOut) => {
                return Err(format!(
                    "the file did not open as a video within {} s. {FORMATS}",
                    OPEN_TIMEOUT_MS / 1000
                ))
            }
        }
        if source.video.video_width() == 0 || source.video.video_height() == 0 {
            return Err("the file has no picture (only sound?).".into());
        }
        Ok(source)
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        let _ = self.video.remove_attribute("src");
        self.video.load();
        files::revoke(&self.url);
    }
}

/// The video's length in seconds. Recorded WebM files (a browser's MediaRecorder, many
/// screen and phone recorders) do not store it: the browser finds it once asked to seek
/// far past the end.
async fn duration_of(video: &HtmlVideoElement) -> Result<f64, String> {
    let known = |d: f64| d.is_finite() && d > 0.0;
    if known(video.duration()) {
        return Ok(video.duration());
    }
    let _ = seek(video, 1e101).await;
    if known(video.duration()) {
        return Ok(video.duration());
    }
    let seekable = video.seekable();
    if seekable.length() > 0 {
        if let Ok(end) = seekable.end(seekable.length() - 1) {
            if known(end) {
                return Ok(end);
            }
        }
    }
    Err("the video's length could not be found (the file may be cut short).".into())
}

/// Moves the video to `time` seconds and waits until its frame is there.
async fn seek(video: &HtmlVideoElement, time: f64) -> Result<(), String> {
    let seeked = Waiter::new(video, "seeked");
    video.set_current_time(time);
    seeked.wait(SEEK_TIMEOUT_MS).await.map_err(|w| match w {
        Waited::Failed => "the browser could not decode it".to_string(),
        Waited::TimedOut => format!("no frame within {} s", SEEK_TIMEOUT_MS / 1000),
    })
}

#[derive(Clone, Copy, Debug)]
enum Waited {
    /// The element fired `error`.
    Failed,
    TimedOut,
}

/// Waits for one event (or `error`) on an element: listening starts when it is made,
/// before what causes the event, and stops when it is dropped.
struct Waiter {
    target: EventTarget,
    event: &'static str,
    on_event: Closure<dyn FnMut()>,
    on_error: Closure<dyn FnMut()>,
    outcome: oneshot::Receiver<bool>,
}

impl Waiter {
    fn new(target: &EventTarget, event: &'static str) -> Self {
        let (send, outcome) = oneshot::channel();
        let send = Rc::new(RefCell::new(Some(send)));
        let answer = |ok: bool| {
            let send = send.clone();
            Closure::<dyn FnMut()>::new(move || {
                if let Some(send) = send.borrow_mut().take() {
                    let _ = send.send(ok);
                }
            })
        };
        let (on_event, on_error) = (answer(true), answer(false));
        let _ = target.add_event_listener_with_callback(event, on_event.as_ref().unchecked_ref());
        let _ = target.add_event_listener_with_callback("error", on_error.as_ref().unchecked_ref());
        Waiter {
            target: target.clone(),
            event,
            on_event,
            on_error,
            outcome,
        }
    }

    async fn wait(mut self, timeout_ms: u32) -> Result<(), Waited> {
        let outcome = &mut self.outcome;
        match select(outcome, TimeoutFuture::new(timeout_ms)).await {
            Either::Left((Ok(true), _)) => Ok(()),
            Either::Left(_) => Err(Waited::Failed),
            Either::Right(_) => Err(Waited::TimedOut),
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let _ = self.target.remove_event_listener_with_callback(
            self.event,
            self.on_event.as_ref().unchecked_ref(),
        );
        let _ = self
            .target
            .remove_event_listener_with_callback("error", self.on_error.as_ref().unchecked_ref());
    }
}

/// A line colour per expression (the usual ones by name, others from a palette).
fn colour(label: &str, index: usize) -> &'static str {
    const PALETTE: [&str; 10] = [
        "#d62728", "#8c564b", "#9467bd", "#e6a100", "#7f7f7f", "#1f77b4", "#2ca02c", "#17becf",
        "#e377c2", "#bcbd22",
    ];
    match label {
        "angry" | "anger" => PALETTE[0],
        "disgust" => PALETTE[1],
        "fear" => PALETTE[2],
        "happy" | "happiness" => PALETTE[3],
        "neutral" => PALETTE[4],
        "sad" | "sadness" => PALETTE[5],
        "surprise" => PALETTE[6],
        "contempt" => PALETTE[7],
        _ => PALETTE[index % PALETTE.len()],
    }
}

/// The chart's view box and plot.
const CHART_WIDTH: f64 = 640.0;
const CHART_HEIGHT: f64 = 250.0;

/// One face's timeline: a line per expression over the video's length, 0-100%.
fn chart(timeline: &Timeline, face: usize, duration: f64, rate: f64) -> impl IntoView {
    let plot = Plot {
        left: 46.0,
        top: 10.0,
        width: CHART_WIDTH - 46.0 - 16.0,
        height: 190.0,
        duration_s: duration,
    };
    let bottom = plot.top + plot.height;
    let y_grid = [0.0, 25.0, 50.0, 75.0, 100.0]
        .into_iter()
        .map(|p| {
            let y = plot.y(p);
            view! {
                <line class="grid" x1=plot.left x2=plot.left + plot.width y1=y y2=y></line>
                <text class="y-tick" x=plot.left - 6.0 y=y + 4.0 text-anchor="end">{format!("{p:.0}%")}</text>
            }
        })
        .collect_view();
    let x_ticks = time_ticks(duration, 8)
        .into_iter()
        .map(|t| {
            let x = plot.x(t);
            view! {
                <line class="tick" x1=x x2=x y1=bottom y2=bottom + 5.0></line>
                <text class="x-tick" x=x y=bottom + 18.0 text-anchor="middle" data-seconds=format!("{t}")>{time_label(t)}</text>
            }
        })
        .collect_view();
    let series = timeline.series(face);
    let lines = timeline
        .labels()
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let stroke = colour(label, i);
            plot.lines(&series, i, rate)
                .into_iter()
                .map(|points| {
                    let single = !points.contains(' ');
                    let dot = single.then(|| {
                        let (x, y) = points.split_once(',').unwrap_or(("0", "0"));
                        view! { <circle cx=x.to_string() cy=y.to_string() r="2.5" fill=stroke></circle> }
                    });
                    view! {
                        <polyline class="series" data-label=label.clone() points=points fill="none" stroke=stroke stroke-width="2"></polyline>
                        {dot}
                    }
                })
                .collect_view()
        })
        .collect_view();
    let title = format!(
        "Face {face}: each expression's percentage (0 to 100%) over the video's {}",
        time_label(duration)
    );
    view! {
        <svg
            class="timeline"
            viewBox=format!("0 0 {CHART_WIDTH} {CHART_HEIGHT}")
            role="img"
            aria-label=title
        >
            {y_grid}
            <line class="axis" x1=plot.left x2=plot.left y1=plot.top y2=bottom></line>
            <line class="axis" x1=plot.left x2=plot.left + plot.width y1=bottom y2=bottom></line>
            {x_ticks}
            <text class="axis-title" x=plot.left + plot.width / 2.0 y=CHART_HEIGHT - 8.0 text-anchor="middle">
                "time in the video (seconds)"
            </text>
            {lines}
        </svg>
    }
}

fn legend(labels: &[String]) -> impl IntoView {
    labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            view! {
                <li data-label=label.clone()>
                    <svg class="swatch" viewBox="0 0 14 14" aria-hidden="true">
                        <rect x="0" y="5" width="14" height="4" fill=colour(label, i)></rect>
                    </svg>
                    {label.clone()}
                </li>
            }
        })
        .collect_view()
}

/// One followed face: when it was seen, its summary, chart and legend.
fn face_panel(timeline: &Timeline, face: usize, duration: f64, rate: f64) -> impl IntoView {
    let series = timeline.series(face);
    let (first, last) = (
        series.first().map_or(0.0, |s| s.time_s),
        series.last().map_or(0.0, |s| s.time_s),
    );
    let tops = series
        .iter()
        .map(|s| {
            let label = timeline.labels().get(s.top).map_or("", |l| l.as_str());
            format!("{:.3}:{label}", s.time_s)
        })
        .collect::<Vec<_>>()
        .join(",");
    let summary = timeline
        .summary(face)
        .into_iter()
        .map(|(label, share)| {
            let code = label.clone();
            view! {
                <li data-label=code data-share=format!("{share:.4}")>
                    <strong>{label}</strong>{format!(": {:.0}% of the time", share * 100.0)}
                </li>
            }
        })
        .collect_view();
    let seen = format!(
        "Seen in {} frames, from {} to {}. On top:",
        series.len(),
        time_label(first),
        time_label(last)
    );
    view! {
        <section class="video-face" data-face=face data-samples=series.len() data-tops=tops aria-label=format!("Face {face}")>
            <h3>{format!("Face {face}")}</h3>
            <p class="hint">{seen}</p>
            <ul class="video-summary">{summary}</ul>
            {chart(timeline, face, duration, rate)}
            <ul class="legend" aria-label="Line colours">{legend(timeline.labels())}</ul>
        </section>
    }
}

#[component]
pub fn VideoView(job: VideoJob, backend: Backend) -> impl IntoView {
    let phase = job.phase;
    let rate_options = RATES
        .into_iter()
        .map(|r| {
            view! {
                <option value=r.to_string() selected=r == DEFAULT_RATE>
                    {format!("{r} frames per second")}
                </option>
            }
        })
        .collect_view();
    let progress_text = move || {
        let total = job.total.get();
        let read = job.timeline.with(|t| t.frames_read());
        match (phase.get(), job.left_s.get()) {
            (Phase::Reading, Some(left)) => format!(
                "{read} of {total} frames read · about {} left",
                time_label(left.ceil())
            ),
            (Phase::Reading, None) => format!("{read} of {total} frames read"),
            _ => String::new(),
        }
    };
    let faces = move || {
        let duration = job.duration.get();
        let rate = job.read_rate.get();
        job.timeline.with(|t| {
            t.faces()
                .into_iter()
                .map(|face| face_panel(t, face, duration, rate))
                .collect_view()
        })
    };
    let has_samples = move || job.timeline.with(|t| !t.samples().is_empty());
    let download = move |_| {
        let text = job.timeline.with_untracked(|t| t.csv());
        if let Err(why) = save("mien-video.csv", &text) {
            leptos::logging::warn!("cannot save the CSV file: {why}");
            job.message
                .set(format!("The CSV file could not be saved: {why}."));
        }
    };
    let tone = move || match phase.get() {
        Phase::Failed => "error",
        Phase::Opening | Phase::Reading => "busy",
        _ => "info",
    };
    let state = move || {
        let phase = phase.get();
        if phase == Phase::Done && job.timeline.with(|t| t.samples().is_empty()) {
            "no-face"
        } else {
            phase.code()
        }
    };

    view! {
        <div class="video">
            <p class="intro">
                "Video mode reads a video file (MP4 or WebM, as this browser plays them) a few "
                "frames per second, follows each face from frame to frame and charts its "
                "expressions over time. The video stays in this page: nothing is uploaded."
            </p>
            <div class="video-controls">
                <input
                    id="video-input"
                    class="visually-hidden"
                    type="file"
                    accept="video/*"
                    on:change=move |e| {
                        let input = e.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok());
                        if let Some(input) = input {
                            if let Some(file) = all_files(input.files()).into_iter().next() {
                                job.start(file, backend, None);
                            }
                            input.set_value("");
                        }
                    }
                />
                <label for="video-input" class="upload-button">"Choose a video"</label>
                <label class="video-rate">
                    "Read "
                    <select
                        id="video-rate"
                        on:change=move |e| {
                            if let Ok(rate) = event_target_value(&e).parse::<u32>() {
                                job.rate.set(rate);
                            }
                        }
                    >
                        {rate_options}
                    </select>
                </label>
                <button
                    type="button"
                    id="video-cancel"
                    on:click=move |_| job.cancel()
                    prop:disabled=move || !phase.get().running()
                >
                    "Cancel"
                </button>
                <button
                    type="button"
                    id="video-csv"
                    on:click=download
                    prop:disabled=move || !has_samples()
                >
                    "Download as CSV"
                </button>
            </div>
            <div class="progress-slot">
                <p id="video-status" class="status" role="status" aria-live="polite" data-tone=tone>
                    {move || job.message.get()}
                </p>
                <progress
                    id="video-progress"
                    class:idle=move || phase.get() != Phase::Reading
                    max=move || job.total.get().max(1)
                    value=move || job.timeline.with(|t| t.frames_read())
                    aria-label="Frames read"
                ></progress>
                <p id="video-progress-text" class="hint">{progress_text}</p>
            </div>
            <div
                id="video-result"
                data-state=state
                data-name=move || job.name.get()
                data-duration=move || format!("{:.3}", job.duration.get())
                data-frames-read=move || job.timeline.with(|t| t.frames_read())
                data-frames-total=move || job.total.get()
            >
                {faces}
            </div>
        </div>
    }
}
