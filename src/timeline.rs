//! A video's readings over time: which frames to read, each followed face's expressions
//! at each frame read ([`Timeline`]), the share of time each expression was on top, the
//! CSV (`time_s, face, <label>_percent...`) and the geometry of the timeline chart. The
//! app reads the frames; everything it shows or saves about them is computed here.

use crate::csv::{field, LINE_END};
use crate::emotions::Emotions;

/// The file kinds a browser may play as video, by extension, for files that come
/// without a type (a drop from some file managers).
const VIDEO_EXTENSIONS: [&str; 7] = ["mp4", "m4v", "webm", "mov", "mkv", "ogv", "avi"];

/// True for a file to read as a video rather than as a photo: a `video/*` type, or a
/// video extension.
pub fn is_video_file(name: &str, mime: &str) -> bool {
    if mime.starts_with("video/") {
        return true;
    }
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    mime.is_empty() && VIDEO_EXTENSIONS.contains(&extension.as_str())
}

/// At most this many frames are read from one video (30 minutes at 4 per second); a
/// longer video is read up to there, and the page says so.
pub const MAX_FRAMES: usize = 7200;

/// The times (seconds) of the frames to read from a video `duration_s` long at `rate`
/// frames per second: 0, 1/rate, 2/rate... up to but not including the end, at most
/// `max` of them. None for a duration or rate that is not a positive number.
pub fn sample_times(duration_s: f64, rate: f64, max: usize) -> Option<Vec<f64>> {
    if !(duration_s.is_finite() && duration_s > 0.0 && rate.is_finite() && rate > 0.0) {
        return None;
    }
    let count = ((duration_s * rate).ceil() as usize).clamp(1, max.max(1));
    Some(
        (0..count)
            .map(|k| k as f64 / rate)
            .filter(|t| *t < duration_s)
            .collect(),
    )
}

/// One face at one frame read.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub time_s: f64,
    /// The face's number, from 1 ([`crate::tracking::Tracker`]).
    pub face: usize,
    /// Percentages in the timeline's label order.
    pub percents: Vec<f32>,
    /// Index of the top expression in label order.
    pub top: usize,
}

/// A video's readings so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    labels: Vec<String>,
    samples: Vec<Sample>,
    frames: usize,
    last_time: f64,
}

impl Timeline {
    /// An empty timeline for a classifier with these labels.
    pub fn new(labels: Vec<String>) -> Self {
        Timeline {
            labels,
            ..Timeline::default()
        }
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Frames read so far (with or without faces).
    pub fn frames_read(&self) -> usize {
        self.frames
    }

    /// The time of the last frame read.
    pub fn last_time(&self) -> f64 {
        self.last_time
    }

    /// Adds the faces of the frame at `time_s`: each face's number and reading. A
    /// reading's expressions are matched to the timeline's labels by name (0 for a
    /// label it lacks).
    pub fn push_frame(&mut self, time_s: f64, faces: &[(usize, &Emotions)]) {
        self.frames += 1;
        self.last_time = time_s;
        for (face, emotions) in faces {
            let percents = emotions.percents(&self.labels);
            let top = percents
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            self.samples.push(Sample {
                time_s,
                face: *face,
                percents,
                top,
            });
        }
    }

    /// The face numbers seen, in order.
    pub fn faces(&self) -> Vec<usize> {
        let mut faces: Vec<usize> = self.samples.iter().map(|s| s.face).collect();
        faces.sort_unstable();
        faces.dedup();
        faces
    }

    /// One face's samples, in time order.
    pub fn series(&self, face: usize) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.face == face).collect()
    }

    /// For one face: each expression that was on top, with the share (0..1) of the
    /// face's frames it was on top in, largest first (ties in label order). The frames
    /// are evenly spaced in time, so this is the share of the time the face was seen.
    pub fn summary(&self, face: usize) -> Vec<(String, f32)> {
        let series = self.series(face);
        if series.is_empty() {
            return Vec::new();
        }
        let mut counts = vec![0usize; self.labels.len()];
        for s in &series {
            if let Some(c) = counts.get_mut(s.top) {
                *c += 1;
            }
        }
        let mut shares: Vec<(String, f32)> = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (self.labels[i].clone(), *c as f32 / series.len() as f32))
            .collect();
        shares.sort_by(|a, b| b.1.total_cmp(&a.1));
        shares
    }

    /// The CSV header, without a line ending.
    pub fn csv_header(&self) -> String {
        let mut out = String::from("time_s,face");
        for label in &self.labels {
            out.push(',');
            out.push_str(&field(&format!("{label}_percent")));
        }
        out
    }

    /// Header and one row per face per frame read (time order, then face number), each
    /// line ended by [`LINE_END`]: seconds with three decimals, percentages with two.
    pub fn csv(&self) -> String {
        let mut out = self.csv_header() + LINE_END;
        for s in &self.samples {
            out.push_str(&format!("{:.3},{}", s.time_s, s.face));
            for p in &s.percents {
                out.push_str(&format!(",{p:.2}"));
            }
            out.push_str(LINE_END);
        }
        out
    }
}

/// Where the timeline chart draws: the plot's box inside the SVG's view box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plot {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
    /// Seconds the time axis spans (the video's length).
    pub duration_s: f64,
}

impl Plot {
    /// The x of a time, clamped to the plot.
    pub fn x(&self, time_s: f64) -> f64 {
        let t = if self.duration_s > 0.0 {
            (time_s / self.duration_s).clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.left + t * self.width
    }

    /// The y of a percentage (0 at the bottom, 100 at the top), clamped to the plot.
    pub fn y(&self, percent: f64) -> f64 {
        self.top + (1.0 - (percent / 100.0).clamp(0.0, 1.0)) * self.height
    }

    /// One expression's line for one face, as SVG polyline point lists: one list per
    /// run of frames without a gap (a face unseen for longer than `1.5 / rate` seconds
    /// breaks the line).
    pub fn lines(&self, series: &[&Sample], label: usize, rate: f64) -> Vec<String> {
        let gap = 1.5 / rate.max(1e-6);
        let mut runs: Vec<String> = Vec::new();
        let mut previous: Option<f64> = None;
        for s in series {
            let Some(p) = s.percents.get(label) else {
                continue;
            };
            let point = format!("{:.1},{:.1}", self.x(s.time_s), self.y(*p as f64));
            match (previous, runs.last_mut()) {
                (Some(t), Some(run)) if s.time_s - t <= gap => {
                    run.push(' ');
                    run.push_str(&point);
                }
                _ => runs.push(point),
            }
            previous = Some(s.time_s);
        }
        runs
    }
}

/// Ticks for a time axis `duration_s` long: a round step (0.5, 1, 2, 5, 10, 15, 30 s,
/// then minutes) giving at most `max_ticks` ticks, from 0 up to the duration.
pub fn time_ticks(duration_s: f64, max_ticks: usize) -> Vec<f64> {
    const STEPS: [f64; 14] = [
        0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    ];
    if !(duration_s.is_finite() && duration_s > 0.0) || max_ticks < 2 {
        return vec![0.0];
    }
    let step = STEPS
        .iter()
        .copied()
        .find(|step| duration_s / step < max_ticks as f64)
        .unwrap_or(3600.0 * (duration_s / 3600.0 / max_ticks as f64).ceil().max(1.0));
    let count = (duration_s / step + 1e-9).floor() as usize;
    (0..=count).map(|k| k as f64 * step).collect()
}

/// A tick's label: "0 s", "1.5 s", "2 min", "1 min 30 s".
pub fn time_label(seconds: f64) -> String {
    if seconds >= 60.0 {
        let whole = seconds.round() as u64;
        let (m, s) = (whole / 60, whole % 60);
        return if s == 0 {
            format!("{m} min")
        } else {
            format!("{m} min {s} s")
        };
    }
    let text = format!("{seconds:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} s")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ModelContract;

    fn reading(top: usize) -> Emotions {
        let contract = ModelContract::new(1, 48, 48);
        let mut logits = vec![0.0; contract.labels.len()];
        logits[top] = 5.0;
        Emotions::from_logits(&logits, &contract)
    }

    fn labels() -> Vec<String> {
        ModelContract::new(1, 48, 48).labels
    }

    #[test]
    fn video_files_by_type_or_extension() {
        assert!(is_video_file("clip.mp4", "video/mp4"));
        assert!(is_video_file("clip.bin", "video/webm"));
        assert!(is_video_file("CLIP.WEBM", ""));
        assert!(!is_video_file("photo.png", "image/png"));
        assert!(!is_video_file("notes.txt", "text/plain"));
        assert!(
            !is_video_file("photo.mp4.png", ""),
            "the last extension counts"
        );
        assert!(!is_video_file("mp4", ""));
    }

    #[test]
    fn frames_to_read() {
        assert_eq!(
            sample_times(1.0, 4.0, 100),
            Some(vec![0.0, 0.25, 0.5, 0.75])
        );
        assert_eq!(sample_times(1.1, 2.0, 100), Some(vec![0.0, 0.5, 1.0]));
        assert_eq!(sample_times(0.1, 2.0, 100), Some(vec![0.0]));
        assert_eq!(sample_times(100.0, 10.0, 5).map(|t| t.len()), Some(5));
        for bad in [f64::INFINITY, f64::NAN, 0.0, -1.0] {
            assert_eq!(sample_times(bad, 4.0, 100), None, "{bad}");
            assert_eq!(sample_times(4.0, bad, 100), None, "rate {bad}");
        }
    }

    #[test]
    fn timeline_summary_and_csv() {
        let mut timeline = Timeline::new(labels());
        let (happy, surprise) = (reading(3), reading(6));
        timeline.push_frame(0.0, &[(1, &happy), (2, &surprise)]);
        timeline.push_frame(0.25, &[(1, &happy)]);
        timeline.push_frame(0.5, &[(1, &surprise), (2, &surprise)]);
        timeline.push_frame(0.75, &[]);
        assert_eq!(timeline.frames_read(), 4);
        assert_eq!(timeline.faces(), [1, 2]);
        assert_eq!(timeline.series(1).len(), 3);
        let summary = timeline.summary(1);
        assert_eq!(summary[0].0, "happy");
        assert!((summary[0].1 - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!(summary[1].0, "surprise");
        assert_eq!(timeline.summary(2), [("surprise".to_string(), 1.0)]);
        assert!(timeline.summary(3).is_empty());

        let csv = timeline.csv();
        let lines: Vec<&str> = csv.split(LINE_END).collect();
        assert_eq!(
            lines[0],
            "time_s,face,angry_percent,disgust_percent,fear_percent,happy_percent,neutral_percent,sad_percent,surprise_percent"
        );
        assert_eq!(lines.len(), 1 + 5 + 1, "{csv}");
        assert!(lines[1].starts_with("0.000,1,"), "{}", lines[1]);
        assert!(lines[4].starts_with("0.500,1,"), "{}", lines[4]);
        assert!(lines[5].starts_with("0.500,2,"), "{}", lines[5]);
        let fields: Vec<f32> = lines[1]
            .split(',')
            .skip(2)
            .map(|f| f.parse().unwrap())
            .collect();
        assert_eq!(fields.len(), 7);
        assert!((fields.iter().sum::<f32>() - 100.0).abs() < 0.05);
        assert!(fields[3] > 90.0);
    }

    #[test]
    fn labels_of_another_model_and_formula_cells_are_neutralised() {
        let labels = vec!["=cmd".to_string(), "calm".to_string()];
        let contract = ModelContract {
            labels: labels.clone(),
            ..ModelContract::new(1, 48, 48)
        };
        let mut timeline = Timeline::new(labels);
        let calm = Emotions::from_logits(&[0.0, 3.0], &contract);
        timeline.push_frame(1.5, &[(1, &calm)]);
        assert_eq!(
            timeline.csv_header(),
            "time_s,face,'=cmd_percent,calm_percent"
        );
        assert_eq!(timeline.samples()[0].top, 1);
        // A reading without one of the timeline's labels reads 0 there.
        let seven = reading(3);
        timeline.push_frame(2.0, &[(1, &seven)]);
        assert_eq!(timeline.samples()[1].percents, [0.0, 0.0]);
    }

    #[test]
    fn chart_geometry() {
        let plot = Plot {
            left: 40.0,
            top: 10.0,
            width: 400.0,
            height: 200.0,
            duration_s: 4.0,
        };
        assert_eq!(plot.x(0.0), 40.0);
        assert_eq!(plot.x(4.0), 440.0);
        assert_eq!(plot.x(9.0), 440.0, "clamped");
        assert_eq!(plot.y(100.0), 10.0);
        assert_eq!(plot.y(0.0), 210.0);
        let mut timeline = Timeline::new(labels());
        let happy = reading(3);
        for t in [0.0, 0.5, 1.0, 2.5, 3.0] {
            timeline.push_frame(t, &[(1, &happy)]);
        }
        let series = timeline.series(1);
        // At 2 frames per second, 1.0 -> 2.5 is a gap: two runs.
        let lines = plot.lines(&series, 3, 2.0);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].split(' ').count(), 3);
        assert!(lines[0].starts_with("40.0,"), "{}", lines[0]);
        assert_eq!(plot.lines(&series, 99, 2.0), Vec::<String>::new());
    }

    #[test]
    fn ticks_and_their_labels() {
        assert_eq!(time_ticks(4.0, 8), [0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(time_ticks(3.9, 5), [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(time_ticks(3.9, 8).len(), 8, "every 0.5 s");
        let fine = time_ticks(1.0, 10);
        assert_eq!(fine.len(), 6, "every 0.2 s: {fine:?}");
        assert!((fine[5] - 1.0).abs() < 1e-9);
        assert_eq!(time_ticks(95.0, 8).len(), 7, "every 15 s");
        assert!(time_ticks(10.0 * 3600.0, 8).len() <= 9);
        assert_eq!(time_ticks(f64::INFINITY, 8), [0.0]);
        assert_eq!(time_label(0.0), "0 s");
        assert_eq!(time_label(1.5), "1.5 s");
        assert_eq!(time_label(120.0), "2 min");
        assert_eq!(time_label(90.0), "1 min 30 s");
    }
}
