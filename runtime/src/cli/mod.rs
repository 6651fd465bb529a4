//! The `taskbox` command line: argument parsing and dispatch. Each command
//! lives in its own file; this one only wires them up.

mod client;
mod plugin;
mod project;
mod replay;
mod run;
mod secret;
mod token;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::executor::{EngineSettings, Executor};
use crate::plugins::registry::{ArtifactCache, Loader};
use crate::server::settings::Settings;

#[derive(Debug, Parser)]
#[command(name = "taskbox", version, about = "Run WebAssembly tasks in a sandbox, on schedule.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one task once and print its outcome as JSON.
    Run(run::RunArgs),
    /// Run a recorded execution again, locally, with its exact plugin
    /// version, parameters, context and limits; say whether the outcome
    /// matches (exit 0), differs (1) or cannot be had (2).
    Replay(replay::ReplayArgs),
    /// Inspect plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Run the scheduler and workers (settings: TASKBOX_* variables over
    /// taskbox.toml; see the book, docs/src/reference/settings.md).
    Serve(ConfigFileArgs),
    /// Create or update the database schema, then exit.
    Migrate(ConfigFileArgs),
    /// Manage API bearer tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Manage secrets for plugins (values from stdin, never printed).
    #[command(subcommand)]
    Secret(secret::SecretCommand),
    /// Start a task project in Rust, Python or JavaScript.
    New(project::NewArgs),
    /// Build a task project into plugins/NAME.wasm with its language's toolchain.
    Build(project::BuildArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ConfigFileArgs {
    /// The settings file (optional; TASKBOX_* variables override it).
    #[arg(long, default_value = "taskbox.toml")]
    config: PathBuf,
}

/// Where plugins and compiled artifacts live (shared by the commands).
#[derive(Debug, Args)]
pub(crate) struct PluginDirArgs {
    /// The plugin directory.
    #[arg(long, env = "TASKBOX_PLUGIN_DIR", default_value = "./plugins")]
    pub plugin_dir: PathBuf,
    /// Where compiled plugins are cached (default: the user's cache directory).
    #[arg(long, env = "TASKBOX_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile every plugin afresh; neither read nor write the cache.
    #[arg(long)]
    pub no_cache: bool,
}

impl PluginDirArgs {
    /// A loader with this cache, granting host directories as this node's
    /// settings allow (`TASKBOX_ALLOWED_DIRS`, as `taskbox serve` would).
    pub(crate) fn loader(&self, executor: Executor) -> Loader {
        let dir =
            if self.no_cache { None } else { self.cache_dir.clone().or_else(ArtifactCache::default_dir) };
        let settings = Settings::load(std::path::Path::new("taskbox.toml")).unwrap_or_default();
        let policy = settings.dir_policy(dir.as_deref());
        Loader::new(executor, dir).with_dir_policy(policy)
    }
}

/// Exit codes shared by the commands.
pub(crate) mod exit {
    /// The task ran and failed (or a checked plugin is invalid).
    pub const FAILED: u8 = 1;
    /// The command could not do its job at all.
    pub const UNUSABLE: u8 = 2;
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Long-running commands say what they do; one-shot ones keep stderr quiet.
    // Flushes the traces still buffered when `main` returns.
    let _tracing =
        crate::support::trace::init(if matches!(cli.command, Command::Serve(_)) { "info" } else { "warn" });
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Replay(args) => replay::replay(args).await,
            Command::Plugin(cmd) => plugin::run(cmd).await,
            Command::Serve(args) => serve(args).await,
            Command::Migrate(args) => migrate(args).await,
            Command::Token(cmd) => token::run(cmd).await,
            Command::Secret(cmd) => secret::run(cmd).await,
            Command::New(args) => project::new(args),
            Command::Build(args) => project::build(args),
        }
    })
}

/// Builds the sandbox, or explains on stderr why it cannot. Outbound HTTPS
/// trusts `TASKBOX_OUTBOUND_CA_FILE` as `taskbox serve` does.
pub(crate) fn executor() -> Result<Executor, ExitCode> {
    let extra_ca_file =
        std::env::var_os("TASKBOX_OUTBOUND_CA_FILE").filter(|v| !v.is_empty()).map(Into::into);
    Executor::new(EngineSettings { extra_ca_file, ..Default::default() }).map_err(|e| fail(e.to_string()))
}

/// Appends a change the command line made on the database itself to the
/// audit log, as actor `cli` (a summary in words; never a secret).
pub(crate) async fn audited(
    audit: &dyn crate::store::AuditStore,
    action: &str,
    target: &str,
    summary: String,
) -> Result<(), ExitCode> {
    let event = crate::store::NewAuditEvent {
        actor: "cli".into(),
        action: action.into(),
        target: target.into(),
        summary,
    };
    audit.append_audit(&event).await.map_err(fail)
}

/// Prints a one-line reason on stderr and returns the "could not run" code.
pub(crate) fn fail(reason: impl std::fmt::Display) -> ExitCode {
    eprintln!("taskbox: {reason}");
    ExitCode::from(exit::UNUSABLE)
}

async fn serve(args: ConfigFileArgs) -> ExitCode {
    let settings = match Settings::load(&args.config) {
        Ok(settings) => settings,
        Err(e) => return fail(e),
    };
    match crate::server::serve::serve(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

async fn migrate(args: ConfigFileArgs) -> ExitCode {
    let settings = match Settings::load(&args.config) {
        Ok(settings) => settings,
        Err(e) => return fail(e),
    };
    let opened = match crate::store::open(&settings.database_url).await {
        Ok(opened) => opened,
        Err(e) => return fail(e),
    };
    if let Err(e) = opened.configs().migrate().await {
        return fail(e);
    }
    // The embedded deployment's local backend keeps its tables there too.
    match crate::backends::Plan::migrate(settings.redis().as_ref(), &opened).await {
        Ok(()) => {
            eprintln!("taskbox: the database schema is up to date");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
