//! The `atomboot admin` command line end to end: on a FAT image (offline) and on a mounted-style
//! directory, status from a kernel command line, JSON output, and interop with mtools, fsck.vfat and
//! libubootenv's fw_printenv.

#[path = "admin_common.rs"]
mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

struct Cli<'a> {
    sysroot: &'a Path,
    boot: &'a Path,
    repo: &'a Path,
}

impl Cli<'_> {
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_atomboot"))
            .arg("admin")
            .args(args)
            .arg("--sysroot")
            .arg(self.sysroot)
            .arg("--boot")
            .arg(self.boot)
            .arg("--tree-source")
            .arg(self.repo)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
    fn ok(&self, args: &[&str]) -> String {
        let (ok, o, e) = self.run(args);
        assert!(ok, "atomboot admin {args:?} failed: {e}");
        o
    }
    fn status(&self, extra: &[&str]) -> Value {
        let mut a = vec!["status", "--json"];
        a.extend_from_slice(extra);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }
}

fn setup(
    dir: &Path,
    boot_is_image: bool,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let sysroot = dir.join("sysroot");
    let boot = if boot_is_image {
        let img = dir.join("boot.img");
        fat_image(&img, 16 * 1024);
        img
    } else {
        let d = dir.join("bootdir");
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let repo = dir.join("repo");
    let src = host_tools::deploy::source::TreeSource::new(&repo);
    for (name, seed) in [("origin:os/stable", 1u64), ("v2", 2)] {
        let t = tree(dir, seed, 4000, Some(dtb(&["ti,am33xx"])));
        src.add_commit(name, name, &t).unwrap();
    }
    (sysroot, boot, repo)
}

fn scenario(boot_is_image: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (sysroot, boot, repo) = setup(dir.path(), boot_is_image);
    let cli = Cli {
        sysroot: &sysroot,
        boot: &boot,
        repo: &repo,
    };
    // init-fs DIR with --boot prepares both; --sysroot is not needed for init-fs.
    init_fs("am335x", &boot, &sysroot);
    cli.ok(&["os-init", "debian"]);
    let s = cli.status(&[]);
    assert!(s["generation"].is_null());

    cli.ok(&[
        "deploy",
        "--karg",
        "console=ttyS0,115200",
        "origin:os/stable",
    ]);
    let s = cli.status(&[]);
    let d0 = &s["deployments"][0];
    assert_eq!(d0["role"], "default");
    assert_eq!(d0["origin"], "origin:os/stable");
    assert_eq!(d0["boot_files_ok"], true);
    let v1_path = d0["path"].as_str().unwrap().to_string();
    assert_eq!(
        d0["bootargs"],
        format!("ostree={v1_path} console=ttyS0,115200")
    );
    assert_eq!(s["last_boot"]["upgrade_available"], "1");

    // As the running v1 sees it: booted from /proc/cmdline (a copy passed with --cmdline).
    let cmdline = dir.path().join("cmdline");
    std::fs::write(
        &cmdline,
        format!("ostree={v1_path} console=ttyS0,115200 rootwait\n"),
    )
    .unwrap();
    let cl = cmdline.to_str().unwrap();
    assert!(cli
        .ok(&["mark-good", "--cmdline", cl])
        .contains("marked good"));
    assert!(cli
        .ok(&["mark-good", "--cmdline", cl])
        .contains("nothing written"));
    let s = cli.status(&["--cmdline", cl]);
    assert_eq!(s["booted"], v1_path.as_str());
    assert_eq!(s["deployments"][0]["booted"], true);
    assert_eq!(s["last_boot"]["upgrade_available"], "0");
    assert_eq!(
        s["last_boot"]["slot"], "primary",
        "slot derived from the booted deployment"
    );

    // deploy v2 with --karg-proc-cmdline: pending until booted; v1 is the rollback.
    let (ok, _, err) = cli.run(&[
        "deploy",
        "--karg-proc-cmdline",
        "--cmdline",
        cl,
        "--karg",
        "quiet",
        "v2",
    ]);
    assert!(ok, "{err}");
    let s = cli.status(&["--cmdline", cl]);
    let v2_path = s["deployments"][0]["path"].as_str().unwrap().to_string();
    let v2_short = format!("debian:{}", &v2_path.rsplit('/').next().unwrap()[..12]);
    let v2_serial = v2_path.rsplit('.').next().unwrap();
    // One plain progress line per phase on stderr, in the order of the writes (docs/FORMATS.md).
    let v1_short = format!("debian:{}", &v1_path.rsplit('/').next().unwrap()[..12]);
    let v1_serial = v1_path.rsplit('.').next().unwrap();
    let phases: Vec<&str> = err.lines().filter(|l| l.starts_with("deploy: ")).collect();
    let loader =
        format!("written: default {v2_short}.{v2_serial}, fallback {v1_short}.{v1_serial}");
    assert_eq!(phases.len(), 7, "{err}");
    assert!(
        phases[0].starts_with("deploy: checking out ") && phases[0].ends_with(" (v2)"),
        "{err}"
    );
    assert_eq!(
        phases[1],
        format!("deploy: deployment {v2_path} written and synced"),
        "{err}"
    );
    assert!(
        phases[2].starts_with("deploy: boot files /ostree/debian-")
            && phases[2].contains(" ready and synced ("),
        "{err}"
    );
    assert_eq!(
        phases[3],
        "deploy: boot counters written (bootcount=0, upgrade_available=1, atomboot_rollback deleted)",
        "{err}"
    );
    assert!(
        phases[4].starts_with("deploy: loader copy ") && phases[4].ends_with(&loader),
        "{err}"
    );
    assert!(
        phases[5].starts_with("deploy: loader copy ") && phases[5].ends_with(&loader),
        "{err}"
    );
    assert_ne!(phases[4], phases[5], "the two loader copies: {err}");
    assert_eq!(phases[6], "deploy: cleanup", "{err}");
    assert_eq!(s["deployments"][0]["pending"], true);
    assert_eq!(s["deployments"][1]["booted"], true);
    assert_eq!(s["deployments"][1]["rollback"], true);
    assert_eq!(
        s["deployments"][0]["bootargs"],
        format!("ostree={v2_path} console=ttyS0,115200 rootwait quiet")
    );
    let text = cli.ok(&["status", "--cmdline", cl]);
    // ostree's lines: the booted deployment starred, the new default pending; then atomboot's roles.
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].ends_with(" (pending)") && lines[0].starts_with("  ") && text.contains("\n* "),
        "{text}"
    );
    assert!(
        text.contains(" default\n") && text.contains(" fallback\n"),
        "{text}"
    );

    // The agent rolled back (as it records it in the env): status says so, mark-good makes v1 default.
    let mut fs = host_tools::deploy::bootfs::open(&boot).unwrap();
    host_tools::deploy::counters::write(
        fs.as_mut(),
        &[
            ("bootcount", Some("4")),
            ("atomboot_rollback", Some("1")),
            ("atomboot_slot", Some("fallback")),
            ("atomboot_reason", Some("bootcount 4 over bootlimit 3")),
        ],
    )
    .unwrap();
    drop(fs);
    let text = cli.ok(&["status", "--cmdline", cl]);
    assert!(
        text.contains("AUTOMATIC ROLLBACK") && text.contains("bootcount 4 over bootlimit 3"),
        "{text}"
    );
    cli.ok(&["mark-good", "--cmdline", cl]);
    let s = cli.status(&["--cmdline", cl]);
    assert_eq!(s["deployments"][0]["path"], v1_path.as_str());
    assert_eq!(
        s["deployments"][1]["failed"],
        "bootcount 4 over bootlimit 3"
    );
    let (ok, _, err) = cli.run(&["deploy", "v2"]);
    assert!(!ok && err.contains("--force"), "{err}");

    // set-default 1 (v2 again, after all), rollback, undeploy 1, cleanup.
    let (ok, _, err) = cli.run(&["set-default", "1", "--cmdline", cl]);
    assert!(!ok && err.contains("--force"), "{err}");
    cli.ok(&["set-default", "--force", "1", "--cmdline", cl]);
    assert_eq!(cli.status(&[])["deployments"][0]["path"], v2_path.as_str());
    cli.ok(&["rollback"]);
    assert_eq!(cli.status(&[])["deployments"][0]["path"], v1_path.as_str());
    let (ok, _, err) = cli.run(&["undeploy", "0", "--cmdline", cl]);
    assert!(!ok && err.contains("booted"), "{err}");
    cli.ok(&["undeploy", "1", "--cmdline", cl]);
    let s = cli.status(&[]);
    assert_eq!(s["deployments"].as_array().unwrap().len(), 1);
    assert!(s["deployments"][0]["boot_files_ok"] == true);
    cli.ok(&["cleanup"]);
    // upgrade: origin:os/stable has not moved.
    assert!(cli.ok(&["upgrade"]).contains("no upgrade"));

    if boot_is_image {
        fsck_clean(&boot);
        // mtools reads what fatfs wrote.
        let out = Command::new("mtype")
            .arg("-i")
            .arg(&boot)
            .arg("::/loader.0/uEnv.txt")
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("atomboot_format=1"));
        let out = Command::new("mdir")
            .args(["-b", "-i"])
            .arg(&boot)
            .arg("::/ostree")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).lines().count(),
            1,
            "{:?}",
            out
        );
    } else {
        // libubootenv reads the counters the deployer wrote.
        let cfg = dir.path().join("fw_env.config");
        std::fs::write(
            &cfg,
            format!(
                "{} 0 0x4000\n{} 0 0x4000\n",
                boot.join("uboot.env").display(),
                boot.join("uboot-redund.env").display()
            ),
        )
        .unwrap();
        let out = Command::new("fw_printenv")
            .arg("-c")
            .arg(&cfg)
            .output()
            .expect("fw_printenv (libubootenv-tool)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("upgrade_available=1") && text.contains("bootlimit=3"),
            "{text}"
        );
    }
}

#[test]
fn cli_on_fat_image() {
    scenario(true);
}

#[test]
fn cli_on_boot_directory() {
    scenario(false);
}

#[test]
fn unlock_development_is_dropped_by_deploy_hotfix_stays() {
    let dir = tempfile::tempdir().unwrap();
    let (sysroot, boot, repo) = setup(dir.path(), true);
    let cli = Cli {
        sysroot: &sysroot,
        boot: &boot,
        repo: &repo,
    };
    let out = Command::new(env!("CARGO_BIN_EXE_atomboot"))
        .args(["admin", "--board", "am335x", "--boot"])
        .arg(&boot)
        .arg("init-fs")
        .arg(&sysroot)
        .output()
        .unwrap();
    assert!(out.status.success());
    cli.ok(&["os-init", "debian"]);
    cli.ok(&["deploy", "origin:os/stable"]);
    let v1 = cli.status(&[])["deployments"][0]["path"]
        .as_str()
        .unwrap()
        .to_string();
    let marker = sysroot.join(format!("{}.unlocked", v1.trim_start_matches('/')));
    let cmdline = dir.path().join("cmdline");
    std::fs::write(&cmdline, format!("ostree={v1}\n")).unwrap();
    let cl = cmdline.to_str().unwrap();
    assert!(cli.ok(&["unlock", "--cmdline", cl]).contains("development"));
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "development\n");
    assert!(sysroot
        .join(format!("{}.usr-upper", v1.trim_start_matches('/')))
        .is_dir());
    let (ok, _, err) = cli.run(&["unlock", "--cmdline", cl]);
    assert!(!ok && err.contains("already unlocked"), "{err}");
    cli.ok(&["deploy", "--cmdline", cl, "v2"]);
    assert!(!marker.exists(), "development unlock survived a deploy");
    cli.ok(&["unlock", "--hotfix", "--cmdline", cl]);
    cli.ok(&["deploy", "--cmdline", cl, "v2"]);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "hotfix\n");
}

/// The automatic rollback driven by the agent library itself: a deployed update is never marked good, the
/// agent counts its boots (its env writes applied as boot.scr's fatwrite would), falls back past bootlimit;
/// `admin status` reports it with the agent's reason, `mark-good` on the fallback makes it the default, and
/// the failed commit needs --force.
#[test]
fn agent_driven_rollback_then_mark_good() {
    let dir = tempfile::tempdir().unwrap();
    let (sysroot, boot, repo) = setup(dir.path(), true);
    let cli = Cli {
        sysroot: &sysroot,
        boot: &boot,
        repo: &repo,
    };
    let out = Command::new(env!("CARGO_BIN_EXE_atomboot"))
        .args(["admin", "--board", "am335x", "--boot"])
        .arg(&boot)
        .arg("init-fs")
        .arg(&sysroot)
        .output()
        .unwrap();
    assert!(out.status.success());
    cli.ok(&["os-init", "debian"]);
    cli.ok(&[
        "deploy",
        "--karg",
        "console=ttyS0,115200",
        "origin:os/stable",
    ]);
    let (v1, slot, args) = agent_boot(&boot).unwrap();
    assert_eq!(slot, "primary");
    // The running v1 sees its own command line (the agent's bootargs) and marks itself good.
    let cmdline = dir.path().join("cmdline");
    std::fs::write(&cmdline, &args).unwrap();
    let cl = cmdline.to_str().unwrap();
    cli.ok(&["mark-good", "--cmdline", cl]);
    cli.ok(&["deploy", "--cmdline", cl, "v2"]);
    let mut seen = Vec::new();
    for _ in 0..5 {
        let (dep, slot, _) = agent_boot(&boot).unwrap();
        seen.push((dep == v1, slot));
    }
    // Three trial boots of v2 (bootlimit 3), then the fallback v1, and it stays there.
    assert_eq!(
        seen,
        vec![
            (false, "primary"),
            (false, "primary"),
            (false, "primary"),
            (true, "fallback"),
            (true, "fallback")
        ]
    );
    let (_, _, args) = agent_boot(&boot).unwrap();
    std::fs::write(&cmdline, &args).unwrap();
    let text = cli.ok(&["status", "--cmdline", cl]);
    assert!(text.contains("AUTOMATIC ROLLBACK"), "{text}");
    assert!(text.contains("bootlimit"), "{text}");
    let s = cli.status(&["--cmdline", cl]);
    assert_eq!(s["last_boot"]["slot"], "fallback");
    assert_eq!(s["deployments"][1]["booted"], true);
    // Offline (no command line, as on an image read by the host): the recorded rollback says fallback.
    let offline = cli.status(&[]);
    assert_eq!(offline["last_boot"]["slot"], "fallback", "{offline}");
    cli.ok(&["mark-good", "--cmdline", cl]);
    let (dep, slot, _) = agent_boot(&boot).unwrap();
    assert_eq!((dep == v1, slot), (true, "primary"));
    let (ok, _, err) = cli.run(&["deploy", "--cmdline", cl, "v2"]);
    assert!(!ok && err.contains("--force"), "{err}");
    fsck_clean(&boot);
}
