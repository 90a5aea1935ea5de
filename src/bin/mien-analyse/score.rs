//! Scoring mode: a folder of `<label>/<file>` photos read through the app's path,
//! against their labels. Folder names are matched to the model's labels through the
//! usual synonyms; a photo with no face counts as wrong, and is counted.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use mien::metrics::{self, Metrics};
use serde::Serialize;

/// Spellings of each expression seen in datasets, the canonical one first.
const SYNONYMS: [&[&str]; 8] = [
    &["angry", "anger", "angered", "mad"],
    &["disgust", "disgusted", "disgusting"],
    &["fear", "fearful", "afraid", "scared"],
    &["happy", "happiness", "joy", "joyful", "smile", "smiling"],
    &["neutral", "neutrality", "none"],
    &["sad", "sadness", "unhappy"],
    &["surprise", "surprised", "suprise", "surprising"],
    &["contempt", "contemptuous"],
];

/// A name's canonical spelling (lower case, synonyms folded).
fn canonical(name: &str) -> String {
    let name = name.trim().to_lowercase();
    SYNONYMS
        .iter()
        .find(|group| group.contains(&name.as_str()))
        .map_or(name, |group| group[0].to_string())
}

/// Which model label a folder name means.
pub struct LabelMap {
    labels: Vec<String>,
    by_canonical: HashMap<String, usize>,
}

impl LabelMap {
    pub fn new(labels: &[String]) -> Self {
        let by_canonical = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (canonical(l), i))
            .collect();
        LabelMap {
            labels: labels.to_vec(),
            by_canonical,
        }
    }

    /// The model label index of a folder name, or why there is none.
    pub fn index(&self, folder: &str) -> Result<usize, String> {
        self.by_canonical
            .get(&canonical(folder))
            .copied()
            .ok_or_else(|| {
                format!(
                    "the folder name {folder:?} matches none of the model's labels ({})",
                    self.labels.join(", ")
                )
            })
    }
}

/// Per class: photos, photos without a face, photos read right.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ClassTally {
    pub class: String,
    pub photos: usize,
    pub no_face: usize,
    pub failed: usize,
    pub correct: usize,
    /// correct / photos: no face counts as wrong.
    pub recall: f64,
}

/// Everything scoring counts, as it goes.
pub struct Score {
    labels: Vec<String>,
    tallies: Vec<ClassTally>,
    whole: usize,
    /// The fractions and true class of each photo that was read (for [`Metrics`]).
    probs: Vec<Vec<f32>>,
    truth: Vec<usize>,
}

/// The final numbers, as written to `score.json`.
#[derive(Serialize)]
pub struct Summary {
    pub photos: usize,
    pub no_face: usize,
    pub failed: usize,
    /// Photos read as a whole picture because no face was found (`--whole-if-none`).
    pub read_whole: usize,
    /// Right / all photos (no face and failures count as wrong).
    pub accuracy: f64,
    /// Per class: photos, without a face, recall over all of them.
    pub per_class: Vec<ClassTally>,
    /// On the photos that were read: accuracy, macro-F1, precision/recall/F1, confusion.
    pub read: Metrics,
}

impl Score {
    pub fn new(labels: &[String]) -> Self {
        let tallies = labels
            .iter()
            .map(|l| ClassTally {
                class: l.clone(),
                ..ClassTally::default()
            })
            .collect();
        Score {
            labels: labels.to_vec(),
            tallies,
            whole: 0,
            probs: Vec::new(),
            truth: Vec::new(),
        }
    }

    /// A photo of class `truth` read as `fractions` (label order).
    pub fn read(&mut self, truth: usize, fractions: Vec<f32>, whole: bool) {
        let t = &mut self.tallies[truth];
        t.photos += 1;
        t.correct += (mien::emotions::argmax(&fractions) == truth) as usize;
        self.whole += whole as usize;
        self.probs.push(fractions);
        self.truth.push(truth);
    }

    pub fn no_face(&mut self, truth: usize) {
        self.tallies[truth].photos += 1;
        self.tallies[truth].no_face += 1;
    }

    pub fn failed(&mut self, truth: usize) {
        self.tallies[truth].photos += 1;
        self.tallies[truth].failed += 1;
    }

    pub fn summary(&self) -> Summary {
        let mut per_class = self.tallies.clone();
        for t in &mut per_class {
            t.recall = if t.photos > 0 {
                t.correct as f64 / t.photos as f64
            } else {
                0.0
            };
        }
        let photos: usize = per_class.iter().map(|t| t.photos).sum();
        let correct: usize = per_class.iter().map(|t| t.correct).sum();
        let votes = vec![None; self.truth.len()];
        Summary {
            photos,
            no_face: per_class.iter().map(|t| t.no_face).sum(),
            failed: per_class.iter().map(|t| t.failed).sum(),
            read_whole: self.whole,
            accuracy: if photos > 0 {
                correct as f64 / photos as f64
            } else {
                0.0
            },
            per_class,
            read: metrics::compute(&self.labels, &self.probs, &self.truth, &votes),
        }
    }
}

impl Summary {
    /// The report printed at the end.
    pub fn text(&self, labels: &[String]) -> String {
        let pct = |n: usize| {
            if self.photos > 0 {
                100.0 * n as f64 / self.photos as f64
            } else {
                0.0
            }
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "photos {}  accuracy {:.2}% (no face counts as wrong)  no face {} ({:.1}%)  failed {}  read whole {}",
            self.photos,
            self.accuracy * 100.0,
            self.no_face,
            pct(self.no_face),
            self.failed,
            self.read_whole
        );
        let _ = writeln!(s, "\nclass        photos  no face  recall (all photos)");
        for t in &self.per_class {
            let _ = writeln!(
                s,
                "{:<12} {:>6}  {:>7}  {:>6.2}%",
                t.class,
                t.photos,
                t.no_face,
                t.recall * 100.0
            );
        }
        let _ = writeln!(s, "\nOn the {} photos read:", self.read.images);
        s + &self.read.report(labels)
    }

    /// `score.txt`, `score.json`, `confusion.csv` and `confusion.png` in `dir`.
    pub fn write(&self, dir: &Path, labels: &[String], title: &str) -> Result<(), String> {
        let io = |e: std::io::Error| format!("cannot write the report in {}: {e}", dir.display());
        std::fs::create_dir_all(dir).map_err(io)?;
        std::fs::write(dir.join("score.txt"), self.text(labels)).map_err(io)?;
        let json = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("score.json"), json).map_err(io)?;
        std::fs::write(dir.join("confusion.csv"), self.read.confusion_csv(labels)).map_err(io)?;
        let title = format!(
            "{title}: {:.1}% of {} photos, {} without a face",
            self.accuracy * 100.0,
            self.photos,
            self.no_face
        );
        mien::plots::confusion_png(
            &dir.join("confusion.png"),
            labels,
            &self.read.confusion,
            &title,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_match_model_labels_through_synonyms() {
        let labels: Vec<String> = [
            "angry", "disgust", "fear", "happy", "neutral", "sad", "surprise",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let map = LabelMap::new(&labels);
        assert_eq!(map.index("Anger"), Ok(0));
        assert_eq!(map.index("happiness"), Ok(3));
        assert_eq!(map.index("sadness"), Ok(5));
        assert_eq!(map.index("surprised"), Ok(6));
        assert_eq!(map.index("fear"), Ok(2));
        assert!(map.index("contempt").unwrap_err().contains("matches none"));
    }

    #[test]
    fn no_face_counts_as_wrong() {
        let labels: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let mut score = Score::new(&labels);
        score.read(0, vec![0.9, 0.1], false);
        score.read(1, vec![0.2, 0.8], false);
        score.no_face(1);
        score.read(1, vec![0.6, 0.4], true);
        let s = score.summary();
        assert_eq!(
            (s.photos, s.no_face, s.read_whole, s.read.images),
            (4, 1, 1, 3)
        );
        assert!((s.accuracy - 0.5).abs() < 1e-12);
        assert!((s.per_class[1].recall - 1.0 / 3.0).abs() < 1e-12);
    }
}
