//! A board that keeps running: Debian's U-Boot under `qemu-system-arm -M virt` started in the background,
//! with options the one-shot [`crate::run_qemu`] does not have: the guest may reboot (no `-no-reboot`, the
//! guest's `reboot` resets the board and U-Boot starts again), a network that reaches only the build
//! server (QEMU user networking with `restrict=on` and a `guestfwd` of 10.0.2.100:80 to a port on the
//! host's loopback, one `nc` per connection), a second virtio disk (a USB stick), and QEMU's monitor on a
//! unix socket (`system_reset` is the power cut: the guest's page cache is lost). The console is read
//! while the board runs, so a test can wait for a line and act on it.

use crate::UBOOT_BIN;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The build server's address as the guest sees it.
pub const SERVER_IN_GUEST: &str = "http://10.0.2.100";

/// What the board has besides U-Boot's flash and its disk.
#[derive(Debug, Clone, Default)]
pub struct MachineOptions {
    /// A network whose only reachable host, 10.0.2.100:80, is forwarded to 127.0.0.1:PORT.
    pub server_port: Option<u16>,
    /// A second virtio disk (raw), e.g. a USB stick.
    pub extra_disk: Option<PathBuf>,
    /// The boot disk's writes go to a temporary qcow2 overlay of QEMU's (`snapshot=on`), dropped when QEMU
    /// exits: the disk file itself is never written (one overlay per run over the same base image).
    pub disk_snapshot: bool,
    /// Resume a machine state saved by QEMU's `migrate "exec:cat > FILE"` (the board was stopped) instead
    /// of powering on: QEMU starts with `-incoming "exec:cat FILE"` and stays paused until the monitor's
    /// `cont`. The disk must hold what it held when the state was saved.
    pub incoming: Option<PathBuf>,
}

/// A running QEMU.
pub struct Machine {
    child: Child,
    console: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    monitor: PathBuf,
    started: Instant,
}

fn monitor_path() -> PathBuf {
    // unix socket paths are short (108 bytes): not under the target directory.
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::env::temp_dir().join(format!("atomboot-qmon-{}-{n}.sock", std::process::id()))
}

impl Machine {
    /// Powers the board on: `flash` is pflash unit 1 (U-Boot's env, see [`crate::uboot_env_flash`]),
    /// `disk` virtio disk 0 (raw).
    pub fn start(flash: &Path, disk: &Path, opts: &MachineOptions) -> Machine {
        assert!(
            Path::new(UBOOT_BIN).exists(),
            "{UBOOT_BIN} is missing: run scripts/setup.sh (u-boot-qemu)"
        );
        let monitor = monitor_path();
        let _ = std::fs::remove_file(&monitor);
        let mut cmd = Command::new("qemu-system-arm");
        cmd.args(["-M", "virt", "-m", "512", "-nographic", "-bios", UBOOT_BIN])
            .arg("-monitor")
            .arg(format!("unix:{},server=on,wait=off", monitor.display()))
            .arg("-drive")
            .arg(format!(
                "if=pflash,unit=1,format=raw,file={}",
                flash.display()
            ));
        // The second disk goes first on the command line: U-Boot numbers virtio devices from the last
        // one given (the boot disk must stay `virtio 0`).
        if let Some(stick) = &opts.extra_disk {
            cmd.arg("-drive")
                .arg(format!("if=none,format=raw,id=d1,file={}", stick.display()))
                .args(["-device", "virtio-blk-device,drive=d1"]);
        }
        let snapshot = if opts.disk_snapshot {
            ",snapshot=on"
        } else {
            ""
        };
        cmd.arg("-drive")
            .arg(format!(
                "if=none,format=raw,id=d0,file={}{snapshot}",
                disk.display()
            ))
            .args(["-device", "virtio-blk-device,drive=d0"]);
        match opts.server_port {
            Some(port) => {
                assert!(
                    Command::new("nc").arg("-h").output().is_ok(),
                    "nc (netcat-openbsd) is missing: run scripts/setup.sh"
                );
                // restrict=on: no route out of QEMU's user network; the guestfwd is the only way out.
                cmd.arg("-netdev")
                    .arg(format!(
                        "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:80-cmd:nc 127.0.0.1 {port}"
                    ))
                    .args(["-device", "virtio-net-device,netdev=n0"]);
            }
            None => {
                cmd.args(["-net", "none"]);
            }
        }
        if let Some(state) = &opts.incoming {
            cmd.arg("-incoming")
                .arg(format!("exec:cat {}", state.display()));
        }
        let started = Instant::now();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("qemu-system-arm: run scripts/setup.sh");
        let console = Arc::new(Mutex::new(Vec::<u8>::new()));
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        let readers = streams
            .into_iter()
            .map(|mut stream| {
                let buf = Arc::clone(&console);
                std::thread::spawn(move || {
                    let mut chunk = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut chunk) {
                        if n == 0 {
                            break;
                        }
                        buf.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .extend_from_slice(&chunk[..n]);
                    }
                })
            })
            .collect();
        Machine {
            child,
            console,
            readers,
            monitor,
            started,
        }
    }

    /// The console so far (CR removed).
    pub fn console(&self) -> String {
        let bytes = self
            .console
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        String::from_utf8_lossy(&bytes).replace('\r', "")
    }

    /// Time since QEMU started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits until the console holds `text` after byte `from` of [`Machine::console`]; returns the
    /// position just after it, or None at the timeout or when QEMU exited first.
    pub fn wait_for(&mut self, text: &str, from: usize, timeout: Duration) -> Option<usize> {
        let t0 = Instant::now();
        loop {
            let c = self.console();
            if let Some(i) = c.get(from..).and_then(|tail| tail.find(text)) {
                return Some(from + i + text.len());
            }
            if t0.elapsed() > timeout || self.exited() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Like [`Machine::wait_for`], panicking with the console when `text` does not come.
    #[track_caller]
    pub fn expect(&mut self, text: &str, from: usize, timeout: Duration) -> usize {
        match self.wait_for(text, from, timeout) {
            Some(p) => p,
            None => panic!(
                "console lacks {text:?} after {timeout:?} (QEMU exited: {}):\n{}",
                self.exited(),
                self.console()
            ),
        }
    }

    /// QEMU has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Sends one command to QEMU's monitor; returns what the monitor printed in answer.
    pub fn monitor(&self, command: &str) -> String {
        let mut s = None;
        for _ in 0..100 {
            match UnixStream::connect(&self.monitor) {
                Ok(c) => {
                    s = Some(c);
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        let mut s = s.unwrap_or_else(|| panic!("QEMU monitor {}", self.monitor.display()));
        s.set_read_timeout(Some(Duration::from_millis(500))).ok();
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        // The greeting ends with the prompt.
        let read_to_prompt = |s: &mut UnixStream, out: &mut Vec<u8>, chunk: &mut [u8]| {
            let t0 = Instant::now();
            while !out.ends_with(b"(qemu) ") && t0.elapsed() < Duration::from_secs(5) {
                match s.read(chunk) {
                    Ok(0) => break,
                    Ok(n) => out.extend_from_slice(&chunk[..n]),
                    Err(_) => {}
                }
            }
        };
        read_to_prompt(&mut s, &mut out, &mut chunk);
        out.clear();
        s.write_all(format!("{command}\n").as_bytes())
            .expect("write to the QEMU monitor");
        read_to_prompt(&mut s, &mut out, &mut chunk);
        String::from_utf8_lossy(&out).replace('\r', "")
    }

    /// A power cut and power on: `system_reset` through the monitor. The guest's RAM (its page cache,
    /// every write not yet on the disk) is gone; U-Boot starts again from the disk as it is.
    pub fn power_cut(&self) {
        self.monitor("system_reset");
    }

    /// Waits for QEMU to exit by itself (the guest powered off); kills it after `timeout`.
    /// Returns (exited by itself with status 0, timed out).
    pub fn wait_exit(&mut self, timeout: Duration) -> (bool, bool) {
        let t0 = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.join_readers();
                return (status.success(), false);
            }
            if t0.elapsed() > timeout {
                self.kill();
                return (false, true);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills QEMU at once (also a power cut) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.join_readers();
    }

    fn join_readers(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.monitor);
    }
}
