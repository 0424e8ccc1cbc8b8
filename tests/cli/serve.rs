//! `serve` as started from the command line: the bound port and `--allow-host` reach the
//! `Host` check, a foreign Host gets 421 and is logged at warn level with its value.

use crate::util::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

/// Sends a GET for `path` with `Host: host` and returns the status code.
fn status_for(addr: &str, path: &str, host: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let code = answer.split(' ').nth(1).unwrap_or_default();
    code.parse()
        .unwrap_or_else(|_| panic!("no status line: {answer}"))
}

#[test]
fn serve_answers_loopback_and_allowed_hosts_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_audience-stream"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--now",
            "2025-12-01T00:00:00Z",
            "--allow-host",
            "Dash.Example.com",
        ])
        .env(
            "AUDIENCE_STREAM_STORE",
            format!("embedded:{}", dir.path().join("state").display()),
        )
        .env("AUDIENCE_STREAM_RULES", fixture("segments.yaml"))
        .env_remove("AUDIENCE_STREAM_LOG")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let addr = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            panic!("serve stopped before listening: {seen}");
        }
        seen.push_str(&line);
        if let Some(rest) = line.strip_prefix("dashboard on http://") {
            break rest.split('/').next().unwrap().to_string();
        }
    };
    let port = addr.rsplit(':').next().unwrap().to_string();

    let statuses = [
        ("/", format!("localhost:{port}")),
        ("/api/summary.json", addr.clone()),
        ("/api/summary.json", "dash.example.com".to_string()),
        ("/", "evil.example".to_string()),
        ("/api/segments.json", "evil.example".to_string()),
        ("/api/segments.json", "dash.example.com:8080".to_string()),
    ]
    .map(|(path, host)| (path, host.clone(), status_for(&addr, path, &host)));
    child.kill().unwrap();
    let _ = child.wait();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();

    let codes: Vec<u16> = statuses.iter().map(|(_, _, code)| *code).collect();
    assert_eq!(codes, [200, 200, 200, 421, 421, 421], "{statuses:?}");
    let listed = rest
        .lines()
        .find(|l| l.starts_with("answering Host: "))
        .unwrap_or_else(|| panic!("no list of names at start: {rest}"));
    assert!(listed.contains("dash.example.com,"), "{listed}");
    let warnings: Vec<&str> = rest.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(
        warnings
            .iter()
            .filter(|l| l.contains("\"evil.example\""))
            .count(),
        2,
        "{rest}"
    );
    assert!(
        warnings
            .iter()
            .any(|l| l.contains("\"dash.example.com:8080\"")),
        "{rest}"
    );
}
