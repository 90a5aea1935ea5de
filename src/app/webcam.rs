//! Webcam mode: the camera's picture, analysed live in this page (never recorded, never
//! sent), with a box and the top expression over each face and a frames-per-second
//! readout. Readings are smoothed over time (a switch, on by default; the core's
//! [`mien::smoothing`]) so the words do not flicker. Frames use BlazeFace's `Front` model, made for one near face filling much
//! of the picture, and 2-5 times cheaper than `Back`.

use gloo::timers::future::TimeoutFuture;
use js_sys::{Object, Reflect};
use leptos::html::Video;
use leptos::prelude::*;
use leptos::task::spawn_local;
use mien::emotions::Emotions;
use mien::face::Rect;
use mien::smoothing::Smoother;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{MediaStream, MediaStreamConstraints, MediaStreamTrack};

use super::backend::Backend;
use super::canvas::{self, grab};
use super::files::js_error_text;
use super::pipeline::{self, now_ms};
use super::worker::EngineKind;

/// Frames are analysed at most this many pixels a side (faces near a webcam are big).
const FRAME_SIDE: u32 = 640;

/// A face over the video: where, and what it shows in a few words.
#[derive(Clone, Debug, PartialEq)]
struct Mark {
    rect: Rect,
    text: String,
    unsure: bool,
}

#[component]
pub fn Webcam(backend: Backend, active: Signal<bool>) -> impl IntoView {
    let video = NodeRef::<Video>::new();
    let phase = RwSignal::new(Phase::Off);
    let problem = RwSignal::new(None::<String>);
    let fps = RwSignal::new(None::<f64>);
    let frame = RwSignal::new((640u32, 480u32));
    let marks = RwSignal::new(Vec::<Mark>::new());
    let stream = StoredValue::new_local(None::<MediaStream>);
    let smooth = RwSignal::new(true);
    let smoother = StoredValue::new(Smoother::default());
    // Bumped by every start and stop: a loop runs only while its session is current.
    let session = StoredValue::new(0u32);

    let stop = move || {
        session.update_value(|s| *s = s.wrapping_add(1));
        if let Some(stream) = stream.get_value() {
            for track in stream.get_tracks().iter() {
                if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
                    track.stop();
                }
            }
        }
        stream.set_value(None);
        if let Some(video) = video.get_untracked() {
            video.set_src_object(None);
        }
        phase.set(Phase::Off);
        fps.set(None);
        marks.set(Vec::new());
        smoother.update_value(Smoother::reset);
    };

    let start = move || {
        session.update_value(|s| *s = s.wrapping_add(1));
        let this = session.get_value();
        problem.set(None);
        phase.set(Phase::Starting);
        spawn_local(async move {
            let media = match open_camera().await {
                Ok(media) => media,
                Err(why) => {
                    problem.set(Some(why));
                    phase.set(Phase::Off);
                    return;
                }
            };
            stream.set_value(Some(media.clone()));
            if session.get_value() != this {
                stop();
                return;
            }
            let Some(element) = video.get_untracked() else {
                return;
            };
            element.set_muted(true);
            element.set_src_object(Some(&media));
            if let Ok(playing) = element.play() {
                let _ = JsFuture::from(playing).await;
            }
            let Some(canvas) = canvas::offscreen() else {
                problem.set(Some(
                    "This browser cannot read the camera's picture.".into(),
                ));
                stop();
                return;
            };
            phase.set(Phase::Running);
            let mut last = now_ms();
            let mut frame_ms: Option<f64> = None;
            while session.get_value() == this {
                let picture = match grab(&element, &canvas, FRAME_SIDE) {
                    Ok(picture) => picture,
                    Err(_) => {
                        TimeoutFuture::new(50).await;
                        continue;
                    }
                };
                let inference = match backend.ready().await {
                    Ok(inference) => inference,
                    Err(why) => {
                        problem.set(Some(format!("The models are not available: {why}")));
                        stop();
                        return;
                    }
                };
                let kind = inference.kind();
                match pipeline::read_frame(&inference, &picture).await {
                    Ok(found) => {
                        if session.get_value() != this {
                            return;
                        }
                        frame.set((picture.width(), picture.height()));
                        let faces: Vec<(Rect, Emotions)> = found
                            .faces
                            .iter()
                            .map(|f| (f.rect, f.emotions.clone()))
                            .collect();
                        let shown = if smooth.get_untracked() {
                            smoother
                                .try_update_value(|s| s.update(&faces))
                                .unwrap_or_default()
                        } else {
                            smoother.update_value(Smoother::reset);
                            faces.iter().map(|(_, e)| e.clone()).collect()
                        };
                        marks.set(
                            faces
                                .iter()
                                .zip(shown)
                                .map(|((rect, _), e)| Mark {
                                    rect: *rect,
                                    text: e.summary(),
                                    unsure: e.is_unsure(),
                                })
                                .collect(),
                        );
                    }
                    Err(why) if kind == EngineKind::Gpu => {
                        backend.gpu_failed(format!("it failed on a camera frame: {why}"));
                    }
                    Err(why) => {
                        problem.set(Some(format!("The analysis failed: {why}")));
                        stop();
                        return;
                    }
                }
                let now = now_ms();
                let took = (now - last).max(1.0);
                last = now;
                let smooth = frame_ms.map_or(took, |ms| ms * 0.8 + took * 0.2);
                frame_ms = Some(smooth);
                fps.set(Some(1000.0 / smooth));
                // Let the page draw and react between frames.
                TimeoutFuture::new(0).await;
            }
        });
    };

    // Leaving the webcam view turns the camera off.
    Effect::new(move |_| {
        if !active.get() && phase.get_untracked() != Phase::Off {
            stop();
        }
    });
    on_cleanup(stop);

    let fps_text = move || match (phase.get(), fps.get()) {
        (Phase::Running, Some(fps)) => format!("{fps:.1} frames per second"),
        (Phase::Running, None) | (Phase::Starting, _) => "Starting the camera…".to_string(),
        (Phase::Off, _) => "Camera off.".to_string(),
    };
    let overlay = move || {
        let (w, h) = frame.get();
        let font = (w.max(h) as f32 / 24.0).max(8.0);
        marks
            .get()
            .into_iter()
            .map(|m| {
                let r = m.rect;
                let label_y = if r.y > font * 1.2 {
                    r.y - font * 0.3
                } else {
                    r.y + r.height + font
                };
                view! {
                    <g class="face-box" class:unsure=m.unsure>
                        <rect x=r.x y=r.y width=r.width.max(1.0) height=r.height.max(1.0)></rect>
                        <text x=r.x y=label_y font-size=font>{m.text}</text>
                    </g>
                }
            })
            .collect_view()
    };

    view! {
        <div class="webcam">
            <p class="intro">
                "Webcam mode reads the faces in your camera's picture as it runs. The picture "
                "stays in this page: it is not recorded, stored or sent."
            </p>
            <div class="webcam-controls">
                <button
                    type="button"
                    id="webcam-start"
                    on:click=move |_| start()
                    prop:disabled=move || phase.get() != Phase::Off
                >
                    "Start the camera"
                </button>
                <button
                    type="button"
                    id="webcam-stop"
                    on:click=move |_| stop()
                    prop:disabled=move || phase.get() == Phase::Off
                >
                    "Stop"
                </button>
                <label class="webcam-smooth">
                    <input
                        type="checkbox"
                        id="webcam-smooth"
                        prop:checked=move || smooth.get()
                        on:change=move |event| smooth.set(event_target_checked(&event))
                    />
                    "Smooth the readings over time"
                </label>
                <p id="webcam-fps" class="fps" aria-live="off" data-fps=move || fps.get().map(|f| format!("{f:.2}"))>
                    {fps_text}
                </p>
            </div>
            <p id="webcam-problem" class="error" role="alert" hidden=move || problem.get().is_none()>
                {move || problem.get().unwrap_or_default()}
            </p>
            <div
                class="webcam-stage"
                class:live=move || phase.get() == Phase::Running
                style:aspect-ratio=move || {
                    let (w, h) = frame.get();
                    format!("{w} / {h}")
                }
            >
                <video node_ref=video id="webcam-video" playsinline=true aria-label="Your camera's picture"></video>
                <svg
                    class="boxes"
                    viewBox=move || {
                        let (w, h) = frame.get();
                        format!("0 0 {w} {h}")
                    }
                    preserveAspectRatio="none"
                    aria-hidden="true"
                >
                    {overlay}
                </svg>
            </div>
            <p id="webcam-faces" class="webcam-faces" aria-live="polite">
                {move || {
                    let marks = marks.get();
                    match marks.len() {
                        0 if phase.get() == Phase::Running => "No face in view.".to_string(),
                        0 => String::new(),
                        _ => marks.iter().enumerate().map(|(i, m)| format!("Face {}: {}", i + 1, m.text)).collect::<Vec<_>>().join(" · "),
                    }
                }}
            </p>
        </div>
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Off,
    Starting,
    Running,
}

/// Asks for the camera. Err: what went wrong, in words a person can act on.
async fn open_camera() -> Result<MediaStream, String> {
    let navigator = web_sys::window().ok_or("no window")?.navigator();
    let devices = Reflect::get(&navigator, &"mediaDevices".into()).unwrap_or(JsValue::UNDEFINED);
    if devices.is_undefined() || devices.is_null() {
        return Err(
            "This browser offers no camera to this page (cameras need a secure page: https, or \
                    this computer's own address)."
                .into(),
        );
    }
    let devices = navigator.media_devices().map_err(|e| camera_error(&e))?;
    let constraints = MediaStreamConstraints::new();
    constraints.set_audio(&JsValue::FALSE);
    let video = Object::new();
    let ideal = |v: f64| {
        let o = Object::new();
        let _ = Reflect::set(&o, &"ideal".into(), &v.into());
        o
    };
    let _ = Reflect::set(&video, &"facingMode".into(), &"user".into());
    let _ = Reflect::set(&video, &"width".into(), &ideal(640.0));
    let _ = Reflect::set(&video, &"height".into(), &ideal(480.0));
    constraints.set_video(&video);
    let asked = devices
        .get_user_media_with_constraints(&constraints)
        .map_err(|e| camera_error(&e))?;
    let stream = JsFuture::from(asked).await.map_err(|e| camera_error(&e))?;
    stream
        .dyn_into::<MediaStream>()
        .map_err(|_| "The camera gave no video.".to_string())
}

fn camera_error(e: &JsValue) -> String {
    let name = Reflect::get(e, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_default();
    match name.as_str() {
        "NotAllowedError" | "SecurityError" => "Camera access was denied. To use webcam mode, allow this page to \
                                                 use the camera (in the browser's site settings), then start again."
            .into(),
        "NotFoundError" | "OverconstrainedError" => {
            "No camera was found. Connect one and start again, or analyse photos instead.".into()
        }
        "NotReadableError" | "AbortError" => {
            "The camera could not be started: another app may be using it.".into()
        }
        _ => format!("The camera could not be started ({}).", js_error_text(e)),
    }
}
