//! What the app makes of a photo: decoded here, in the page, with the shared core.

use mien::decode::{decode_image, DecodeLimits};

use super::files::Photo;
use super::status::Status;

/// Decodes the photo and says what was found, as a status sentence.
pub fn describe(photo: &Photo) -> Status {
    match decode_image(&photo.bytes, &DecodeLimits::default()) {
        Ok(image) => Status::info(format!(
            "{}: {} × {} pixels, decoded on this device.",
            photo.name,
            image.width(),
            image.height()
        )),
        Err(e) => Status::error(format!("{}: {e}", photo.name)),
    }
}
