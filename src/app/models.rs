//! The model files, fetched once from this site: the expression classifier (whose
//! contract says how to use it) and the BlazeFace face detectors; or a classifier the
//! person chose ("Use another model"), read and checked by the shared core.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Uint8Array;
use mien::contract::{ModelContract, ModelFileError};
use mien::face::{prepare_blazeface, Variant};
use mien::weights::expand_bytes;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;

use super::files::js_error_text;

/// Where the classifier is served (`public/models/`).
pub const CLASSIFIER_URL: &str = "models/mien.onnx";

/// Where a BlazeFace model is served (made from the npm file at build time: Trunk.toml).
fn detector_url(variant: Variant) -> String {
    format!("models/blazeface/{}", variant.served_file_name())
}

/// The face detectors' prepared files, by variant, fetched as they are first needed.
type Detectors = Rc<RefCell<Vec<(Variant, Rc<Vec<u8>>)>>>;

/// Model bytes ready to hand to any engine.
pub struct ModelFiles {
    pub contract: ModelContract,
    pub classifier: Vec<u8>,
    /// The file the person chose, for a classifier that is not the site's own.
    pub chosen: Option<String>,
    /// Prepared for both runtimes ([`prepare_blazeface`]); fetched when first needed
    /// (photos use `Back`, the webcam `Front`); shared by every classifier.
    detectors: Detectors,
}

impl ModelFiles {
    /// Fetches the classifier and reads its contract.
    pub async fn fetch() -> Result<ModelFiles, String> {
        // Float16 or int8 weights become float32 here, once, for both engines.
        let classifier = expand_bytes(fetch_bytes(CLASSIFIER_URL).await?)
            .map_err(|e| format!("{CLASSIFIER_URL}: {e}"))?;
        let contract = ModelContract::from_onnx_bytes(&classifier)
            .map_err(|e| format!("{CLASSIFIER_URL}: {e}"))?;
        Ok(ModelFiles {
            contract,
            classifier,
            chosen: None,
            detectors: Rc::default(),
        })
    }

    /// The same face detectors with a classifier file the person chose (`name`), once
    /// the shared core has read its contract and found a graph the app can run.
    /// Err: a sentence saying why it cannot be used.
    pub fn with_chosen(&self, name: &str, bytes: Vec<u8>) -> Result<ModelFiles, String> {
        let contract = ModelContract::from_model_file(&bytes).map_err(|e| e.to_string())?;
        let classifier = expand_bytes(bytes)
            .map_err(|e| ModelFileError::Unsupported(e.to_string()).to_string())?;
        Ok(ModelFiles {
            contract,
            classifier,
            chosen: Some(name.to_string()),
            detectors: self.detectors.clone(),
        })
    }

    /// A face detector's prepared bytes, fetched on first use.
    pub async fn detector(&self, variant: Variant) -> Result<Rc<Vec<u8>>, String> {
        if let Some((_, bytes)) = self.detectors.borrow().iter().find(|(v, _)| *v == variant) {
            return Ok(bytes.clone());
        }
        let url = detector_url(variant);
        let bytes = Rc::new(prepare_blazeface(&fetch_bytes(&url).await?)?);
        self.detectors.borrow_mut().push((variant, bytes.clone()));
        Ok(bytes)
    }
}

/// GETs a file of this site.
async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let failed =
        |e: wasm_bindgen::JsValue| format!("{url} could not be loaded ({})", js_error_text(&e));
    let window = web_sys::window().ok_or("no window")?;
    let response: Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(failed)?
        .dyn_into()
        .map_err(failed)?;
    if !response.ok() {
        return Err(format!(
            "{url} could not be loaded (HTTP {})",
            response.status()
        ));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(failed)?)
        .await
        .map_err(failed)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}
