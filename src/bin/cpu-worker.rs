//! The CPU inference worker: a Web Worker that runs ONNX models with tract
//! ([`mien::cpu::CpuModel`]) and speaks the protocol of `docs/worker-protocol.md`.
//!
//! It knows nothing about faces or expressions: ONNX bytes and f32 tensors in, f32
//! tensors out. Every failure is answered with `{ kind: "error", id, message }`.
//! A panic cannot be caught on wasm32 (panics abort there), so the panic hook reports
//! it as an error message before the worker stops answering.

#[cfg(target_arch = "wasm32")]
fn main() {
    worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    println!(
        "cpu-worker is mien's in-browser CPU inference worker; trunk builds it for wasm32 \
         (run `make serve` and open http://127.0.0.1:8080)."
    );
}

#[cfg(target_arch = "wasm32")]
mod worker {
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;

    use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
    use mien::cpu::{CpuModel, TensorF32};
    use mien::onnx::ModelProto;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

    /// A loaded model and the names of its graph inputs and outputs, in the order
    /// tract takes and returns them.
    struct Loaded {
        model: CpuModel,
        inputs: Vec<String>,
        outputs: Vec<String>,
    }

    thread_local! {
        static MODELS: RefCell<HashMap<String, Loaded>> = RefCell::new(HashMap::new());
        /// The request being handled, so a panic can still be answered.
        static CURRENT_ID: Cell<Option<f64>> = const { Cell::new(None) };
    }

    fn scope() -> DedicatedWorkerGlobalScope {
        js_sys::global().unchecked_into()
    }

    pub fn start() {
        std::panic::set_hook(Box::new(|info| {
            let message =
                format!("the CPU worker crashed and must be restarted (reload the page): {info}");
            web_sys::console::error_1(&JsValue::from_str(&message));
            let id = CURRENT_ID.with(Cell::get);
            post(&error_message(id, &message), &[]);
        }));

        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|event: MessageEvent| {
            let data = event.data();
            let id = get(&data, "id").as_f64();
            CURRENT_ID.with(|c| c.set(id));
            let (reply, transfer) = match handle(&data) {
                Ok(reply) => reply,
                Err(message) => (error_message(id, &message), Vec::new()),
            };
            post(&reply, &transfer);
            CURRENT_ID.with(|c| c.set(None));
        });
        scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // The handler lives as long as the worker.
        on_message.forget();

        let ready = object(&[
            ("kind", "ready".into()),
            ("backend", "cpu".into()),
            ("detail", "tract (WebAssembly, on the CPU)".into()),
        ]);
        post(&ready, &[]);
    }

    fn post(message: &JsValue, transfer: &[JsValue]) {
        let result = if transfer.is_empty() {
            scope().post_message(message)
        } else {
            scope().post_message_with_transfer(message, &transfer.iter().collect::<Array>())
        };
        if let Err(e) = result {
            web_sys::console::error_2(&"cpu-worker: cannot post a message:".into(), &e);
        }
    }

    type Reply = (JsValue, Vec<JsValue>);

    fn handle(data: &JsValue) -> Result<Reply, String> {
        let kind = get(data, "kind")
            .as_string()
            .ok_or("the request has no `kind`")?;
        let id = get(data, "id")
            .as_f64()
            .ok_or_else(|| format!("the `{kind}` request has no numeric `id`"))?;
        let name = get(data, "name")
            .as_string()
            .ok_or_else(|| format!("the `{kind}` request has no model `name`"))?;
        match kind.as_str() {
            "load" => load(id, name, data),
            "run" => run(id, name, data),
            other => Err(format!("unknown request kind `{other}`")),
        }
    }

    fn load(id: f64, name: String, data: &JsValue) -> Result<Reply, String> {
        let bytes = get(data, "bytes");
        if !bytes.is_instance_of::<js_sys::ArrayBuffer>() {
            return Err(format!("loading `{name}`: `bytes` must be an ArrayBuffer"));
        }
        let bytes = Uint8Array::new(&bytes).to_vec();
        let started = now();
        let graph = ModelProto::decode_bytes(&bytes)
            .map_err(|e| format!("loading `{name}`: {e}"))?
            .graph
            .ok_or_else(|| format!("loading `{name}`: the ONNX file has no graph"))?;
        let constants: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs = graph
            .input
            .iter()
            .map(|v| v.name.clone())
            .filter(|n| !constants.contains(&n.as_str()))
            .collect();
        let outputs = graph.output.iter().map(|v| v.name.clone()).collect();
        let model = CpuModel::load(&bytes).map_err(|e| format!("loading `{name}`: {e}"))?;
        let ms = now() - started;
        MODELS.with(|m| {
            m.borrow_mut().insert(
                name.clone(),
                Loaded {
                    model,
                    inputs,
                    outputs,
                },
            )
        });
        let reply = object(&[
            ("kind", "loaded".into()),
            ("id", id.into()),
            ("name", name.into()),
            ("ms", ms.into()),
        ]);
        Ok((reply, Vec::new()))
    }

    fn run(id: f64, name: String, data: &JsValue) -> Result<Reply, String> {
        let given =
            read_inputs(&get(data, "inputs")).map_err(|e| format!("running `{name}`: {e}"))?;
        let wanted = get(data, "outputs");
        if !Array::is_array(&wanted) {
            return Err(format!(
                "running `{name}`: `outputs` must be an array of output names"
            ));
        }
        let wanted: Vec<String> = Array::from(&wanted)
            .iter()
            .map(|v| {
                v.as_string()
                    .ok_or("`outputs` must be an array of output names")
            })
            .collect::<Result<_, _>>()
            .map_err(|e| format!("running `{name}`: {e}"))?;
        let started = now();
        let (outputs, names) = MODELS.with(|m| {
            let models = m.borrow();
            let loaded = models
                .get(&name)
                .ok_or_else(|| format!("running `{name}`: no model of that name is loaded"))?;
            let inputs = order_inputs(given, &loaded.inputs)
                .map_err(|e| format!("running `{name}`: {e}"))?;
            let outputs = loaded
                .model
                .run(&inputs)
                .map_err(|e| format!("running `{name}`: {e}"))?;
            Ok::<_, String>((outputs, loaded.outputs.clone()))
        })?;
        let ms = now() - started;

        let out = Array::new();
        let mut transfer = Vec::new();
        for want in &wanted {
            let index = names.iter().position(|n| n == want).ok_or_else(|| {
                format!("running `{name}`: the model has no output `{want}` (it has {names:?})")
            })?;
            let tensor = outputs
                .get(index)
                .ok_or_else(|| format!("running `{name}`: output `{want}` was not produced"))?;
            let values = Float32Array::from(tensor.data.as_slice());
            transfer.push(values.buffer().into());
            let shape: Array = tensor
                .shape
                .iter()
                .map(|&d| JsValue::from(d as f64))
                .collect();
            out.push(&object(&[
                ("name", want.as_str().into()),
                ("shape", shape.into()),
                ("data", values.into()),
            ]));
        }
        let reply = object(&[
            ("kind", "result".into()),
            ("id", id.into()),
            ("outputs", out.into()),
            ("ms", ms.into()),
        ]);
        Ok((reply, transfer))
    }

    /// Reads `[{ name, shape, data: Float32Array }]`.
    fn read_inputs(inputs: &JsValue) -> Result<Vec<(String, TensorF32)>, String> {
        if !Array::is_array(inputs) {
            return Err("`inputs` must be an array".into());
        }
        Array::from(inputs)
            .iter()
            .enumerate()
            .map(|(i, input)| {
                let name = get(&input, "name")
                    .as_string()
                    .ok_or_else(|| format!("input {i} has no `name`"))?;
                let shape_js = get(&input, "shape");
                if !Array::is_array(&shape_js) {
                    return Err(format!("input `{name}`: `shape` must be an array"));
                }
                let shape = Array::from(&shape_js)
                    .iter()
                    .map(|d| match d.as_f64() {
                        Some(d) if d >= 0.0 && d.fract() == 0.0 && d <= u32::MAX as f64 => {
                            Ok(d as usize)
                        }
                        _ => Err(format!(
                            "input `{name}`: `shape` must hold non-negative integers"
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let data = get(&input, "data")
                    .dyn_into::<Float32Array>()
                    .map_err(|_| format!("input `{name}`: `data` must be a Float32Array"))?
                    .to_vec();
                let expected = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
                if expected != Some(data.len()) {
                    return Err(format!(
                        "input `{name}`: shape {shape:?} needs {} values, got {}",
                        expected.map_or("too many".to_string(), |n| n.to_string()),
                        data.len()
                    ));
                }
                Ok((name, TensorF32 { shape, data }))
            })
            .collect()
    }

    /// Puts named inputs into the model's input order; every input exactly once.
    fn order_inputs(
        mut given: Vec<(String, TensorF32)>,
        order: &[String],
    ) -> Result<Vec<TensorF32>, String> {
        let mut ordered = Vec::with_capacity(order.len());
        for name in order {
            let index = given
                .iter()
                .position(|(n, _)| n == name)
                .ok_or_else(|| format!("missing input `{name}` (the model takes {order:?})"))?;
            ordered.push(given.swap_remove(index).1);
        }
        if let Some((extra, _)) = given.first() {
            return Err(format!(
                "the model has no input `{extra}` (it takes {order:?})"
            ));
        }
        Ok(ordered)
    }

    fn error_message(id: Option<f64>, message: &str) -> JsValue {
        let id = id.map_or(JsValue::NULL, JsValue::from);
        object(&[
            ("kind", "error".into()),
            ("id", id),
            ("message", message.into()),
        ])
    }

    fn object(fields: &[(&str, JsValue)]) -> JsValue {
        let object = Object::new();
        for (key, value) in fields {
            // Setting a property on a fresh plain object cannot fail.
            let _ = Reflect::set(&object, &JsValue::from_str(key), value);
        }
        object.into()
    }

    fn get(target: &JsValue, key: &str) -> JsValue {
        if !target.is_object() {
            return JsValue::UNDEFINED;
        }
        Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    }

    fn now() -> f64 {
        scope()
            .performance()
            .map_or_else(js_sys::Date::now, |p| p.now())
    }
}
