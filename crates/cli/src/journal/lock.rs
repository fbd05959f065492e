//! One runner per job: a lock row in the journal (`runners`) naming the process that runs the
//! job (its pid, its host, when it started) with a heartbeat it renews every
//! [`HEARTBEAT`]. A second process that wants the same job waits for the lock (`--wait`) or
//! refuses at once, naming the holder; it never sends anything. A lock is taken over when its
//! holder is certainly gone: on the same host, when the process no longer exists (checked by
//! pid and start time, so a reused pid is not mistaken for it); anywhere, when its heartbeat is
//! older than [`STALE`].

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::CliError;

/// How often a runner renews its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// How old a heartbeat must be before another process may take the lock over (when it cannot
/// tell whether the holder's process still exists).
pub const STALE: Duration = Duration::from_secs(30);

/// The process that holds (or held) a job's lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// Its process id.
    pub pid: u32,
    /// Its host name.
    pub host: String,
    /// When it took the lock (RFC 3339, UTC).
    pub since: String,
    /// Its last heartbeat (milliseconds since the Unix epoch).
    pub heartbeat_ms: i64,
    /// Its identity on its host (pid and start time), which a reused pid does not share.
    pub token: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "process {} on {} (running it since {})",
            self.pid, self.host, self.since
        )
    }
}

/// The lock of one job, held while this value lives: its heartbeat thread renews it, and
/// dropping it releases it.
#[derive(Debug)]
pub struct RunnerLock {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
    job: String,
    token: String,
}

impl RunnerLock {
    /// Releases the lock now.
    pub fn release(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Ok(conn) = Connection::open(&self.path) {
            let _ = conn.busy_timeout(Duration::from_secs(5));
            let _ = conn.execute(
                "DELETE FROM runners WHERE job = ?1 AND token = ?2",
                params![self.job, self.token],
            );
        }
    }
}

impl Drop for RunnerLock {
    fn drop(&mut self) {
        self.finish();
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// This machine's host name (for the lock's message and the same-host check).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .or_else(|| std::env::var("COMPUTERNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// A process's start time as the kernel reports it (`/proc/<pid>/stat`, field 22), when this
/// system has `/proc`.
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19).map(str::to_owned)
}

fn own_token() -> String {
    let pid = std::process::id();
    match start_time(pid) {
        Some(start) => format!("{pid}:{start}"),
        None => format!("{pid}:{}", now_ms()),
    }
}

/// Whether the holder is certainly gone: its host is this one and its process (pid and start
/// time) no longer exists, or its heartbeat is older than [`STALE`].
fn is_gone(holder: &Holder, host: &str, now: i64) -> bool {
    let stale = i64::try_from(STALE.as_millis()).unwrap_or(i64::MAX);
    if now.saturating_sub(holder.heartbeat_ms) > stale {
        return true;
    }
    if holder.host != host || !Path::new("/proc/self/stat").exists() {
        return false;
    }
    match start_time(holder.pid) {
        None => true,
        Some(start) => holder.token != format!("{}:{start}", holder.pid),
    }
}

/// The outcome of one try to take a job's lock.
enum Try {
    Taken,
    Held(Holder),
}

fn try_take(conn: &mut Connection, job: &str, token: &str, host: &str) -> rusqlite::Result<Try> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let holder = tx
        .query_row(
            "SELECT pid, host, since, heartbeat, token FROM runners WHERE job = ?1",
            params![job],
            |r| {
                Ok(Holder {
                    pid: r.get(0)?,
                    host: r.get(1)?,
                    since: r.get(2)?,
                    heartbeat_ms: r.get(3)?,
                    token: r.get(4)?,
                })
            },
        )
        .optional()?;
    let now = now_ms();
    if let Some(holder) = holder
        && holder.token != token
        && !is_gone(&holder, host, now)
    {
        return Ok(Try::Held(holder));
    }
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    tx.execute(
        "INSERT OR REPLACE INTO runners (job, pid, host, since, heartbeat, token) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![job, std::process::id(), host, since, now, token],
    )?;
    tx.commit()?;
    Ok(Try::Taken)
}

/// Takes the lock of `job` in the journal at `path` (whose connection is `conn`). When another
/// live process holds it: with `wait`, waits for it (saying so once on standard error);
/// without, fails with [`CliError::Busy`] naming the holder.
pub fn acquire(
    conn: &mut Connection,
    path: &Path,
    job: &str,
    wait: bool,
) -> Result<RunnerLock, CliError> {
    let token = own_token();
    let host = host_name();
    let mut said = false;
    loop {
        let outcome = try_take(conn, job, &token, &host).map_err(|source| CliError::Journal {
            path: path.to_path_buf(),
            source,
        })?;
        match outcome {
            Try::Taken => break,
            Try::Held(holder) if wait => {
                if !said {
                    eprintln!("waiting for {holder}, which is running job {job}...");
                    said = true;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            Try::Held(holder) => {
                return Err(CliError::Busy(format!(
                    "job {job} is being run by {holder}; nothing was sent. Wait for it to end \
                     (or add --wait to wait here); a runner that died is taken over once its \
                     process is gone, or {}s after its last heartbeat",
                    STALE.as_secs()
                )));
            }
        }
    }
    let (stop, stopped) = mpsc::channel::<()>();
    let beat_path = path.to_path_buf();
    let beat_job = job.to_owned();
    let beat_token = token.clone();
    let thread = std::thread::Builder::new()
        .name("tollgate-heartbeat".into())
        .spawn(move || heartbeat(&beat_path, &beat_job, &beat_token, &stopped))
        .map_err(|e| CliError::io(path, e))?;
    Ok(RunnerLock {
        stop: Some(stop),
        thread: Some(thread),
        path: path.to_path_buf(),
        job: job.to_owned(),
        token,
    })
}

fn heartbeat(path: &Path, job: &str, token: &str, stopped: &mpsc::Receiver<()>) {
    let Ok(conn) = Connection::open(path) else {
        return;
    };
    let _ = conn.busy_timeout(Duration::from_secs(5));
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(HEARTBEAT) {
        let _ = conn.execute(
            "UPDATE runners SET heartbeat = ?3 WHERE job = ?1 AND token = ?2",
            params![job, token, now_ms()],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(heartbeat_ms: i64, host: &str, token: &str) -> Holder {
        Holder {
            pid: std::process::id(),
            host: host.into(),
            since: "2026-01-01T00:00:00Z".into(),
            heartbeat_ms,
            token: token.into(),
        }
    }

    #[test]
    fn a_holder_is_gone_when_its_heartbeat_is_stale_or_its_process_ended() {
        let now = now_ms();
        let host = host_name();
        // This very process, beating: alive.
        assert!(!is_gone(&holder(now, &host, &own_token()), &host, now));
        // Another host, beating: alive (its process cannot be checked from here).
        assert!(!is_gone(&holder(now, "elsewhere", "1:1"), &host, now));
        // Another host, silent for longer than STALE: gone.
        let old = now - i64::try_from(STALE.as_millis()).unwrap() - 1;
        assert!(is_gone(&holder(old, "elsewhere", "1:1"), &host, now));
        if Path::new("/proc/self/stat").exists() {
            // This host, a pid whose start time is not the holder's (a reused pid): gone.
            assert!(is_gone(
                &holder(now, &host, &format!("{}:0", std::process::id())),
                &host,
                now
            ));
        }
    }
}
