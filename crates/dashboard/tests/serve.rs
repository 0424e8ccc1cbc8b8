//! `serve`: the router on a free loopback port, each JSON endpoint fetched and checked
//! against the store, the page, and 404s for bad paths and unknown segments.

mod common;

use audience_dashboard::{router, LoadOptions, ServeState};
use audience_store::StateStore;
use common::NOW;
use serde_json::Value;
use std::sync::Arc;

async fn start() -> (String, Arc<dyn StateStore>) {
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
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
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
