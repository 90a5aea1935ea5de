//! The status line: one sentence about what the app is doing or what went wrong.

use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Info,
    Busy,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub tone: Tone,
    pub text: String,
}

impl Status {
    pub fn info(text: impl Into<String>) -> Self {
        Status {
            tone: Tone::Info,
            text: text.into(),
        }
    }

    pub fn busy(text: impl Into<String>) -> Self {
        Status {
            tone: Tone::Busy,
            text: text.into(),
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Status {
            tone: Tone::Error,
            text: text.into(),
        }
    }
}

#[component]
pub fn StatusLine(status: RwSignal<Status>) -> impl IntoView {
    let tone = move || match status.read().tone {
        Tone::Info => "info",
        Tone::Busy => "busy",
        Tone::Error => "error",
    };
    view! {
        <p class="status" id="status" role="status" aria-live="polite" data-tone=tone>
            {move || status.read().text.clone()}
        </p>
    }
}
