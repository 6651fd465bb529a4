//! Whether a recorded execution can be run again as it ran, and why not:
//! the one rule behind `POST /executions/{id}/replay` and `taskbox replay`.
//! A record replays when it names the digest of the code it ran and the
//! parameters it ran with, and that version is still kept.

use crate::store::ExecutionRecord;

/// The task type, digest and parameters of a record that can be replayed,
/// or why it cannot (in words that follow "cannot be replayed: ").
pub fn replayable(record: &ExecutionRecord) -> Result<(&str, &str, &serde_json::Value), String> {
    if record.workflow_execution_id.is_some() && record.step.is_none() {
        return Err(format!(
            "it is a workflow run: retry it from its failed steps (POST /workflow-runs/{}/retry) \
             or run its config again",
            record.execution_id
        ));
    }
    let digest =
        record.plugin_digest.as_deref().ok_or("it never reached a plugin (no digest was recorded)")?;
    let parameters =
        record.parameters.as_ref().ok_or("it was recorded before records kept their parameters")?;
    Ok((&record.task_type, digest, parameters))
}

/// Why a record whose version was deleted cannot be replayed.
pub fn not_kept(task_type: &str, digest: &str) -> String {
    format!("version {digest} of {task_type:?} is no longer kept")
}
