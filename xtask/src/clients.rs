//! The tools that check the API document serves typed clients:
//! openapi-spec-validator and openapi-python-client (PyPI, pinned),
//! installed into `target/openapi/venv` (cached there, as CI caches
//! `target/`). The suite's client test finds them there and fails, saying
//! how to install them, when they are missing.
//!
//! Owns that install only.

use std::path::Path;
use std::process::Command;

const VALIDATOR: &str = "openapi-spec-validator==0.9.0";
const GENERATOR: &str = "openapi-python-client==0.29.1";

/// Installs both tools unless they are there at their pinned versions.
pub fn install(root: &Path) -> Result<(), String> {
    let venv = root.join("target/openapi/venv");
    let listed = Command::new(venv.join("bin/pip")).args(["freeze"]).output();
    let listed = listed.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    for tool in [VALIDATOR, GENERATOR] {
        if !listed.lines().any(|l| l.trim().eq_ignore_ascii_case(tool)) {
            crate::pip_install(&venv, tool, "the typed-client test")?;
        }
    }
    Ok(())
}
