//! `serve`: the router on a free loopback port, each JSON endpoint fetched and checked
//! against the store, the page, 404s for bad paths and unknown segments, and the `Host`
//! check (421 for names other than loopback, the bound address and `--allow-host` names).

mod common;

use audience_dashboard::{router, AllowedHosts, HostName, LoadOptions, ServeState};
use audience_store::StateStore;
use common::NOW;
use serde_json::Value;
use std::sync::Arc;

async fn start() -> (String, Arc<dyn StateStore>) {
    start_allowing(&[]).await
}

/// Serves the fixture store on 127.0.0.1, answering the default names and `extra`.
async fn start_allowing(extra: &[&str]) -> (String, Arc<dyn StateStore>) {
    let (store, rules) = common::fixture_store().await;
    let store: Arc<dyn StateStore> = Arc::new(store);
    let state = ServeState {
        store: store.clone(),
        rules: Arc::new(rules),
        refresh_secs: 30,
        now: Some(NOW),
        load: LoadOptions::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let allowed = extra
        .iter()
        .map(|n| n.parse::<HostName>().unwrap())
        .fold(AllowedHosts::for_listener(addr), AllowedHosts::allow);
    tokio::spawn(async move { axum::serve(listener, router(state, allowed)).await.unwrap() });
    (format!("http://{addr}"), store)
}

async fn get_json(base: &str, path: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{base}{path}")).await.unwrap();
    let status = r.status().as_u16();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{path}"
    );
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn json_api_and_page() {
    let (base, store) = start().await;
    let counts = store.segment_counts().await.unwrap();

    let (status, summary) = get_json(&base, "/api/summary.json").await;
    assert_eq!(status, 200);
    let s = &summary["summary"];
    assert_eq!(s["segments"], 6);
    assert_eq!(s["as_of"], "2025-12-01T00:00:00Z");
    let total: i64 = [
        "hyogo",
        "recent-buyers",
        "big-spenders",
        "dormant",
        "line-linked",
        "hyogo-line-buyers",
    ]
    .iter()
    .map(|id| counts.get(*id).map_or(0, |c| c.members))
    .sum();
    assert_eq!(s["total_members"], total);
    assert!(s["stream_lag_ms"].is_i64());
    let dests: Vec<&str> = s["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["destination"].as_str().unwrap())
        .collect();
    assert_eq!(dests, ["line", "pinpoint"]);
    assert!(
        summary["store_reads"].as_u64().unwrap() <= summary["store_reads_budget"].as_u64().unwrap()
    );
    assert_eq!(summary["store_reads_budget"], 9);

    let (status, segs) = get_json(&base, "/api/segments.json").await;
    assert_eq!(status, 200);
    let rows = segs["segments"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    for row in rows {
        let id = row["id"].as_str().unwrap();
        assert_eq!(
            row["members"],
            counts.get(id).map_or(0, |c| c.members),
            "{id}"
        );
        for k in ["change_1d", "change_7d", "change_30d"] {
            assert!(row[k]["absolute"].is_i64(), "{id} {k}");
        }
    }
    assert_eq!(rows[0]["id"], "hyogo");
    assert_eq!(rows[0]["destinations"][0]["target"], "1700000000002");

    for (by, max_points) in [("day", 90), ("week", 14), ("month", 4)] {
        let (status, h) =
            get_json(&base, &format!("/api/segments/hyogo/history.json?by={by}")).await;
        assert_eq!(status, 200, "{by}");
        assert_eq!(h["by"], by);
        let points = h["points"].as_array().unwrap();
        assert!(
            !points.is_empty() && points.len() <= max_points,
            "{by}: {}",
            points.len()
        );
        assert_eq!(points.last().unwrap()["size"], counts["hyogo"].members);
        let entered: u64 = points.iter().map(|p| p["entered"].as_u64().unwrap()).sum();
        assert!(entered > 0);
    }
    let (_, day) = get_json(&base, "/api/segments/hyogo/history.json").await;
    assert_eq!(
        day["points"].as_array().unwrap().len(),
        90,
        "day by default"
    );

    let (status, ledger) = get_json(&base, "/api/ledger.json").await;
    assert_eq!(status, 200);
    let rows = ledger["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 13);
    assert_eq!(rows[0]["action"], "add", "newest first");
    assert!(rows
        .iter()
        .any(|r| r["rotation"] == true && r["action"] == "rotate"));
    assert!(rows.iter().any(|r| r["status"] == "parked"));

    let (status, rec) = get_json(&base, "/api/reconciliation.json").await;
    assert_eq!(status, 200);
    assert!(rec["rows"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["segment"] == "hyogo" && r["difference"] == 0));

    // The fixture ledger has no LINE messages: an empty list, not an error.
    let (status, messages) = get_json(&base, "/api/messages.json").await;
    assert_eq!(status, 200);
    assert_eq!(messages["rows"], serde_json::json!([]), "{messages}");
    assert_eq!(messages["ledger_truncated"], false);

    let page = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<meta http-equiv="refresh" content="30">"#));
    assert!(html.contains(r#"href="?segment=recent-buyers""#));
    let page = reqwest::get(format!("{base}/?segment=recent-buyers"))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains(r#"Segment <span class="id">recent-buyers</span>"#));
}

#[tokio::test]
async fn bad_paths_and_unknown_segments_are_404() {
    let (base, _) = start().await;
    for path in [
        "/nope",
        "/api/segments/nope/history.json",
        "/api/segments/hyogo",
        "/api/../etc/passwd",
        "/api/segments/%FF/history.json",
    ] {
        let r = reqwest::get(format!("{base}{path}")).await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = reqwest::get(format!("{base}/?segment=%3Cscript%3E"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("&lt;script&gt;") && !body.contains("<script>"),
        "{body}"
    );
    let (status, body) = get_json(&base, "/api/segments/hyogo/history.json?by=year").await;
    assert_eq!(status, 400);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("day, week or month"));
    // The server still answers after all that.
    let (status, _) = get_json(&base, "/api/summary.json").await;
    assert_eq!(status, 200);
}

/// GET `path` from the server at `base` with the `Host` header set to `host`.
async fn get_with_host(base: &str, path: &str, host: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header(reqwest::header::HOST, host)
        .send()
        .await
        .unwrap()
}

async fn assert_refused(base: &str, path: &str, host: &str) {
    let r = get_with_host(base, path, host).await;
    assert_eq!(r.status(), 421, "Host {host} on {path}");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "Host {host} on {path}"
    );
    let body = r.text().await.unwrap();
    assert!(
        body.contains("does not serve the Host") && body.contains("--allow-host"),
        "{body}"
    );
    assert!(!body.contains("segments"), "no dashboard data: {body}");
}

#[tokio::test]
async fn loopback_hosts_are_answered() {
    let (base, _) = start().await;
    let port = base.rsplit(':').next().unwrap();
    for host in [
        format!("localhost:{port}"),
        "localhost".to_string(),
        "LocalHost".to_string(),
        format!("127.0.0.1:{port}"),
        "127.0.0.1".to_string(),
        format!("[::1]:{port}"),
        "[::1]".to_string(),
    ] {
        for path in ["/", "/api/summary.json"] {
            let r = get_with_host(&base, path, &host).await;
            assert_eq!(r.status(), 200, "Host {host} on {path}");
        }
    }
}

#[tokio::test]
async fn foreign_hosts_are_refused_on_the_page_and_the_api() {
    let (base, _) = start().await;
    let port = base.rsplit(':').next().unwrap();
    for path in [
        "/",
        "/index.html",
        "/api/summary.json",
        "/api/segments/hyogo/history.json",
        "/nope",
    ] {
        assert_refused(&base, path, "evil.example").await;
        assert_refused(&base, path, &format!("evil.example:{port}")).await;
    }
    // The right name on another port, and a look-alike of localhost.
    let other = port.parse::<u16>().unwrap().wrapping_add(1).max(1);
    for host in [
        format!("localhost:{other}"),
        format!("127.0.0.1:{other}"),
        "localhost.evil.example".to_string(),
    ] {
        assert_refused(&base, "/api/segments.json", &host).await;
    }
    // The check still lets the right name through afterwards.
    let r = get_with_host(&base, "/api/segments.json", &format!("localhost:{port}")).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn allowed_names_are_answered_with_their_port_only() {
    let (base, _) = start_allowing(&["dash.example.com", "proxy.example:8443"]).await;
    for host in ["dash.example.com", "DASH.example.com", "proxy.example:8443"] {
        for path in ["/", "/api/ledger.json"] {
            let r = get_with_host(&base, path, host).await;
            assert_eq!(r.status(), 200, "Host {host} on {path}");
        }
    }
    for host in [
        "dash.example.com:8080",
        "proxy.example:9443",
        "proxy.example",
        "evil.example",
    ] {
        assert_refused(&base, "/api/ledger.json", host).await;
    }
}

/// Sends `request` as raw bytes and returns the status line and the rest of the answer.
async fn raw_exchange(base: &str, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_missing_host_or_a_foreign_absolute_uri_is_refused() {
    let (base, _) = start().await;
    let port = base.rsplit(':').next().unwrap();
    let answer = raw_exchange(&base, "GET /api/summary.json HTTP/1.0\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.0 421"), "{answer}");
    assert!(answer.contains("names no Host"), "{answer}");
    // Absolute form: the URI's authority counts, whatever the Host header says.
    let answer = raw_exchange(
        &base,
        &format!("GET http://evil.example/api/summary.json HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 421"), "{answer}");
    // The same raw request with a good Host is answered (the refusals above are the check).
    let answer = raw_exchange(
        &base,
        &format!(
            "GET /api/summary.json HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
