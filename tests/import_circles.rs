//! No two source files import each other. A pair that does is one job split in two
//! (or two jobs tangled): neither can be read, tested or moved without the other.
//!
//! The checker reads every `.rs` file of the crates under `src/` (the library, the app,
//! the binaries) and `gpu-worker/src/`, follows their `mod` declarations (`#[path]`
//! included) from each crate root to learn which file holds which module, and collects
//! every path that names one of the crates' own modules: `use` trees, and paths in code
//! (`super::x::f()`, `crate::x::T`, `mien::x::f` from the binaries, `child::f` for a
//! declared child module). Comments and string literals are skipped. A file imports
//! the file holding the longest module prefix of such a path. A file and its own
//! ancestor module (`x/mod.rs` and `x/y.rs`, a crate root and its modules) are one unit
//! in Rust (a child sees its parent's private items), so such pairs are not circles.
//! Plain `std::fs`, no tools: it runs with `cargo test`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

#[test]
fn no_two_source_files_import_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = BTreeMap::new();
    for dir in ["src", "gpu-worker/src"] {
        read_tree(root, &root.join(dir), &mut files);
    }
    assert!(
        files.contains_key(Path::new("src/lib.rs")),
        "the checker found no src/lib.rs under {}",
        root.display()
    );
    let roots = crate_roots(&files);
    let found = circles(&files, &roots);
    assert!(
        found.unplaced.is_empty(),
        "these files belong to no crate the checker knows (no `mod` declaration reaches \
         them), so their imports went unchecked:\n  {}",
        found.unplaced.join("\n  ")
    );
    assert!(
        found.circles.is_empty(),
        "{} pair(s) of source files import each other (move what both need into a file \
         of its own, or to the side that owns it):\n\n{}",
        found.circles.len(),
        found.circles.join("\n\n")
    );
}

/// The checker itself: it finds a circle made of a `use` line one way and a path in
/// code the other, through `crate::`, `super::` and `mien::`, and nothing in comments,
/// strings, a child's `super::` use of its parent or a one-way import.
#[test]
fn the_checker_finds_a_circle_and_only_that() {
    let tree = |entries: &[(&str, &str)]| -> BTreeMap<PathBuf, String> {
        entries
            .iter()
            .map(|(p, s)| (PathBuf::from(p), s.to_string()))
            .collect()
    };
    let files = tree(&[
        ("src/lib.rs", "pub mod a;\npub mod b;\npub mod c;\npub mod d;\n"),
        (
            "src/a.rs",
            "// use crate::c::X; (a comment)\nuse crate::b::{self, B};\nconst S: &str = \"super::c::x\";\n",
        ),
        (
            "src/b.rs",
            "fn f() {\n    let _ = super::a::g();\n}\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        ),
        ("src/c.rs", "mod inner;\nuse crate::d::D;\n"),
        ("src/c/inner.rs", "use super::super::c::C;\nuse super::*;\n"),
        ("src/d.rs", "pub struct D;\n"),
        ("src/main.rs", "mod app;\n"),
        ("src/app/mod.rs", "mod x;\nmod y;\n"),
        ("src/app/x.rs", "use super::y::Y;\nuse mien::d::D;\n"),
        ("src/app/y.rs", "fn f() { self::z(); super::x::X::new(); }\n"),
    ]);
    let roots = crate_roots(&files);
    let found = circles(&files, &roots);
    assert!(found.unplaced.is_empty(), "{:?}", found.unplaced);
    assert_eq!(found.circles.len(), 2, "{:#?}", found.circles);
    assert!(found.circles[0].starts_with("src/a.rs <-> src/b.rs"));
    assert!(found.circles[0].contains("src/a.rs:2 uses crate::b"));
    assert!(found.circles[0].contains("src/b.rs:2 uses super::a::g"));
    assert!(found.circles[1].starts_with("src/app/x.rs <-> src/app/y.rs"));
}

/// Every `.rs` file under `dir`, by its path relative to `root`.
fn read_tree(root: &Path, dir: &Path, files: &mut BTreeMap<PathBuf, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            read_tree(root, &path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            files.insert(path.strip_prefix(root).unwrap().to_path_buf(), text);
        }
    }
}

/// A crate root: its file and whether it is the library (`mien::` from the others).
struct Root {
    file: PathBuf,
    crate_name: String,
}

/// The library, the app, each binary of `src/bin/` and the GPU worker.
fn crate_roots(files: &BTreeMap<PathBuf, String>) -> Vec<Root> {
    let mut roots = Vec::new();
    for path in files.keys() {
        let s = path.to_string_lossy().replace('\\', "/");
        let name = match s.as_str() {
            "src/lib.rs" => "mien".to_string(),
            "src/main.rs" => "bin:mien".to_string(),
            "gpu-worker/src/main.rs" => "gpu-worker".to_string(),
            _ if s.starts_with("src/bin/") => {
                let rest = &s["src/bin/".len()..];
                match rest.split('/').collect::<Vec<_>>()[..] {
                    [one] => format!("bin:{}", one.trim_end_matches(".rs")),
                    [dir, "main.rs"] => format!("bin:{dir}"),
                    _ => continue,
                }
            }
            _ => continue,
        };
        roots.push(Root {
            file: path.clone(),
            crate_name: name,
        });
    }
    roots
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    /// `::`
    Path,
    Punct(char),
}

/// Tokens with their line numbers; comments skipped, string contents kept only as
/// `Str` (for `#[path = "..."]`), char literals and lifetimes dropped.
fn lex(src: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let count_lines = |from: usize, to: usize| c[from..to].iter().filter(|&&x| x == '\n').count();
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let (start, mut depth) = (i, 0);
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            line += count_lines(start, i);
        } else if ch == '"' || (ch == 'b' && next == Some('"')) {
            let start = i;
            i += if ch == 'b' { 2 } else { 1 };
            let mut text = String::new();
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                if i < c.len() {
                    text.push(c[i]);
                }
                i += 1;
            }
            i += 1;
            line += count_lines(start, i.min(c.len()));
            out.push((Tok::Str(text), line));
        } else if (ch == 'r' && matches!(next, Some('"') | Some('#')))
            || (ch == 'b' && next == Some('r') && matches!(c.get(i + 2), Some('"') | Some('#')))
        {
            // A raw string (`r#ident` is a raw identifier instead: no quote after the #s).
            let start = i;
            let mut j = i + if ch == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                // r#ident
                i = j;
                continue;
            }
            j += 1;
            let body = j;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (0..hashes).all(|k| c.get(j + 1 + k) == Some(&'#')) {
                    break;
                }
                j += 1;
            }
            let text: String = c[body..j.min(c.len())].iter().collect();
            i = (j + 1 + hashes).min(c.len());
            line += count_lines(start, i);
            out.push((Tok::Str(text), line));
        } else if ch == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some('\\') {
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(c[start..i].iter().collect()), line));
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '.') {
                if c[i] == '.' && c.get(i + 1) == Some(&'.') {
                    break;
                }
                i += 1;
            }
        } else if ch == ':' && next == Some(':') {
            out.push((Tok::Path, line));
            i += 2;
        } else {
            out.push((Tok::Punct(ch), line));
            i += 1;
        }
    }
    out
}

/// What one file says: its `mod` declarations and the paths it names, each within
/// the inline module (`mod tests { .. }`) it sits in, relative to the file's module.
#[derive(Default)]
struct Parsed {
    /// (inline modules around it, name, `#[path]`)
    mods: Vec<(Vec<String>, String, Option<String>)>,
    /// Inline modules, each as its path from the file's module.
    inline: Vec<Vec<String>>,
    /// (inline modules around it, the path's segments, line)
    paths: Vec<(Vec<String>, Vec<String>, usize)>,
}

fn parse(src: &str) -> Parsed {
    let toks = lex(src);
    let mut parsed = Parsed::default();
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut pending_path: Option<String> = None;
    let here = |inline: &[(String, usize)]| inline.iter().map(|(n, _)| n.clone()).collect();
    let ident = |k: usize| match toks.get(k) {
        Some((Tok::Ident(s), _)) => Some(s.as_str()),
        _ => None,
    };
    let mut k = 0;
    while k < toks.len() {
        let (tok, line) = &toks[k];
        match tok {
            Tok::Punct('#') => {
                // #[path = "..."]
                if toks.get(k + 1).map(|t| &t.0) == Some(&Tok::Punct('['))
                    && ident(k + 2) == Some("path")
                    && toks.get(k + 3).map(|t| &t.0) == Some(&Tok::Punct('='))
                {
                    if let Some((Tok::Str(p), _)) = toks.get(k + 4) {
                        pending_path = Some(p.clone());
                    }
                }
                k += 1;
            }
            Tok::Punct('{') => {
                depth += 1;
                pending_path = None;
                k += 1;
            }
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                pending_path = None;
                k += 1;
            }
            Tok::Punct(';') => {
                pending_path = None;
                k += 1;
            }
            Tok::Ident(kw) if kw == "mod" => {
                let Some(name) = ident(k + 1) else {
                    k += 1;
                    continue;
                };
                match toks.get(k + 2).map(|t| &t.0) {
                    Some(Tok::Punct(';')) => {
                        parsed
                            .mods
                            .push((here(&inline), name.to_string(), pending_path.take()));
                        k += 3;
                    }
                    Some(Tok::Punct('{')) => {
                        inline.push((name.to_string(), depth));
                        parsed.inline.push(here(&inline));
                        depth += 1;
                        pending_path = None;
                        k += 3;
                    }
                    _ => k += 1,
                }
            }
            Tok::Ident(kw) if kw == "use" => {
                let mut trees = Vec::new();
                let mut j = k + 1;
                use_tree(&toks, &mut j, Vec::new(), &mut trees);
                for path in trees {
                    parsed.paths.push((here(&inline), path, *line));
                }
                k = j;
            }
            Tok::Ident(first) if toks.get(k + 1).map(|t| &t.0) == Some(&Tok::Path) => {
                // A path in code, from its first segment (not the tail of a longer one).
                let starts = k == 0 || toks[k - 1].0 != Tok::Path;
                let mut segs = vec![first.clone()];
                let mut j = k + 1;
                while toks.get(j).map(|t| &t.0) == Some(&Tok::Path) {
                    match ident(j + 1) {
                        Some(s) => {
                            segs.push(s.to_string());
                            j += 2;
                        }
                        None => break,
                    }
                }
                if starts {
                    parsed.paths.push((here(&inline), segs, *line));
                }
                k = j;
            }
            _ => k += 1,
        }
    }
    parsed
}

/// Reads one use tree from `toks[*j]` on (up to its `;`, `,` or `}`), adding each full
/// path it names to `out`; `self` in braces names the prefix itself.
fn use_tree(toks: &[(Tok, usize)], j: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    if toks.get(*j).map(|t| &t.0) == Some(&Tok::Path) {
        // `use ::extern_crate::..`: not ours.
        path.push("::".into());
        *j += 1;
    }
    loop {
        match toks.get(*j).map(|t| &t.0) {
            Some(Tok::Ident(s)) if s == "as" => {
                *j += 2;
            }
            Some(Tok::Ident(s)) => {
                if s != "self" {
                    path.push(s.clone());
                }
                *j += 1;
                if toks.get(*j).map(|t| &t.0) == Some(&Tok::Path) {
                    *j += 1;
                    continue;
                }
            }
            Some(Tok::Punct('*')) => {
                *j += 1;
            }
            Some(Tok::Punct('{')) => {
                *j += 1;
                loop {
                    match toks.get(*j).map(|t| &t.0) {
                        Some(Tok::Punct('}')) => {
                            *j += 1;
                            break;
                        }
                        Some(Tok::Punct(',')) => *j += 1,
                        None => return,
                        _ => use_tree(toks, j, path.clone(), out),
                    }
                }
                return;
            }
            _ => {}
        }
        match toks.get(*j).map(|t| &t.0) {
            Some(Tok::Punct(';')) => {
                *j += 1;
                out.push(path);
                return;
            }
            Some(Tok::Punct(',')) | Some(Tok::Punct('}')) | None => {
                out.push(path);
                return;
            }
            _ => *j += 1,
        }
    }
}

/// A module: its crate and path from the crate root.
type Module = (String, Vec<String>);

struct Found {
    circles: Vec<String>,
    unplaced: Vec<String>,
}

fn circles(files: &BTreeMap<PathBuf, String>, roots: &[Root]) -> Found {
    let parsed: HashMap<&PathBuf, Parsed> = files.iter().map(|(p, s)| (p, parse(s))).collect();
    // Which file holds each module (inline ones included), and each file's modules.
    let mut owner: HashMap<Module, PathBuf> = HashMap::new();
    let mut placed: Vec<(PathBuf, Module)> = Vec::new();
    for root in roots {
        let mut todo = vec![(root.file.clone(), Vec::<String>::new(), true)];
        while let Some((file, module, is_dir_owner)) = todo.pop() {
            let Some(p) = parsed.get(&file) else {
                continue;
            };
            if owner.contains_key(&(root.crate_name.clone(), module.clone())) {
                continue;
            }
            owner.insert((root.crate_name.clone(), module.clone()), file.clone());
            placed.push((file.clone(), (root.crate_name.clone(), module.clone())));
            for inl in &p.inline {
                let mut m = module.clone();
                m.extend(inl.iter().cloned());
                owner.insert((root.crate_name.clone(), m), file.clone());
            }
            let parent = file.parent().unwrap_or(Path::new(""));
            // A mod.rs, lib.rs, main.rs or crate root holds its children beside it;
            // any other x.rs in x/.
            let dir = if is_dir_owner {
                parent.to_path_buf()
            } else {
                parent.join(file.file_stem().unwrap())
            };
            for (around, name, at) in &p.mods {
                let (child, child_is_dir_owner) = match at {
                    Some(at) => {
                        let f = normalise(&parent.join(at));
                        let owner = f.file_name().is_some_and(|n| n == "mod.rs");
                        (f, owner)
                    }
                    None => {
                        let mut d = dir.clone();
                        for a in around {
                            d.push(a);
                        }
                        let flat = d.join(format!("{name}.rs"));
                        if files.contains_key(&flat) {
                            (flat, false)
                        } else {
                            (d.join(name).join("mod.rs"), true)
                        }
                    }
                };
                let mut m = module.clone();
                m.extend(around.iter().cloned());
                m.push(name.clone());
                todo.push((child, m, child_is_dir_owner));
            }
        }
    }

    // Each file's imports: the other file it names, and the first place it does.
    let mut imports: BTreeMap<(PathBuf, PathBuf), (usize, String)> = BTreeMap::new();
    for (file, (krate, module)) in &placed {
        for (around, segs, line) in &parsed[file].paths {
            let mut here = module.clone();
            here.extend(around.iter().cloned());
            let Some((target_crate, full)) = resolve(krate, &here, segs, &owner) else {
                continue;
            };
            let target = (0..=full.len()).rev().find_map(|n| {
                owner
                    .get(&(target_crate.clone(), full[..n].to_vec()))
                    .map(|f| (f, n))
            });
            let Some((target, _)) = target else {
                continue;
            };
            if target == file {
                continue;
            }
            imports
                .entry((file.clone(), target.clone()))
                .or_insert((*line, segs.join("::")));
        }
    }

    let modules_of = |f: &PathBuf| -> Vec<&Module> {
        placed
            .iter()
            .filter(|(p, _)| p == f)
            .map(|(_, m)| m)
            .collect()
    };
    let related = |a: &PathBuf, b: &PathBuf| {
        modules_of(a).iter().any(|(ca, ma)| {
            modules_of(b)
                .iter()
                .any(|(cb, mb)| ca == cb && (ma.starts_with(mb) || mb.starts_with(ma)))
        })
    };
    let mut circles = Vec::new();
    for ((a, b), (line, path)) in &imports {
        if a >= b || related(a, b) {
            continue;
        }
        if let Some((back_line, back_path)) = imports.get(&(b.clone(), a.clone())) {
            circles.push(format!(
                "{} <-> {}\n  {}:{line} uses {path}\n  {}:{back_line} uses {back_path}",
                a.display(),
                b.display(),
                a.display(),
                b.display()
            ));
        }
    }
    let placed_files: BTreeSet<&PathBuf> = placed.iter().map(|(f, _)| f).collect();
    let unplaced = files
        .keys()
        .filter(|f| !placed_files.contains(f))
        .map(|f| f.display().to_string())
        .collect();
    Found { circles, unplaced }
}

/// The crate and full module path a path names, if it names one of ours: from
/// `crate::`, `super::`, `self::`, `mien::` (the library, from the other crates) or a
/// module declared in the current one.
fn resolve(
    krate: &str,
    here: &[String],
    segs: &[String],
    owner: &HashMap<Module, PathBuf>,
) -> Option<(String, Vec<String>)> {
    let first = segs.first()?;
    let (target_crate, mut base, mut rest) = match first.as_str() {
        "crate" => (krate.to_string(), Vec::new(), &segs[1..]),
        "self" => (krate.to_string(), here.to_vec(), &segs[1..]),
        "super" => (krate.to_string(), here.to_vec(), segs),
        "mien" if krate != "mien" && krate != "gpu-worker" => {
            ("mien".to_string(), Vec::new(), &segs[1..])
        }
        _ => {
            let mut child = here.to_vec();
            child.push(first.clone());
            if !owner.contains_key(&(krate.to_string(), child)) {
                return None;
            }
            (krate.to_string(), here.to_vec(), segs)
        }
    };
    while rest.first().is_some_and(|s| s == "super") {
        base.pop()?;
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    Some((target_crate, base))
}

/// `a/b/../c` as `a/c`.
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in p.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
