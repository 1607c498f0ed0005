//! `atomboot env print` and `atomboot env set`.

use crate::fwenv::{Change, FwEnv, DEFAULT_CONFIG};
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Print variables (all, or the NAMEs given), like fw_printenv.
    Print {
        /// fw_env.config describing where the environment lives.
        #[arg(short = 'c', long = "config", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Print only the value (one NAME).
        #[arg(short = 'n', long = "no-header")]
        no_header: bool,
        /// Variables to print; all when none.
        names: Vec<String>,
    },
    /// Set or delete variables in ONE write: NAME=VALUE pairs and/or a script; NAME= deletes NAME.
    Set {
        /// fw_env.config describing where the environment lives.
        #[arg(short = 'c', long = "config", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// A file of NAME=VALUE lines ('#' comments, NAME= deletes), applied with the pairs in the same write.
        #[arg(short = 's', long = "script")]
        script: Option<PathBuf>,
        /// NAME=VALUE pairs.
        pairs: Vec<String>,
    },
}

pub fn run(cmd: EnvCommand) -> Result<ExitCode> {
    match cmd {
        EnvCommand::Print {
            config,
            no_header,
            names,
        } => print(&config, no_header, &names),
        EnvCommand::Set {
            config,
            script,
            pairs,
        } => set(&config, script.as_deref(), &pairs),
    }
}

fn print(config: &std::path::Path, no_header: bool, names: &[String]) -> Result<ExitCode> {
    if no_header && names.len() != 1 {
        bail!("-n needs exactly one variable name");
    }
    let env = FwEnv::open(config)?;
    let loaded = env.load()?;
    for warning in &loaded.warnings {
        eprintln!("atomboot: warning: {warning}");
    }
    let mut out = std::io::stdout().lock();
    let mut missing = false;
    if names.is_empty() {
        for (name, value) in &loaded.vars {
            out.write_all(name)?;
            out.write_all(b"=")?;
            out.write_all(value)?;
            out.write_all(b"\n")?;
        }
    }
    for name in names {
        match loaded.vars.get(name.as_bytes()) {
            Some(value) => {
                if !no_header {
                    write!(out, "{name}=")?;
                }
                out.write_all(value)?;
                out.write_all(b"\n")?;
            }
            None => {
                eprintln!(
                    "atomboot: variable {name:?} is not defined in the environment of {}",
                    config.display()
                );
                missing = true;
            }
        }
    }
    out.flush()?;
    Ok(if missing {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn set(
    config: &std::path::Path,
    script: Option<&std::path::Path>,
    pairs: &[String],
) -> Result<ExitCode> {
    let mut changes = Vec::new();
    if let Some(script) = script {
        let text = std::fs::read_to_string(script)
            .with_context(|| format!("cannot read script {}", script.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let change = Change::parse(line).with_context(|| {
                format!("{} line {}: expected NAME=VALUE", script.display(), n + 1)
            })?;
            changes.push(change);
        }
    }
    for pair in pairs {
        changes.push(
            Change::parse(pair).with_context(|| {
                format!("argument {pair:?}: expected NAME=VALUE (NAME= deletes)")
            })?,
        );
    }
    if changes.is_empty() {
        bail!("nothing to set: give NAME=VALUE pairs or -s SCRIPT");
    }
    let env = FwEnv::open(config)?;
    let report = env.apply(&changes)?;
    for warning in &report.warnings {
        eprintln!("atomboot: warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}
