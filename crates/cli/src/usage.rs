//! `tollgate usage`: spending and savings from the journal, between two days, grouped as asked,
//! as a table, CSV or JSON, and as a picture (`--chart FILE.svg`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};

use crate::error::{CliError, exit};
use crate::journal::{UsageBy, UsageQuery, UsageRow};
use crate::output;
use crate::{Globals, shared_usage};
use tollgate_providers::Provider;

/// The `usage` subcommand.
pub(crate) fn command() -> Command {
    Command::new("usage")
        .about("Spending and the cache's savings per day, provider, operation or job, from the journal")
        .arg(
            Arg::new("since")
                .long("since")
                .value_name("DAY|AGE")
                .help("The first day counted: a UTC day (2026-12-01), or an age (7d: the last 7 days)"),
        )
        .arg(
            Arg::new("until")
                .long("until")
                .value_name("DAY|AGE")
                .help("The last day counted (included)"),
        )
        .arg(
            Arg::new("by")
                .long("by")
                .value_name("GROUPING")
                .value_delimiter(',')
                .action(ArgAction::Append)
                .value_parser(UsageBy::NAMES)
                .help("What rows are grouped by, in order (repeat or separate with commas); default: day,provider,target,operation. Rows are always split by unit"),
        )
        .arg(
            Arg::new("reconcile")
                .long("reconcile")
                .action(ArgAction::SetTrue)
                .help("Set each provider's own account figures (read through its free endpoints) against the journal, for the same key and days: exit 7 when they differ"),
        )
        .arg(
            Arg::new("provider")
                .long("provider")
                .value_name("PROVIDER")
                .value_parser(["rocketreach", "requestrocket", "enrich", "spidernews"])
                .help("With --reconcile: only this provider (each provider's --base-url differs)"),
        )
        .arg(
            Arg::new("format")
                .long("format")
                .value_name("FORMAT")
                .value_parser(["table", "csv", "json"])
                .help("table (default), csv, or json (as --json)"),
        )
        .arg(
            Arg::new("chart")
                .long("chart")
                .value_name("FILE.svg")
                .value_parser(value_parser!(PathBuf))
                .help("Also draw spending and savings per day and provider as an SVG picture"),
        )
}

/// A day given as `YYYY-MM-DD`, or an age (`7d`, `36h`) counted back from now.
fn day(flag: &str, given: &str) -> Result<String, CliError> {
    if chrono::NaiveDate::parse_from_str(given, "%Y-%m-%d").is_ok() {
        return Ok(given.to_owned());
    }
    let age = humantime::parse_duration(given).map_err(|e| {
        CliError::Usage(format!(
            "--{flag} {given}: neither a UTC day (YYYY-MM-DD) nor an age such as 7d ({e})"
        ))
    })?;
    let age = chrono::Duration::from_std(age)
        .map_err(|_| CliError::Usage(format!("--{flag} {given}: too long ago")))?;
    let then = chrono::Utc::now()
        .checked_sub_signed(age)
        .ok_or_else(|| CliError::Usage(format!("--{flag} {given}: too long ago")))?;
    Ok(then.format("%Y-%m-%d").to_string())
}

fn query(matches: &ArgMatches) -> Result<UsageQuery, CliError> {
    let mut query = UsageQuery::default();
    if let Some(since) = matches.get_one::<String>("since") {
        query.since = Some(day("since", since)?);
    }
    if let Some(until) = matches.get_one::<String>("until") {
        query.until = Some(day("until", until)?);
    }
    if let (Some(since), Some(until)) = (&query.since, &query.until)
        && since > until
    {
        return Err(CliError::Usage(format!(
            "--since {since} is after --until {until}"
        )));
    }
    if let Some(by) = matches.get_many::<String>("by") {
        query.by = by.filter_map(|name| UsageBy::from_name(name)).collect();
    }
    Ok(query)
}

/// Runs `tollgate usage`.
pub(crate) async fn run(globals: &Globals, matches: &ArgMatches) -> Result<u8, CliError> {
    let query = query(matches)?;
    let journal = globals.journal()?;
    if matches.get_flag("reconcile") {
        let only = matches.get_one::<String>("provider").map(String::as_str);
        return reconcile(globals, &journal, &query, only).await;
    }
    let rows = journal.usage_by(&query)?;
    if let Some(path) = matches.get_one::<PathBuf>("chart") {
        let days = journal.usage_by(&UsageQuery {
            by: vec![UsageBy::Day, UsageBy::Provider],
            ..query.clone()
        })?;
        chart(path, &days)?;
    }
    let format = match matches.get_one::<String>("format").map(String::as_str) {
        Some(format) => format,
        None if globals.printer.json => "json",
        None => "table",
    };
    let shared = shared_usage(globals).await?;
    match format {
        "json" if globals.options.shared.is_some() => {
            let both = serde_json::json!({"journal": rows, "shared": shared});
            outln!("{}", pretty(&both));
        }
        "json" => outln!("{}", pretty(&rows)),
        "csv" => out!("{}", csv(&rows)?),
        _ => {
            if !shared.is_empty() {
                outln!("{}", shared_table(&shared));
            }
            if rows.is_empty() {
                outln!("nothing spent yet (journal: {})", journal.path().display());
            } else {
                out!("{}", table(&rows));
            }
        }
    }
    Ok(exit::OK)
}

fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into())
}

/// A grouping column: its name, and how a row holds it.
type Column = (&'static str, fn(&UsageRow) -> &Option<String>);

/// The grouping columns present in the rows (all rows have the same).
fn groupings(rows: &[UsageRow]) -> Vec<Column> {
    let all: [Column; 6] = [
        ("day", |r| &r.day),
        ("provider", |r| &r.provider),
        ("target", |r| &r.target),
        ("operation", |r| &r.operation),
        ("job", |r| &r.job),
        ("credit type", |r| &r.credit_type),
    ];
    all.into_iter()
        .filter(|(_, get)| rows.first().is_some_and(|r| get(r).is_some()))
        .collect()
}

fn cells(rows: &[UsageRow]) -> Vec<Vec<String>> {
    let groups = groupings(rows);
    let mut out = vec![
        groups
            .iter()
            .map(|(name, _)| (*name).to_owned())
            .chain(
                [
                    "calls", "charged", "refunded", "spent", "cached", "saved", "unit",
                ]
                .map(str::to_owned),
            )
            .collect::<Vec<_>>(),
    ];
    for r in rows {
        let mut line: Vec<String> = groups
            .iter()
            .map(|(_, get)| get(r).clone().unwrap_or_default())
            .collect();
        line.extend([
            r.calls.to_string(),
            r.charged.to_string(),
            r.refunded.to_string(),
            r.spent.to_string(),
            r.cached.to_string(),
            r.saved.to_string(),
            r.unit.clone(),
        ]);
        out.push(line);
    }
    out
}

fn csv(rows: &[UsageRow]) -> Result<String, CliError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| CliError::Usage(format!("writing CSV: {e}"));
    for line in cells(rows) {
        writer.write_record(&line).map_err(fail)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| CliError::Usage(format!("writing CSV: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn table(rows: &[UsageRow]) -> String {
    let mut out = String::new();
    output::text_table(&mut out, cells(rows), 0);
    out.push('\n');
    // Totals per provider (or overall, when rows are not by provider) and unit.
    let mut totals: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for r in rows {
        let who = r.provider.clone().unwrap_or_else(|| "all".into());
        let total = totals.entry((who, r.unit.clone())).or_default();
        total.0 = total.0.saturating_add(r.spent);
        total.1 = total.1.saturating_add(r.saved);
    }
    for ((provider, unit), (spent, saved)) in totals {
        if saved > 0 {
            out.push_str(&format!(
                "{provider}: {spent} {unit} spent, {saved} {unit} saved by the cache\n"
            ));
        } else {
            out.push_str(&format!("{provider}: {spent} {unit} spent\n"));
        }
    }
    out
}

fn shared_table(shared: &[crate::SharedUsage]) -> String {
    let mut table = vec![
        [
            "provider", "key", "charged", "refunded", "spent", "possibly", "reserved", "leases",
            "today",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for s in shared {
        let today = s
            .totals
            .days
            .values()
            .next()
            .map_or(0, |(c, r, _)| c.saturating_sub(*r));
        table.push(vec![
            s.provider.to_owned(),
            s.fingerprint.chars().take(8).collect(),
            s.totals.charged.to_string(),
            s.totals.refunded.to_string(),
            s.totals.spent().to_string(),
            s.totals.uncertain.to_string(),
            s.totals.reserved.to_string(),
            s.totals.leases.to_string(),
            today.to_string(),
        ]);
    }
    let mut out = String::from("Shared (Redis), every process of each key:\n");
    output::text_table(&mut out, table, 2);
    out
}

/// Draws spending and savings per day and provider: one line of spending per provider and
/// unit (solid) and one of savings (dashed), the days along the bottom.
fn chart(path: &Path, rows: &[UsageRow]) -> Result<(), CliError> {
    use plotters::prelude::*;
    let failed = |e: &dyn std::fmt::Display| {
        CliError::Usage(format!("drawing the chart {}: {e}", path.display()))
    };
    let days: Vec<String> = {
        let mut days: Vec<String> = rows.iter().filter_map(|r| r.day.clone()).collect();
        days.dedup();
        days
    };
    let mut series: BTreeMap<(String, String), Vec<(i64, i64)>> = BTreeMap::new();
    for r in rows {
        let (Some(day), Some(provider)) = (&r.day, &r.provider) else {
            continue;
        };
        let x = days.iter().position(|d| d == day).unwrap_or(0);
        let line = series
            .entry((provider.clone(), r.unit.clone()))
            .or_insert_with(|| vec![(0, 0); days.len()]);
        if let Some(point) = line.get_mut(x) {
            *point = (point.0 + r.spent, point.1 + r.saved);
        }
    }
    let top = series
        .values()
        .flatten()
        .map(|(spent, saved)| (*spent).max(*saved))
        .max()
        .unwrap_or(0)
        .max(1);
    let width = u32::try_from(days.len().max(2) * 60 + 200)
        .unwrap_or(2000)
        .min(4000);
    let root = SVGBackend::new(path, (width, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let last = i64::try_from(days.len().saturating_sub(1))
        .unwrap_or(0)
        .max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption("Spending and savings per day", ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0..last, 0..top + top / 10 + 1)
        .map_err(|e| failed(&e))?;
    let label_of = |x: &i64| {
        usize::try_from(*x)
            .ok()
            .and_then(|i| days.get(i).cloned())
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .x_labels(days.len().clamp(2, 12))
        .x_label_formatter(&label_of)
        .y_desc("credits or rows")
        .draw()
        .map_err(|e| failed(&e))?;
    for (i, ((provider, unit), points)) in series.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        let at = |f: fn(&(i64, i64)) -> i64| {
            points
                .iter()
                .enumerate()
                .map(move |(x, p)| (i64::try_from(x).unwrap_or(0), f(p)))
        };
        chart
            .draw_series(LineSeries::new(at(|p| p.0), colour.stroke_width(2)))
            .map_err(|e| failed(&e))?
            .label(format!("{provider} spent ({unit})"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        chart
            .draw_series(DashedLineSeries::new(
                at(|p| p.1),
                6,
                4,
                colour.stroke_width(1),
            ))
            .map_err(|e| failed(&e))?
            .label(format!("{provider} saved ({unit})"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| failed(&e))?;
    root.present().map_err(|e| failed(&e))?;
    Ok(())
}

/// `tollgate usage --reconcile`: for each provider with a key, its account's figures against
/// the journal's, a line per credit type (RocketReach) or operation (Enrich).
async fn reconcile(
    globals: &Globals,
    journal: &crate::journal::Journal,
    query: &UsageQuery,
    only: Option<&str>,
) -> Result<u8, CliError> {
    use tollgate::reconcile::{Lines, Reconciliation};
    let mut all: Vec<Reconciliation> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for provider in Provider::ALL {
        if only.is_some_and(|name| name != provider.name()) {
            continue;
        }
        let target = match globals.target(provider) {
            Ok(target) => target,
            // The provider asked for has no key: say so.
            Err(error) if only.is_some() => return Err(error),
            Err(_) => continue, // no key for this provider here
        };
        let model = &provider.profile().cost;
        let name = provider.profile().name;
        // Each provider's figures, their lines, and the journal's days they stand for.
        let (by, figures, days, line_of): (_, _, _, fn(&str) -> &str) = match provider {
            Provider::RocketReach => {
                let client: tollgate_rocketreach::Client = target.pricing_free().client()?;
                let figures = client
                    .account_spending()
                    .await
                    .map_err(CliError::Provider)?;
                // The account's figures are its totals: set against every day of the journal.
                (Lines::CreditType, figures, (None, None), |op| op)
            }
            Provider::Enrich => {
                let client: tollgate_enrich::Client = target.pricing_free().client()?;
                let figures = client
                    .account_spending(query.since.as_deref(), query.until.as_deref())
                    .await
                    .map_err(CliError::Provider)?;
                let days = (query.since.clone(), query.until.clone());
                // A batch's submit and its results' refunds on one line, as the wallet's are.
                (
                    Lines::Operation,
                    figures,
                    days,
                    tollgate_enrich::account::line_of,
                )
            }
            Provider::SpiderNews | Provider::RequestRocket => {
                notes.push(format!(
                    "{name}: not reconciled (it publishes no account figures through a free endpoint)"
                ));
                continue;
            }
        };
        let mut ours: BTreeMap<String, i64> = BTreeMap::new();
        for (operation, spent) in
            journal.spent_by_operation(provider.name(), &target.label, days)?
        {
            let sum = ours.entry(line_of(&operation).to_owned()).or_default();
            *sum = sum.saturating_add(spent);
        }
        all.push(Reconciliation::new(name, model, by, figures, ours));
    }
    let clean = all.iter().all(Reconciliation::is_clean);
    if all.is_empty() && !globals.printer.json {
        for note in &notes {
            outln!("{note}");
        }
        outln!("nothing was reconciled: no provider with a key publishes account figures");
        return Ok(exit::OK);
    }
    if globals.printer.json {
        outln!("{}", pretty(&all));
    } else {
        let mut table = vec![
            [
                "provider",
                "line",
                "provider says",
                "tollgate recorded",
                "difference",
                "likely cause",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        for r in &all {
            for l in &r.lines {
                table.push(vec![
                    r.provider.to_owned(),
                    l.label.clone(),
                    format!("{} {}", l.provider, r.unit),
                    format!("{} {}", l.recorded, r.unit),
                    format!("{:+}", l.difference),
                    l.suspects.join(", "),
                ]);
            }
        }
        let mut out = String::new();
        output::text_table(&mut out, table, 0);
        out!("{out}");
        for note in &notes {
            outln!("{note}");
        }
        outln!(
            "{}",
            if clean {
                "the providers' figures and the journal agree"
            } else {
                "the providers' figures and the journal differ"
            }
        );
    }
    Ok(if clean { exit::OK } else { exit::DIFFERENT })
}
