//! How answers are shown: a readable summary by default, JSON with `--json` (one document per
//! answer; JSON lines for streams and bulk results).

use std::fmt::Write as _;

use serde_json::Value;

/// Renders `value` for a person: nested members indented under their names, a list of flat
/// objects as a table, one scalar per line otherwise.
pub fn human(value: &Value) -> String {
    let mut out = String::new();
    render(&mut out, value, 0);
    if out.is_empty() {
        out.push_str("(empty)\n");
    }
    out
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some("-".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Array(a) if a.is_empty() => Some("[]".into()),
        Value::Object(o) if o.is_empty() => Some("{}".into()),
        Value::Array(a) if a.iter().all(|v| !v.is_array() && !v.is_object()) => {
            Some(a.iter().filter_map(scalar).collect::<Vec<_>>().join(", "))
        }
        _ => None,
    }
}

/// Columns of a list whose items are all objects of scalars (`None` otherwise).
fn table_columns(items: &[Value]) -> Option<Vec<String>> {
    let mut columns: Vec<String> = Vec::new();
    for item in items {
        let Value::Object(fields) = item else {
            return None;
        };
        for (name, v) in fields {
            scalar(v)?;
            if !columns.contains(name) {
                columns.push(name.clone());
            }
        }
    }
    (!columns.is_empty() && columns.len() <= 8).then_some(columns)
}

fn render(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(fields) => {
            for (name, v) in fields {
                match scalar(v) {
                    Some(s) => {
                        let _ = writeln!(out, "{pad}{name}: {s}");
                    }
                    None => {
                        let _ = writeln!(out, "{pad}{name}:");
                        render(out, v, indent + 2);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(columns) = table_columns(items) {
                table(out, &columns, items, indent);
                return;
            }
            for item in items {
                match scalar(item) {
                    Some(s) => {
                        let _ = writeln!(out, "{pad}- {s}");
                    }
                    None => {
                        let _ = writeln!(out, "{pad}-");
                        render(out, item, indent + 2);
                    }
                }
            }
        }
        other => {
            if let Some(s) = scalar(other) {
                let _ = writeln!(out, "{pad}{s}");
            }
        }
    }
}

fn table(out: &mut String, columns: &[String], items: &[Value], indent: usize) {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            columns
                .iter()
                .map(|c| item.get(c).and_then(scalar).unwrap_or_else(|| "-".into()))
                .collect()
        })
        .collect();
    let cells = std::iter::once(columns.to_vec()).chain(rows);
    text_table(out, cells, indent);
}

/// Writes rows as aligned columns (the first row is the header).
pub fn text_table(out: &mut String, rows: impl IntoIterator<Item = Vec<String>>, indent: usize) {
    let rows: Vec<Vec<String>> = rows.into_iter().collect();
    let mut widths: Vec<usize> = Vec::new();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            let w = cell.chars().count();
            match widths.get_mut(i) {
                Some(current) => *current = (*current).max(w),
                None => widths.push(w),
            }
        }
    }
    let pad = " ".repeat(indent);
    for row in &rows {
        let mut line = pad.clone();
        for (i, cell) in row.iter().enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// How the generated subcommands print: implements each provider's generated `CliConfig`.
#[derive(Clone, Copy, Debug)]
pub struct Printer {
    /// `--json`.
    pub json: bool,
}

impl Printer {
    /// Prints one answer body.
    pub fn value(&self, value: &Value) {
        if self.json {
            outln!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into())
            );
        } else {
            out!("{}", human(value));
        }
    }

    fn item<T: serde::Serialize>(&self, value: &T) {
        match serde_json::to_value(value) {
            Ok(v) => self.value(&v),
            Err(e) => eprintln!("tollgate: the answer could not be shown: {e}"),
        }
    }

    fn list_item<T: serde::Serialize>(&self, value: &T) {
        if self.json {
            // JSON lines for streams.
            match serde_json::to_string(value) {
                Ok(line) => outln!("{line}"),
                Err(e) => eprintln!("tollgate: an item could not be shown: {e}"),
            }
        } else {
            self.item(value);
        }
    }
}

macro_rules! cli_config {
    ($($module:ident => $krate:ident),*) => {$(
        impl crate::generated::$module::CliConfig for Printer {
            fn success_item<T>(&self, value: &$krate::ResponseValue<T>)
            where
                T: schemars::JsonSchema + serde::Serialize + std::fmt::Debug,
            {
                self.item(value.as_ref());
            }

            fn success_no_item(&self, value: &$krate::ResponseValue<()>) {
                if !self.json {
                    outln!("done ({})", value.status());
                }
            }

            // Errors are reported once, by the command's caller, with an exit code.
            fn error(&self, _value: &tollgate::Error) {}

            fn list_start<T>(&self)
            where
                T: schemars::JsonSchema + serde::Serialize + std::fmt::Debug,
            {
            }

            fn list_item<T>(&self, value: &T)
            where
                T: schemars::JsonSchema + serde::Serialize + std::fmt::Debug,
            {
                Printer::list_item(self, value);
            }

            fn list_end_success<T>(&self)
            where
                T: schemars::JsonSchema + serde::Serialize + std::fmt::Debug,
            {
            }

            fn list_end_error(&self, _value: &tollgate::Error) {}
        }
    )*};
}

cli_config!(
    rocketreach => tollgate_rocketreach,
    requestrocket => tollgate_requestrocket,
    enrich => tollgate_enrich,
    spidernews => tollgate_spidernews
);

/// The progress bar on screen, if any: budget warnings are printed above it, and colour it.
static BAR: std::sync::Mutex<Option<indicatif::ProgressBar>> = std::sync::Mutex::new(None);

/// The template of a bulk job's progress bar, its bar in `colour` (yellow past the first
/// budget warning, red past 95%).
pub fn bar_style(colour: Option<&str>) -> indicatif::ProgressStyle {
    let bar = match colour {
        Some(colour) => format!("{{bar:30.{colour}}}"),
        None => "{bar:30}".to_owned(),
    };
    indicatif::ProgressStyle::with_template(&format!(
        "{bar} {{pos}}/{{len}} items  {{per_sec}}  {{msg}}  ETA {{eta}}"
    ))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
}

/// Shows budget warnings on `bar` while it is on screen (`None`: it is gone).
pub fn warn_on(bar: Option<&indicatif::ProgressBar>) {
    *BAR.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = bar.cloned();
}

/// A budget warning: a line on standard error (above the progress bar, which turns yellow,
/// then red from 95%). Printed with `--quiet` too: it is a warning.
pub fn budget_warning(warning: &tollgate::BudgetWarning) {
    let line = format!("warning: {warning}");
    let bar = BAR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    match bar.filter(|b| !b.is_hidden()) {
        Some(bar) => {
            bar.println(line);
            let colour = if warning.threshold >= 0.95 {
                "red"
            } else {
                "yellow"
            };
            bar.set_style(bar_style(Some(colour)));
        }
        None => eprintln!("{line}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_objects_indent_and_flat_lists_become_tables() {
        let shown = human(&json!({
            "data": {"email": "a@b.co", "tags": ["x", "y"]},
            "rows": [{"id": 1, "name": "Ann"}, {"id": 22, "name": "Bo"}],
        }));
        assert_eq!(
            shown,
            "data:\n  email: a@b.co\n  tags: x, y\nrows:\n  id  name\n  1   Ann\n  22  Bo\n"
        );
    }

    #[test]
    fn an_empty_answer_says_so() {
        assert_eq!(human(&json!({})), "(empty)\n");
    }
}
