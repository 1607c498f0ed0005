//! The /etc merge of `admin deploy`, judged by Debian's `ostree admin deploy`: the same repository,
//! the same sysroot set-up, the same local edits to the first deployment's /etc, then the second deploy
//! by each tool; the new /etc trees (type, mode, owner, content, symlink target) and the "Copying /etc
//! changes" lines must be equal. Also `admin status` against ostree's for the same deployments, and a
//! merge ostree refuses (a locally edited file where the new defaults have a directory) refused alike
//! without a new deployment.

#[path = "dropin_common.rs"]
mod common;

use common::*;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Both keep their defaults in /usr/etc (as Yocto trees). `keep_dir`: v2 still has `dir2file/` as a
/// directory.
fn trees(base: &Path, keep_dir: bool) -> (std::path::PathBuf, std::path::PathBuf) {
    let w = |root: &Path, p: &str, data: &str| {
        let f = root.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, data).unwrap();
    };
    let v1 = base.join("v1");
    let v2 = base.join(if keep_dir { "v2b" } else { "v2" });
    os_tree(&v1, 1, "usr/etc");
    os_tree(&v2, 2, "usr/etc");
    for (root, etc, gen) in [(&v1, "usr/etc", "1"), (&v2, "usr/etc", "2")] {
        for f in [
            "mod.conf",
            "keep.conf",
            "gone.conf",
            "secret",
            "f2l",
            "owned",
            "confdir/x",
            "d/existing",
        ] {
            w(root, &format!("{etc}/{f}"), &format!("default {f} {gen}\n"));
        }
        std::os::unix::fs::symlink("mod.conf", root.join(etc).join("link")).unwrap();
    }
    w(&v1, "usr/etc/dropped.conf", "default dropped\n");
    w(&v1, "usr/etc/dir2file/a", "a\n");
    if keep_dir {
        w(&v2, "usr/etc/dir2file/a", "a2\n");
    }
    w(&v2, "usr/etc/v2only.conf", "new in v2\n");
    (v1, v2)
}

/// The device's local changes to the first deployment's /etc.
fn edit(etc: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(etc.join("mod.conf"), "local edit\n").unwrap();
    std::fs::remove_file(etc.join("gone.conf")).unwrap();
    std::fs::write(etc.join("added.conf"), "added locally\n").unwrap();
    std::fs::create_dir_all(etc.join("newdir/sub")).unwrap();
    std::fs::write(etc.join("newdir/sub/f"), "deep\n").unwrap();
    std::fs::write(etc.join("d/new"), "in an existing dir\n").unwrap();
    std::fs::remove_file(etc.join("link")).unwrap();
    std::os::unix::fs::symlink("keep.conf", etc.join("link")).unwrap();
    std::fs::set_permissions(etc.join("secret"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(etc.join("f2l")).unwrap();
    std::os::unix::fs::symlink("keep.conf", etc.join("f2l")).unwrap();
    std::fs::remove_dir_all(etc.join("dir2file")).unwrap();
    std::fs::write(etc.join("dir2file"), "was a directory\n").unwrap();
    std::fs::set_permissions(etc.join("confdir"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(etc.join("confdir/x"), "local x\n").unwrap();
    std::os::unix::fs::lchown(etc.join("owned"), Some(1000), Some(1000)).unwrap();
    std::fs::write(etc.join("dropped.conf"), "kept locally\n").unwrap();
}

struct Device {
    tool: Tool,
    root: std::path::PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Device {
    fn new(base: &Path, tool: Tool, src: &Path) -> Device {
        let root = base.join(tool.name());
        let sysroot = root.join("sysroot");
        std::fs::create_dir_all(&sysroot).unwrap();
        let d = Device {
            tool,
            root,
            env: vec![("OSTREE_SYSROOT", sysroot.display().to_string())],
        };
        let init = match tool {
            Tool::Ostree => "ostree admin init-fs \"$OSTREE_SYSROOT\"",
            Tool::Atomboot => {
                "ostree admin init-fs --boot \"$OSTREE_SYSROOT/boot\" \"$OSTREE_SYSROOT\""
            }
        };
        d.ok(init);
        d.ok("ostree admin os-init os");
        d.ok(&format!("ostree pull-local {} v1 v2 v2b", src.display()));
        d
    }

    fn sh(&self, script: &str) -> Outcome {
        sh(
            self.tool,
            self.root.parent().unwrap(),
            &self.root,
            &self.env,
            script,
        )
    }

    fn ok(&self, script: &str) -> Outcome {
        let o = self.sh(script);
        assert_eq!(o.code, 0, "{}: {script}: {o:?}", self.tool.name());
        o
    }

    fn sysroot(&self) -> std::path::PathBuf {
        self.root.join("sysroot")
    }
}

fn source_repo(base: &Path) -> (std::path::PathBuf, [String; 3]) {
    let (v1, v2) = trees(base, false);
    let (_, v2b) = trees(&base.join("b"), true);
    let src = base.join("src");
    let run = |args: &[&str]| -> String {
        let o = std::process::Command::new(which("ostree"))
            .arg(format!("--repo={}", src.display()))
            .args(args)
            .env("SOURCE_DATE_EPOCH", "1620284889")
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    run(&["init", "--mode=archive"]);
    let mut c = Vec::new();
    for (b, t) in [("v1", &v1), ("v2", &v2), ("v2b", &v2b)] {
        c.push(run(&[
            "commit",
            "-b",
            b,
            "-s",
            b,
            "--add-metadata-string=version=1.0",
            &t.display().to_string(),
        ]));
    }
    (src, [c[0].clone(), c[1].clone(), c[2].clone()])
}

fn ostree_lines(status: &str) -> String {
    status
        .lines()
        .take_while(|l| !l.starts_with("atomboot:") && !l.starts_with("last boot:"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn etc_merge_matrix_matches_ostree() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, [c1, c2, _]) = source_repo(tmp.path());
    let mut results = Vec::new();
    for tool in [Tool::Ostree, Tool::Atomboot] {
        let d = Device::new(tmp.path(), tool, &src);
        d.ok("ostree admin deploy --os=os v1");
        let dep1 = deployment(&d.sysroot(), "os", &c1);
        // A Yocto-style tree (defaults only in /usr/etc) gets an /etc.
        assert!(dep1.join("etc/mod.conf").is_file(), "{}", tool.name());
        edit(&dep1.join("etc"));
        let out = d.ok("ostree admin deploy --os=os v2");
        let merge_line: Vec<String> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("Copying /etc changes"))
            .map(str::to_string)
            .collect();
        let dep2 = deployment(&d.sysroot(), "os", &c2);
        let status = d.ok("ostree admin status").stdout;
        results.push((
            merge_line,
            listing(&dep2.join("etc")),
            listing(&dep2.join("usr/etc")),
            ostree_lines(&status),
        ));
        if tool == Tool::Atomboot {
            // Real copies: no file of the new /etc shares an inode with anything else.
            for e in walk_files(&dep2.join("etc")) {
                let m = std::fs::symlink_metadata(&e).unwrap();
                assert_eq!(m.nlink(), 1, "{} is a hard link", e.display());
            }
        }
    }
    unfreeze(tmp.path());
    let (o, a) = (&results[0], &results[1]);
    assert_eq!(
        o.0,
        vec!["Copying /etc changes: 9 modified, 1 removed, 5 added"]
    );
    assert_eq!(o.0, a.0, "the merge counts differ");
    assert_eq!(o.1, a.1, "the merged /etc differs from ostree's");
    assert_eq!(o.2, a.2, "/usr/etc differs");
    assert_eq!(o.3, a.3, "admin status differs from ostree's");
    // The cases, as ostree resolved them (so the comparison above covers each).
    let has = |p: &str| o.1.iter().any(|l| l.starts_with(p));
    for line in [
        "mod.conf 100644 0:0 \"local edit\\n\"",
        "keep.conf 100644 0:0 \"default keep.conf 2\\n\"",
        "link 120777 0:0 -> keep.conf",
        "secret 100600 0:0",
        "f2l 120777 0:0 -> keep.conf",
        "dir2file 100644 0:0 \"was a directory\\n\"",
        "owned 100644 1000:1000",
        "newdir/sub/f 100644",
        "d/new 100644",
        "dropped.conf 100644 0:0 \"kept locally\\n\"",
        "v2only.conf 100644",
    ] {
        assert!(has(line), "{line} not in {:#?}", o.1);
    }
    assert!(!has("gone.conf"), "{:#?}", o.1);
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            v.extend(walk_files(&p));
        } else if m.is_file() {
            v.push(p);
        }
    }
    v
}

#[test]
fn a_local_file_where_the_new_defaults_have_a_directory_is_refused_like_ostree() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, [c1, _, c2b]) = source_repo(tmp.path());
    for tool in [Tool::Ostree, Tool::Atomboot] {
        let d = Device::new(tmp.path(), tool, &src);
        d.ok("ostree admin deploy --os=os v1");
        edit(&deployment(&d.sysroot(), "os", &c1).join("etc"));
        let o = d.sh("ostree admin deploy --os=os v2b");
        assert_ne!(o.code, 0, "{}: {o:?}", tool.name());
        assert!(
            o.stderr
                .contains("Modified config file newly defaults to directory 'dir2file'"),
            "{}: {}",
            tool.name(),
            o.stderr
        );
        if tool == Tool::Atomboot {
            // Nothing of the refused deployment is left.
            let dir = d.sysroot().join("ostree/deploy/os/deploy");
            let names: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert!(!names.iter().any(|n| n.contains(&c2b)), "{names:?}");
        }
    }
    unfreeze(tmp.path());
}

/// A tree with its defaults in /etc only (as Debian's): ostree 2022.7 moves /etc to /usr/etc and then
/// fails to check /usr/etc out of the commit; atomboot keeps the moved /usr/etc and copies it to /etc
/// (README, "Differences from ostree").
#[test]
fn a_tree_with_etc_only_gets_usr_etc() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("t");
    os_tree(&t, 1, "etc");
    let src = tmp.path().join("src");
    for args in [
        vec!["init".to_string(), "--mode=archive".into()],
        vec![
            "commit".into(),
            "-b".into(),
            "v1".into(),
            "--orphan".into(),
            t.display().to_string(),
        ],
    ] {
        let o = std::process::Command::new(which("ostree"))
            .arg(format!("--repo={}", src.display()))
            .args(&args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
    }
    for tool in [Tool::Ostree, Tool::Atomboot] {
        let root = tmp.path().join(tool.name());
        let sysroot = root.join("sysroot");
        std::fs::create_dir_all(&sysroot).unwrap();
        let env = vec![("OSTREE_SYSROOT", sysroot.display().to_string())];
        let init = match tool {
            Tool::Ostree => "ostree admin init-fs \"$OSTREE_SYSROOT\"",
            Tool::Atomboot => {
                "ostree admin init-fs --boot \"$OSTREE_SYSROOT/boot\" \"$OSTREE_SYSROOT\""
            }
        };
        let script = format!(
            "set -e\n{init}\nostree admin os-init os\nostree pull-local {} v1\nostree admin deploy --os=os v1",
            src.display()
        );
        let o = sh(tool, tmp.path(), &root, &env, &script);
        match tool {
            Tool::Ostree => assert!(
                o.code == 1
                    && o.stderr
                        .contains("Preparing /etc: No such file or directory: /usr/etc"),
                "{o:?}"
            ),
            Tool::Atomboot => {
                assert_eq!(o.code, 0, "{o:?}");
                let dep = sysroot.join("ostree/deploy/os/deploy");
                let d = std::fs::read_dir(&dep)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .find(|p| p.is_dir())
                    .unwrap();
                assert_eq!(
                    std::fs::read(d.join("usr/etc/hostname")).unwrap(),
                    b"device\n"
                );
                assert_eq!(listing(&d.join("etc")), listing(&d.join("usr/etc")));
            }
        }
    }
    unfreeze(tmp.path());
}
