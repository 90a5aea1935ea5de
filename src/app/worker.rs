//! Starting the CPU inference worker (`src/bin/cpu-worker.rs`) and following its
//! start-up messages (`docs/worker-protocol.md`).

use js_sys::Reflect;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use super::files::js_error_text;

/// The worker's start-up script (`public/cpu-worker-loader.js`).
const CPU_WORKER_URL: &str = "cpu-worker-loader.js";

/// What a worker said about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendState {
    Starting,
    Ready { backend: String, detail: String },
    Unavailable { backend: String, message: String },
    Failed(String),
}

/// A running worker and the handlers that keep listening to it.
pub struct CpuWorker {
    #[allow(dead_code)]
    worker: Worker,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

impl CpuWorker {
    /// Starts the worker; its start-up messages land in `state`.
    pub fn start(state: RwSignal<BackendState>) -> Result<Self, String> {
        let worker = Worker::new(CPU_WORKER_URL)
            .map_err(|e| format!("the browser refused to start it ({})", js_error_text(&e)))?;

        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(next) = startup_state(&event.data()) {
                state.set(next);
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));

        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |event: ErrorEvent| {
            let message = event.message();
            let message = if message.is_empty() {
                "its script could not run".to_string()
            } else {
                message
            };
            state.set(BackendState::Failed(message));
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));

        Ok(CpuWorker {
            worker,
            _on_message: on_message,
            _on_error: on_error,
        })
    }
}

/// The new state announced by a message, if it announces one: `ready`,
/// `unavailable`, or an `error` that belongs to no request (a crash).
fn startup_state(data: &JsValue) -> Option<BackendState> {
    let text = |key: &str| {
        Reflect::get(data, &key.into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let has_id = Reflect::get(data, &"id".into()).is_ok_and(|v| v.as_f64().is_some());
    match text("kind").as_str() {
        "ready" => Some(BackendState::Ready {
            backend: text("backend"),
            detail: text("detail"),
        }),
        "unavailable" => Some(BackendState::Unavailable {
            backend: text("backend"),
            message: text("message"),
        }),
        "error" if !has_id => Some(BackendState::Failed(text("message"))),
        _ => None,
    }
}
