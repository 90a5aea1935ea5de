//! Scores of a classifier on a labelled set: accuracy, per-class precision/recall/F1,
//! macro-F1, confusion matrix, expected calibration error, and the distance between
//! predicted fractions and human vote shares.

use serde::Serialize;

/// Everything eval reports, computed from per-image probabilities.
#[derive(Clone, Debug, Serialize)]
pub struct Metrics {
    pub images: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_class: Vec<ClassScore>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// Expected calibration error over 15 equal-width confidence bins.
    pub ece: f64,
    /// Mean negative log-likelihood of the true class.
    pub nll: f64,
    /// Mean total-variation distance between predicted fractions and vote shares, over
    /// the images that have votes (`None` without votes).
    pub vote_tvd: Option<f64>,
    pub images_with_votes: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClassScore {
    pub class: String,
    pub support: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// `probs[i]` are image i's predicted fractions, `labels[i]` its true class.
pub fn compute(
    classes: &[String],
    probs: &[Vec<f32>],
    labels: &[usize],
    votes: &[Option<Vec<f32>>],
) -> Metrics {
    let k = classes.len();
    let n = labels.len();
    let mut confusion = vec![vec![0usize; k]; k];
    let mut nll = 0.0;
    const BINS: usize = 15;
    let mut bin_count = [0usize; BINS];
    let mut bin_conf = [0f64; BINS];
    let mut bin_correct = [0f64; BINS];
    for (p, &y) in probs.iter().zip(labels) {
        let pred = crate::emotions::argmax(p);
        confusion[y][pred] += 1;
        nll -= (p[y].max(1e-12) as f64).ln();
        let conf = p[pred] as f64;
        let b = ((conf * BINS as f64) as usize).min(BINS - 1);
        bin_count[b] += 1;
        bin_conf[b] += conf;
        bin_correct[b] += (pred == y) as u8 as f64;
    }
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    let per_class: Vec<ClassScore> = (0..k)
        .map(|c| {
            let tp = confusion[c][c] as f64;
            let support: usize = confusion[c].iter().sum();
            let predicted: usize = (0..k).map(|r| confusion[r][c]).sum();
            let precision = if predicted > 0 {
                tp / predicted as f64
            } else {
                0.0
            };
            let recall = if support > 0 {
                tp / support as f64
            } else {
                0.0
            };
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassScore {
                class: classes[c].clone(),
                support,
                precision,
                recall,
                f1,
            }
        })
        .collect();
    let ece = (0..BINS)
        .filter(|&b| bin_count[b] > 0)
        .map(|b| (bin_conf[b] - bin_correct[b]).abs() / n as f64)
        .sum();
    let mut tvd_sum = 0.0;
    let mut with_votes = 0;
    for (p, v) in probs.iter().zip(votes) {
        if let Some(v) = v {
            tvd_sum += 0.5
                * p.iter()
                    .zip(v)
                    .map(|(a, b)| (a - b).abs() as f64)
                    .sum::<f64>();
            with_votes += 1;
        }
    }
    Metrics {
        images: n,
        accuracy: if n > 0 {
            correct as f64 / n as f64
        } else {
            0.0
        },
        macro_f1: per_class.iter().map(|c| c.f1).sum::<f64>() / k.max(1) as f64,
        per_class,
        confusion,
        ece,
        nll: if n > 0 { nll / n as f64 } else { 0.0 },
        vote_tvd: (with_votes > 0).then(|| tvd_sum / with_votes as f64),
        images_with_votes: with_votes,
    }
}

impl Metrics {
    /// A plain-text report: headline numbers, per-class table, confusion matrix.
    pub fn report(&self, classes: &[String]) -> String {
        let mut s = format!(
            "images {}  accuracy {:.2}%  macro-F1 {:.4}  ECE {:.4}  NLL {:.4}",
            self.images,
            self.accuracy * 100.0,
            self.macro_f1,
            self.ece,
            self.nll
        );
        if let Some(tvd) = self.vote_tvd {
            s += &format!(
                "  vote TVD {:.4} ({} images with votes)",
                tvd, self.images_with_votes
            );
        }
        s += "\n\nclass        support  precision  recall     F1\n";
        for c in &self.per_class {
            s += &format!(
                "{:<12} {:>7}  {:>9.4}  {:>6.4}  {:>6.4}\n",
                c.class, c.support, c.precision, c.recall, c.f1
            );
        }
        s += "\nconfusion (rows: true, columns: predicted)\n            ";
        for c in classes {
            s += &format!("{:>9}", truncate(c, 8));
        }
        s += "\n";
        for (r, row) in self.confusion.iter().enumerate() {
            s += &format!("{:<12}", truncate(&classes[r], 11));
            for v in row {
                s += &format!("{v:>9}");
            }
            s += "\n";
        }
        s
    }

    /// The confusion matrix normalised by row (true class), as CSV.
    pub fn confusion_csv(&self, classes: &[String]) -> String {
        let mut s = format!("true\\predicted,{}\n", classes.join(","));
        for (r, row) in self.confusion.iter().enumerate() {
            let total: usize = row.iter().sum::<usize>().max(1);
            let cells: Vec<String> = row
                .iter()
                .map(|&v| format!("{:.4}", v as f64 / total as f64))
                .collect();
            s += &format!("{},{}\n", classes[r], cells.join(","));
        }
        s
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_confused_predictions() {
        let classes: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let probs = vec![
            vec![0.9, 0.1],
            vec![0.2, 0.8],
            vec![0.6, 0.4],
            vec![0.3, 0.7],
        ];
        let labels = vec![0, 1, 1, 1];
        let votes = vec![Some(vec![1.0, 0.0]), None, None, Some(vec![0.3, 0.7])];
        let m = compute(&classes, &probs, &labels, &votes);
        assert_eq!(m.confusion, vec![vec![1, 0], vec![1, 2]]);
        assert_eq!(m.confusion.iter().flatten().sum::<usize>(), 4);
        assert!((m.accuracy - 0.75).abs() < 1e-12);
        assert!((m.per_class[0].precision - 0.5).abs() < 1e-12);
        assert!((m.per_class[1].recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.vote_tvd.unwrap() - 0.05).abs() < 1e-6);
        assert!(m.ece >= 0.0 && m.ece <= 1.0);
    }
}
