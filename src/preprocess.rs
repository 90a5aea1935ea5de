//! How a face crop becomes the classifier's input tensor.
//!
//! Used unchanged by the trainer (dataset loading), the native evaluator and the
//! browser, so the same face gives the same numbers everywhere.

use crate::contract::ModelContract;
use image::{imageops::FilterType, DynamicImage, GrayImage};

/// The face as the model sees it before normalisation: grayscale, resized to the
/// contract's input size, one byte per pixel, row-major (`height * width`).
/// FER2013 is grayscale, so colour photos are brought to luma first.
pub fn to_gray_pixels(face: &DynamicImage, contract: &ModelContract) -> GrayImage {
    let gray = face.to_luma8();
    if gray.width() == contract.width && gray.height() == contract.height {
        gray
    } else {
        image::imageops::resize(&gray, contract.width, contract.height, FilterType::Triangle)
    }
}

/// Normalises one pixel value the way the model was trained: `(v / 255 - mean) / std`.
pub fn normalize(value: u8, contract: &ModelContract) -> f32 {
    (value as f32 / 255.0 - contract.mean) / contract.std
}

/// The brightness and contrast [`normalize_light`] gives every face: the mean and
/// standard deviation of a typical FER2013 face's gray levels (measured on its train
/// split: mean 128.5, standard deviation 54.0 on average; SFEW's film faces: 65 and 29).
pub const LIGHT_MEAN: f32 = 128.0;
pub const LIGHT_STD: f32 = 54.0;

/// A face's gray levels moved and stretched to mean [`LIGHT_MEAN`] and standard
/// deviation [`LIGHT_STD`] (in 0..255 units, not clipped), so a dim, flat photo and a
/// bright one read alike. A nearly uniform face is only moved, not stretched beyond 8x.
pub fn normalize_light(levels: &[f32]) -> Vec<f32> {
    let n = levels.len().max(1) as f32;
    let mean = levels.iter().sum::<f32>() / n;
    let var = levels.iter().map(|&v| (v - mean).powi(2)).sum::<f32>() / n;
    let scale = LIGHT_STD / var.sqrt().max(LIGHT_STD / 8.0);
    levels
        .iter()
        .map(|&v| (v - mean) * scale + LIGHT_MEAN)
        .collect()
}

/// Turns `height * width` gray pixels into the NCHW input tensor (batch 1); for
/// 3-channel models the gray plane is repeated.
pub fn pixels_to_input(pixels: &[u8], contract: &ModelContract) -> Vec<f32> {
    let levels: Vec<f32> = pixels.iter().map(|&v| v as f32).collect();
    levels_to_input(&levels, contract)
}

/// [`pixels_to_input`] for gray levels that are not whole numbers (0 to 255), as
/// [`crate::face::face_levels`] reads a face from a photo.
pub fn levels_to_input(levels: &[f32], contract: &ModelContract) -> Vec<f32> {
    let levels = if contract.light_normalized {
        normalize_light(levels)
    } else {
        levels.to_vec()
    };
    let plane: Vec<f32> = levels
        .into_iter()
        .map(|v| (v / 255.0 - contract.mean) / contract.std)
        .collect();
    let mut out = Vec::with_capacity(plane.len() * contract.channels as usize);
    for _ in 0..contract.channels {
        out.extend_from_slice(&plane);
    }
    out
}

/// Gray levels (`width * height`, 0 to 255) rounded to a gray picture, to show or to
/// save as a training face.
pub fn levels_to_gray(levels: &[f32], width: u32, height: u32) -> GrayImage {
    let pixels = levels
        .iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect();
    GrayImage::from_raw(width, height, pixels).expect("one level per pixel")
}

/// True when a face crop is smaller than the model's input on either side: it was
/// enlarged (so blurred) to be read, and its reading is less reliable than usual.
pub fn is_small_face(crop_width: u32, crop_height: u32, contract: &ModelContract) -> bool {
    crop_width < contract.width || crop_height < contract.height
}

/// Face crop to input tensor, in one step.
pub fn preprocess(face: &DynamicImage, contract: &ModelContract) -> Vec<f32> {
    pixels_to_input(to_gray_pixels(face, contract).as_raw(), contract)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn colour_crop_becomes_normalised_gray_tensor() {
        // A 96x64 picture: left half white, right half black.
        let img = RgbImage::from_fn(96, 64, |x, _| {
            if x < 48 {
                Rgb([255, 255, 255])
            } else {
                Rgb([0, 0, 0])
            }
        });
        let contract = ModelContract::new(1, 48, 48);
        let input = preprocess(&DynamicImage::ImageRgb8(img), &contract);
        assert_eq!(input.len(), contract.input_len());
        let white = (1.0 - contract.mean) / contract.std;
        let black = (0.0 - contract.mean) / contract.std;
        assert!((input[0] - white).abs() < 1e-5, "{}", input[0]);
        assert!((input[47] - black).abs() < 1e-5, "{}", input[47]);
        assert!((input[47 * 48 + 2] - white).abs() < 1e-5);
    }

    #[test]
    fn faces_smaller_than_the_input_are_small() {
        let contract = ModelContract::new(1, 48, 48);
        assert!(is_small_face(47, 60, &contract));
        assert!(is_small_face(60, 30, &contract));
        assert!(!is_small_face(48, 48, &contract));
        assert!(!is_small_face(400, 300, &contract));
    }

    #[test]
    fn light_normalisation_makes_a_dim_flat_face_and_a_bright_one_alike() {
        let face: Vec<f32> = (0..48 * 48)
            .map(|i| ((i * 7 + i / 48 * 13) % 200) as f32)
            .collect();
        let dim: Vec<f32> = face.iter().map(|&v| 20.0 + (v / 4.0).floor()).collect();
        let (a, b) = (normalize_light(&face), normalize_light(&dim));
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        let sd = (a.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / a.len() as f32).sqrt();
        assert!(
            (mean - LIGHT_MEAN).abs() < 1e-3 && (sd - LIGHT_STD).abs() < 1e-2,
            "{mean} {sd}"
        );
        // The dim copy differs only by the rounding of v / 4.
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff < 0.06 * LIGHT_STD * 4.0, "{diff}");
        // A flat face is moved to the standard mean, not blown up.
        assert!(normalize_light(&[90.0; 16])
            .iter()
            .all(|&v| v == LIGHT_MEAN));
        let contract = ModelContract {
            light_normalized: true,
            ..ModelContract::new(1, 48, 48)
        };
        let input = levels_to_input(&dim, &contract);
        assert!((input[5] - (b[5] / 255.0 - contract.mean) / contract.std).abs() < 1e-6);
    }

    #[test]
    fn three_channel_models_get_the_gray_plane_three_times() {
        let img = GrayImage::from_fn(48, 48, |x, y| image::Luma([(x * 5 + y) as u8]));
        let contract = ModelContract::new(3, 48, 48);
        let input = preprocess(&DynamicImage::ImageLuma8(img), &contract);
        assert_eq!(input.len(), 3 * 48 * 48);
        assert_eq!(input[..2304], input[2304..4608]);
        assert_eq!(input[..2304], input[4608..]);
        assert!((input[1] - normalize(5, &contract)).abs() < 1e-6);
    }
}
