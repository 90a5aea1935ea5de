//! The privacy promise, always visible.

use leptos::prelude::*;

#[component]
pub fn PrivacyFooter() -> impl IntoView {
    view! {
        <footer class="privacy" id="privacy">
            <p>
                "Your photos and videos never leave this device: they are read, and their faces "
                "analysed, inside this browser tab. Nothing is uploaded, stored or tracked."
            </p>
        </footer>
    }
}
