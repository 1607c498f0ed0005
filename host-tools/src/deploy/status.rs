//! `admin status`: the deployments, which one is booted, pending and rollback, and what the last boot did.

use super::bootfiles;
use super::counters;
use super::verbs::Admin;
use anyhow::Result;
use atomboot_repo::Checksum;
use serde::Serialize;

/// What `admin status` reports; `--json` prints it as is (the fields in alphabetical order, as before
/// the status was typed), the text form is rendered from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The boot partition (image or directory) read.
    pub boot: String,
    /// The `ostree=` path of the running deployment (from the command line), if any.
    pub booted: Option<String>,
    /// The deployments, newest first as `ostree admin status` lists them.
    pub deployments: Vec<DeploymentStatus>,
    /// Every commit recorded as failed.
    pub failed_commits: Vec<FailedCommit>,
    /// The generation of the loader copy in force (none: nothing deployed).
    pub generation: Option<u64>,
    /// What the last boot did, from the command line and the env.
    pub last_boot: LastBoot,
    /// Which loader copy (0 or 1) is in force.
    pub loader_copy: Option<usize>,
}

/// One deployment in [`Status`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentStatus {
    /// Its boot files match the loader copy's checksums (none: not in the boot configuration).
    pub boot_files_ok: Option<bool>,
    /// Its kernel command line in the loader copy.
    pub bootargs: Option<String>,
    /// It is the running deployment.
    pub booted: bool,
    /// Its commit.
    #[serde(serialize_with = "hex_checksum")]
    pub commit: Checksum,
    /// Why its commit was recorded as failed.
    pub failed: Option<String>,
    /// Its number for `undeploy` and `set-default`.
    pub index: usize,
    /// The refspec it was deployed from.
    pub origin: Option<String>,
    /// Its stateroot.
    pub os: String,
    /// `/ostree/deploy/OS/deploy/COMMIT.SERIAL`.
    pub path: String,
    /// The default, not booted yet.
    pub pending: bool,
    /// Its place in the boot configuration.
    pub role: Role,
    /// It is the fallback.
    pub rollback: bool,
    /// Its serial.
    pub serial: u32,
    /// The commit's subject (when the repository has the commit).
    pub subject: Option<String>,
    /// The unlock state (`development`, `hotfix`), when unlocked.
    pub unlocked: Option<String>,
    /// The commit's `version`.
    pub version: Option<String>,
}

/// A deployment's place in the boot configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Role {
    /// The loader copy's primary entry.
    #[serde(rename = "default")]
    Default,
    /// The loader copy's fallback entry.
    #[serde(rename = "fallback")]
    Fallback,
    /// Not in the loader copy.
    #[serde(rename = "not bootable")]
    NotBootable,
}

impl Role {
    /// The word shown (and serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Default => "default",
            Role::Fallback => "fallback",
            Role::NotBootable => "not bootable",
        }
    }
}

/// A commit recorded as failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedCommit {
    /// The commit.
    #[serde(serialize_with = "hex_checksum")]
    pub commit: Checksum,
    /// The reason recorded.
    pub reason: String,
}

/// The last boot: the counters and what the agent chose, or why the env could not be read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum LastBoot {
    /// The env was read.
    Known {
        /// `bootcount` in the env.
        bootcount: Option<String>,
        /// `bootlimit` in the env.
        bootlimit: Option<String>,
        /// Why the slot booted (see [`last_boot_slot_reason`]).
        reason: Option<String>,
        /// The env records an automatic rollback.
        rolled_back: bool,
        /// `primary` or `fallback`, where known.
        slot: Option<String>,
        /// `upgrade_available` in the env.
        upgrade_available: Option<String>,
    },
    /// The env could not be read.
    Unreadable {
        /// The error, with its context.
        error: String,
    },
}

fn hex_checksum<S: serde::Serializer>(c: &Checksum, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&c.to_hex())
}

/// Gathers the status.
pub fn gather(admin: &mut Admin<'_>) -> Result<Status> {
    let (config, list) = admin.ordered()?;
    let booted = admin.booted();
    let failed = admin.sysroot.failed();
    let env = counters::read(admin.boot.as_mut());
    let mut deps = Vec::new();
    for (i, id) in list.iter().enumerate() {
        let entry = config.as_ref().and_then(|c| {
            [Some(&c.primary), c.fallback.as_ref()]
                .into_iter()
                .flatten()
                .find(|e| e.deployment().as_ref() == Some(id))
                .cloned()
        });
        let role = match &config {
            Some(c) if c.primary.deployment().as_ref() == Some(id) => Role::Default,
            Some(c) if c.fallback.as_ref().and_then(|f| f.deployment()).as_ref() == Some(id) => {
                Role::Fallback
            }
            _ => Role::NotBootable,
        };
        let files_ok = match &entry {
            Some(e) => Some(bootfiles::verify(admin.boot.as_mut(), e)?),
            None => None,
        };
        let is_booted = booted.as_ref() == Some(id);
        let origin = std::fs::read_to_string(admin.sysroot.origin_file(id))
            .ok()
            .and_then(|o| {
                o.lines()
                    .find_map(|l| l.strip_prefix("refspec=").map(str::to_string))
            });
        let info = admin.source.and_then(|src| src.info(&id.commit).ok());
        let unlocked = std::fs::read_to_string(admin.sysroot.unlock_file(id))
            .ok()
            .map(|u| u.trim().to_string());
        deps.push(DeploymentStatus {
            version: info.as_ref().and_then(|i| i.version.clone()),
            subject: info.as_ref().map(|i| i.subject.clone()),
            index: i,
            os: id.os.clone(),
            commit: id.commit,
            serial: id.serial,
            path: id.path(),
            role,
            booted: is_booted,
            pending: role == Role::Default && booted.is_some() && !is_booted,
            rollback: role == Role::Fallback,
            origin,
            unlocked,
            bootargs: entry.as_ref().map(|e| e.bootargs.clone()),
            boot_files_ok: files_ok,
            failed: failed
                .iter()
                .find(|(c, _)| *c == id.commit)
                .map(|(_, r)| r.clone()),
        });
    }
    let cmdline_arg = |key: &str| {
        admin.cmdline.as_deref().and_then(|c| {
            c.split_whitespace()
                .find_map(|a| a.strip_prefix(key).map(str::to_string))
        })
    };
    let derived_slot = booted.as_ref().and_then(|b| {
        let c = config.as_ref()?;
        if c.primary.deployment().as_ref() == Some(b) {
            Some("primary".to_string())
        } else if c.fallback.as_ref().and_then(|f| f.deployment()).as_ref() == Some(b) {
            Some("fallback".to_string())
        } else {
            None
        }
    });
    let last_boot = match &env {
        Ok(c) => {
            let (slot, reason) = last_boot_slot_reason(&LastBootFacts {
                cmdline_slot: cmdline_arg("atomboot.slot="),
                cmdline_reason: cmdline_arg("atomboot.reason="),
                env_slot: c.get("atomboot_slot").map(str::to_string),
                env_reason: c.get("atomboot_reason").map(str::to_string),
                derived_slot,
                rolled_back: c.rolled_back(),
            });
            let var = |name: &str| c.get(name).map(str::to_string);
            LastBoot::Known {
                slot,
                reason,
                rolled_back: c.rolled_back(),
                bootcount: var("bootcount"),
                bootlimit: var("bootlimit"),
                upgrade_available: var("upgrade_available"),
            }
        }
        Err(e) => LastBoot::Unreadable {
            error: format!("{e:#}"),
        },
    };
    Ok(Status {
        boot: admin.boot.describe(),
        loader_copy: config.as_ref().map(|c| c.copy),
        generation: config.as_ref().map(|c| c.generation),
        booted: booted.map(|b| b.path()),
        deployments: deps,
        last_boot,
        failed_commits: failed
            .into_iter()
            .map(|(commit, reason)| FailedCommit { commit, reason })
            .collect(),
    })
}

/// What is known about the last boot, from the places that record it.
#[derive(Debug, Default)]
struct LastBootFacts {
    /// `atomboot.slot=` on the running kernel's command line (set by the agent for this boot).
    cmdline_slot: Option<String>,
    /// `atomboot.reason=` on the command line: a token (`normal`, `trial`, `bootlimit`, `primary-bad`,
    /// `fallback-bad`, `no-fallback`).
    cmdline_reason: Option<String>,
    /// `atomboot_slot` in the env (when a boot script saved it).
    env_slot: Option<String>,
    /// `atomboot_reason` in the env: the sentence of the last failure the agent recorded. It stays there
    /// after the rollback was marked good, so it describes this boot only when this boot is a failure's.
    env_reason: Option<String>,
    /// Where the booted deployment sits in the boot configuration.
    derived_slot: Option<String>,
    /// The env records a rollback.
    rolled_back: bool,
}

/// The slot and reason of the last boot. On the device the command line of the running kernel says what
/// the agent chose for this boot, so it comes first: a fallback marked good (the loader copy rewritten,
/// the rollback flag cleared) is still the boot of the fallback slot, and a later normal boot is not
/// described by an old failure's sentence. Off the device the env is all there is.
fn last_boot_slot_reason(f: &LastBootFacts) -> (Option<String>, Option<String>) {
    let slot = f
        .cmdline_slot
        .clone()
        .or_else(|| f.env_slot.clone())
        .or_else(|| f.derived_slot.clone())
        // Offline: a recorded rollback means the agent boots the fallback until the deployer acts.
        .or_else(|| f.rolled_back.then(|| "fallback".to_string()));
    let reason = match f.cmdline_reason.as_deref() {
        // A failure of this boot: the agent's sentence, when it recorded one.
        Some(t @ ("primary-bad" | "bootlimit")) => {
            Some(f.env_reason.clone().unwrap_or_else(|| t.to_string()))
        }
        Some("normal") => Some("normal boot".to_string()),
        Some("trial") => Some("update on trial".to_string()),
        Some(t) => Some(t.to_string()),
        None => f.env_reason.clone(),
    };
    (slot, reason)
}

/// The text form: first what `ostree admin status` prints for the same deployments (`*` on the booted
/// one, `(pending)` and `(rollback)` around it, `Version:`, `Unlocked:`, `origin refspec:`), then
/// atomboot's own lines: each deployment's place in the boot configuration, the last boot's slot and
/// reason, and the counters.
pub fn render_text(v: &Status) -> String {
    let mut out = String::new();
    let s = |x: &Option<String>| x.clone().unwrap_or_else(|| "-".into());
    let deps = &v.deployments;
    // ostree's pending and rollback: only when booted, the nearest deployments of the booted
    // stateroot before and after the booted one.
    let booted_at = deps.iter().position(|d| d.booted);
    let same_os = |i: usize| booted_at.is_some_and(|b| deps[i].os == deps[b].os);
    let pending = booted_at.and_then(|b| (0..b).find(|&i| same_os(i)));
    let rollback = booted_at.and_then(|b| (b + 1..deps.len()).find(|&i| same_os(i)));
    if deps.is_empty() {
        out.push_str("No deployments.\n");
    }
    for (i, d) in deps.iter().enumerate() {
        let mark = if Some(i) == pending {
            " (pending)"
        } else if Some(i) == rollback {
            " (rollback)"
        } else {
            ""
        };
        out.push_str(&format!(
            "{} {} {}.{}{mark}\n",
            if d.booted { '*' } else { ' ' },
            d.os,
            d.commit,
            d.serial,
        ));
        if let Some(v) = &d.version {
            out.push_str(&format!("    Version: {v}\n"));
        }
        if let Some(u) = &d.unlocked {
            out.push_str(&format!("    Unlocked: {u}\n"));
        }
        match &d.origin {
            Some(o) => out.push_str(&format!("    origin refspec: {o}\n")),
            None => out.push_str("    origin: none\n"),
        }
    }
    if v.generation.is_none() {
        out.push_str(&format!(
            "boot partition {}: no valid loader copy (nothing deployed)\n",
            v.boot
        ));
    }
    for d in deps {
        let mut marks = Vec::new();
        if d.boot_files_ok == Some(false) {
            marks.push("BOOT FILES DAMAGED".to_string());
        }
        if let Some(r) = &d.failed {
            marks.push(format!("FAILED: {r}"));
        }
        out.push_str(&format!(
            "atomboot: {} {}:{}.{} {}{}\n",
            d.index,
            d.os,
            &d.commit.to_hex()[..12],
            d.serial,
            d.role.as_str(),
            if marks.is_empty() {
                String::new()
            } else {
                format!(" [{}]", marks.join(", "))
            }
        ));
    }
    match &v.last_boot {
        LastBoot::Unreadable { error } => out.push_str(&format!("counters: {error}\n")),
        LastBoot::Known {
            bootcount,
            bootlimit,
            reason,
            rolled_back,
            slot,
            upgrade_available,
        } => {
            if *rolled_back {
                out.push_str(&format!(
                    "AUTOMATIC ROLLBACK: the default failed ({}); the fallback is running. `atomboot admin mark-good` makes it the default.\n",
                    s(reason)
                ));
            }
            // Off the device (no booted deployment, no command line) the slot is not known, and the env
            // keeps only the reason of the last failure the agent recorded, which may be older than the
            // last boot.
            let slot_and_reason = match slot {
                None => format!(
                    "slot not known here (on the device, or with --cmdline, it is); last recorded reason {}",
                    s(reason)
                ),
                Some(slot) => format!("slot {slot} reason {}", s(reason)),
            };
            out.push_str(&format!(
                "last boot: {slot_and_reason}; bootcount {} bootlimit {} upgrade_available {}\n",
                s(bootcount),
                s(bootlimit),
                s(upgrade_available)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn on_the_device_a_fallback_marked_good_is_still_the_fallback_slot() {
        // The agent booted the fallback (the primary's kernel failed); mark-good then rewrote the loader
        // copy (the fallback is the default now) and cleared the rollback flag.
        let facts = LastBootFacts {
            cmdline_slot: some("fallback"),
            cmdline_reason: some("primary-bad"),
            env_reason: some("primary kernel: SHA-256 mismatch"),
            derived_slot: some("primary"),
            rolled_back: false,
            ..Default::default()
        };
        assert_eq!(
            last_boot_slot_reason(&facts),
            (some("fallback"), some("primary kernel: SHA-256 mismatch"))
        );
        // The next boot is a normal boot of the new default: the old sentence is not this boot's reason.
        let facts = LastBootFacts {
            cmdline_slot: some("primary"),
            cmdline_reason: some("normal"),
            env_reason: some("primary kernel: SHA-256 mismatch"),
            derived_slot: some("primary"),
            ..Default::default()
        };
        assert_eq!(
            last_boot_slot_reason(&facts),
            (some("primary"), some("normal boot"))
        );
        let text = last_boot(some("fallback"));
        assert!(!text.contains("slot -"), "{text}");
    }

    #[test]
    fn off_the_device_the_env_is_all_there_is() {
        let facts = LastBootFacts {
            env_reason: some("primary kernel: SHA-256 mismatch"),
            rolled_back: true,
            ..Default::default()
        };
        assert_eq!(
            last_boot_slot_reason(&facts),
            (some("fallback"), some("primary kernel: SHA-256 mismatch"))
        );
        let facts = LastBootFacts {
            env_reason: some("primary kernel: SHA-256 mismatch"),
            ..Default::default()
        };
        assert_eq!(
            last_boot_slot_reason(&facts),
            (None, some("primary kernel: SHA-256 mismatch"))
        );
        // A trial boot on the device.
        let facts = LastBootFacts {
            cmdline_slot: some("primary"),
            cmdline_reason: some("trial"),
            ..Default::default()
        };
        assert_eq!(
            last_boot_slot_reason(&facts),
            (some("primary"), some("update on trial"))
        );
    }

    /// The text of a status with no deployments whose last boot was of `slot`, for the reason of a
    /// kernel checksum mismatch.
    fn last_boot(slot: Option<String>) -> String {
        render_text(&Status {
            boot: "boot.img".into(),
            booted: None,
            deployments: vec![],
            failed_commits: vec![],
            generation: Some(3),
            last_boot: LastBoot::Known {
                bootcount: some("0"),
                bootlimit: some("3"),
                reason: some("primary kernel: SHA-256 mismatch"),
                rolled_back: false,
                slot,
                upgrade_available: some("0"),
            },
            loader_copy: Some(1),
        })
    }

    #[test]
    fn a_known_slot_is_the_last_boot() {
        let text = last_boot(some("fallback"));
        assert_eq!(
            text,
            "No deployments.\nlast boot: slot fallback reason primary kernel: SHA-256 mismatch; bootcount 0 bootlimit 3 upgrade_available 0\n"
        );
    }

    #[test]
    fn off_the_device_an_old_reason_is_not_shown_as_the_last_boot() {
        // After a rollback marked good, the env still holds the failure's reason but no slot.
        let text = last_boot(None);
        assert!(text.contains("slot not known here"), "{text}");
        assert!(
            text.contains("last recorded reason primary kernel: SHA-256 mismatch;"),
            "{text}"
        );
        assert!(!text.contains("slot -"), "{text}");
    }

    #[test]
    fn json_keeps_the_untyped_form_keys_sorted_commit_in_hex_role_as_words() {
        let commit = Checksum([0xab; 32]);
        let dep = DeploymentStatus {
            boot_files_ok: None,
            bootargs: None,
            booted: false,
            commit,
            failed: some("bootlimit"),
            index: 0,
            origin: some("v1"),
            os: "debian".into(),
            path: format!("/ostree/deploy/debian/deploy/{commit}.0"),
            pending: false,
            role: Role::NotBootable,
            rollback: false,
            serial: 0,
            subject: None,
            unlocked: None,
            version: None,
        };
        let status = Status {
            boot: "boot.img".into(),
            booted: None,
            deployments: vec![dep],
            failed_commits: vec![FailedCommit {
                commit,
                reason: "bootlimit".into(),
            }],
            generation: None,
            last_boot: LastBoot::Unreadable {
                error: "no env".into(),
            },
            loader_copy: None,
        };
        let text = serde_json::to_string_pretty(&status).unwrap();
        // serde_json's Value keeps keys sorted: the typed output is the same text as the untyped one was.
        let value = serde_json::to_value(&status).unwrap();
        assert_eq!(text, serde_json::to_string_pretty(&value).unwrap());
        assert_eq!(value["deployments"][0]["commit"], "ab".repeat(32));
        assert_eq!(value["deployments"][0]["role"], "not bootable");
        assert_eq!(value["failed_commits"][0]["commit"], "ab".repeat(32));
        assert_eq!(value["last_boot"], serde_json::json!({ "error": "no env" }));
    }
}
