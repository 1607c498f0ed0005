//! Fixtures for the drop-in tests (included with `#[path]`): run a shell script with `ostree` on PATH
//! being either Debian's ostree or atomboot, trees with a kernel and /usr/etc, a loopback HTTP server,
//! and a comparable listing of a directory tree. A missing `ostree` fails (scripts/setup.sh installs it).
#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Which program answers to `ostree`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Ostree,
    Atomboot,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Ostree => "ostree",
            Tool::Atomboot => "atomboot",
        }
    }

    /// A directory holding `ostree`: a symlink to Debian's ostree or to the atomboot binary.
    pub fn bin_dir(self, base: &Path) -> PathBuf {
        let dir = base.join(format!("bin-{}", self.name()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = match self {
            Tool::Ostree => which("ostree"),
            Tool::Atomboot => PathBuf::from(env!("CARGO_BIN_EXE_atomboot")),
        };
        let link = dir.join("ostree");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(target, &link).unwrap();
        dir
    }
}

/// The path of a program on PATH (panics with the install hint when missing).
pub fn which(prog: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{prog} must be installed (scripts/setup.sh)"))
}

/// One command's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `script` with bash in `cwd`, with `tool` as `ostree` first on PATH and `env` set.
pub fn sh(tool: Tool, base: &Path, cwd: &Path, env: &[(&str, String)], script: &str) -> Outcome {
    let path = format!(
        "{}:{}",
        tool.bin_dir(base).display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(cwd)
        .env("PATH", path)
        .env("SOURCE_DATE_EPOCH", "1620284889")
        .envs(env.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .output()
        .expect("bash");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A tree as the seeds' images are: a kernel and initramfs in usr/lib/modules, os-release, a binary,
/// and the configuration defaults in `etc_dir` (`usr/etc` as Yocto builds them, or `etc`).
pub fn os_tree(dir: &Path, version: u32, etc_dir: &str) {
    let w = |p: &str, data: &[u8]| {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, data).unwrap();
    };
    w("usr/lib/modules/6.1.0/vmlinuz", &[0x55; 4096]);
    w("usr/lib/modules/6.1.0/initramfs.img", &[0x11; 2048]);
    w("usr/lib/os-release", b"ID=poky\nVERSION_ID=4.0\n");
    w(
        "usr/bin/app",
        format!("#!/bin/sh\necho app {version}\n").as_bytes(),
    );
    w(&format!("{etc_dir}/hostname"), b"device\n");
    w(
        &format!("{etc_dir}/app.conf"),
        format!("level={version}\n").as_bytes(),
    );
    std::fs::create_dir_all(dir.join("var")).unwrap();
}

/// A loopback HTTP server for `dir` (scripts/serve-repo.py on an ephemeral port); killed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Server {
    pub fn start(dir: &Path) -> Server {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/serve-repo.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir)
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 (scripts/setup.sh)");
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("serve-repo.py prints its port");
        Server { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every entry under `root`: relative path, type, mode, owner, and content or symlink target, sorted.
pub fn listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        let m = std::fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        let what = if m.file_type().is_symlink() {
            format!("-> {}", std::fs::read_link(&p).unwrap().display())
        } else if m.is_file() {
            let data = std::fs::read(&p).unwrap();
            if data.len() <= 64 {
                format!("{:?}", String::from_utf8_lossy(&data))
            } else {
                use sha2::Digest;
                let h = sha2::Sha256::digest(&data);
                format!(
                    "sha256:{}",
                    h.iter().map(|b| format!("{b:02x}")).collect::<String>()
                )
            }
        } else {
            "dir".to_string()
        };
        out.push(format!(
            "{rel} {:o} {}:{} {what}",
            m.mode(),
            m.uid(),
            m.gid()
        ));
        if m.is_dir() {
            walk(root, &p, out);
        }
    }
}

/// ostree sets the immutable attribute on deployment directories: clear it so the temp dir can go.
pub fn unfreeze(dir: &Path) {
    let _ = Command::new("chattr").arg("-R").arg("-i").arg(dir).output();
}

/// The one deployment directory of `os` for `commit` serial 0 in `sysroot`.
pub fn deployment(sysroot: &Path, os: &str, commit: &str) -> PathBuf {
    sysroot.join(format!("ostree/deploy/{os}/deploy/{commit}.0"))
}
