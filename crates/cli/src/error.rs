//! What can stop a command, and the exit code each case gets.

use std::path::PathBuf;

/// Exit codes of the `tollgate` command (also listed in `tollgate --help`).
pub mod exit {
    /// The command did what was asked.
    pub const OK: u8 = 0;
    /// Something outside the provider failed: a file could not be written, the journal is
    /// unreadable.
    pub const FAILURE: u8 = 1;
    /// The command line, the config file, a key or an input file is wrong: nothing was sent.
    pub const USAGE: u8 = 2;
    /// The provider answered with an error, or could not be reached.
    pub const PROVIDER: u8 = 3;
    /// Refused before sending: the request may cost more than `--max-cost` or the budget.
    pub const BUDGET: u8 = 4;
    /// A bulk job stopped before its end (items whose outcome is unknown, or lost at the
    /// provider); run the same command again to resume.
    pub const INTERRUPTED: u8 = 5;
    /// Stopped by Ctrl-C (SIGINT), as shells expect (128 + 2); a bulk job resumes when the
    /// same command runs again.
    pub const SIGINT: u8 = 130;
    /// Another process is running the same bulk job: nothing was sent.
    pub const BUSY: u8 = 6;
    /// `usage --reconcile`: the providers' figures and the journal differ.
    pub const DIFFERENT: u8 = 7;

    /// The `--help` text that lists them.
    pub const HELP: &str = "\
Exit codes:
  0  done
  1  a local failure (a file, the journal)
  2  a usage error: the command line, the config file, a key or an input file (nothing was sent)
  3  the provider answered with an error or could not be reached
  4  refused before sending: beyond --max-cost or the configured budget
  5  a bulk job stopped before its end (items whose outcome is unknown, or items lost
     at the provider): run the same command again to resume
  6  another process is running the same bulk job (nothing was sent; --wait waits for it)
  7  usage --reconcile: the providers' account figures and the journal differ
  130  stopped by Ctrl-C: a bulk job resumes when the same command runs again";
}

/// Why a command stopped. Each variant maps to one exit code ([`CliError::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line, the config file, a key or an input file is wrong.
    #[error("{0}")]
    Usage(String),
    /// A call failed (the provider's error answer, transport, an answer that does not parse).
    #[error(transparent)]
    Provider(tollgate::Error),
    /// A call refused before sending because of its cost.
    #[error("{0}")]
    Budget(tollgate::Error),
    /// A bulk job refused to start: it is expected to cost more than the budget
    /// (`--stop-at-forecast`).
    #[error("{0}")]
    Forecast(String),
    /// A bulk job stopped before its end.
    #[error("{0}")]
    Interrupted(String),
    /// Stopped by Ctrl-C (the journal is consistent).
    #[error("{0}")]
    Stopped(String),
    /// The journal could not be read or written.
    #[error("journal {path}: {source}")]
    Journal {
        /// The journal's file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The journal file is damaged (or of another layout): nothing was sent.
    #[error(
        "journal {path} cannot be used: {detail}; nothing was sent. Keep it aside (`mv {path} {path}.damaged`, \
         then run again to start a fresh journal there) or give --journal NEW_FILE"
    )]
    CorruptJournal {
        /// The journal's file.
        path: PathBuf,
        /// What SQLite found.
        detail: String,
    },
    /// Another process is running the same bulk job.
    #[error("{0}")]
    Busy(String),
    /// The cache file cannot be used (exit 1): it names the file and what to do.
    #[error("{0}; or give --no-cache to send every call (and pay for it) without the cache")]
    Cache(#[from] tollgate::cache::CacheError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

impl CliError {
    /// The exit code of this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            CliError::Provider(_) => exit::PROVIDER,
            CliError::Budget(_) | CliError::Forecast(_) => exit::BUDGET,
            CliError::Interrupted(_) => exit::INTERRUPTED,
            CliError::Stopped(_) => exit::SIGINT,
            CliError::Busy(_) => exit::BUSY,
            CliError::Journal { .. }
            | CliError::CorruptJournal { .. }
            | CliError::Io { .. }
            | CliError::Cache(_) => exit::FAILURE,
        }
    }

    /// Whether this stops spending while the provider still answers: a budget's refusal, or
    /// the account out of credits. What was already paid for can still be collected (status
    /// checks and results are free).
    pub fn stops_spending(&self) -> bool {
        match self {
            CliError::Budget(_) => true,
            CliError::Provider(error) => error.kind() == Some(tollgate::ErrorKind::OutOfCredits),
            _ => false,
        }
    }

    /// An input file that cannot be read: a usage error (exit 2), nothing was sent.
    pub fn input(path: &std::path::Path, source: &std::io::Error) -> CliError {
        CliError::Usage(format!(
            "input file {}: {source}; nothing was sent",
            path.display()
        ))
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> CliError {
        CliError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<tollgate::Error> for CliError {
    fn from(error: tollgate::Error) -> Self {
        match error {
            tollgate::Error::CostRefused(_) | tollgate::Error::Cost(_) => CliError::Budget(error),
            tollgate::Error::Key(_)
            | tollgate::Error::InvalidBaseUrl { .. }
            | tollgate::Error::InvalidSetting(_)
            | tollgate::Error::InvalidRequest(_) => CliError::Usage(error.to_string()),
            other => CliError::Provider(other),
        }
    }
}
