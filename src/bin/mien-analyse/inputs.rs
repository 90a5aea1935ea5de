//! Which files to analyse, in a fixed order: files as given, folders walked
//! recursively (names sorted, hidden entries skipped, only picture extensions, each
//! folder once however many links lead to it), list files one path a line. Read once,
//! whole, before the run: a list may be standard input, and files that appear or
//! vanish meanwhile must not move the shards.

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};

/// Extensions taken from folders (any case); a file named on its own is always taken.
const PICTURE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "gif", "webp", "bmp", "jfif"];

/// One file to analyse.
#[derive(Clone, Debug)]
pub struct Item {
    pub path: PathBuf,
    /// The path as written in the CSV's `file` column.
    pub name: String,
    /// In scoring mode, the name of the folder right under the scored folder.
    pub label: Option<String>,
    /// The path relative to the folder it was found in (for `--save-inputs`).
    pub relative: PathBuf,
}

/// Where files come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A file or a folder.
    Path(PathBuf),
    /// A text file with one path a line (empty lines and `#` comments skipped).
    List(PathBuf),
}

/// The files of `sources` in order; `Err` for a folder or list that cannot be read
/// (the walk goes on past it).
pub fn files(sources: Vec<Source>, labelled: bool) -> Vec<Result<Item, String>> {
    sources
        .into_iter()
        .flat_map(
            move |source| -> Box<dyn Iterator<Item = Result<Item, String>>> {
                match source {
                    Source::Path(path) if path.is_dir() => {
                        Box::new(FolderWalk::new(path, labelled))
                    }
                    Source::Path(path) => {
                        let relative = PathBuf::from(path.file_name().unwrap_or(path.as_os_str()));
                        Box::new(std::iter::once(Ok(Item {
                            name: display(&path),
                            path,
                            label: None,
                            relative,
                        })))
                    }
                    Source::List(list) => match fs::File::open(&list) {
                        Ok(file) => Box::new(ListWalk {
                            list,
                            lines: BufReader::new(file).lines(),
                        }),
                        Err(e) => Box::new(std::iter::once(Err(format!(
                            "cannot read the list {}: {e}",
                            list.display()
                        )))),
                    },
                }
            },
        )
        .collect()
}

fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// A folder's pictures, depth first, names in byte order.
struct FolderWalk {
    root: PathBuf,
    labelled: bool,
    /// Per level, the entries still to visit (reversed, so `pop` gives the next).
    stack: Vec<Vec<PathBuf>>,
    /// The folders walked, as `fs::canonicalize` names them: a link back to one of them
    /// (`ln -s . self`) would otherwise be followed round and round.
    visited: HashSet<PathBuf>,
}

impl FolderWalk {
    fn new(root: PathBuf, labelled: bool) -> Self {
        FolderWalk {
            stack: Vec::new(),
            visited: HashSet::new(),
            root,
            labelled,
        }
        .started()
    }

    fn started(mut self) -> Self {
        self.stack.push(vec![self.root.clone()]);
        self
    }

    fn item(&self, path: PathBuf) -> Result<Item, String> {
        let relative = path.strip_prefix(&self.root).unwrap_or(&path).to_path_buf();
        let label = if self.labelled {
            let mut parts = relative.components();
            match (parts.next(), parts.next()) {
                (Some(first), Some(_)) => Some(first.as_os_str().to_string_lossy().into_owned()),
                _ => {
                    return Err(format!(
                        "{} is not inside a label folder (<folder>/<label>/<file>); left out",
                        path.display()
                    ))
                }
            }
        } else {
            None
        };
        Ok(Item {
            name: display(&path),
            path,
            label,
            relative,
        })
    }
}

impl Iterator for FolderWalk {
    type Item = Result<Item, String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let level = self.stack.last_mut()?;
            let Some(path) = level.pop() else {
                self.stack.pop();
                continue;
            };
            if path.is_dir() {
                if fs::canonicalize(&path).is_ok_and(|real| !self.visited.insert(real)) {
                    continue;
                }
                match fs::read_dir(&path) {
                    Ok(entries) => {
                        let mut children: Vec<PathBuf> = entries
                            .filter_map(|e| e.ok().map(|e| e.path()))
                            .filter(|p| {
                                !p.file_name()
                                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                            })
                            .collect();
                        children.sort();
                        children.reverse();
                        self.stack.push(children);
                    }
                    Err(e) => {
                        return Some(Err(format!(
                            "cannot read the folder {}: {e}",
                            path.display()
                        )))
                    }
                }
            } else if is_picture_name(&path) {
                return Some(self.item(path));
            }
        }
    }
}

fn is_picture_name(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .is_some_and(|e| PICTURE_EXTENSIONS.contains(&e.as_str()))
}

struct ListWalk {
    list: PathBuf,
    lines: Lines<BufReader<fs::File>>,
}

impl Iterator for ListWalk {
    type Item = Result<Item, String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match self.lines.next()? {
                Ok(line) => line,
                Err(e) => {
                    return Some(Err(format!(
                        "cannot read the list {}: {e}",
                        self.list.display()
                    )))
                }
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let path = PathBuf::from(line);
            let relative = PathBuf::from(path.file_name().unwrap_or(path.as_os_str()));
            return Some(Ok(Item {
                name: line.to_string(),
                path,
                label: None,
                relative,
            }));
        }
    }
}
