//! Typed clients from the API document: `/openapi.json` is valid OpenAPI
//! (openapi-spec-validator), openapi-python-client generates a Python
//! client from it without a warning, and that client drives a real server:
//! it creates a config, runs it with a payload and an idempotency key, and
//! reads the record. The tools are pinned and installed into
//! `target/openapi/venv` by `cargo xtask toolchains` (and `test`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::app::{TOKEN, spawn_app};
use crate::support::deploy::{Deployment, Kind};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A tool of the virtualenv, which must be installed.
fn tool(name: &str) -> PathBuf {
    let path = root().join("target/openapi/venv/bin").join(name);
    assert!(path.is_file(), "{} is missing: run `cargo xtask toolchains`", path.display());
    path
}

fn checked(output: Output, what: &str) -> String {
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{what} failed:\n{text}");
    text
}

/// What the generated client does, as a user's program would.
const PROGRAM: &str = r#"
import sys, time
from taskbox_client import AuthenticatedClient
from taskbox_client.api.configs import create_config, run_config
from taskbox_client.api.executions import read_execution
from taskbox_client.models import NewConfig, RunBody, SchedulerType

base, token = sys.argv[1], sys.argv[2]
client = AuthenticatedClient(base_url=base, token=token)
created = create_config.sync(client=client, body=NewConfig(
    name="from-python", task_type="echo", scheduler_type=SchedulerType.MANUAL, parameters={"a": 1, "b": 2}))
assert created is not None and created.id, created
body = RunBody(parameters={"b": None, "image": 123})
first = run_config.sync_detailed(id=str(created.id), client=client, body=body, idempotency_key="resize-123")
again = run_config.sync_detailed(id=str(created.id), client=client, body=body, idempotency_key="resize-123")
assert first.status_code == 202 and again.status_code == 202, (first, again)
assert first.parsed.execution_id == again.parsed.execution_id
assert again.headers.get("idempotent-replayed") == "true"
for _ in range(200):
    record = read_execution.sync(id=str(first.parsed.execution_id), client=client)
    if record is not None and hasattr(record, "is_success"):
        break
    time.sleep(0.1)
else:
    raise SystemExit("no record")
assert record.is_success, record
assert record.parameters == {"a": 1, "image": 123}, record.parameters
print("ran", first.parsed.execution_id, record.result)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_python_client_drives_the_api() {
    let app = spawn_app(Deployment::new(Kind::Embedded).await).await;
    let dir = tempfile::tempdir().unwrap();
    let document = app.client.get(app.root_url("/openapi.json")).send().await.unwrap().text().await.unwrap();
    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, document).unwrap();

    let valid = Command::new(tool("openapi-spec-validator")).arg(&spec).output().unwrap();
    assert!(checked(valid, "openapi-spec-validator").contains("OK"));

    let generated = Command::new(tool("openapi-python-client"))
        .current_dir(dir.path())
        .args(["generate", "--meta", "none", "--path"])
        .arg(&spec)
        .arg("--config")
        .arg(root().join("sdk/openapi-python-client.yaml"))
        .output()
        .unwrap();
    let said = checked(generated, "openapi-python-client");
    assert!(!said.to_lowercase().contains("warning"), "the generator warned:\n{said}");

    let program = dir.path().join("program.py");
    std::fs::write(&program, PROGRAM).unwrap();
    let base = app.root_url("");
    let ran = tokio::task::spawn_blocking(move || {
        Command::new(tool("python")).arg(&program).args([base.as_str(), TOKEN]).output().unwrap()
    })
    .await
    .unwrap();
    let said = checked(ran, "the generated client");
    assert!(said.contains("ran "), "{said}");
}
