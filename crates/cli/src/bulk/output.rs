//! A job's output: every item in input order with its status and its result or error, as CSV
//! or JSON lines, streamed from the journal (memory stays flat whatever the job's size). A file
//! output is probed before the first call (a file of this process's own created beside it and
//! removed), written whole to its `.partial` sibling by the job's one runner, synced to disk,
//! then renamed into place: a reader never sees half a file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::JobArgs;
use crate::error::CliError;
use crate::journal::{Item, Journal};

/// The format of a job's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header row: `input.*` and `result.*` columns, nested values as JSON.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl Format {
    /// The names `--format` takes.
    pub const NAMES: [&'static str; 2] = ["csv", "jsonl"];

    /// The format `--format NAME` names (one of [`Format::NAMES`], which clap enforces).
    pub fn from_name(name: &str) -> Result<Format, CliError> {
        match name {
            "csv" => Ok(Format::Csv),
            "jsonl" => Ok(Format::JsonLines),
            other => Err(CliError::Usage(format!(
                "--format {other}: not a format of bulk output; give csv or jsonl"
            ))),
        }
    }

    /// The format a file's ending names, if it names one: `.csv`, or `.jsonl`, `.ndjson` or
    /// `.json` (in any case). The input reader and the output share this rule.
    pub fn of_extension(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::JsonLines),
            _ => None,
        }
    }

    /// The format of an output file, by [`Format::of_extension`]. Any other name (`--output
    /// json`, `out.txt`) is refused: a file is never written in a format its name does not say.
    pub fn from_path(path: &Path) -> Result<Format, CliError> {
        if let Some(format) = Format::of_extension(path) {
            return Ok(format);
        }
        let extension = path.extension().map(|e| e.to_string_lossy().into_owned());
        match extension {
            Some(other) => Err(CliError::Usage(format!(
                "--output {}: cannot tell the format from the ending `.{other}`; give --format csv or --format jsonl (or end the name in .csv or .jsonl); nothing was sent",
                path.display()
            ))),
            None => Err(CliError::Usage(format!(
                "--output {}: the name has no ending to tell the format by (did you mean --format {}?); give --format csv or --format jsonl, or a name ending in .csv or .jsonl; nothing was sent",
                path.display(),
                if path.as_os_str().eq_ignore_ascii_case("json") {
                    "jsonl"
                } else {
                    "csv"
                }
            ))),
        }
    }
}

/// Where a job's output goes.
pub(super) struct Output {
    /// The final file and its `.partial` sibling (`None`: standard output).
    file: Option<(PathBuf, PathBuf)>,
    json: bool,
}

fn partial_of(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

/// Whether writing the output at `output` replaces the file `kept`. The output is renamed
/// into place, which replaces the directory entry `output` names (a link there is replaced,
/// not followed); `kept` is followed through its links to the file its data lives in.
fn replaces(output: &Path, kept: &Path) -> bool {
    let entry = |p: &Path| -> Option<PathBuf> {
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = std::fs::canonicalize(parent.unwrap_or(Path::new("."))).ok()?;
        Some(dir.join(p.file_name()?))
    };
    let kept = std::fs::canonicalize(kept).ok().or_else(|| entry(kept));
    matches!((entry(output), kept), (Some(x), Some(y)) if x == y)
}

/// A name beside `path` that only this process uses.
fn probe_of(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".probe-{}", std::process::id()));
    path.with_file_name(name)
}

impl Output {
    /// Checks that the output can be written, before anything is sent: it must not be the
    /// input, the journal or the cache (or a file SQLite keeps beside them), which the output's
    /// rename would replace; and a probe file named after this process is created beside it and
    /// removed again. (Not the `.partial` file: the probe runs before the job's lock is taken,
    /// and another run of the job may be writing that file at this moment.)
    pub fn probe(args: &JobArgs, journal: &Path) -> Result<Output, CliError> {
        let json = match (args.format, &args.output) {
            (Some(format), _) => format == Format::JsonLines,
            (None, Some(path)) => Format::from_path(path)? == Format::JsonLines,
            (None, None) => args.json,
        };
        let Some(path) = &args.output else {
            return Ok(Output { file: None, json });
        };
        if path.is_dir() {
            return Err(CliError::Usage(format!(
                "--output {}: is a directory; give a file; nothing was sent",
                path.display()
            )));
        }
        let mut kept = vec![("the input file", args.input.clone())];
        for (what, file) in [
            ("the journal", Some(journal)),
            ("the cache", args.cache.as_deref()),
        ] {
            let Some(file) = file else { continue };
            kept.push((what, file.to_path_buf()));
            for ending in ["-wal", "-shm", "-journal"] {
                let mut name = file.as_os_str().to_os_string();
                name.push(ending);
                kept.push((what, PathBuf::from(name)));
            }
        }
        if let Some((what, file)) = kept.iter().find(|(_, file)| replaces(path, file)) {
            return Err(CliError::Usage(format!(
                "--output {}: is {what} ({}), which the output would replace; give another file; nothing was sent",
                path.display(),
                file.display()
            )));
        }
        let probe = probe_of(path);
        File::create(&probe).map_err(|e| {
            CliError::Usage(format!(
                "--output {}: cannot write {} ({e}); nothing was sent",
                path.display(),
                probe.display()
            ))
        })?;
        let _ = std::fs::remove_file(&probe);
        Ok(Output {
            file: Some((path.clone(), partial_of(path))),
            json,
        })
    }

    /// Writes every item of job `id`.
    pub fn write(&self, journal: &Journal, id: &str) -> Result<(), CliError> {
        match &self.file {
            None => {
                // A reader that closes the pipe (`| head`) stops the output quietly.
                let mut out = BufWriter::with_capacity(1 << 16, crate::stdout::Stdout);
                self.write_to(&mut out, journal, id, Path::new("standard output"))?;
                out.flush().map_err(|e| CliError::io("standard output", e))
            }
            Some((path, partial)) => {
                let file = File::create(partial).map_err(|e| CliError::io(partial, e))?;
                let mut out = BufWriter::with_capacity(1 << 16, file);
                self.write_to(&mut out, journal, id, partial)?;
                let file = out
                    .into_inner()
                    .map_err(|e| CliError::io(partial, e.into_error()))?;
                file.sync_all().map_err(|e| CliError::io(partial, e))?;
                std::fs::rename(partial, path).map_err(|e| CliError::io(path, e))?;
                // The rename itself, durable (where the system lets a directory be synced).
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
                    && let Ok(dir) = File::open(dir)
                {
                    let _ = dir.sync_all();
                }
                Ok(())
            }
        }
    }

    fn write_to(
        &self,
        out: &mut impl Write,
        journal: &Journal,
        id: &str,
        path: &Path,
    ) -> Result<(), CliError> {
        let io = |e: std::io::Error| CliError::io(path, e);
        if self.json {
            return journal.each_output(id, |item| {
                serde_json::to_writer(&mut *out, &record(&item))
                    .map_err(|e| CliError::io(path, e.into()))?;
                out.write_all(b"\n").map_err(io)
            });
        }
        // CSV: the columns are every field any record has, in the order first seen; a first
        // pass finds them, a second writes.
        let mut columns: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        journal.each_output(id, |item| {
            let mut cells = Vec::new();
            flatten("", &record(&item), &mut cells);
            for (name, _) in cells {
                if seen.insert(name.clone()) {
                    columns.push(name);
                }
            }
            Ok(())
        })?;
        if columns.is_empty() {
            // No item: the columns every record has, so a reader still finds a header.
            columns.extend(["line", "input", "status"].map(String::from));
        }
        let index: std::collections::HashMap<&str, usize> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let mut writer = csv::Writer::from_writer(out);
        let csv_err =
            |e: csv::Error| CliError::Usage(format!("writing CSV to {}: {e}", path.display()));
        writer.write_record(&columns).map_err(csv_err)?;
        let mut row = vec![String::new(); columns.len()];
        journal.each_output(id, |item| {
            let mut cells = Vec::new();
            flatten("", &record(&item), &mut cells);
            row.iter_mut().for_each(String::clear);
            for (name, value) in cells {
                if let Some(i) = index.get(name.as_str())
                    && let Some(slot) = row.get_mut(*i)
                {
                    *slot = value;
                }
            }
            writer.write_record(&row).map_err(csv_err)
        })?;
        writer.flush().map_err(io)
    }
}

/// One output record: the line, the item, and its result or error.
fn record(item: &Item) -> Value {
    let mut out = Map::new();
    out.insert("line".into(), Value::from(item.line));
    out.insert("input".into(), stored_json(&item.item));
    out.insert("status".into(), Value::String(item.state.to_string()));
    if let Some(result) = &item.result {
        out.insert("result".into(), stored_json(result));
    }
    if let Some(error) = &item.error {
        out.insert("error".into(), Value::String(error.clone()));
    }
    Value::Object(out)
}

/// A JSON text the journal holds; text that does not parse (a journal changed outside tollgate)
/// is written as it is, as a string, never dropped.
fn stored_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Flattens a record for CSV: `input.*` and `result.*` scalars, nested values as JSON.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(fields) => {
            for (k, v) in fields {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    Value::Object(_) if prefix.is_empty() => flatten(&name, v, out),
                    _ => out.push((name, scalar_text(v))),
                }
            }
        }
        other => out.push((prefix.to_owned(), scalar_text(other))),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bulk::Kind;
    use std::time::Duration;

    fn args(output: PathBuf) -> JobArgs {
        JobArgs {
            kind: Kind::EnrichValidate,
            input: PathBuf::from("in.csv"),
            output: Some(output),
            cache: None,
            format: None,
            json: false,
            quiet: true,
            batch_size: 1,
            poll: Duration::from_secs(1),
            resubmit_unknown: false,
            resubmit_lost: false,
            wait: false,
            deadline: Duration::from_secs(600),
            stop_at_forecast: false,
        }
    }

    #[test]
    fn probing_leaves_another_runs_partial_file_alone() {
        let dir = std::env::temp_dir().join(format!("tollgate-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.csv");
        // Another run of the job, holding its lock, is writing its output.
        let partial = partial_of(&path);
        std::fs::write(&partial, "input.email\n").unwrap();
        let output = Output::probe(&args(path.clone()), &dir.join("journal.sqlite3")).unwrap();
        assert_eq!(
            std::fs::read_to_string(&partial).unwrap(),
            "input.email\n",
            "the probe touched the file another run is writing"
        );
        assert_eq!(output.file, Some((path.clone(), partial)));
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, ["out.csv.partial"], "the probe file stays behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_output_that_cannot_be_created_is_refused_before_anything_is_sent() {
        let err = Output::probe(
            &args(PathBuf::from("/nonexistent-dir/out.csv")),
            Path::new("journal.sqlite3"),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("nothing was sent"), "{err}");
    }
}
