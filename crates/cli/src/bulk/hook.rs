//! The test hook `TOLLGATE_CLI_PAUSE_AT=<point>:<n>`: at the `n`-th time the job reaches
//! `point`, it says so on standard error and waits forever, so a test can kill it there with
//! SIGKILL. Points: `sending` (a batch's submit journaled, not yet sent), `submitted` (a batch accepted, not yet journaled), `accepted` (journaled),
//! `results` (a batch's results fetched, not yet journaled), `settled`, `item` (an item's call
//! answered, not yet journaled), `waiting` (lookups in progress about to be checked). Only debug builds read it: a release binary has no pause.

use std::time::Duration;

#[derive(Debug, Default)]
pub(super) struct PauseAt {
    point: Option<(String, u64)>,
    seen: std::collections::BTreeMap<&'static str, u64>,
}

impl PauseAt {
    /// The pause point of `TOLLGATE_CLI_PAUSE_AT`, in debug builds (the tests' builds); a
    /// release build (`cargo install`) never reads the variable.
    pub fn from_env() -> PauseAt {
        if !cfg!(debug_assertions) {
            return PauseAt::default();
        }
        let point = std::env::var("TOLLGATE_CLI_PAUSE_AT").ok().and_then(|v| {
            let (name, n) = v.split_once(':')?;
            Some((name.to_owned(), n.parse().ok()?))
        });
        PauseAt {
            point,
            seen: Default::default(),
        }
    }

    pub fn reach(&mut self, point: &'static str) {
        let count = self.seen.entry(point).or_default();
        *count += 1;
        if let Some((name, n)) = &self.point
            && name == point
            && *n == *count
        {
            eprintln!("tollgate: paused at {point}:{n}");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    }
}
