//! Where deployments come from: a repository that resolves refs to commits and checks commits out.
//!
//! The deployer only needs this small trait. [`RepoSource`] is the OSTree-compatible repository of
//! `atomboot_repo` (what `atomboot admin` uses); [`TreeSource`] is a plain-directory stand-in for tests
//! (`atomboot admin deploy --tree-source DIR`).

use anyhow::{bail, Context, Result};
use atomboot_repo::Checksum;
use std::path::{Path, PathBuf};

/// Commit metadata the deployer shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitInfo {
    /// `version` from the commit metadata, if any.
    pub version: Option<String>,
    /// The commit subject.
    pub subject: String,
}

/// A repository as the deployer sees it.
pub trait CommitSource {
    /// Resolves `REF` or `REMOTE:REF` (or a full commit checksum) to the commit's checksum.
    fn resolve(&self, refspec: &str) -> Result<Checksum>;
    /// Reads a commit's metadata.
    fn info(&self, commit: &Checksum) -> Result<CommitInfo>;
    /// Checks the commit's tree out into `dest` (which does not exist yet); `verify` re-hashes every
    /// object read (`admin deploy --verify`) where the source can.
    fn checkout(&self, commit: &Checksum, dest: &Path, verify: bool) -> Result<()>;
    /// Fetches `REMOTE:REF` from its remote (used by `upgrade`); a local ref needs nothing.
    fn pull(&self, _refspec: &str) -> Result<()> {
        Ok(())
    }
    /// Checks that `commit`, resolved from `refspec`, may be deployed: for `REMOTE:REF` of a remote that
    /// verifies signatures (`sign-verify`), it must carry a valid one. Nothing to check by default.
    fn verify(&self, _refspec: &str, _commit: &Checksum) -> Result<()> {
        Ok(())
    }
    /// The boot proof of `commit` (docs/FORMATS.md, "Boot proof"; `dtb_name`: the board's device tree
    /// under `dtb/`): `Ok(None)` when the commit carries no ed25519 signature (nothing to prove), an error
    /// when it is signed but no proof can be built from it. A source without signatures has none.
    fn boot_proof(&self, _commit: &Checksum, _dtb_name: Option<&str>) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

/// A stand-in repository made of directories: `refs/<REF>` (or `refs/<REMOTE>/<REF>`) holds a checksum,
/// `commits/<checksum>/` is the tree, `commits/<checksum>.subject` and `commits/<checksum>.version` the
/// metadata.
pub struct TreeSource {
    root: PathBuf,
}

impl TreeSource {
    /// The stand-in repository at `root`.
    pub fn new(root: &Path) -> TreeSource {
        TreeSource {
            root: root.to_path_buf(),
        }
    }

    /// Adds a commit (test helper): copies `tree` in, names it by a checksum of `id`, points `refname` at it.
    pub fn add_commit(&self, refname: &str, id: &str, tree: &Path) -> Result<Checksum> {
        let csum = Checksum::of(id.as_bytes());
        let dest = self.root.join("commits").join(csum.to_hex());
        copy_tree(tree, &dest)?;
        std::fs::write(
            self.root.join("commits").join(format!("{csum}.subject")),
            id,
        )?;
        let r = self.root.join("refs").join(refname.replace(':', "/"));
        std::fs::create_dir_all(r.parent().unwrap_or(&self.root))?;
        std::fs::write(r, format!("{csum}\n"))?;
        Ok(csum)
    }
}

impl CommitSource for TreeSource {
    fn resolve(&self, refspec: &str) -> Result<Checksum> {
        if let Some(c) = Checksum::from_hex(refspec) {
            if self.root.join("commits").join(c.to_hex()).is_dir() {
                return Ok(c);
            }
            bail!(
                "commit {refspec} is not in the repository {}",
                self.root.display()
            );
        }
        let path = self.root.join("refs").join(refspec.replace(':', "/"));
        let text = std::fs::read_to_string(&path).map_err(|_| {
            anyhow::anyhow!(
                "unknown ref {refspec:?} in {} (list refs with `atomboot refs`, or pull it first)",
                self.root.display()
            )
        })?;
        Checksum::from_hex(text.trim()).ok_or_else(|| {
            anyhow::anyhow!(
                "ref {refspec:?} in {} does not hold a 64-hex commit checksum",
                self.root.display()
            )
        })
    }

    fn info(&self, commit: &Checksum) -> Result<CommitInfo> {
        let base = self.root.join("commits");
        Ok(CommitInfo {
            subject: std::fs::read_to_string(base.join(format!("{commit}.subject")))
                .unwrap_or_default(),
            version: std::fs::read_to_string(base.join(format!("{commit}.version"))).ok(),
        })
    }

    fn checkout(&self, commit: &Checksum, dest: &Path, _verify: bool) -> Result<()> {
        let src = self.root.join("commits").join(commit.to_hex());
        if !src.is_dir() {
            bail!("commit {commit} is not in {}", self.root.display());
        }
        copy_tree(&src, dest)
    }
}

/// Copies a directory tree (files, directories, symlinks).
pub fn copy_tree(src: &Path, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    for e in std::fs::read_dir(src).with_context(|| format!("cannot read {}", src.display()))? {
        let e = e?;
        let t = e.file_type()?;
        let to = dest.join(e.file_name());
        if t.is_dir() {
            copy_tree(&e.path(), &to)?;
        } else if t.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path())?, &to)?;
        } else {
            std::fs::copy(e.path(), &to).with_context(|| {
                format!("cannot copy {} to {}", e.path().display(), to.display())
            })?;
        }
    }
    Ok(())
}

/// How a deployment is checked out of a repository in `mode` (docs/FORMATS.md, "Deployments"), as
/// `ostree admin deploy` does: hard links of the repository's objects wherever the repository can give
/// them (bare: with owners; bare-user: as the repository's user, `-U`), so a deployment costs only its
/// directories and `/etc`; `etc` is always a real copy (it stays writable on the device and must never
/// share an inode with an object); an archive repository is copied out.
pub fn deploy_checkout(mode: atomboot_repo::Mode, verify: bool) -> atomboot_repo::CheckoutOptions {
    use atomboot_repo::Mode;
    atomboot_repo::CheckoutOptions {
        hardlink: matches!(mode, Mode::Bare | Mode::BareUser),
        user_mode: mode == Mode::BareUser,
        verify,
        copy_dirs: &["etc"],
        ..Default::default()
    }
}

/// The in-house OSTree-compatible repository (`atomboot_repo`): what `atomboot admin` deploys from.
pub struct RepoSource {
    path: PathBuf,
    /// A directory of `*.conf` remote definitions used beside the repository's config.
    remotes_d: Option<PathBuf>,
}

impl RepoSource {
    /// The repository at `path` (opened on each use, so a missing repository is reported by the verb
    /// that needs it).
    pub fn new(path: &Path) -> RepoSource {
        RepoSource {
            path: path.to_path_buf(),
            remotes_d: None,
        }
    }

    /// Remotes are also read from `*.conf` files in `dir` (`SYSROOT/etc/ostree/remotes.d`).
    pub fn with_remotes_d(mut self, dir: &Path) -> RepoSource {
        self.remotes_d = Some(dir.to_path_buf());
        self
    }

    fn open(&self) -> Result<atomboot_repo::Repo> {
        atomboot_repo::Repo::open(&self.path).with_context(|| {
            format!(
                "cannot open the repository {} (create it with `atomboot --repo={} init`, or pass --repo)",
                self.path.display(),
                self.path.display()
            )
        })
    }
}

impl CommitSource for RepoSource {
    fn resolve(&self, refspec: &str) -> Result<Checksum> {
        let repo = self.open()?;
        let c = repo.resolve_rev(refspec).with_context(|| {
            format!(
                "unknown ref {refspec:?} in {} (list refs with `atomboot --repo={} refs`, or pull it first)",
                self.path.display(),
                self.path.display()
            )
        })?;
        // A checksum names a commit only if the commit object is there.
        repo.read_commit(&c)
            .with_context(|| format!("commit {c} ({refspec}) in {}", self.path.display()))?;
        Ok(c)
    }

    fn info(&self, commit: &Checksum) -> Result<CommitInfo> {
        let repo = self.open()?;
        let c = repo
            .read_commit(commit)
            .with_context(|| format!("commit {commit} in {}", self.path.display()))?;
        Ok(CommitInfo {
            version: c.metadata_string("version").map(str::to_string),
            subject: c.subject.clone(),
        })
    }

    fn checkout(&self, commit: &Checksum, dest: &Path, verify: bool) -> Result<()> {
        let repo = self.open()?;
        repo.checkout(commit, dest, &deploy_checkout(repo.mode(), verify))
            .with_context(|| {
                format!(
                    "cannot check commit {commit} out of {} into {}",
                    self.path.display(),
                    dest.display()
                )
            })
    }

    fn pull(&self, refspec: &str) -> Result<()> {
        let Some((remote, reference)) = refspec.split_once(':') else {
            return Ok(());
        };
        let repo = self.open()?;
        let r = atomboot_repo::remote::get_in(&repo.store, remote, self.remotes_d.as_deref())?;
        atomboot_repo::sign::ops::pull_remote_of(
            &repo.store,
            &r,
            &[reference.to_string()],
            &format!("{remote}:"),
            0,
        )
        .with_context(|| format!("cannot pull {refspec} from {}", r.url))?;
        Ok(())
    }

    fn boot_proof(&self, commit: &Checksum, dtb_name: Option<&str>) -> Result<Option<Vec<u8>>> {
        let repo = self.open()?;
        match super::proof::build(&repo, commit, dtb_name) {
            Ok(p) => Ok(Some(p)),
            Err(super::proof::ProofBuildError::NotSigned(_)) => Ok(None),
            Err(e) => Err(e).with_context(|| {
                format!(
                    "cannot build the boot proof of commit {commit} in {}",
                    self.path.display()
                )
            }),
        }
    }

    /// A commit of `REMOTE:REF` is checked as the remote's configuration asks (signatures, or the refusal
    /// of a `gpg-verify` remote); a local ref, a checksum, or a remote no longer configured: nothing.
    fn verify(&self, refspec: &str, commit: &Checksum) -> Result<()> {
        let Some((remote, _)) = refspec.split_once(':') else {
            return Ok(());
        };
        let repo = self.open()?;
        let Ok(r) = atomboot_repo::remote::get_in(&repo.store, remote, self.remotes_d.as_deref())
        else {
            return Ok(());
        };
        atomboot_repo::sign::ops::check_stored_commit_of(&repo.store, &r, commit).with_context(
            || format!("refusing to deploy {refspec} (commit {commit}) from remote {remote:?}"),
        )?;
        Ok(())
    }
}
