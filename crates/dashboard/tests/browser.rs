//! The page in a real browser: headless Chromium (Debian's package, installed by
//! `scripts/ensure-chromium.sh`) loads the rendered fixture page from a file, the DOM it
//! builds must hold every segment row and its numbers, and it takes a screenshot. Fails —
//! never skips — when no browser is installed.
//!
//! `DASHBOARD_SCREENSHOT=docs/dashboard.png` (relative to the repository root) also copies
//! the screenshot there.

mod common;

use audience_dashboard::format::int;
use audience_dashboard::{load, render_page, LoadOptions, PageOptions};
use audience_store::StateStore;
use common::NOW;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn find_browser() -> PathBuf {
    if let Ok(p) = std::env::var("AUDIENCE_STREAM_CHROMIUM") {
        return PathBuf::from(p);
    }
    let candidates = [
        "/usr/bin/chromium-headless-shell",
        "/usr/lib/chromium/chromium-headless-shell",
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
    ];
    candidates.iter().map(PathBuf::from).find(|p| p.exists()).unwrap_or_else(|| {
        panic!(
            "no headless Chromium found (looked at {candidates:?}, or set AUDIENCE_STREAM_CHROMIUM): \
             run `scripts/ensure-chromium.sh` (as root) to install Debian's chromium-headless-shell and fonts-noto-cjk"
        )
    })
}

async fn run_browser(browser: &Path, profile: &Path, extra: &[String]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{} did not finish within 120 s", browser.display()))
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e} (install it with scripts/ensure-chromium.sh)",
                browser.display()
            )
        });
    assert!(
        out.status.success(),
        "{} failed: {}\n{}",
        browser.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test]
async fn chromium_renders_the_fixture_page() {
    let browser = find_browser();
    let (store, _) = common::fixture_store().await;
    let counts = store.segment_counts().await.unwrap();
    let hyogo = counts["hyogo"].members;
    let rules = common::with_hyogo_alert(&store, hyogo).await;
    let d = load(&store, &rules, NOW, &LoadOptions::default())
        .await
        .unwrap();
    let html = render_page(&d, &PageOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("dashboard.html");
    std::fs::write(&page, &html).unwrap();
    let url = format!("file://{}", page.display());

    let out = run_browser(
        &browser,
        &dir.path().join("profile-dom"),
        &["--dump-dom".into(), url.clone()],
    )
    .await;
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("<table id=\"segments\">"),
        "the DOM holds the segment table:\n{}",
        &dom[..dom.len().min(2000)]
    );
    for seg in &rules.segments {
        let id = &seg.def.id;
        let members = counts.get(id).map_or(0, |c| c.members);
        let row_start = dom
            .find(&format!("<tr data-segment=\"{id}\">"))
            .unwrap_or_else(|| panic!("no row for {id}"));
        let row = &dom[row_start..row_start + dom[row_start..].find("</tr>").unwrap()];
        assert!(
            row.contains(&format!(
                "<td class=\"n big members\">{}</td>",
                int(members)
            )),
            "{id} shows {members}: {row}"
        );
    }
    assert!(dom.contains("兵庫県のユーザー"));
    assert!(dom.contains(&format!("{} store reads", d.store_reads)));
    assert!(dom.contains("<svg"), "charts are in the DOM");
    assert!(dom.contains("↻ rotate"), "the rotation is marked");
    let hyogo_row = {
        let start = dom.find("<tr data-segment=\"hyogo\">").unwrap();
        &dom[start..start + dom[start..].find("</tr>").unwrap()]
    };
    assert!(
        hyogo_row.contains(&format!(
            "<div class=\"sudden\" title=\"grew from {} to {hyogo} (+5",
            hyogo - 5
        )),
        "hyogo is marked with its sudden change: {hyogo_row}"
    );
    assert_eq!(
        dom.matches("class=\"sudden\"").count(),
        1,
        "only the flagged segment is marked"
    );
    assert!(
        dom.contains("hyogo: sudden change: grew from"),
        "and warned about"
    );

    let shot = dir.path().join("dashboard.png");
    run_browser(
        &browser,
        &dir.path().join("profile-shot"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000".into(),
            url,
        ],
    )
    .await;
    let png = std::fs::read(&shot).expect("the browser wrote a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        png.len() > 20_000,
        "a real page, not a blank one ({} bytes)",
        png.len()
    );
    if let Ok(dest) = std::env::var("DASHBOARD_SCREENSHOT") {
        let dest = common::repo_root().join(dest);
        std::fs::write(&dest, &png).unwrap();
        eprintln!("screenshot saved to {}", dest.display());
    }
}
