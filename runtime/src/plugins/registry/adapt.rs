//! WASI preview-1 modules as components: a core module that is a WASI
//! preview-1 command (exports `_start`, imports only
//! `wasi_snapshot_preview1`) — what Go (`GOOS=wasip1`), TinyGo, Zig, C with
//! wasi-sdk or `zig cc`, and Rust's `wasm32-wasip1` emit — is wrapped with
//! the preview-1 command adapter of the wasmtime release in use, which
//! turns its preview-1 calls into WASI 0.2 ones. The result is a plain
//! `wasi:cli/command` and runs as the command shape does.
//!
//! Owns recognising such a module, refusing any other core module with a
//! message that says what was found, and the adaptation itself; it never
//! compiles or caches (the loader does).

use wasmparser::{Parser, Payload};

/// The import module every preview-1 call comes from.
const PREVIEW1: &str = "wasi_snapshot_preview1";

/// What a loaded plugin file was made from when it was not a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdaptedFrom {
    /// A WASI preview-1 command module.
    WasiPreview1,
}

/// Why a core module cannot run.
#[derive(Debug, thiserror::Error)]
pub enum AdaptError {
    #[error(
        "a WebAssembly core module that imports {0}; taskbox runs core modules that import only \
         {PREVIEW1} (a WASI preview-1 command, such as wasm32-wasip1, GOOS=wasip1, TinyGo, Zig or \
         `zig cc --target=wasm32-wasi` output) and WebAssembly components"
    )]
    ForeignImport(String),
    #[error(
        "a WebAssembly core module that exports no `_start` (it exports {0}); taskbox runs a WASI \
         preview-1 module only as a command (a program with a main function), not as a library \
         (reactor)"
    )]
    NoStart(String),
    #[error("not a valid WebAssembly module: {0}")]
    Invalid(String),
    #[error("cannot adapt the WASI preview-1 module into a component: {0:#}")]
    Encode(anyhow::Error),
}

/// Is `bytes` a core module (rather than a component)?
pub fn is_core_module(bytes: &[u8]) -> bool {
    Parser::is_core_wasm(bytes)
}

/// The component made of the preview-1 command module `bytes`.
pub fn adapt(bytes: &[u8]) -> Result<Vec<u8>, AdaptError> {
    check(bytes)?;
    wit_component::ComponentEncoder::default()
        .module(bytes)
        .and_then(|encoder| {
            encoder.adapter(
                PREVIEW1,
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
            )
        })
        .and_then(|encoder| encoder.validate(true).encode())
        .map_err(AdaptError::Encode)
}

/// Refuses a module with another import or without `_start`.
fn check(bytes: &[u8]) -> Result<(), AdaptError> {
    let invalid = |e: wasmparser::BinaryReaderError| AdaptError::Invalid(e.message().to_owned());
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(invalid)? {
            Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    let import = import.map_err(invalid)?;
                    if import.module != PREVIEW1 {
                        return Err(AdaptError::ForeignImport(format!(
                            "{:?} from {:?}",
                            import.name, import.module
                        )));
                    }
                }
            }
            Payload::ExportSection(section) => {
                for export in section {
                    exports.push(export.map_err(invalid)?.name.to_owned());
                }
            }
            _ => {}
        }
    }
    if exports.iter().any(|name| name == "_start") {
        return Ok(());
    }
    let found = if exports.is_empty() { "nothing".to_owned() } else { exports.join(", ") };
    Err(AdaptError::NoStart(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(wat: &str) -> Vec<u8> {
        wat::parse_str(wat).expect("valid text")
    }

    #[test]
    fn a_command_becomes_a_component_and_others_are_refused_saying_why() {
        let command = module(
            r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
                 (memory (export "memory") 1) (func (export "_start")))"#,
        );
        assert!(is_core_module(&command));
        let component = adapt(&command).expect("adapted");
        assert!(Parser::is_component(&component));
        assert!(!is_core_module(&component));

        let foreign = module(
            r#"(module (import "env" "host_log" (func)) (memory (export "memory") 1) (func (export "_start")))"#,
        );
        let error = adapt(&foreign).unwrap_err().to_string();
        assert!(
            error.contains(r#""host_log" from "env""#) && error.contains("wasi_snapshot_preview1"),
            "{error}"
        );

        let reactor = module(r#"(module (memory (export "memory") 1) (func (export "_initialize")))"#);
        let error = adapt(&reactor).unwrap_err().to_string();
        assert!(error.contains("no `_start`") && error.contains("memory, _initialize"), "{error}");

        let error = adapt(b"\0asm\x01\0\0\0\x99").unwrap_err().to_string();
        assert!(error.starts_with("not a valid WebAssembly module"), "{error}");
    }
}
