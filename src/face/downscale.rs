//! Bringing a large photo down to a working size once, before detection.
//!
//! Face detection reads at most 256x256 pixels and a face crop at most
//! [`super::crop::MAX_CROP_SIDE`], so the pixels of a 12- or 48-megapixel photo beyond
//! about 2048 a side only cost time and memory (in the browser, on every step that
//! touches the photo). Faces and boxes are then in the downscaled photo's pixels.

use image::DynamicImage;

/// The longest side a photo is analysed at: a face a tenth of the photo high (the
/// smallest `Back` finds reliably) is still ~200 px, well above the classifier's input.
pub const MAX_PHOTO_SIDE: u32 = 2048;

/// The photo scaled (by area averaging, keeping its aspect ratio) so that its longest
/// side is at most `max_side`; photos already that small are returned unchanged.
pub fn downscale(photo: DynamicImage, max_side: u32) -> DynamicImage {
    let max_side = max_side.max(1);
    let (w, h) = (photo.width(), photo.height());
    let longest = w.max(h);
    if longest <= max_side {
        return photo;
    }
    let scale = max_side as f64 / longest as f64;
    let fit = |side: u32| ((side as f64 * scale).round() as u32).clamp(1, max_side);
    photo.thumbnail_exact(fit(w), fit(h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgb, RgbImage};

    #[test]
    fn large_photos_shrink_to_the_limit_keeping_their_shape() {
        let photo = DynamicImage::ImageRgb8(RgbImage::from_pixel(4032, 3024, Rgb([10, 200, 30])));
        let small = downscale(photo, MAX_PHOTO_SIDE);
        assert_eq!((small.width(), small.height()), (2048, 1536));
        assert_eq!(
            small.to_rgb8().get_pixel(100, 100).0,
            [10, 200, 30],
            "area averaging keeps flat colours"
        );
        let tall = downscale(DynamicImage::ImageLuma8(GrayImage::new(300, 9000)), 2048);
        assert_eq!((tall.width(), tall.height()), (68, 2048));
        let thin = downscale(DynamicImage::ImageLuma8(GrayImage::new(1, 5000)), 100);
        assert_eq!(
            (thin.width(), thin.height()),
            (1, 100),
            "no side rounds to zero"
        );
    }

    #[test]
    fn small_photos_are_untouched() {
        let photo =
            DynamicImage::ImageLuma8(GrayImage::from_fn(2048, 700, |x, y| Luma([(x ^ y) as u8])));
        let same = downscale(photo.clone(), MAX_PHOTO_SIDE);
        assert_eq!(same, photo);
    }
}
