//! Browser files to bytes: picking the first file of a drop, a file input or a
//! paste, and reading it without blocking the page.

use js_sys::Uint8Array;
use mien::decode::DecodeLimits;
use wasm_bindgen_futures::JsFuture;
use web_sys::{File, FileList};

/// A file the person gave us, read into memory (it never leaves the page).
#[derive(Clone, Debug)]
pub struct Photo {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The first file of a list, if any.
pub fn first_file(list: Option<FileList>) -> Option<File> {
    list.and_then(|l| l.get(0))
}

/// Reads a file's bytes, refusing files too large to be a photo we can decode.
pub async fn read(file: File) -> Result<Photo, String> {
    let name = file.name();
    let limit = DecodeLimits::default().max_file_bytes;
    if file.size() > limit as f64 {
        return Err(format!(
            "{name} is {:.0} MB; photos up to {} MB can be analysed.",
            file.size() / 1e6,
            limit / 1_000_000
        ));
    }
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("{name} could not be read ({}).", js_error_text(&e)))?;
    Ok(Photo {
        name,
        bytes: Uint8Array::new(&buffer).to_vec(),
    })
}

/// The message of a JS error value, or its string form.
pub fn js_error_text(value: &wasm_bindgen::JsValue) -> String {
    js_sys::Reflect::get(value, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| value.as_string())
        .unwrap_or_else(|| "unknown error".to_string())
}
