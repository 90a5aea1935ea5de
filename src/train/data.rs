//! Datasets in the ImageFolder layout (`<split>/<class>/<image>`), decoded once and
//! kept in memory as gray bytes at the model's input size; optional FER+ vote shares.

use crate::contract::ModelContract;
use crate::decode::{decode_image, DecodeLimits};
use crate::face::centre_square;
use crate::preprocess::to_gray_pixels;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One split of a dataset, in memory.
#[derive(Clone)]
pub struct Dataset {
    /// Class names, the sorted folder names.
    pub classes: Vec<String>,
    pub height: usize,
    pub width: usize,
    /// `len * height * width` gray pixels.
    pub pixels: Vec<u8>,
    pub labels: Vec<usize>,
    /// Paths relative to the dataset root (`train/angry/x.jpg`).
    pub paths: Vec<String>,
    /// Per image, the annotators' vote shares over `classes` (when votes were given and
    /// the image has usable votes).
    pub votes: Vec<Option<Vec<f32>>>,
}

/// A file that could not be used, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.height * self.width;
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Appends `other`'s images (same classes and size) `times` times.
    pub fn append(&mut self, other: &Dataset, times: usize) {
        for _ in 0..times {
            self.pixels.extend_from_slice(&other.pixels);
            self.labels.extend_from_slice(&other.labels);
            self.paths.extend(other.paths.iter().cloned());
            self.votes.extend(other.votes.iter().cloned());
        }
    }

    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }
}

/// Lists the class folders of a split: sorted names, each non-empty.
pub fn list_classes(split_dir: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(split_dir)
        .map_err(|e| format!("cannot read {}: {e}", split_dir.display()))?;
    let mut classes: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    classes.sort();
    if classes.is_empty() {
        return Err(format!(
            "{} has no class folders (expected {}/<class>/<image>)",
            split_dir.display(),
            split_dir.display()
        ));
    }
    Ok(classes)
}

/// Checks the dataset layout before anything slow happens: `train/` and `val/` exist,
/// have the same non-empty class folders.
pub fn check_layout(root: &Path) -> Result<Vec<String>, String> {
    let train = root.join("train");
    let val = root.join("val");
    if !train.is_dir() {
        return Err(format!(
            "{} has no train/ folder (expected train/<class>/*.jpg and val/<class>/*.jpg)",
            root.display()
        ));
    }
    if !val.is_dir() {
        return Err(format!(
            "{} has no val/ folder: training needs a validation split (val/<class>/*.jpg)",
            root.display()
        ));
    }
    let classes = list_classes(&train)?;
    let val_classes = list_classes(&val)?;
    if classes != val_classes {
        return Err(format!(
            "train/ and val/ have different classes: train {classes:?}, val {val_classes:?}"
        ));
    }
    for split in [&train, &val] {
        for c in &classes {
            let dir = split.join(c);
            let any_file = std::fs::read_dir(&dir)
                .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
                .filter_map(|e| e.ok())
                .any(|e| e.path().is_file());
            if !any_file {
                return Err(format!("class folder {} is empty", dir.display()));
            }
        }
    }
    Ok(classes)
}

/// Loads every image of an ImageFolder split (`split_dir/<class>/*`). `classes` fixes
/// the label order (the split must have exactly these folders). Unreadable files are
/// returned in the skip list, never silently dropped.
pub fn load_split(
    split_dir: &Path,
    classes: &[String],
    contract: &ModelContract,
    threads: usize,
) -> Result<(Dataset, Vec<Skipped>), String> {
    let found = list_classes(split_dir)?;
    if found != classes {
        return Err(format!(
            "{} has classes {found:?}, expected {classes:?}",
            split_dir.display()
        ));
    }
    let root = split_dir.parent().unwrap_or(split_dir);
    let mut files = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let dir = split_dir.join(class);
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        names.sort();
        files.extend(names.into_iter().map(|p| (p, label)));
    }
    let limits = DecodeLimits {
        min_side: 8,
        ..DecodeLimits::default()
    };
    let n = contract.height as usize * contract.width as usize;
    let results = decode_all(&files, threads, |path| {
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        let img = decode_image(&bytes, &limits).map_err(|e| e.to_string())?;
        // A picture that is not square is read as the app reads a whole picture: its
        // centred square.
        let img = if img.width() == img.height() {
            img
        } else {
            centre_square(&img)
        };
        Ok(to_gray_pixels(&img, contract).into_raw())
    });
    let mut ds = Dataset {
        classes: classes.to_vec(),
        height: contract.height as usize,
        width: contract.width as usize,
        pixels: Vec::with_capacity(files.len() * n),
        labels: Vec::with_capacity(files.len()),
        paths: Vec::with_capacity(files.len()),
        votes: Vec::new(),
    };
    let mut skipped = Vec::new();
    for ((path, label), result) in files.iter().zip(results) {
        match result {
            Ok(px) => {
                ds.pixels.extend_from_slice(&px);
                ds.labels.push(*label);
                let rel = path.strip_prefix(root).unwrap_or(path);
                ds.paths.push(rel.to_string_lossy().replace('\\', "/"));
            }
            Err(reason) => skipped.push(Skipped {
                path: path.clone(),
                reason,
            }),
        }
    }
    ds.votes = vec![None; ds.len()];
    Ok((ds, skipped))
}

/// `decode` applied to every file on `threads` threads: exactly one result per file,
/// in the order of `files`, so results always line up with their labels. A file whose
/// decoding panics gets an error saying so (the panic costs that file only).
fn decode_all<F>(
    files: &[(PathBuf, usize)],
    threads: usize,
    decode: F,
) -> Vec<Result<Vec<u8>, String>>
where
    F: Fn(&Path) -> Result<Vec<u8>, String> + Sync,
{
    let threads = threads.max(1);
    let chunk = files.len().div_ceil(threads).max(1);
    let decode = &decode;
    let one = move |path: &Path| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode(path)))
            .unwrap_or_else(|panic| Err(format!("the decoder panicked: {}", panic_text(&*panic))))
    };
    let results: Vec<Vec<Result<Vec<u8>, String>>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                (
                    part.len(),
                    s.spawn(move || part.iter().map(|(path, _)| one(path)).collect()),
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|(len, h)| {
                // A thread cannot panic outside `one`; should it anyway, its files are
                // reported, never dropped (which would shift every later label).
                h.join()
                    .unwrap_or_else(|_| vec![Err("its decoding thread stopped".to_string()); len])
            })
            .collect()
    });
    results.into_iter().flatten().collect()
}

/// A panic's message, when it has one.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "no message".to_string())
}

/// FER+ vote columns, in the CSV's order.
const FERPLUS_COLUMNS: [&str; 10] = [
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
];

/// Which FER+ column each of our class names takes its votes from. Contempt, unknown
/// and "not a face" have no class of ours and are left out.
fn ferplus_column(class: &str) -> Option<usize> {
    let name = match class {
        "angry" => "anger",
        "happy" => "happiness",
        "sad" => "sadness",
        other => other,
    };
    FERPLUS_COLUMNS
        .iter()
        .position(|c| *c == name)
        .filter(|&i| i < 7)
}

/// Reads FER+ vote counts (`path,neutral,happiness,...`) as shares over `classes`,
/// keyed by path relative to the dataset root. Rows whose mapped votes are all zero
/// are left out.
pub fn read_votes(csv: &Path, classes: &[String]) -> Result<HashMap<String, Vec<f32>>, String> {
    let text = std::fs::read_to_string(csv)
        .map_err(|e| format!("cannot read votes {}: {e}", csv.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .collect();
    if header.first() != Some(&"path") || header.len() < 11 {
        return Err(format!(
            "{} is not a FER+ votes file (header path,neutral,happiness,...)",
            csv.display()
        ));
    }
    let mapping: Vec<usize> = classes
        .iter()
        .map(|c| ferplus_column(c).ok_or_else(|| format!("class `{c}` has no FER+ vote column")))
        .collect::<Result<_, _>>()?;
    let column_index: Vec<usize> = FERPLUS_COLUMNS
        .iter()
        .map(|name| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| format!("votes file lacks column {name}"))
        })
        .collect::<Result<_, _>>()?;
    let mut out = HashMap::new();
    for (lineno, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < header.len() {
            continue;
        }
        let counts: Result<Vec<f32>, _> = column_index
            .iter()
            .map(|&i| fields[i].parse::<f32>())
            .collect();
        let counts =
            counts.map_err(|_| format!("{}:{}: bad vote count", csv.display(), lineno + 2))?;
        let shares: Vec<f32> = mapping.iter().map(|&col| counts[col]).collect();
        let total: f32 = shares.iter().sum();
        if total > 0.0 {
            out.insert(
                fields[0].to_string(),
                shares.iter().map(|v| v / total).collect(),
            );
        }
    }
    Ok(out)
}

/// Attaches vote shares to a split's images; returns how many images got votes.
pub fn attach_votes(ds: &mut Dataset, votes: &HashMap<String, Vec<f32>>) -> usize {
    let mut n = 0;
    for (i, path) in ds.paths.iter().enumerate() {
        ds.votes[i] = votes.get(path).cloned();
        n += ds.votes[i].is_some() as usize;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decoder_that_panics_costs_its_file_not_the_labels_of_the_others() {
        // Ten files, labels 0..10; the decoder returns each file's label as its pixel,
        // and panics on file 3 (as a decoder bug on one image would).
        let files: Vec<(PathBuf, usize)> = (0..10)
            .map(|i| (PathBuf::from(format!("{i}.png")), i))
            .collect();
        for threads in [1, 2, 3, 10] {
            let results = decode_all(&files, threads, |path| {
                let i: u8 = path.file_stem().unwrap().to_str().unwrap().parse().unwrap();
                if i == 3 {
                    panic!("a decoder bug on {}", path.display());
                }
                Ok(vec![i])
            });
            assert_eq!(
                results.len(),
                files.len(),
                "{threads} threads: one result per file"
            );
            for ((path, label), result) in files.iter().zip(&results) {
                match result {
                    Ok(px) => assert_eq!(
                        px[0] as usize,
                        *label,
                        "{threads} threads: {} got another file's pixels",
                        path.display()
                    ),
                    Err(why) => {
                        assert_eq!(
                            *label,
                            3,
                            "{threads} threads: {} failed: {why}",
                            path.display()
                        );
                        assert!(
                            why.contains("panicked") && why.contains("a decoder bug"),
                            "{why}"
                        );
                    }
                }
            }
            assert!(
                results[3].is_err(),
                "{threads} threads: the panicking file must be reported"
            );
        }
    }
}
