//! The batch results as CSV (RFC 4180), the same from the app's "Download as CSV" and
//! from `mien-analyse`: `file, face, top_expression, unsure, <label>_percent...`, one
//! row per face, or one row saying why a photo has none.

use crate::emotions::Emotions;

/// Line ending of every row (RFC 4180).
pub const LINE_END: &str = "\r\n";

/// One row: a face, or a photo without one.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub file: String,
    /// The face's number, from 1, left to right; empty for a photo without a face.
    pub face: String,
    /// The top expression, or why there is none ("(no face found)").
    pub top: String,
    pub unsure: bool,
    /// Percentages in label order; empty for a photo without a face.
    pub percents: Vec<f32>,
}

impl Row {
    /// Face `number` (from 1) of `file`.
    pub fn face(file: &str, number: usize, emotions: &Emotions, labels: &[String]) -> Row {
        let percents = emotions.percents(labels);
        Row {
            file: file.to_string(),
            face: number.to_string(),
            top: emotions.top().label,
            unsure: emotions.is_unsure(),
            percents,
        }
    }

    /// A photo without a reading, and why, in parentheses.
    pub fn note(file: &str, why: &str) -> Row {
        Row {
            file: file.to_string(),
            face: String::new(),
            top: format!("({why})"),
            unsure: false,
            percents: Vec::new(),
        }
    }

    pub fn no_face(file: &str) -> Row {
        Row::note(file, "no face found")
    }

    pub fn failed(file: &str, why: &str) -> Row {
        Row::note(file, &format!("could not be analysed: {why}"))
    }

    /// The row's fields, without a line ending: percentages with two decimals.
    pub fn line(&self, labels: &[String]) -> String {
        let mut out = [field(&self.file), field(&self.face), field(&self.top)].join(",");
        out.push(',');
        if !self.percents.is_empty() {
            out.push_str(if self.unsure { "yes" } else { "no" });
        }
        for i in 0..labels.len() {
            out.push(',');
            if let Some(p) = self.percents.get(i) {
                out.push_str(&format!("{p:.2}"));
            }
        }
        out
    }
}

/// The header, without a line ending.
pub fn header(labels: &[String]) -> String {
    let mut out = String::from("file,face,top_expression,unsure");
    for label in labels {
        out.push(',');
        out.push_str(&field(&format!("{label}_percent")));
    }
    out
}

/// Header and rows, each line ended by [`LINE_END`].
pub fn csv(rows: &[Row], labels: &[String]) -> String {
    let mut out = header(labels) + LINE_END;
    for row in rows {
        out.push_str(&row.line(labels));
        out.push_str(LINE_END);
    }
    out
}

/// Characters that make a spreadsheet read a cell as a formula when they lead it
/// (OWASP's list: a tab or carriage return first hides the formula after it).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A CSV field, quoted when it needs to be; a leading formula character is
/// neutralised so that a file name cannot become a spreadsheet formula.
pub fn field(text: &str) -> String {
    let text = if text.starts_with(FORMULA_STARTS) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The first field of a CSV line as written by [`field`] (unquoted, formula guard
/// removed): the file a row of an earlier run is about.
pub fn first_field(line: &str) -> String {
    let text = if let Some(rest) = line.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    out.push('"');
                    chars.next();
                }
                '"' => break,
                c => out.push(c),
            }
        }
        out
    } else {
        line.split(',').next().unwrap_or("").to_string()
    };
    match text.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest.to_string(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ModelContract;

    #[test]
    fn every_formula_start_is_neutralised_and_read_back() {
        for start in ['=', '+', '-', '@', '\t', '\r'] {
            let name = format!("{start}cmd|' /C calc'!A0.png");
            let written = field(&name);
            let unquoted = written.trim_start_matches('"');
            assert!(
                unquoted.starts_with('\''),
                "{start:?}: {written:?} is not neutralised"
            );
            assert_eq!(
                first_field(&format!("{written},1")),
                name,
                "{start:?}: not read back"
            );
        }
        assert_eq!(field("plain.png"), "plain.png");
    }

    #[test]
    fn rows_fields_and_quoting() {
        let contract = ModelContract::new(1, 48, 48);
        let labels = contract.labels.clone();
        let mut logits = vec![0.0; labels.len()];
        logits[3] = 5.0;
        let emotions = Emotions::from_logits(&logits, &contract);
        let face = Row::face("a,b.jpg", 1, &emotions, &labels);
        let text = csv(&[face, Row::no_face("=x.png")], &labels);
        let lines: Vec<&str> = text.split(LINE_END).collect();
        assert!(
            lines[0].starts_with("file,face,top_expression,unsure,"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].starts_with(&format!("\"a,b.jpg\",1,{},no,", labels[3])),
            "{}",
            lines[1]
        );
        assert_eq!(lines[1].split(',').count(), 4 + 1 + labels.len());
        assert_eq!(
            lines[2],
            format!("'=x.png,,(no face found),{}", ",".repeat(labels.len()))
        );
        assert_eq!(first_field(lines[1]), "a,b.jpg");
        assert_eq!(first_field(lines[2]), "=x.png");
        assert_eq!(first_field("\"say \"\"hi\"\".png\",1"), "say \"hi\".png");
        assert_eq!(first_field("'plain,1"), "'plain");
    }
}
