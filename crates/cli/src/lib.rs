//! The `tollgate` command: every operation of RocketReach, RequestRocket, Enrich and Spider
//! News from the shell, bulk jobs that survive `kill -9` on an embedded SQLite journal, a usage
//! report, and a demo that walks a pipeline through all four providers against the embedded
//! sandbox.
//!
//! ```text
//! tollgate demo                                   # no key, no network
//! tollgate --sandbox enrich validate-email --email sarah.chen@stripe.com
//! tollgate --dry-run spidernews list-connections --source-name Raytheon --connection-limit 20
//! tollgate --max-cost 5000 enrich validate emails.csv --output results.csv
//! tollgate usage --json
//! ```
//!
//! The subcommands of each provider are generated from its OpenAPI document by
//! `cargo xtask codegen` (progenitor's clap generator, in `src/generated/`); the bulk commands,
//! the demo and `usage` are written by hand. [`run`] is the whole command, for tests and for
//! embedding.
//!
//! ```
//! // Every operation of every provider is a subcommand, named after its operation id.
//! let tollgate = tollgate_cli::command();
//! let enrich = tollgate.find_subcommand("enrich").unwrap();
//! assert!(enrich.find_subcommand("validate-email").is_some()); // generated
//! assert!(enrich.find_subcommand("validate").is_some()); // the bulk job
//! ```

#[macro_use]
mod stdout;

pub mod body;
pub mod bulk;
pub mod config;
#[cfg(feature = "sandbox")]
pub mod demo;
#[cfg(feature = "sandbox")]
mod embedded;
pub mod error;
pub mod input;
pub mod journal;
pub mod output;
mod usage;

/// The subcommands generated from each provider's OpenAPI document (`cargo xtask codegen`).
pub mod generated {
    pub mod enrich;
    pub mod requestrocket;
    pub mod rocketreach;
    pub mod spidernews;
}

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
#[cfg(feature = "sandbox")]
pub use embedded::{sandbox_targets, start_sandbox};
use tollgate_providers::Provider;

use crate::config::{Config, Target, TargetOptions};
use crate::error::{CliError, exit};
use crate::journal::{Journal, Payer};
use crate::output::Printer;

/// The command-line name of an operation: its id in kebab case (`validate_email` →
/// `validate-email`).
pub fn command_name(operation_id: &str) -> String {
    operation_id.replace('_', "-")
}

macro_rules! per_provider {
    ($provider:expr, |$module:ident, $client:ident| $body:expr) => {
        match $provider {
            Provider::RocketReach => {
                use crate::generated::rocketreach as $module;
                #[allow(dead_code)]
                type $client = tollgate_rocketreach::Client;
                $body
            }
            Provider::RequestRocket => {
                use crate::generated::requestrocket as $module;
                #[allow(dead_code)]
                type $client = tollgate_requestrocket::Client;
                $body
            }
            Provider::Enrich => {
                use crate::generated::enrich as $module;
                #[allow(dead_code)]
                type $client = tollgate_enrich::Client;
                $body
            }
            Provider::SpiderNews => {
                use crate::generated::spidernews as $module;
                #[allow(dead_code)]
                type $client = tollgate_spidernews::Client;
                $body
            }
        }
    };
}

/// The generated operation subcommands of `provider`, named by [`command_name`].
pub fn operation_commands(provider: Provider) -> Vec<Command> {
    per_provider!(provider, |g, C| g::CliCommand::iter()
        .map(|op| g::Cli::<Printer>::get_command(op).name(command_name(op.operation_id())))
        .collect())
}

fn bulk_command(name: &'static str, about: &'static str, batched: bool) -> Command {
    let mut command = Command::new(name)
        .about(about)
        .arg(
            Arg::new("file")
                .value_name("FILE")
                .required(true)
                .value_parser(value_parser!(PathBuf))
                .help("Input: CSV with a header row, or JSON lines (.jsonl, .ndjson, .json)"),
        )
        .arg(
            Arg::new("output")
                .long("output")
                .short('o')
                .value_name("FILE")
                .value_parser(value_parser!(PathBuf))
                .help("Where the results go; default: standard output"),
        )
        .arg(
            Arg::new("format")
                .long("format")
                .value_name("FORMAT")
                .value_parser(bulk::Format::NAMES)
                .help("The output's format, csv or jsonl (default: from the --output file's ending, .csv or .jsonl/.ndjson/.json; on standard output CSV, or JSON lines with --json)"),
        )
        .arg(
            Arg::new("resubmit-unknown")
                .long("resubmit-unknown")
                .action(ArgAction::SetTrue)
                .help("Send again the calls that were in flight when an earlier run stopped and that the provider's records cannot settle (they may have been charged)"),
        )
        .arg(
            Arg::new("resubmit-lost")
                .long("resubmit-lost")
                .action(ArgAction::SetTrue)
                .help("Send again the items of batches the provider no longer knows (they are charged again)"),
        )
        .arg(
            Arg::new("wait")
                .long("wait")
                .action(ArgAction::SetTrue)
                .help("When another process is running the same job, wait for it instead of refusing (exit 6)"),
        );
    command = command            .arg(
                Arg::new("poll-interval")
                    .long("poll-interval")
                    .value_name("DURATION")
                    .default_value("5s")
                    .value_parser(|text: &str| humantime::parse_duration(text))
                    .help("The wait between polls of a batch or of lookups in progress: 5s, 500ms, 1m (Enrich advises 5s, RocketReach at least 1s)"),
            )
            .arg(
                // The option's earlier form, kept for scripts: a number of seconds.
                Arg::new("poll-seconds")
                    .long("poll-seconds")
                    .value_name("SECONDS")
                    .hide(true)
                    .conflicts_with("poll-interval")
                    .value_parser(value_parser!(f64)),
            );
    command = command.arg(
        Arg::new("stop-at-forecast")
            .long("stop-at-forecast")
            .action(ArgAction::SetTrue)
            .help("Refuse to start when the job is expected to cost more than the budget (--max-cost, or the config's): from what its settled items cost when it resumes, else at its most"),
    );
    if !batched {
        command = command.arg(
            Arg::new("deadline")
                .long("deadline")
                .value_name("DURATION")
                .default_value("10m")
                .value_parser(|text: &str| humantime::parse_duration(text))
                .help("How long a run waits for lookups still in progress (paid, checked for free) before it stops; run again to keep waiting"),
        );
    }
    if batched {
        command = command.arg(
            Arg::new("batch-size")
                .long("batch-size")
                .value_name("N")
                .default_value("1000")
                .value_parser(value_parser!(u32).range(1..=500_000))
                .help("Items per provider batch (1 to 500,000)"),
        );
    }
    command
}

fn bulk_commands(provider: Provider) -> Vec<Command> {
    match provider {
        Provider::Enrich => vec![
            bulk_command(
                "validate",
                "Validate a file of e-mail addresses (column `email`) in batches, journaled and resumable",
                true,
            ),
            bulk_command(
                "find",
                "Find the e-mails of a file of leads (columns `firstName`, `lastName`, `domain`) in batches, journaled and resumable",
                true,
            ),
        ],
        Provider::RocketReach => vec![bulk_command(
            "lookup",
            "Look up a file of people (columns among id, linkedin_url, email, name, current_employer, title, phone, npi_number), journaled and resumable",
            false,
        )],
        Provider::SpiderNews => vec![bulk_command(
            "connections",
            "Run a file of connection queries, one per line (columns among source_name, source_uuid, target_name, target_uuid, connection_limit, min_date, max_date), journaled and resumable",
            false,
        )],
        Provider::RequestRocket => Vec::new(),
    }
}

fn bulk_kind(provider: Provider, name: &str) -> Option<bulk::Kind> {
    match (provider, name) {
        (Provider::Enrich, "validate") => Some(bulk::Kind::EnrichValidate),
        (Provider::Enrich, "find") => Some(bulk::Kind::EnrichFind),
        (Provider::RocketReach, "lookup") => Some(bulk::Kind::RocketReachLookup),
        (Provider::SpiderNews, "connections") => Some(bulk::Kind::SpiderNewsConnections),
        _ => None,
    }
}

/// The whole command line.
pub fn command() -> Command {
    let global = |arg: Arg| arg.global(true);
    let mut root = Command::new("tollgate")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Typed access to RocketReach, RequestRocket, Enrich and Spider News, with budgets, retries and resumable bulk jobs")
        .after_help(exit::HELP)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(global(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Machine-readable output: JSON (JSON lines for streams and bulk results)"),
        ))
        .arg(global(
            Arg::new("dry-run")
                .long("dry-run")
                .action(ArgAction::SetTrue)
                .help("Print the most the command may cost and send nothing"),
        ))
        .arg(global(
            Arg::new("max-cost")
                .long("max-cost")
                .value_name("N")
                .value_parser(value_parser!(i64).range(0..))
                .help("Refuse, before sending, anything that may cost more than N (credits or rows)"),
        ))
        .arg(global(
            Arg::new("budget")
                .long("budget")
                .value_name("[TYPE=]N[/PERIOD]")
                .action(ArgAction::Append)
                .value_parser(value_parser!(config::BudgetSpec))
                .help("A budget of one credit type or one that renews (repeatable): lookup=1000/daily, 20000/monthly@15, company_export=50; a renewing one counts what the journal recorded in its period"),
        ))
        .arg(global(
            Arg::new("base-url")
                .long("base-url")
                .value_name("URL")
                .help("Send the provider's requests to URL instead"),
        ))
        .arg(global(
            Arg::new("redis")
                .long("redis")
                .value_name("URL")
                .env("TOLLGATE_REDIS")
                .help("Share each key's pace and budget with every process using this Redis (redis://host:port/)"),
        ))
        .arg(global(
            Arg::new("config")
                .long("config")
                .value_name("FILE")
                .env("TOLLGATE_CONFIG")
                .value_parser(value_parser!(PathBuf))
                .help(format!("The config file (default here: {})", shown(Config::default_path()))),
        ))
        .arg(global(
            Arg::new("journal")
                .long("journal")
                .value_name("FILE")
                .env("TOLLGATE_JOURNAL")
                .value_parser(value_parser!(PathBuf))
                .help(format!("The journal of jobs and charges (default here: {})", shown(Journal::default_path()))),
        ))
        .arg(global(
            Arg::new("cache")
                .long("cache")
                .value_name("FILE")
                .env("TOLLGATE_CACHE")
                .value_parser(value_parser!(PathBuf))
                .help("The cache of answers already paid for (default: cache.sqlite3 beside the journal)"),
        ))
        .arg(global(
            Arg::new("no-cache")
                .long("no-cache")
                .action(ArgAction::SetTrue)
                .conflicts_with_all(["refresh", "max-age"])
                .help("Neither read nor fill the cache: every call is sent and paid"),
        ))
        .arg(global(
            Arg::new("refresh")
                .long("refresh")
                .action(ArgAction::SetTrue)
                .help("Pay again for cached answers and replace them"),
        ))
        .arg(global(
            Arg::new("max-age")
                .long("max-age")
                .value_name("DURATION")
                .value_parser(|text: &str| humantime::parse_duration(text))
                .help("Serve only cached answers at most this old: 30d, 12h, 90m"),
        ))
        .arg(global(
            Arg::new("verbose")
                .long("verbose")
                .short('v')
                .action(ArgAction::Count)
                .help("Log what the runtime does on standard error: -v calls and retries, -vv more, -vvv everything (RUST_LOG overrides; keys are never logged)"),
        ))
        .arg(global(
            Arg::new("quiet")
                .long("quiet")
                .short('q')
                .action(ArgAction::SetTrue)
                .conflicts_with("verbose")
                .help("No progress bar and no summary line on standard error (errors and warnings stay)"),
        ))
        .subcommand(
            usage::command(),
        )
        .subcommand(
            Command::new("cache")
                .about("What the cache of paid answers holds and saved, and how to empty it")
                .subcommand_required(true)
                .subcommand(
                    Command::new("stats").about(
                        "Entries, bytes, hits, misses, and the credits and rows saved, per provider",
                    ),
                )
                .subcommand(
                    Command::new("purge")
                        .about("Remove cached answers (all of them unless narrowed)")
                        .arg(
                            Arg::new("provider")
                                .long("provider")
                                .value_name("PROVIDER")
                                .value_parser(["rocketreach", "requestrocket", "enrich", "spidernews"])
                                .help("Only this provider's answers"),
                        )
                        .arg(
                            Arg::new("older-than")
                                .long("older-than")
                                .value_name("DURATION")
                                .value_parser(|text: &str| humantime::parse_duration(text))
                                .help("Only answers stored at least this long ago: 30d, 12h"),
                        ),
                ),
        )
        .subcommand(
            Command::new("completions")
                .about("Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell)")
                .after_help("For example: tollgate completions bash > ~/.local/share/bash-completion/completions/tollgate\n             tollgate completions zsh > \"${fpath[1]}/_tollgate\"\n             tollgate completions fish > ~/.config/fish/completions/tollgate.fish")
                .arg(
                    Arg::new("shell")
                        .value_name("SHELL")
                        .required(true)
                        .value_parser(value_parser!(clap_complete::Shell)),
                ),
        )
        .subcommand(
            Command::new("man")
                .about("Print the man page of tollgate (roff), or write one page per command into DIR")
                .arg(
                    Arg::new("dir")
                        .long("dir")
                        .value_name("DIR")
                        .value_parser(value_parser!(PathBuf))
                        .help("Write tollgate.1, tollgate-enrich.1, tollgate-enrich-validate.1, ... into DIR"),
                ),
        );
    #[cfg(feature = "sandbox")]
    {
        root = root
        .arg(global(
                Arg::new("sandbox")
                    .long("sandbox")
                    .action(ArgAction::SetTrue)
                    .help("Run against the embedded sandbox (no key, no network)"),
            ))
            .subcommand(
                Command::new("demo")
                    .about("Walk a pipeline through all four providers against the embedded sandbox (no key, no network)"),
            );
    }
    for provider in Provider::ALL {
        let profile = provider.profile();
        let sub = Command::new(provider.name())
            .about(format!(
                "{} ({} key from {})",
                profile.name, profile.name, profile.env_var
            ))
            .subcommand_required(true)
            .arg_required_else_help(true)
            .subcommands(operation_commands(provider))
            .subcommands(bulk_commands(provider));
        root = root.subcommand(sub);
    }
    root
}

/// A default path as `--help` shows it: this platform's real one.
fn shown(path: Option<PathBuf>) -> String {
    path.map_or_else(
        || "none: this system has no home directory; give the option".into(),
        |p| p.display().to_string(),
    )
}

/// Logs to standard error: `RUST_LOG` when set, else the level `-v` asks for (warnings only
/// without it). The runtime's events never carry a key.
fn start_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // Budget warnings are printed by the command itself (above the progress bar): not twice.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},tollgate::cost::warning=off"))
    });
    // A second call in one process (tests run the command many times) keeps the first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Each call is a span: logged when it closes, with its provider, operation,
        // attempts, status, wait and cost.
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .with_target(true)
        .try_init();
}

/// Runs the command line `args` (the first item is the program name) and returns its exit
/// code. Errors are printed on standard error, one line saying what to do.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    start_logging(matches.get_count("verbose"));
    match matches.subcommand() {
        Some(("completions", sub)) => return completions(sub),
        Some(("man", sub)) => return man(sub),
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tollgate: cannot start: {e}");
            return exit::FAILURE;
        }
    };
    let control = cache_control(&matches);
    match runtime.block_on(tollgate::cache::with_control(control, dispatch(&matches))) {
        Ok(code) => stdout_code(code),
        Err(error) => {
            report(&error);
            error.exit_code()
        }
    }
}

/// `tollgate completions SHELL`: the script on standard output.
fn completions(matches: &ArgMatches) -> u8 {
    let Some(shell) = matches.get_one::<clap_complete::Shell>("shell").copied() else {
        eprintln!("tollgate: completions needs a SHELL: bash, zsh, fish, elvish or powershell");
        return exit::USAGE;
    };
    let mut command = command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "tollgate", &mut script);
    stdout::write_bytes(&script);
    stdout_code(exit::OK)
}

/// `code`, unless writing to standard output failed for a reason other than its reader
/// closing it (already reported): then 1.
fn stdout_code(code: u8) -> u8 {
    if code == exit::OK && stdout::failed() {
        exit::FAILURE
    } else {
        code
    }
}

/// `tollgate man [--dir DIR]`: the root page on standard output, or every page into DIR.
fn man(matches: &ArgMatches) -> u8 {
    let outcome = match matches.get_one::<PathBuf>("dir") {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command())
                .render(&mut page)
                .map_err(|e| CliError::io("the man page", e))
                .map(|()| stdout::write_bytes(&page))
        }
        Some(dir) => man_pages(command(), dir, "tollgate").map(|n| {
            eprintln!("wrote {n} man pages into {}", dir.display());
        }),
    };
    match outcome {
        Ok(()) => stdout_code(exit::OK),
        Err(error) => {
            report(&error);
            error.exit_code()
        }
    }
}

/// Writes the page of `command` (named `name`) and of each of its subcommands into `dir`;
/// returns how many.
fn man_pages(command: Command, dir: &std::path::Path, name: &str) -> Result<usize, CliError> {
    std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
    let command = command.name(name.to_owned());
    let path = dir.join(format!("{name}.1"));
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut page)
        .map_err(|e| CliError::io(&path, e))?;
    std::fs::write(&path, page).map_err(|e| CliError::io(&path, e))?;
    let mut written = 1;
    for sub in command.get_subcommands() {
        let sub_name = format!("{name}-{}", sub.get_name());
        written += man_pages(sub.clone(), dir, &sub_name)?;
    }
    Ok(written)
}

/// Prints `error` as one line (a provider's error already names its request id once).
fn report(error: &CliError) {
    eprintln!("tollgate: {error}");
}

/// The options every command shares.
pub(crate) struct Globals {
    printer: Printer,
    /// `--quiet`: no progress bars, no summary lines.
    quiet: bool,
    config: Config,
    options: TargetOptions,
    journal: Option<PathBuf>,
    /// The cache file in use (`None`: `--no-cache`, or none named for the sandbox).
    cache: Option<PathBuf>,
    /// The embedded sandbox of `--sandbox`, kept running while the command runs.
    #[cfg(feature = "sandbox")]
    _sandbox: Option<tollgate_sandbox::Sandbox>,
}

impl Globals {
    async fn new(matches: &ArgMatches) -> Result<Globals, CliError> {
        let config = Config::load(matches.get_one::<PathBuf>("config").map(PathBuf::as_path))?;
        #[cfg(feature = "sandbox")]
        let sandbox = if matches.get_flag("sandbox") {
            Some(start_sandbox().await?)
        } else {
            None
        };
        #[cfg(feature = "sandbox")]
        let sandbox_targets = sandbox.as_ref().map(sandbox_targets);
        #[cfg(not(feature = "sandbox"))]
        let sandbox_targets = None;
        let redis = matches
            .get_one::<String>("redis")
            .cloned()
            .or_else(|| config.redis.clone());
        let shared = match &redis {
            Some(url) => {
                let store = tollgate::RedisStore::connect(url).await.map_err(|e| {
                    CliError::Usage(format!(
                        "--redis {url}: {e} (check the URL, or leave --redis out to pace this process alone)"
                    ))
                })?;
                Some(tollgate::Shared::new(store).workers(config.workers.unwrap_or(1)))
            }
            None => None,
        };
        let journal = matches
            .get_one::<PathBuf>("journal")
            .cloned()
            .or_else(|| config.journal.clone())
            .or_else(Journal::default_path);
        let cache_path = matches
            .get_one::<PathBuf>("cache")
            .cloned()
            .or_else(|| config.cache.clone());
        // The embedded sandbox starts afresh each run: its answers are not kept unless a
        // cache file is named.
        let cache_path = match cache_path {
            Some(path) => Some(path),
            None if sandbox_targets.is_some() => None,
            None => journal.as_ref().map(|j| j.with_file_name("cache.sqlite3")),
        };
        // `usage` reads only the journal: an unreadable cache does not stop it.
        let reads_cache = matches.subcommand_name() != Some("usage");
        let cache_path = cache_path.filter(|_| reads_cache && !matches.get_flag("no-cache"));
        let cache = match &cache_path {
            Some(path) => Some(
                tollgate::cache::SqliteStore::open(path, CACHE_BYTES).map(tollgate::Cache::new)?,
            ),
            None => None,
        };
        let options = TargetOptions {
            base_url: matches.get_one::<String>("base-url").cloned(),
            max_cost: matches.get_one::<i64>("max-cost").copied(),
            budgets: matches
                .get_many::<config::BudgetSpec>("budget")
                .map(|specs| specs.cloned().collect())
                .unwrap_or_default(),
            dry_run: matches.get_flag("dry-run"),
            sandbox: sandbox_targets,
            shared,
            cache,
        };
        tracing::debug!(
            journal = ?journal,
            redis = redis.is_some(),
            sandbox = options.sandbox.is_some(),
            "settings read"
        );
        Ok(Globals {
            printer: Printer {
                json: matches.get_flag("json"),
            },
            quiet: matches.get_flag("quiet"),
            config,
            options,
            journal,
            cache: cache_path,
            #[cfg(feature = "sandbox")]
            _sandbox: sandbox,
        })
    }

    fn target(&self, provider: Provider) -> Result<Target, CliError> {
        Target::resolve(provider, &self.config, &self.options)
    }

    /// The journal when its file exists (nothing is created).
    fn existing_journal(&self) -> Result<Option<Journal>, CliError> {
        match &self.journal {
            Some(path) if path.exists() => Journal::open(path).map(Some),
            _ => Ok(None),
        }
    }

    pub(crate) fn journal(&self) -> Result<Journal, CliError> {
        let path = self.journal.clone().ok_or_else(|| {
            CliError::Usage("no data directory for the journal: give --journal FILE".into())
        })?;
        Journal::open(&path)
    }
}

async fn dispatch(matches: &ArgMatches) -> Result<u8, CliError> {
    let Some((name, sub)) = matches.subcommand() else {
        return Err(CliError::Usage(
            "a command is needed: see tollgate --help".into(),
        ));
    };
    let mut globals = Globals::new(matches).await?;
    let result = run_command(&mut globals, name, sub).await;
    // The answers fetched are written to the cache in the background: all of them, before
    // the process ends.
    if let Some(cache) = &globals.options.cache {
        cache.flush().await;
    }
    result
}

/// Runs the command `name`.
async fn run_command(globals: &mut Globals, name: &str, sub: &ArgMatches) -> Result<u8, CliError> {
    match name {
        #[cfg(feature = "sandbox")]
        "demo" => {
            demo::run(globals.printer.json).await?;
            Ok(exit::OK)
        }
        "usage" => usage::run(globals, sub).await,
        "cache" => cache_command(globals, sub).await,
        provider => {
            let provider: Provider = provider
                .parse()
                .map_err(|_| CliError::Usage(format!("unknown command `{provider}`")))?;
            let Some((op, op_matches)) = sub.subcommand() else {
                return Err(CliError::Usage(format!(
                    "`tollgate {}` needs an operation: see tollgate {} --help",
                    provider.name(),
                    provider.name()
                )));
            };
            #[cfg(feature = "sandbox")]
            if provider == Provider::RocketReach
                && op.contains("universal")
                && let Some(targets) = globals.options.sandbox.as_mut()
            {
                embedded::universal_key(targets);
            }
            let target = globals.target(provider)?;
            match bulk_kind(provider, op) {
                Some(kind) => bulk(globals, &target, kind, op_matches).await,
                None => operation(globals, &target, op, op_matches).await,
            }
        }
    }
}

/// Counts what the journal recorded in the current period of each of `target`'s renewing
/// budgets against it (a shared store already holds what every process spent).
pub(crate) async fn count_period_spending(
    runtime: &tollgate::Runtime,
    journal: &Journal,
    target: &Target,
) -> Result<(), CliError> {
    if target.shared.is_some() {
        return Ok(());
    }
    let mut periods: Vec<tollgate::Period> = target.budgets.iter().map(|b| b.period).collect();
    periods.sort();
    periods.dedup();
    let now = chrono::Utc::now().timestamp();
    for period in periods {
        let Some(start) = period.start(now) else {
            continue; // never renews: a job's earlier runs are carried over on their own
        };
        let Some(since) = chrono::DateTime::from_timestamp(start, 0) else {
            continue;
        };
        let days = (Some(since.format("%Y-%m-%d").to_string()), None);
        let spent = journal.spent_by_operation(target.provider.name(), &target.label, days)?;
        for (operation, spent) in spent {
            runtime.spent_earlier_in(period, &operation, spent).await;
        }
    }
    Ok(())
}

/// Runs one generated operation subcommand, then says what it cost and journals it.
async fn operation(
    globals: &Globals,
    target: &Target,
    op: &str,
    matches: &ArgMatches,
) -> Result<u8, CliError> {
    let provider = target.provider;
    // The journal is opened (and checked writable) before the call, so that a charge is
    // never paid without being journaled.
    let mut journal = if target.dry_run {
        None
    } else {
        Some(globals.journal()?)
    };
    let (result, entries) = per_provider!(provider, |g, C| {
        let client: C = target.client()?;
        if let Some(journal) = &journal {
            count_period_spending(client.runtime(), journal, target).await?;
        }
        let ledger = client.runtime().ledger_handle();
        let command = g::CliCommand::iter()
            .find(|c| command_name(c.operation_id()) == op)
            .ok_or_else(|| CliError::Usage(format!("unknown operation `{op}`")))?;
        let cli = g::Cli::new(client, globals.printer);
        let result = cli.execute(command, matches).await;
        (result, ledger.entries())
    });
    let unit = provider.profile().cost.unit;
    if !entries.is_empty() && !target.dry_run {
        let spent: i64 = entries
            .iter()
            .map(|e| e.charged.saturating_sub(e.refunded))
            .sum();
        // What answers served from the cache would have cost: journaled like a bulk job's
        // (`usage` counts them as cached, with what they saved).
        let saved: i64 = entries
            .iter()
            .filter(|e| e.basis == tollgate::Basis::Cached)
            .map(|e| e.saved)
            .fold(0, i64::saturating_add);
        let paid = entries.iter().any(|e| e.charged != 0 || e.refunded != 0);
        if paid || saved != 0 {
            if saved == 0 {
                eprintln!("cost: {spent} {unit}");
            } else {
                eprintln!("cost: {spent} {unit} ({saved} {unit} saved by the cache)");
            }
            if let Some(journal) = journal.as_mut() {
                journal.record_now(
                    Payer {
                        provider: provider.name(),
                        target: &target.label,
                        job: None,
                    },
                    &entries,
                )?;
            }
        }
    }
    match result {
        Ok(()) => Ok(exit::OK),
        Err(error) => match error.downcast::<tollgate::Error>() {
            Ok(tollgate::Error::DryRun {
                operation,
                max_cost,
                unit,
                cached,
            }) => {
                if cached {
                    outln!(
                        "dry run: {} is answered by the cache: it costs nothing; nothing was sent",
                        command_name(&operation)
                    );
                } else {
                    outln!(
                        "dry run: {} may cost up to {max_cost} {unit}; nothing was sent",
                        command_name(&operation)
                    );
                }
                match target.max_cost {
                    Some(limit) if max_cost > limit => {
                        eprintln!(
                            "tollgate: beyond the limit of {limit} {unit}: it would be refused"
                        );
                        Ok(exit::BUDGET)
                    }
                    _ => Ok(exit::OK),
                }
            }
            Ok(error) => Err(error.into()),
            Err(other) => Err(CliError::Usage(format!("{other:#}"))),
        },
    }
}

async fn bulk(
    globals: &Globals,
    target: &Target,
    kind: bulk::Kind,
    matches: &ArgMatches,
) -> Result<u8, CliError> {
    let args = bulk::JobArgs {
        kind,
        input: matches
            .get_one::<PathBuf>("file")
            .cloned()
            .ok_or_else(|| CliError::Usage("an input FILE is needed".into()))?,
        output: matches.get_one::<PathBuf>("output").cloned(),
        cache: globals.cache.clone(),
        format: matches
            .get_one::<String>("format")
            .map(|name| bulk::Format::from_name(name))
            .transpose()?,
        json: globals.printer.json,
        quiet: globals.quiet,
        batch_size: matches
            .try_get_one::<u32>("batch-size")
            .ok()
            .flatten()
            .map_or(1000, |n| usize::try_from(*n).unwrap_or(1000)),
        poll: match matches.try_get_one::<f64>("poll-seconds").ok().flatten() {
            Some(s) => Duration::try_from_secs_f64(*s).map_err(|_| {
                CliError::Usage(format!("--poll-seconds must be 0 or more seconds, got {s}"))
            })?,
            None => matches
                .try_get_one::<Duration>("poll-interval")
                .ok()
                .flatten()
                .copied()
                .unwrap_or(Duration::from_secs(5)),
        },
        resubmit_unknown: matches.get_flag("resubmit-unknown"),
        resubmit_lost: matches.get_flag("resubmit-lost"),
        wait: matches.get_flag("wait"),
        stop_at_forecast: matches.get_flag("stop-at-forecast"),
        deadline: matches
            .try_get_one::<Duration>("deadline")
            .ok()
            .flatten()
            .copied()
            .unwrap_or(Duration::from_secs(600)),
    };
    if target.dry_run {
        // A dry run writes nothing; it reads the journal when there is one (for what earlier
        // runs of the job settled).
        let mut existing = globals.existing_journal()?;
        return run_job(&args, target, &mut existing, bulk::Stop::default()).await;
    }
    let mut journal = Some(globals.journal()?);
    let stop = bulk::Stop::default();
    let on_signal = stop.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping after the call in flight (Ctrl-C again to force)...");
            on_signal.request();
            let _ = tokio::signal::ctrl_c().await;
            std::process::exit(i32::from(exit::SIGINT));
        }
    });
    let outcome = run_job(&args, target, &mut journal, stop).await;
    watcher.abort();
    outcome
}

async fn run_job(
    args: &bulk::JobArgs,
    target: &Target,
    journal: &mut Option<Journal>,
    stop: bulk::Stop,
) -> Result<u8, CliError> {
    let summary = match journal {
        Some(journal) => bulk::run(args, target, journal, stop).await?,
        None => {
            // A dry run journals nothing: an in-memory journal keeps the code path one.
            let mut scratch = Journal::open(std::path::Path::new(":memory:"))?;
            bulk::run(args, target, &mut scratch, stop).await?
        }
    };
    if args.json && args.output.is_some() {
        outln!(
            "{}",
            serde_json::to_string(&summary).unwrap_or_else(|_| "{}".into())
        );
    }
    Ok(exit::OK)
}

/// What a shared store holds for one provider's key.
#[derive(serde::Serialize)]
pub(crate) struct SharedUsage {
    provider: &'static str,
    fingerprint: String,
    totals: tollgate::shared::SharedTotals,
}

pub(crate) async fn shared_usage(globals: &Globals) -> Result<Vec<SharedUsage>, CliError> {
    let mut out = Vec::new();
    let Some(shared) = &globals.options.shared else {
        return Ok(out);
    };
    for provider in Provider::ALL {
        let Ok(target) = globals.target(provider) else {
            continue; // no key for this provider here
        };
        let scope = shared.scope(provider.profile().name, &target.key);
        let totals = shared
            .store()
            .totals(&scope)
            .await
            .map_err(|e| CliError::Provider(tollgate::Error::SharedStore(e)))?;
        out.push(SharedUsage {
            provider: provider.name(),
            fingerprint: scope.fingerprint,
            totals,
        });
    }
    Ok(out)
}

/// The most the CLI's cache file holds, in bytes of answers (the oldest go first beyond it).
const CACHE_BYTES: u64 = 1 << 30;

/// What one call does with the cache, from `--no-cache`, `--refresh` and `--max-age`.
fn cache_control(matches: &ArgMatches) -> tollgate::CacheControl {
    let mut control = if matches.get_flag("no-cache") {
        tollgate::CacheControl::bypass()
    } else if matches.get_flag("refresh") {
        tollgate::CacheControl::refresh()
    } else {
        tollgate::CacheControl::default()
    };
    control.max_age = matches.get_one::<Duration>("max-age").copied();
    control
}

/// `tollgate cache stats|purge`.
async fn cache_command(globals: &Globals, matches: &ArgMatches) -> Result<u8, CliError> {
    let Some(cache) = &globals.options.cache else {
        return Err(CliError::Usage(
            "no cache: --no-cache was given, or no data directory (give --cache FILE)".into(),
        ));
    };
    match matches.subcommand() {
        Some(("purge", purge)) => {
            let what = tollgate::cache::Purge {
                provider: purge.get_one::<String>("provider").cloned(),
                older_than: purge.get_one::<Duration>("older-than").copied(),
            };
            let gone = cache.purge(&what).await?;
            if globals.printer.json {
                outln!("{}", serde_json::json!({ "removed": gone }));
            } else {
                outln!(
                    "removed {gone} cached answer{}",
                    if gone == 1 { "" } else { "s" }
                );
            }
        }
        _ => {
            let stats = cache.stats().await?;
            if globals.printer.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&stats).unwrap_or_else(|_| "[]".into())
                );
                return Ok(exit::OK);
            }
            if stats.is_empty() {
                outln!("the cache is empty");
                return Ok(exit::OK);
            }
            let mut table = vec![
                [
                    "provider",
                    "entries",
                    "bytes",
                    "hits",
                    "misses",
                    "credits saved",
                    "rows saved",
                ]
                .map(str::to_owned)
                .to_vec(),
            ];
            for s in &stats {
                table.push(vec![
                    s.provider.clone(),
                    s.entries.to_string(),
                    s.bytes.to_string(),
                    s.hits.to_string(),
                    s.misses.to_string(),
                    s.credits_saved.to_string(),
                    s.rows_saved.to_string(),
                ]);
            }
            let mut out = String::new();
            output::text_table(&mut out, table, 0);
            out!("{out}");
        }
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        // clap's own checks: no two arguments of one command share a name, every default
        // parses, ...
        command().debug_assert();
    }

    #[test]
    fn every_generated_operation_is_a_subcommand_of_its_provider() {
        let root = command();
        for provider in Provider::ALL {
            let sub = root
                .find_subcommand(provider.name())
                .expect("a provider subcommand");
            for op in provider.profile().cost.rules.iter().map(|(op, _)| *op) {
                assert!(
                    sub.find_subcommand(command_name(op)).is_some(),
                    "{} {op}",
                    provider.name()
                );
            }
        }
    }
}
