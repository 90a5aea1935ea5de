//! Which engine runs the models, and the one small surface ([`Inference`]) the rest of
//! the app uses, whichever engine that is.
//!
//! At start-up the GPU worker (WebGPU) is tried first. It is used only if it starts,
//! loads the classifier, and reproduces the logits the model file stores for
//! [`self_test_input`]; otherwise, or when it fails later, the CPU worker takes over and
//! the page says why. The person can switch engines at any time.

use std::cell::RefCell;
use std::rc::Rc;

use gloo::timers::future::TimeoutFuture;
use js_sys::Reflect;
use leptos::prelude::*;
use leptos::task::spawn_local;
use mien::contract::{self_test_input, ModelContract};
use mien::face::model::{INPUT_NAME, OUTPUT_NAMES};
use mien::face::Variant;
use mien::tensor::TensorF32;

use super::models::ModelFiles;
use super::worker::{Engine, EngineKind, Ran};

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
    pub fn contract(&self) -> &ModelContract {
        &self.files.contract
    }

    pub fn kind(&self) -> EngineKind {
        self.engine.kind()
    }

    /// Loads a face detector into the engine, unless it is there already.
    pub async fn ensure_detector(&self, variant: Variant) -> Result<(), String> {
        if self.detectors.borrow().contains(&variant) {
            return Ok(());
        }
        let bytes = self.files.detector(variant).await?;
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
    ) -> Result<Ran, String> {
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
    pub async fn logits(&self, input: Vec<f32>) -> Result<(Vec<f32>, f64), String> {
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
            return Err(format!(
                "the expression model gave {} numbers for {} expressions",
                logits.len(),
                contract.labels.len()
            ));
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

/// Starts an engine with the classifier (self-tested) and the photo face detector.
/// Ok: the engine and a sentence on its self-test.
async fn start(
    kind: EngineKind,
    files: Rc<ModelFiles>,
    step: impl Fn(&str),
) -> Result<(Inference, String), StartError> {
    step("starting");
    let engine = Engine::start(kind).await.map_err(|why| StartError {
        why,
        unavailable: true,
    })?;
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
    let (got, _) = inference.logits(self_test_input(contract)).await?;
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
    files: StoredValue<Option<Rc<ModelFiles>>, LocalStorage>,
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
            files: StoredValue::new_local(None),
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
                    self.files.set_value(Some(Rc::new(files)));
                }
                Err(why) => {
                    self.state.set(EngineState::Failed(format!(
                        "The models could not be loaded: {why}"
                    )));
                    return;
                }
            }
            if !browser_has_webgpu() {
                self.gpu_unavailable.set(true);
                self.gpu_problem
                    .set(Some("this browser does not offer WebGPU".into()));
                self.choose(EngineKind::Cpu);
            } else {
                self.choose(EngineKind::Gpu);
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

    /// The engine in use, once one is ready; waits while one is starting.
    pub async fn ready(self) -> Result<Inference, String> {
        loop {
            match self.state.get_untracked() {
                EngineState::Ready { .. } => {
                    if let Some(inference) = self.active.get_value() {
                        return Ok(inference);
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

/// Whether `navigator.gpu` exists here (the worker then checks for an adapter).
fn browser_has_webgpu() -> bool {
    web_sys::window()
        .and_then(|w| Reflect::get(&w.navigator(), &"gpu".into()).ok())
        .is_some_and(|gpu| !gpu.is_undefined() && !gpu.is_null())
}
