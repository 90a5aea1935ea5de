//! mien's WebGPU inference worker (docs/worker-protocol.md): probes `navigator.gpu`,
//! then serves `load` and `run` requests with wonnx, one at a time, in arrival order.
//! Knows nothing of faces or expressions. Every failure is answered as an `error`.

mod gpu;
mod model;
/// The protocol's messages: the same file the app and the CPU worker use (the app's
/// half of it is unused here).
#[allow(dead_code)]
#[path = "../../src/protocol.rs"]
mod protocol;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use js_sys::Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use model::Model;
use protocol::kind;

const BACKEND: &str = "webgpu";

struct Loaded {
    model: Rc<Model>,
    gpu_errors: gpu::SharedLog,
}

thread_local! {
    /// Requests waiting their turn; the first entry is processed by `serve`.
    static QUEUE: RefCell<VecDeque<JsValue>> = const { RefCell::new(VecDeque::new()) };
    /// True while `serve` runs (it starts out running: the probe comes first).
    static BUSY: Cell<bool> = const { Cell::new(true) };
    /// Ok once an adapter was found; else why WebGPU cannot be used.
    static AVAILABLE: RefCell<Result<(), String>> = RefCell::new(Err("WebGPU is still starting".into()));
    static MODELS: RefCell<HashMap<String, Loaded>> = RefCell::new(HashMap::new());
    /// The id of the request being processed, for the panic hook.
    static CURRENT_ID: Cell<Option<f64>> = const { Cell::new(None) };
    /// Set by the panic hook: after a panic, wasm state cannot be trusted.
    static CRASHED: Cell<bool> = const { Cell::new(false) };
}

fn main() {
    std::panic::set_hook(Box::new(on_panic));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|event: MessageEvent| {
        if CRASHED.with(Cell::get) {
            let id = protocol::id_of(&event.data());
            post(&protocol::fatal(
                id,
                "the WebGPU worker crashed earlier and can no longer run models",
            ));
            return;
        }
        QUEUE.with(|q| q.borrow_mut().push_back(event.data()));
        if !BUSY.with(|b| b.replace(true)) {
            wasm_bindgen_futures::spawn_local(serve());
        }
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();

    wasm_bindgen_futures::spawn_local(async {
        let reply = match gpu::probe().await {
            Ok(detail) => {
                AVAILABLE.with(|a| *a.borrow_mut() = Ok(()));
                protocol::ready(BACKEND, &detail)
            }
            Err(message) => {
                AVAILABLE.with(|a| *a.borrow_mut() = Err(message.clone()));
                protocol::unavailable(BACKEND, &message)
            }
        };
        post(&reply);
        serve().await;
    });
}

/// Answers queued requests in order until the queue is empty.
async fn serve() {
    while let Some(request) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
        let id = protocol::id_of(&request);
        CURRENT_ID.with(|c| c.set(id));
        let reply = match handle(&request).await {
            Ok(reply) => reply,
            Err(message) => protocol::error(id, &message),
        };
        CURRENT_ID.with(|c| c.set(None));
        post(&reply);
    }
    BUSY.with(|b| b.set(false));
}

async fn handle(request: &JsValue) -> Result<JsValue, String> {
    let kind = string(request, "kind")?;
    if kind != kind::LOAD && kind != kind::RUN {
        return Err(format!("unknown request kind '{kind}'"));
    }
    let id = protocol::id_of(request).ok_or("the request has no numeric 'id'")?;
    AVAILABLE.with(|a| a.borrow().clone())?;
    let name = string(request, "name")?;
    let started = now_ms();
    match kind.as_str() {
        kind::LOAD => {
            let bytes = protocol::bytes(request, "bytes")?;
            // A model loaded under the same name replaces the old one; free it first.
            MODELS.with(|m| m.borrow_mut().remove(&name));
            let gpu_errors = gpu::SharedLog::default();
            gpu::set_current_log(Some(gpu_errors.clone()));
            let model = Model::load(&bytes).await;
            gpu::set_current_log(None);
            let model = model.map_err(|e| format!("cannot load model '{name}': {e}"))?;
            gpu::errors(&gpu_errors)
                .await
                .map_err(|e| format!("cannot load model '{name}': {e}"))?;
            MODELS.with(|m| {
                m.borrow_mut().insert(
                    name.clone(),
                    Loaded {
                        model: Rc::new(model),
                        gpu_errors,
                    },
                )
            });
            Ok(protocol::loaded(id, &name, now_ms() - started))
        }
        _ => {
            let (model, gpu_errors) = MODELS
                .with(|m| {
                    m.borrow()
                        .get(&name)
                        .map(|l| (l.model.clone(), l.gpu_errors.clone()))
                })
                .ok_or_else(|| format!("no model named '{name}' is loaded"))?;
            let inputs = protocol::tensor_list(request, "inputs")?;
            let wanted = protocol::strings(request, "outputs")?;
            let outputs = model
                .run(inputs, &wanted)
                .await
                .map_err(|e| format!("model '{name}': {e}"))?;
            gpu::errors(&gpu_errors)
                .await
                .map_err(|e| format!("model '{name}': {e}"))?;
            let (reply, _) = protocol::result(id, &outputs, now_ms() - started);
            Ok(reply)
        }
    }
}

/// Posts a fatal error for the request in progress (without an id if none is: the
/// worker is dead, which is not the same as WebGPU being unavailable) and for every
/// queued one, so that the app never waits for an answer that cannot come.
fn on_panic(info: &std::panic::PanicHookInfo) {
    CRASHED.with(|c| c.set(true));
    let message = format!("the WebGPU worker crashed: {info}");
    web_sys::console::error_1(&message.clone().into());
    match CURRENT_ID.with(Cell::get) {
        Some(id) => post(&protocol::fatal(Some(id), &message)),
        None => post(&protocol::fatal(None, &message)),
    }
    // Requests still queued would never be served now.
    let queued = QUEUE.with(|q| {
        q.try_borrow_mut()
            .map(|mut q| q.drain(..).collect::<Vec<_>>())
    });
    for request in queued.unwrap_or_default() {
        post(&protocol::fatal(protocol::id_of(&request), &message));
    }
}

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// Posts a reply, handing over its tensors' buffers instead of copying them.
fn post(message: &JsValue) {
    let transfer = Array::new();
    let outputs = protocol::get(message, "outputs");
    if Array::is_array(&outputs) {
        for output in Array::from(&outputs).iter() {
            if let Ok(data) = protocol::get(&output, "data").dyn_into::<js_sys::Float32Array>() {
                transfer.push(&data.buffer());
            }
        }
    }
    if let Err(e) = scope().post_message_with_transfer(message, &transfer) {
        web_sys::console::error_1(
            &format!("the WebGPU worker cannot reply: {}", gpu::js_message(&e)).into(),
        );
    }
}

fn string(target: &JsValue, key: &str) -> Result<String, String> {
    protocol::text(target, key).ok_or_else(|| format!("the request has no string '{key}'"))
}

fn now_ms() -> f64 {
    let performance = protocol::get(&js_sys::global(), "performance");
    protocol::get(&performance, "now")
        .dyn_into::<js_sys::Function>()
        .ok()
        .and_then(|now| now.call0(&performance).ok())
        .and_then(|t| t.as_f64())
        .unwrap_or_else(js_sys::Date::now)
}
