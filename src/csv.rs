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

/// The guard put before a leading formula character: a spreadsheet shows the cell as
/// text, without it. A leading guard character is guarded too, so that [`records`]
/// can remove exactly one.
const GUARD: char = '\'';

/// A CSV field, quoted when it needs to be (a comma, a quote or a line break: RFC
/// 4180); a leading formula character is neutralised so that a file name cannot
/// become a spreadsheet formula. [`records`] reads it back.
pub fn field(text: &str) -> String {
    let text = if text.starts_with(FORMULA_STARTS) || text.starts_with(GUARD) {
        format!("{GUARD}{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// One record of CSV text.
#[derive(Clone, Debug, PartialEq)]
pub struct Record<'a> {
    /// Its fields as they were before [`field`] (quotes and guard removed).
    pub fields: Vec<String>,
    /// Its text, line end included.
    pub text: &'a str,
}

/// The records of CSV text written with [`field`]: quoted fields may hold commas,
/// quotes and line breaks. A record counts once its line end (outside quotes) is
/// read; the second value is the length of the text they take, where a last record
/// cut short (a run stopped while writing) starts.
pub fn records(text: &str) -> (Vec<Record<'_>>, usize) {
    let mut records = Vec::new();
    let (mut fields, mut current) = (Vec::new(), String::new());
    let (mut start, mut quoted, mut was_quoted) = (0, false, false);
    let mut chars = text.char_indices().peekable();
    let unguarded = |field: String| match field.strip_prefix(GUARD) {
        Some(rest) => rest.to_string(),
        None => field,
    };
    while let Some((at, c)) = chars.next() {
        match c {
            '"' if quoted => {
                if chars.next_if(|&(_, c)| c == '"').is_some() {
                    current.push('"');
                } else {
                    quoted = false;
                }
            }
            '"' if current.is_empty() && !was_quoted => (quoted, was_quoted) = (true, true),
            ',' if !quoted => {
                fields.push(unguarded(std::mem::take(&mut current)));
                was_quoted = false;
            }
            '\r' if !quoted && chars.peek().is_some_and(|&(_, c)| c == '\n') => {}
            '\n' if !quoted => {
                fields.push(unguarded(std::mem::take(&mut current)));
                was_quoted = false;
                records.push(Record {
                    fields: std::mem::take(&mut fields),
                    text: &text[start..at + 1],
                });
                start = at + 1;
            }
            c => current.push(c),
        }
    }
    (records, start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ModelContract;

    /// The first field of each record of `text`.
    fn firsts(text: &str) -> Vec<String> {
        records(text)
            .0
            .into_iter()
            .map(|r| r.fields[0].clone())
            .collect()
    }

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
                firsts(&format!("{written},1{LINE_END}")),
                [name],
                "{start:?}: not read back"
            );
        }
        assert_eq!(field("plain.png"), "plain.png");
    }

    #[test]
    fn odd_names_are_read_back_as_written() {
        let names = [
            "plain.png",
            "",
            "a,b.png",
            "say \"hi\".png",
            "\"",
            "\"\"",
            "new\nline.png",
            "cr\r\nlf.png",
            "end\r",
            "'quoted.png",
            "''twice.png",
            "'=both.png",
            "=sum.png",
            "-1.png",
            "\ttab.png",
            "\rreturn.png",
            "trailing,",
            " spaced .png",
            "ünïcödé 表情.png",
        ];
        let mut text = String::new();
        for name in names {
            text += &[field(name), field("x"), field(name)].join(",");
            text += LINE_END;
        }
        let (read, complete) = records(&text);
        assert_eq!(complete, text.len());
        assert_eq!(read.len(), names.len());
        for (record, name) in read.iter().zip(names) {
            assert_eq!(record.fields, [name, "x", name], "{:?}", record.text);
        }
        assert_eq!(read.iter().map(|r| r.text).collect::<String>(), text);
    }

    #[test]
    fn a_record_cut_short_is_left_out() {
        for (text, complete) in [
            ("a,b\r\nc,d", 5),
            ("a,b\r\n\"c\r\nd\",e", 5),
            ("a,b\r\n\"c\r\nd\",e\r", 5),
            ("a,b\r\n\"c\r\nd\",e\r\n", 15),
            ("a,b\n", 4),
            ("", 0),
        ] {
            let (read, at) = records(text);
            assert_eq!(at, complete, "{text:?}");
            assert_eq!(read.iter().map(|r| r.text).collect::<String>(), text[..at]);
        }
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
        assert_eq!(firsts(&text), ["file", "a,b.jpg", "=x.png"]);
    }
}
