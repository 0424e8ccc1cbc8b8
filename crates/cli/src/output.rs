//! Standard output for the commands. `outln!`/`out!` replace `println!`/`print!`: they return
//! an error instead of panicking when stdout cannot be written, and a reader that went away
//! (`audience-stream stats | head`) becomes the distinct [`StdoutClosed`] error, which `main`
//! turns into a quiet, successful exit. Only writes to stdout are marked this way: a broken
//! pipe on a socket (LINE, AWS) stays an ordinary error.

use std::fmt;
use std::io::{self, Write};

/// Writing to standard output failed because its reader has gone away (`EPIPE`).
#[derive(Debug)]
pub struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Turns an error from writing to stdout into the command's error: [`StdoutClosed`] for a
/// broken pipe, otherwise the I/O error with context.
pub fn stdout_error(e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        anyhow::Error::new(StdoutClosed)
    } else {
        anyhow::Error::new(e).context("cannot write to standard output")
    }
}

/// Whether `e` (anywhere in its chain) says stdout was closed by its reader.
pub fn is_stdout_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| cause.is::<StdoutClosed>())
}

/// Writes formatted text to stdout (what `print!` does, without the panic).
pub fn write(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    io::stdout().lock().write_fmt(args).map_err(stdout_error)
}

/// Writes formatted text and a newline to stdout (what `println!` does, without the panic).
pub fn write_line(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(stdout_error)
}

/// `print!` that returns `anyhow::Result<()>` (use with `?`).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*))
    };
}

/// `println!` that returns `anyhow::Result<()>` (use with `?`).
macro_rules! outln {
    () => {
        $crate::output::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::write_line(format_args!($($arg)*))
    };
}

pub(crate) use {out, outln};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_pipe_on_stdout_counts_as_closed() {
        let closed = stdout_error(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(is_stdout_closed(&closed));
        assert!(is_stdout_closed(&closed.context("printing the summary")));
        let full = stdout_error(io::Error::from(io::ErrorKind::StorageFull));
        assert!(!is_stdout_closed(&full));
        assert!(full.to_string().contains("standard output"));
        // A broken pipe elsewhere (a socket to LINE or AWS) is an ordinary error.
        let socket = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe))
            .context("POST https://api.line.me/");
        assert!(!is_stdout_closed(&socket));
    }
}
