//! Standard output that a closed reader stops quietly: `tollgate … | head` ends the way other
//! command-line tools do, without a panic or an error message, and the command still finishes
//! its own work (the cache of paid answers is written, the journal closed). Any other failure
//! to write (a full disk) is reported once, and the command exits 1.

use std::io::{ErrorKind, Write};
use std::sync::Mutex;

/// How writing to standard output failed, once it has: later output is dropped.
static FAILED: Mutex<Option<ErrorKind>> = Mutex::new(None);

/// Writes `bytes` to standard output, unless an earlier write failed.
pub(crate) fn write_bytes(bytes: &[u8]) {
    let Ok(mut failed) = FAILED.lock() else {
        return;
    };
    if failed.is_some() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        if e.kind() != ErrorKind::BrokenPipe {
            eprintln!("tollgate: standard output: {e}");
        }
        *failed = Some(e.kind());
    }
}

/// Writes formatted text to standard output (see [`write_bytes`]).
pub(crate) fn write_fmt(args: std::fmt::Arguments<'_>) {
    match args.as_str() {
        Some(text) => write_bytes(text.as_bytes()),
        None => write_bytes(args.to_string().as_bytes()),
    }
}

/// Whether writing to standard output failed for a reason other than its reader closing it
/// (which the command's exit code must then say).
pub(crate) fn failed() -> bool {
    FAILED
        .lock()
        .map(|f| f.is_some_and(|kind| kind != ErrorKind::BrokenPipe))
        .unwrap_or(false)
}

/// Standard output as a [`Write`], through [`write_bytes`]: for a buffered writer on top.
pub(crate) struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_bytes(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `print!` to standard output through [`write_fmt`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdout::write_fmt(format_args!($($arg)*))
    };
}

/// `println!` to standard output through [`write_fmt`].
macro_rules! outln {
    () => {
        $crate::stdout::write_bytes(b"\n")
    };
    ($($arg:tt)*) => {
        $crate::stdout::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}
