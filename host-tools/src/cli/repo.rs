//! OSTree's repository verbs, one function each: init, commit, log, show, rev-parse, ls, cat, refs,
//! checkout, fsck, summary, remote (add, show-url, list, delete, refs), static-delta (generate, list, show,
//! delete, apply-offline), pull, prune, pull-local, config (get, set), diff.

use anyhow::{anyhow, bail, Context, Result};
use atomboot_repo::graph::HistoryStep;
use atomboot_repo::objects::{S_IFLNK, S_IFMT};
use atomboot_repo::time::{format_utc, parse_timestamp};
use atomboot_repo::{
    content_checksum, CheckoutOptions, Checksum, Commit, CommitOptions, Mode, Node, Repo,
};
use clap::Subcommand;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The repository verbs, flattened into the top-level command enum.
#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Create a repository.
    Init(InitArgs),
    /// Commit a directory to a branch.
    Commit(CommitArgs),
    /// Show the history of a ref.
    Log(LogArgs),
    /// Show one commit.
    Show(ShowArgs),
    /// Print the commit a ref points to.
    RevParse(RevParseArgs),
    /// List a directory of a commit.
    Ls(LsArgs),
    /// Print a file of a commit.
    Cat(CatArgs),
    /// List refs, or delete the ones given.
    Refs(RefsArgs),
    /// Check a commit out to a directory.
    Checkout(CheckoutArgs),
    /// Verify every object reachable from the refs.
    Fsck(FsckArgs),
    /// Regenerate (-u) or print (--view, the default) the summary file.
    Summary(SummaryArgs),
    /// Manage remotes.
    #[command(subcommand)]
    Remote(RemoteCommand),
    /// Static deltas (OSTree's format): generate, list, show, delete, apply-offline.
    #[command(subcommand)]
    StaticDelta(StaticDeltaCommand),
    /// Pull refs from a remote: `pull REMOTE:REF` or `pull REMOTE REF...`.
    Pull(PullArgs),
    /// Delete objects no commit reaches (--refs-only: no ref reaches).
    Prune(PruneArgs),
    /// Copy refs and their objects from another local repository.
    PullLocal(PullLocalArgs),
    /// Read or change a key of the repository's config: `config get SECTION.KEY`, `config set
    /// SECTION.KEY VALUE`.
    #[command(subcommand)]
    Config(super::repo_compat::ConfigCommand),
    /// List the files that differ between two commits (one commit: against its parent).
    Diff(DiffArgs),
}

/// Arguments of `init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// archive (= archive-z2), bare-user or bare.
    #[arg(long, default_value = "bare")]
    pub mode: String,
}

/// Arguments of `commit`.
#[derive(Debug, clap::Args)]
pub struct CommitArgs {
    #[arg(short = 'b', long = "branch")]
    pub branch: Option<String>,
    #[arg(short = 's', long = "subject")]
    pub subject: Option<String>,
    #[arg(short = 'm', long = "body")]
    pub body: Option<String>,
    /// Parent commit (checksum or ref), or "none".
    #[arg(long)]
    pub parent: Option<String>,
    /// KEY=VALUE string metadata (repeatable).
    #[arg(long = "add-metadata-string")]
    pub metadata: Vec<String>,
    /// Commit time: YYYY-MM-DDTHH:MM:SSZ, 'YYYY-MM-DD HH:MM:SS UTC' or @SECONDS (default: now).
    #[arg(long)]
    pub timestamp: Option<String>,
    /// Commit without a branch (the checksum is printed, no ref changes).
    #[arg(long)]
    pub orphan: bool,
    /// Write nothing when the parent has the same tree (its checksum is printed).
    #[arg(long = "skip-if-unchanged")]
    pub skip_if_unchanged: bool,
    #[arg(long = "owner-uid")]
    pub owner_uid: Option<u32>,
    #[arg(long = "owner-gid")]
    pub owner_gid: Option<u32>,
    /// dir=PATH or ref=REV (one tree).
    #[arg(long)]
    pub tree: Vec<String>,
    /// Files that are hardlinks of this repository's objects (checkout -H/-U) are taken by their
    /// device and inode, not read.
    #[arg(long = "link-checkout-speedup")]
    pub link_checkout_speedup: bool,
    /// Sign the commit with this base64 ed25519 secret key (repeatable).
    #[arg(long = "sign", value_name = "KEY")]
    pub sign: Vec<String>,
    /// Signature type (only ed25519).
    #[arg(long = "sign-type")]
    pub sign_type: Option<String>,
    /// Directory to commit.
    pub dir: Option<PathBuf>,
}

/// Arguments of `log`.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    pub rev: String,
}

/// Arguments of `show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    pub rev: String,
    /// Print only this metadata key's value.
    #[arg(long = "print-metadata-key")]
    pub key: Option<String>,
}

/// Arguments of `rev-parse`.
#[derive(Debug, clap::Args)]
pub struct RevParseArgs {
    pub rev: String,
}

/// Arguments of `ls`.
#[derive(Debug, clap::Args)]
pub struct LsArgs {
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Only the directory itself, not its contents.
    #[arg(short = 'd', long = "dironly")]
    pub dironly: bool,
    #[arg(short = 'C', long)]
    pub checksum: bool,
    pub rev: String,
    pub paths: Vec<String>,
}

/// Arguments of `cat`.
#[derive(Debug, clap::Args)]
pub struct CatArgs {
    pub rev: String,
    pub path: String,
}

/// Arguments of `refs`.
#[derive(Debug, clap::Args)]
pub struct RefsArgs {
    #[arg(long)]
    pub delete: bool,
    /// Keep the prefix in the names listed.
    #[arg(long)]
    pub list: bool,
    pub refs: Vec<String>,
}

/// Arguments of `checkout`.
#[derive(Debug, clap::Args)]
pub struct CheckoutArgs {
    #[arg(short = 'U', long = "user-mode")]
    pub user_mode: bool,
    #[arg(short = 'H', long = "require-hardlinks")]
    pub hardlink: bool,
    #[arg(long)]
    pub union: bool,
    /// Check out only this path of the commit.
    #[arg(long)]
    pub subpath: Option<String>,
    /// Re-hash every object read; stop at the first that does not match its checksum.
    #[arg(long)]
    pub verify: bool,
    pub rev: String,
    pub dest: Option<PathBuf>,
}

/// Arguments of `fsck`.
#[derive(Debug, clap::Args)]
pub struct FsckArgs {
    /// Delete corrupted objects and mark their commits partial (a pull fetches them again).
    #[arg(long)]
    pub delete: bool,
}

/// Arguments of `summary`.
#[derive(Debug, clap::Args)]
pub struct SummaryArgs {
    #[arg(short = 'u', long = "update")]
    pub update: bool,
    #[arg(long)]
    pub view: bool,
    /// Accepted as ostree's -v (debug output); changes nothing.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Extra arguments: ignored, as ostree ignores them.
    #[arg(hide = true)]
    pub ignored: Vec<String>,
    /// With -u: sign the new summary with this base64 ed25519 secret key (repeatable), in summary.sig.
    #[arg(long = "sign", value_name = "KEY")]
    pub sign: Vec<String>,
    /// Signature type (only ed25519).
    #[arg(long = "sign-type")]
    pub sign_type: Option<String>,
}

/// Arguments of `pull`.
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// Also fetch N parents of each commit (-1: the whole history).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub depth: i64,
    /// Store the refs as local branches (refs/heads), as a mirror of the remote.
    #[arg(long)]
    pub mirror: bool,
    pub remote: String,
    pub refs: Vec<String>,
}

/// Arguments of `prune`.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    #[arg(long = "refs-only")]
    pub refs_only: bool,
    /// Also delete ancestors older than this date (YYYY-MM-DDTHH:MM:SSZ or @SECONDS); ref heads stay.
    #[arg(long = "keep-younger-than")]
    pub keep_younger_than: Option<String>,
}

/// Arguments of `pull-local`.
#[derive(Debug, clap::Args)]
pub struct PullLocalArgs {
    pub src: PathBuf,
    pub refs: Vec<String>,
}

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    pub rev_a: String,
    pub rev_b: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum StaticDeltaCommand {
    /// List static delta files.
    List,
    /// Dump information on a delta (FROM-TO or TO).
    Show { delta: String },
    /// Remove a delta.
    Delete { delta: String },
    /// Generate static delta files.
    Generate {
        /// Create delta from revision REV (default: TO's parent).
        #[arg(long)]
        from: Option<String>,
        /// Create delta to revision REV.
        #[arg(long)]
        to: Option<String>,
        /// Create delta from scratch.
        #[arg(long)]
        empty: bool,
        /// Inline delta parts into the superblock.
        #[arg(long)]
        inline: bool,
        /// Minimum uncompressed size in megabytes for an individual HTTP request (0: never).
        #[arg(long = "min-fallback-size", default_value_t = 4)]
        min_fallback_size: u64,
        /// Maximum size in megabytes to consider bsdiff compression for input files.
        #[arg(long = "max-bsdiff-size", default_value_t = 128)]
        max_bsdiff_size: u64,
        /// Maximum size of delta chunks in megabytes.
        #[arg(long = "max-chunk-size", default_value_t = 32)]
        max_chunk_size: u64,
        /// Disable use of bsdiff.
        #[arg(long = "disable-bsdiff")]
        disable_bsdiff: bool,
        /// TO revision (instead of --to).
        rev: Option<String>,
    },
    /// Apply a static delta directory (or superblock file) to the repository.
    ApplyOffline { path: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Add a remote: NAME URL [BRANCH...].
    Add {
        #[arg(long = "no-gpg-verify")]
        no_gpg_verify: bool,
        /// Do nothing when the remote exists.
        #[arg(long = "if-not-exists")]
        if_not_exists: bool,
        /// Verify ed25519 signatures of commits with KEYTYPE=inline:PUBKEY or KEYTYPE=file:PATH (repeatable).
        #[arg(long = "sign-verify", value_name = "KEYTYPE=[inline|file]:PUBKEY")]
        sign_verify: Vec<String>,
        /// Disable signature verification (sign-verify=false; implies --no-gpg-verify, as ostree).
        #[arg(long = "no-sign-verify")]
        no_sign_verify: bool,
        /// KEY=VALUE option (repeatable).
        #[arg(long = "set")]
        set: Vec<String>,
        name: String,
        url: String,
        /// Branches to pull by default (written as `branches=`).
        branches: Vec<String>,
    },
    /// Print a remote's URL.
    ShowUrl { name: String },
    /// List remote names.
    List {
        #[arg(short = 'u', long = "show-urls")]
        show_urls: bool,
    },
    /// Delete a remote.
    Delete { name: String },
    /// List the refs a remote offers (from its summary).
    Refs { name: String },
}

fn open(repo: &Path) -> Result<Repo> {
    Ok(Repo::open(repo)?)
}

pub fn run(repo_path: &Path, cmd: RepoCommand) -> Result<ExitCode> {
    let out = std::io::stdout();
    let mut out = out.lock();
    match cmd {
        RepoCommand::Init(a) => init(repo_path, a)?,
        RepoCommand::Commit(a) => commit(repo_path, a, &mut out)?,
        RepoCommand::Log(a) => log(repo_path, a, &mut out)?,
        RepoCommand::Show(a) => show(repo_path, a, &mut out)?,
        RepoCommand::RevParse(a) => rev_parse(repo_path, a, &mut out)?,
        RepoCommand::Ls(a) => ls(repo_path, a, &mut out)?,
        RepoCommand::Cat(a) => cat(repo_path, a, &mut out)?,
        RepoCommand::Refs(a) => refs(repo_path, a, &mut out)?,
        RepoCommand::Checkout(a) => checkout(repo_path, a)?,
        RepoCommand::Fsck(a) => fsck(repo_path, a, &mut out)?,
        RepoCommand::Summary(a) => summary(repo_path, a, &mut out)?,
        RepoCommand::StaticDelta(sd) => static_delta(repo_path, sd, &mut out)?,
        RepoCommand::Remote(rc) => remote(repo_path, rc, &mut out)?,
        RepoCommand::Pull(a) => pull(repo_path, a, &mut out)?,
        RepoCommand::Prune(a) => prune(repo_path, a, &mut out)?,
        RepoCommand::PullLocal(a) => pull_local(repo_path, a, &mut out)?,
        RepoCommand::Config(c) => super::repo_compat::config(repo_path, c, &mut out)?,
        RepoCommand::Diff(a) => diff(repo_path, a, &mut out)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `remote add|show-url|list|delete|refs`.
fn remote(repo_path: &Path, rc: RemoteCommand, out: &mut impl Write) -> Result<()> {
    let mut repo = open(repo_path)?;
    let remotes_d = super::repo_compat::remotes_d_for(repo_path);
    let remotes_d = remotes_d.as_deref();
    match rc {
        RemoteCommand::Add {
            no_gpg_verify,
            if_not_exists,
            sign_verify,
            no_sign_verify,
            set,
            name,
            url,
            branches,
        } => {
            if if_not_exists
                && atomboot_repo::remote::list_in(&repo.store, remotes_d)?
                    .iter()
                    .any(|r| r.name == name)
            {
                return Ok(());
            }
            let sign_opts = super::sign::remote_sign_options(&sign_verify, no_sign_verify)?;
            let mut opts = Vec::new();
            if !branches.is_empty() {
                opts.push((
                    "branches".to_string(),
                    branches.iter().map(|b| format!("{b};")).collect::<String>(),
                ));
            }
            for kv in set {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| anyhow!("--set={kv}: expected KEY=VALUE"))?;
                opts.push((k.to_string(), v.to_string()));
            }
            if no_gpg_verify || no_sign_verify {
                opts.push(("gpg-verify".into(), "false".into()));
            }
            opts.extend(sign_opts);
            atomboot_repo::remote::add(&mut repo.store, &name, &url, &opts)?;
        }
        RemoteCommand::ShowUrl { name } => {
            let r = atomboot_repo::remote::get_in(&repo.store, &name, remotes_d)?;
            writeln!(out, "{}", r.url)?;
        }
        RemoteCommand::List { show_urls } => {
            // As ostree: sorted by name, URLs in one column.
            let mut remotes = atomboot_repo::remote::list_in(&repo.store, remotes_d)?;
            remotes.sort_by(|a, b| a.name.cmp(&b.name));
            let width = remotes.iter().map(|r| r.name.len()).max().unwrap_or(0);
            for r in remotes {
                if show_urls {
                    writeln!(out, "{:<width$}  {}", r.name, r.url)?;
                } else {
                    writeln!(out, "{}", r.name)?;
                }
            }
        }
        RemoteCommand::Delete { name } => atomboot_repo::remote::delete(&mut repo.store, &name)?,
        RemoteCommand::Refs { name } => {
            let r = atomboot_repo::remote::get_in(&repo.store, &name, remotes_d)?;
            let refs = atomboot_repo::sign::ops::remote_summary_refs_of(&repo.store, &r)?;
            if refs.is_empty() {
                bail!("remote {name} ({}) has no summary listing refs", r.url);
            }
            for s in refs {
                writeln!(out, "{name}:{}", s.name)?;
            }
        }
    }
    Ok(())
}

/// `init`.
fn init(repo_path: &Path, args: InitArgs) -> Result<()> {
    let InitArgs { mode } = args;
    let m = Mode::parse(&mode).ok_or_else(|| {
        anyhow!("unknown mode {mode:?}: use archive, archive-z2, bare-user or bare")
    })?;
    Repo::init(repo_path, m)?;
    Ok(())
}

/// `commit`.
fn commit(repo_path: &Path, args: CommitArgs, out: &mut impl Write) -> Result<()> {
    let CommitArgs {
        branch,
        subject,
        body,
        parent,
        metadata,
        timestamp,
        orphan: _,
        skip_if_unchanged,
        owner_uid,
        owner_gid,
        tree,
        link_checkout_speedup,
        sign,
        sign_type,
        dir,
    } = args;
    super::sign::check_type(sign_type.as_deref())?;
    let sign_keys = super::sign::secret_keys(&sign, "--sign")?;
    let repo = open(repo_path)?;
    let trees = commit_trees(&repo, dir, &tree)?;
    let [tree] = trees.as_slice() else {
        bail!("commit needs exactly one tree (DIR, --tree=dir=DIR or --tree=ref=REV)");
    };
    let mut o = CommitOptions {
        branch,
        subject: subject.unwrap_or_default(),
        body: body.unwrap_or_default(),
        owner_uid,
        owner_gid,
        skip_if_unchanged,
        link_checkout_speedup,
        ..Default::default()
    };
    for kv in metadata {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("--add-metadata-string={kv}: expected KEY=VALUE"))?;
        o.metadata_strings.push((k.into(), v.into()));
    }
    match parent.as_deref() {
        Some("none") => o.no_parent = true,
        Some(p) => {
            o.parent = Some(
                repo.resolve_rev(p)
                    .with_context(|| format!("--parent={p}"))?,
            )
        }
        None => {}
    }
    o.timestamp = match timestamp {
        Some(t) => parse_timestamp(&t).ok_or_else(|| {
            anyhow!("--timestamp={t}: expected YYYY-MM-DDTHH:MM:SSZ, 'YYYY-MM-DD HH:MM:SS UTC' or @SECONDS")
        })?,
        None => commit_time(),
    };
    let c = match tree {
        CommitTree::Dir(dir) => repo.commit(dir, &o)?,
        CommitTree::Root(t, m) => atomboot_repo::commit::commit_tree(&repo.store, (*t, *m), &o)?,
    };
    if !sign_keys.is_empty() {
        atomboot_repo::sign::ops::sign_commit(&repo.store, &c, &sign_keys)
            .with_context(|| format!("commit {c} was written but not signed"))?;
    }
    writeln!(out, "{c}")?;
    Ok(())
}

/// `log`.
fn log(repo_path: &Path, args: LogArgs, out: &mut impl Write) -> Result<()> {
    let LogArgs { rev } = args;
    let repo = open(repo_path)?;
    let start = repo.resolve_rev(&rev)?;
    for step in atomboot_repo::graph::History::new(&repo.store, start, &rev) {
        match step? {
            HistoryStep::Commit(c, cm) => print_commit(&c, &cm, out)?,
            HistoryStep::NotFetched(_) => {
                writeln!(out, "<< History beyond this commit not fetched >>")?
            }
        }
    }
    Ok(())
}

/// `show`.
fn show(repo_path: &Path, args: ShowArgs, out: &mut impl Write) -> Result<()> {
    let ShowArgs { rev, key } = args;
    let repo = open(repo_path)?;
    let c = repo.resolve_rev(&rev)?;
    if let Some(k) = key {
        let cm = repo.read_commit(&c)?;
        let v = cm
            .metadata
            .iter()
            .find(|e| e.0 == k)
            .ok_or_else(|| anyhow!("commit {c} has no metadata key {k:?}"))?;
        match &v.2 {
            atomboot_repo::gvariant::Value::Str(s) => writeln!(out, "'{s}'")?,
            other => writeln!(out, "{other:?}")?,
        }
    } else {
        print_commit(&c, &repo.read_commit(&c)?, out)?;
    }
    Ok(())
}

/// `rev-parse`.
fn rev_parse(repo_path: &Path, args: RevParseArgs, out: &mut impl Write) -> Result<()> {
    let RevParseArgs { rev } = args;
    let repo = open(repo_path)?;
    writeln!(out, "{}", repo.resolve_rev(&rev)?)?;
    Ok(())
}

/// `ls`.
fn ls(repo_path: &Path, args: LsArgs, out: &mut impl Write) -> Result<()> {
    let LsArgs {
        recursive,
        dironly,
        checksum,
        rev,
        paths,
    } = args;
    let repo = open(repo_path)?;
    let c = repo.resolve_rev(&rev)?;
    let paths = if paths.is_empty() {
        vec!["/".to_string()]
    } else {
        paths
    };
    for p in paths {
        let abs = format!("/{}", p.trim_matches('/'));
        let node = repo.lookup_path(&c, &abs)?;
        ls_node(&repo, &node, &abs, checksum, out)?;
        if dironly {
            continue;
        }
        if let Node::Dir(t, _) = node {
            atomboot_repo::graph::walk_dirs(&repo.store, &t, &abs, recursive, &mut |p, n| {
                ls_node(&repo, n, p, checksum, out)
            })?;
        }
    }
    Ok(())
}

/// `cat`.
fn cat(repo_path: &Path, args: CatArgs, out: &mut impl Write) -> Result<()> {
    let CatArgs { rev, path } = args;
    let repo = open(repo_path)?;
    let c = repo.resolve_rev(&rev)?;
    out.write_all(&repo.read_file(&c, &path)?)?;
    Ok(())
}

/// `refs`.
fn refs(repo_path: &Path, args: RefsArgs, out: &mut impl Write) -> Result<()> {
    let RefsArgs { delete, list, refs } = args;
    let repo = open(repo_path)?;
    if delete {
        if refs.is_empty() {
            bail!("refs --delete needs at least one ref");
        }
        for r in &refs {
            repo.store.delete_ref(r)?;
        }
    } else {
        for name in super::repo_compat::list_refs(&repo, &refs, list)? {
            writeln!(out, "{name}")?;
        }
    }
    Ok(())
}

/// `checkout`.
fn checkout(repo_path: &Path, args: CheckoutArgs) -> Result<()> {
    let CheckoutArgs {
        user_mode,
        hardlink,
        union,
        subpath,
        verify,
        rev,
        dest,
    } = args;
    let repo = open(repo_path)?;
    let c = repo.resolve_rev(&rev)?;
    let dest = dest.unwrap_or_else(|| PathBuf::from(&rev));
    let o = CheckoutOptions {
        user_mode,
        hardlink,
        union,
        verify,
        ..Default::default()
    };
    match subpath.as_deref() {
        None | Some("/") => repo.checkout(&c, &dest, &o)?,
        Some(sub) => checkout_subpath(&repo, &c, sub, &dest, &o)?,
    }
    Ok(())
}

/// `fsck`.
fn fsck(repo_path: &Path, args: FsckArgs, out: &mut impl Write) -> Result<()> {
    let FsckArgs { delete } = args;
    let repo = open(repo_path)?;
    let rep = repo.fsck()?;
    for e in &rep.errors {
        eprintln!("error: {e}");
    }
    if delete && !rep.bad.is_empty() {
        super::repo_compat::fsck_delete(repo_path, &repo, &rep)?;
    }
    if !rep.errors.is_empty() {
        bail!(
            "fsck of {}: {} error(s) in {} objects of {} commits",
            repo_path.display(),
            rep.errors.len(),
            rep.objects,
            rep.commits
        );
    }
    writeln!(
        out,
        "object fsck of {} commits ({} objects) completed successfully - no errors found.",
        rep.commits, rep.objects
    )?;
    Ok(())
}

/// `summary`.
fn summary(repo_path: &Path, args: SummaryArgs, out: &mut impl Write) -> Result<()> {
    let SummaryArgs {
        update,
        view,
        sign,
        sign_type,
        ..
    } = args;
    super::sign::check_type(sign_type.as_deref())?;
    let sign_keys = super::sign::secret_keys(&sign, "--sign")?;
    let repo = open(repo_path)?;
    if !sign_keys.is_empty() && !update {
        bail!("summary --sign signs a new summary: add -u");
    }
    if update {
        atomboot_repo::summary::update(&repo.store, now())?;
        if !sign_keys.is_empty() {
            atomboot_repo::sign::ops::sign_summary(&repo.store, &sign_keys)?;
        }
    }
    if view || !update {
        let p = repo_path.join("summary");
        let b = std::fs::read(&p)
            .with_context(|| format!("{}: no summary (run summary -u)", p.display()))?;
        for r in atomboot_repo::summary::parse(&b)? {
            writeln!(out, "* {}", r.name)?;
            writeln!(out, "    Latest Commit ({} bytes):", r.commit_size)?;
            writeln!(out, "      {}", r.commit)?;
            if let Some(v) = r.version {
                writeln!(out, "    Version (ostree.commit.version): {v}")?;
            }
            if let Some(t) = r.timestamp {
                writeln!(
                    out,
                    "    Timestamp (ostree.commit.timestamp): {}",
                    format_utc(t)
                )?;
            }
            writeln!(out)?;
        }
    }
    Ok(())
}

/// `pull`.
fn pull(repo_path: &Path, args: PullArgs, out: &mut impl Write) -> Result<()> {
    let PullArgs {
        depth,
        mirror,
        remote,
        refs,
    } = args;
    let repo = open(repo_path)?;
    let (remote, refs) = match remote.split_once(':') {
        Some((r, first)) => {
            let mut v = vec![first.to_string()];
            v.extend(refs);
            (r.to_string(), v)
        }
        None => (remote, refs),
    };
    if refs.is_empty() {
        bail!("pull needs REMOTE:REF or REMOTE REF");
    }
    let remotes_d = super::repo_compat::remotes_d_for(repo_path);
    let r = atomboot_repo::remote::get_in(&repo.store, &remote, remotes_d.as_deref())?;
    let prefix = if mirror {
        String::new()
    } else {
        format!("{remote}:")
    };
    let st = atomboot_repo::sign::ops::pull_remote_of(&repo.store, &r, &refs, &prefix, depth)?;
    report_pull(&st, out)?;
    Ok(())
}

/// `prune`.
fn prune(repo_path: &Path, args: PruneArgs, out: &mut impl Write) -> Result<()> {
    let PruneArgs {
        refs_only,
        keep_younger_than,
    } = args;
    let repo = open(repo_path)?;
    let cutoff = match keep_younger_than {
        Some(t) => Some(parse_timestamp(&t).ok_or_else(|| {
            anyhow!("--keep-younger-than={t}: expected YYYY-MM-DDTHH:MM:SSZ or @SECONDS")
        })?),
        None => None,
    };
    // As ostree: --keep-younger-than implies --refs-only.
    let r = if refs_only || cutoff.is_some() {
        atomboot_repo::prune::prune_refs_only(&repo.store, cutoff)?
    } else {
        atomboot_repo::prune::prune_unreachable(&repo.store)?
    };
    writeln!(out, "Total objects: {}", r.total)?;
    if r.deleted == 0 {
        writeln!(out, "No unreachable objects")?;
    } else {
        writeln!(
            out,
            "Deleted {} objects, {} bytes freed",
            r.deleted, r.bytes_freed
        )?;
    }
    if r.tmp_freed > 0 {
        writeln!(
            out,
            "Reclaimed {} bytes of abandoned staging in tmp/",
            r.tmp_freed
        )?;
    }
    Ok(())
}

/// `pull-local`.
fn pull_local(repo_path: &Path, args: PullLocalArgs, out: &mut impl Write) -> Result<()> {
    let PullLocalArgs { src, refs } = args;
    let repo = open(repo_path)?;
    let s = atomboot_repo::store::Store::open(&src)?;
    let refs = if refs.is_empty() {
        s.list_refs()?
            .into_iter()
            .map(|r| r.0)
            .filter(|n| !n.contains(':'))
            .collect()
    } else {
        refs
    };
    let st = atomboot_repo::pull::pull(
        &repo.store,
        &atomboot_repo::pull::Source::Local(s),
        &refs,
        "",
    )?;
    report_pull(&st, out)?;
    Ok(())
}

/// `diff`.
fn diff(repo_path: &Path, args: DiffArgs, out: &mut impl Write) -> Result<()> {
    let DiffArgs { rev_a, rev_b } = args;
    super::repo_compat::diff(repo_path, &rev_a, rev_b.as_deref(), out)?;
    Ok(())
}

/// What `commit` commits: a directory, or the root of an existing commit (`--tree=ref=REV`).
enum CommitTree {
    Dir(PathBuf),
    Root(Checksum, Checksum),
}

fn commit_trees(repo: &Repo, dir: Option<PathBuf>, tree: &[String]) -> Result<Vec<CommitTree>> {
    let mut trees: Vec<CommitTree> = dir.into_iter().map(CommitTree::Dir).collect();
    for t in tree {
        match t.split_once('=') {
            Some(("dir", d)) => trees.push(CommitTree::Dir(PathBuf::from(d))),
            Some(("ref", r)) => {
                let c = repo.resolve_rev(r).with_context(|| format!("--tree={t}"))?;
                let cm = repo.read_commit(&c)?;
                trees.push(CommitTree::Root(cm.root_tree, cm.root_meta));
            }
            _ => bail!("--tree={t}: expected --tree=dir=PATH or --tree=ref=REV"),
        }
    }
    Ok(trees)
}

/// `checkout --subpath=PATH`: only that directory (or file) of the commit.
fn checkout_subpath(
    repo: &Repo,
    c: &Checksum,
    sub: &str,
    dest: &Path,
    o: &CheckoutOptions,
) -> Result<()> {
    match repo.lookup_path(c, sub)? {
        Node::Dir(t, m) => {
            atomboot_repo::checkout::checkout_tree(&repo.store, &t, &m, dest, o)?;
        }
        Node::File(_) => {
            let data = repo.read_file(c, sub)?;
            let (h, _, _) = match repo.lookup_path(c, sub)? {
                Node::File(f) => repo.store.open_content(&f)?,
                Node::Dir(..) => unreachable!(),
            };
            if h.is_symlink() {
                std::os::unix::fs::symlink(&h.symlink, dest)
                    .with_context(|| format!("cannot create {}", dest.display()))?;
            } else {
                use std::os::unix::fs::PermissionsExt;
                std::fs::write(dest, data)
                    .with_context(|| format!("cannot write {}", dest.display()))?;
                std::fs::set_permissions(dest, std::fs::Permissions::from_mode(h.mode & 0o7777))
                    .with_context(|| format!("cannot chmod {}", dest.display()))?;
            }
        }
    }
    Ok(())
}

/// A commit's default time: `$SOURCE_DATE_EPOCH` when set (reproducible builds, as ostree), else now.
fn commit_time() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(now)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn report_pull(st: &atomboot_repo::pull::PullStats, out: &mut impl Write) -> Result<()> {
    use std::sync::atomic::Ordering::Relaxed;
    writeln!(
        out,
        "{} metadata, {} content objects fetched; {} bytes transferred",
        st.meta_fetched.load(Relaxed),
        st.content_fetched.load(Relaxed),
        st.bytes.load(Relaxed)
    )?;
    Ok(())
}

fn print_commit(c: &Checksum, cm: &Commit, out: &mut impl Write) -> Result<()> {
    writeln!(out, "commit {c}")?;
    if let Some(p) = cm.parent {
        writeln!(out, "Parent:  {p}")?;
    }
    writeln!(out, "ContentChecksum:  {}", content_checksum(cm))?;
    writeln!(out, "Date:  {}", format_utc(cm.timestamp))?;
    if let Some(v) = cm.metadata_string("version") {
        writeln!(out, "Version: {v}")?;
    }
    writeln!(out)?;
    for l in cm.subject.lines() {
        writeln!(out, "    {l}")?;
    }
    writeln!(out)?;
    if !cm.body.is_empty() {
        for l in cm.body.lines() {
            writeln!(out, "    {l}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn ls_node(
    repo: &Repo,
    node: &Node,
    path: &str,
    checksum: bool,
    out: &mut impl Write,
) -> Result<()> {
    match node {
        Node::Dir(t, m) => {
            let dm = repo.read_dirmeta(m)?;
            write!(
                out,
                "d0{:04o} {} {} {:6} ",
                dm.mode & 0o7777,
                dm.uid,
                dm.gid,
                0
            )?;
            if checksum {
                write!(out, "{t} {m} ")?;
            }
            writeln!(out, "{path}")?;
        }
        Node::File(c) => {
            let (h, size, _) = repo.store.open_content(c)?;
            let link = h.mode & S_IFMT == S_IFLNK;
            let (ty, size) = if link { ('l', 0) } else { ('-', size) };
            write!(
                out,
                "{ty}0{:04o} {} {} {:6} ",
                h.mode & 0o7777,
                h.uid,
                h.gid,
                size
            )?;
            if checksum {
                write!(out, "{c} ")?;
            }
            if link {
                writeln!(out, "{path} -> {}", h.symlink)?;
            } else {
                writeln!(out, "{path}")?;
            }
        }
    }
    Ok(())
}

fn static_delta(repo_path: &Path, cmd: StaticDeltaCommand, out: &mut impl Write) -> Result<()> {
    use atomboot_repo::delta::{self, DeltaName};
    let repo = open(repo_path)?;
    match cmd {
        StaticDeltaCommand::List => {
            let names = delta::list(&repo.store)?;
            if names.is_empty() {
                writeln!(out, "(No static deltas)")?;
            }
            for n in names {
                writeln!(out, "{n}")?;
            }
        }
        StaticDeltaCommand::Show { delta } => {
            let name = DeltaName::parse(&delta)?;
            show_delta(&repo, &name, out)?;
        }
        StaticDeltaCommand::Delete { delta } => {
            delta::delete(&repo.store, &DeltaName::parse(&delta)?)?;
        }
        StaticDeltaCommand::Generate {
            from,
            to,
            empty,
            inline,
            min_fallback_size,
            max_bsdiff_size,
            max_chunk_size,
            disable_bsdiff,
            rev,
        } => {
            let to = to.or(rev).ok_or_else(|| {
                anyhow!("static-delta generate: TO revision must be specified (--to=REV)")
            })?;
            if empty && from.is_some() {
                bail!("static-delta generate: cannot specify both --empty and --from=REV");
            }
            let to_c = repo
                .resolve_rev(&to)
                .with_context(|| format!("--to={to}"))?;
            let from_c = if empty {
                None
            } else {
                let f = from.unwrap_or_else(|| format!("{to}^"));
                Some(
                    repo.resolve_rev(&f)
                        .with_context(|| format!("--from={f}"))?,
                )
            };
            writeln!(out, "Generating static delta:")?;
            writeln!(
                out,
                "  From: {}",
                from_c
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "empty".into())
            )?;
            writeln!(out, "  To:   {to_c}")?;
            let g = delta::generate(
                &repo.store,
                from_c,
                to_c,
                &delta::GenerateOptions {
                    inline,
                    min_fallback_size,
                    max_chunk_size,
                    max_bsdiff_size,
                    bsdiff: !disable_bsdiff,
                    timestamp: now(),
                },
            )?;
            writeln!(
                out,
                "parts={} fallback={} bsdiff={} total size={}",
                g.parts, g.fallbacks, g.bsdiffs, g.total_size
            )?;
        }
        StaticDeltaCommand::ApplyOffline { path } => {
            let c = delta::apply_offline(&repo.store, &path)
                .with_context(|| format!("static-delta apply-offline {}", path.display()))?;
            writeln!(out, "{c}")?;
        }
    }
    Ok(())
}

/// GLib's g_format_size: SI units, one decimal, a no-break space before the unit.
fn format_size(n: u64) -> String {
    if n < 1000 {
        return if n == 1 {
            "1 byte".into()
        } else {
            format!("{n} bytes")
        };
    }
    let mut v = n as f64 / 1000.0;
    for unit in ["kB", "MB", "GB", "TB"] {
        if v < 1000.0 {
            return format!("{v:.1}\u{a0}{unit}");
        }
        v /= 1000.0;
    }
    format!("{v:.1}\u{a0}PB")
}

/// `static-delta show`, in ostree's words.
fn show_delta(
    repo: &Repo,
    name: &atomboot_repo::delta::DeltaName,
    out: &mut impl Write,
) -> Result<()> {
    use atomboot_repo::delta::{self, apply, part, superblock::Endian};
    let (_, sb) = delta::read_superblock(&repo.store, name)?;
    writeln!(out, "Delta: {name}")?;
    writeln!(out, "Signed: no")?;
    match &sb.name.from {
        Some(f) => writeln!(out, "From: {f}")?,
        None => writeln!(out, "From <scratch>")?,
    }
    writeln!(out, "To: {}", sb.name.to)?;
    let e = if sb.endian == Endian::Big {
        "big"
    } else {
        "little"
    };
    let h = if sb.endian_guessed {
        " (heuristic)"
    } else {
        ""
    };
    writeln!(out, "Endianness: {e}{h}")?;
    writeln!(out, "Timestamp: {}", sb.timestamp)?;
    writeln!(out, "Number of parents: 0")?;
    writeln!(out, "Number of fallback entries: {}", sb.fallbacks.len())?;
    let (mut fs, mut fu) = (0u64, 0u64);
    for f in &sb.fallbacks {
        writeln!(out, "  {}", f.obj.checksum)?;
        fs += f.compressed_size;
        fu += f.uncompressed_size;
    }
    writeln!(out, "Total Fallback Size: {fs} ({})", format_size(fs))?;
    writeln!(
        out,
        "Total Fallback Uncompressed Size: {fu} ({})",
        format_size(fu)
    )?;
    writeln!(out, "Number of parts: {}", sb.parts.len())?;
    let (mut ps, mut pu) = (0u64, 0u64);
    for (i, h) in sb.parts.iter().enumerate() {
        writeln!(
            out,
            "PartMeta{i}: nobjects={} size={} usize={}",
            h.objects.len(),
            h.size,
            h.usize
        )?;
        ps += h.size;
        pu += h.usize;
        let what = format!("{name} part {i}");
        let bytes = match sb.inline_part(i) {
            Some(b) => b,
            None => {
                let p = repo.store.path.join(name.part_path(i));
                std::fs::read(&p).with_context(|| format!("{}", p.display()))?
            }
        };
        let payload = part::decode(&bytes, None, &what)?;
        writeln!(
            out,
            "PartPayload{i}: nmodes={} nxattrs={} blobsize={} opsize={}",
            payload.modes.len(),
            payload.xattrs.len(),
            payload.raw.len(),
            payload.ops.len()
        )?;
        let (_, n) = apply::plan(&h.objects, &payload)?;
        writeln!(
            out,
            "PartPayloadOps{i}: openspliceclose={} open={} write={} setread={} unsetread={} close={} bspatch={}",
            n.open_splice_close, n.open, n.write, n.set_read, n.unset_read, n.close, n.bspatch
        )?;
    }
    writeln!(out, "Total Part Size: {ps} ({})", format_size(ps))?;
    writeln!(
        out,
        "Total Part Uncompressed Size: {pu} ({})",
        format_size(pu)
    )?;
    writeln!(out, "Total Size: {} ({})", ps + fs, format_size(ps + fs))?;
    writeln!(
        out,
        "Total Uncompressed Size: {} ({})",
        pu + fu,
        format_size(pu + fu)
    )?;
    Ok(())
}
