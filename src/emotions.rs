//! From the model's logits to the per-expression fractions a person reads.

use crate::contract::ModelContract;

/// Below this top fraction, or this margin over the runner-up, a face is "unsure":
/// no expression clearly dominates.
pub const UNSURE_TOP: f32 = 0.45;
pub const UNSURE_MARGIN: f32 = 0.15;

/// Numerically stable softmax: fractions that sum to 1, even for huge logits.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return vec![1.0 / logits.len().max(1) as f32; logits.len()];
    }
    let exps: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// One expression and the fraction of the face it carries (0..1).
#[derive(Clone, Debug, PartialEq)]
pub struct Share {
    pub label: String,
    pub fraction: f32,
}

/// The classifier's reading of one face.
#[derive(Clone, Debug, PartialEq)]
pub struct Emotions {
    /// In the model's label order.
    pub shares: Vec<Share>,
}

impl Emotions {
    pub fn from_logits(logits: &[f32], contract: &ModelContract) -> Self {
        let fractions = softmax(logits);
        Emotions {
            shares: contract
                .labels
                .iter()
                .zip(fractions)
                .map(|(label, fraction)| Share {
                    label: label.clone(),
                    fraction,
                })
                .collect(),
        }
    }

    /// Largest share first.
    pub fn sorted(&self) -> Vec<Share> {
        let mut s = self.shares.clone();
        s.sort_by(|a, b| b.fraction.total_cmp(&a.fraction));
        s
    }

    pub fn top(&self) -> Share {
        self.sorted().into_iter().next().unwrap_or(Share {
            label: "none".into(),
            fraction: 0.0,
        })
    }

    /// Index of the top expression in label order.
    pub fn top_index(&self) -> usize {
        argmax(&self.shares.iter().map(|s| s.fraction).collect::<Vec<_>>())
    }

    /// True when no expression clearly dominates.
    pub fn is_unsure(&self) -> bool {
        let s = self.sorted();
        match (s.first(), s.get(1)) {
            (Some(a), Some(b)) => {
                a.fraction < UNSURE_TOP || a.fraction - b.fraction < UNSURE_MARGIN
            }
            _ => true,
        }
    }

    /// The percentage of each of `labels`, in that order, matched by name (0 for a
    /// label this reading lacks): the columns of the CSVs, whatever model made it.
    pub fn percents(&self, labels: &[String]) -> Vec<f32> {
        labels
            .iter()
            .map(|label| {
                self.shares
                    .iter()
                    .find(|s| &s.label == label)
                    .map_or(0.0, |s| s.fraction * 100.0)
            })
            .collect()
    }

    /// A short reading: "happy (82%)" or "unsure: neutral 41%, sad 33%".
    pub fn summary(&self) -> String {
        let s = self.sorted();
        if self.is_unsure() && s.len() >= 2 {
            format!(
                "unsure: {} {:.0}%, {} {:.0}%",
                s[0].label,
                s[0].fraction * 100.0,
                s[1].label,
                s[1].fraction * 100.0
            )
        } else {
            let t = self.top();
            format!("{} ({:.0}%)", t.label, t.fraction * 100.0)
        }
    }
}

/// Index of the largest value (the first one on ties).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let p = softmax(&[1.0, 2.0, 3.0, -1.0, 0.0, 0.5, -3.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(argmax(&p), 2);
        assert!(
            p.iter().all(|&v| v > 0.0),
            "negative logits still get a share"
        );
    }

    #[test]
    fn softmax_handles_huge_logits() {
        let p = softmax(&[1000.0, 999.0, -1000.0, 0.0, 5e30, 5e30, 1.0]);
        assert!(p.iter().all(|v| v.is_finite()));
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((p[4] - 0.5).abs() < 1e-6 && (p[5] - 0.5).abs() < 1e-6);
        let q = softmax(&[f32::NEG_INFINITY; 7]);
        assert!((q.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn unsure_when_nothing_dominates() {
        let contract = ModelContract::new(1, 48, 48);
        let clear = Emotions::from_logits(&[0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0], &contract);
        assert_eq!(clear.top().label, "happy");
        assert!(!clear.is_unsure());
        assert!(clear.summary().starts_with("happy"));
        let mixed = Emotions::from_logits(&[0.0, 0.0, 0.0, 1.0, 1.0, 0.9, 0.0], &contract);
        assert!(mixed.is_unsure());
        assert!(mixed.summary().starts_with("unsure"));
    }
}
