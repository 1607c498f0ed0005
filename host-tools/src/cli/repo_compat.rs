//! The repository verbs and flags that scripts written for `ostree` use beyond the basics: `config
//! get|set`, `diff`, `refs` prefixes and `--list`, `fsck --delete`, the default `prune`, where the
//! repository is found (`--repo`, the current directory, `OSTREE_REPO`, the sysroot's), and remotes in
//! `/etc/ostree/remotes.d` for the system repository.

use anyhow::{anyhow, bail, Context, Result};
use atomboot_repo::store::write_atomic;
use atomboot_repo::{ObjectType, Repo};
use clap::Subcommand;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `config get|set`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the value of SECTION.KEY (`core.mode`, `remote "origin".url`).
    Get { key: String },
    /// Set SECTION.KEY to VALUE.
    Set { key: String, value: String },
}

/// The repository `ostree` would use without `--repo`: the current directory when it holds a
/// repository (`objects/` and `config`), else `$OSTREE_REPO`, else `$OSTREE_SYSROOT/ostree/repo`, else
/// `/ostree/repo`.
pub fn default_repo() -> PathBuf {
    if Path::new("objects").is_dir() && Path::new("config").is_file() {
        return PathBuf::from(".");
    }
    if let Some(r) = std::env::var_os("OSTREE_REPO").filter(|v| !v.is_empty()) {
        return PathBuf::from(r);
    }
    default_sysroot().join("ostree/repo")
}

/// `$OSTREE_SYSROOT`, else `/` (ostree's default sysroot).
pub fn default_sysroot() -> PathBuf {
    std::env::var_os("OSTREE_SYSROOT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Where a repository's remotes.d is: for the system repository (the same directory as
/// `$OSTREE_SYSROOT/ostree/repo`, or `/ostree/repo` / `/sysroot/ostree/repo` on a running system)
/// `SYSROOT/etc/ostree/remotes.d`; none for any other repository (its remotes are in its `config`).
pub fn remotes_d_for(repo: &Path) -> Option<PathBuf> {
    let me = std::fs::canonicalize(repo).ok()?;
    let sysroot = default_sysroot();
    let mut candidates = vec![sysroot.join("ostree/repo")];
    if sysroot == Path::new("/") {
        candidates.push(PathBuf::from("/sysroot/ostree/repo"));
    }
    candidates
        .iter()
        .any(|c| std::fs::canonicalize(c).ok().as_deref() == Some(me.as_path()))
        .then(|| sysroot.join("etc/ostree/remotes.d"))
}

/// `config get|set`. Keys are `SECTION.KEY`, the section being everything before the last dot.
pub fn config(repo_path: &Path, cmd: ConfigCommand, out: &mut impl Write) -> Result<()> {
    let repo = Repo::open(repo_path)?;
    let split = |key: &str| -> Result<(String, String)> {
        key.rsplit_once('.')
            .map(|(s, k)| (s.to_string(), k.to_string()))
            .filter(|(s, k)| !s.is_empty() && !k.is_empty())
            .ok_or_else(|| anyhow!("{key:?}: expected SECTION.KEY (for example core.mode)"))
    };
    match cmd {
        ConfigCommand::Get { key } => {
            let (section, k) = split(&key)?;
            let v = config_get(&repo.store.config, &section, &k).ok_or_else(|| {
                anyhow!(
                    "{}/config has no key {k:?} in group {section:?}",
                    repo_path.display()
                )
            })?;
            writeln!(out, "{v}")?;
        }
        ConfigCommand::Set { key, value } => {
            let (section, k) = split(&key)?;
            if value.contains('\n') || k.contains('=') || section.contains(']') {
                bail!("config set {key}: keys and values are single lines without '=' or ']' in the name");
            }
            let text = config_set(&repo.store.config, &section, &k, &value);
            write_atomic(&repo_path.join("config"), text.as_bytes())?;
        }
    }
    Ok(())
}

fn config_get(text: &str, section: &str, key: &str) -> Option<String> {
    let mut in_section = false;
    for line in text.lines() {
        let l = line.trim();
        if let Some(name) = l.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = name == section;
        } else if in_section {
            if let Some((k, v)) = l.split_once('=') {
                if k.trim() == key {
                    return Some(v.trim().to_string());
                }
            }
        }
    }
    None
}

/// The config text with `key=value` in `[section]`: replaced in place, appended to the section, or in
/// a new section at the end.
fn config_set(text: &str, section: &str, key: &str, value: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut in_section = false;
    let mut section_end = None;
    for (i, line) in lines.iter_mut().enumerate() {
        let l = line.trim();
        if let Some(name) = l.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = name == section;
            if in_section {
                section_end = Some(i + 1);
            }
        } else if in_section {
            if let Some((k, _)) = l.split_once('=') {
                if k.trim() == key {
                    *line = format!("{key}={value}");
                    return lines.join("\n") + "\n";
                }
            }
            if !l.is_empty() {
                section_end = Some(i + 1);
            }
        }
    }
    match section_end {
        Some(i) => lines.insert(i, format!("{key}={value}")),
        None => {
            if lines.last().is_some_and(|l| !l.trim().is_empty()) {
                lines.push(String::new());
            }
            lines.push(format!("[{section}]"));
            lines.push(format!("{key}={value}"));
        }
    }
    lines.join("\n") + "\n"
}

/// `diff REV_A [REV_B]`: one rev compares its parent with it.
pub fn diff(repo_path: &Path, a: &str, b: Option<&str>, out: &mut impl Write) -> Result<()> {
    let repo = Repo::open(repo_path)?;
    let (from, to) = match b {
        Some(b) => (repo.resolve_rev(a)?, repo.resolve_rev(b)?),
        None => {
            let to = repo.resolve_rev(a)?;
            let from = repo
                .read_commit(&to)?
                .parent
                .ok_or_else(|| anyhow!("commit {to} ({a}) has no parent to compare with"))?;
            (from, to)
        }
    };
    let d = atomboot_repo::diff::diff_commits(&repo, &from, &to)?;
    out.write_all(d.render().as_bytes())?;
    Ok(())
}

/// `refs [--list] [PREFIX...]`: without a prefix every ref; with `PREFIX` the refs under `PREFIX/`
/// with the prefix removed (kept with `--list`), or `PREFIX` itself when it is a ref; `REMOTE:` lists
/// that remote's refs.
pub fn list_refs(repo: &Repo, prefixes: &[String], keep_prefix: bool) -> Result<Vec<String>> {
    let all = repo.store.list_refs()?;
    if prefixes.is_empty() {
        return Ok(all.into_iter().map(|r| r.0).collect());
    }
    let mut out = Vec::new();
    for p in prefixes {
        if p.ends_with(':') {
            out.extend(
                all.iter()
                    .filter(|(n, _)| n.starts_with(p.as_str()))
                    .map(|(n, _)| n.clone()),
            );
            continue;
        }
        if all.iter().any(|(n, _)| n == p) {
            out.push(p.clone());
            continue;
        }
        let under = format!("{}/", p.trim_end_matches('/'));
        for (n, _) in &all {
            if let Some(rest) = n.strip_prefix(&under) {
                out.push(if keep_prefix {
                    n.clone()
                } else {
                    rest.to_string()
                });
            }
        }
    }
    Ok(out)
}

/// `fsck --delete`: deletes each bad object, marks every checked commit partial (so the next pull
/// fetches what is missing again), and still fails, as ostree does ("Repository corruption
/// encountered").
pub fn fsck_delete(repo_path: &Path, repo: &Repo, rep: &atomboot_repo::FsckReport) -> Result<()> {
    for (c, t) in &rep.bad {
        let p = repo.store.object_path(c, *t);
        match std::fs::remove_file(&p) {
            Ok(()) => eprintln!("deleted {} object {c}", t.name()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot delete {}", p.display())),
        }
    }
    if rep.bad.iter().any(|(_, t)| *t != ObjectType::Commit) {
        let state = repo_path.join("state");
        std::fs::create_dir_all(&state)
            .with_context(|| format!("cannot create {}", state.display()))?;
        for c in &rep.checked_commits {
            eprintln!("Marking commit as partial: {c}");
            write_atomic(&state.join(format!("{c}.commitpartial")), b"")?;
        }
    }
    bail!(
        "Repository corruption encountered in {}: {} bad object(s) deleted; pull the affected refs again",
        repo_path.display(),
        rep.bad.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_set_replaces_appends_and_creates() {
        let t = "[core]\nrepo_version=1\nmode=bare\n\n[remote \"o\"]\nurl=http://x/\n";
        assert_eq!(
            config_set(t, "core", "mode", "archive-z2"),
            "[core]\nrepo_version=1\nmode=archive-z2\n\n[remote \"o\"]\nurl=http://x/\n"
        );
        assert_eq!(
            config_set(t, "core", "foo", "bar"),
            "[core]\nrepo_version=1\nmode=bare\nfoo=bar\n\n[remote \"o\"]\nurl=http://x/\n"
        );
        assert_eq!(config_set(t, "new", "k", "v"), format!("{t}\n[new]\nk=v\n"));
        assert_eq!(
            config_get(t, "remote \"o\"", "url").as_deref(),
            Some("http://x/")
        );
        assert_eq!(config_get(t, "core", "nokey"), None);
    }
}
