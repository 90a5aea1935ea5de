//! Which engine runs the models, why, and a switch between the two (radio buttons:
//! reachable and operable from the keyboard).

use leptos::prelude::*;

use super::backend::{Backend, EngineState};
use super::worker::EngineKind;

#[component]
pub fn EngineBar(backend: Backend) -> impl IntoView {
    let state = backend.state;
    let starting = move || matches!(state.get(), EngineState::Starting(..));
    let code = move || match state.get() {
        EngineState::Starting(kind, _) | EngineState::Ready { kind, .. } => kind.code(),
        EngineState::Failed(_) => "none",
    };
    let state_code = move || match state.get() {
        EngineState::Starting(..) => "starting",
        EngineState::Ready { .. } => "ready",
        EngineState::Failed(_) => "failed",
    };
    let line = move || match state.get() {
        EngineState::Starting(kind, step) => {
            format!("Starting the models on {}: {step}…", kind.name())
        }
        EngineState::Ready {
            kind,
            detail,
            check,
        } => {
            // The worker's detail may hold parentheses of its own: no brackets around it.
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!(", with {detail}")
            };
            format!("The models run on {}{detail}. {check}", kind.name())
        }
        EngineState::Failed(why) => why,
    };
    // No WebGPU here is the normal fallback (information); a GPU that failed is a warning.
    let unavailable = move || backend.gpu_unavailable.get();
    let note = move || {
        backend.gpu_problem.get().map(|why| {
            if unavailable() {
                format!("The GPU is not used: {why}. mien runs on the CPU instead: the same numbers, more slowly.")
            } else {
                format!(
                    "The GPU is not used: {why}. mien runs on the CPU instead: the same numbers, more slowly. \
                     Reload the page to try the GPU again."
                )
            }
        })
    };
    let choice = move |kind: EngineKind, label: &'static str, id: &'static str| {
        let blocked = move || kind == EngineKind::Gpu && backend.gpu_problem.get().is_some();
        view! {
            <label class="engine-option" class:blocked=blocked>
                <input
                    type="radio"
                    name="engine"
                    id=id
                    value=kind.code()
                    prop:checked=move || backend.chosen.get() == kind
                    prop:disabled=move || blocked() || starting()
                    on:change=move |_| backend.choose(kind)
                />
                {label}
            </label>
        }
    };
    view! {
        <section class="engine" id="engine" data-engine=code data-state=state_code aria-label="Where the models run">
            <fieldset class="engine-choice">
                <legend>"Run the models on"</legend>
                {choice(EngineKind::Gpu, "GPU (WebGPU)", "engine-gpu")}
                {choice(EngineKind::Cpu, "CPU", "engine-cpu")}
            </fieldset>
            <p class="engine-status" id="engine-status" role="status" aria-live="polite" class:error=move || state_code() == "failed">
                {line}
            </p>
            <p
                class="engine-note"
                id="engine-note"
                data-tone=move || if unavailable() { "info" } else { "warning" }
                hidden=move || note().is_none()
            >
                {move || note().unwrap_or_default()}
            </p>
        </section>
    }
}
