//! Which inference engine is available, as reported by its worker.

use leptos::prelude::*;

use super::worker::BackendState;

#[component]
pub fn BackendLine(state: RwSignal<BackendState>) -> impl IntoView {
    let label = move || match &*state.read() {
        BackendState::Starting => "CPU engine starting…".to_string(),
        BackendState::Ready { detail, .. } => format!("CPU engine ready: {detail}"),
        BackendState::Unavailable { message, .. } => format!("CPU engine unavailable: {message}"),
        BackendState::Failed(message) => format!("CPU engine failed to start: {message}"),
    };
    let code = move || match &*state.read() {
        BackendState::Starting => "starting",
        BackendState::Ready { .. } => "ready",
        BackendState::Unavailable { .. } => "unavailable",
        BackendState::Failed(_) => "failed",
    };
    view! {
        <p class="backend" id="backend-cpu" data-backend="cpu" data-state=code>
            {label}
        </p>
    }
}
