//! The CPU inference worker: a Web Worker that runs ONNX models with tract
//! ([`mien::cpu::CpuModel`]) and speaks the protocol of `docs/worker-protocol.md`
//! (its messages are built and read by [`mien::protocol`]).
//!
//! It knows nothing about faces or expressions: ONNX bytes and f32 tensors in, f32
//! tensors out. Every failure is answered with `{ kind: "error", id, message }`.
//! A panic cannot be caught on wasm32 (panics abort there), so the panic hook reports
//! it as a `fatal` error (the app then starts a new worker), and every later request
//! gets the same answer at once.

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

    use js_sys::Array;
    use mien::cpu::{CpuModel, TensorF32};
    use mien::onnx::ModelProto;
    use mien::protocol::{self, kind, Tensor};
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
        /// Set by the panic hook: after a panic, the worker's state cannot be trusted.
        static CRASHED: Cell<bool> = const { Cell::new(false) };
    }

    const CRASHED_MESSAGE: &str = "the CPU worker crashed earlier and can no longer run models";

    /// Panics on purpose while "handling" request `id`, so that the browser tests can
    /// check how the app copes with a worker that crashes mid-request
    /// (`wasm_bindgen.panic_for_test(id)` in the worker). Nothing in the app calls it.
    #[wasm_bindgen]
    pub fn panic_for_test(id: f64) {
        CURRENT_ID.with(|c| c.set(Some(id)));
        panic!("a panic asked for by panic_for_test");
    }

    fn scope() -> DedicatedWorkerGlobalScope {
        js_sys::global().unchecked_into()
    }

    pub fn start() {
        std::panic::set_hook(Box::new(|info| {
            CRASHED.with(|c| c.set(true));
            let message = format!("the CPU worker crashed: {info}");
            web_sys::console::error_1(&JsValue::from_str(&message));
            let id = CURRENT_ID.with(Cell::get);
            post(&protocol::fatal(id, &message), &Array::new());
        }));

        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|event: MessageEvent| {
            let data = event.data();
            let id = protocol::id_of(&data);
            if CRASHED.with(Cell::get) {
                post(&protocol::fatal(id, CRASHED_MESSAGE), &Array::new());
                return;
            }
            CURRENT_ID.with(|c| c.set(id));
            let (reply, transfer) = match handle(&data) {
                Ok(reply) => reply,
                Err(message) => (protocol::error(id, &message), Array::new()),
            };
            post(&reply, &transfer);
            CURRENT_ID.with(|c| c.set(None));
        });
        scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // The handler lives as long as the worker.
        on_message.forget();

        post(
            &protocol::ready("cpu", "tract (WebAssembly, on the CPU)"),
            &Array::new(),
        );
    }

    fn post(message: &JsValue, transfer: &Array) {
        if let Err(e) = scope().post_message_with_transfer(message, transfer) {
            web_sys::console::error_2(&"cpu-worker: cannot post a message:".into(), &e);
        }
    }

    type Reply = (JsValue, Array);

    fn handle(data: &JsValue) -> Result<Reply, String> {
        let kind = protocol::text(data, "kind").ok_or("the request has no `kind`")?;
        let id = protocol::id_of(data)
            .ok_or_else(|| format!("the `{kind}` request has no numeric `id`"))?;
        let name = protocol::text(data, "name")
            .ok_or_else(|| format!("the `{kind}` request has no model `name`"))?;
        match kind.as_str() {
            kind::LOAD => load(id, name, data),
            kind::RUN => run(id, name, data),
            other => Err(format!("unknown request kind `{other}`")),
        }
    }

    fn load(id: f64, name: String, data: &JsValue) -> Result<Reply, String> {
        let bytes = protocol::bytes(data, "bytes").map_err(|e| format!("loading `{name}`: {e}"))?;
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
        // The app sends float32 graphs (it expands compact weights once, for both
        // engines: src/app/models.rs), so there is nothing to expand here.
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
        Ok((protocol::loaded(id, &name, ms), Array::new()))
    }

    fn run(id: f64, name: String, data: &JsValue) -> Result<Reply, String> {
        let given =
            protocol::tensor_list(data, "inputs").map_err(|e| format!("running `{name}`: {e}"))?;
        let wanted =
            protocol::strings(data, "outputs").map_err(|e| format!("running `{name}`: {e}"))?;
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

        let mut out = Vec::with_capacity(wanted.len());
        for want in wanted {
            let index = names.iter().position(|n| *n == want).ok_or_else(|| {
                format!("running `{name}`: the model has no output `{want}` (it has {names:?})")
            })?;
            let tensor = outputs
                .get(index)
                .ok_or_else(|| format!("running `{name}`: output `{want}` was not produced"))?;
            out.push(Tensor {
                name: want,
                shape: tensor.shape.clone(),
                data: tensor.data.clone(),
            });
        }
        Ok(protocol::result(id, &out, ms))
    }

    /// Puts named inputs into the model's input order; every input exactly once.
    fn order_inputs(mut given: Vec<Tensor>, order: &[String]) -> Result<Vec<TensorF32>, String> {
        let mut ordered = Vec::with_capacity(order.len());
        for name in order {
            let index = given
                .iter()
                .position(|t| t.name == *name)
                .ok_or_else(|| format!("missing input `{name}` (the model takes {order:?})"))?;
            let t = given.swap_remove(index);
            ordered.push(TensorF32 {
                shape: t.shape,
                data: t.data,
            });
        }
        if let Some(extra) = given.first() {
            return Err(format!(
                "the model has no input `{}` (it takes {order:?})",
                extra.name
            ));
        }
        Ok(ordered)
    }

    fn now() -> f64 {
        scope()
            .performance()
            .map_or_else(js_sys::Date::now, |p| p.now())
    }
}
