//! What several test files share: reading FER2013 faces straight from the tarball in
//! `../shared/data` (nothing derived from them is written anywhere).

use flate2::read::GzDecoder;
use std::io::Read;
use std::ops::ControlFlow;

pub const FER_TARBALL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/fer2013.tar.gz");

/// Walks the tarball in its order, handing `visit` each file's path (as
/// "train/angry/x.jpg") and a reader for its bytes, until `visit` breaks.
pub fn walk_fer(mut visit: impl FnMut(&str, &mut dyn Read) -> ControlFlow<()>) {
    let file = std::fs::File::open(FER_TARBALL)
        .unwrap_or_else(|e| panic!("cannot open {FER_TARBALL} ({e}): the FER2013 tarball must sit in ../shared/data"));
    let mut archive = tar::Archive::new(GzDecoder::new(file));
    for entry in archive.entries().expect("read the tarball") {
        let mut entry = entry.expect("read a tarball entry");
        let path = entry.path().expect("entry path").to_string_lossy().into_owned();
        if visit(path.trim_start_matches("./"), &mut entry).is_break() {
            break;
        }
    }
}

/// All of a file's bytes.
pub fn read_all(file: &mut dyn Read) -> Vec<u8> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).expect("read a file from the tarball");
    bytes
}
