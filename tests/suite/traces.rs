//! OpenTelemetry traces: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a manual
//! run's spans reach an OTLP/HTTP receiver (this test's own, on loopback,
//! decoding the real protobuf) in one trace: the API request, the
//! enqueue, the run (on the worker's process, on the distributed
//! deployment) with the guest's log lines as events, and its record write.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;

/// A span as received: its name, ids, attributes and events, and the pid
/// of the process that sent it.
#[derive(Debug, Clone)]
struct Got {
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    attributes: Vec<(String, String)>,
    events: Vec<String>,
    pid: String,
}

impl Got {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes.iter().map(|kv| (kv.key.clone(), text(&kv.value))).collect()
}

/// Keeps the spans of one OTLP export.
fn keep(body: &[u8], kept: &Mutex<Vec<Got>>) {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
    let mut spans = kept.lock().unwrap();
    for resource in request.resource_spans {
        let pid = resource
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "process.pid"))
            .map(|kv| text(&kv.value))
            .unwrap_or_default();
        for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
            spans.push(Got {
                name: span.name.clone(),
                trace_id: span.trace_id.clone(),
                span_id: span.span_id.clone(),
                parent_span_id: span.parent_span_id.clone(),
                attributes: pairs(&span.attributes),
                events: span.events.iter().map(|e| e.name.clone()).collect(),
                pid: pid.clone(),
            });
        }
    }
}

/// Answers the HTTP/1.1 requests of one connection: each body (by its
/// `content-length`) is an export; every answer is an empty 200.
fn serve_connection(stream: std::net::TcpStream, kept: &Mutex<Vec<Got>>) -> std::io::Result<()> {
    use std::io::{BufRead, Read, Write};
    let mut reader = std::io::BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        keep(&body, kept);
        writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")?;
    }
}

/// An OTLP/HTTP trace receiver on loopback, on threads of its own.
fn receiver() -> (String, Arc<Mutex<Vec<Got>>>) {
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let kept = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let kept = kept.clone();
            std::thread::spawn(move || serve_connection(stream, &kept));
        }
    });
    (url, got)
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_runs_spans_make_one_trace_across_processes(d) {
    let (endpoint, got) = receiver();
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint), ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned())];
    let f = Fleet::start(&d, PluginDir::with(&["probe"]), 1, &env);
    let id = f.api.create_id(json!({"name": "traced", "task_type": "probe", "scheduler_type": "manual",
        "parameters": {"action": "log", "lines": 3}})).await;
    let execution = f.api.run(&id).await;
    f.api.record_of(&execution, Duration::from_secs(30)).await;

    let spans = |name: &str| -> Vec<Got> { got.lock().unwrap().iter().filter(|s| s.name == name).cloned().collect() };
    let exported = || {
        let run = spans("run probe").into_iter().find(|s| s.attribute("execution_id") == Some(execution.as_str()));
        run.is_some_and(|run| {
            let in_trace = |name: &str| spans(name).iter().any(|s| s.trace_id == run.trace_id);
            in_trace("POST /api/v1/configs/{id}/run") && in_trace("enqueue") && in_trace("record.write")
        })
    };
    let waited = std::time::Instant::now();
    while !exported() {
        let names: Vec<(String, String)> = got.lock().unwrap().iter().map(|s| (s.name.clone(), s.pid.clone())).collect();
        let log = f.api.log.lock().unwrap().join("\n");
        assert!(waited.elapsed() < Duration::from_secs(30), "the run's trace is not whole after 30 s: {names:?}\n{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run = spans("run probe").into_iter().find(|s| s.attribute("execution_id") == Some(execution.as_str())).unwrap();
    let request = spans("POST /api/v1/configs/{id}/run");
    let request = request.iter().find(|s| s.trace_id == run.trace_id).expect("the request's span is in the run's trace");
    let enqueue = spans("enqueue").into_iter().find(|s| s.trace_id == run.trace_id).expect("an enqueue span");
    assert_eq!(enqueue.parent_span_id, request.span_id, "the enqueue is the request's child");
    assert_eq!(run.parent_span_id, enqueue.span_id, "the run is the enqueue's child, through the queue");
    for (key, want) in [("task_type", "probe"), ("config_id", id.as_str()), ("attempt", "1"), ("is_success", "true")] {
        assert_eq!(run.attribute(key), Some(want), "{key}: {run:?}");
    }
    assert_eq!(run.attribute("digest").map(str::len), Some(64), "{run:?}");
    assert!(run.attribute("worker").is_some_and(|w| !w.is_empty()), "{run:?}");
    assert_eq!(run.events.iter().filter(|e| e.contains("line ")).count(), 3, "the guest's log lines: {run:?}");
    let write = spans("record.write").into_iter().find(|s| s.parent_span_id == run.span_id);
    assert!(write.is_some_and(|w| w.trace_id == run.trace_id), "the record write is the run's child");
    if d.kind.on_redis() {
        assert_ne!(run.pid, request.pid, "the run's span came from the worker's process");
        assert_eq!(run.pid, f.workers[0].child.id().to_string());
    }
}
}
