//! A closed stdout (`audience-stream … | head`) ends the command quietly: exit status 0 and
//! nothing on stderr, instead of a "failed printing to stdout" panic or an error message.

use crate::util::*;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_audience-stream"));
    cmd.args(args)
        .env(
            "AUDIENCE_STREAM_STORE",
            format!("embedded:{}", dir.join("state").display()),
        )
        .env("AUDIENCE_STREAM_RULES", fixture("segments.yaml"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn assert_quiet_success(args: &[&str], out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{args:?} wrote to stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn gen_into_a_reader_that_stops_early() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["gen", "--events", "5000"];
    // The output is far larger than any pipe buffer (at most 1 MiB on Linux), so the
    // generator is still writing when the reader goes away.
    let file = dir.path().join("all.jsonl");
    let full = run(
        dir.path(),
        &["gen", "--events", "5000", "--out", file.to_str().unwrap()],
    );
    assert!(full.status.success());
    assert!(std::fs::metadata(&file).unwrap().len() > 4 << 20);

    let mut child = command(dir.path(), &args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 4096];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(first[0], b'{', "JSON Lines");
    drop(stdout); // like `head -c 4096`
    let out = child.wait_with_output().unwrap();
    assert_quiet_success(&args, &out);
}

#[test]
fn printing_commands_into_a_closed_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let events = fixture("events.jsonl");
    let rules = fixture("segments.yaml");
    let commands: [&[&str]; 4] = [
        &["replay", &events],
        &["stats"],
        &["stats", "--json"],
        &["rules", "check", &rules],
    ];
    for args in commands {
        // Each command does print something when stdout is open (and `replay` fills the
        // store for `stats`).
        let open = run(dir.path(), args);
        assert!(open.status.success(), "{args:?}");
        assert!(!open.stdout.is_empty(), "{args:?}");

        // Its stdout is a socket whose other end is already closed, so the very first write
        // fails with EPIPE, as it does after `head` exits; no race with the reader.
        let (ours, theirs) = UnixStream::pair().unwrap();
        drop(ours);
        let out = command(dir.path(), args)
            .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .output()
            .unwrap();
        assert_quiet_success(args, &out);
    }
}
