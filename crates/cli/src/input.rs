//! Reading bulk input files: CSV with a header row, or JSON lines (`.jsonl`, `.ndjson`,
//! `.json`). A list of e-mail addresses with no header is read as one `email` column.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::CliError;

/// One row of input: its line number and its fields.
pub type Row = (i64, Map<String, Value>);

/// A row that could not be read: its line number and what is wrong.
pub type Problem = (i64, String);

/// Whether `path` names a JSON-lines file (by its extension).
pub fn is_json_lines(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("jsonl" | "ndjson" | "json")
    )
}

/// The rows of `text` (read from `path`, whose extension says the format). `single` is the
/// field a bare JSON string or a header-less one-column file stands for (`email`).
pub fn rows(path: &Path, text: &str, single: &str) -> Result<(Vec<Row>, Vec<Problem>), CliError> {
    if is_json_lines(path) {
        Ok(json_lines(text, single))
    } else {
        csv_rows(path, text, single)
    }
}

fn json_lines(text: &str, single: &str) -> (Vec<Row>, Vec<Problem>) {
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let number = i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1);
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(fields)) => rows.push((number, fields)),
            Ok(Value::String(s)) => {
                let mut fields = Map::new();
                fields.insert(single.to_owned(), Value::String(s));
                rows.push((number, fields));
            }
            Ok(other) => problems.push((
                number,
                format!("expected a JSON object or string, got {}", kind_of(&other)),
            )),
            Err(e) => problems.push((number, format!("not JSON: {e}"))),
        }
    }
    (rows, problems)
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

/// The line (1-based) where a CSV record starts, counted from its byte offset: the CSV
/// reader's own line count skips blank lines.
fn line_of(text: &str, position: Option<&csv::Position>) -> i64 {
    let mut byte = position.map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
    // The position may point at blank lines the reader skipped before the record.
    while matches!(text.as_bytes().get(byte), Some(b'\n' | b'\r')) {
        byte += 1;
    }
    let before = text.as_bytes().get(..byte).unwrap_or(text.as_bytes());
    let newlines = before.iter().filter(|b| **b == b'\n').count();
    i64::try_from(newlines)
        .unwrap_or(i64::MAX)
        .saturating_add(1)
}

fn csv_rows(path: &Path, text: &str, single: &str) -> Result<(Vec<Row>, Vec<Problem>), CliError> {
    let first = text.lines().next().unwrap_or_default();
    // A bare list of addresses: no header.
    let headerless = first.contains('@') && !first.contains(',');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(!headerless)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = if headerless {
        vec![single.to_owned()]
    } else {
        reader
            .headers()
            .map_err(|e| {
                CliError::Usage(format!("{}: unreadable CSV header: {e}", path.display()))
            })?
            .iter()
            .map(str::to_owned)
            .collect()
    };
    if header.iter().all(|h| h.is_empty()) {
        return Err(CliError::Usage(format!(
            "{}: the first line must name the columns (for example `{single}`)",
            path.display()
        )));
    }
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let number = line_of(text, record.position());
                if record.iter().all(|c| c.trim().is_empty()) {
                    continue;
                }
                if record.len() != header.len() {
                    problems.push((
                        number,
                        format!(
                            "{} fields where the header has {}",
                            record.len(),
                            header.len()
                        ),
                    ));
                    continue;
                }
                let fields: Map<String, Value> = header
                    .iter()
                    .zip(record.iter())
                    .filter_map(|(name, value)| cell(value).map(|v| (name.clone(), v)))
                    .collect();
                rows.push((number, fields));
            }
            Err(e) => {
                let number = line_of(text, e.position());
                problems.push((number, format!("unreadable CSV: {e}")));
            }
        }
    }
    Ok((rows, problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_list_of_addresses_is_one_email_column() {
        let (rows, problems) = rows(Path::new("in.txt"), "a@b.co\nc@d.co\n", "email").unwrap();
        assert!(problems.is_empty());
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].0, 2);
        assert_eq!(rows[1].1["email"], "c@d.co");
    }

    #[test]
    fn csv_lines_are_numbered_from_the_header_and_bad_rows_named() {
        let text = "firstName,lastName,domain\nAnn,Lee,a.co\nBo,b.co\n\nCy,Ng,c.co\n";
        let (rows, problems) = rows(Path::new("in.csv"), text, "email").unwrap();
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![2, 5]);
        assert_eq!(
            problems,
            vec![(3, "2 fields where the header has 3".into())]
        );
    }

    #[test]
    fn json_lines_take_objects_and_strings_and_name_the_rest() {
        let text = "{\"email\":\"a@b.co\"}\n\"c@d.co\"\n[1]\n{oops\n";
        let (rows, problems) = rows(Path::new("in.jsonl"), text, "email").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            problems[0],
            (3, "expected a JSON object or string, got an array".into())
        );
        assert_eq!(problems[1].0, 4);
    }
}
