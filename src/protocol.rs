//! The inference worker protocol (`docs/worker-protocol.md`) in one place: the
//! message kinds, and building and reading every message, for both sides (the app in
//! `src/app/worker.rs`, the workers in `src/bin/cpu-worker.rs` and `gpu-worker/`).
//!
//! It uses nothing but `wasm-bindgen` and `js-sys`, and only what both their versions
//! have, because the GPU worker is its own crate pinned to older ones (wonnx's wgpu
//! needs them): it includes this same file with `#[path]`.

use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

/// The `kind` of each message.
pub mod kind {
    /// Worker -> app, once at start-up.
    pub const READY: &str = "ready";
    pub const UNAVAILABLE: &str = "unavailable";
    /// App -> worker, and the worker's answers.
    pub const LOAD: &str = "load";
    pub const LOADED: &str = "loaded";
    pub const RUN: &str = "run";
    pub const RESULT: &str = "result";
    pub const ERROR: &str = "error";
}

/// A named f32 tensor as it crosses between the app and a worker.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

// ---------------------------------------------------------------------------
// Building messages. Each returns the message and the buffers to transfer with it.

/// `{ kind: "ready", backend, detail }`
pub fn ready(backend: &str, detail: &str) -> JsValue {
    object(&[
        ("kind", kind::READY.into()),
        ("backend", backend.into()),
        ("detail", detail.into()),
    ])
}

/// `{ kind: "unavailable", backend, message }`
pub fn unavailable(backend: &str, message: &str) -> JsValue {
    object(&[
        ("kind", kind::UNAVAILABLE.into()),
        ("backend", backend.into()),
        ("message", message.into()),
    ])
}

/// `{ kind: "load", id, name, bytes: ArrayBuffer }`, the buffer transferred.
pub fn load(id: u32, name: &str, bytes: &[u8]) -> (JsValue, Array) {
    let buffer = Uint8Array::from(bytes).buffer();
    let message = object(&[
        ("kind", kind::LOAD.into()),
        ("id", id.into()),
        ("name", name.into()),
        ("bytes", buffer.clone().into()),
    ]);
    (message, Array::of1(&buffer))
}

/// `{ kind: "loaded", id, name, ms }`
pub fn loaded(id: f64, name: &str, ms: f64) -> JsValue {
    object(&[
        ("kind", kind::LOADED.into()),
        ("id", id.into()),
        ("name", name.into()),
        ("ms", ms.into()),
    ])
}

/// `{ kind: "run", id, name, inputs: [tensor], outputs: [name] }`, the inputs' buffers
/// transferred.
pub fn run(id: u32, name: &str, inputs: &[Tensor], outputs: &[&str]) -> (JsValue, Array) {
    let (inputs, transfer) = tensors(inputs);
    let wanted: Array = outputs.iter().map(|&o| JsValue::from_str(o)).collect();
    let message = object(&[
        ("kind", kind::RUN.into()),
        ("id", id.into()),
        ("name", name.into()),
        ("inputs", inputs.into()),
        ("outputs", wanted.into()),
    ]);
    (message, transfer)
}

/// `{ kind: "result", id, outputs: [tensor], ms }`, the outputs' buffers transferred.
pub fn result(id: f64, outputs: &[Tensor], ms: f64) -> (JsValue, Array) {
    let (list, transfer) = tensors(outputs);
    let message = object(&[
        ("kind", kind::RESULT.into()),
        ("id", id.into()),
        ("outputs", list.into()),
        ("ms", ms.into()),
    ]);
    (message, transfer)
}

/// `{ kind: "error", id, message }`; `id` is null for an error that belongs to no
/// request (the worker could not start).
pub fn error(id: Option<f64>, message: &str) -> JsValue {
    let id = id.map_or(JsValue::NULL, JsValue::from);
    object(&[
        ("kind", kind::ERROR.into()),
        ("id", id),
        ("message", message.into()),
    ])
}

/// An error marked `fatal: true`: the worker crashed and will answer nothing again.
pub fn fatal(id: Option<f64>, message: &str) -> JsValue {
    let reply = error(id, message);
    let _ = Reflect::set(&reply, &"fatal".into(), &JsValue::TRUE);
    reply
}

fn tensors(list: &[Tensor]) -> (Array, Array) {
    let out = Array::new();
    let transfer = Array::new();
    for t in list {
        let data = Float32Array::from(t.data.as_slice());
        transfer.push(&data.buffer());
        let shape: Array = t.shape.iter().map(|&d| JsValue::from(d as f64)).collect();
        out.push(&object(&[
            ("name", t.name.as_str().into()),
            ("shape", shape.into()),
            ("data", data.into()),
        ]));
    }
    (out, transfer)
}

// ---------------------------------------------------------------------------
// Reading messages. Every field is checked; a wrong one is a sentence, never a panic.

/// The message's `kind` ("" when it has none).
pub fn kind_of(message: &JsValue) -> String {
    text(message, "kind").unwrap_or_default()
}

/// The message's numeric `id`, if it has one.
pub fn id_of(message: &JsValue) -> Option<f64> {
    number(message, "id")
}

/// Whether a reply is a `fatal` error.
pub fn is_fatal(message: &JsValue) -> bool {
    kind_of(message) == kind::ERROR && get(message, "fatal").is_truthy()
}

/// A string field.
pub fn text(message: &JsValue, key: &str) -> Option<String> {
    get(message, key).as_string()
}

/// A number field.
pub fn number(message: &JsValue, key: &str) -> Option<f64> {
    get(message, key).as_f64()
}

/// A field holding a model file: an ArrayBuffer (or a Uint8Array view of one).
pub fn bytes(message: &JsValue, key: &str) -> Result<Vec<u8>, String> {
    let value = get(message, key);
    if value.is_instance_of::<js_sys::ArrayBuffer>() {
        Ok(Uint8Array::new(&value).to_vec())
    } else if let Some(view) = value.dyn_ref::<Uint8Array>() {
        Ok(view.to_vec())
    } else {
        Err(format!("`{key}` must be an ArrayBuffer"))
    }
}

/// A field holding a list of strings.
pub fn strings(message: &JsValue, key: &str) -> Result<Vec<String>, String> {
    let list = get(message, key);
    if !Array::is_array(&list) {
        return Err(format!("`{key}` must be an array of names"));
    }
    Array::from(&list)
        .iter()
        .map(|v| {
            v.as_string()
                .ok_or_else(|| format!("`{key}` must hold names"))
        })
        .collect()
}

/// A field holding a list of `{ name, shape, data: Float32Array }`.
pub fn tensor_list(message: &JsValue, key: &str) -> Result<Vec<Tensor>, String> {
    let list = get(message, key);
    if !Array::is_array(&list) {
        return Err(format!("`{key}` must be an array of tensors"));
    }
    Array::from(&list)
        .iter()
        .enumerate()
        .map(|(i, t)| tensor(&t).map_err(|e| format!("{key}[{i}]: {e}")))
        .collect()
}

/// One `{ name, shape, data: Float32Array }`: a shape of whole non-negative sizes
/// whose product is the number of values.
pub fn tensor(value: &JsValue) -> Result<Tensor, String> {
    let name = text(value, "name").ok_or("no `name`")?;
    let shape = get(value, "shape");
    if !Array::is_array(&shape) {
        return Err(format!("`{name}` has no `shape` array"));
    }
    let shape = Array::from(&shape)
        .iter()
        .map(|d| {
            d.as_f64()
                .filter(|d| *d >= 0.0 && d.fract() == 0.0 && *d <= u32::MAX as f64)
                .map(|d| d as usize)
        })
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| format!("`{name}` has a shape that is not a list of sizes"))?;
    let data = get(value, "data")
        .dyn_into::<Float32Array>()
        .map_err(|_| format!("`{name}` has no Float32Array `data`"))?
        .to_vec();
    let expected = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if expected != Some(data.len()) {
        return Err(format!(
            "`{name}`: shape {shape:?} does not hold {} values",
            data.len()
        ));
    }
    Ok(Tensor { name, shape, data })
}

/// A plain object with these fields.
pub fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in fields {
        // Setting a property of a fresh plain object cannot fail.
        let _ = Reflect::set(&object, &JsValue::from_str(key), value);
    }
    object.into()
}

/// A field of an object (`undefined` for anything else).
pub fn get(target: &JsValue, key: &str) -> JsValue {
    if !target.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}
