//! mien's WebGPU inference worker (docs/worker-protocol.md): probes `navigator.gpu`,
//! then serves `load` and `run` requests with wonnx, one at a time, in arrival order.
//! Knows nothing of faces or expressions. Every failure is answered as an `error`.

mod gpu;
mod model;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use model::{Model, Tensor};

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
            let id = get(&event.data(), "id").ok().and_then(|v| v.as_f64());
            post(&error_reply(
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
                object(&[
                    ("kind", "ready".into()),
                    ("backend", BACKEND.into()),
                    ("detail", detail.into()),
                ])
            }
            Err(message) => {
                AVAILABLE.with(|a| *a.borrow_mut() = Err(message.clone()));
                unavailable_reply(&message)
            }
        };
        post(&reply);
        serve().await;
    });
}

/// Answers queued requests in order until the queue is empty.
async fn serve() {
    while let Some(request) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
        let id = get(&request, "id").ok().and_then(|v| v.as_f64());
        CURRENT_ID.with(|c| c.set(id));
        let reply = match handle(&request).await {
            Ok(reply) => reply,
            Err(message) => error_reply(id, &message),
        };
        CURRENT_ID.with(|c| c.set(None));
        post(&reply);
    }
    BUSY.with(|b| b.set(false));
}

async fn handle(request: &JsValue) -> Result<JsValue, String> {
    let kind = string(request, "kind")?;
    if kind != "load" && kind != "run" {
        return Err(format!("unknown request kind '{kind}'"));
    }
    let id = get(request, "id")
        .ok()
        .and_then(|v| v.as_f64())
        .ok_or("the request has no numeric 'id'")?;
    AVAILABLE.with(|a| a.borrow().clone())?;
    let name = string(request, "name")?;
    let started = now_ms();
    match kind.as_str() {
        "load" => {
            let bytes = get(request, "bytes").map_err(|_| "the load request has no 'bytes'")?;
            if !bytes.is_instance_of::<js_sys::ArrayBuffer>()
                && !bytes.is_instance_of::<Uint8Array>()
            {
                return Err("the load request's 'bytes' is not an ArrayBuffer".into());
            }
            let bytes = Uint8Array::new(&bytes).to_vec();
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
            Ok(object(&[
                ("kind", "loaded".into()),
                ("id", id.into()),
                ("name", name.into()),
                ("ms", (now_ms() - started).into()),
            ]))
        }
        _ => {
            let (model, gpu_errors) = MODELS
                .with(|m| {
                    m.borrow()
                        .get(&name)
                        .map(|l| (l.model.clone(), l.gpu_errors.clone()))
                })
                .ok_or_else(|| format!("no model named '{name}' is loaded"))?;
            let inputs = read_inputs(request)?;
            let wanted = read_strings(request, "outputs")?;
            let outputs = model
                .run(inputs, &wanted)
                .await
                .map_err(|e| format!("model '{name}': {e}"))?;
            gpu::errors(&gpu_errors)
                .await
                .map_err(|e| format!("model '{name}': {e}"))?;
            let list = Array::new();
            for t in outputs {
                let shape: Array = t.shape.iter().map(|&d| JsValue::from(d as f64)).collect();
                let data = Float32Array::from(t.data.as_slice());
                list.push(&object(&[
                    ("name", t.name.into()),
                    ("shape", shape.into()),
                    ("data", data.into()),
                ]));
            }
            Ok(object(&[
                ("kind", "result".into()),
                ("id", id.into()),
                ("outputs", list.into()),
                ("ms", (now_ms() - started).into()),
            ]))
        }
    }
}

fn read_inputs(request: &JsValue) -> Result<Vec<Tensor>, String> {
    let list = get(request, "inputs")
        .ok()
        .filter(Array::is_array)
        .ok_or("the run request has no 'inputs' array")?;
    Array::from(&list)
        .iter()
        .map(|input| {
            let name = string(&input, "name")?;
            let shape = get(&input, "shape")
                .ok()
                .filter(Array::is_array)
                .map(|s| Array::from(&s));
            let shape = shape
                .ok_or_else(|| format!("input '{name}' has no 'shape' array"))?
                .iter()
                .map(|d| {
                    d.as_f64()
                        .filter(|d| *d >= 0.0 && d.fract() == 0.0)
                        .map(|d| d as usize)
                })
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| format!("input '{name}' has a shape that is not a list of sizes"))?;
            let data = get(&input, "data")
                .ok()
                .and_then(|d| d.dyn_into::<Float32Array>().ok())
                .ok_or_else(|| format!("input '{name}' has no Float32Array 'data'"))?;
            Ok(Tensor {
                name,
                shape,
                data: data.to_vec(),
            })
        })
        .collect()
}

fn read_strings(request: &JsValue, key: &str) -> Result<Vec<String>, String> {
    let list = get(request, key)
        .ok()
        .filter(Array::is_array)
        .ok_or(format!("the request has no '{key}' array"))?;
    Array::from(&list)
        .iter()
        .map(|v| v.as_string().ok_or(format!("'{key}' must hold strings")))
        .collect()
}

/// Posts an error for the request in progress (or `unavailable` if none is) and for
/// every queued one, so that the app never waits for an answer that cannot come.
fn on_panic(info: &std::panic::PanicHookInfo) {
    CRASHED.with(|c| c.set(true));
    let message = format!("the WebGPU worker crashed: {info}");
    web_sys::console::error_1(&message.clone().into());
    match CURRENT_ID.with(Cell::get) {
        Some(id) => post(&error_reply(Some(id), &message)),
        None => post(&unavailable_reply(&message)),
    }
    // Requests still queued would never be served now.
    let queued = QUEUE.with(|q| {
        q.try_borrow_mut()
            .map(|mut q| q.drain(..).collect::<Vec<_>>())
    });
    for request in queued.unwrap_or_default() {
        let id = get(&request, "id").ok().and_then(|v| v.as_f64());
        post(&error_reply(id, &message));
    }
}

fn error_reply(id: Option<f64>, message: &str) -> JsValue {
    let id = id.map(JsValue::from).unwrap_or(JsValue::NULL);
    object(&[
        ("kind", "error".into()),
        ("id", id),
        ("message", message.into()),
    ])
}

fn unavailable_reply(message: &str) -> JsValue {
    object(&[
        ("kind", "unavailable".into()),
        ("backend", BACKEND.into()),
        ("message", message.into()),
    ])
}

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// Posts a reply, handing over its tensors' buffers instead of copying them.
fn post(message: &JsValue) {
    let transfer = Array::new();
    if let Ok(outputs) = get(message, "outputs") {
        if Array::is_array(&outputs) {
            for output in Array::from(&outputs).iter() {
                if let Ok(data) = get(&output, "data").and_then(|d| d.dyn_into::<Float32Array>()) {
                    transfer.push(&data.buffer());
                }
            }
        }
    }
    if let Err(e) = scope().post_message_with_transfer(message, &transfer) {
        web_sys::console::error_1(
            &format!("the WebGPU worker cannot reply: {}", gpu::js_message(&e)).into(),
        );
    }
}

fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in fields {
        let _ = Reflect::set(&object, &(*key).into(), value);
    }
    object.into()
}

fn get(target: &JsValue, key: &str) -> Result<JsValue, JsValue> {
    match target.is_object() {
        true => Reflect::get(target, &key.into()),
        false => Err(JsValue::UNDEFINED),
    }
}

fn string(target: &JsValue, key: &str) -> Result<String, String> {
    get(target, key)
        .ok()
        .and_then(|v| v.as_string())
        .ok_or_else(|| format!("the request has no string '{key}'"))
}

fn now_ms() -> f64 {
    get(&js_sys::global(), "performance")
        .and_then(|p| get(&p, "now")?.dyn_into::<js_sys::Function>()?.call0(&p))
        .ok()
        .and_then(|t| t.as_f64())
        .unwrap_or_else(js_sys::Date::now)
}
