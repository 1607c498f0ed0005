//! The `atomboot` command line: OSTree's verbs and flags, plus `env` and `admin`.

mod admin;
mod env;
mod repo;
mod repo_compat;
mod sign;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Atomic, verified OS updates for U-Boot boards.
#[derive(Debug, Parser)]
#[command(name = "atomboot", version, about)]
pub struct Cli {
    /// Path to the OSTree repository (before or after the verb). Default, as ostree: the current
    /// directory when it is a repository, else $OSTREE_REPO, else $OSTREE_SYSROOT/ostree/repo, else
    /// /ostree/repo.
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
        // As ostree: `init` never picks a default repository.
        Command::Repo(repo::RepoCommand::Init(_)) if cli.repo.is_none() => Err(anyhow::anyhow!(
            "Command requires a --repo argument (init creates the repository at --repo=PATH)"
        )),
        Command::Repo(cmd) => repo::run(&cli.repo.unwrap_or_else(repo_compat::default_repo), cmd),
        Command::Sign(cmd) => sign::run(&cli.repo.unwrap_or_else(repo_compat::default_repo), cmd),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("atomboot: error: {}", error_chain(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, `: `-separated, leaving out a cause whose text its error already ends with
/// (library errors such as the repository's name the OS error in their message and also keep it as
/// their source: printed once, not twice).
fn error_chain(err: &anyhow::Error) -> String {
    let mut msg = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !msg.ends_with(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}
