//! `/metrics` as Prometheus' own checker reads it, and the monitoring
//! files the book ships (a Grafana dashboard, alert rules) against it:
//! `promtool` from Debian's `prometheus` package.

use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::*;

const PROMTOOL: &str = "/usr/bin/promtool";

/// The book's monitoring files.
fn monitoring(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/src/operations").join(file)
}

/// Every `taskbox_…` name in `text`.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices("taskbox_") {
        let name: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        names.insert(name);
    }
    names
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_say_what_operators_alert_on(d) {
    let server = serve_plugins(&d, &["echo", "fail"], &[]);
    let ok = server.create_id(json!({"name": "ok", "task_type": "echo", "scheduler_type": "manual"})).await;
    let flaky = server.create_id(json!({"name": "flaky", "task_type": "fail", "scheduler_type": "manual",
        "max_retries": 1})).await;
    let stuck = server.create_id(json!({"name": "stuck", "task_type": "echo", "scheduler_type": "manual",
        "worker_group": "gpu"})).await;
    server.run_and_wait(&ok, Duration::from_secs(30)).await;
    server.run(&flaky).await;
    server.run(&stuck).await;
    eventually("the retry runs", Duration::from_secs(30), || async { server.records(&flaky).await.len() == 2 }).await;
    let text = server.client.get(server.root_url("/metrics")).send().await.unwrap().text().await.unwrap();

    let checked = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("promtool (Debian's prometheus package; `cargo xtask test` installs it)");
    let said = format!("{}{}", String::from_utf8_lossy(&checked.stdout), String::from_utf8_lossy(&checked.stderr));
    assert!(checked.status.success() && said.trim().is_empty(), "promtool check metrics: {said}\n{text}");

    for family in ["taskbox_runs_total", "taskbox_retries_total", "taskbox_workers_live", "taskbox_queue_oldest_seconds",
        "taskbox_runs_held_back", "taskbox_queue_depth", "taskbox_http_requests_total"] {
        assert!(text.contains(&format!("# HELP {family} ")), "{family} has no HELP:\n{text}");
    }
    assert!(text.contains("taskbox_retries_total{task_type=\"fail\"} 1"), "{text}");
    assert!(text.contains("taskbox_workers_live{group=\"default\"} 1"), "{text}");
    assert!(text.contains("taskbox_workers_live{group=\"gpu\"} 0"), "{text}");
    let oldest = text.lines().find(|l| l.starts_with("taskbox_queue_oldest_seconds{group=\"gpu\"}")).unwrap();
    assert!(oldest.rsplit(' ').next().unwrap().parse::<f64>().unwrap() > 0.0, "{oldest}");
    assert!(text.contains("taskbox_runs_held_back{reason=\"rate\"} 0"), "{text}");
}
}

#[test]
fn the_books_alert_rules_and_dashboard_name_only_exported_metrics() {
    let rules = monitoring("taskbox-alerts.yml");
    let checked = Command::new(PROMTOOL).args(["check", "rules"]).arg(&rules).output().expect("promtool");
    let said =
        String::from_utf8_lossy(&checked.stdout).into_owned() + &String::from_utf8_lossy(&checked.stderr);
    assert!(checked.status.success(), "promtool check rules: {said}");
    assert!(said.contains("SUCCESS"), "{said}");
    let dashboard = std::fs::read_to_string(monitoring("taskbox-grafana.json")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).expect("the Grafana dashboard is JSON");
    assert!(!parsed["panels"].as_array().unwrap().is_empty());
    // What the files query is what taskbox exports (its HELP list).
    let exported =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/api/metrics.rs"))
            .unwrap();
    let exported = names_in(&exported);
    let suffixes = ["_bucket", "_sum", "_count"];
    for text in [std::fs::read_to_string(&rules).unwrap(), dashboard] {
        for name in names_in(&text) {
            let family = suffixes.iter().find_map(|s| name.strip_suffix(s)).unwrap_or(&name).to_owned();
            assert!(exported.contains(&family), "{name} is not a metric taskbox exports");
        }
    }
}
