//! The app's side of one inference worker (`docs/worker-protocol.md`): start it, wait
//! for its announcement, then send `load` and `run` requests and await their replies.
//! Both workers (WebGPU and CPU) speak the same protocol ([`mien::protocol`] builds and
//! reads every message), so one type serves both.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Array, Function, Promise};
use mien::protocol::{self, kind, Tensor};
use mien::tensor::TensorF32;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use super::files::js_error_text;

/// Why a worker could not do what was asked, by kind, so that a caller acts on the kind
/// (fall back without alarm, start a new worker, or only report) without matching words.
/// Its text is the sentence shown to the person.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkerError {
    /// The worker said its engine is not offered here (no WebGPU, no adapter): the
    /// normal fallback to the other engine, information rather than a fault.
    Unavailable(String),
    /// The worker crashed, could not be started, or stopped answering: it will answer
    /// nothing again; a new worker may succeed.
    Crashed(String),
    /// The worker answered this request with an error (e.g. a model it cannot load or
    /// run); it goes on answering.
    Failed(String),
    /// The worker's reply broke the protocol or the request (an output missing or
    /// malformed): retrying will not help.
    BadReply(String),
}

impl std::fmt::Display for WorkerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerError::Unavailable(why)
            | WorkerError::Crashed(why)
            | WorkerError::Failed(why)
            | WorkerError::BadReply(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for WorkerError {}

/// Which worker runs the models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// `gpu-worker/`: wonnx on WebGPU.
    Gpu,
    /// `src/bin/cpu-worker.rs`: tract on the CPU.
    Cpu,
}

impl EngineKind {
    /// The protocol's `backend` name, also used in the page's data attributes.
    pub fn code(self) -> &'static str {
        match self {
            EngineKind::Gpu => "webgpu",
            EngineKind::Cpu => "cpu",
        }
    }

    /// For sentences: "running on the GPU (WebGPU)".
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Gpu => "the GPU (WebGPU)",
            EngineKind::Cpu => "the CPU",
        }
    }

    /// The worker's start-up script, as trunk writes it into `dist/`.
    fn script(self) -> &'static str {
        match self {
            EngineKind::Gpu => "./mien-gpu-worker_loader.js",
            EngineKind::Cpu => "./cpu-worker-loader.js",
        }
    }
}

/// How long a worker may take to announce itself, load a model, or run one. Generous:
/// SwiftShader (WebGPU on the CPU) on a busy 2-core machine compiles shaders slowly.
const START_MS: i32 = 60_000;
const LOAD_MS: i32 = 180_000;
const RUN_MS: i32 = 90_000;

/// Replies not yet received, and whether the worker can still answer.
#[derive(Default)]
struct Inbox {
    /// `resolve` of each request's promise, by request id.
    waiting: HashMap<u32, Function>,
    /// `resolve` of the start-up announcement's promise.
    announcement: Option<Function>,
    /// Why the worker can no longer answer, once it cannot.
    dead: Option<String>,
}

impl Inbox {
    /// Marks the worker dead and answers everything still waiting with an error.
    fn die(&mut self, why: &str) {
        if self.dead.is_none() {
            self.dead = Some(why.to_string());
        }
        let reply = protocol::error(None, why);
        let waiting: Vec<Function> = self
            .waiting
            .drain()
            .map(|(_, f)| f)
            .chain(self.announcement.take())
            .collect();
        for resolve in waiting {
            let _ = resolve.call1(&JsValue::NULL, &reply);
        }
    }
}

/// One model run's outputs (in the order asked for) and the worker's own timing.
pub struct Ran {
    pub outputs: Vec<TensorF32>,
    /// Milliseconds the worker spent, without messaging.
    pub worker_ms: f64,
}

/// A started inference worker.
pub struct Engine {
    kind: EngineKind,
    /// The worker's description of itself (e.g. its GPU adapter).
    detail: String,
    worker: Worker,
    next_id: Cell<u32>,
    inbox: Rc<RefCell<Inbox>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

impl Engine {
    /// Starts the worker and waits for it to say it is ready. Err: why this engine
    /// cannot be used: [`WorkerError::Unavailable`] when the worker says its engine is
    /// not offered here, [`WorkerError::Crashed`] for a worker that could not be started
    /// or loaded, or did not answer in time.
    pub async fn start(kind: EngineKind) -> Result<Engine, WorkerError> {
        let worker = Worker::new(kind.script()).map_err(|e| {
            WorkerError::Crashed(format!(
                "the browser refused to start its worker ({})",
                js_error_text(&e)
            ))
        })?;
        let inbox = Rc::new(RefCell::new(Inbox::default()));

        let messages = inbox.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            deliver(&messages, event.data());
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));

        // Fires when the worker's script or wasm cannot be loaded or compiled.
        let errors = inbox.clone();
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |event: ErrorEvent| {
            event.prevent_default();
            let message = event.message();
            let why = if message.is_empty() {
                "its worker could not be started".to_string()
            } else {
                format!("its worker failed: {message}")
            };
            errors.borrow_mut().die(&why);
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));

        let mut resolver = None;
        let announced = Promise::new(&mut |resolve, _| resolver = Some(resolve));
        inbox.borrow_mut().announcement = resolver;
        let mut engine = Engine {
            kind,
            detail: String::new(),
            worker,
            next_id: Cell::new(1),
            inbox,
            _on_message: on_message,
            _on_error: on_error,
        };

        let reply = wait(announced, START_MS, "its worker did not start in time").await;
        match protocol::kind_of(&reply).as_str() {
            kind::READY => {
                engine.detail = protocol::text(&reply, "detail").unwrap_or_default();
                Ok(engine)
            }
            kind::UNAVAILABLE => Err(WorkerError::Unavailable(error_text(&reply))),
            _ => Err(WorkerError::Crashed(error_text(&reply))),
        }
    }

    pub fn kind(&self) -> EngineKind {
        self.kind
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// Why the worker can no longer answer (it crashed, or stopped answering).
    pub fn dead(&self) -> Option<String> {
        self.inbox.borrow().dead.clone()
    }

    /// Loads an ONNX model under `name`; Ok: the worker's milliseconds.
    pub async fn load(&self, name: &str, bytes: &[u8]) -> Result<f64, WorkerError> {
        let reply = self
            .request(|id| protocol::load(id, name, bytes), LOAD_MS)
            .await?;
        Ok(protocol::number(&reply, "ms").unwrap_or(f64::NAN))
    }

    /// Runs the model loaded as `name` on named inputs; the outputs come back in the
    /// order of `outputs`, checked against their shapes.
    pub async fn run(
        &self,
        name: &str,
        inputs: &[(&str, &TensorF32)],
        outputs: &[&str],
    ) -> Result<Ran, WorkerError> {
        let inputs: Vec<Tensor> = inputs
            .iter()
            .map(|(input, t)| Tensor {
                name: input.to_string(),
                shape: t.shape.clone(),
                data: t.data.clone(),
            })
            .collect();
        let reply = self
            .request(|id| protocol::run(id, name, &inputs, outputs), RUN_MS)
            .await?;
        let mut got = protocol::tensor_list(&reply, "outputs").map_err(|e| {
            WorkerError::BadReply(format!(
                "the {} worker's reply to `{name}`: {e}",
                self.kind.code()
            ))
        })?;
        let tensors = outputs
            .iter()
            .map(|want| {
                let at = got.iter().position(|o| o.name == *want).ok_or_else(|| {
                    WorkerError::BadReply(format!("model `{name}` gave no output `{want}`"))
                })?;
                let t = got.swap_remove(at);
                Ok(TensorF32 {
                    shape: t.shape,
                    data: t.data,
                })
            })
            .collect::<Result<Vec<_>, WorkerError>>()?;
        Ok(Ran {
            outputs: tensors,
            worker_ms: protocol::number(&reply, "ms").unwrap_or(f64::NAN),
        })
    }

    /// Sends one request and waits for its reply; Err: the worker's error, as
    /// [`WorkerError::Crashed`] when the worker can no longer answer (it crashed before
    /// or while answering, or did not answer in time), else [`WorkerError::Failed`].
    async fn request(
        &self,
        build: impl FnOnce(u32) -> (JsValue, Array),
        timeout_ms: i32,
    ) -> Result<JsValue, WorkerError> {
        if let Some(why) = self.dead() {
            return Err(WorkerError::Crashed(why));
        }
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        let (request, transfer) = build(id);
        let mut resolver = None;
        let replied = Promise::new(&mut |resolve, _| resolver = Some(resolve));
        if let Some(resolve) = resolver {
            self.inbox.borrow_mut().waiting.insert(id, resolve);
        }
        if let Err(e) = self.worker.post_message_with_transfer(&request, &transfer) {
            self.inbox.borrow_mut().waiting.remove(&id);
            return Err(WorkerError::Failed(format!(
                "cannot send the request to the worker ({})",
                js_error_text(&e)
            )));
        }
        let reply = wait(replied, timeout_ms, "").await;
        if self.inbox.borrow_mut().waiting.remove(&id).is_some() {
            // Timed out: whatever the worker is doing, it can no longer be trusted.
            let why = format!("the {} worker stopped answering", self.kind.code());
            self.inbox.borrow_mut().die(&why);
            self.worker.terminate();
            return Err(WorkerError::Crashed(why));
        }
        match protocol::kind_of(&reply).as_str() {
            // A crash answers the request in progress (a `fatal` error) or everything
            // still waiting (the worker's error event): either way the inbox is dead.
            kind::ERROR if protocol::is_fatal(&reply) || self.dead().is_some() => {
                Err(WorkerError::Crashed(error_text(&reply)))
            }
            kind::ERROR => Err(WorkerError::Failed(error_text(&reply))),
            _ => Ok(reply),
        }
    }
}

/// Hands a message from the worker to whoever waits for it.
fn deliver(inbox: &Rc<RefCell<Inbox>>, data: JsValue) {
    let kind = protocol::kind_of(&data);
    let id = protocol::id_of(&data);
    // A `fatal` error: the worker crashed and will answer nothing again.
    let fatal = protocol::is_fatal(&data);
    let resolve = {
        let mut inbox = inbox.borrow_mut();
        match (kind.as_str(), id) {
            (kind::READY | kind::UNAVAILABLE, _) => inbox.announcement.take(),
            (_, Some(id)) if id >= 0.0 && id <= u32::MAX as f64 => {
                inbox.waiting.remove(&(id as u32))
            }
            (kind::ERROR, None) => {
                // An error that belongs to no request: the worker crashed or cannot start.
                inbox.die(&error_text(&data));
                None
            }
            _ => None,
        }
    };
    if let Some(resolve) = resolve {
        let _ = resolve.call1(&JsValue::NULL, &data);
    }
    if fatal {
        inbox.borrow_mut().die(&error_text(&data));
    }
}

/// Waits for `promise`, or `ms` milliseconds; a timeout gives an error object with
/// `why` (or, with an empty `why`, `undefined`, which the caller tells apart).
async fn wait(promise: Promise, ms: i32, why: &str) -> JsValue {
    let why = why.to_string();
    let window = web_sys::window();
    let mut timer = None;
    let timeout = Promise::new(&mut |resolve, _| {
        let value = if why.is_empty() {
            JsValue::UNDEFINED
        } else {
            protocol::error(None, &why)
        };
        if let Some(window) = &window {
            timer = window
                .set_timeout_with_callback_and_timeout_and_arguments_1(&resolve, ms, &value)
                .ok();
        }
    });
    let reply = JsFuture::from(Promise::race(&Array::of2(&promise, &timeout)))
        .await
        .unwrap_or(JsValue::UNDEFINED);
    // Answered (or timed out): the timer is no longer needed.
    if let (Some(window), Some(timer)) = (window, timer) {
        window.clear_timeout_with_handle(timer);
    }
    reply
}

fn error_text(reply: &JsValue) -> String {
    protocol::text(reply, "message")
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "the worker gave no answer".to_string())
}
