//! Browser files to bytes: the files of a drop, a file input or a paste, read without
//! blocking the page, and shown back through `blob:` URLs (nothing leaves the page).

use js_sys::Uint8Array;
use mien::decode::DecodeLimits;
use wasm_bindgen_futures::JsFuture;
use web_sys::{File, FileList, Url};

/// Every file of a list, in order.
pub fn all_files(list: Option<FileList>) -> Vec<File> {
    list.map(|l| (0..l.length()).filter_map(|i| l.get(i)).collect())
        .unwrap_or_default()
}

/// Reads a file's bytes into memory (they never leave the page), refusing files too
/// large to be a photo we can decode.
pub async fn read(file: &File) -> Result<Vec<u8>, String> {
    let limit = DecodeLimits::default().max_file_bytes;
    if file.size() > limit as f64 {
        return Err(format!(
            "The file is too large ({:.0} MB); photos up to {} MB can be analysed.",
            file.size() / 1_048_576.0,
            limit / 1_048_576
        ));
    }
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("The file could not be read ({}).", js_error_text(&e)))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// A `blob:` URL showing the file in this page (revoke it with [`revoke`]).
pub fn object_url(file: &File) -> Option<String> {
    Url::create_object_url_with_blob(file).ok()
}

pub fn revoke(url: &str) {
    let _ = Url::revoke_object_url(url);
}

/// The message of a JS error value, or its string form.
pub fn js_error_text(value: &wasm_bindgen::JsValue) -> String {
    js_sys::Reflect::get(value, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| value.as_string())
        .unwrap_or_else(|| "unknown error".to_string())
}
