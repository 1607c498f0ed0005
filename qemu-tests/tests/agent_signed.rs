//! The signed agent (`scripts/build-agent.sh qemu-virt --signed qemu-tests/assets/test-vendor.pub`) under
//! Debian's real U-Boot, started by the real board/qemu-virt/boot.cmd, on a boot partition written by the
//! real deployer (`atomboot admin deploy` of commits in an OSTree repository, signed with `atomboot sign`).
//! The "kernels" are tiny programs with a valid zImage header that print which commit they belong to:
//! seeing one proves bootz ran the bytes the agent verified against the signed commit.

use qemu_tests::device::atomboot_ok;
use qemu_tests::{
    boot_uboot, disk_image, extract_partition, fake_kernel, signed_board_files, test_vendor_key,
    Fat, Run,
};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;
use uenv::boot_config::{render_padded, select, LOADER_FILE_SIZE};

const BOOTCMD: &str = "fatload virtio 0:1 0x40200000 boot.scr; source 0x40200000";

struct Signed {
    dir: tempfile::TempDir,
    repo: PathBuf,
    sysroot: PathBuf,
    fat: Fat,
    commits: Vec<String>,
}

impl Signed {
    /// A repository with commits tagged A and B (fake kernels, an initramfs, the signed kargs file
    /// `quiet`), signed with the tests' vendor key, deployed A then B: B is the default, A the fallback.
    fn new() -> Signed {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let r = format!("--repo={}", repo.display());
        atomboot_ok(&[&r, "init", "--mode=archive"]);
        let sysroot = dir.path().join("sysroot");
        let fat = Fat::new(dir.path().join("boot.fat"), 32);
        let b = fat.path.to_str().unwrap().to_string();
        atomboot_ok(&["admin", "--boot", &b, "init-fs", sysroot.to_str().unwrap()]);
        let mut s = Signed {
            dir,
            repo,
            sysroot,
            fat,
            commits: Vec::new(),
        };
        s.admin(&["os-init", "demo"]);
        let a = s.commit(b'A', &test_vendor_key().0);
        s.admin(&["deploy", "--karg", "console=ttyAMA0", &a]);
        let b = s.commit(b'B', &test_vendor_key().0);
        s.admin(&["deploy", &b]);
        for name in ["atomboot-agent.bin", "boot.scr"] {
            let board = signed_board_files("qemu-virt");
            s.fat.put(
                &format!("/{name}"),
                &std::fs::read(board.join(name)).unwrap(),
            );
        }
        s
    }

    fn admin(&self, args: &[&str]) -> String {
        let r = format!("--repo={}", self.repo.display());
        let mut a = vec![
            "admin",
            "--sysroot",
            self.sysroot.to_str().unwrap(),
            "--boot",
            self.fat.path.to_str().unwrap(),
            &r,
        ];
        a.extend_from_slice(args);
        atomboot_ok(&a)
    }

    /// Commits a tree whose kernel prints `tag`, signed with the secret key file `key`.
    fn commit(&mut self, tag: u8, key: &Path) -> String {
        let t = self.dir.path().join(format!("tree-{}", tag as char));
        let m = t.join("usr/lib/modules/6.1.0-demo");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(
            m.join("vmlinuz"),
            fake_kernel(self.dir.path(), tag, 300_000),
        )
        .unwrap();
        let ramdisk: Vec<u8> = (0..20_000u32).map(|i| (i as u8) ^ tag).collect();
        std::fs::write(m.join("initramfs.img"), ramdisk).unwrap();
        std::fs::create_dir_all(t.join("usr/lib/atomboot")).unwrap();
        std::fs::write(t.join("usr/lib/atomboot/kargs"), "quiet\n").unwrap();
        std::fs::create_dir_all(t.join("usr/etc")).unwrap();
        let r = format!("--repo={}", self.repo.display());
        let c = atomboot_ok(&[
            &r,
            "commit",
            "-b",
            "demo/stable",
            "-s",
            &format!("commit {}", tag as char),
            t.to_str().unwrap(),
        ])
        .trim()
        .to_string();
        let keys = format!("--keys-file={}", key.display());
        atomboot_ok(&[&r, "sign", &c, &keys]);
        self.commits.push(c.clone());
        c
    }

    /// The selected loader copy's text and which copy it is.
    fn loader(&self) -> (usize, Vec<u8>) {
        let l0 = self.fat.get("/loader.0/uEnv.txt");
        let l1 = self.fat.get("/loader.1/uEnv.txt");
        let sel = select(Some(&l0), Some(&l1)).unwrap();
        let i = sel.copy.index();
        (i, if i == 0 { l0 } else { l1 })
    }

    /// Rewrites the selected loader copy into the other copy (generation + 1, valid CRC), as anyone who
    /// can write the partition can.
    fn rewrite_loader(&self, edit: impl FnOnce(&mut uenv::boot_config::Entry<'_>)) {
        let (i, bytes) = self.loader();
        let mut c = uenv::boot_config::parse(&bytes).unwrap();
        c.generation += 1;
        edit(&mut c.primary);
        let mut buf = vec![0u8; LOADER_FILE_SIZE];
        render_padded(&c, &mut buf).unwrap();
        self.fat.put(&format!("/loader.{}/uEnv.txt", 1 - i), &buf);
    }

    /// Paths of the default's kernel and proof.
    fn primary_paths(&self) -> (String, String) {
        let (_, bytes) = self.loader();
        let c = uenv::boot_config::parse(&bytes).unwrap();
        (
            c.primary.kernel.path.to_string(),
            c.primary
                .proof
                .expect("the default names its proof")
                .to_string(),
        )
    }

    fn boot(&self, name: &str) -> Run {
        let disk = self.dir.path().join("disk.img");
        disk_image(&disk, &[(0x0e, &self.fat.path)]);
        let run = boot_uboot(
            self.dir.path(),
            name,
            &disk,
            BOOTCMD,
            Duration::from_secs(90),
        );
        extract_partition(&disk, 0, &self.fat.path);
        eprintln!("{name}: {:.1} s", run.elapsed.as_secs_f64());
        run
    }
}

/// Signed v2 (B) boots with the command line the agent rebuilt; then a commit signed by a key the agent
/// does not trust (C) is deployed as the default: refused, and B boots as the fallback.
#[test]
fn signed_default_boots_and_an_unknown_key_is_refused() {
    let mut s = Signed::new();
    let (a, b) = (s.commits[0].clone(), s.commits[1].clone());
    let run = s.boot("signed-b");
    run.expect("atomboot: agent 0.1.0 for qemu-virt, signed (U-Boot ABI 9): decide")
        .expect(&format!(
            "atomboot: proof primary: commit {} signed by key 0, chain to every boot file checked in",
            &b[..8]
        ))
        .expect("bytes ostree content checksum ok in")
        .expect(&format!(
            "atomboot: command line primary: ostree=/ostree/deploy/demo/deploy/{b}.0 quiet console=ttyAMA0"
        ))
        .expect("atomboot: boot primary (update on trial, boot 1 of 3)")
        .expect("FAKE-KERNEL B started")
        .expect_not("FAKE-KERNEL A")
        .expect_not("sha256 ok");
    assert!(!a.is_empty());

    let other = s.dir.path().join("other");
    atomboot_ok(&["sign-keygen", other.to_str().unwrap()]);
    let c = s.commit(b'C', &other.with_extension("secret"));
    s.admin(&["deploy", &c]);
    let run = s.boot("signed-unknown-key");
    run.expect("atomboot: REFUSED primary: no signature in the boot proof verifies the commit with a trusted key")
        .expect("atomboot: trying the fallback entry")
        .expect(&format!(
            "atomboot: proof fallback: commit {} signed by key 0",
            &b[..8]
        ))
        .expect("atomboot: boot fallback (primary kernel: not proven by the signed commit)")
        .expect("FAKE-KERNEL B started")
        .expect_not("FAKE-KERNEL C");
}

/// An attacker rewrites v2's kernel, its SHA-256 and size in the loader copy, and the kernel's file header
/// in the proof: refused, and v1 (older, correctly signed: no rollback protection yet) boots as the fallback.
#[test]
fn rewritten_kernel_checksums_and_proof_header_are_refused_and_v1_boots() {
    let s = Signed::new();
    let (kernel, proof) = s.primary_paths();
    let evil = fake_kernel(s.dir.path(), b'E', 300_000);
    s.fat.put(&kernel, &evil);
    s.rewrite_loader(|e| {
        e.kernel.sha256 = Sha256::digest(&evil).into();
        e.kernel.size = evil.len() as u32;
    });
    // The kernel record's header follows its path and a u32 length: flip its uid's low byte.
    let mut p = s.fat.get(&proof);
    let path = b"usr/lib/modules/6.1.0-demo/vmlinuz";
    let at = p.windows(path.len()).position(|w| w == path).unwrap() + path.len() + 4;
    p[at + 3] ^= 1;
    s.fat.put(&proof, &p);
    let run = s.boot("signed-attacker");
    run.expect(&format!(
        "atomboot: FAILED primary kernel {kernel}: not proven by the signed commit: kernel: the loaded bytes do not have the OSTree content checksum the signed commit names"
    ))
    .expect("atomboot: trying the fallback entry")
    .expect(&format!(
        "atomboot: proof fallback: commit {} signed by key 0",
        &s.commits[0][..8]
    ))
    .expect("atomboot: boot fallback (primary kernel: not proven by the signed commit)")
    .expect("atomboot: saving")
    .expect("FAKE-KERNEL A started")
    .expect_not("FAKE-KERNEL E")
    .expect_not("FAKE-KERNEL B");
}

/// `init=/bin/sh` added to the default's kernel arguments in the loader copy: refused, the fallback boots.
#[test]
fn an_added_init_karg_is_refused() {
    let s = Signed::new();
    s.rewrite_loader(|e| {
        e.bootargs = Box::leak(format!("{} init=/bin/sh", e.bootargs).into_boxed_str());
    });
    let run = s.boot("signed-init-karg");
    run.expect("atomboot: REFUSED primary: kernel argument \"init=/bin/sh\" is not signed and not in the board's allow-list")
        .expect("atomboot: boot fallback (primary kernel: kernel arguments not signed and not allowed by the board")
        .expect("FAKE-KERNEL A started")
        .expect_not("FAKE-KERNEL B");
}
