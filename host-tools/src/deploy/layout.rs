//! The sysroot layout, as OSTree's: `/ostree/repo`, `/ostree/deploy/<os>/deploy/<commit>.<serial>`,
//! `/ostree/deploy/<os>/var`; plus `/ostree/atomboot/` for the deployer's own records.

use anyhow::{bail, Context, Result};
use atomboot_repo::Checksum;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A sysroot (the root file system holding `/ostree`).
#[derive(Debug, Clone)]
pub struct Sysroot {
    /// Its root directory (`/` on a running system).
    pub root: PathBuf,
}

/// One deployment: `<os>/deploy/<commit>.<serial>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeploymentId {
    /// The stateroot (OS name).
    pub os: String,
    /// The commit checksum.
    pub commit: Checksum,
    /// Distinguishes deployments of the same commit.
    pub serial: u32,
}

/// Prefix of the `ostree=` kernel argument value.
pub const KARG_PREFIX: &str = "ostree=";

impl DeploymentId {
    /// The path of the deployment inside the sysroot, as the `ostree=` kernel argument carries it:
    /// `/ostree/deploy/<os>/deploy/<commit>.<serial>`.
    pub fn path(&self) -> String {
        format!(
            "/ostree/deploy/{}/deploy/{}.{}",
            self.os, self.commit, self.serial
        )
    }

    /// Parses the value of `ostree=` (see [`DeploymentId::path`]).
    pub fn parse_path(path: &str) -> Option<DeploymentId> {
        let rest = path.strip_prefix("/ostree/deploy/")?;
        let (os, rest) = rest.split_once('/')?;
        let name = rest.strip_prefix("deploy/")?;
        if os.is_empty() || name.contains('/') {
            return None;
        }
        DeploymentId::parse_name(os, name)
    }

    /// Parses a directory name `<commit>.<serial>`.
    pub fn parse_name(os: &str, name: &str) -> Option<DeploymentId> {
        let (commit, serial) = name.split_once('.')?;
        // Lower-case hex only, as the deployer writes (and as the name must read back the same).
        if commit.bytes().any(|c| c.is_ascii_uppercase()) {
            return None;
        }
        Some(DeploymentId {
            os: os.to_string(),
            commit: Checksum::from_hex(commit)?,
            serial: serial.parse().ok()?,
        })
    }

    /// Finds the `ostree=` argument in a command line.
    pub fn from_cmdline(cmdline: &str) -> Option<DeploymentId> {
        cmdline
            .split_whitespace()
            .find_map(|a| a.strip_prefix(KARG_PREFIX))
            .and_then(DeploymentId::parse_path)
    }

    /// Short form for messages: `<os>:<commit 12>.<serial>`.
    pub fn short(&self) -> String {
        format!(
            "{}:{}.{}",
            self.os,
            &self.commit.to_hex()[..12],
            self.serial
        )
    }
}

impl Sysroot {
    /// The sysroot at `root`.
    pub fn new(root: &Path) -> Sysroot {
        Sysroot {
            root: root.to_path_buf(),
        }
    }

    /// `/ostree/repo`.
    pub fn repo(&self) -> PathBuf {
        self.root.join("ostree/repo")
    }

    /// `/ostree/deploy/<os>`.
    pub fn stateroot(&self, os: &str) -> PathBuf {
        self.root.join("ostree/deploy").join(os)
    }

    /// Where a deployment's tree is.
    pub fn deployment_dir(&self, id: &DeploymentId) -> PathBuf {
        self.root.join(id.path().trim_start_matches('/'))
    }

    /// `<deployment>.origin`: the refspec it came from.
    pub fn origin_file(&self, id: &DeploymentId) -> PathBuf {
        self.root
            .join(format!("{}.origin", id.path().trim_start_matches('/')))
    }

    /// `<deployment>.unlocked`: `development` or `hotfix` (see `admin unlock`).
    pub fn unlock_file(&self, id: &DeploymentId) -> PathBuf {
        self.root
            .join(format!("{}.unlocked", id.path().trim_start_matches('/')))
    }

    /// The overlay's upper and work directories for an unlocked deployment.
    pub fn overlay_dirs(&self, id: &DeploymentId) -> (PathBuf, PathBuf) {
        let base = id.path();
        let base = base.trim_start_matches('/');
        (
            self.root.join(format!("{base}.usr-upper")),
            self.root.join(format!("{base}.usr-work")),
        )
    }

    /// `/ostree/atomboot/failed-commits`.
    pub fn failed_file(&self) -> PathBuf {
        self.root.join("ostree/atomboot/failed-commits")
    }

    /// `/ostree/atomboot/board`: the board profile name given at init.
    pub fn board_file(&self) -> PathBuf {
        self.root.join("ostree/atomboot/board")
    }

    /// Checks that this is an initialised sysroot.
    pub fn check(&self) -> Result<()> {
        if !self.root.join("ostree/deploy").is_dir() {
            bail!(
                "{} is not a sysroot (no ostree/deploy): run `atomboot admin init-fs {}` and `atomboot admin os-init OS`",
                self.root.display(),
                self.root.display()
            );
        }
        Ok(())
    }

    /// The stateroots present.
    pub fn oses(&self) -> Result<Vec<String>> {
        let mut v = Vec::new();
        let dir = self.root.join("ostree/deploy");
        for e in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let e = e?;
            if e.file_type()?.is_dir() {
                v.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        v.sort();
        Ok(v)
    }

    /// Every deployment on disk, sorted.
    pub fn deployments(&self) -> Result<Vec<DeploymentId>> {
        let mut v = Vec::new();
        for os in self.oses()? {
            let dir = self.stateroot(&os).join("deploy");
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd {
                let e = e?;
                let name = e.file_name().to_string_lossy().into_owned();
                if e.file_type()?.is_dir() {
                    if let Some(id) = DeploymentId::parse_name(&os, &name) {
                        v.push(id);
                    }
                }
            }
        }
        v.sort();
        Ok(v)
    }

    /// The commits recorded as failed (after an automatic rollback), with the reason.
    pub fn failed(&self) -> Vec<(Checksum, String)> {
        std::fs::read_to_string(self.failed_file())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (c, r) = l.split_once(' ').unwrap_or((l, ""));
                Some((Checksum::from_hex(c)?, r.to_string()))
            })
            .collect()
    }

    /// Records `commit` as failed with `reason` (once).
    pub fn record_failed(&self, commit: &Checksum, reason: &str) -> Result<()> {
        let mut list = self.failed();
        if list.iter().any(|(c, _)| c == commit) {
            return Ok(());
        }
        list.push((*commit, reason.replace('\n', " ")));
        let text: String = list.iter().map(|(c, r)| format!("{c} {r}\n")).collect();
        write_atomic(&self.failed_file(), text.as_bytes())
    }
}

/// Write new, fsync, rename, fsync the directory (the root file system is a POSIX file system).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let r = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    r.with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn deployment_names_round_trip_through_the_checksum_type() {
        let id = DeploymentId::parse_path(&format!("/ostree/deploy/os/deploy/{C}.3")).unwrap();
        assert_eq!(
            (id.os.as_str(), id.commit.to_hex(), id.serial),
            ("os", C.into(), 3)
        );
        assert_eq!(id.path(), format!("/ostree/deploy/os/deploy/{C}.3"));
        assert_eq!(id.short(), "os:0123456789ab.3");
    }

    #[test]
    fn deployment_names_without_a_lower_case_checksum_are_not_deployments() {
        for name in [
            format!("{}.0", C.to_uppercase()),
            format!("{}.0", &C[1..]),
            format!("{}g.0", &C[1..]),
            format!("{C}.x"),
            C.to_string(),
        ] {
            assert_eq!(DeploymentId::parse_name("os", &name), None, "{name}");
        }
    }
}
