//! The worker's view of `navigator.gpu`: probing for an adapter, and catching the errors
//! the GPU reports that wgpu 0.16 never surfaces on the web.
//!
//! Chrome reports a shader it cannot compile, or any other validation error, only as an
//! `uncapturederror` event on the device (plus a console warning); the outputs then come
//! back wrong without a Rust error. wonnx keeps its device private, so this module wraps
//! `navigator.gpu.requestAdapter` and each adapter's `requestDevice` to listen on every
//! device they create, and files what it hears in the [`ErrorLog`] current at that time.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// What the GPU said about one device (the one a wonnx session created).
#[derive(Default)]
pub struct ErrorLog {
    device: Option<JsValue>,
    errors: Vec<String>,
}

pub type SharedLog = Rc<RefCell<ErrorLog>>;

thread_local! {
    /// Where a device created now files its errors: set around each session creation.
    static CURRENT_LOG: RefCell<Option<SharedLog>> = const { RefCell::new(None) };
}

/// Makes `log` the home of errors from devices created until the next call.
pub fn set_current_log(log: Option<SharedLog>) {
    CURRENT_LOG.with(|c| *c.borrow_mut() = log);
}

/// Waits until the device has processed the work submitted so far (so that its errors
/// have been reported), then returns every error it ever had: a model whose GPU work
/// failed once keeps failing rather than returning numbers nobody can trust.
pub async fn errors(log: &SharedLog) -> Result<(), String> {
    let device = log.borrow().device.clone();
    if let Some(device) = device {
        let done = get(&device, "queue").and_then(|queue| call0(&queue, "onSubmittedWorkDone"));
        if let Ok(done) = done.and_then(|p| p.dyn_into::<Promise>()) {
            let _ = JsFuture::from(done).await;
        }
    }
    let log = log.borrow();
    match log.errors.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "the GPU rejected the model's work: {}",
            log.errors.join("; ")
        )),
    }
}

/// Probes `navigator.gpu` in this worker. Ok: a one-line description of the adapter.
/// Err: why WebGPU cannot be used here, as a sentence.
pub async fn probe() -> Result<String, String> {
    let global = js_sys::global();
    let gpu = get(&global, "navigator")
        .and_then(|n| get(&n, "gpu"))
        .ok()
        .filter(|gpu| !gpu.is_undefined() && !gpu.is_null())
        .ok_or("this browser does not offer WebGPU to workers (navigator.gpu is missing)")?;
    let failed = |e: JsValue| format!("WebGPU's requestAdapter() failed: {}", js_message(&e));
    let request = call0(&gpu, "requestAdapter").and_then(|p| p.dyn_into::<Promise>());
    let adapter = JsFuture::from(request.map_err(failed)?)
        .await
        .map_err(failed)?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err(
            "WebGPU is present but offers no adapter (no suitable GPU, or WebGPU is disabled)"
                .into(),
        );
    }
    watch_adapters(&gpu)
        .map_err(|e| format!("cannot watch WebGPU for errors: {}", js_message(&e)))?;
    Ok(describe(&adapter))
}

/// "vendor architecture device description" from `GPUAdapter.info`, as far as the browser tells.
fn describe(adapter: &JsValue) -> String {
    let info = get(adapter, "info").unwrap_or(JsValue::UNDEFINED);
    let field = |key: &str| {
        get(&info, key)
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let mut parts: Vec<String> = ["vendor", "architecture", "device", "description"]
        .iter()
        .map(|k| field(k))
        .collect();
    parts.retain(|p| !p.is_empty());
    parts.dedup();
    let fallback = get(&info, "isFallbackAdapter")
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    match (parts.is_empty(), fallback) {
        (true, _) => "WebGPU adapter".into(),
        (false, false) => parts.join(" "),
        (false, true) => format!("{} (fallback adapter)", parts.join(" ")),
    }
}

/// Wraps `gpu.requestAdapter` so that every adapter it returns has a watched `requestDevice`.
fn watch_adapters(gpu: &JsValue) -> Result<(), JsValue> {
    let original: Function = get(gpu, "requestAdapter")?.dyn_into()?;
    // Runs before the caller's own continuation (callbacks run in the order they were
    // added), so the adapter is watched before anyone can ask it for a device.
    let on_adapter = Closure::<dyn FnMut(JsValue)>::new(|adapter: JsValue| {
        if !adapter.is_null() && !adapter.is_undefined() {
            if let Err(e) = watch_devices(&adapter) {
                web_sys::console::warn_1(
                    &format!("cannot watch a WebGPU adapter: {}", js_message(&e)).into(),
                );
            }
        }
    });
    let target = gpu.clone();
    let wrapper = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |options: JsValue| {
        match original.call1(&target, &options) {
            Ok(p) => {
                let p = Promise::from(p);
                let _ = p.then(&on_adapter);
                p
            }
            Err(e) => Promise::reject(&e),
        }
    });
    Reflect::set(gpu, &"requestAdapter".into(), wrapper.as_ref())?;
    wrapper.forget(); // lives as long as the worker
    Ok(())
}

/// Wraps `adapter.requestDevice` so that each new device reports into the current log.
fn watch_devices(adapter: &JsValue) -> Result<(), JsValue> {
    let original: Function = get(adapter, "requestDevice")?.dyn_into()?;
    let on_device = Closure::<dyn FnMut(JsValue)>::new(|device: JsValue| {
        if let Some(log) = CURRENT_LOG.with(|c| c.borrow().clone()) {
            listen(&device, log);
        }
    });
    let target = adapter.clone();
    let wrapper = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |descriptor: JsValue| {
        match original.call1(&target, &descriptor) {
            Ok(p) => {
                let p = Promise::from(p);
                let _ = p.then(&on_device);
                p
            }
            Err(e) => Promise::reject(&e),
        }
    });
    Reflect::set(adapter, &"requestDevice".into(), wrapper.as_ref())?;
    // Adapters come one per session; these few closures are leaked with them.
    wrapper.forget();
    Ok(())
}

fn listen(device: &JsValue, log: SharedLog) {
    log.borrow_mut().device = Some(device.clone());
    let errors = log.clone();
    let on_error = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let message = get(&event, "error")
            .map(|e| js_message(&e))
            .unwrap_or_else(|e| js_message(&e));
        errors.borrow_mut().errors.push(message);
    });
    let added = get(device, "addEventListener")
        .and_then(|f| f.dyn_into::<Function>())
        .and_then(|f| f.call2(device, &"uncapturederror".into(), on_error.as_ref()));
    if let Err(e) = added {
        web_sys::console::warn_1(
            &format!("cannot watch a WebGPU device: {}", js_message(&e)).into(),
        );
    }
    on_error.forget();
    let on_lost = Closure::<dyn FnMut(JsValue)>::new(move |info: JsValue| {
        let text = |key: &str| {
            get(&info, key)
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_default()
        };
        if text("reason") != "destroyed" {
            log.borrow_mut()
                .errors
                .push(format!("the GPU device was lost ({})", text("message")));
        }
    });
    if let Ok(lost) = get(device, "lost").and_then(|p| p.dyn_into::<Promise>()) {
        let _ = lost.then(&on_lost);
    }
    on_lost.forget();
}

fn get(target: &JsValue, key: &str) -> Result<JsValue, JsValue> {
    Reflect::get(target, &key.into())
}

fn call0(target: &JsValue, method: &str) -> Result<JsValue, JsValue> {
    get(target, method)?.dyn_into::<Function>()?.call0(target)
}

/// The readable part of a thrown JS value or GPUError.
pub fn js_message(value: &JsValue) -> String {
    get(value, "message")
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}
