//! `mien-analyse` run as a person would: on photos composed here from FER2013 faces
//! at known places, a faceless picture and bad files; its shards (given, or from a
//! Slurm or Kubernetes job's variables) and their merge, its resume and its scoring mode.
//!
//! Needs `npm ci` (BlazeFace), the shipped model and `../shared/data/fer2013.tar.gz`.

mod common;

use common::{read_all, walk_fer};
use image::{imageops::FilterType, GrayImage, Rgb, RgbImage};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// FER2013 faces: clear, frontal, near the start of the archive (quick to read).
const ANGRY: [&str; 3] = [
    "train/angry/Training_1021836.jpg",
    "train/angry/Training_10334355.jpg",
    "train/angry/Training_10740356.jpg",
];

fn fer_faces(names: &[&str]) -> Vec<GrayImage> {
    let mut found = vec![None; names.len()];
    walk_fer(|path, file| {
        if let Some(i) = names.iter().position(|n| *n == path) {
            found[i] = Some(
                image::load_from_memory(&read_all(file))
                    .expect("decode a face")
                    .to_luma8(),
            );
        }
        if found.iter().all(Option::is_some) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found
        .into_iter()
        .zip(names)
        .map(|(f, n)| f.unwrap_or_else(|| panic!("{n} is not in the tarball")))
        .collect()
}

/// A gray background with mild noise, and `faces` pasted at `(centre x, centre y, side)`.
fn scene(width: u32, height: u32, faces: &[(&GrayImage, f32, f32, u32)]) -> RgbImage {
    let mut state = 7u64;
    let mut img = RgbImage::from_fn(width, height, |_, _| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let v = 110 + ((state >> 33) % 30) as u8;
        Rgb([v, v + 10, v + 20])
    });
    for &(face, cx, cy, side) in faces {
        let big = image::imageops::resize(face, side, side, FilterType::CatmullRom);
        let (x0, y0) = (
            (cx - side as f32 / 2.0) as i64,
            (cy - side as f32 / 2.0) as i64,
        );
        for (x, y, p) in big.enumerate_pixels() {
            img.put_pixel(
                (x0 + x as i64) as u32,
                (y0 + y as i64) as u32,
                Rgb([p[0]; 3]),
            );
        }
    }
    img
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The variables through which a cluster's scheduler gives a shard: unset for every run
/// here, so that the tests' runs are whole runs even inside a Slurm or Kubernetes job.
const SHARD_VARIABLES: [&str; 5] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MIN",
    "JOB_COMPLETION_INDEX",
    "MIEN_SHARD_COUNT",
];

/// `mien-analyse` with the shipped models and two threads, for the caller to finish
/// setting up (standard input, variables, folder).
fn command(args: &[&str]) -> Command {
    let model = format!("{ROOT}/public/models/mien.onnx");
    let blazeface = format!(
        "{ROOT}/node_modules/{}/ONNX",
        mien::face::model::NPM_PACKAGE
    );
    let mut command = Command::new(env!("CARGO_BIN_EXE_mien-analyse"));
    command
        .args([
            "--model",
            &model,
            "--blazeface",
            &blazeface,
            "--threads",
            "2",
        ])
        .args(args);
    for name in SHARD_VARIABLES {
        command.env_remove(name);
    }
    command
}

fn finished(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run_command(command: &mut Command) -> Run {
    finished(command.output().expect("run mien-analyse"))
}

fn analyse(args: &[&str]) -> Run {
    run_command(&mut command(args))
}

/// `mien-analyse merge` (no models needed).
fn merge(args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mien-analyse"));
    run_command(command.arg("merge").args(args))
}

/// The CSV's rows as fields, header first (quoted fields unquoted).
fn rows(csv: &str) -> Vec<Vec<String>> {
    csv.split("\r\n")
        .filter(|l| !l.is_empty())
        .map(fields)
        .collect()
}

fn fields(line: &str) -> Vec<String> {
    let (mut out, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    out.push(field);
    out
}

/// Rows without their last field (the per-face milliseconds, which vary run to run).
fn without_times(rows: &[Vec<String>]) -> Vec<Vec<String>> {
    rows.iter().map(|r| r[..r.len() - 1].to_vec()).collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mien-analyse-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("make a scratch folder");
    dir
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// A 400 x 300 photo: a face in the middle, or none.
fn photo(face: Option<&GrayImage>) -> RgbImage {
    match face {
        Some(face) => scene(400, 300, &[(face, 200.0, 150.0, 170)]),
        None => scene(400, 300, &[]),
    }
}

/// The file of every row after the header, in order.
fn files_of(rows: &[Vec<String>]) -> Vec<String> {
    rows[1..].iter().map(|r| r[0].clone()).collect()
}

fn read_rows(csv: &Path) -> Vec<Vec<String>> {
    rows(&std::fs::read_to_string(csv).unwrap_or_else(|e| panic!("{}: {e}", csv.display())))
}

#[test]
fn photos_folders_bad_files_shards_and_resume() {
    let faces = fer_faces(&ANGRY);
    let dir = scratch("photos");
    let photos = dir.join("photos");
    std::fs::create_dir_all(photos.join("more")).unwrap();
    scene(
        640,
        420,
        &[
            (&faces[0], 173.0, 190.0, 170),
            (&faces[1], 467.0, 231.0, 150),
        ],
    )
    .save(photos.join("two.png"))
    .unwrap();
    scene(400, 300, &[(&faces[2], 220.0, 144.0, 170)])
        .save(photos.join("more/one.jpg"))
        .unwrap();
    scene(500, 375, &[]).save(photos.join("blank.png")).unwrap();
    let png = std::fs::read(photos.join("blank.png")).unwrap();
    std::fs::write(photos.join("cut.png"), &png[..png.len() / 3]).unwrap();
    std::fs::write(photos.join("readme.txt"), "not taken from a folder").unwrap();
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "no photo").unwrap();

    let full_csv = dir.join("full.csv");
    let run = analyse(&[
        path(&photos),
        path(&notes),
        "--out",
        path(&full_csv),
        "--quiet",
    ]);
    assert_eq!(
        run.code, 1,
        "a bad file makes the exit status 1: {}",
        run.stderr
    );
    assert!(run.stderr.is_empty(), "--quiet: {}", run.stderr);
    let full = rows(&std::fs::read_to_string(&full_csv).unwrap());
    let header = full[0].join(",");
    assert!(
        header.starts_with("file,face,top_expression,unsure,angry_percent,")
            && header.ends_with("surprise_percent,x,y,width,height,status,face_ms"),
        "{header}"
    );
    let p = |name: &str| format!("{}/{name}", path(&photos));
    let files: Vec<&str> = full[1..].iter().map(|r| r[0].as_str()).collect();
    let expected = [
        p("blank.png"),
        p("cut.png"),
        p("more/one.jpg"),
        p("two.png"),
        p("two.png"),
        path(&notes).to_string(),
    ];
    assert_eq!(
        files, expected,
        "sorted, recursive, pictures only, then the file named"
    );
    let status = |i: usize| full[i][full[i].len() - 2].clone();
    assert_eq!(status(1), "no-face");
    assert_eq!(full[1][2], "(no face found)");
    assert!(
        status(2).starts_with("error: The image is damaged"),
        "{}",
        status(2)
    );
    assert!(
        status(6).starts_with("error: This is not an image"),
        "{}",
        status(6)
    );
    // Faces: numbered left to right, boxes where they were pasted, percentages summing to 100.
    for (row, (cx, cy, number)) in [
        (3, (220.0, 144.0, "1")),
        (4, (173.0, 190.0, "1")),
        (5, (467.0, 231.0, "2")),
    ] {
        let r = &full[row];
        assert_eq!(
            (status(row).as_str(), r[1].as_str()),
            ("found", number),
            "{r:?}"
        );
        let n = 7;
        let sum: f32 = r[4..4 + n].iter().map(|v| v.parse::<f32>().unwrap()).sum();
        assert!((sum - 100.0).abs() < 0.05, "{r:?}");
        let b: Vec<f32> = r[4 + n..8 + n].iter().map(|v| v.parse().unwrap()).collect();
        let (bx, by) = (b[0] + b[2] / 2.0, b[1] + b[3] / 2.0);
        assert!(
            (bx - cx).abs() < 30.0 && (by - cy).abs() < 40.0,
            "box {b:?} for a face at ({cx}, {cy})"
        );
        assert!(
            r[r.len() - 1].parse::<f64>().unwrap() > 0.0,
            "time per face: {r:?}"
        );
    }

    // Two shards concatenate into the whole run.
    let mut joined = vec![full[0].clone()];
    for k in ["1/2", "2/2"] {
        let run = analyse(&[path(&photos), path(&notes), "--shard", k, "--quiet"]);
        let shard = rows(&run.stdout);
        assert_eq!(shard[0], full[0]);
        joined.extend(shard[1..].iter().cloned());
    }
    assert_eq!(without_times(&joined), without_times(&full));

    // Resume after a run stopped in the middle of two.png's rows: that file is read again,
    // and so is cut.png, which failed: its row goes after those kept.
    let text = std::fs::read_to_string(&full_csv).unwrap();
    let cut = text.find(&p("two.png")).unwrap()
        + text[text.find(&p("two.png")).unwrap()..]
            .find("\r\n")
            .unwrap()
        + 20;
    let partial = dir.join("partial.csv");
    std::fs::write(&partial, &text[..cut]).unwrap();
    let run = analyse(&[
        path(&photos),
        path(&notes),
        "--out",
        path(&partial),
        "--resume",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("already in the output"),
        "{}",
        run.stderr
    );
    let resumed = rows(&std::fs::read_to_string(&partial).unwrap());
    let mut expected = without_times(&full);
    let failed = expected.remove(2);
    assert_eq!(failed[0], p("cut.png"));
    expected.insert(3, failed);
    assert_eq!(without_times(&resumed), expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scoring_a_labelled_folder() {
    let faces = fer_faces(&ANGRY);
    let dir = scratch("score");
    let set = dir.join("set");
    for (label, file, img) in [
        (
            "anger",
            "a.png",
            scene(400, 300, &[(&faces[0], 200.0, 150.0, 170)]),
        ),
        (
            "anger",
            "b.png",
            scene(400, 300, &[(&faces[1], 200.0, 150.0, 170)]),
        ),
        ("Sadness", "c.png", scene(400, 300, &[])),
    ] {
        std::fs::create_dir_all(set.join(label)).unwrap();
        img.save(set.join(label).join(file)).unwrap();
    }
    let (inputs, report) = (dir.join("inputs"), dir.join("report"));
    let run = analyse(&[
        "--score",
        path(&set),
        "--save-inputs",
        path(&inputs),
        "--report",
        path(&report),
        "--quiet",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("photos 3  accuracy "),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("no face 1 (33.3%)"), "{}", run.stdout);
    assert!(
        run.stdout.contains("On the 2 photos read:"),
        "{}",
        run.stdout
    );
    for name in ["score.txt", "score.json", "confusion.csv", "confusion.png"] {
        assert!(report.join(name).is_file(), "{name} missing");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("score.json")).unwrap()).unwrap();
    assert_eq!(json["no_face"], 1);
    assert_eq!(
        json["per_class"][0]["photos"], 2,
        "anger counted as angry: {json}"
    );
    assert_eq!(
        json["per_class"][5]["no_face"], 1,
        "Sadness counted as sad: {json}"
    );
    for file in ["anger/a.png", "anger/b.png"] {
        let saved = image::open(inputs.join(file))
            .expect("the saved model input")
            .to_luma8();
        assert_eq!(saved.dimensions(), (48, 48));
    }
    assert!(!inputs.join("Sadness/c.png").exists(), "no face, no input");

    // A folder name no label matches stops the run before it starts.
    std::fs::create_dir_all(set.join("bored")).unwrap();
    let run = analyse(&["--score", path(&set), "--quiet"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("\"bored\" matches none of the model's labels"),
        "{}",
        run.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_list_on_standard_input_is_read_once() {
    let faces = fer_faces(&ANGRY[..1]);
    let dir = scratch("stdin");
    let names: Vec<String> = ["a.png", "b.png", "c.png"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let file = dir.join(name);
            photo((i == 1).then(|| &faces[0])).save(&file).unwrap();
            path(&file).to_string()
        })
        .collect();
    let csv = dir.join("out.csv");
    let mut child = command(&["--list", "/dev/stdin", "--out", path(&csv), "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mien-analyse");
    let list = names.join("\n") + "\n";
    child
        .stdin
        .take()
        .expect("its standard input")
        .write_all(list.as_bytes())
        .expect("write the list");
    let run = finished(child.wait_with_output().expect("wait for mien-analyse"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        files_of(&read_rows(&csv)),
        names,
        "every photo listed on standard input, in the list's order"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn a_folder_that_links_to_itself_is_walked_once() {
    let dir = scratch("loop");
    let photos = dir.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for name in ["a.png", "b.png"] {
        photo(None).save(photos.join(name)).unwrap();
    }
    // One link back is followed until the kernel's 40 links per path; two, 2^40 times.
    for link in ["again", "self"] {
        std::os::unix::fs::symlink(".", photos.join(link)).unwrap();
    }
    let (csv, stderr) = (dir.join("out.csv"), dir.join("stderr.txt"));
    let mut child = command(&[path(&photos), "--out", path(&csv), "--quiet"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("start mien-analyse");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for mien-analyse") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mien-analyse still walking after 60 s: it went round the link to itself");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&stderr).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(
        files_of(&read_rows(&csv)),
        [
            format!("{}/a.png", path(&photos)),
            format!("{}/b.png", path(&photos))
        ],
        "each photo once"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resume_refuses_a_csv_with_other_columns() {
    let dir = scratch("resume-columns");
    let a = dir.join("a.png");
    photo(None).save(&a).unwrap();
    let csv = dir.join("out.csv");
    let other = "file,face,top_expression,unsure,happy_percent,sad_percent,x,y,width,height,status,face_ms\r\n\
                 old.png,1,happy,no,90.00,10.00,1.0,2.0,3.0,4.0,found,5.0\r\n";
    std::fs::write(&csv, other).unwrap();
    let run = analyse(&[path(&a), "--out", path(&csv), "--resume", "--quiet"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("other columns"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        other,
        "the CSV is left as it was"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resume_tries_failed_files_again() {
    let dir = scratch("resume-failed");
    let [a, b, c] = ["a.png", "b.png", "c.png"].map(|n| dir.join(n));
    for file in [&a, &b, &c] {
        photo(None).save(file).unwrap();
    }
    let png = std::fs::read(&b).unwrap();
    std::fs::write(&b, &png[..png.len() / 3]).unwrap();
    let csv = dir.join("out.csv");
    let args = [path(&b), path(&a), path(&c), "--out", path(&csv), "--quiet"];
    let run = analyse(&args);
    assert_eq!(run.code, 1, "b.png is cut short: {}", run.stderr);
    let status = |row: &Vec<String>| row[row.len() - 2].clone();
    let first = read_rows(&csv);
    assert!(status(&first[1]).starts_with("error:"), "{:?}", first[1]);

    // b.png mended, the run resumed: b.png is read again, a.png kept.
    std::fs::write(&b, &png).unwrap();
    let run = analyse(&[&args[..], &["--resume"]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let resumed = read_rows(&csv);
    let mut files = files_of(&resumed);
    files.sort();
    assert_eq!(
        files,
        [&a, &b, &c].map(|f| path(f).to_string()),
        "each file once"
    );
    for row in &resumed[1..] {
        assert_eq!(status(row), "no-face", "{row:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resume_knows_names_written_with_a_guard_or_quotes() {
    let dir = scratch("resume-names");
    let names = [
        "'quoted.png",
        "''twice.png",
        "'=both.png",
        "=sum.png",
        "+plus.png",
        "@at.png",
        "say \"hi\".png",
        "a,b.png",
        "last.png",
    ];
    for name in names {
        photo(None).save(dir.join(name)).unwrap();
    }
    let args = [&names[..], &["--out", "out.csv", "--quiet"]].concat();
    let first = run_command(command(&args).current_dir(&dir));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let before = read_rows(&dir.join("out.csv"));
    assert_eq!(before.len(), 1 + names.len());
    let again = run_command(command(&[&args[..], &["--resume"]].concat()).current_dir(&dir));
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        without_times(&read_rows(&dir.join("out.csv"))),
        without_times(&before),
        "every file once: only the last one was read again"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resume_reads_names_with_newlines() {
    let dir = scratch("resume-newline");
    let photos = dir.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for name in ["new\nline.png", "z.png"] {
        photo(None).save(photos.join(name)).unwrap();
    }
    let csv = dir.join("out.csv");
    let args = [path(&photos), "--out", path(&csv), "--quiet"];
    let run = analyse(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let before = read_rows(&csv);
    assert_eq!(
        files_of(&before),
        [
            format!("{}/new\nline.png", path(&photos)),
            format!("{}/z.png", path(&photos))
        ]
    );
    let run = analyse(&[&args[..], &["--resume"]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        without_times(&read_rows(&csv)),
        without_times(&before),
        "the file with a newline in its name kept, not read again"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cluster_shards_merge_into_the_whole_run() {
    let faces = fer_faces(&ANGRY);
    let dir = scratch("cluster");
    let set = dir.join("set");
    for (label, file, face) in [
        ("anger", "a.png", Some(0)),
        ("anger", "b.png", None),
        ("anger", "c.png", Some(1)),
        ("happy", "d.png", Some(2)),
        ("happy", "e.png", None),
        ("sad", "f.png", Some(0)),
        ("sad", "g.png", Some(1)),
    ] {
        std::fs::create_dir_all(set.join(label)).unwrap();
        photo(face.map(|i| &faces[i]))
            .save(set.join(label).join(file))
            .unwrap();
    }
    let whole = dir.join("whole.csv");
    let run = analyse(&[path(&set), "--out", path(&whole), "--quiet"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let whole = read_rows(&whole);

    for scheduler in ["slurm", "kubernetes"] {
        let mut parts = Vec::new();
        for k in 0..3 {
            let part = dir.join(format!("{scheduler}-{k}.csv"));
            let mut shard = command(&[path(&set), "--out", path(&part)]);
            match scheduler {
                "slurm" => shard
                    .env("SLURM_ARRAY_TASK_ID", (k + 1).to_string())
                    .env("SLURM_ARRAY_TASK_COUNT", "3"),
                _ => shard
                    .env("JOB_COMPLETION_INDEX", k.to_string())
                    .env("MIEN_SHARD_COUNT", "3"),
            };
            let run = run_command(&mut shard);
            assert_eq!(run.code, 0, "{}", run.stderr);
            assert!(
                run.stderr.contains(&format!("shard {}/3", k + 1)),
                "{scheduler} {k}: {}",
                run.stderr
            );
            assert!(
                read_rows(&part).len() < whole.len(),
                "{scheduler} {k}: a part"
            );
            parts.push(part);
        }
        // In any order: the merge puts the shards in the run's order.
        parts.swap(0, 2);
        let merged = dir.join(format!("{scheduler}.csv"));
        let args: Vec<&str> = ["-o", path(&merged)]
            .into_iter()
            .chain(parts.iter().map(|p| path(p)))
            .collect();
        let run = merge(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(
            without_times(&read_rows(&merged)),
            without_times(&whole),
            "{scheduler}: the merged shards are the whole run"
        );
    }

    // The same shard twice: refused.
    let part = dir.join("slurm-0.csv");
    let run = merge(&[path(&part), path(&part)]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("in both"), "{}", run.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}
