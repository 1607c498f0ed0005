//! ed25519 signing verbs and flags, as ostree's: `sign COMMIT KEY... [--verify] [--delete] [-s ed25519]
//! [--keys-file]`, the `--sign`/`--sign-type` flags of `commit` and `summary`, `remote add --sign-verify`;
//! and `sign-keygen`, which ostree leaves to other tools.

use anyhow::{anyhow, bail, Context, Result};
use atomboot_repo::sign::{self, keys, ops, PublicKey, SecretKey};
use atomboot_repo::{Checksum, Repo};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The signing verbs, flattened into the top-level command enum.
#[derive(Debug, Subcommand)]
pub enum SignCommand {
    /// Sign a commit with secret keys, or check (--verify) or remove (--delete) its signatures with public
    /// keys.
    Sign(SignArgs),
    /// Make an ed25519 key pair: PREFIX.secret (base64 secret key, mode 0600; keep it on the build host)
    /// and PREFIX.pub (base64 public key, for verification-ed25519-key= / -file=).
    SignKeygen {
        /// Path prefix of the two files (refused if either exists).
        prefix: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// Check the signatures with the public KEY-IDs (and --keys-file) instead of signing.
    #[arg(long)]
    verify: bool,
    /// Delete the signatures made by any of the public KEY-IDs (and --keys-file).
    #[arg(short = 'd', long)]
    delete: bool,
    /// Signature type (only ed25519).
    #[arg(short = 's', long = "sign-type", default_value = sign::SIGN_TYPE)]
    sign_type: String,
    /// File of keys, one base64 key per line (secret keys to sign, public keys to verify or delete).
    #[arg(long = "keys-file")]
    keys_file: Option<PathBuf>,
    /// Commit (checksum or ref).
    commit: String,
    /// base64 keys: secret keys to sign, public keys with --verify or --delete.
    key_ids: Vec<String>,
}

/// Refuses every signature type but ed25519, with ostree's words.
pub fn check_type(t: Option<&str>) -> Result<()> {
    match t {
        None => Ok(()),
        Some(t) if t == sign::SIGN_TYPE => Ok(()),
        Some(t) => Err(sign::SignError::UnknownType(t.to_string()).into()),
    }
}

/// Secret keys given as `--sign=` values.
pub fn secret_keys(values: &[String], flag: &str) -> Result<Vec<SecretKey>> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| Ok(keys::secret_key(v, &format!("{flag} #{}", i + 1))?))
        .collect()
}

/// `remote add --sign-verify=ed25519=inline:KEY|file:PATH` (repeatable) and `--no-sign-verify`: the
/// options ostree writes (`verification-ed25519-key=` / `-file=`, `sign-verify=ed25519`).
pub fn remote_sign_options(
    specs: &[String],
    no_sign_verify: bool,
) -> Result<Vec<(String, String)>> {
    let mut opts = Vec::new();
    if no_sign_verify {
        if !specs.is_empty() {
            bail!("Cannot specify both --sign-verify and --no-sign-verify");
        }
        opts.push(("sign-verify".to_string(), "false".to_string()));
        return Ok(opts);
    }
    let mut types: Vec<&str> = Vec::new();
    for spec in specs {
        let (t, rest) = spec
            .split_once('=')
            .ok_or_else(|| anyhow!("Failed to parse KEYTYPE=[inline|file]:DATA in {spec}"))?;
        check_type(Some(t))?;
        let (how, data) = rest.split_once(':').ok_or_else(|| {
            anyhow!("--sign-verify={spec}: expected {t}=inline:BASE64-KEY or {t}=file:PATH")
        })?;
        let opt = match how {
            "inline" => {
                keys::public_key(data, &format!("--sign-verify={spec}"))?;
                format!("verification-{t}-key")
            }
            "file" => {
                keys::read_public_keys(Path::new(data))?;
                format!("verification-{t}-file")
            }
            _ => bail!("Invalid key reference {how}, expected inline|file"),
        };
        opts.push((opt, data.to_string()));
        if !types.contains(&t) {
            types.push(t);
        }
    }
    if !types.is_empty() {
        opts.push(("sign-verify".to_string(), types.join(",")));
    }
    Ok(opts)
}

fn public_keys(args: &SignArgs) -> Result<Vec<PublicKey>> {
    let mut out = Vec::new();
    for (i, k) in args.key_ids.iter().enumerate() {
        out.push(keys::public_key(k, &format!("KEY-ID #{}", i + 1))?);
    }
    if let Some(f) = &args.keys_file {
        out.extend(keys::read_public_keys(f)?);
    }
    Ok(out)
}

/// Runs a signing verb.
pub fn run(repo_path: &Path, cmd: SignCommand) -> Result<ExitCode> {
    let out = std::io::stdout();
    let mut out = out.lock();
    match cmd {
        SignCommand::Sign(args) => {
            check_type(Some(&args.sign_type))?;
            if args.verify && args.delete {
                bail!("sign: --verify and --delete exclude each other");
            }
            let repo = Repo::open(repo_path)?;
            let commit: Checksum = repo.resolve_rev(&args.commit)?;
            if args.verify || args.delete {
                let keys = public_keys(&args)?;
                if keys.is_empty() {
                    bail!("sign --verify/--delete needs public KEY-IDs or --keys-file");
                }
                if args.verify {
                    let k = ops::verify_commit(&repo.store, &commit, &keys)?;
                    writeln!(
                        out,
                        "ed25519: Signature verified successfully with key '{}'",
                        k.to_hex()
                    )?;
                } else {
                    let n = ops::delete_signatures(&repo.store, &commit, &keys)?;
                    writeln!(out, "Deleted {n} ed25519 signature(s) of commit {commit}")?;
                }
            } else {
                let mut keys = secret_keys(&args.key_ids, "KEY-ID")?;
                if let Some(f) = &args.keys_file {
                    keys.extend(keys::read_secret_keys(f)?);
                }
                if keys.is_empty() {
                    bail!("Need at least one KEY-ID to sign with (or --keys-file)");
                }
                ops::sign_commit(&repo.store, &commit, &keys)?;
            }
        }
        SignCommand::SignKeygen { prefix } => {
            let name = |ext: &str| {
                let mut p = prefix.clone().into_os_string();
                p.push(ext);
                PathBuf::from(p)
            };
            let (secret, public) = (name(".secret"), name(".pub"));
            let k = SecretKey::generate()?;
            write_new(
                &secret,
                format!("{}\n", k.to_base64().as_str()).as_bytes(),
                0o600,
            )?;
            write_new(
                &public,
                format!("{}\n", k.public().to_base64()).as_bytes(),
                0o644,
            )?;
            writeln!(out, "{}", k.public().to_base64())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates `path` with `mode` (never over an existing file), writes and fsyncs it.
fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
