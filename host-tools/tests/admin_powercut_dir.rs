//! Power cuts on a mounted boot partition (the directory backend: `/boot` on the device). A wrapper lets
//! the first K-1 changes through, tears the K-th (half of its bytes reach the file, as when power fails in
//! the middle of a write) and fails everything after it: the deployer is gone. Each resulting directory is
//! packed into a FAT image (mkfs.vfat + mcopy) and judged by the agent library itself: it boots the old or
//! the new deployment, never neither, at every K. Then a new deploy recovers.

#[path = "admin_common.rs"]
mod common;

use anyhow::{anyhow, Result};
use common::*;
use host_tools::deploy::bootfs::{BootFs, DirBootFs};
use host_tools::deploy::source::{copy_tree, CommitSource, TreeSource};
use host_tools::deploy::{verbs, Admin, DeployOptions, DeploymentId, Sysroot};
use std::cell::Cell;
use std::path::Path;
use std::process::Command;
use std::rc::Rc;

/// Lets `budget - 1` changes through, tears the next, refuses the rest.
struct CutFs {
    inner: DirBootFs,
    budget: Rc<Cell<usize>>,
    changes: Rc<Cell<usize>>,
}

enum Gate {
    Pass,
    Tear,
    Dead,
}

impl CutFs {
    fn gate(&self) -> Gate {
        self.changes.set(self.changes.get() + 1);
        match self.budget.get() {
            0 => Gate::Dead,
            1 => {
                self.budget.set(0);
                Gate::Tear
            }
            n => {
                self.budget.set(n - 1);
                Gate::Pass
            }
        }
    }
}

fn cut() -> anyhow::Error {
    anyhow!("power cut")
}

impl BootFs for CutFs {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>> {
        self.inner.read(path)
    }
    fn list_dir(&mut self, path: &str) -> Result<Vec<String>> {
        self.inner.list_dir(path)
    }
    fn create(&mut self, path: &str, data: &[u8]) -> Result<()> {
        match self.gate() {
            Gate::Pass => self.inner.create(path, data),
            Gate::Tear => {
                self.inner.create(path, &data[..data.len() / 2])?;
                Err(cut())
            }
            Gate::Dead => Err(cut()),
        }
    }
    fn overwrite(&mut self, path: &str, data: &[u8]) -> Result<()> {
        match self.gate() {
            Gate::Pass => self.inner.overwrite(path, data),
            Gate::Tear => {
                // The first half of the new bytes over the old file, the old second half kept.
                let mut torn = self.inner.read(path)?.unwrap_or_default();
                let half = data.len() / 2;
                if torn.len() == data.len() {
                    torn[..half].copy_from_slice(&data[..half]);
                    self.inner.overwrite(path, &torn)?;
                }
                Err(cut())
            }
            Gate::Dead => Err(cut()),
        }
    }
    fn remove_dir_all(&mut self, path: &str) -> Result<()> {
        match self.gate() {
            Gate::Pass => self.inner.remove_dir_all(path),
            // Removal is not atomic either: the tear removes nothing here; a partial removal of a
            // directory no loader copy names cannot matter to the agent.
            Gate::Tear | Gate::Dead => Err(cut()),
        }
    }
    fn create_dir_all(&mut self, path: &str) -> Result<()> {
        match self.gate() {
            Gate::Pass => self.inner.create_dir_all(path),
            Gate::Tear | Gate::Dead => Err(cut()),
        }
    }
}

/// The directory packed into a FAT16 image, as the agent would read the partition.
fn pack(boot: &Path, img: &Path) -> Vec<u8> {
    let _ = std::fs::remove_file(img);
    fat_image(img, 8192);
    let entries: Vec<_> = std::fs::read_dir(boot)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let out = Command::new("mcopy")
        .args(["-s", "-i"])
        .arg(img)
        .args(&entries)
        .arg("::/")
        .output()
        .expect("mcopy (mtools)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(img).unwrap()
}

fn admin<'a>(sysroot: &Path, boot: Box<dyn BootFs>, source: &'a TreeSource) -> Admin<'a> {
    Admin {
        sysroot: Sysroot::new(sysroot),
        boot,
        source: Some(source),
        cmdline: None,
        board: host_tools::deploy::board::lookup("am335x"),
    }
}

fn options(r: &str) -> DeployOptions {
    DeployOptions {
        refspec: r.into(),
        kargs: vec!["console=ttyS0,115200".into()],
        ..Default::default()
    }
}

#[test]
fn deploy_on_a_mounted_boot_partition_survives_a_cut_at_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let source = TreeSource::new(&d.join("repo"));
    for (name, seed, len) in [("v1", 1u64, 5000usize), ("v2", 2, 7000)] {
        let t = tree(d, seed, len, Some(dtb(&["ti,am33xx"])));
        source.add_commit(name, name, &t).unwrap();
    }
    // The factory state: v1 deployed and good, on a directory boot partition.
    let sys0 = d.join("sysroot0");
    let boot0 = d.join("boot0");
    verbs::init_fs(&sys0, Some("am335x")).unwrap();
    verbs::os_init(&sys0, "debian").unwrap();
    std::fs::create_dir_all(&boot0).unwrap();
    verbs::init_boot(&mut DirBootFs::new(&boot0)).unwrap();
    let v1 = {
        let mut a = admin(&sys0, Box::new(DirBootFs::new(&boot0)), &source);
        let id = a.deploy(&options("v1")).unwrap();
        a.mark_good().unwrap();
        id
    };
    let img = d.join("packed.img");
    assert_eq!(boots(&pack(&boot0, &img)).unwrap(), (v1.clone(), "primary"));
    let v2 = DeploymentId {
        os: "debian".into(),
        commit: source.resolve("v2").unwrap(),
        serial: 0,
    };

    let mut k = 0usize;
    let mut finished_at = None;
    let mut outcomes = (0usize, 0usize);
    while finished_at.is_none() {
        let sys = d.join(format!("sys-{k}"));
        let boot = d.join(format!("boot-{k}"));
        copy_tree(&sys0, &sys).unwrap();
        copy_tree(&boot0, &boot).unwrap();
        let budget = Rc::new(Cell::new(k));
        let changes = Rc::new(Cell::new(0));
        let fs = CutFs {
            inner: DirBootFs::new(&boot),
            budget: budget.clone(),
            changes: changes.clone(),
        };
        // k = 0: nothing gets through; k >= 1: k - 1 changes pass and the k-th is torn. The loop ends at
        // the first k the deploy completes within.
        let result = admin(&sys, Box::new(fs), &source).deploy(&options("v2"));
        let booted = boots(&pack(&boot, &img))
            .unwrap_or_else(|e| panic!("cut after {k} changes: nothing boots: {e}"));
        assert!(
            booted.0 == v1 || booted.0 == v2,
            "cut after {k} changes boots {booted:?}"
        );
        if booted.0 == v1 {
            outcomes.0 += 1;
        } else {
            outcomes.1 += 1;
        }
        if result.is_ok() {
            assert_eq!(booted, (v2.clone(), "primary"));
            finished_at = Some(k);
        } else if k == 3 || k == 5 {
            // Recovery: the next deploy from this state completes and boots v2.
            let mut a = admin(&sys, Box::new(DirBootFs::new(&boot)), &source);
            let id = a.deploy(&options("v2")).unwrap();
            assert_eq!(boots(&pack(&boot, &img)).unwrap().0, id);
        }
        let _ = std::fs::remove_dir_all(&sys);
        let _ = std::fs::remove_dir_all(&boot);
        k += 1;
        assert!(k < 500, "the deploy never finished");
    }
    let points = finished_at.unwrap();
    eprintln!(
        "mounted-dir deploy: {points} cut points (each change torn), {} booted v1, {} booted v2",
        outcomes.0, outcomes.1
    );
    assert!(outcomes.0 > 0 && outcomes.1 > 0, "{outcomes:?}");
}
