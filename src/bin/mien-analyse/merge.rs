//! `mien-analyse merge`: the CSVs of a sharded run's parts joined into the one an
//! unsharded run writes. Shards of one run share their header and never a file; each
//! part is a contiguous stretch of the files in the run's order, so the parts, each
//! kept as it is, are put in the order of their first files, compared as paths (the
//! folder walk's order). That is the run's order for one folder or a sorted list; with
//! several inputs or an unsorted list, the parts may come in another order.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use mien::csv;

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The shards' CSVs, in any order.
    #[arg(required = true, value_name = "SHARD.csv")]
    shards: Vec<PathBuf>,
    /// The whole CSV ("-": standard output). Default: standard output.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

pub fn run(args: &MergeArgs) -> Result<(), String> {
    let texts = args
        .shards
        .iter()
        .map(|path| {
            fs::read(path)
                .map(|bytes| (path.clone(), String::from_utf8_lossy(&bytes).into_owned()))
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let whole = merge(&texts)?;
    match &args.out {
        Some(path) if path.as_os_str() != "-" => {
            fs::write(path, whole).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        _ => std::io::stdout()
            .lock()
            .write_all(whole.as_bytes())
            .map_err(|e| format!("cannot write the CSV: {e}")),
    }
}

/// The shards' CSVs (path, text) as one.
fn merge(shards: &[(PathBuf, String)]) -> Result<String, String> {
    let mut header: Option<(&Path, &str)> = None;
    // (first file, rows' text) of every shard with rows.
    let mut parts: Vec<(String, String)> = Vec::new();
    // Which shard each file is in.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (shard, (path, text)) in shards.iter().enumerate() {
        let (records, complete) = csv::records(text);
        if complete < text.len() {
            return Err(format!(
                "{} ends in the middle of a row: its run was stopped; finish it with --resume first",
                path.display()
            ));
        }
        let Some((first, rows)) = records.split_first() else {
            return Err(format!(
                "{} is empty: its run did not start",
                path.display()
            ));
        };
        match header {
            None => header = Some((path, first.text)),
            Some((other, columns)) if columns != first.text => {
                return Err(format!(
                    "{} and {} have other columns (runs of other models or labels?):\n  {}\n  {}",
                    other.display(),
                    path.display(),
                    columns.trim_end(),
                    first.text.trim_end()
                ))
            }
            Some(_) => {}
        }
        for row in rows {
            let file = &row.fields[0];
            let first = *seen.entry(file.clone()).or_insert(shard);
            if first != shard {
                return Err(format!(
                    "{file} is in both {} and {}: shards of one run never share a file \
                     (the same shard given twice, or runs of other inputs?)",
                    shards[first].0.display(),
                    path.display()
                ));
            }
        }
        if let Some(row) = rows.first() {
            parts.push((row.fields[0].clone(), rows.iter().map(|r| r.text).collect()));
        }
    }
    parts.sort_by(|(a, _), (b, _)| Path::new(a).cmp(Path::new(b)));
    let mut whole = header.map_or(String::new(), |(_, text)| text.to_string());
    for (_, rows) in parts {
        whole += &rows;
    }
    Ok(whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "file,face,top_expression,status\r\n";

    fn shards(texts: &[&str]) -> Vec<(PathBuf, String)> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| (PathBuf::from(format!("part-{}.csv", i + 1)), t.to_string()))
            .collect()
    }

    #[test]
    fn shards_join_in_the_runs_order() {
        let one = format!("{HEADER}d/a.png,1,happy,found\r\nd/a.png,2,sad,found\r\nd/b.png,,(no face found),no-face\r\n");
        let two = format!("{HEADER}\"d/c,1.png\",1,sad,found\r\n");
        // Path order, as the folder walk: d/x/1.png before d/x y.png (a string sort would not).
        let three = format!("{HEADER}d/x/1.png,,(no face found),no-face\r\n");
        let four = format!("{HEADER}d/x y.png,,(no face found),no-face\r\n");
        let empty = HEADER.to_string();
        let whole = merge(&shards(&[&four, &empty, &two, &three, &one])).unwrap();
        assert_eq!(
            whole,
            [
                &one[..],
                &two[HEADER.len()..],
                &three[HEADER.len()..],
                &four[HEADER.len()..]
            ]
            .concat()
        );
        assert_eq!(merge(&shards(&[&empty])).unwrap(), HEADER);
    }

    #[test]
    fn shards_of_other_runs_are_refused() {
        let one = format!("{HEADER}a.png,1,happy,found\r\n");
        let other = "file,face,top_expression,status,extra\r\nb.png,1,happy,found,\r\n";
        let why = merge(&shards(&[&one, other])).unwrap_err();
        assert!(why.contains("other columns"), "{why}");
        let why = merge(&shards(&[&one, &one])).unwrap_err();
        assert!(
            why.contains("a.png is in both part-1.csv and part-2.csv"),
            "{why}"
        );
        let why = merge(&shards(&[&one, &format!("{HEADER}b.png,1,ha")])).unwrap_err();
        assert!(
            why.contains("part-2.csv ends in the middle of a row"),
            "{why}"
        );
        let why = merge(&shards(&[&one, ""])).unwrap_err();
        assert!(why.contains("part-2.csv is empty"), "{why}");
    }
}
