//! The boot script's steps (board/*/boot.cmd) run over a host's files and buffers, with the agent's real
//! [`decide`] and [`verify`]: what the host's tests, power-cut judges and fuzz targets use to ask "what does
//! this boot partition boot?" without U-Boot. The agent itself never runs this.

use crate::policy::{Policy, Unsigned};
use crate::report::{Clock, Console};
use crate::steps::{decide_with, verify_with, BootPlan, Memory, Region, Verified};
use crate::vars::{file_vars, parse_hex_u32, Env, FileVars, Step, PROOF_VARS, SMALL_BYTES};
use uenv::boot_config::{FileRole, LOADER_PATHS};

/// The small files, in the order of [`SMALL_BYTES`].
pub const SMALL_FILES: [&str; 4] = [
    LOADER_PATHS[0],
    LOADER_PATHS[1],
    crate::plan::ENV_FILES[0],
    crate::plan::ENV_FILES[1],
];

/// What `fatload DEV ADDR FILE MAX` does: reads at most `max` bytes of `path` (relative to the partition
/// root, with or without a leading `/`) into `dst`; `None` when the file cannot be read. Never more than
/// `dst.len()` bytes.
pub trait Files {
    /// Loads; returns the bytes read (`filesize`).
    fn load(&mut self, path: &str, max: usize, dst: &mut [u8]) -> Option<usize>;
}

/// Addresses the simulated board gives its regions (any distinct values do: the script only passes them
/// back to name a region).
/// Kernel, ramdisk, fdt, env block, proof.
pub const HOST_ADDRS: [u32; 5] = [
    0x1000_0000,
    0x2000_0000,
    0x3000_0000,
    0x4000_0000,
    0x5000_0000,
];

/// The RAM of a simulated board.
pub struct Buffers<'b> {
    /// Rooms of the small files, as [`SMALL_FILES`].
    pub small: [&'b mut [u8]; 4],
    /// Where the agent prepares an env block to save.
    pub env_out: &'b mut [u8],
    /// Kernel region.
    pub kernel: &'b mut [u8],
    /// Ramdisk region.
    pub ramdisk: &'b mut [u8],
    /// Device-tree region.
    pub fdt: &'b mut [u8],
    /// Where the boot proof is loaded (signed mode; may be empty for the unsigned agent).
    pub proof: &'b mut [u8],
}

impl Buffers<'_> {
    fn memory(&mut self) -> Memory<'_> {
        let [a, b, c, d] = &mut self.small;
        let [k, r, f, e, p] = HOST_ADDRS;
        Memory {
            small: [&**a, &**b, &**c, &**d],
            env_out: (e, &mut *self.env_out),
            kernel: Region {
                addr: k,
                bytes: &*self.kernel,
            },
            ramdisk: Region {
                addr: r,
                bytes: &*self.ramdisk,
            },
            fdt: Region {
                addr: f,
                bytes: &*self.fdt,
            },
            proof: Region {
                addr: p,
                bytes: &*self.proof,
            },
        }
    }

    fn region_at(&mut self, addr: u32) -> Option<&mut [u8]> {
        let [k, r, f, _, p] = HOST_ADDRS;
        match addr {
            a if a == k => Some(&mut *self.kernel),
            a if a == r => Some(&mut *self.ramdisk),
            a if a == f => Some(&mut *self.fdt),
            a if a == p => Some(&mut *self.proof),
            _ => None,
        }
    }
}

/// How the script ended.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum End {
    /// `bootz` of the verified entry (an env block to save is at the start of `Buffers::env_out`).
    Boot(BootPlan),
    /// No boot: the reason is in `atomboot_reason`.
    Fail,
}

/// The script's first lines: each small file loaded into its room (bounded by it), its size recorded.
pub fn load_small(env: &mut dyn Env, files: &mut dyn Files, bufs: &mut Buffers<'_>) {
    env.set(crate::vars::STEP, format_args!(""));
    for ((name, path), room) in SMALL_BYTES
        .into_iter()
        .zip(SMALL_FILES)
        .zip(&mut bufs.small)
    {
        env.set(name, format_args!(""));
        let max = room.len();
        if let Some(n) = files.load(path, max, room) {
            env.set(name, format_args!("{n:x}"));
        }
    }
}

/// `atomboot_load` without its `go`: each file the agent named (boot files, then the proof), loaded where
/// it says, bounded as it says.
pub fn load_named(env: &mut dyn Env, files: &mut dyn Files, bufs: &mut Buffers<'_>) {
    let vars: [FileVars; 4] = [
        file_vars(FileRole::Kernel),
        file_vars(FileRole::Ramdisk),
        file_vars(FileRole::Fdt),
        PROOF_VARS,
    ];
    for v in vars {
        let mut pb = [0u8; 300];
        let Some(path) = env.get(v.file, &mut pb).filter(|p| !p.is_empty()) else {
            continue;
        };
        let (mut ab, mut mb) = ([0u8; 24], [0u8; 24]);
        let addr = env.get(v.addr, &mut ab).and_then(parse_hex_u32);
        let max = env.get(v.max, &mut mb).and_then(parse_hex_u32);
        let (Some(addr), Some(max)) = (addr, max) else {
            continue;
        };
        let Some(dst) = bufs.region_at(addr) else {
            continue;
        };
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        if let Some(n) = files.load(path, max, dst) {
            env.set(v.bytes, format_args!("{n:x}"));
        }
    }
    env.set(crate::vars::STEP, format_args!(""));
}

/// `go AGENT decide` on the simulated board.
pub fn go_decide<P: Policy>(
    policy: &P,
    env: &mut dyn Env,
    bufs: &mut Buffers<'_>,
    console: &mut dyn Console,
) -> Step {
    decide_with(policy, env, &bufs.memory(), console)
}

/// `go AGENT verify` on the simulated board.
pub fn go_verify<P: Policy>(
    policy: &P,
    env: &mut dyn Env,
    bufs: &mut Buffers<'_>,
    console: &mut dyn Console,
    clock: &dyn Clock,
) -> Verified {
    verify_with(policy, env, &mut bufs.memory(), console, clock)
}

/// Runs boot.cmd's steps with the unsigned agent ([`run_with`] [`Unsigned`]).
pub fn run(
    env: &mut dyn Env,
    files: &mut dyn Files,
    bufs: &mut Buffers<'_>,
    console: &mut dyn Console,
    clock: &dyn Clock,
) -> End {
    run_with(&Unsigned, env, files, bufs, console, clock)
}

/// Runs boot.cmd's steps: load the small files, `go decide`, then at most twice load the named files and
/// `go verify`, with an agent checking as `policy` does.
pub fn run_with<P: Policy>(
    policy: &P,
    env: &mut dyn Env,
    files: &mut dyn Files,
    bufs: &mut Buffers<'_>,
    console: &mut dyn Console,
    clock: &dyn Clock,
) -> End {
    load_small(env, files, bufs);
    if go_decide(policy, env, bufs, console) != Step::Load {
        return End::Fail;
    }
    for _ in 0..2 {
        load_named(env, files, bufs);
        match go_verify(policy, env, bufs, console, clock) {
            Verified::Boot(plan) => return End::Boot(plan),
            Verified::LoadOther(_) => continue,
            Verified::Fail(_) => return End::Fail,
        }
    }
    End::Fail
}
