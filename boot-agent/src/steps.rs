//! The agent's two calls, as the boot script makes them (docs/FORMATS.md, "Boot agent and boot script"):
//!
//! 1. [`decide`] (`go AGENT decide`): the small files are loaded; pick the entry, refuse any entry whose
//!    declared sizes do not fit their load regions, and name the chosen entry's files for the script to
//!    `fatload`, each bounded.
//! 2. [`verify`] (`go AGENT verify`): those files are loaded; verify them where they lie. Success: the boot
//!    variables. Failure: name the other entry's files (once), or give up.
//!
//! The agent keeps nothing between the calls: both derive the same [`Plan`] from the same small files, and
//! the few variables that carry what happened in between are parsed as hostile input.

use crate::plan::{Failure, Plan, Reason, SmallFiles, ENV_FILES};
use crate::policy::{Loaded, Policy, Unsigned, VerifiedFiles};
use crate::report::{say, Clock, Console};
use crate::vars::{
    file_vars, parse_hex_u32, parse_slot, Env, FailedRecord, Step, FAILED, PROOF_VARS, SMALL_BYTES,
    STEP, TRY,
};
use crate::verify::{fits, load_bound, VerifyError};
use core::fmt::Write;
use uenv::boot_config::{Entry, FileRole, Slot};
use uenv::counter_names as names;
use uenv::env_block::{self, FlagScheme, Header, Which};

/// One region of RAM: its address (for the script) and its bytes (for the agent).
pub struct Region<'m, T: ?Sized> {
    /// Where it starts.
    pub addr: u32,
    /// Its bytes.
    pub bytes: &'m T,
}

/// The memory the agent sees: the scratch areas the script loads the small files into, the env block it
/// may prepare, and the three load regions, as the board profile lays them out.
pub struct Memory<'m> {
    /// Rooms of `loader.0/uEnv.txt`, `loader.1/uEnv.txt`, `uboot.env`, `uboot-redund.env`.
    pub small: [&'m [u8]; 4],
    /// Where a new env block is prepared for the script's `fatwrite`.
    pub env_out: (u32, &'m mut [u8]),
    /// The kernel region (at `kernel_addr_r`).
    pub kernel: Region<'m, [u8]>,
    /// The ramdisk region.
    pub ramdisk: Region<'m, [u8]>,
    /// The device-tree region.
    pub fdt: Region<'m, [u8]>,
    /// Where the script loads the chosen entry's boot proof (signed mode).
    pub proof: Region<'m, [u8]>,
}

impl Memory<'_> {
    fn region(&self, role: FileRole) -> &Region<'_, [u8]> {
        match role {
            FileRole::Kernel => &self.kernel,
            FileRole::Ramdisk => &self.ramdisk,
            FileRole::Fdt => &self.fdt,
        }
    }
}

/// Room for one variable's value read back (a path is at most 255 bytes).
const VALUE_ROOM: usize = 300;

/// The small files as the script loaded them: each room cut to the bytes its variable says were read.
fn small_files<'m>(env: &dyn Env, mem: &Memory<'m>) -> SmallFiles<'m> {
    let mut out: [Option<&'m [u8]>; 4] = [None; 4];
    for ((slot, room), name) in out.iter_mut().zip(mem.small).zip(SMALL_BYTES) {
        let mut buf = [0u8; VALUE_ROOM];
        *slot = env
            .get(name, &mut buf)
            .and_then(parse_hex_u32)
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| room.get(..n));
    }
    let [l0, l1, e0, e1] = out;
    SmallFiles {
        loader: [l0, l1],
        env: [e0, e1],
    }
}

/// What refuses `entry` before loading: in signed mode no boot proof named; then the first file whose
/// declared size does not fit its region.
fn precheck<P: Policy>(entry: &Entry<'_>, mem: &Memory<'_>) -> Result<(), (FileRole, VerifyError)> {
    if P::NEEDS_PROOF && entry.proof.is_none() {
        return Err((FileRole::Kernel, VerifyError::NoProof));
    }
    for role in FileRole::ALL {
        if let Some(file) = entry.file(role) {
            fits(file, mem.region(role).bytes.len()).map_err(|e| (role, e))?;
        }
    }
    Ok(())
}

/// Sets the variables naming `slot`'s files (and, in signed mode, its proof), clears what an earlier load
/// left, and asks for a load.
fn ask_load<P: Policy>(env: &mut dyn Env, mem: &Memory<'_>, slot: Slot, entry: &Entry<'_>) {
    env.set(TRY, format_args!("{}", slot.name()));
    env.set(PROOF_VARS.bytes, format_args!(""));
    match entry.proof.filter(|_| P::NEEDS_PROOF) {
        Some(path) => {
            env.set(PROOF_VARS.file, format_args!("{path}"));
            env.set(PROOF_VARS.addr, format_args!("{:#x}", mem.proof.addr));
            env.set(PROOF_VARS.max, format_args!("{:#x}", mem.proof.bytes.len()));
        }
        None => {
            env.set(PROOF_VARS.file, format_args!(""));
            env.set(PROOF_VARS.max, format_args!(""));
        }
    }
    for role in FileRole::ALL {
        let v = file_vars(role);
        let region = mem.region(role);
        env.set(v.bytes, format_args!(""));
        match entry.file(role) {
            Some(file) => {
                env.set(v.file, format_args!("{}", file.path));
                env.set(v.addr, format_args!("{:#x}", region.addr));
                env.set(
                    v.max,
                    format_args!("{:#x}", load_bound(file, region.bytes.len())),
                );
            }
            None => {
                env.set(v.file, format_args!(""));
                env.set(v.max, format_args!(""));
            }
        }
    }
    env.set(STEP, format_args!("{}", Step::Load.name()));
}

fn fail(env: &mut dyn Env, console: &mut dyn Console, failure: Failure) -> Step {
    say(console, format_args!("{failure}"));
    say(console, format_args!("nothing verified: refusing to boot"));
    env.set(names::REASON, format_args!("{failure}"));
    env.set(STEP, format_args!("{}", Step::Fail.name()));
    Step::Fail
}

/// Failures of the entries in try order, found before loading: `first_ok` is the first entry that may be
/// loaded, with the precheck failure of the one before it, if any.
struct Order {
    slots: [Option<Slot>; 2],
    checks: [Option<Result<(), (FileRole, VerifyError)>>; 2],
}

impl Order {
    fn new<P: Policy>(plan: &Plan<'_>, mem: &Memory<'_>) -> Order {
        let slots = plan.order();
        let checks = slots.map(|s| {
            s.and_then(|s| plan.config.entry(s))
                .map(|e| precheck::<P>(e, mem))
        });
        Order { slots, checks }
    }

    /// Index of the first entry that passed its precheck.
    fn first_ok(&self) -> Option<usize> {
        self.checks.iter().position(|c| matches!(c, Some(Ok(()))))
    }

    fn nothing(&self, errors: [Option<(FileRole, VerifyError)>; 2]) -> Failure {
        let mut primary = None;
        let mut fallback = None;
        for (slot, e) in self.slots.iter().zip(errors) {
            match slot {
                Some(Slot::Primary) => primary = e,
                Some(Slot::Fallback) => fallback = e,
                None => {}
            }
        }
        match primary {
            Some(primary) => Failure::NothingBootable { primary, fallback },
            None => Failure::BadState(TRY),
        }
    }
}

/// Go #1 of the unsigned agent: [`decide_with`] [`Unsigned`].
pub fn decide(env: &mut dyn Env, mem: &Memory<'_>, console: &mut dyn Console) -> Step {
    decide_with(&Unsigned, env, mem, console)
}

/// Go #1: decides which entry to load and names its files (or gives up). Returns the step set.
pub fn decide_with<P: Policy>(
    _policy: &P,
    env: &mut dyn Env,
    mem: &Memory<'_>,
    console: &mut dyn Console,
) -> Step {
    let files = small_files(env, mem);
    let plan = match Plan::derive(files, console) {
        Ok(p) => p,
        Err(f) => return fail(env, console, f),
    };
    env.set(FAILED, format_args!(""));
    let order = Order::new::<P>(&plan, mem);
    for (slot, check) in order.slots.iter().zip(order.checks) {
        if let (Some(slot), Some(Err((role, e)))) = (slot, check) {
            say(
                console,
                format_args!("REFUSED {} {}: {e}", slot.name(), role.name()),
            );
        }
    }
    match order.first_ok() {
        Some(i) => {
            let Some((slot, entry)) = order
                .slots
                .get(i)
                .copied()
                .flatten()
                .and_then(|s| plan.config.entry(s).map(|e| (s, e)))
            else {
                return fail(env, console, Failure::BadState(TRY));
            };
            say(console, format_args!("load {} files", slot.name()));
            ask_load::<P>(env, mem, slot, entry);
            Step::Load
        }
        None => {
            let errors = order.checks.map(|c| c.and_then(Result::err));
            let f = order.nothing(errors);
            fail(env, console, f)
        }
    }
}

/// The verified entry, as the script's `bootz` needs it. Made only from [`VerifiedFiles`].
#[derive(Debug)]
pub struct BootPlan {
    /// The entry booted.
    pub slot: Slot,
    /// Why.
    pub reason: Reason,
    /// Bytes of ramdisk, when the entry has one.
    pub ramdisk_size: Option<u32>,
    /// Bytes of device tree, when the entry has one (else the board's own is used).
    pub fdt_size: Option<u32>,
    /// The kernel command line: the verified entry's ([`VerifiedFiles::cmdline`]), plus `atomboot.slot=`
    /// and `atomboot.reason=`.
    pub bootargs: heapless::String<1200>,
    /// The env file to overwrite with the block at the start of `Memory::env_out`, and its length.
    pub env_write: Option<(&'static str, usize)>,
    /// What verified.
    files: VerifiedFiles,
}

impl BootPlan {
    /// The files and command line that verified.
    pub fn files(&self) -> &VerifiedFiles {
        &self.files
    }
}

/// What [`verify`] did. (No heap in the agent: the plan is returned by value, once per boot.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Verified {
    /// Boot this (the boot variables are set).
    Boot(BootPlan),
    /// The other entry's files are named: load them and verify again.
    LoadOther(Slot),
    /// Nothing boots.
    Fail(Failure),
}

#[allow(clippy::too_many_arguments)]
fn verify_entry<P: Policy>(
    policy: &P,
    env: &dyn Env,
    mem: &Memory<'_>,
    slot: Slot,
    entry: &Entry<'_>,
    console: &mut dyn Console,
    clock: &dyn Clock,
) -> Result<VerifiedFiles, (FileRole, VerifyError)> {
    let count = |name: &str| {
        let mut buf = [0u8; VALUE_ROOM];
        env.get(name, &mut buf).and_then(parse_hex_u32)
    };
    let loaded = FileRole::ALL.map(|role| count(file_vars(role).bytes));
    let proof = count(PROOF_VARS.bytes)
        .filter(|_| P::NEEDS_PROOF)
        .and_then(|n| usize::try_from(n).ok())
        .and_then(|n| mem.proof.bytes.get(..n));
    let files = Loaded {
        slot,
        entry,
        regions: FileRole::ALL.map(|role| mem.region(role).bytes),
        loaded,
        proof,
    };
    policy.check(&files, console, clock)
}

/// Go #2 of the unsigned agent: [`verify_with`] [`Unsigned`].
pub fn verify(
    env: &mut dyn Env,
    mem: &mut Memory<'_>,
    console: &mut dyn Console,
    clock: &dyn Clock,
) -> Verified {
    verify_with(&Unsigned, env, mem, console, clock)
}

/// Go #2: verifies the loaded files of the entry named by `atomboot_try` where they lie, as `policy`
/// checks them. Sets the boot variables, or names the other entry's files, or gives up; returns what it did.
pub fn verify_with<P: Policy>(
    policy: &P,
    env: &mut dyn Env,
    mem: &mut Memory<'_>,
    console: &mut dyn Console,
    clock: &dyn Clock,
) -> Verified {
    let step = verify_inner(policy, env, mem, console, clock);
    if let Verified::Fail(f) = step {
        fail(env, console, f);
    }
    step
}

fn verify_inner<P: Policy>(
    policy: &P,
    env: &mut dyn Env,
    mem: &mut Memory<'_>,
    console: &mut dyn Console,
    clock: &dyn Clock,
) -> Verified {
    let files = small_files(env, mem);
    // Derived again, silently: the first call said it all.
    let plan = match Plan::derive(files, &mut crate::report::Quiet) {
        Ok(p) => p,
        Err(f) => return Verified::Fail(f),
    };
    let order = Order::new::<P>(&plan, mem);
    let Some(first) = order.first_ok() else {
        return Verified::Fail(Failure::BadState(TRY));
    };
    let mut buf = [0u8; VALUE_ROOM];
    let Some(tried) = env.get(TRY, &mut buf).and_then(parse_slot) else {
        return Verified::Fail(Failure::BadState(TRY));
    };
    let Some(index) = order.slots.iter().position(|s| *s == Some(tried)) else {
        return Verified::Fail(Failure::BadState(TRY));
    };
    let mut fbuf = [0u8; VALUE_ROOM];
    let failed_text = env.get(FAILED, &mut fbuf).unwrap_or("");
    // What failed before the entry now loaded: a precheck (found again here) or, when the entry tried
    // first passed its precheck, the record of its load.
    let earlier: Option<(FileRole, VerifyError)> = if index == first {
        if !failed_text.is_empty() {
            return Verified::Fail(Failure::BadState(FAILED));
        }
        match order.checks.first().copied().flatten() {
            Some(Err(e)) if index == 1 => Some(e),
            _ => None,
        }
    } else if index == 1 && first == 0 {
        match FailedRecord::parse(failed_text) {
            Some(r) if !r.error.before_load() => Some((r.role, r.error)),
            _ => return Verified::Fail(Failure::BadState(FAILED)),
        }
    } else {
        return Verified::Fail(Failure::BadState(TRY));
    };
    let Some(entry) = plan.config.entry(tried) else {
        return Verified::Fail(Failure::BadState(TRY));
    };
    match verify_entry(policy, env, mem, tried, entry, console, clock) {
        Ok(files) => {
            let reason = match earlier {
                Some(e) => Reason::after_failure(plan.preferred, e),
                None => plan.reason,
            };
            let record_failure = matches!(reason, Reason::PrimaryBad { .. });
            let boot = finish(
                env,
                mem,
                &plan,
                tried,
                reason,
                record_failure,
                files,
                console,
            );
            Verified::Boot(boot)
        }
        Err(e) => {
            let next = order.slots.get(index.saturating_add(1)).copied().flatten();
            let next_ok = matches!(order.checks.get(1), Some(Some(Ok(()))));
            match next.and_then(|s| plan.config.entry(s).map(|en| (s, en))) {
                Some((slot, next_entry)) if index == 0 && next_ok => {
                    say(console, format_args!("trying the {} entry", slot.name()));
                    let record = FailedRecord {
                        role: e.0,
                        error: e.1,
                    };
                    env.set(FAILED, format_args!("{record}"));
                    ask_load::<P>(env, mem, slot, next_entry);
                    Verified::LoadOther(slot)
                }
                _ => {
                    let mut errors = [None, None];
                    if let Some(slot) = errors.get_mut(index) {
                        *slot = Some(e);
                    }
                    let other = if index == 0 { 1 } else { 0 };
                    let other_error = match order.checks.get(other).copied().flatten() {
                        Some(Err(pe)) => Some(pe),
                        _ => earlier,
                    };
                    if let Some(slot) = errors.get_mut(other) {
                        *slot = other_error;
                    }
                    Verified::Fail(order.nothing(errors))
                }
            }
        }
    }
}

/// Builds the boot variables and, when the counters or the rollback record changed, the env block to save.
#[allow(clippy::too_many_arguments)]
fn finish(
    env: &mut dyn Env,
    mem: &mut Memory<'_>,
    plan: &Plan<'_>,
    slot: Slot,
    reason: Reason,
    record_failure: bool,
    files: VerifiedFiles,
    console: &mut dyn Console,
) -> BootPlan {
    let [_, ramdisk_size, fdt_size] = files.sizes();
    let env_write = plan.env.as_ref().and_then(|c| {
        let before = plan.before;
        let decision = plan.decision;
        let mut reason_text: heapless::String<256> = heapless::String::new();
        let _ = write!(reason_text, "{reason}");
        let want_rollback = decision.after.rolled_back || record_failure;
        let counters_changed = decision.after != before;
        let record_changed = (record_failure || decision.limit_exceeded)
            && (c.block.get_str(names::REASON) != Some(reason_text.as_str())
                || !before.rolled_back);
        if !(counters_changed || record_changed) {
            return None;
        }
        let (target, flags) = c.next_write(FlagScheme::Incrementing);
        let [name0, name1] = ENV_FILES;
        let file_name = match target {
            Which::First => name0,
            Which::Second => name1,
        };
        // The new block has the size of the file it replaces (overwritten in place), else of the one read.
        let [e0, e1] = small_len(env, mem);
        let (target_len, used_len) = match target {
            Which::First => (e0, e1),
            Which::Second => (e1, e0),
        };
        let size = target_len
            .filter(|&n| n > env_block::REDUNDANT_HEADER)
            .or(used_len)
            .unwrap_or(0);
        let mut count: heapless::String<12> = heapless::String::new();
        let _ = write!(count, "{}", decision.after.bootcount);
        let ours: [(&[u8], &[u8]); 3] = [
            (names::BOOTCOUNT.as_bytes(), count.as_bytes()),
            (
                names::ROLLBACK.as_bytes(),
                if want_rollback { b"1" } else { b"0" },
            ),
            (
                names::REASON.as_bytes(),
                if record_failure || decision.limit_exceeded {
                    reason_text.as_bytes()
                } else {
                    c.block.get(names::REASON.as_bytes()).unwrap_or(b"")
                },
            ),
        ];
        let kept = c
            .block
            .vars()
            .filter(|v| !ours.iter().any(|(n, _)| *n == v.name))
            .map(|v| (v.name, v.value));
        let vars = kept.chain(ours.into_iter().filter(|(_, v)| !v.is_empty()));
        let Some(block) = mem.env_out.1.get_mut(..size) else {
            say(
                console,
                format_args!("env not saved: {size} bytes exceed the scratch area"),
            );
            return None;
        };
        match env_block::write(block, Header::Redundant { flags }, vars) {
            Ok(()) => {
                say(
                    console,
                    format_args!("save env to {file_name} (flags {flags})"),
                );
                Some((file_name, size))
            }
            Err(e) => {
                say(console, format_args!("env not saved: {e}"));
                None
            }
        }
    });

    let mut bootargs: heapless::String<1200> = heapless::String::new();
    let _ = write!(
        bootargs,
        "{} atomboot.slot={} atomboot.reason={}",
        files.cmdline(),
        slot.name(),
        reason.token()
    );
    say(console, format_args!("boot {} ({reason})", slot.name()));

    env.set("bootargs", format_args!("{bootargs}"));
    env.set("atomboot_slot", format_args!("{}", slot.name()));
    env.set(names::REASON, format_args!("{reason}"));
    env.set(
        "atomboot_kernel_addr",
        format_args!("{:#x}", mem.kernel.addr),
    );
    match ramdisk_size {
        Some(n) => env.set(
            "atomboot_initrd",
            format_args!("{:#x}:{n:#x}", mem.ramdisk.addr),
        ),
        None => env.set("atomboot_initrd", format_args!("-")),
    }
    match fdt_size {
        Some(_) => env.set("atomboot_fdt_addr", format_args!("{:#x}", mem.fdt.addr)),
        None => {
            // The board's own device tree, as U-Boot records it (hex, perhaps without 0x).
            let mut buf = [0u8; 24];
            let own = env.get("fdtcontroladdr", &mut buf).and_then(parse_hex_u32);
            match own {
                Some(a) => env.set("atomboot_fdt_addr", format_args!("{a:#x}")),
                None => env.set("atomboot_fdt_addr", format_args!("-")),
            }
        }
    }
    match env_write {
        Some((file, size)) => {
            env.set("atomboot_env_addr", format_args!("{:#x}", mem.env_out.0));
            env.set("atomboot_env_file", format_args!("{file}"));
            env.set("atomboot_env_size", format_args!("{size:#x}"));
            env.set("atomboot_save", format_args!("1"));
        }
        None => env.set("atomboot_save", format_args!("0")),
    }
    env.set(STEP, format_args!("{}", Step::Boot.name()));
    BootPlan {
        slot,
        reason,
        ramdisk_size,
        fdt_size,
        bootargs,
        env_write,
        files,
    }
}

/// Lengths of the two env files as loaded.
fn small_len(env: &dyn Env, mem: &Memory<'_>) -> [Option<usize>; 2] {
    let files = small_files(env, mem);
    files.env.map(|e| e.map(<[u8]>::len))
}
