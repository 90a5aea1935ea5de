//! Robustness by volume: thousands of damaged files, made here from real photos
//! (FER2013 faces composed into scenes, encoded in every format the app accepts), go
//! through the shared path the app and the native evaluation use (decode -> detect ->
//! crop -> preprocess, with the real BlazeFace model on tract), and random detector
//! outputs (NaN, infinities, huge numbers) go through the detector's decoding. Every
//! case must end in a result or a typed error: no panic, and each case's memory stays
//! bounded. Each case's time is reported, not checked: a time limit measures the
//! machine's load as much as the code (timings belong to the benchmarks, `bench/`).
//!
//! `make test` runs the default count (a few thousand cases). More:
//! `MIEN_ROBUSTNESS_SCALE=10 cargo test --release --test robustness -- --nocapture`
//! (the scale multiplies the damaged copies per file and the random outputs).
//!
//! Needs `npm ci` (the BlazeFace model) and `../shared/data/fer2013.tar.gz` (the faces,
//! read at run time; nothing derived from them is written anywhere).

mod common;

use common::Lcg;
use image::codecs::gif::{GifEncoder, Repeat};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{
    imageops::FilterType, DynamicImage, Frame, GrayImage, ImageBuffer, ImageEncoder, ImageFormat,
    Rgb, RgbImage, Rgba, RgbaImage,
};
use mien::contract::ModelContract;
use mien::cpu::CpuModel;
use mien::decode::{decode_image, DecodeError, DecodeLimits};
use mien::face::{
    centre_square, downscale, face_gray, prepare_blazeface, Face, FaceDetector, Variant,
    MAX_PHOTO_SIDE,
};
use mien::preprocess::{pixels_to_input, preprocess};
use mien::tensor::TensorF32;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::Cursor;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Memory: a counting allocator, so each case's peak can be checked. Counted per
// thread: the tests run in parallel, each on its own thread, and a case runs wholly on
// its test's thread (decoding, detection and tract start no threads), so a case's peak
// is its own, never the other test's allocations at the same moment.

struct Counting;

thread_local! {
    /// Bytes this thread allocated and has not freed (negative when it frees memory
    /// another thread allocated), and their highest value since [`Tally::run`] last
    /// set it. Constant-initialised without destructors: using them never allocates.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// Adds `bytes` to this thread's live count (nothing while the thread is ending).
fn count(bytes: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + bytes;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Memory per case: far above what a case needs (the decoder's allocation limit is
/// 512 MiB), low enough to catch a runaway allocation.
const MAX_CASE_BYTES: usize = 768 << 20;

/// What the cases came to, for the report and the checks.
#[derive(Default)]
struct Tally {
    cases: usize,
    outcomes: BTreeMap<String, usize>,
    slowest: (Duration, String),
    most_memory: (usize, String),
}

impl Tally {
    /// Runs one case on this thread, measuring the memory it takes above what this
    /// thread had live before (checked) and its time (reported only); the case's
    /// outcome is a short name for the report.
    fn run(&mut self, name: &str, case: impl FnOnce() -> String) {
        let base = LIVE.with(Cell::get);
        PEAK.with(|peak| peak.set(base));
        let started = Instant::now();
        let outcome = case();
        let took = started.elapsed();
        let bytes = (PEAK.with(Cell::get) - base).max(0) as usize;
        assert!(bytes < MAX_CASE_BYTES, "{name}: took {} MiB", bytes >> 20);
        if took > self.slowest.0 {
            self.slowest = (took, name.to_string());
        }
        if bytes > self.most_memory.0 {
            self.most_memory = (bytes, name.to_string());
        }
        self.cases += 1;
        *self.outcomes.entry(outcome).or_default() += 1;
    }

    fn report(&self, what: &str) {
        println!("{what}: {} cases; outcomes {:?}", self.cases, self.outcomes);
        println!(
            "  slowest {:?} ({}); most memory {:.1} MiB ({})",
            self.slowest.0,
            self.slowest.1,
            self.most_memory.0 as f64 / 1_048_576.0,
            self.most_memory.1
        );
    }
}

fn scale() -> usize {
    std::env::var("MIEN_ROBUSTNESS_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1)
}

// ---------------------------------------------------------------------------
// The shared path, as the app runs it on a file.

struct Path {
    detector: FaceDetector,
    model: CpuModel,
    contract: ModelContract,
}

impl Path {
    fn new() -> Self {
        let variant = Variant::Front;
        let file = format!("{}/{}", env!("CARGO_MANIFEST_DIR"), variant.npm_path());
        let bytes = std::fs::read(&file).unwrap_or_else(|e| {
            panic!("cannot read {file} ({e}): run `npm ci` in the repository root")
        });
        let model = CpuModel::load(&prepare_blazeface(&bytes).expect("prepare BlazeFace"))
            .expect("load BlazeFace");
        Path {
            detector: FaceDetector::new(variant),
            model,
            contract: ModelContract::new(1, 48, 48),
        }
    }

    /// A file's bytes to the classifier inputs of its faces (the centred square when
    /// no face is found), or the typed reason it cannot be read.
    fn analyse(&self, bytes: &[u8]) -> Result<Vec<Vec<f32>>, DecodeError> {
        let photo = downscale(
            decode_image(bytes, &DecodeLimits::default())?,
            MAX_PHOTO_SIDE,
        );
        let (input, letterbox) = self.detector.input(&photo);
        let outputs = self
            .model
            .run(&[input])
            .expect("BlazeFace runs on any decoded photo");
        let faces = self
            .detector
            .decode(&outputs, &letterbox)
            .expect("BlazeFace's own outputs decode");
        if faces.is_empty() {
            return Ok(vec![
                self.checked(preprocess(&centre_square(&photo), &self.contract))
            ]);
        }
        Ok(faces
            .iter()
            .map(|f| self.checked(face_input(&photo, f, &self.contract)))
            .collect())
    }

    fn checked(&self, input: Vec<f32>) -> Vec<f32> {
        assert_eq!(input.len(), 48 * 48);
        assert!(
            input.iter().all(|v| v.is_finite()),
            "a non-finite classifier input"
        );
        input
    }
}

/// The classifier's input for a found face, as the app reads it.
fn face_input(photo: &DynamicImage, face: &Face, contract: &ModelContract) -> Vec<f32> {
    let gray = face_gray(photo, face, contract.width, contract.height);
    pixels_to_input(gray.as_raw(), contract)
}

/// A short name for an outcome.
fn outcome(result: &Result<Vec<Vec<f32>>, DecodeError>) -> String {
    match result {
        Ok(faces) => format!("read ({} crops)", faces.len().min(3)).replace("3 crops", "3+ crops"),
        Err(e) => {
            let debug = format!("{e:?}");
            let variant = debug
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or("?")
                .to_string();
            // Every error must also be a sentence for the page.
            let sentence = e.to_string();
            assert!(
                sentence.ends_with('.') || sentence.ends_with(')'),
                "{sentence}"
            );
            format!("error {variant}")
        }
    }
}

// ---------------------------------------------------------------------------
// Real photos: FER2013 faces pasted on noisy backgrounds.

fn fer_faces(n: usize) -> Vec<GrayImage> {
    let mut out = Vec::new();
    common::walk_fer(|path, file| {
        if path.starts_with("train/") && path.ends_with(".jpg") {
            out.push(
                image::load_from_memory(&common::read_all(file))
                    .expect("a FER2013 face decodes")
                    .to_luma8(),
            );
        }
        if out.len() == n {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    });
    assert_eq!(out.len(), n, "the tarball has too few faces");
    out
}

fn scene(width: u32, height: u32, faces: &[GrayImage], rng: &mut Lcg) -> RgbImage {
    let base = [
        rng.below(200) as u8 + 30,
        rng.below(200) as u8 + 30,
        rng.below(200) as u8 + 30,
    ];
    let mut img = RgbImage::from_fn(width, height, |_, _| {
        Rgb(base.map(|c| c.saturating_add(rng.below(20) as u8)))
    });
    for face in faces {
        let side = (height / 3).max(24) + rng.below((height / 3) as usize) as u32;
        let big = image::imageops::resize(face, side, side, FilterType::Triangle);
        let x = rng.below((width.saturating_sub(side)) as usize + 1) as i64;
        let y = rng.below((height.saturating_sub(side)) as usize + 1) as i64;
        image::imageops::overlay(&mut img, &DynamicImage::ImageLuma8(big).to_rgb8(), x, y);
    }
    img
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    let img = if format == ImageFormat::Gif {
        DynamicImage::ImageRgba8(img.to_rgba8())
    } else {
        img.clone()
    };
    img.write_to(&mut out, format)
        .unwrap_or_else(|e| panic!("encode {format:?}: {e}"));
    out.into_inner()
}

// ---------------------------------------------------------------------------
// Special files: animated GIF, 16-bit PNG, CMYK JPEG, EXIF orientations.

fn animated_gif(frames: &[RgbImage]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut out);
        enc.set_repeat(Repeat::Infinite).unwrap();
        let frames = frames
            .iter()
            .map(|f| Frame::new(DynamicImage::ImageRgb8(f.clone()).to_rgba8()));
        enc.encode_frames(frames).expect("encode an animated GIF");
    }
    out
}

fn png16(img: &RgbImage) -> Vec<u8> {
    let wide: ImageBuffer<Rgb<u16>, Vec<u16>> =
        ImageBuffer::from_fn(img.width(), img.height(), |x, y| {
            Rgb(img.get_pixel(x, y).0.map(|v| v as u16 * 257))
        });
    encode(&DynamicImage::ImageRgb16(wide), ImageFormat::Png)
}

/// A JPEG carrying an EXIF orientation tag (1..=8).
fn jpeg_with_orientation(img: &RgbImage, orientation: u16) -> Vec<u8> {
    // A little-endian TIFF header and one IFD entry: tag 0x0112, SHORT, count 1.
    let mut exif = b"II*\0\x08\0\0\0\x01\0".to_vec();
    exif.extend_from_slice(&0x0112u16.to_le_bytes());
    exif.extend_from_slice(&3u16.to_le_bytes());
    exif.extend_from_slice(&1u32.to_le_bytes());
    exif.extend_from_slice(&orientation.to_le_bytes());
    exif.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut out = Vec::new();
    let mut enc = JpegEncoder::new_with_quality(&mut out, 85);
    enc.set_exif_metadata(exif).expect("JPEG takes EXIF");
    enc.write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
    .expect("encode JPEG");
    out
}

/// A baseline CMYK JPEG (Adobe APP14, no colour transform), written by hand since the
/// `image` crate only encodes gray and RGB: one flat colour, every block a DC of zero
/// and an end-of-block, each coded by a one-symbol Huffman table as one 0 bit.
fn cmyk_jpeg(width: u16, height: u16) -> Vec<u8> {
    let segment = |marker: u8, body: &[u8]| {
        let mut s = vec![0xff, marker];
        s.extend_from_slice(&(body.len() as u16 + 2).to_be_bytes());
        s.extend_from_slice(body);
        s
    };
    let mut out = vec![0xff, 0xd8];
    out.extend(segment(0xee, b"Adobe\x00\x64\x00\x00\x00\x00\x00"));
    out.extend(segment(0xdb, &[[0u8].as_slice(), &[1u8; 64]].concat()));
    let mut sof = vec![8];
    sof.extend_from_slice(&height.to_be_bytes());
    sof.extend_from_slice(&width.to_be_bytes());
    sof.push(4);
    for c in 1..=4u8 {
        sof.extend_from_slice(&[c, 0x11, 0]);
    }
    out.extend(segment(0xc0, &sof));
    for class in [0x00u8, 0x10] {
        let mut dht = vec![class, 1];
        dht.extend_from_slice(&[0; 15]);
        dht.push(0);
        out.extend(segment(0xc4, &dht));
    }
    let mut sos = vec![4];
    for c in 1..=4u8 {
        sos.extend_from_slice(&[c, 0x00]);
    }
    sos.extend_from_slice(&[0, 63, 0]);
    out.extend(segment(0xda, &sos));
    // Four blocks of two 0 bits per MCU: one zero byte.
    let mcus = (width as usize).div_ceil(8) * (height as usize).div_ceil(8);
    out.extend(std::iter::repeat_n(0u8, mcus));
    out.extend_from_slice(&[0xff, 0xd9]);
    out
}

/// A PNG with an alpha channel, as screenshots often are.
fn png_rgba(img: &RgbImage) -> Vec<u8> {
    let rgba = RgbaImage::from_fn(img.width(), img.height(), |x, y| {
        let [r, g, b] = img.get_pixel(x, y).0;
        Rgba([r, g, b, (x % 256) as u8])
    });
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            rgba.as_raw(),
            rgba.width(),
            rgba.height(),
            image::ExtendedColorType::Rgba8,
        )
        .expect("encode PNG");
    out
}

// ---------------------------------------------------------------------------
// Damage.

/// Where a format keeps its width and height, and how to write a lie there.
fn lie_about_size(bytes: &[u8], format: ImageFormat, width: u32, height: u32) -> Option<Vec<u8>> {
    let mut b = bytes.to_vec();
    match format {
        ImageFormat::Png => {
            b.get(16..24)?;
            b[16..20].copy_from_slice(&width.to_be_bytes());
            b[20..24].copy_from_slice(&height.to_be_bytes());
            // A correct checksum: the header lies, it is not damaged.
            let crc = crc32(&b[12..29]);
            b[29..33].copy_from_slice(&crc.to_be_bytes());
        }
        ImageFormat::Bmp => {
            b.get(18..26)?;
            b[18..22].copy_from_slice(&(width as i32).to_le_bytes());
            b[22..26].copy_from_slice(&(height as i32).to_le_bytes());
        }
        ImageFormat::Gif => {
            b.get(6..10)?;
            b[6..8].copy_from_slice(&(width as u16).to_le_bytes());
            b[8..10].copy_from_slice(&(height as u16).to_le_bytes());
            // The first image descriptor (0x2C) too.
            if let Some(at) = b.iter().skip(13).position(|&v| v == 0x2c).map(|p| p + 13) {
                if at + 9 <= b.len() {
                    b[at + 5..at + 7].copy_from_slice(&(width as u16).to_le_bytes());
                    b[at + 7..at + 9].copy_from_slice(&(height as u16).to_le_bytes());
                }
            }
        }
        ImageFormat::Jpeg => {
            let at = b
                .windows(2)
                .position(|w| w[0] == 0xff && (w[1] == 0xc0 || w[1] == 0xc2))?;
            b.get(at + 9)?;
            b[at + 5..at + 7].copy_from_slice(&(height as u16).to_be_bytes());
            b[at + 7..at + 9].copy_from_slice(&(width as u16).to_be_bytes());
        }
        ImageFormat::WebP => {
            // Lossless (VP8L): signature 0x2f, then 14 bits width-1 and 14 bits height-1.
            let at = b.windows(4).position(|w| w == b"VP8L")? + 8;
            b.get(at + 4)?;
            let (w, h) = (
                width.saturating_sub(1) & 0x3fff,
                height.saturating_sub(1) & 0x3fff,
            );
            let bits = w | (h << 14) | (u32::from(b[at + 4] >> 4) << 28);
            b[at + 1..at + 5].copy_from_slice(&bits.to_le_bytes());
        }
        _ => return None,
    }
    Some(b)
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= byte as u32;
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

/// Damaged copies of one encoded file: cut short, bytes flipped, sizes that lie.
fn damaged(
    bytes: &[u8],
    format: ImageFormat,
    (w, h): (u32, u32),
    rng: &mut Lcg,
    copies: usize,
) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![("empty".to_string(), Vec::new())];
    for cut in [1, 2, 8, 16, 33, 64, 100, 200] {
        let len = (bytes.len() * cut / 256).max(1);
        out.push((format!("cut at {len}"), bytes[..len].to_vec()));
    }
    out.push((
        "last byte missing".into(),
        bytes[..bytes.len() - 1].to_vec(),
    ));
    for i in 0..copies {
        let mut b = bytes.to_vec();
        let flips = 1 + rng.below(8);
        // Half the copies are hurt in the first 64 bytes, where the headers are.
        let span = if i % 2 == 0 { b.len().min(64) } else { b.len() };
        for _ in 0..flips {
            let at = rng.below(span);
            b[at] ^= 1 + rng.below(255) as u8;
        }
        out.push((format!("{flips} bytes flipped #{i}"), b));
    }
    let lies = [
        (0, 0),
        (1, 1),
        (w * 2, h),
        (w, h / 2 + 1),
        (w + 1, h + 1),
        (65535, 65535),
        (16383, 16383),
        (100_000, 1),
        (1, 100_000),
        (0x7fff_ffff, 0x7fff_ffff),
    ];
    for (lw, lh) in lies {
        if let Some(b) = lie_about_size(bytes, format, lw, lh) {
            out.push((format!("header says {lw}x{lh}"), b));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn thousands_of_damaged_files_end_in_a_result_or_a_typed_error() {
    let path = Path::new();
    let mut rng = Lcg(15);
    let faces = fer_faces(8);
    let copies = 24 * scale();
    let sizes = [(200, 150), (320, 240), (240, 320), (480, 270)];
    let mut photos = Vec::new();
    for (i, &(w, h)) in sizes.iter().enumerate() {
        let n = 1 + i % 3;
        photos.push(scene(w, h, &faces[i..i + n], &mut rng));
    }
    let mut tally = Tally::default();
    let mut intact = 0;
    for (p, photo) in photos.iter().enumerate() {
        let size = photo.dimensions();
        for format in [
            ImageFormat::Png,
            ImageFormat::Jpeg,
            ImageFormat::Gif,
            ImageFormat::WebP,
            ImageFormat::Bmp,
        ] {
            let bytes = encode(&DynamicImage::ImageRgb8(photo.clone()), format);
            let name = format!("photo {p} as {format:?}");
            tally.run(&name, || {
                let result = path.analyse(&bytes);
                assert!(result.is_ok(), "{name}, intact: {:?}", result.err());
                intact += 1;
                outcome(&result)
            });
            for (damage, bad) in damaged(&bytes, format, size, &mut rng, copies) {
                let name = format!("{name}, {damage}");
                tally.run(&name, || outcome(&path.analyse(&bad)));
            }
        }
        // The special files, each intact and damaged.
        let specials = [
            (
                "animated GIF",
                ImageFormat::Gif,
                animated_gif(&[photo.clone(), photos[(p + 1) % photos.len()].clone()]),
            ),
            ("16-bit PNG", ImageFormat::Png, png16(photo)),
            ("RGBA PNG", ImageFormat::Png, png_rgba(photo)),
            (
                "grayscale JPEG",
                ImageFormat::Jpeg,
                encode(
                    &DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(photo.clone()).to_luma8()),
                    ImageFormat::Jpeg,
                ),
            ),
        ];
        for (what, format, bytes) in specials {
            let name = format!("photo {p} as {what}");
            tally.run(&name, || {
                let result = path.analyse(&bytes);
                assert!(result.is_ok(), "{name}, intact: {:?}", result.err());
                outcome(&result)
            });
            for (damage, bad) in damaged(&bytes, format, size, &mut rng, copies / 4) {
                let name = format!("{name}, {damage}");
                tally.run(&name, || outcome(&path.analyse(&bad)));
            }
        }
    }
    // EXIF orientations: 5 to 8 turn the picture a quarter.
    let photo = &photos[0];
    for orientation in 1..=8u16 {
        let bytes = jpeg_with_orientation(photo, orientation);
        tally.run(&format!("EXIF orientation {orientation}"), || {
            let img =
                decode_image(&bytes, &DecodeLimits::default()).expect("an oriented JPEG decodes");
            let turned = orientation >= 5;
            let expected = if turned {
                (photo.height(), photo.width())
            } else {
                photo.dimensions()
            };
            assert_eq!(
                (img.width(), img.height()),
                expected,
                "orientation {orientation}"
            );
            outcome(&path.analyse(&bytes))
        });
        for (damage, bad) in damaged(
            &bytes,
            ImageFormat::Jpeg,
            photo.dimensions(),
            &mut rng,
            copies / 4,
        ) {
            tally.run(&format!("EXIF orientation {orientation}, {damage}"), || {
                outcome(&path.analyse(&bad))
            });
        }
    }
    // CMYK JPEG: read (as a flat colour, so no face: the centred square).
    let cmyk = cmyk_jpeg(256, 192);
    tally.run("CMYK JPEG", || {
        let img = decode_image(&cmyk, &DecodeLimits::default()).expect("a CMYK JPEG decodes");
        assert_eq!((img.width(), img.height()), (256, 192));
        outcome(&path.analyse(&cmyk))
    });
    for (damage, bad) in damaged(&cmyk, ImageFormat::Jpeg, (256, 192), &mut rng, copies) {
        tally.run(&format!("CMYK JPEG, {damage}"), || {
            outcome(&path.analyse(&bad))
        });
    }
    // Files that are not images, or images of kinds the app does not read. (File
    // names never matter: the format is read from the bytes, so a PNG named .jpg is
    // just the PNG above.)
    let others: [(&str, Vec<u8>); 6] = [
        ("text", b"name,score\nalice,1\n".to_vec()),
        ("zeros", vec![0; 4096]),
        ("random", (0..4096).map(|_| rng.next() as u8).collect()),
        ("TIFF", b"II*\0\x08\0\0\0\0\0".to_vec()),
        ("HEIC", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec()),
        ("PDF", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec()),
    ];
    for (what, bytes) in others {
        tally.run(what, || {
            let result = path.analyse(&bytes);
            assert!(result.is_err(), "{what} was read as an image");
            outcome(&result)
        });
    }
    tally.report("damaged files");
    assert_eq!(intact, photos.len() * 5);
    assert!(
        tally.cases >= 1500 * scale().min(2),
        "only {} cases",
        tally.cases
    );
}

#[test]
fn random_detector_outputs_decode_to_finite_faces_or_none() {
    let detector_front = FaceDetector::new(Variant::Front);
    let detector_back = FaceDetector::new(Variant::Back);
    let mut rng = Lcg(1515);
    let faces = fer_faces(2);
    let photos: Vec<DynamicImage> = [(64, 48), (320, 240), (90, 400)]
        .iter()
        .map(|&(w, h)| DynamicImage::ImageRgb8(scene(w, h, &faces[..1], &mut rng)))
        .collect();
    let contract = ModelContract::new(1, 48, 48);
    let odd = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        -f32::MAX,
        1e30,
        -1e30,
        0.0,
        -0.0,
        1e-40,
    ];
    let mut tally = Tally::default();
    for case in 0..1000 * scale() {
        let mut detector = if case % 2 == 0 {
            detector_front.clone()
        } else {
            detector_back.clone()
        };
        detector.min_score = [0.0, 0.5, 0.75, 1.0][case % 4];
        let photo = &photos[case % photos.len()];
        let (_, letterbox) = detector.input(photo);
        // Which numbers: plain ones around the real range, or a mix with odd floats.
        let odd_share = [0, 1, 10, 50, 100][rng.below(5)];
        let value = |rng: &mut Lcg| {
            if rng.below(100) < odd_share {
                odd[rng.below(odd.len())]
            } else {
                (rng.unit() - 0.5) * [4.0, 40.0, 400.0, 4e6][rng.below(4)]
            }
        };
        let tensor = |shape: Vec<usize>, rng: &mut Lcg| {
            let n = shape.iter().product();
            TensorF32 {
                shape,
                data: (0..n).map(|_| value(rng)).collect(),
            }
        };
        let (fine, coarse) = (512, 384);
        let mut outputs = vec![
            tensor(vec![1, fine, 1], &mut rng),
            tensor(vec![1, coarse, 1], &mut rng),
            tensor(vec![1, fine, 16], &mut rng),
            tensor(vec![1, coarse, 16], &mut rng),
        ];
        // Some cases have outputs that are not BlazeFace's: a clear error.
        let broken = case % 50 == 49;
        if broken {
            outputs[rng.below(4)].shape = vec![1, 7, 3];
        }
        tally.run(&format!("random outputs #{case}"), || {
            match detector.decode(&outputs, &letterbox) {
                Err(e) => {
                    assert!(broken, "case {case}: {e}");
                    "error: not the model's outputs".into()
                }
                Ok(found) => {
                    assert!(!broken, "case {case}: broken outputs decoded");
                    for f in &found {
                        let numbers = [
                            f.rect.x,
                            f.rect.y,
                            f.rect.width,
                            f.rect.height,
                            f.score,
                            f.roll,
                        ];
                        assert!(numbers.iter().all(|v| v.is_finite()), "case {case}: {f:?}");
                        assert!(
                            f.rect.width > 0.0 && f.rect.height > 0.0,
                            "case {case}: {f:?}"
                        );
                    }
                    // The crop and the classifier input of the first few (as the app
                    // would make for each).
                    for f in found.iter().take(2) {
                        let input = face_input(photo, f, &contract);
                        assert!(input.iter().all(|v| v.is_finite()), "case {case}: {f:?}");
                    }
                    format!(
                        "{} faces",
                        if found.len() > 3 {
                            "4+".to_string()
                        } else {
                            found.len().to_string()
                        }
                    )
                }
            }
        });
    }
    tally.report("random detector outputs");
}

/// The memory check sees a case's own allocations and no other thread's: a case that
/// holds 64 MiB is measured at least that, and one that waits while another thread
/// holds 64 MiB is measured at almost nothing.
#[test]
fn a_cases_memory_is_its_own_not_another_threads() {
    const BIG: usize = 64 << 20;
    let mut own = Tally::default();
    own.run("holds 64 MiB", || {
        let held = vec![1u8; BIG];
        format!("{} bytes", held.len())
    });
    assert!(own.most_memory.0 >= BIG, "{} bytes", own.most_memory.0);

    let mut other = Tally::default();
    other.run("another thread holds 64 MiB", || {
        let held = std::thread::spawn(|| vec![1u8; BIG].len()).join().unwrap();
        format!("{held} bytes elsewhere")
    });
    assert!(
        other.most_memory.0 < 1 << 20,
        "{} bytes counted for a case that allocated almost nothing",
        other.most_memory.0
    );
}
