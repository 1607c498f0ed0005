//! ed25519 signatures against the real thing: an ostree built with libsodium
//! (scripts/setup-ostree-ed25519.sh, /opt/ostree-ed25519) verifies and pulls over HTTP what atomboot
//! signed, atomboot verifies and pulls what it signed, both write the same `.commitmeta` bytes, and
//! PyNaCl with GLib's own GVariant parser checks our signatures over the exact commit and summary bytes.
//! The CLI refuses unsigned commits on pull and on `admin deploy` (also with --force).

#[path = "admin_common.rs"]
mod common;

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::serve;

const OSTREE_ED25519: &str = "/opt/ostree-ed25519/bin/ostree";
/// Debian's python (PyNaCl, GLib through gi), not whatever python3 comes first in PATH.
const PYTHON: &str = "/usr/bin/python3";

fn referee() -> &'static str {
    assert!(
        Path::new(OSTREE_ED25519).exists(),
        "{OSTREE_ED25519} is missing: run scripts/setup-ostree-ed25519.sh (scripts/setup.sh does)"
    );
    OSTREE_ED25519
}

fn run(prog: &str, args: &[&str]) -> Output {
    let p = if prog == "atomboot" {
        env!("CARGO_BIN_EXE_atomboot")
    } else {
        prog
    };
    Command::new(p)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {p}: {e}"))
}

fn ok(prog: &str, args: &[&str]) -> String {
    let o = run(prog, args);
    assert!(
        o.status.success(),
        "{prog} {args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs, expects failure, returns stderr.
fn fails(prog: &str, args: &[&str]) -> String {
    let o = run(prog, args);
    assert!(
        !o.status.success(),
        "{prog} {args:?} succeeded: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn repo(p: &Path) -> String {
    format!("--repo={}", p.display())
}

fn make_tree(root: &Path, n: u8) -> PathBuf {
    let t = root.join(format!("tree{n}"));
    fs::create_dir_all(t.join("usr/lib")).unwrap();
    for i in 0..20u8 {
        fs::write(
            t.join(format!("usr/lib/f{i}")),
            vec![i ^ n; 100 * i as usize + 1],
        )
        .unwrap();
    }
    std::os::unix::fs::symlink("lib/f1", t.join("usr/link")).unwrap();
    t
}

/// An independent key pair from PyNaCl: (secret as ostree reads it: base64 of seed + public; public).
fn pynacl_keypair() -> (String, String) {
    let out = ok(
        PYTHON,
        &[
            "-c",
            "import base64, nacl.signing\n\
             k = nacl.signing.SigningKey.generate()\n\
             pk = bytes(k.verify_key)\n\
             print(base64.b64encode(bytes(k) + pk).decode())\n\
             print(base64.b64encode(pk).decode())",
        ],
    );
    let mut l = out.lines();
    (l.next().unwrap().into(), l.next().unwrap().into())
}

/// `sign-keygen` into `dir`: (secret, public).
fn atomboot_keypair(dir: &Path, name: &str) -> (String, String) {
    let prefix = dir.join(name);
    let public = ok("atomboot", &["sign-keygen", prefix.to_str().unwrap()]);
    let secret = fs::read_to_string(dir.join(format!("{name}.secret"))).unwrap();
    assert_eq!(
        public.trim(),
        fs::read_to_string(dir.join(format!("{name}.pub")))
            .unwrap()
            .trim()
    );
    (secret.trim().into(), public.trim().into())
}

fn commitmeta(repo: &Path, c: &str) -> PathBuf {
    repo.join(format!("objects/{}/{}.commitmeta", &c[..2], &c[2..]))
}

fn commit_object(repo: &Path, c: &str) -> PathBuf {
    repo.join(format!("objects/{}/{}.commit", &c[..2], &c[2..]))
}

#[test]
fn ostree_verifies_and_pulls_what_atomboot_signs() {
    let ostree = referee();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (sk, pk) = atomboot_keypair(d, "build");
    let (_, stranger_pk) = atomboot_keypair(d, "stranger");
    let server = d.join("server");
    ok("atomboot", &[&repo(&server), "init", "--mode=archive"]);
    let t = make_tree(d, 1);
    let sign = format!("--sign={sk}");
    let c = ok(
        "atomboot",
        &[
            &repo(&server),
            "commit",
            "-b",
            "os/stable",
            "-s",
            "v1",
            &sign,
            "--sign-type=ed25519",
            t.to_str().unwrap(),
        ],
    )
    .trim()
    .to_string();
    ok("atomboot", &[&repo(&server), "summary", "-u", &sign]);

    // ostree sign --verify: the key is accepted, a stranger's is not.
    let out = ok(ostree, &[&repo(&server), "sign", "--verify", &c, &pk]);
    assert!(
        out.contains("ed25519: Signature verified successfully with key"),
        "{out}"
    );
    let e = fails(
        ostree,
        &[&repo(&server), "sign", "--verify", &c, &stranger_pk],
    );
    assert!(e.contains("No valid signatures found"), "{e}");

    // ostree pulls it over HTTP with sign-verify (key file) and sign-verify-summary.
    let url = serve(server.clone());
    let client = d.join("ostree-client");
    ok(ostree, &[&repo(&client), "init", "--mode=archive"]);
    let keyfile = format!("ed25519=file:{}", d.join("build.pub").display());
    ok(
        ostree,
        &[
            &repo(&client),
            "remote",
            "add",
            "--no-gpg-verify",
            "--sign-verify",
            &keyfile,
            "--set=sign-verify-summary=true",
            "origin",
            &url,
        ],
    );
    ok(ostree, &[&repo(&client), "pull", "origin", "os/stable"]);
    assert_eq!(
        ok(ostree, &[&repo(&client), "rev-parse", "origin:os/stable"]).trim(),
        c
    );
    ok(ostree, &[&repo(&client), "fsck"]);

    // ... and refuses it with a stranger's key.
    let client2 = d.join("ostree-client2");
    ok(ostree, &[&repo(&client2), "init", "--mode=archive"]);
    let inline = format!("ed25519=inline:{stranger_pk}");
    ok(
        ostree,
        &[
            &repo(&client2),
            "remote",
            "add",
            "--no-gpg-verify",
            "--sign-verify",
            &inline,
            "origin",
            &url,
        ],
    );
    let e = fails(ostree, &[&repo(&client2), "pull", "origin", "os/stable"]);
    assert!(e.contains("Can't verify commit"), "{e}");

    // Our signed summary is refused by ostree once tampered with.
    let client3 = d.join("ostree-client3");
    ok(ostree, &[&repo(&client3), "init", "--mode=archive"]);
    let inline = format!("ed25519=inline:{pk}");
    ok(
        ostree,
        &[
            &repo(&client3),
            "remote",
            "add",
            "--no-gpg-verify",
            "--sign-verify",
            &inline,
            "--set=sign-verify-summary=true",
            "origin",
            &url,
        ],
    );
    let sp = server.join("summary");
    let mut summary = fs::read(&sp).unwrap();
    let last = summary.len() - 1;
    summary[last - 40] ^= 0x20;
    fs::write(&sp, &summary).unwrap();
    let e = fails(ostree, &[&repo(&client3), "pull", "origin", "os/stable"]);
    assert!(e.contains("ed25519") || e.contains("ignature"), "{e}");
}

#[test]
fn atomboot_verifies_and_pulls_what_ostree_signs_with_the_same_bytes() {
    let ostree = referee();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (sk, pk) = pynacl_keypair();
    let (_, stranger_pk) = atomboot_keypair(d, "stranger");
    let server = d.join("server");
    ok(ostree, &[&repo(&server), "init", "--mode=archive"]);
    let t = make_tree(d, 2);
    let sign = format!("--sign={sk}");
    let c = ok(
        ostree,
        &[
            &repo(&server),
            "commit",
            "-b",
            "os/stable",
            "-s",
            "v2",
            &sign,
            t.to_str().unwrap(),
        ],
    )
    .trim()
    .to_string();
    ok(ostree, &[&repo(&server), "summary", "-u", &sign]);

    let out = ok("atomboot", &[&repo(&server), "sign", "--verify", &c, &pk]);
    assert!(
        out.contains("ed25519: Signature verified successfully with key"),
        "{out}"
    );
    let e = fails(
        "atomboot",
        &[&repo(&server), "sign", "--verify", &c, &stranger_pk],
    );
    assert!(
        e.contains("none of its 1 ed25519 signature(s) verifies"),
        "{e}"
    );

    // Same key, same commit: atomboot writes the same .commitmeta bytes (ed25519 is deterministic).
    let copy = d.join("copy");
    ok(ostree, &[&repo(&copy), "init", "--mode=archive"]);
    ok(
        ostree,
        &[
            &repo(&copy),
            "pull-local",
            server.to_str().unwrap(),
            "os/stable",
        ],
    );
    let _ = fs::remove_file(commitmeta(&copy, &c));
    ok("atomboot", &[&repo(&copy), "sign", &c, &sk]);
    assert_eq!(
        fs::read(commitmeta(&copy, &c)).unwrap(),
        fs::read(commitmeta(&server, &c)).unwrap()
    );

    // atomboot pulls it over HTTP, checking the commit and the summary.
    let url = serve(server.clone());
    let client = d.join("client");
    ok("atomboot", &[&repo(&client), "init", "--mode=bare-user"]);
    let inline = format!("--sign-verify=ed25519=inline:{pk}");
    ok(
        "atomboot",
        &[
            &repo(&client),
            "remote",
            "add",
            &inline,
            "--set=sign-verify-summary=true",
            "origin",
            &url,
        ],
    );
    let cfg = fs::read_to_string(client.join("config")).unwrap();
    assert!(
        cfg.contains(&format!("verification-ed25519-key={pk}\n"))
            && cfg.contains("sign-verify=ed25519\n"),
        "{cfg}"
    );
    ok("atomboot", &[&repo(&client), "pull", "origin", "os/stable"]);
    assert_eq!(
        ok(
            "atomboot",
            &[&repo(&client), "rev-parse", "origin:os/stable"]
        )
        .trim(),
        c
    );
    ok("atomboot", &[&repo(&client), "fsck"]);
    ok("ostree", &[&repo(&client), "fsck"]);
    // The signature is stored with the commit: verifiable offline.
    ok("atomboot", &[&repo(&client), "sign", "--verify", &c, &pk]);

    // A stranger's key: refused, naming commit, remote and key; nothing stored.
    let client2 = d.join("client2");
    ok("atomboot", &[&repo(&client2), "init", "--mode=bare-user"]);
    let inline = format!("--sign-verify=ed25519=inline:{stranger_pk}");
    ok(
        "atomboot",
        &[&repo(&client2), "remote", "add", &inline, "origin", &url],
    );
    let e = fails(
        "atomboot",
        &[&repo(&client2), "pull", "origin", "os/stable"],
    );
    assert!(
        e.contains(&format!("commit {c} from remote \"origin\"")) && e.contains(&stranger_pk),
        "{e}"
    );
    assert!(!client2
        .join("refs/remotes/origin")
        .join("os/stable")
        .exists());
    ok("ostree", &[&repo(&client2), "fsck"]);
}

#[test]
fn pynacl_and_glib_check_atomboot_signatures_over_the_exact_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (sk, pk) = atomboot_keypair(d, "build");
    let server = d.join("server");
    ok("atomboot", &[&repo(&server), "init", "--mode=archive"]);
    let t = make_tree(d, 3);
    let c = ok(
        "atomboot",
        &[&repo(&server), "commit", "-b", "main", t.to_str().unwrap()],
    )
    .trim()
    .to_string();
    ok("atomboot", &[&repo(&server), "sign", &c, &sk]);
    ok(
        "atomboot",
        &[&repo(&server), "summary", "-u", &format!("--sign={sk}")],
    );
    let script = r#"
import base64, sys, nacl.signing
from gi.repository import GLib
pk, pairs = base64.b64decode(sys.argv[1]), sys.argv[2:]
key = nacl.signing.VerifyKey(pk)
for data_path, sig_path in zip(pairs[::2], pairs[1::2]):
    data = open(data_path, 'rb').read()
    meta = GLib.Variant.new_from_bytes(GLib.VariantType('a{sv}'), GLib.Bytes(open(sig_path, 'rb').read()), False)
    assert meta.is_normal_form(), sig_path
    sigs = meta.lookup_value('ostree.sign.ed25519', GLib.VariantType('aay'))
    assert sigs is not None and sigs.n_children() == 1, sig_path
    sig = bytes(sigs.get_child_value(0).get_data_as_bytes().get_data())
    assert len(sig) == 64
    key.verify(data, sig)
    try:
        key.verify(data + b'x', sig)
        raise SystemExit('a changed message verified')
    except nacl.exceptions.BadSignatureError:
        pass
print('verified', len(pairs) // 2)
"#;
    let out = ok(
        PYTHON,
        &[
            "-c",
            script,
            &pk,
            commit_object(&server, &c).to_str().unwrap(),
            commitmeta(&server, &c).to_str().unwrap(),
            server.join("summary").to_str().unwrap(),
            server.join("summary.sig").to_str().unwrap(),
        ],
    );
    assert_eq!(out.trim(), "verified 2");
}

#[test]
fn cli_refusals_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (sk, pk) = atomboot_keypair(d, "build");
    let server = d.join("server");
    ok("atomboot", &[&repo(&server), "init", "--mode=archive"]);
    let t = make_tree(d, 4);
    let c = ok(
        "atomboot",
        &[
            &repo(&server),
            "commit",
            "-b",
            "os/stable",
            t.to_str().unwrap(),
        ],
    )
    .trim()
    .to_string();
    let client = d.join("client");
    ok("atomboot", &[&repo(&client), "init", "--mode=bare-user"]);
    let url = format!("file://{}", server.display());

    // gpg-verify (the default without --no-gpg-verify): refused, with the way out.
    ok(
        "atomboot",
        &[&repo(&client), "remote", "add", "plain", &url],
    );
    let e = fails("atomboot", &[&repo(&client), "pull", "plain", "os/stable"]);
    assert!(
        e.contains("gpg-verify=true (the default when a remote is added without --no-gpg-verify)")
            && e.contains("--sign-verify=ed25519=file:")
            && e.contains("--no-gpg-verify"),
        "{e}"
    );

    // Unsigned commit from a sign-verify remote.
    let inline = format!("--sign-verify=ed25519=inline:{pk}");
    ok(
        "atomboot",
        &[&repo(&client), "remote", "add", &inline, "origin", &url],
    );
    let e = fails("atomboot", &[&repo(&client), "pull", "origin", "os/stable"]);
    assert!(
        e.contains(&format!(
            "commit {c} from remote \"origin\" has no ed25519 signature"
        )) && e.contains(&format!("keys tried: {pk}")),
        "{e}"
    );
    assert!(
        !client.join("refs/remotes/origin").exists()
            || fs::read_dir(client.join("refs/remotes/origin"))
                .unwrap()
                .next()
                .is_none()
    );

    // A key file with a bad line is refused when the remote is added.
    let bad = d.join("bad.pub");
    fs::write(&bad, format!("{pk}\nnot a key\n")).unwrap();
    let e = fails(
        "atomboot",
        &[
            &repo(&client),
            "remote",
            "add",
            &format!("--sign-verify=ed25519=file:{}", bad.display()),
            "other",
            &url,
        ],
    );
    assert!(e.contains(&format!("{}: line 2:", bad.display())), "{e}");

    // remote refs checks a summary that must be signed.
    ok("atomboot", &[&repo(&server), "summary", "-u"]);
    ok(
        "atomboot",
        &[
            &repo(&client),
            "remote",
            "add",
            &inline,
            "--set=sign-verify-summary=true",
            "sv",
            &url,
        ],
    );
    let e = fails("atomboot", &[&repo(&client), "remote", "refs", "sv"]);
    assert!(
        e.contains("requires a signed summary (sign-verify-summary)")
            && e.contains("has no summary.sig"),
        "{e}"
    );
    ok(
        "atomboot",
        &[&repo(&server), "summary", "-u", &format!("--sign={sk}")],
    );
    assert_eq!(
        ok("atomboot", &[&repo(&client), "remote", "refs", "sv"]).trim(),
        "sv:os/stable"
    );

    // sign, verify, delete.
    ok("atomboot", &[&repo(&server), "sign", &c, &sk]);
    ok("atomboot", &[&repo(&client), "pull", "origin", "os/stable"]);
    let out = ok("atomboot", &[&repo(&server), "sign", "--delete", &c, &pk]);
    assert!(out.contains("Deleted 1 ed25519 signature(s)"), "{out}");
    let e = fails("atomboot", &[&repo(&server), "sign", "--verify", &c, &pk]);
    assert!(e.contains("has no ed25519 signature"), "{e}");
    let e = fails(
        "atomboot",
        &[&repo(&server), "sign", "-s", "dummy", &c, &sk],
    );
    assert!(
        e.contains("Requested signature type is not implemented"),
        "{e}"
    );
}

#[test]
fn admin_deploys_only_verified_commits_even_with_force() {
    use common::{dtb, fat_image, tree};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (sk, pk) = atomboot_keypair(d, "build");
    let server = d.join("server");
    ok("atomboot", &[&repo(&server), "init", "--mode=archive"]);
    let t = tree(d, 1, 6000, Some(dtb(&["ti,am33xx"])));
    let c = ok(
        "atomboot",
        &[
            &repo(&server),
            "commit",
            "-b",
            "os/stable",
            t.to_str().unwrap(),
        ],
    )
    .trim()
    .to_string();
    let sysroot = d.join("sysroot");
    let boot = d.join("boot.img");
    fat_image(&boot, 16 * 1024);
    ok(
        "atomboot",
        &[
            "admin",
            "--board",
            "am335x",
            "--boot",
            boot.to_str().unwrap(),
            "init-fs",
            sysroot.to_str().unwrap(),
        ],
    );
    let admin = |args: &[&str]| {
        let mut a = vec![
            "admin",
            "--sysroot",
            sysroot.to_str().unwrap(),
            "--boot",
            boot.to_str().unwrap(),
        ];
        a.extend_from_slice(args);
        run("atomboot", &a)
    };
    assert!(admin(&["os-init", "debian"]).status.success());
    let local = sysroot.join("ostree/repo");
    let url = format!("file://{}", server.display());
    // The unsigned commit came in while the remote did not ask for signatures; now it does.
    ok(
        "atomboot",
        &[
            &repo(&local),
            "remote",
            "add",
            "--no-gpg-verify",
            "origin",
            &url,
        ],
    );
    ok("atomboot", &[&repo(&local), "pull", "origin", "os/stable"]);
    ok("atomboot", &[&repo(&local), "remote", "delete", "origin"]);
    let inline = format!("--sign-verify=ed25519=inline:{pk}");
    ok(
        "atomboot",
        &[&repo(&local), "remote", "add", &inline, "origin", &url],
    );
    for force in [false, true] {
        let mut args = vec!["deploy"];
        if force {
            args.push("--force");
        }
        args.push("origin:os/stable");
        let o = admin(&args);
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success(),
            "deployed an unsigned commit (force={force})"
        );
        assert!(
            e.contains("refusing to deploy origin:os/stable")
                && e.contains(&format!(
                    "commit {c} from remote \"origin\" has no ed25519 signature"
                )),
            "{e}"
        );
    }
    assert!(!sysroot
        .join("ostree/deploy/debian/deploy")
        .read_dir()
        .map(|mut r| r.any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(&c[..8])))
        .unwrap_or(false));
    // Signed on the build side and pulled again (the commit is there; its signature comes along).
    ok("atomboot", &[&repo(&server), "sign", &c, &sk]);
    ok("atomboot", &[&repo(&local), "pull", "origin", "os/stable"]);
    let o = admin(&["deploy", "origin:os/stable"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
