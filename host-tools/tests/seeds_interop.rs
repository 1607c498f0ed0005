//! The seeds' own command sequences (/work/shared/seeds 000, 001, 002: an OSTree how-to for a netmodule
//! board, meta-updater's quick start, a ramdisk update demo), run verbatim by bash with `ostree` on PATH
//! being Debian's ostree 2022.7 and then atomboot, each in its own directory with its own sysroot
//! (`OSTREE_SYSROOT`, what a device's `/` is). The seeds' addresses (`http://10.10.192.121:8000/`,
//! `https://nmrepo.netmodule.com/...`, `http://<your-ip>:<port>`) point at a loopback server
//! (scripts/serve-repo.py) and their placeholders (`OSTREE_REPO_NAME`, `<branch>`) are given values;
//! nothing else is changed. Commits use SOURCE_DATE_EPOCH, so checksums and `log` are comparable.
//!
//! For every command both tools must exit alike; where the output is the same by design (init, commit,
//! log, refs, remote refs, summary, status's ostree lines, checkout results) it must be byte-equal.
//! `pull` and `admin deploy` print progress in their own words (README, "Differences from ostree"),
//! except deploy's "Copying /etc changes" line, which is compared.

#[path = "dropin_common.rs"]
mod common;

use common::*;
use std::path::Path;

/// How a step's output is compared.
#[derive(Clone, Copy, PartialEq)]
enum Cmp {
    /// Exit code and stdout.
    Same,
    /// Exit code, and the "Copying /etc changes" lines.
    Exit,
    /// An `admin deploy` without `--os` on a sysroot that is not booted: ostree refuses ("Not
    /// currently booted into an OSTree system and no --os= argument given"), atomboot deploys the only
    /// stateroot (README, "Differences from ostree"). ostree's refusal is checked, then the same command
    /// with `--os=OS` gives ostree's state to compare with, as Exit.
    OfflineDeploy(&'static str),
}

struct Run<'a> {
    tool: Tool,
    base: &'a Path,
    env: Vec<(&'static str, String)>,
    log: Vec<(String, Cmp, Outcome)>,
}

impl Run<'_> {
    fn step(&mut self, cwd: &Path, cmp: Cmp, script: &str) -> Outcome {
        let mut o = sh(self.tool, self.base, cwd, &self.env, script);
        if let (Cmp::OfflineDeploy(os), Tool::Ostree) = (cmp, self.tool) {
            assert!(
                o.code == 1
                    && o.stderr.contains(
                        "Not currently booted into an OSTree system and no --os= argument given"
                    ),
                "{o:?}"
            );
            let with_os = script.replacen("admin deploy", &format!("admin deploy --os={os}"), 1);
            o = sh(self.tool, self.base, cwd, &self.env, &with_os);
        }
        self.log.push((script.to_string(), cmp, o.clone()));
        o
    }
}

fn etc_lines(s: &str) -> Vec<&str> {
    s.lines()
        .filter(|l| l.starts_with("Copying /etc changes"))
        .collect()
}

/// The lines of `admin status` that ostree prints (atomboot adds its own after them).
fn ostree_lines(status: &str) -> String {
    status
        .lines()
        .take_while(|l| {
            !(l.starts_with("atomboot:")
                || l.starts_with("last boot:")
                || l.starts_with("boot partition")
                || l.starts_with("AUTOMATIC ROLLBACK"))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Each run has its own server: its port is not part of the comparison.
fn unport(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("127.0.0.1:") {
        out.push_str(&rest[..i + 10]);
        rest = rest[i + 10..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push_str("PORT");
    }
    out.push_str(rest);
    out
}

/// Both runs executed the same steps: compare them step by step.
fn compare(o: &Run, a: &Run) {
    assert_eq!(o.log.len(), a.log.len());
    for ((script, cmp, x), (_, _, y)) in o.log.iter().zip(&a.log) {
        let (x, y) = (
            &Outcome {
                stdout: unport(&x.stdout),
                ..x.clone()
            },
            &Outcome {
                stdout: unport(&y.stdout),
                ..y.clone()
            },
        );
        let ctx = format!(
            "step `{script}`\n--- ostree (exit {}):\n{}{}\n--- atomboot (exit {}):\n{}{}",
            x.code, x.stdout, x.stderr, y.code, y.stdout, y.stderr
        );
        assert_eq!(x.code, y.code, "exit codes differ: {ctx}");
        match cmp {
            Cmp::Same => assert_eq!(x.stdout, y.stdout, "outputs differ: {ctx}"),
            Cmp::Exit | Cmp::OfflineDeploy(_) => assert_eq!(
                etc_lines(&x.stdout),
                etc_lines(&y.stdout),
                "/etc merge lines differ: {ctx}"
            ),
        }
    }
}

/// Device set-up before a seed (done by the image build, not by the seed): a sysroot with its
/// stateroots, made by the tool under test; atomboot's boot partition is SYSROOT/boot.
fn device(run: &mut Run, root: &Path, oses: &[&str]) {
    let s = root.join("sysroot");
    std::fs::create_dir_all(&s).unwrap();
    let init = match run.tool {
        Tool::Ostree => "ostree admin init-fs \"$OSTREE_SYSROOT\"".to_string(),
        Tool::Atomboot => {
            "ostree admin init-fs --boot \"$OSTREE_SYSROOT/boot\" \"$OSTREE_SYSROOT\"".to_string()
        }
    };
    let o = sh(run.tool, run.base, root, &run.env, &init);
    assert_eq!(o.code, 0, "{o:?}");
    for os in oses {
        let o = sh(
            run.tool,
            run.base,
            root,
            &run.env,
            &format!("ostree admin os-init {os}"),
        );
        assert_eq!(o.code, 0, "{o:?}");
    }
}

/// A repository as a build machine makes it (the seeds start from one), by the tool under test.
fn build_repo(run: &Run, dir: &Path, repo: &str, branches: &[(&str, u32)]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut script =
        format!("set -e\nostree --repo={repo} init --mode=archive\nexport OSTREE_REPO={repo}\n");
    for (b, v) in branches {
        let t = dir.join(format!("tree-{b}-{v}"));
        os_tree(&t, *v, "usr/etc");
        script.push_str(&format!(
            "ostree commit -b {b} -s 'release {v}' --add-metadata-string=version={v}.0 {}\n",
            t.display()
        ));
    }
    script.push_str("ostree summary -u\n");
    let o = sh(run.tool, run.base, dir, &run.env, &script);
    assert_eq!(o.code, 0, "{o:?}");
}

fn run_both(seed: impl Fn(&mut Run, &Path)) {
    let tmp = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for tool in [Tool::Ostree, Tool::Atomboot] {
        let root = tmp.path().join(tool.name());
        std::fs::create_dir_all(&root).unwrap();
        let mut run = Run {
            tool,
            base: tmp.path(),
            env: vec![("OSTREE_SYSROOT", root.join("sysroot").display().to_string())],
            log: Vec::new(),
        };
        seed(&mut run, &root);
        runs.push(run);
    }
    unfreeze(tmp.path());
    compare(&runs[0], &runs[1]);
}

/// The deployments of the sysroot, each as a listing of its tree (with its merged /etc).
fn deployments(root: &Path) -> Vec<(String, Vec<String>)> {
    let mut v = Vec::new();
    let deploy = root.join("sysroot/ostree/deploy");
    for os in std::fs::read_dir(&deploy).unwrap() {
        let os = os.unwrap().path();
        let Ok(rd) = std::fs::read_dir(os.join("deploy")) else {
            continue;
        };
        for d in rd {
            let d = d.unwrap().path();
            if d.is_dir() && !d.file_name().unwrap().to_string_lossy().starts_with('.') {
                v.push((
                    d.strip_prefix(root).unwrap().display().to_string(),
                    listing(&d),
                ));
            }
        }
    }
    v.sort();
    v
}

#[test]
fn seed_000_netmodule_usb_and_network_updates() {
    let tmp_trees = std::sync::Mutex::new(Vec::new());
    run_both(|run, root| {
        // The USB stick's repository and the vendor's two servers (stable, unstable).
        let usb = root.join("usb");
        build_repo(
            run,
            &usb,
            "ostree_repo",
            &[("dunfell-am335x-nmhw21-vcu", 1)],
        );
        let net = root.join("net");
        let chbe = net.join("chbe");
        build_repo(run, &chbe, "stable", &[("dunfell-am335x-nmhw21-vcu", 2)]);
        build_repo(run, &chbe, "unstable", &[("dunfell-am335x-nmhw21-vcu", 3)]);
        let server = Server::start(&net);
        device(run, root, &["nmhw21"]);
        run.env.push((
            "OSTREE_REPO_PATH",
            usb.join("ostree_repo").display().to_string(),
        ));
        run.env.push(("OSTREE_REPO_NAME", "usb".into()));
        run.env
            .push(("OSTREE_REFS_REPO", "usb:dunfell-am335x-nmhw21-vcu".into()));
        // "Update system with ostree via USB"
        run.step(
            root,
            Cmp::Same,
            "ostree remote add $OSTREE_REPO_NAME file://$OSTREE_REPO_PATH --no-gpg-verify",
        );
        run.step(
            root,
            Cmp::Same,
            "ostree --repo=$OSTREE_REPO_PATH summary -u OSTREE_REFS_REPO=",
        );
        run.step(root, Cmp::Same, "ostree remote refs $OSTREE_REPO_NAME");
        run.step(root, Cmp::Exit, "ostree pull $OSTREE_REFS_REPO");
        run.step(
            root,
            Cmp::OfflineDeploy("nmhw21"),
            "ostree admin deploy $OSTREE_REFS_REPO",
        );
        run.step(root, Cmp::Same, "ostree admin status | grep pending");
        // "Update system with ostree via network" (https://nmrepo.netmodule.com/chbe/... -> loopback)
        let stable = format!("{}chbe/stable/", server.url());
        let unstable = format!("{}chbe/unstable/", server.url());
        run.step(
            root,
            Cmp::Same,
            &format!("ostree remote add nmrepo-stable {stable} --no-gpg-verify"),
        );
        run.step(
            root,
            Cmp::Same,
            &format!("ostree remote add nmrepo-unstable {unstable} --no-gpg-verify"),
        );
        run.step(
            root,
            Cmp::Exit,
            "ostree pull nmrepo-stable dunfell-am335x-nmhw21-vcu",
        );
        run.step(
            root,
            Cmp::Exit,
            "ostree pull nmrepo-unstable dunfell-am335x-nmhw21-vcu",
        );
        run.step(
            root,
            Cmp::OfflineDeploy("nmhw21"),
            "ostree admin deploy nmrepo-stable:dunfell-am335x-nmhw21-vcu",
        );
        run.step(
            root,
            Cmp::OfflineDeploy("nmhw21"),
            "ostree admin deploy nmrepo-unstable:dunfell-am335x-nmhw21-vcu",
        );
        // What the device holds afterwards.
        // ostree also keeps a ref per deployment (ostree/B/S/N); atomboot does not (README).
        run.step(root, Cmp::Same, "ostree refs | grep -v ^ostree/ | sort");
        let st = sh(run.tool, run.base, root, &run.env, "ostree admin status");
        assert_eq!(st.code, 0, "{st:?}");
        run.log.push((
            "ostree admin status (ostree's lines)".into(),
            Cmp::Same,
            Outcome {
                code: 0,
                stdout: ostree_lines(&st.stdout),
                stderr: String::new(),
            },
        ));
        tmp_trees.lock().unwrap().push(deployments(root));
    });
    let t = tmp_trees.into_inner().unwrap();
    // The new default and the previous one (ostree removes the oldest, as atomboot's cleanup).
    assert_eq!(t[0].len(), 2, "{:?}", t[0]);
    assert_eq!(t[0], t[1], "the deployments' trees differ");
}

#[test]
fn seed_001_meta_updater_quick_start() {
    let trees = std::sync::Mutex::new(Vec::new());
    run_both(|run, root| {
        // bitbake's tmp/deploy/images/qemux86-64/ostree_repo, served as the seed serves it.
        let images = root.join("images");
        build_repo(
            run,
            &images,
            "ostree_repo",
            &[("qemux86-64", 1), ("agl-ota", 2)],
        );
        let server = Server::start(&images.join("ostree_repo"));
        device(run, root, &["poky", "agl"]);
        let url = format!("http://127.0.0.1:{}", server.port);
        run.step(
            root,
            Cmp::Same,
            &format!("ostree remote add --no-gpg-verify my-remote {url}"),
        );
        run.step(root, Cmp::Exit, "ostree pull my-remote qemux86-64");
        run.step(
            root,
            Cmp::Exit,
            "ostree admin deploy --os=poky my-remote:qemux86-64",
        );
        run.step(
            root,
            Cmp::Same,
            &format!("ostree remote add --no-gpg-verify agl-snapshot {url}/ agl-ota"),
        );
        run.step(root, Cmp::Exit, "ostree pull agl-snapshot agl-ota");
        run.step(
            root,
            Cmp::Exit,
            "ostree admin deploy --os=agl agl-snapshot:agl-ota",
        );
        run.step(root, Cmp::Same, "ostree remote list -u");
        // ostree also keeps a ref per deployment (ostree/B/S/N); atomboot does not (README).
        run.step(root, Cmp::Same, "ostree refs | grep -v ^ostree/ | sort");
        let st = sh(run.tool, run.base, root, &run.env, "ostree admin status");
        assert_eq!(st.code, 0, "{st:?}");
        run.log.push((
            "ostree admin status (ostree's lines)".into(),
            Cmp::Same,
            Outcome {
                code: 0,
                stdout: ostree_lines(&st.stdout),
                stderr: String::new(),
            },
        ));
        trees.lock().unwrap().push(deployments(root));
    });
    let t = trees.into_inner().unwrap();
    assert_eq!(t[0].len(), 2, "{:?}", t[0]);
    assert_eq!(t[0], t[1], "the deployments' trees differ");
}

#[test]
fn seed_002_ramdisk_update_demo() {
    let trees = std::sync::Mutex::new(Vec::new());
    run_both(|run, root| {
        // 1.1, 1.2 on the server.
        let srv = root.join("server");
        std::fs::create_dir_all(&srv).unwrap();
        run.step(
            &srv,
            Cmp::Same,
            "mkdir -p repo && ostree --repo=repo init --mode=archive-z2 && mkdir -p rootfs",
        );
        run.step(
            &srv,
            Cmp::Same,
            "ostree --repo=repo commit --branch=master --subject=\"image v1 (empty)\" rootfs/",
        );
        // "把文件解压之后，放入rootfs文件夹" (the Yocto rootfs goes into rootfs/).
        os_tree(&srv.join("rootfs"), 2, "etc");
        run.step(
            &srv,
            Cmp::Same,
            "ostree --repo=repo commit --branch=master --subject=\"image v2 (zynq rootfs)\" rootfs/",
        );
        run.step(&srv, Cmp::Same, "ostree log master --repo=repo");
        run.step(
            &srv,
            Cmp::Same,
            "ostree summary --repo=repo ./repo/branch.summary -u",
        );
        // 1.3: python3 -m http.server 8000 --bind 192.168.32.2 --directory repo
        let server = Server::start(&srv.join("repo"));
        // 2.1-2.3 on the client (the SD card's ostree folder).
        let client = root.join("mnt/ostree");
        std::fs::create_dir_all(&client).unwrap();
        run.step(
            &client,
            Cmp::Same,
            "ostree --repo=repo init --mode=archive-z2",
        );
        run.step(
            &client,
            Cmp::Same,
            &format!(
                "ostree remote add --repo=repo --no-gpg-verify origin {}",
                server.url()
            ),
        );
        run.step(&client, Cmp::Exit, "ostree pull --repo=repo origin:master");
        run.step(&client, Cmp::Same, "ostree log master --repo=repo");
        run.step(
            &client,
            Cmp::Same,
            "ostree checkout --repo=repo master sysroot",
        );
        run.step(&client, Cmp::Same, "ostree log master --repo=repo");
        // 3: the ramdisk script's ostree part (cd /mnt/ostree).
        run.step(
            &client,
            Cmp::Same,
            "rm -rf sysroot_new\nostree checkout --repo=repo master sysroot_new",
        );
        run.step(&client, Cmp::Same, "ostree log master --repo=repo");
        trees.lock().unwrap().push((
            listing(&client.join("sysroot")),
            listing(&client.join("sysroot_new")),
        ));
    });
    let t = trees.into_inner().unwrap();
    assert!(
        t[0].0.iter().any(|l| l.starts_with("etc/app.conf ")),
        "{:?}",
        t[0].0
    );
    assert_eq!(t[0], t[1], "the checked-out trees differ");
}
