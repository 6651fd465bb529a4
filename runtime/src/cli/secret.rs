//! `taskbox secret set|list|delete`: secrets for plugins, in the database
//! the settings name, sealed under the settings' key (as `taskbox serve`
//! would). A value is read from stdin and never printed.

use clap::Subcommand;
use std::io::Read;
use std::process::ExitCode;

use super::{ConfigFileArgs, exit, fail};
use crate::doors::secrets::{MAX_VALUE_CHARS, Secrets, is_valid_name};
use crate::server::settings::Settings;

#[derive(Debug, Subcommand)]
pub(crate) enum SecretCommand {
    /// Create or replace a secret; its value is read from stdin (a final
    /// newline is dropped): `printf %s "$TOKEN" | taskbox secret set NAME`.
    Set {
        name: String,
        #[command(flatten)]
        config: ConfigFileArgs,
    },
    /// List secrets (names and times; never values).
    List {
        #[command(flatten)]
        config: ConfigFileArgs,
    },
    /// Delete a secret.
    Delete {
        name: String,
        #[command(flatten)]
        config: ConfigFileArgs,
    },
}

/// The secrets of the deployment the settings name.
pub(crate) async fn open(settings: &Settings) -> Result<Secrets, ExitCode> {
    let opened = crate::store::open(&settings.database_url).await.map_err(fail)?;
    opened.configs().migrate().await.map_err(fail)?;
    Secrets::open(opened.secrets(), settings.secret_key.as_deref(), &settings.secret_key_file)
        .await
        .map_err(fail)
}

async fn secrets(config: &ConfigFileArgs) -> Result<Secrets, ExitCode> {
    open(&Settings::load(&config.config).map_err(fail)?).await
}

/// Logs a secret change made here (its name, never its value).
async fn log_change(
    config: &ConfigFileArgs,
    action: &str,
    name: &str,
    summary: &str,
) -> Result<(), ExitCode> {
    let settings = Settings::load(&config.config).map_err(fail)?;
    let opened = crate::store::open(&settings.database_url).await.map_err(fail)?;
    super::audited(opened.audit().as_ref(), action, &format!("secret:{name}"), summary.into()).await
}

fn checked(name: &str) -> Result<(), ExitCode> {
    match is_valid_name(name) {
        true => Ok(()),
        false => Err(fail(format!("{name:?}: a secret name is like SLACK_WEBHOOK ([A-Za-z_][A-Za-z0-9_]*)"))),
    }
}

pub(crate) async fn run(cmd: SecretCommand) -> ExitCode {
    let done = match cmd {
        SecretCommand::Set { name, config } => set(name, config).await,
        SecretCommand::List { config } => list(config).await,
        SecretCommand::Delete { name, config } => delete(name, config).await,
    };
    done.unwrap_or_else(|code| code)
}

async fn set(name: String, config: ConfigFileArgs) -> Result<ExitCode, ExitCode> {
    checked(&name)?;
    let mut value = String::new();
    std::io::stdin()
        .read_to_string(&mut value)
        .map_err(|e| fail(format!("reading the value from stdin: {e}")))?;
    let value = value.strip_suffix('\n').map(|v| v.strip_suffix('\r').unwrap_or(v)).unwrap_or(&value);
    if value.is_empty() || value.chars().count() > MAX_VALUE_CHARS {
        return Err(fail(format!("the value (stdin) must be 1 to {MAX_VALUE_CHARS} characters")));
    }
    secrets(&config).await?.put(&name, value).await.map_err(fail)?;
    log_change(&config, "secret.set", &name, "stored the secret from the command line").await?;
    eprintln!("taskbox: stored secret {name:?}");
    Ok(ExitCode::SUCCESS)
}

async fn list(config: ConfigFileArgs) -> Result<ExitCode, ExitCode> {
    let list = secrets(&config).await?.list().await.map_err(fail)?;
    println!("{:<40} {:<32} UPDATED", "NAME", "CREATED");
    for s in list {
        println!("{:<40} {:<32} {}", s.name, s.created_at.to_rfc3339(), s.updated_at.to_rfc3339());
    }
    Ok(ExitCode::SUCCESS)
}

async fn delete(name: String, config: ConfigFileArgs) -> Result<ExitCode, ExitCode> {
    checked(&name)?;
    match secrets(&config).await?.delete(&name).await.map_err(fail)? {
        true => {
            log_change(&config, "secret.delete", &name, "deleted the secret from the command line").await?;
            eprintln!("taskbox: deleted secret {name:?}");
            Ok(ExitCode::SUCCESS)
        }
        false => {
            eprintln!("taskbox: no secret named {name:?}");
            Ok(ExitCode::from(exit::FAILED))
        }
    }
}
