//! The `atomboot` command line: OSTree's verbs and flags, plus `env` and `admin`.

mod admin;
mod env;
mod repo;
mod sign;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Repository used when --repo is not given (the system repo, as OSTree).
pub const DEFAULT_REPO: &str = "/ostree/repo";

/// Atomic, verified OS updates for U-Boot boards.
#[derive(Debug, Parser)]
#[command(name = "atomboot", version, about)]
pub struct Cli {
    /// Path to the OSTree repository (before or after the verb).
    #[arg(long = "repo", global = true, value_name = "PATH")]
    repo: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// Every top-level verb. Each variant's handler lives in its own module.
#[derive(Debug, Subcommand)]
enum Command {
    /// Read and write the U-Boot environment described by fw_env.config (the boot counters).
    #[command(subcommand)]
    Env(env::EnvCommand),
    /// Deployments, boot files, the boot configuration and the boot counters (OSTree's admin verbs).
    Admin(Box<admin::AdminArgs>),
    /// OSTree's repository verbs (init, commit, log, checkout, ...).
    #[command(flatten)]
    Repo(repo::RepoCommand),
    /// ed25519 signing (sign, sign-keygen).
    #[command(flatten)]
    Sign(sign::SignCommand),
}

/// Parses the command line, runs the verb, and maps errors to a message on stderr and exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Env(cmd) => env::run(cmd),
        Command::Admin(args) => admin::run(*args),
        Command::Repo(cmd) => repo::run(
            cli.repo
                .as_deref()
                .unwrap_or(std::path::Path::new(DEFAULT_REPO)),
            cmd,
        ),
        Command::Sign(cmd) => sign::run(
            cli.repo
                .as_deref()
                .unwrap_or(std::path::Path::new(DEFAULT_REPO)),
            cmd,
        ),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("atomboot: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
