//! `--resume`: the files an earlier run's CSV already holds, so that only the others
//! are analysed. The CSV is first rewritten without the rows to be done again: a row cut
//! short and the last file's rows (the run may have stopped among them), and every
//! failed file's (status `error: ...`), which is tried again. A CSV with other columns
//! than this run writes (another model, other labels) is refused, not mixed.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::Path;

use mien::csv;

/// The files `out` holds (none when it does not exist), `out` rewritten without the
/// rows to be done again. `header`: this run's, without the line end.
pub fn done_files(out: &Path, header: &str) -> Result<HashSet<String>, String> {
    let fail = |e: io::Error| format!("cannot resume from {}: {e}", out.display());
    let text = match fs::read(out) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(fail(e)),
    };
    let (kept, done) = kept(&text, header).map_err(|why| format!("{}: {why}", out.display()))?;
    if kept != text {
        // Written aside, then put in its place: a stop now loses nothing.
        let mut aside = out.as_os_str().to_owned();
        aside.push(".resuming");
        fs::write(&aside, &kept)
            .and_then(|_| fs::rename(&aside, out))
            .map_err(fail)?;
    }
    Ok(done)
}

/// The CSV text to keep and the files it holds.
fn kept(text: &str, header: &str) -> Result<(String, HashSet<String>), String> {
    let (records, _) = csv::records(text);
    let Some((first, rows)) = records.split_first() else {
        return Ok((String::new(), HashSet::new()));
    };
    if first.text.trim_end_matches(['\r', '\n']) != header {
        return Err(format!(
            "--resume: this CSV has other columns than this run writes (written with another \
             model or labels?); write to another file, or leave out --resume to replace it.\n  \
             it has:   {}\n  this run: {header}",
            first.text.trim_end_matches(['\r', '\n'])
        ));
    }
    let status = first.fields.iter().position(|f| f == "status");
    let failed = |row: &csv::Record| {
        status
            .and_then(|i| row.fields.get(i))
            .is_some_and(|s| s.starts_with("error:"))
    };
    let last = rows.last().map(|row| &row.fields[0]);
    let redo: HashSet<&String> = rows
        .iter()
        .filter(|row| Some(&row.fields[0]) == last || failed(row))
        .map(|row| &row.fields[0])
        .collect();
    let mut kept = first.text.to_string();
    let mut done = HashSet::new();
    for row in rows.iter().filter(|row| !redo.contains(&row.fields[0])) {
        kept += row.text;
        done.insert(row.fields[0].clone());
    }
    Ok((kept, done))
}
