//! One test per drop-in item (issue 18): the same shell script run with `ostree` being Debian's ostree and
//! then atomboot, from the same start (a source repository `src` with three commits on `main`, a client
//! `c` with `origin` pointing at it; SOURCE_DATE_EPOCH makes the checksums equal); exit codes and
//! outputs must be equal. Where atomboot differs on purpose, the test says so and checks each side.

#[path = "dropin_common.rs"]
mod common;

use common::*;
use std::path::{Path, PathBuf};

const PRELUDE: &str = r#"
for v in 1 2 3; do
  mkdir -p t$v/usr/etc t$v/usr/bin
  echo "conf $v" > t$v/usr/etc/app.conf
  echo "bin" > t$v/usr/bin/app
done
echo extra > t3/usr/etc/extra
ostree --repo=src init --mode=archive >/dev/null
for v in 1 2 3; do ostree --repo=src commit -b main -s "v$v" t$v >/dev/null; done
ostree --repo=src summary -u
ostree --repo=c init --mode=archive
ostree --repo=c remote add --no-gpg-verify origin file://$PWD/src
"#;

/// Runs PRELUDE + `script` for both tools; returns (ostree, atomboot) outcomes and their directories.
fn both_raw(script: &str, env: &[(&str, String)]) -> (Vec<(Outcome, PathBuf)>, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = Vec::new();
    for tool in [Tool::Ostree, Tool::Atomboot] {
        let dir = tmp.path().join(tool.name());
        std::fs::create_dir_all(&dir).unwrap();
        let o = sh(tool, tmp.path(), &dir, env, &format!("{PRELUDE}\n{script}"));
        v.push((o, dir));
    }
    (v, tmp)
}

/// Both tools: equal exit code and stdout; returns atomboot's outcome.
fn same(script: &str) -> Outcome {
    let (v, _tmp) = both_raw(script, &[]);
    let (o, a) = (&v[0].0, &v[1].0);
    assert_eq!(
        (o.code, &o.stdout),
        (a.code, &a.stdout),
        "\n--- ostree:\n{}{}\n--- atomboot:\n{}{}",
        o.stdout,
        o.stderr,
        a.stdout,
        a.stderr
    );
    a.clone()
}

// 1
#[test]
fn a_ref_found_only_under_a_remote_resolves_as_in_ostree() {
    let a = same(
        "ostree pull --repo=c origin:main >/dev/null\n\
         ostree log main --repo=c\nostree rev-parse --repo=c main\n\
         ostree checkout --repo=c main co && cat co/usr/etc/app.conf\n\
         ostree log origin/main --repo=c | head -1",
    );
    assert!(a.stdout.contains("conf 3"), "{a:?}");
}

// 3
#[test]
fn remote_add_takes_branches_after_the_url() {
    same(
        "ostree --repo=c remote add --no-gpg-verify o2 http://127.0.0.1:1/ main dev; echo rc=$?\n\
         ostree --repo=c config get 'remote \"o2\".branches'\ngrep -A3 'remote \"o2\"' c/config",
    );
}

// 4
#[test]
fn summary_ignores_extra_arguments() {
    same(
        "rm src/summary\nostree --repo=src summary -u OSTREE_REFS_REPO=; echo rc=$?\n\
         test -f src/summary && echo made\n\
         ostree summary --repo=src ./src/branch.summary -u; echo rc=$?",
    );
}

// 5
#[test]
fn config_refs_and_summary_are_world_readable_whatever_the_umask() {
    let a = same(
        "umask 077\nostree --repo=u init --mode=archive\nostree --repo=u commit -b x t1 >/dev/null\n\
         ostree --repo=u summary -u\nostree --repo=u remote add --no-gpg-verify o http://127.0.0.1:1/\n\
         stat -c '%a %n' u/config u/summary u/refs/heads/x",
    );
    assert!(a.stdout.starts_with("644 u/config\n"), "{a:?}");
}

// 6: the system repository's remotes in SYSROOT/etc/ostree/remotes.d, for repository verbs and for
// `admin upgrade`. (ostree reads them only for / or a booted sysroot; here SYSROOT is a directory.)
#[test]
fn remotes_in_remotes_d_are_honoured() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let s = root.join("sysroot");
    std::fs::create_dir_all(&s).unwrap();
    let env = vec![("OSTREE_SYSROOT", s.display().to_string())];
    os_tree(&root.join("t1"), 1, "usr/etc");
    os_tree(&root.join("t2"), 2, "usr/etc");
    let o = sh(
        Tool::Atomboot,
        root,
        root,
        &env,
        r#"set -e
ostree --repo=src init --mode=archive
ostree --repo=src commit -b os/stable -s one t1 >/dev/null
ostree admin init-fs --boot "$OSTREE_SYSROOT/boot" "$OSTREE_SYSROOT" >/dev/null
ostree admin os-init poky >/dev/null
mkdir -p "$OSTREE_SYSROOT/etc/ostree/remotes.d"
printf '[remote "vendor"]\nurl=file://%s/src\ngpg-verify=false\n' "$PWD" > "$OSTREE_SYSROOT/etc/ostree/remotes.d/vendor.conf"
ostree remote list
ostree remote show-url vendor
ostree pull vendor os/stable >/dev/null
ostree admin deploy vendor:os/stable >/dev/null
ostree --repo=src commit -b os/stable -s two t2
ostree admin upgrade
"#,
    );
    assert_eq!(o.code, 0, "{o:?}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "vendor");
    assert!(lines[1].starts_with("file://"), "{o:?}");
    let c2 = lines[2];
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("deployed /ostree/deploy/poky/deploy/{c2}.0"))),
        "{o:?}"
    );
    unfreeze(root);
}

// 7
#[test]
fn a_stateroot_made_by_ostree_os_init_is_deployed_to() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let s = root.join("sysroot");
    std::fs::create_dir_all(&s).unwrap();
    os_tree(&root.join("t1"), 1, "usr/etc");
    let env = vec![("OSTREE_SYSROOT", s.display().to_string())];
    let made = sh(
        Tool::Ostree,
        root,
        root,
        &env,
        "set -e\nostree admin init-fs \"$OSTREE_SYSROOT\"\nostree admin os-init poky\n\
         ostree --repo=src init --mode=archive\nostree --repo=src commit -b os/stable t1 >/dev/null",
    );
    assert_eq!(made.code, 0, "{made:?}");
    assert!(!s.join("ostree/deploy/poky/deploy").exists());
    let o = sh(
        Tool::Atomboot,
        root,
        root,
        &env,
        "set -e\nostree admin init-fs --boot \"$OSTREE_SYSROOT/boot\" \"$OSTREE_SYSROOT\" >/dev/null\n\
         ostree pull-local src os/stable >/dev/null\nostree admin deploy --os=poky os/stable",
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stdout.contains("deployed /ostree/deploy/poky/deploy/"),
        "{o:?}"
    );
}

// 8
#[test]
fn unlock_refuses_when_not_booted_into_a_deployment() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for tool in [Tool::Ostree, Tool::Atomboot] {
        let s = root.join(tool.name());
        std::fs::create_dir_all(&s).unwrap();
        let env = vec![("OSTREE_SYSROOT", s.display().to_string())];
        let init = match tool {
            Tool::Ostree => "ostree admin init-fs \"$OSTREE_SYSROOT\"",
            Tool::Atomboot => {
                "ostree admin init-fs --boot \"$OSTREE_SYSROOT/boot\" \"$OSTREE_SYSROOT\""
            }
        };
        let o = sh(
            tool,
            root,
            root,
            &env,
            &format!("{init} >/dev/null\nostree admin os-init os >/dev/null\nostree admin unlock --hotfix"),
        );
        assert_eq!(o.code, 1, "{}: {o:?}", tool.name());
        assert!(
            o.stderr
                .to_lowercase()
                .contains("not currently booted into an ostree system"),
            "{}: {}",
            tool.name(),
            o.stderr
        );
    }
}

// 9: the flags scripts use.
#[test]
fn refs_prefix_and_list() {
    same(
        "ostree --repo=c pull origin main >/dev/null\nostree --repo=src refs\n\
         ostree --repo=src commit -b os/a t1 >/dev/null\nostree --repo=src commit -b os/b/c t2 >/dev/null\n\
         ostree --repo=src refs | sort\nostree --repo=src refs os | sort\n\
         ostree --repo=src refs --list os | sort\nostree --repo=c refs",
    );
}

#[test]
fn summary_verbose_views_the_summary() {
    let a = same("ostree --repo=src summary -v | grep -c Latest");
    assert_eq!(a.stdout, "1\n");
}

#[test]
fn pull_depth_and_mirror() {
    same(
        "ostree --repo=c pull --depth=1 origin main >/dev/null\nostree --repo=c log origin:main\n\
         ostree --repo=c pull --depth=-1 origin main >/dev/null\nostree --repo=c log origin:main | grep -c ^commit\n\
         ostree --repo=m init --mode=archive\nostree --repo=m remote add --no-gpg-verify origin file://$PWD/src\n\
         ostree --repo=m pull --mirror origin main >/dev/null\nostree --repo=m refs",
    );
}

#[test]
fn remote_show_url_and_add_if_not_exists() {
    same(
        "ostree --repo=c remote show-url origin | sed \"s|$PWD|PWD|\"\n\
         ostree --repo=c remote add --if-not-exists --no-gpg-verify origin http://127.0.0.1:1/; echo rc=$?\n\
         ostree --repo=c remote show-url origin | sed \"s|$PWD|PWD|\"\n\
         ostree --repo=c remote add --no-gpg-verify origin http://127.0.0.1:1/ 2>/dev/null; echo rc=$?",
    );
}

#[test]
fn config_get_and_set() {
    same(
        "ostree --repo=c config get core.mode\nostree --repo=c config set core.foo bar\n\
         ostree --repo=c config get core.foo\nostree --repo=c config get core.nokey 2>/dev/null; echo rc=$?\n\
         ostree --repo=c config get 'remote \"origin\".url' | sed 's|.*/src|src|'",
    );
}

#[test]
fn diff_two_commits_and_against_the_parent() {
    same("ostree --repo=src diff main^^ main\nostree --repo=src diff main");
}

#[test]
fn checkout_subpath() {
    same(
        "ostree --repo=src checkout --subpath=/usr/etc main out\nls -la out | sed 1d | awk '{print $1, $NF}'\n\
         cat out/extra",
    );
}

#[test]
fn fsck_delete_removes_the_corrupt_object_and_a_pull_repairs_it() {
    let a = same(
        "ostree --repo=c pull origin main >/dev/null\n\
         f=$(ls c/objects/*/*.filez | head -1); rm $f; echo garbage > $f\n\
         ostree --repo=c fsck --delete >/dev/null 2>&1; echo rc=$?\n\
         test -e $f || echo deleted\n\
         ostree --repo=c pull origin main >/dev/null; ostree --repo=c fsck >/dev/null; echo rc=$?",
    );
    assert_eq!(a.stdout, "rc=1\ndeleted\nrc=0\n");
}

#[test]
fn ls_dironly() {
    same("ostree --repo=src ls -d main /usr\nostree --repo=src ls -d main /usr/etc/app.conf");
}

#[test]
fn commit_orphan_skip_if_unchanged_and_tree_ref() {
    let a = same(
        "ostree --repo=src commit --orphan -s o t1\nostree --repo=src refs\n\
         ostree --repo=src commit -b main --skip-if-unchanged -s again t3\n\
         ostree --repo=src log main | grep -c ^commit\n\
         ostree --repo=src commit -b copy --tree=ref=main -s copy\nostree --repo=src ls copy /usr/etc",
    );
    assert!(a.stdout.lines().count() > 4, "{a:?}");
}

#[test]
fn log_with_a_short_checksum_and_timestamps_with_a_zone_name() {
    same(
        "c=$(ostree --repo=src rev-parse main)\nostree --repo=src log ${c:0:10} | head -3\n\
         ostree --repo=src commit -b ts --timestamp='2021-05-06 07:08:09 UTC' -s ts t1\n\
         ostree --repo=src show ts | grep Date",
    );
}

#[test]
fn prune_deletes_what_no_commit_reaches() {
    same(
        "o=$(ostree --repo=src commit --orphan -s doomed t3)\n\
         ostree --repo=src prune --refs-only | head -1\n\
         ostree --repo=src commit --orphan -s doomed2 t3 >/dev/null\n\
         c=$(ostree --repo=src commit --orphan -s gone t2)\necho extra2 > t2/usr/etc/new\n\
         c=$(ostree --repo=src commit --orphan -s gone2 t2)\nrm src/objects/${c:0:2}/${c:2}.commit\n\
         ostree --repo=src prune | sed 's/ objects, .*/ objects/'\n\
         ostree --repo=src prune | sed 's/ objects, .*/ objects/'\nostree --repo=src fsck >/dev/null; echo rc=$?",
    );
}

#[test]
fn the_repository_comes_from_the_current_directory_or_ostree_repo() {
    let (v, _tmp) = both_raw(
        "cd src && ostree refs && cd ..\nOSTREE_REPO=src ostree refs\n\
         cd c && OSTREE_REPO=../src ostree refs; echo rc=$?",
        &[],
    );
    assert_eq!(
        (v[0].0.code, &v[0].0.stdout),
        (v[1].0.code, &v[1].0.stdout),
        "{v:?}"
    );
    assert_eq!(v[1].0.stdout, "main\nmain\nrc=0\n");
    let _: &Path = &v[0].1;
}
