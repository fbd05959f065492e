//! Request bodies given as `--body FILE` or `--body -` (standard input).

use std::io::Read;
use std::path::Path;

/// The text of a body: the file at `path`, or standard input when `path` is `-`.
pub fn read(path: &Path) -> std::io::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path)
    }
}
