//! `admin status`: the deployments, which one is booted, pending and rollback, and what the last boot did.

use super::bootfiles;
use super::counters;
use super::verbs::Admin;
use anyhow::Result;
use serde_json::{json, Value};

/// Gathers the status as JSON (the text form is rendered from it).
pub fn gather(admin: &mut Admin<'_>) -> Result<Value> {
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
            Some(c) if c.primary.deployment().as_ref() == Some(id) => "default",
            Some(c) if c.fallback.as_ref().and_then(|f| f.deployment()).as_ref() == Some(id) => {
                "fallback"
            }
            _ => "not bootable",
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
        deps.push(json!({
            "version": info.as_ref().and_then(|i| i.version.clone()),
            "subject": info.as_ref().map(|i| i.subject.clone()),
            "index": i,
            "os": id.os,
            "commit": id.commit.to_hex(),
            "serial": id.serial,
            "path": id.path(),
            "role": role,
            "booted": is_booted,
            "pending": role == "default" && booted.is_some() && !is_booted,
            "rollback": role == "fallback",
            "origin": origin,
            "unlocked": unlocked,
            "bootargs": entry.as_ref().map(|e| e.bootargs.clone()),
            "boot_files_ok": files_ok,
            "failed": failed.iter().find(|(c, _)| *c == id.commit).map(|(_, r)| r.clone()),
        }));
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
            json!({
                "slot": slot,
                "reason": reason,
                "rolled_back": c.rolled_back(),
                "bootcount": c.get("bootcount"),
                "bootlimit": c.get("bootlimit"),
                "upgrade_available": c.get("upgrade_available"),
            })
        }
        Err(e) => json!({ "error": format!("{e:#}") }),
    };
    Ok(json!({
        "boot": admin.boot.describe(),
        "loader_copy": config.as_ref().map(|c| c.copy),
        "generation": config.as_ref().map(|c| c.generation),
        "booted": booted.map(|b| b.path()),
        "deployments": deps,
        "last_boot": last_boot,
        "failed_commits": failed.iter().map(|(c, r)| json!({"commit": c.to_hex(), "reason": r})).collect::<Vec<_>>(),
    }))
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
pub fn render_text(v: &Value) -> String {
    let mut out = String::new();
    let s = |x: &Value| x.as_str().map(str::to_string).unwrap_or_else(|| "-".into());
    let deps: Vec<&Value> = v["deployments"].as_array().into_iter().flatten().collect();
    // ostree's pending and rollback: only when booted, the nearest deployments of the booted
    // stateroot before and after the booted one.
    let booted_at = deps.iter().position(|d| d["booted"] == true);
    let same_os = |i: usize| booted_at.is_some_and(|b| deps[i]["os"] == deps[b]["os"]);
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
            if d["booted"] == true { '*' } else { ' ' },
            s(&d["os"]),
            s(&d["commit"]),
            d["serial"],
        ));
        if let Some(v) = d["version"].as_str() {
            out.push_str(&format!("    Version: {v}\n"));
        }
        if let Some(u) = d["unlocked"].as_str() {
            out.push_str(&format!("    Unlocked: {u}\n"));
        }
        match d["origin"].as_str() {
            Some(o) => out.push_str(&format!("    origin refspec: {o}\n")),
            None => out.push_str("    origin: none\n"),
        }
    }
    if v["generation"].is_null() {
        out.push_str(&format!(
            "boot partition {}: no valid loader copy (nothing deployed)\n",
            s(&v["boot"])
        ));
    }
    for d in &deps {
        let mut marks = Vec::new();
        if d["boot_files_ok"] == false {
            marks.push("BOOT FILES DAMAGED".to_string());
        }
        if let Some(r) = d["failed"].as_str() {
            marks.push(format!("FAILED: {r}"));
        }
        out.push_str(&format!(
            "atomboot: {} {}:{}.{} {}{}\n",
            d["index"],
            s(&d["os"]),
            s(&d["commit"]).get(..12).unwrap_or("-"),
            d["serial"],
            s(&d["role"]),
            if marks.is_empty() {
                String::new()
            } else {
                format!(" [{}]", marks.join(", "))
            }
        ));
    }
    let lb = &v["last_boot"];
    if let Some(e) = lb["error"].as_str() {
        out.push_str(&format!("counters: {e}\n"));
    } else {
        if lb["rolled_back"] == true {
            out.push_str(&format!(
                "AUTOMATIC ROLLBACK: the default failed ({}); the fallback is running. `atomboot admin mark-good` makes it the default.\n",
                s(&lb["reason"])
            ));
        }
        // Off the device (no booted deployment, no command line) the slot is not known, and the env keeps
        // only the reason of the last failure the agent recorded, which may be older than the last boot.
        let slot_and_reason = if lb["slot"].is_null() {
            format!(
                "slot not known here (on the device, or with --cmdline, it is); last recorded reason {}",
                s(&lb["reason"])
            )
        } else {
            format!("slot {} reason {}", s(&lb["slot"]), s(&lb["reason"]))
        };
        out.push_str(&format!(
            "last boot: {slot_and_reason}; bootcount {} bootlimit {} upgrade_available {}\n",
            s(&lb["bootcount"]),
            s(&lb["bootlimit"]),
            s(&lb["upgrade_available"])
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{last_boot_slot_reason, render_text, LastBootFacts};
    use serde_json::json;

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
        let text = last_boot(
            json!({ "slot": "fallback", "reason": "primary kernel: SHA-256 mismatch",
            "rolled_back": false, "bootcount": "0", "bootlimit": "3", "upgrade_available": "0" }),
        );
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

    fn last_boot(last_boot: serde_json::Value) -> String {
        render_text(&json!({ "generation": 3, "deployments": [], "last_boot": last_boot }))
    }

    #[test]
    fn a_known_slot_is_the_last_boot() {
        let text = last_boot(
            json!({ "slot": "fallback", "reason": "primary kernel: SHA-256 mismatch",
            "rolled_back": false, "bootcount": "0", "bootlimit": "3", "upgrade_available": "0" }),
        );
        assert_eq!(
            text,
            "No deployments.\nlast boot: slot fallback reason primary kernel: SHA-256 mismatch; bootcount 0 bootlimit 3 upgrade_available 0\n"
        );
    }

    #[test]
    fn off_the_device_an_old_reason_is_not_shown_as_the_last_boot() {
        // After a rollback marked good, the env still holds the failure's reason but no slot.
        let text = last_boot(
            json!({ "slot": null, "reason": "primary kernel: SHA-256 mismatch",
            "rolled_back": false, "bootcount": "0", "bootlimit": "3", "upgrade_available": "0" }),
        );
        assert!(text.contains("slot not known here"), "{text}");
        assert!(
            text.contains("last recorded reason primary kernel: SHA-256 mismatch;"),
            "{text}"
        );
        assert!(!text.contains("slot -"), "{text}");
    }
}
