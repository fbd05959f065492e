//! Reading bulk input files as a stream: CSV with a header row, or JSON lines (`.jsonl`,
//! `.ndjson`, `.json`). A list of e-mail addresses with no header is read as one `email` column.
//! Lines are numbered as they are read (blank lines count), so reading costs the same for every
//! record whatever the file's size, and memory holds one record at a time.
//!
//! The header is checked before anything else: a column the job does not read, or a required
//! column that is missing, is a usage error naming the columns found and those expected.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde_json::{Map, Value};

use crate::bulk::clip;
use crate::error::CliError;

/// One record of input: a row (its line number and fields) or a line that could not be read
/// (its number and what is wrong).
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// A row.
    Row(i64, Map<String, Value>),
    /// A malformed line.
    Problem(i64, String),
}

/// The columns a job reads.
#[derive(Clone, Copy, Debug)]
pub struct Columns {
    /// Every column it reads.
    pub allowed: &'static [&'static str],
    /// Columns each row must have.
    pub required: &'static [&'static str],
    /// Columns of which the header must name at least one (empty: no such rule).
    pub any_of: &'static [&'static str],
}

impl Columns {
    /// Checks a CSV header: every column known, every required one there.
    fn check(&self, path: &Path, command: &str, header: &[String]) -> Result<(), CliError> {
        let unknown: Vec<&String> = header
            .iter()
            .filter(|h| !h.is_empty() && !self.allowed.contains(&h.as_str()))
            .collect();
        let missing: Vec<&&str> = self
            .required
            .iter()
            .filter(|r| !header.iter().any(|h| h == *r))
            .collect();
        let none_of =
            !self.any_of.is_empty() && !self.any_of.iter().any(|c| header.iter().any(|h| h == c));
        if unknown.is_empty() && missing.is_empty() && !none_of {
            return Ok(());
        }
        let found = header
            .iter()
            .map(|h| format!("`{}`", clip(h)))
            .collect::<Vec<_>>()
            .join(", ");
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!(
                "missing {}",
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if none_of {
            problems.push(format!(
                "it needs at least one of {}",
                self.any_of
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for u in unknown {
            let hint = self
                .allowed
                .iter()
                .find(|a| a.eq_ignore_ascii_case(u.trim()))
                .map(|a| format!(" (did you mean `{a}`? names are case-sensitive)"))
                .unwrap_or_default();
            problems.push(format!("`{}` is not a column it reads{hint}", clip(u)));
        }
        Err(CliError::Usage(format!(
            "{}: the header names {found}; {command} reads {} ({}); nothing was sent",
            path.display(),
            self.allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", "),
            problems.join("; ")
        )))
    }
}

/// Whether `path` names a JSON-lines file (by its extension; any other is read as CSV).
pub fn is_json_lines(path: &Path) -> bool {
    crate::bulk::Format::of_extension(path) == Some(crate::bulk::Format::JsonLines)
}

fn open_file(path: &Path) -> Result<File, CliError> {
    if path.as_os_str() == "-" && !path.exists() {
        return Err(CliError::Usage(
            "input file -: a bulk job reads a file, not standard input: it is resumed by reading \
             the same file again, and the file's path and bytes make the job's id; save the \
             input to a file and give its name; nothing was sent"
                .into(),
        ));
    }
    if path.is_dir() {
        return Err(CliError::Usage(format!(
            "input file {}: is a directory; nothing was sent",
            path.display()
        )));
    }
    File::open(path).map_err(|e| CliError::input(path, &e))
}

/// The records of the file at `path`, read as a stream. `single` is the field a bare JSON
/// string or a header-less one-column file stands for (`email`); `columns` are checked against a
/// CSV header before the first record; `command` names the job in messages.
pub fn open(
    path: &Path,
    single: &'static str,
    columns: Columns,
    command: &str,
) -> Result<Records, CliError> {
    let file = open_file(path)?;
    if is_json_lines(path) {
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let first = reader
            .fill_buf()
            .map_err(|e| CliError::input(path, &e))?
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .copied();
        if first == Some(b'[') {
            return Err(CliError::Usage(format!(
                "{}: is one JSON array; {command} reads JSON lines: one object (or string) per line, \
                 for example `jq -c '.[]' {} > items.jsonl`; nothing was sent",
                path.display(),
                path.display()
            )));
        }
        return Ok(Records::Json(JsonLines {
            reader,
            path: path.to_path_buf(),
            single,
            line: 0,
            buffer: Vec::new(),
        }));
    }
    // A bare list of addresses has no header: its first line is an address.
    let mut first = String::new();
    BufReader::new(open_file(path)?)
        .take(64 * 1024)
        .read_line(&mut first)
        .map_err(|e| CliError::input(path, &e))?;
    let headerless = first.contains('@') && !first.contains(',');
    let breaks = Rc::new(RefCell::new(VecDeque::new()));
    let quotes = Rc::new(Cell::new((0, false)));
    let counting = Counting {
        inner: BufReader::with_capacity(1 << 16, file),
        offset: 0,
        breaks: Rc::clone(&breaks),
        quotes: Rc::clone(&quotes),
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(!headerless)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(counting);
    let header: Vec<String> = if headerless {
        vec![single.to_owned()]
    } else {
        reader
            .headers()
            .map_err(|e| {
                CliError::Usage(format!(
                    "{}: unreadable CSV header: {}; nothing was sent",
                    path.display(),
                    clip(&e.to_string())
                ))
            })?
            .iter()
            .map(str::to_owned)
            .collect()
    };
    if header.iter().all(|h| h.is_empty()) {
        return Err(CliError::Usage(format!(
            "{}: the first line must name the columns (for example `{single}`); nothing was sent",
            path.display()
        )));
    }
    columns.check(path, command, &header)?;
    Ok(Records::Csv(CsvRecords {
        reader,
        header,
        breaks,
        quotes,
        newlines: 0,
        record: csv::StringRecord::new(),
        path: path.to_path_buf(),
    }))
}

/// The records of an input file, one at a time.
pub enum Records {
    /// CSV.
    Csv(CsvRecords),
    /// JSON lines.
    Json(JsonLines),
}

impl Iterator for Records {
    type Item = Result<Record, CliError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Records::Csv(c) => c.next(),
            Records::Json(j) => j.next(),
        }
    }
}

/// JSON lines, read line by line.
pub struct JsonLines {
    reader: BufReader<File>,
    path: PathBuf,
    single: &'static str,
    line: i64,
    buffer: Vec<u8>,
}

impl JsonLines {
    fn next(&mut self) -> Option<Result<Record, CliError>> {
        loop {
            self.buffer.clear();
            match self.reader.read_until(b'\n', &mut self.buffer) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(CliError::input(&self.path, &e))),
            }
            self.line = self.line.saturating_add(1);
            let number = self.line;
            if self.buffer.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(Ok(match serde_json::from_slice::<Value>(&self.buffer) {
                Ok(Value::Object(fields)) => Record::Row(number, fields),
                Ok(Value::String(s)) => {
                    let mut fields = Map::new();
                    fields.insert(self.single.to_owned(), Value::String(s));
                    Record::Row(number, fields)
                }
                Ok(other) => Record::Problem(
                    number,
                    format!("expected a JSON object or string, got {}", kind_of(&other)),
                ),
                Err(e) => Record::Problem(number, format!("not JSON: {}", clip(&e.to_string()))),
            }));
        }
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A CSV cell as JSON: integers and booleans as such, empty cells left out.
fn cell(text: &str) -> Option<Value> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(n) = text.parse::<i64>() {
        return Some(Value::from(n));
    }
    match text {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        _ => Some(Value::String(text.to_owned())),
    }
}

/// A reader that notes where each line break it passes on lies, so that a record's line can
/// be told from its byte offset as the records go by (the CSV reader's own line count skips
/// blank lines). Only the breaks not yet consumed are kept: a read buffer's worth.
struct Counting {
    inner: BufReader<File>,
    offset: u64,
    breaks: Rc<RefCell<VecDeque<(u64, u8)>>>,
    /// How many `"` the file has had so far, and whether its end has been read: a file that
    /// ends inside a quoted field has an odd count there.
    quotes: Rc<Cell<(u64, bool)>>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let (quotes, _) = self.quotes.get();
        let read = buf.get(..n).unwrap_or_default();
        let more = read.iter().filter(|b| **b == b'"').count() as u64;
        self.quotes
            .set((quotes.saturating_add(more), n == 0 && !buf.is_empty()));
        let mut breaks = self.breaks.borrow_mut();
        for (i, b) in buf.iter().take(n).enumerate() {
            if *b == b'\n' || *b == b'\r' {
                breaks.push_back((self.offset + i as u64, *b));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// CSV records, numbered by line.
pub struct CsvRecords {
    reader: csv::Reader<Counting>,
    header: Vec<String>,
    breaks: Rc<RefCell<VecDeque<(u64, u8)>>>,
    quotes: Rc<Cell<(u64, bool)>>,
    newlines: i64,
    record: csv::StringRecord,
    path: PathBuf,
}

impl CsvRecords {
    /// The line (1-based) where the record at byte `at` starts: the newlines before it, past
    /// any blank lines the reader skipped to reach it.
    fn line_at(&mut self, at: u64) -> i64 {
        let mut at = at;
        let mut breaks = self.breaks.borrow_mut();
        while let Some(&(offset, byte)) = breaks.front() {
            if offset < at {
                breaks.pop_front();
                if byte == b'\n' {
                    self.newlines += 1;
                }
            } else if offset == at {
                // A blank line (or the end of the previous one) at the record's start.
                breaks.pop_front();
                if byte == b'\n' {
                    self.newlines += 1;
                }
                at += 1;
            } else {
                break;
            }
        }
        self.newlines.saturating_add(1)
    }

    /// A record that runs over lines to the end of a file with an odd number of `"`: a quote
    /// opened on line `number` and never closed, which made every line after it part of one
    /// field. A usage error naming the line, not a malformed line: the rows it swallowed
    /// would be lost.
    fn unclosed(&self, number: i64) -> Option<CliError> {
        let (quotes, ended) = self.quotes.get();
        let swallowed: usize = self
            .record
            .iter()
            .map(|field| field.matches('\n').count())
            .sum();
        (ended && quotes % 2 == 1 && swallowed > 0).then(|| {
            CliError::Usage(format!(
                "{}:{number}: a quoted field opens on this line and is never closed, so the \
                 {swallowed} line(s) after it, to the end of the file, would be read as part of \
                 it and not as rows; close the quote (or remove it) and run again; nothing was sent",
                self.path.display()
            ))
        })
    }

    fn next(&mut self) -> Option<Result<Record, CliError>> {
        loop {
            let read = self.reader.read_record(&mut self.record);
            let at = self.record.position().map_or(0, csv::Position::byte);
            match read {
                Ok(false) => return None,
                Ok(true) => {
                    let number = self.line_at(at);
                    if let Some(error) = self.unclosed(number) {
                        return Some(Err(error));
                    }
                    if self.record.iter().all(|c| c.trim().is_empty()) {
                        continue;
                    }
                    if self.record.len() != self.header.len() {
                        return Some(Ok(Record::Problem(
                            number,
                            format!(
                                "{} fields where the header has {}",
                                self.record.len(),
                                self.header.len()
                            ),
                        )));
                    }
                    let fields: Map<String, Value> = self
                        .header
                        .iter()
                        .zip(self.record.iter())
                        .filter_map(|(name, value)| cell(value).map(|v| (name.clone(), v)))
                        .collect();
                    return Some(Ok(Record::Row(number, fields)));
                }
                Err(e) => {
                    if let csv::ErrorKind::Io(io) = e.kind() {
                        return Some(Err(CliError::Usage(format!(
                            "input file {}: {io}",
                            self.path.display()
                        ))));
                    }
                    let at = e.position().map_or(at, csv::Position::byte);
                    let number = self.line_at(at);
                    return Some(Ok(Record::Problem(
                        number,
                        format!("unreadable CSV: {}", clip(&e.to_string())),
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMAIL: Columns = Columns {
        allowed: &["email"],
        required: &["email"],
        any_of: &[],
    };
    const LEAD: Columns = Columns {
        allowed: &["firstName", "lastName", "domain"],
        required: &["firstName", "lastName", "domain"],
        any_of: &[],
    };

    fn file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tollgate-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn read(name: &str, text: &str, columns: Columns) -> Result<Vec<Record>, CliError> {
        open(&file(name, text), "email", columns, "test")?.collect()
    }

    #[test]
    fn a_bare_list_of_addresses_is_one_email_column() {
        let records = read("bare.txt", "a@b.co\nc@d.co\n", EMAIL).unwrap();
        assert_eq!(records.len(), 2);
        let Record::Row(line, fields) = &records[1] else {
            panic!("{records:?}")
        };
        assert_eq!(*line, 2);
        assert_eq!(fields["email"], "c@d.co");
    }

    #[test]
    fn csv_lines_are_numbered_from_the_header_and_bad_rows_named() {
        let text = "firstName,lastName,domain\nAnn,Lee,a.co\nBo,b.co\n\n\r\nCy,Ng,c.co\n\"Di\nx\",Ox,d.co\nEd,Fu,e.co\n";
        let records = read("leads.csv", text, LEAD).unwrap();
        let lines: Vec<i64> = records
            .iter()
            .map(|r| match r {
                Record::Row(l, _) | Record::Problem(l, _) => *l,
            })
            .collect();
        assert_eq!(lines, vec![2, 3, 6, 7, 9]);
        assert_eq!(
            records[1],
            Record::Problem(3, "2 fields where the header has 3".into())
        );
    }

    #[test]
    fn a_quote_never_closed_is_refused_naming_its_line_not_skipped_with_the_rows_after_it() {
        let text =
            "email\na1@example.com\n\"broken,\nb1@example.com\nb2@example.com\nb3@example.com\n";
        let error = read("emails.csv", text, EMAIL).unwrap_err().to_string();
        assert!(
            error.contains("emails.csv:3: a quoted field opens on this line"),
            "{error}"
        );
        assert!(error.contains("the 3 line(s) after it"), "{error}");
        assert!(error.contains("nothing was sent"), "{error}");
        // Closed, a quoted field may hold a line break; and a closed quote before a stray one
        // at the very end swallows nothing.
        let closed = "email\n\"a1@example.com\"\nb1@example.com\n\"b2\n@example.com\"\n";
        assert_eq!(read("emails.csv", closed, EMAIL).unwrap().len(), 3);
        let stray = "email\n\"a1@example.com\"\nb1@example.com\"\n";
        assert_eq!(read("emails.csv", stray, EMAIL).unwrap().len(), 2);
    }

    #[test]
    fn json_lines_take_objects_and_strings_and_name_the_rest() {
        let text = "{\"email\":\"a@b.co\"}\n\"c@d.co\"\n\n[1]\n{oops\n";
        let records = read("in.jsonl", text, EMAIL).unwrap();
        assert_eq!(records.len(), 4);
        assert_eq!(
            records[2],
            Record::Problem(4, "expected a JSON object or string, got an array".into())
        );
        assert!(matches!(records[3], Record::Problem(5, _)));
    }

    #[test]
    fn a_wrong_header_is_refused_naming_what_was_found_and_expected() {
        for (text, needle) in [
            ("mail,name\na@b.co,Ann\n", "missing `email`"),
            ("Email\na@b.co\n", "did you mean `email`?"),
            (
                "email,extra\na@b.co,1\n",
                "`extra` is not a column it reads",
            ),
        ] {
            let err = read("bad.csv", text, EMAIL).unwrap_err();
            assert_eq!(err.exit_code(), crate::error::exit::USAGE);
            let message = err.to_string();
            assert!(message.contains(needle), "{message}");
            assert!(message.contains("reads `email`"), "{message}");
        }
    }

    #[test]
    fn a_json_array_and_a_missing_file_are_usage_errors() {
        let err = read("array.json", "[{\"email\":\"a@b.co\"}]", EMAIL).unwrap_err();
        assert!(err.to_string().contains("JSON lines"), "{err}");
        assert_eq!(err.exit_code(), crate::error::exit::USAGE);
        let missing = open(Path::new("/nonexistent/in.csv"), "email", EMAIL, "test")
            .err()
            .unwrap();
        assert_eq!(missing.exit_code(), crate::error::exit::USAGE);
        let dir = open(&std::env::temp_dir(), "email", EMAIL, "test")
            .err()
            .unwrap();
        assert!(dir.to_string().contains("is a directory"), "{dir}");
    }
}
