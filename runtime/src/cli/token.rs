//! `taskbox token create|list|revoke`: API bearer tokens, stored only as
//! sha256 digests. A new token is printed once, on stdout.

use clap::{Subcommand, ValueEnum};
use std::process::ExitCode;

use super::{ConfigFileArgs, audited, exit, fail};
use crate::server::settings::Settings;
use crate::store::{AuditStore, TokenRole, TokenStore};

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token and print it (it is shown only this once).
    Create {
        /// A unique name, to list and revoke it by.
        #[arg(long)]
        name: String,
        /// admin: everything; viewer: read-only.
        #[arg(long, value_enum, default_value = "viewer")]
        role: RoleArg,
        #[command(flatten)]
        config: ConfigFileArgs,
    },
    /// List tokens (names, roles, creation times; never the tokens).
    List {
        #[command(flatten)]
        config: ConfigFileArgs,
    },
    /// Revoke a token by name (it stops working within 10 seconds).
    Revoke {
        name: String,
        #[command(flatten)]
        config: ConfigFileArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    Admin,
    Viewer,
}

/// The token store and the audit log of the configured database.
type Stores = (std::sync::Arc<dyn TokenStore>, std::sync::Arc<dyn AuditStore>);

async fn stores(config: &ConfigFileArgs) -> Result<Stores, ExitCode> {
    let settings = Settings::load(&config.config).map_err(fail)?;
    let opened = crate::store::open(&settings.database_url).await.map_err(fail)?;
    opened.configs().migrate().await.map_err(fail)?;
    Ok((opened.tokens(), opened.audit()))
}

pub(crate) async fn run(cmd: TokenCommand) -> ExitCode {
    match cmd {
        TokenCommand::Create { name, role, config } => {
            let name = name.trim().to_owned();
            if name.is_empty() || name.len() > 100 {
                return fail("--name must be 1 to 100 characters");
            }
            let (store, audit) = match stores(&config).await {
                Ok(stores) => stores,
                Err(code) => return code,
            };
            let role = match role {
                RoleArg::Admin => TokenRole::Admin,
                RoleArg::Viewer => TokenRole::Viewer,
            };
            let (token, hash) = crate::app::tokens::generate();
            match store.create_token(&name, role, &hash).await {
                Ok(_) => {
                    if let Err(code) = audited(
                        audit.as_ref(),
                        "token.create",
                        &format!("token:{name}"),
                        format!("created a {role} token"),
                    )
                    .await
                    {
                        return code;
                    }
                    println!("{token}");
                    eprintln!("taskbox: created {role} token {name:?}; it is shown only now");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        TokenCommand::List { config } => {
            let (store, _) = match stores(&config).await {
                Ok(stores) => stores,
                Err(code) => return code,
            };
            match store.list_tokens().await {
                Ok(tokens) => {
                    println!("{:<30} {:<8} CREATED", "NAME", "ROLE");
                    for t in tokens {
                        println!("{:<30} {:<8} {}", t.name, t.role, t.created_at.to_rfc3339());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        TokenCommand::Revoke { name, config } => {
            let (store, audit) = match stores(&config).await {
                Ok(stores) => stores,
                Err(code) => return code,
            };
            match store.revoke_token(&name).await {
                Ok(true) => {
                    if let Err(code) = audited(
                        audit.as_ref(),
                        "token.revoke",
                        &format!("token:{name}"),
                        "revoked the token".into(),
                    )
                    .await
                    {
                        return code;
                    }
                    eprintln!("taskbox: revoked token {name:?}");
                    ExitCode::SUCCESS
                }
                Ok(false) => {
                    eprintln!("taskbox: no token named {name:?}");
                    ExitCode::from(exit::FAILED)
                }
                Err(e) => fail(e),
            }
        }
    }
}
