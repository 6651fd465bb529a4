//! A workflow: a config whose run is a static graph of named steps, each an
//! ordinary plugin run. Owns the definition (what a config stores), the
//! rules a definition must keep ([`Workflow::check`]), the identity of
//! each step run (derived, so queueing a step again is harmless) and the
//! data flow: what params each step run is given ([`params_of`]).
//!
//! Never runs or queues anything: the conductor (`engine::workflow`) does.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use utoipa::ToSchema;
use uuid::Uuid;

use super::payload::merge_patch;

/// The most steps one workflow has.
pub const MAX_STEPS: usize = 100;
/// The most elements a `for_each` step runs over.
pub const MAX_FAN_OUT: usize = 1_000;
/// The longest step name.
pub const MAX_STEP_NAME: usize = 64;

/// The steps of a workflow config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// 1 to 100 steps; each runs once all its parents succeeded.
    #[schema(min_items = 1, max_items = 100)]
    pub steps: Vec<Step>,
}

/// One step: a run of a plugin, fed by its parents' results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique in the workflow: 1 to 64 letters, digits, `_` or `-`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]+$")]
    pub name: String,
    /// A loaded plugin's name (`GET /plugins`).
    #[schema(pattern = "^[a-z0-9_-]+$")]
    pub task_type: String,
    /// A JSON object: with no parents, the run's parameters are merged onto
    /// it; with parents, each parent's result is added under its name (not
    /// for a `for_each` step, whose runs are given the elements).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
    /// The steps whose success this one waits for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<String>,
    /// Run once per element of the (one) parent's result, a JSON array.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub for_each: bool,
    /// The deadline of each run of the step (default: the config's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.01, maximum = 604800)]
    pub timeout_seconds: Option<f64>,
    /// Retries of each run of the step (default: the config's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 100)]
    pub max_retries: Option<i32>,
}

/// Why a definition cannot be stored: the field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

/// Which step run a queued run is: of which workflow run, which step, and
/// which element of a `for_each` step.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StepOf {
    pub workflow_execution_id: Uuid,
    pub step: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

impl StepOf {
    /// The execution id of this step run: derived from the workflow run,
    /// the step and the element, so the same step run always has the same
    /// id (and queueing it twice is caught by its key).
    pub fn execution_id(&self) -> Uuid {
        let mut hash = Sha256::new();
        hash.update(self.workflow_execution_id.as_bytes());
        hash.update(self.step.as_bytes());
        hash.update(self.index.map_or(-1, i64::from).to_le_bytes());
        let digest = hash.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// The key that makes queueing this step run safe to repeat.
    pub fn once_key(&self) -> String {
        match self.index {
            Some(i) => format!("step:{}/{i}", self.step),
            None => format!("step:{}", self.step),
        }
    }
}

impl Workflow {
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// The steps that name `name` as a parent, in definition order.
    pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Step> + 'a {
        self.steps.iter().filter(move |s| s.parents.iter().any(|p| p == name))
    }

    /// The steps no other step waits for: their results are the run's.
    pub fn leaves(&self) -> Vec<&Step> {
        self.steps.iter().filter(|s| self.children(&s.name).next().is_none()).collect()
    }

    /// Every step that (transitively) waits for `name`.
    pub fn descendants(&self, name: &str) -> HashSet<String> {
        let mut found = HashSet::new();
        let mut todo = vec![name.to_owned()];
        while let Some(next) = todo.pop() {
            for child in self.children(&next) {
                if found.insert(child.name.clone()) {
                    todo.push(child.name.clone());
                }
            }
        }
        found
    }

    /// Checks the rules a stored definition keeps; `known` says whether a
    /// task type is loaded. The first broken rule is the answer, naming
    /// the step.
    pub fn check(&self, known: &dyn Fn(&str) -> bool) -> Result<(), Invalid> {
        let invalid = |i: usize, field: &str, message: String| Invalid {
            field: format!("workflow.steps[{i}]{field}"),
            message,
        };
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            return Err(Invalid {
                field: "workflow.steps".into(),
                message: format!("a workflow has 1 to {MAX_STEPS} steps, not {}", self.steps.len()),
            });
        }
        let mut names = HashSet::new();
        for (i, s) in self.steps.iter().enumerate() {
            let ok = (1..=MAX_STEP_NAME).contains(&s.name.len())
                && s.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                let why =
                    format!("{:?}: a step name is 1 to {MAX_STEP_NAME} letters, digits, _ or -", s.name);
                return Err(invalid(i, ".name", why));
            }
            if !names.insert(s.name.as_str()) {
                return Err(invalid(i, ".name", format!("two steps are named {:?}", s.name)));
            }
        }
        for (i, s) in self.steps.iter().enumerate() {
            let step = &s.name;
            if !known(&s.task_type) {
                return Err(invalid(
                    i,
                    ".task_type",
                    format!("step {step:?}: unknown task type {:?}", s.task_type),
                ));
            }
            let mut seen = HashSet::new();
            for p in &s.parents {
                if !names.contains(p.as_str()) {
                    return Err(invalid(i, ".parents", format!("step {step:?}: unknown parent {p:?}")));
                }
                if p == step || !seen.insert(p) {
                    return Err(invalid(
                        i,
                        ".parents",
                        format!("step {step:?}: parent {p:?} named twice or itself"),
                    ));
                }
            }
            if s.for_each && s.parents.len() != 1 {
                let why =
                    format!("step {step:?}: for_each needs exactly one parent, not {}", s.parents.len());
                return Err(invalid(i, ".for_each", why));
            }
            if s.for_each && s.parameters.is_some() {
                let why = format!(
                    "step {step:?}: a for_each step's runs are given the elements as they are; it takes no parameters"
                );
                return Err(invalid(i, ".parameters", why));
            }
            match &s.parameters {
                None => {}
                Some(serde_json::Value::Object(map)) => {
                    if let Some(p) = s.parents.iter().find(|p| map.contains_key(p.as_str())) {
                        let why = format!(
                            "step {step:?}: the key {p:?} is also a parent's name, whose result it would hide"
                        );
                        return Err(invalid(i, ".parameters", why));
                    }
                }
                Some(_) => {
                    return Err(invalid(i, ".parameters", format!("step {step:?}: must be a JSON object")));
                }
            }
        }
        if let Some(step) = self.cycle() {
            let i = self.steps.iter().position(|s| s.name == step).unwrap_or(0);
            return Err(invalid(i, ".parents", format!("step {step:?} is on a cycle: it waits for itself")));
        }
        Ok(())
    }

    /// A step on a cycle, if there is one (Kahn's algorithm: what is never
    /// freed of its parents).
    fn cycle(&self) -> Option<String> {
        let mut waiting: HashMap<&str, usize> =
            self.steps.iter().map(|s| (s.name.as_str(), s.parents.len())).collect();
        let mut ready: Vec<&str> = waiting.iter().filter(|(_, n)| **n == 0).map(|(s, _)| *s).collect();
        while let Some(done) = ready.pop() {
            for child in self.children(done) {
                let n = waiting.get_mut(child.name.as_str())?;
                *n -= 1;
                if *n == 0 {
                    ready.push(&child.name);
                }
            }
        }
        let on_cycle = self.steps.iter().find(|s| waiting.get(s.name.as_str()).is_some_and(|n| *n > 0));
        on_cycle.map(|s| s.name.clone())
    }
}

/// The params of a run of `step` (before any `for_each` split): with no
/// parents, its `parameters` with the run's merged onto them (RFC 7396);
/// with one parent and no `parameters`, that parent's result as it is (a
/// chain); else its `parameters` plus each parent's result under the
/// parent's name.
pub fn params_of(
    step: &Step,
    run_parameters: &serde_json::Value,
    results: &BTreeMap<String, serde_json::Value>,
) -> serde_json::Value {
    let result = |p: &String| results.get(p).cloned().unwrap_or(serde_json::Value::Null);
    match (step.parents.as_slice(), &step.parameters) {
        ([], own) => {
            let mut params = own.clone().unwrap_or_else(|| serde_json::json!({}));
            merge_patch(&mut params, run_parameters);
            params
        }
        ([parent], None) => result(parent),
        (parents, own) => {
            let mut params = match own {
                Some(serde_json::Value::Object(map)) => map.clone(),
                _ => serde_json::Map::new(),
            };
            for p in parents {
                params.insert(p.clone(), result(p));
            }
            serde_json::Value::Object(params)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wf(v: serde_json::Value) -> Workflow {
        serde_json::from_value(json!({ "steps": v })).unwrap()
    }

    fn check(w: &Workflow) -> Result<(), Invalid> {
        w.check(&|t| t != "nope")
    }

    #[test]
    fn each_broken_rule_is_refused_naming_its_step() {
        let cases = [
            (json!([]), "workflow.steps", "1 to 100"),
            (json!([{"name": "a", "task_type": "nope"}]), "workflow.steps[0].task_type", "unknown task type"),
            (
                json!([{"name": "a", "task_type": "echo", "parents": ["x"]}]),
                "workflow.steps[0].parents",
                "unknown parent \"x\"",
            ),
            (
                json!([{"name": "a", "task_type": "echo", "parents": ["b"]}, {"name": "b", "task_type": "echo", "parents": ["a"]}]),
                "workflow.steps[0].parents",
                "cycle",
            ),
            (
                json!([{"name": "a", "task_type": "echo"}, {"name": "a", "task_type": "echo"}]),
                "workflow.steps[1].name",
                "two steps",
            ),
            (
                json!([{"name": "a", "task_type": "echo", "for_each": true}]),
                "workflow.steps[0].for_each",
                "exactly one parent",
            ),
            (
                json!([{"name": "a", "task_type": "echo"}, {"name": "b", "task_type": "echo", "parents": ["a"], "parameters": {"a": 1}}]),
                "workflow.steps[1].parameters",
                "parent's name",
            ),
            (json!([{"name": "a b", "task_type": "echo"}]), "workflow.steps[0].name", "step name"),
        ];
        for (steps, field, words) in cases {
            let e = check(&wf(steps.clone())).expect_err(&steps.to_string());
            assert_eq!(e.field, field, "{steps}");
            assert!(e.message.contains(words), "{steps}: {}", e.message);
        }
        let many: Vec<_> = (0..101).map(|i| json!({"name": format!("s{i}"), "task_type": "echo"})).collect();
        assert!(check(&wf(json!(many))).unwrap_err().message.contains("not 101"));
    }

    #[test]
    fn data_flows_as_chain_join_and_root() {
        let w = wf(json!([
            {"name": "a", "task_type": "echo", "parameters": {"x": 1, "y": 1}},
            {"name": "b", "task_type": "wc", "parents": ["a"]},
            {"name": "c", "task_type": "echo", "parents": ["a", "b"], "parameters": {"k": true}},
        ]));
        check(&w).unwrap();
        let results = BTreeMap::from([("a".to_owned(), json!("out-a")), ("b".to_owned(), json!({"n": 2}))]);
        assert_eq!(params_of(&w.steps[0], &json!({"y": 2}), &results), json!({"x": 1, "y": 2}));
        assert_eq!(params_of(&w.steps[1], &json!({"y": 2}), &results), json!("out-a"));
        assert_eq!(
            params_of(&w.steps[2], &json!({}), &results),
            json!({"k": true, "a": "out-a", "b": {"n": 2}})
        );
        assert_eq!(w.leaves().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["c"]);
        assert_eq!(w.descendants("a"), HashSet::from(["b".to_owned(), "c".to_owned()]));
    }

    #[test]
    fn a_step_run_has_one_id_whoever_derives_it() {
        let wf = Uuid::new_v4();
        let of = |step: &str, index| StepOf { workflow_execution_id: wf, step: step.into(), index };
        assert_eq!(of("a", None).execution_id(), of("a", None).execution_id());
        assert_ne!(of("a", None).execution_id(), of("a", Some(0)).execution_id());
        assert_ne!(of("a", Some(0)).execution_id(), of("a", Some(1)).execution_id());
        assert_ne!(of("a", None).execution_id(), of("b", None).execution_id());
    }
}
