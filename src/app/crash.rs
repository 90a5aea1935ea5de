//! What a panic does to the page. A panic in WebAssembly aborts: the app can no
//! longer answer anything, so instead of a page that silently stops, the panic hook
//! puts a sentence at the top of the page with a button that reloads it. The panel is
//! built with plain DOM calls (not Leptos, whose state may be what broke), and the
//! button calls the browser's own `location.reload`, so clicking it needs no wasm.

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Sets the panic hook: the panic goes to the console (with its stack) and a
/// sentence with a reload button goes into the page.
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        show(&info.to_string());
    }));
}

/// Panics on purpose, so that the browser tests can check what a person sees after a
/// panic. Nothing in the app calls it; from the page's devtools it does nothing the
/// devtools could not already do.
#[wasm_bindgen(js_name = panicForTest)]
pub fn panic_for_test() {
    panic!("a panic asked for by panicForTest");
}

/// Adds the panel (once) at the top of the page. Every step may fail quietly: the
/// console already has the panic.
fn show(detail: &str) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    if document.get_element_by_id("crash").is_some() {
        return;
    }
    let (Some(body), Ok(panel), Ok(sentence), Ok(technical), Ok(button)) = (
        document.body(),
        document.create_element("div"),
        document.create_element("p"),
        document.create_element("p"),
        document.create_element("button"),
    ) else {
        return;
    };
    panel.set_id("crash");
    panel.set_class_name("crash");
    let _ = panel.set_attribute("role", "alert");
    sentence.set_text_content(Some(
        "mien stopped because of an internal error and cannot go on in this page. \
         Reload the page to start again; your photos never left this device.",
    ));
    technical.set_class_name("crash-detail");
    technical.set_text_content(Some(&format!("Details (for a bug report): {detail}")));
    button.set_id("crash-reload");
    let _ = button.set_attribute("type", "button");
    button.set_text_content(Some("Reload the page"));
    if let Some(reload) = reload_function() {
        let _ = button.add_event_listener_with_callback("click", &reload);
    }
    let _ = panel.append_with_node_3(&sentence, &button, &technical);
    let _ = body.prepend_with_node_1(&panel);
}

/// `location.reload` bound to the page's location: a plain browser function.
fn reload_function() -> Option<Function> {
    let location = web_sys::window()?.location();
    let reload: Function = Reflect::get(&location, &"reload".into())
        .ok()?
        .dyn_into()
        .ok()?;
    Some(reload.bind0(&location))
}
