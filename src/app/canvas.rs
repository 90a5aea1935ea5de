//! Pixels in and out of `<canvas>`: face thumbnails drawn from the core's images
//! ([`Picture`]), and webcam and video frames read into them. Nothing here leaves
//! the page.

use std::sync::Arc;

use image::{DynamicImage, RgbImage, RgbaImage};
use js_sys::Object;
use leptos::html::Canvas;
use leptos::prelude::*;
use wasm_bindgen::{Clamped, JsCast, JsValue};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlVideoElement, ImageData};

use super::files::js_error_text;

/// A canvas that is never attached to the page, for reading a video's frames through
/// [`grab`]; None if this page cannot make one.
pub fn offscreen() -> Option<HtmlCanvasElement> {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("canvas").ok())
        .and_then(|c| c.dyn_into::<HtmlCanvasElement>().ok())
}

/// Draws `image` on `canvas`, resizing the canvas to it.
pub fn paint(canvas: &HtmlCanvasElement, image: &RgbImage) -> Result<(), String> {
    let (w, h) = image.dimensions();
    canvas.set_width(w);
    canvas.set_height(h);
    let rgba = DynamicImage::ImageRgb8(image.clone()).to_rgba8();
    let data = ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba.as_raw()), w, h)
        .map_err(|e| js_error_text(&e))?;
    context(canvas, false)?
        .put_image_data(&data, 0, 0)
        .map_err(|e| js_error_text(&e))
}

/// The video's current frame, scaled so that its longest side is at most `max_side`,
/// read through `canvas`. Err when no frame is available yet.
pub fn grab(
    video: &HtmlVideoElement,
    canvas: &HtmlCanvasElement,
    max_side: u32,
) -> Result<DynamicImage, String> {
    let (vw, vh) = (video.video_width(), video.video_height());
    if vw == 0 || vh == 0 {
        return Err("no picture yet".into());
    }
    let scale = (max_side as f64 / vw.max(vh) as f64).min(1.0);
    let fit = |side: u32| ((side as f64 * scale).round() as u32).max(1);
    let (w, h) = (fit(vw), fit(vh));
    if canvas.width() != w || canvas.height() != h {
        canvas.set_width(w);
        canvas.set_height(h);
    }
    let ctx = context(canvas, true)?;
    ctx.draw_image_with_html_video_element_and_dw_and_dh(video, 0.0, 0.0, w as f64, h as f64)
        .map_err(|e| js_error_text(&e))?;
    let pixels = ctx
        .get_image_data(0, 0, w as i32, h as i32)
        .map_err(|e| js_error_text(&e))?
        .data();
    RgbaImage::from_raw(w, h, pixels.0)
        .map(DynamicImage::ImageRgba8)
        .ok_or_else(|| "the picture has an unexpected size".to_string())
}

fn context(
    canvas: &HtmlCanvasElement,
    read_often: bool,
) -> Result<CanvasRenderingContext2d, String> {
    let options = Object::new();
    let _ = js_sys::Reflect::set(
        &options,
        &"willReadFrequently".into(),
        &JsValue::from_bool(read_often),
    );
    canvas
        .get_context_with_context_options("2d", &options)
        .map_err(|e| js_error_text(&e))?
        .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
        .ok_or_else(|| "this browser cannot draw on a canvas".to_string())
}

/// An image drawn on a canvas of its size.
#[component]
pub fn Picture(image: Arc<RgbImage>, class: &'static str, label: String) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let (w, h) = image.dimensions();
    // A picture that cannot be drawn gets a sentence in its place, not only the console.
    let failed = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(canvas) = canvas.get() {
            if let Err(why) = paint(&canvas, &image) {
                leptos::logging::warn!("cannot draw a picture: {why}");
                failed.set(Some(why));
            }
        }
    });
    view! {
        {move || failed.get().map(|why| view! {
            <p class="error thumbnail-error">{format!("This picture cannot be shown ({why}).")}</p>
        })}
        <canvas class=class node_ref=canvas width=w height=h role="img" aria-label=label></canvas>
    }
}
