//! Which engine runs the models, and the one small surface ([`Inference`]) the rest of
//! the app uses, whichever engine that is.
//!
//! At start-up the GPU worker (WebGPU) is tried first. It is used only if it starts,
//! loads the classifier, and reproduces the logits the model file stores for
//! [`self_test_input`]; otherwise, or when it fails later, the CPU worker takes over and
//! the page says why. The person can switch engines at any time.
//!
//! The person can also choose another classifier file ("Use another model",
//! [`Backend::use_file`]): it is checked by the shared core, started on a fresh engine
//! of the kind in use and self-tested there, and only then replaces the model in use;
//! until then, and if it fails, the current model goes on working.

use std::cell::RefCell;
use std::rc::Rc;

use futures::future::Either;
use gloo::timers::future::TimeoutFuture;
use js_sys::{Function, Promise, Reflect};
use leptos::prelude::*;
use leptos::task::spawn_local;
use mien::contract::{self_test_input, ModelContract};
use mien::face::model::{INPUT_NAME, OUTPUT_NAMES};
use mien::face::Variant;
use mien::tensor::TensorF32;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::models::ModelFiles;
use super::worker::{Engine, EngineKind, Ran, WorkerError};

/// Largest difference allowed between an engine's self-test logits and the file's.
pub const SELF_TEST_TOLERANCE: f32 = 1e-3;

/// The classifier's name inside a worker.
const CLASSIFIER: &str = "classifier";

fn detector_name(variant: Variant) -> &'static str {
    match variant {
        Variant::Front => "face-front",
        Variant::Back => "face-back",
    }
}

/// The models, running on one engine. Cheap to clone.
#[derive(Clone)]
pub struct Inference {
    engine: Rc<Engine>,
    files: Rc<ModelFiles>,
    /// Face detectors already loaded into this engine.
    detectors: Rc<RefCell<Vec<Variant>>>,
}

impl Inference {
    /// Whether this engine's worker can no longer answer (it crashed or hung).
    pub fn is_dead(&self) -> bool {
        self.engine.dead().is_some()
    }

    pub fn contract(&self) -> &ModelContract {
        &self.files.contract
    }

    pub fn kind(&self) -> EngineKind {
        self.engine.kind()
    }

    /// Loads a face detector into the engine, unless it is there already.
    pub async fn ensure_detector(&self, variant: Variant) -> Result<(), WorkerError> {
        if self.detectors.borrow().contains(&variant) {
            return Ok(());
        }
        let bytes = self
            .files
            .detector(variant)
            .await
            .map_err(WorkerError::Failed)?;
        self.engine.load(detector_name(variant), &bytes).await?;
        self.detectors.borrow_mut().push(variant);
        Ok(())
    }

    /// BlazeFace's raw outputs for an input made by [`mien::face::FaceDetector::input`]
    /// (and the worker's milliseconds).
    pub async fn detector_outputs(
        &self,
        variant: Variant,
        input: &TensorF32,
    ) -> Result<Ran, WorkerError> {
        self.ensure_detector(variant).await?;
        self.engine
            .run(
                detector_name(variant),
                &[(INPUT_NAME, input)],
                &OUTPUT_NAMES,
            )
            .await
    }

    /// The classifier's logits for one preprocessed face (the contract's input shape),
    /// and the worker's milliseconds.
    pub async fn logits(&self, input: Vec<f32>) -> Result<(Vec<f32>, f64), WorkerError> {
        let contract = self.contract();
        let tensor = TensorF32 {
            shape: contract.input_shape().to_vec(),
            data: input,
        };
        let ran = self
            .engine
            .run(
                CLASSIFIER,
                &[(contract.input_name.as_str(), &tensor)],
                &[contract.output_name.as_str()],
            )
            .await?;
        let worker_ms = ran.worker_ms;
        let logits = ran
            .outputs
            .into_iter()
            .next()
            .map(|t| t.data)
            .unwrap_or_default();
        if logits.len() != contract.labels.len() {
            return Err(WorkerError::BadReply(format!(
                "the expression model gave {} numbers for {} expressions",
                logits.len(),
                contract.labels.len()
            )));
        }
        Ok((logits, worker_ms))
    }
}

/// Why an engine could not be started.
struct StartError {
    why: String,
    /// The engine is not offered here at all (no WebGPU, no adapter): the normal
    /// fallback to the CPU, information rather than a fault.
    unavailable: bool,
}

impl From<String> for StartError {
    fn from(why: String) -> Self {
        StartError {
            why,
            unavailable: false,
        }
    }
}

impl From<WorkerError> for StartError {
    /// Only a worker that says its engine is not offered here is the normal fallback;
    /// a worker that crashed or failed is a fault, shown as one.
    fn from(error: WorkerError) -> Self {
        StartError {
            unavailable: matches!(error, WorkerError::Unavailable(_)),
            why: error.to_string(),
        }
    }
}

/// Starts an engine with the classifier (self-tested) and the photo face detector.
/// Ok: the engine and a sentence on its self-test.
async fn start(
    kind: EngineKind,
    files: Rc<ModelFiles>,
    step: impl Fn(&str),
) -> Result<(Inference, String), StartError> {
    step("starting");
    let engine = Engine::start(kind).await?;
    step("loading the expression model");
    engine.load(CLASSIFIER, &files.classifier).await?;
    let inference = Inference {
        engine: Rc::new(engine),
        files,
        detectors: Rc::default(),
    };
    step("checking its numbers");
    let check = self_test(&inference).await?;
    step("loading the face detector");
    inference.ensure_detector(Variant::Back).await?;
    Ok((inference, check))
}

/// Runs the model on [`self_test_input`] and compares with the file's own logits.
async fn self_test(inference: &Inference) -> Result<String, String> {
    let contract = inference.contract();
    let Some(expected) = contract.self_test_logits.clone() else {
        return match inference.kind() {
            // tract is the reference runtime (the native evaluation uses it).
            EngineKind::Cpu => Ok("The model file has no self-test numbers.".into()),
            EngineKind::Gpu => Err(
                "the model file has no self-test numbers, so the GPU's results cannot be checked"
                    .into(),
            ),
        };
    };
    let (got, _) = inference
        .logits(self_test_input(contract))
        .await
        .map_err(|e| e.to_string())?;
    let worst = got
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .map(|d| if d.is_finite() { d } else { f32::INFINITY })
        .fold(0.0f32, f32::max);
    if worst <= SELF_TEST_TOLERANCE {
        Ok(format!(
            "Self-test passed: its numbers match the model's reference to {worst:.1e}."
        ))
    } else {
        Err(format!(
            "its self-test failed: its numbers differ from the model's reference by up to {worst:.2e} \
             (at most {SELF_TEST_TOLERANCE:.0e} is allowed)"
        ))
    }
}

/// What the engine is doing, for the page.
#[derive(Clone, Debug, PartialEq)]
pub enum EngineState {
    /// Starting (which engine, and the step it is at).
    Starting(EngineKind, String),
    Ready {
        kind: EngineKind,
        detail: String,
        check: String,
    },
    /// No engine can run the models.
    Failed(String),
}

/// A change of classifier the person asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelChange {
    /// Nothing asked, or the last change is done.
    Idle,
    /// Checking and starting a model (its name, for the page).
    Loading(String),
    /// The last file asked for cannot be used: why, as a sentence. The model in use
    /// goes on.
    Refused(String),
}

/// The app's handle on the engines (copyable; shared through the component tree).
#[derive(Clone, Copy)]
pub struct Backend {
    pub state: RwSignal<EngineState>,
    /// The engine chosen (in use, or starting).
    pub chosen: RwSignal<EngineKind>,
    /// Why the GPU is not used, once it was found unusable (it is then not offered).
    pub gpu_problem: RwSignal<Option<String>>,
    /// True when that is because this browser offers no WebGPU (or no adapter): the
    /// normal fallback, shown as information; false when the GPU failed.
    pub gpu_unavailable: RwSignal<bool>,
    /// The classifier's contract, once its file is loaded.
    pub contract: RwSignal<Option<ModelContract>>,
    /// The file name of the classifier in use when the person chose it; None for the
    /// site's own model.
    pub chosen_model: RwSignal<Option<String>>,
    pub model_change: RwSignal<ModelChange>,
    /// Bumped each time another classifier takes over (readings of the previous one
    /// then no longer match the labels shown).
    pub model_serial: RwSignal<u32>,
    files: StoredValue<Option<Rc<ModelFiles>>, LocalStorage>,
    /// The site's own model, to go back to.
    builtin: StoredValue<Option<Rc<ModelFiles>>, LocalStorage>,
    /// The GPU was set aside because it could not run a chosen model (not because it
    /// failed or is missing): the next model may try it again.
    gpu_refused_model: StoredValue<bool>,
    active: StoredValue<Option<Inference>, LocalStorage>,
    /// Engines started so far (switching back is instant).
    started: StoredValue<Vec<Inference>, LocalStorage>,
    /// Bumped by each choice, so that only the latest one takes effect.
    choice: StoredValue<u32>,
}

impl Backend {
    pub fn new() -> Self {
        Backend {
            state: RwSignal::new(EngineState::Starting(
                EngineKind::Gpu,
                "fetching the models".into(),
            )),
            chosen: RwSignal::new(EngineKind::Gpu),
            gpu_problem: RwSignal::new(None),
            gpu_unavailable: RwSignal::new(false),
            contract: RwSignal::new(None),
            chosen_model: RwSignal::new(None),
            model_change: RwSignal::new(ModelChange::Idle),
            model_serial: RwSignal::new(0),
            files: StoredValue::new_local(None),
            builtin: StoredValue::new_local(None),
            gpu_refused_model: StoredValue::new(false),
            active: StoredValue::new_local(None),
            started: StoredValue::new_local(Vec::new()),
            choice: StoredValue::new(0),
        }
    }

    /// Fetches the models, then starts the GPU engine, or the CPU one when WebGPU is
    /// missing or fails.
    pub fn boot(self) {
        spawn_local(async move {
            match ModelFiles::fetch().await {
                Ok(files) => {
                    self.contract.set(Some(files.contract.clone()));
                    let files = Rc::new(files);
                    self.builtin.set_value(Some(files.clone()));
                    self.files.set_value(Some(files));
                }
                Err(why) => {
                    self.state.set(EngineState::Failed(format!(
                        "The models could not be loaded: {why}"
                    )));
                    return;
                }
            }
            match webgpu_adapter().await {
                Err(why) => {
                    self.gpu_unavailable.set(true);
                    self.gpu_problem.set(Some(why));
                    self.choose(EngineKind::Cpu);
                }
                Ok(()) => self.choose(EngineKind::Gpu),
            }
        });
    }

    /// Switches to an engine (starting it if needed); a GPU that fails hands over to
    /// the CPU, and the page says why.
    pub fn choose(self, kind: EngineKind) {
        let choice = self.choice.get_value().wrapping_add(1);
        self.choice.set_value(choice);
        spawn_local(async move { self.activate(kind, choice).await });
    }

    /// Uses a classifier file the person chose, once it is checked and has passed its
    /// self-test on the engine in use (or, when the GPU cannot run it, on the CPU).
    pub fn use_file(self, name: String, bytes: Vec<u8>) {
        if matches!(self.model_change.get_untracked(), ModelChange::Loading(_)) {
            return;
        }
        let Some(current) = self.files.get_value() else {
            self.model_change.set(ModelChange::Refused(
                "Wait until the built-in model has started, then choose the file again.".into(),
            ));
            return;
        };
        self.model_change.set(ModelChange::Loading(name.clone()));
        spawn_local(async move {
            // Let the page say what is happening before the file is parsed.
            TimeoutFuture::new(0).await;
            match current.with_chosen(&name, bytes) {
                Ok(files) => self.switch_to(Rc::new(files)).await,
                Err(why) => self
                    .model_change
                    .set(ModelChange::Refused(format!("{name}: {why}"))),
            }
        });
    }

    /// Goes back to the site's own classifier.
    pub fn use_builtin(self) {
        if matches!(self.model_change.get_untracked(), ModelChange::Loading(_)) {
            return;
        }
        let Some(files) = self.builtin.get_value() else {
            return;
        };
        self.model_change
            .set(ModelChange::Loading("the built-in model".into()));
        spawn_local(async move { self.switch_to(files).await });
    }

    /// Starts `files` on a fresh engine beside the one in use, and only once it passed
    /// its self-test makes it the one in use everywhere.
    async fn switch_to(self, files: Rc<ModelFiles>) {
        let name = files
            .chosen
            .clone()
            .unwrap_or_else(|| "the built-in model".into());
        if self.gpu_refused_model.get_value() {
            self.gpu_refused_model.set_value(false);
            self.gpu_problem.set(None);
        }
        let mut kind = match self.state.get_untracked() {
            EngineState::Ready { kind, .. } | EngineState::Starting(kind, _) => kind,
            EngineState::Failed(_) => EngineKind::Cpu,
        };
        if self.gpu_problem.get_untracked().is_some() {
            kind = EngineKind::Cpu;
        }
        let mut gpu_refused = None;
        let started = loop {
            match start(kind, files.clone(), |_| {}).await {
                Ok(started) => break Ok(started),
                Err(StartError { why, .. }) if kind == EngineKind::Gpu => {
                    gpu_refused = Some(why);
                    kind = EngineKind::Cpu;
                }
                Err(StartError { why, .. }) => break Err(why),
            }
        };
        let (inference, check) = match started {
            Ok(started) => started,
            Err(why) => {
                self.model_change.set(ModelChange::Refused(format!(
                    "{name}: mien cannot run this model ({why}). The model in use is unchanged."
                )));
                return;
            }
        };
        // Any engine switch still starting belongs to the previous model.
        self.choice
            .set_value(self.choice.get_value().wrapping_add(1));
        if let Some(why) = gpu_refused {
            self.gpu_refused_model.set_value(true);
            self.gpu_unavailable.set(false);
            self.gpu_problem
                .set(Some(format!("it cannot run this model ({why})")));
        }
        let detail = inference.engine.detail().to_string();
        self.started.set_value(vec![inference.clone()]);
        self.active.set_value(Some(inference));
        self.files.set_value(Some(files.clone()));
        self.contract.set(Some(files.contract.clone()));
        self.chosen_model.set(files.chosen.clone());
        self.chosen.set(kind);
        self.state.set(EngineState::Ready {
            kind,
            detail,
            check,
        });
        self.model_serial.update(|n| *n = n.wrapping_add(1));
        self.model_change.set(ModelChange::Idle);
    }

    /// The GPU failed while in use: stop using it and move to the CPU.
    pub fn gpu_failed(self, why: String) {
        if self.gpu_problem.get_untracked().is_none() {
            self.gpu_problem.set(Some(why));
        }
        self.started
            .update_value(|s| s.retain(|i| i.kind() != EngineKind::Gpu));
        if self.chosen.get_untracked() == EngineKind::Gpu {
            self.choose(EngineKind::Cpu);
        }
    }

    /// The engine in use, once one is ready; waits while one is starting. An engine
    /// whose worker crashed is replaced first: a new CPU worker, or the CPU for the GPU.
    pub async fn ready(self) -> Result<Inference, String> {
        loop {
            match self.state.get_untracked() {
                EngineState::Ready { .. } => {
                    if let Some(inference) = self.active.get_value() {
                        let Some(why) = inference.engine.dead() else {
                            return Ok(inference);
                        };
                        self.active.set_value(None);
                        match inference.kind() {
                            EngineKind::Gpu => self.gpu_failed(why),
                            EngineKind::Cpu => self.choose(EngineKind::Cpu),
                        }
                    }
                }
                EngineState::Failed(why) => return Err(why),
                EngineState::Starting(..) => {}
            }
            TimeoutFuture::new(100).await;
        }
    }

    async fn activate(self, mut kind: EngineKind, choice: u32) {
        let Some(files) = self.files.get_value() else {
            return;
        };
        let current = move || self.choice.get_value() == choice;
        loop {
            self.chosen.set(kind);
            let cached = self
                .started
                .with_value(|s| s.iter().find(|i| i.kind() == kind).cloned());
            let result = match cached {
                Some(inference) if inference.engine.dead().is_none() => {
                    let check = "Self-test passed when it started.".to_string();
                    Ok((inference, check))
                }
                _ => {
                    self.state
                        .set(EngineState::Starting(kind, "starting".into()));
                    let step = move |what: &str| {
                        if current() {
                            self.state
                                .set(EngineState::Starting(kind, what.to_string()));
                        }
                    };
                    let started = start(kind, files.clone(), step).await;
                    if let Ok((inference, _)) = &started {
                        let inference = inference.clone();
                        self.started.update_value(|s| {
                            s.retain(|i| i.kind() != kind);
                            s.push(inference);
                        });
                    }
                    started
                }
            };
            if !current() {
                return;
            }
            match result {
                Ok((inference, check)) => {
                    let detail = inference.engine.detail().to_string();
                    self.active.set_value(Some(inference));
                    self.state.set(EngineState::Ready {
                        kind,
                        detail,
                        check,
                    });
                    return;
                }
                Err(StartError { why, unavailable }) if kind == EngineKind::Gpu => {
                    self.gpu_unavailable.set(unavailable);
                    self.gpu_problem.set(Some(why));
                    kind = EngineKind::Cpu;
                }
                Err(StartError { why, .. }) => {
                    self.active.set_value(None);
                    self.state.set(EngineState::Failed(format!(
                        "The models could not be started on the CPU: {why}"
                    )));
                    return;
                }
            }
        }
    }
}

/// Whether this browser can give a WebGPU adapter, asked here before the GPU worker
/// (1.9 MB of wasm) is fetched: many browsers have `navigator.gpu` but no usable GPU.
/// Err: why not, in words. A browser that does not answer within 5 s is given the
/// benefit of the doubt (the worker then asks again, with its own time limit).
async fn webgpu_adapter() -> Result<(), String> {
    let gpu = web_sys::window()
        .and_then(|w| Reflect::get(&w.navigator(), &"gpu".into()).ok())
        .filter(|gpu| !gpu.is_undefined() && !gpu.is_null())
        .ok_or_else(|| "this browser does not offer WebGPU".to_string())?;
    let request = Reflect::get(&gpu, &"requestAdapter".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .and_then(|f| f.call0(&gpu).ok())
        .and_then(|p| p.dyn_into::<Promise>().ok())
        .ok_or_else(|| "this browser's WebGPU cannot be asked for an adapter".to_string())?;
    let adapter = JsFuture::from(request);
    let timeout = TimeoutFuture::new(5_000);
    futures::pin_mut!(adapter, timeout);
    match futures::future::select(adapter, timeout).await {
        Either::Left((Ok(adapter), _)) if adapter.is_null() || adapter.is_undefined() => Err(
            "WebGPU is present but offers no adapter (no suitable GPU, or WebGPU is disabled)"
                .into(),
        ),
        Either::Left((Ok(_), _)) | Either::Right(_) => Ok(()),
        Either::Left((Err(_), _)) => Err("WebGPU's requestAdapter() failed".into()),
    }
}
