//! Turning a user's file into an upright image, under explicit limits, with a clear
//! sentence for everything that can go wrong. Never panics.

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// Bounds on what we agree to decode.
#[derive(Clone, Debug)]
pub struct DecodeLimits {
    pub max_file_bytes: usize,
    pub max_side: u32,
    pub max_pixels: u64,
    pub max_alloc: u64,
    pub min_side: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_file_bytes: 50 * 1024 * 1024,
            max_side: 12_000,
            max_pixels: 50_000_000,
            max_alloc: 512 * 1024 * 1024,
            min_side: 24,
        }
    }
}

/// Why a file cannot be analysed, as something a person can act on.
#[derive(Clone, Debug, PartialEq)]
pub enum DecodeError {
    Empty,
    FileTooLarge { bytes: usize, limit: usize },
    NotAnImage,
    Unsupported(String),
    Corrupt(String),
    TooSmall { width: u32, height: u32, min: u32 },
    TooLarge { width: u32, height: u32 },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Empty => write!(f, "The file is empty."),
            DecodeError::FileTooLarge { bytes, limit } => write!(
                f,
                "The file is too large ({:.1} MB; the limit is {} MB).",
                *bytes as f64 / 1_048_576.0,
                limit / 1_048_576
            ),
            DecodeError::NotAnImage => write!(f, "This is not an image mien can read. Use a {FORMAT_NAMES} file."),
            DecodeError::Unsupported(name) => {
                write!(f, "{name} images are not supported. mien reads {FORMAT_NAMES} files: convert it to one of these first.")
            }
            DecodeError::Corrupt(why) => write!(f, "The image is damaged and cannot be decoded ({why})."),
            DecodeError::TooSmall { width, height, min } => write!(
                f,
                "The image is too small ({width}x{height} px); a face needs at least {min}x{min} px."
            ),
            DecodeError::TooLarge { width, height } => write!(
                f,
                "The image is too large to analyse in the browser ({width}x{height} px). Scale it down below 50 megapixels."
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Formats we decode (the `image` crate's features enabled for mien). TIFF is left out
/// on purpose: its decoder would add 313 KB to the app's wasm (79 KB gzip, +11%;
/// measured 2026-12-02 by enabling `image`'s `tiff` feature and comparing the release
/// builds) for a format cameras and phones do not write; it gets a sentence instead.
const SUPPORTED: [ImageFormat; 5] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::WebP,
    ImageFormat::Gif,
    ImageFormat::Bmp,
];

/// [`SUPPORTED`] for sentences.
const FORMAT_NAMES: &str = "JPEG, PNG, WebP, GIF or BMP";

/// Decodes a file's bytes into an upright image (EXIF orientation applied; first frame
/// of a GIF).
pub fn decode_image(bytes: &[u8], limits: &DecodeLimits) -> Result<DynamicImage, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.len() > limits.max_file_bytes {
        return Err(DecodeError::FileTooLarge {
            bytes: bytes.len(),
            limit: limits.max_file_bytes,
        });
    }
    if let Some(name) = known_unsupported_format(bytes) {
        return Err(DecodeError::Unsupported(name.to_string()));
    }
    let format = image::guess_format(bytes).map_err(|_| DecodeError::NotAnImage)?;
    if !SUPPORTED.contains(&format) {
        return Err(DecodeError::Unsupported(
            format!("{format:?}").to_uppercase(),
        ));
    }
    // The header's dimensions first: a too-large image is refused before any decoding,
    // even when the file is cut short after its header.
    if let Ok(size) = imagesize::blob_size(bytes) {
        check_dimensions(size.width as u64, size.height as u64, limits)?;
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut image_limits = Limits::default();
    image_limits.max_alloc = Some(limits.max_alloc);
    // The headers are read under the allocation limit only, so that an image too large
    // gets the friendlier message below (the decoder would call it a limits error).
    reader.limits(image_limits.clone());
    let mut decoder = reader.into_decoder().map_err(|e| classify(e, limits))?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width as u64, height as u64, limits)?;
    // The decoder's own dimension limits stay as the safety net for the pixels.
    image_limits.max_image_width = Some(limits.max_side);
    image_limits.max_image_height = Some(limits.max_side);
    decoder
        .set_limits(image_limits)
        .map_err(|e| classify(e, limits))?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| classify(e, limits))?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Refuses images too small to hold a face or too large to decode in a browser tab.
fn check_dimensions(width: u64, height: u64, limits: &DecodeLimits) -> Result<(), DecodeError> {
    let (w, h) = (
        width.min(u32::MAX as u64) as u32,
        height.min(u32::MAX as u64) as u32,
    );
    if w < limits.min_side || h < limits.min_side {
        return Err(DecodeError::TooSmall {
            width: w,
            height: h,
            min: limits.min_side,
        });
    }
    if w > limits.max_side || h > limits.max_side || width * height > limits.max_pixels {
        return Err(DecodeError::TooLarge {
            width: w,
            height: h,
        });
    }
    Ok(())
}

fn classify(e: image::ImageError, _limits: &DecodeLimits) -> DecodeError {
    use image::ImageError as E;
    match e {
        E::Limits(l) => DecodeError::Corrupt(format!("it exceeds the decoding limits: {l}")),
        E::Unsupported(u) => DecodeError::Unsupported(u.to_string()),
        other => DecodeError::Corrupt(other.to_string()),
    }
}

/// Recognises common formats we do not decode, to name them in the message.
fn known_unsupported_format(bytes: &[u8]) -> Option<&'static str> {
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        let brand = &bytes[8..12];
        return match brand {
            b"heic" | b"heix" | b"hevc" | b"heim" | b"heis" | b"mif1" | b"msf1" => {
                Some("HEIC/HEIF")
            }
            b"avif" | b"avis" => Some("AVIF"),
            _ => Some("This video or ISO-media"),
        };
    }
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        return Some("TIFF");
    }
    if bytes.starts_with(b"%PDF") {
        return Some("PDF");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, RgbImage};

    fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn decodes_each_supported_format() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(40, 30, |x, y| {
            image::Rgb([x as u8, y as u8, 7])
        }));
        for format in [
            ImageFormat::Png,
            ImageFormat::Jpeg,
            ImageFormat::Bmp,
            ImageFormat::Gif,
            ImageFormat::WebP,
        ] {
            let bytes = encode(&img, format);
            let back = decode_image(&bytes, &DecodeLimits::default())
                .unwrap_or_else(|e| panic!("{format:?}: {e}"));
            assert_eq!((back.width(), back.height()), (40, 30), "{format:?}");
        }
    }

    #[test]
    fn bad_inputs_get_clear_messages() {
        let limits = DecodeLimits::default();
        assert_eq!(decode_image(b"", &limits), Err(DecodeError::Empty));
        assert_eq!(
            decode_image(b"hello, this is text", &limits),
            Err(DecodeError::NotAnImage)
        );
        let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic";
        assert_eq!(
            decode_image(heic, &limits),
            Err(DecodeError::Unsupported("HEIC/HEIF".into()))
        );
        let tiff = decode_image(b"II*\0\x08\0\0\0\0\0", &limits).unwrap_err();
        assert_eq!(tiff, DecodeError::Unsupported("TIFF".into()));
        let sentence = tiff.to_string();
        for format in ["JPEG", "PNG", "WebP", "GIF", "BMP"] {
            assert!(
                sentence.contains(format),
                "the message names the formats that work: {sentence}"
            );
        }
        let tiny = encode(
            &DynamicImage::ImageLuma8(GrayImage::from_pixel(1, 1, Luma([9]))),
            ImageFormat::Png,
        );
        assert!(matches!(
            decode_image(&tiny, &limits),
            Err(DecodeError::TooSmall {
                width: 1,
                height: 1,
                ..
            })
        ));
        let mut png = encode(
            &DynamicImage::ImageLuma8(GrayImage::from_pixel(64, 64, Luma([9]))),
            ImageFormat::Png,
        );
        png.truncate(png.len() / 2);
        assert!(matches!(
            decode_image(&png, &limits),
            Err(DecodeError::Corrupt(_))
        ));
        for e in [
            DecodeError::Empty,
            DecodeError::NotAnImage,
            DecodeError::TooLarge {
                width: 20000,
                height: 20000,
            },
        ] {
            assert!(e.to_string().ends_with('.'), "{e}");
        }
    }

    /// Headers claiming 20000x20000, in each format read, with no pixels after them:
    /// only a refusal from the header alone, before any pixel buffer, gives the size
    /// error (a decoder that went on would find the data missing and call the file
    /// damaged), and the person gets the sentence that says to scale it down.
    #[test]
    fn huge_dimensions_are_refused_before_allocating() {
        let (w, h) = (20000u32, 20000u32);
        let (w16, h16) = (w as u16, h as u16);
        let gif = [
            &b"GIF89a"[..],
            &w16.to_le_bytes(),
            &h16.to_le_bytes(),
            &[0, 0, 0],
        ]
        .concat();
        let bmp = [
            &b"BM"[..],
            &54u32.to_le_bytes(),
            &[0; 4],
            &54u32.to_le_bytes(),
            &40u32.to_le_bytes(),
            &(w as i32).to_le_bytes(),
            &(h as i32).to_le_bytes(),
            &1u16.to_le_bytes(),
            &24u16.to_le_bytes(),
            &[0; 24],
        ]
        .concat();
        let jpeg = [
            &[0xff, 0xd8, 0xff, 0xc0, 0, 17, 8][..],
            &h16.to_be_bytes(),
            &w16.to_be_bytes(),
            &[3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0],
        ]
        .concat();
        let webp = [
            &b"RIFF"[..],
            &22u32.to_le_bytes(),
            b"WEBPVP8X",
            &10u32.to_le_bytes(),
            &[0; 4],
            &(w - 1).to_le_bytes()[..3],
            &(h - 1).to_le_bytes()[..3],
        ]
        .concat();
        for (format, bytes) in [
            ("PNG", png_header(w, h)),
            ("GIF", gif),
            ("BMP", bmp),
            ("JPEG", jpeg),
            ("WebP", webp),
        ] {
            let r = decode_image(&bytes, &DecodeLimits::default());
            assert_eq!(
                r,
                Err(DecodeError::TooLarge {
                    width: w,
                    height: h
                }),
                "{format}"
            );
        }
    }

    #[test]
    fn huge_dimensions_get_the_size_message_not_a_damage_one() {
        let r = decode_image(&png_header(20000, 20000), &DecodeLimits::default());
        assert_eq!(
            r,
            Err(DecodeError::TooLarge {
                width: 20000,
                height: 20000
            })
        );
        let wide = decode_image(&png_header(13000, 100), &DecodeLimits::default());
        assert_eq!(
            wide,
            Err(DecodeError::TooLarge {
                width: 13000,
                height: 100
            })
        );
    }

    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
        v.extend_from_slice(&13u32.to_be_bytes());
        v.extend_from_slice(&ihdr);
        v.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        v
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
