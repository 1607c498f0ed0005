//! The only FFI of the agent: U-Boot's global data (r9), its exported jump table, and the entry stub.
//! Everything unsafe lives here, each block with its SAFETY reason.
#![allow(unsafe_code)]

use core::arch::{asm, global_asm};

// The first instruction `go` jumps to, in A32 state. Saves the callee-saved registers U-Boot expects back
// (r9, gd, is never written: the whole binary is built with +reserve-r9), zeroes .bss (not in the flat
// binary), then calls the Rust entry with argc/argv untouched in r0/r1 and returns its result in r0.
global_asm!(
    ".section .text.start, \"ax\"",
    ".global _start",
    ".arm",
    "_start:",
    "    push {{r4-r8, r10, r11, lr}}",
    "    ldr r2, =__bss_start",
    "    ldr r3, =__bss_end",
    "    mov r4, #0",
    "1:  cmp r2, r3",
    "    strlo r4, [r2], #4",
    "    blo 1b",
    "    bl agent_main",
    "    pop {{r4-r8, r10, r11, pc}}",
    ".ltorg",
);

/// The jump-table ABI version both supported U-Boot builds export.
pub const XF_VERSION: usize = 9;
const SLOT_GET_VERSION: usize = 0;
const SLOT_PUTS: usize = 4;
const SLOT_GET_TIMER: usize = 12;
const SLOT_DO_RESET: usize = 14;
const SLOT_ENV_GET: usize = 15;
const SLOT_ENV_SET: usize = 16;
/// Offsets of `jt` in `struct global_data` measured on Debian's qemu_arm and am335x_evm v2023.01.
const KNOWN_JT_OFFSETS: [usize; 2] = [120, 124];
const GD_RELOCADDR: usize = 56;
const GD_MON_LEN: usize = 64;
const GD_NEW_GD: usize = 80;

/// U-Boot's services, reached through the jump table.
pub struct UBoot {
    jt: *const usize,
}

/// Why the jump table could not be trusted.
#[derive(Debug, Clone, Copy)]
pub enum AbiError {
    /// r9 does not point at a global data structure (gd->new_gd != gd).
    NoGd,
    /// No pointer in gd looks like the jump table.
    NoJumpTable,
    /// The table's get_version returned another ABI version.
    Version(#[allow(dead_code)] usize),
}

fn gd() -> usize {
    let value: usize;
    // SAFETY: reads r9, which U-Boot's ARM32 ABI reserves for gd; nothing else is touched.
    unsafe { asm!("mov {}, r9", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

/// One word of RAM.
///
/// # Safety
/// `addr` must be word-aligned, mapped and readable: inside U-Boot's global data, or inside U-Boot's own
/// malloc/monitor area of RAM.
unsafe fn read_word(addr: usize) -> usize {
    // SAFETY: the caller guarantees `addr` is aligned, mapped and readable.
    unsafe { core::ptr::read_volatile(addr as *const usize) }
}

impl UBoot {
    /// Finds the jump table: the known offset first, else a scan of gd; each candidate must be a table whose
    /// first entries all point into U-Boot's code [relocaddr, relocaddr + mon_len).
    pub fn find() -> Result<UBoot, AbiError> {
        let gd = gd();
        // SAFETY: r9 holds U-Boot's gd while an application runs (U-Boot's ARM32 ABI); a non-null, aligned
        // gd is U-Boot's global data, mapped and readable, and GD_NEW_GD lies inside it.
        if gd == 0 || !gd.is_multiple_of(4) || unsafe { read_word(gd + GD_NEW_GD) } != gd {
            return Err(AbiError::NoGd);
        }
        // SAFETY: gd was confirmed above (it points to itself at GD_NEW_GD); these fields lie inside it.
        let (reloc, mon_len) =
            unsafe { (read_word(gd + GD_RELOCADDR), read_word(gd + GD_MON_LEN)) };
        let code = reloc..reloc.saturating_add(mon_len);
        // The table itself is malloc'ed just below the relocated monitor.
        let table_area = reloc.saturating_sub(64 << 20)..reloc.saturating_add(mon_len);
        let looks_like_table = |p: usize| {
            p.is_multiple_of(4)
                && table_area.contains(&p)
                && (0..=SLOT_ENV_SET).all(|slot| {
                    // SAFETY: `p` is aligned and inside U-Boot's malloc/monitor area (checked just above),
                    // which is mapped RAM; the table's first slots lie there too.
                    code.contains(&unsafe { read_word(p + slot * 4) })
                })
        };
        let candidates = KNOWN_JT_OFFSETS.into_iter().chain((84..=200).step_by(4));
        for offset in candidates {
            // SAFETY: every candidate offset (84..=200) lies inside U-Boot's global data.
            let p = unsafe { read_word(gd + offset) };
            if looks_like_table(p) {
                let uboot = UBoot {
                    jt: p as *const usize,
                };
                let version = uboot.get_version();
                if version != XF_VERSION {
                    return Err(AbiError::Version(version));
                }
                return Ok(uboot);
            }
        }
        Err(AbiError::NoJumpTable)
    }

    fn slot(&self, n: usize) -> usize {
        // SAFETY: `jt` was validated by `find` to be a table with at least SLOT_ENV_SET + 1 entries.
        unsafe { core::ptr::read_volatile(self.jt.add(n)) }
    }

    fn get_version(&self) -> usize {
        // SAFETY: slot 0 is `int get_version(void)` in U-Boot's exports (XF_VERSION 9).
        let f: extern "C" fn() -> usize =
            unsafe { core::mem::transmute(self.slot(SLOT_GET_VERSION)) };
        f()
    }

    /// Prints a NUL-terminated string (U-Boot's printf would cut long text).
    pub fn puts(&self, text: &core::ffi::CStr) {
        // SAFETY: slot 4 is `void puts(const char *)`; `text` is NUL-terminated and outlives the call.
        let f: extern "C" fn(*const u8) = unsafe { core::mem::transmute(self.slot(SLOT_PUTS)) };
        f(text.as_ptr().cast());
    }

    /// Milliseconds since `base`.
    pub fn get_timer(&self, base: u32) -> u32 {
        // SAFETY: slot 12 is `unsigned long get_timer(unsigned long base)`.
        let f: extern "C" fn(u32) -> u32 =
            unsafe { core::mem::transmute(self.slot(SLOT_GET_TIMER)) };
        f(base)
    }

    /// The value of an environment variable, copied out.
    pub fn env_get<'b>(&self, name: &core::ffi::CStr, buf: &'b mut [u8]) -> Option<&'b str> {
        // SAFETY: slot 15 is `char *env_get(const char *name)`; `name` is NUL-terminated.
        let f: extern "C" fn(*const u8) -> *const u8 =
            unsafe { core::mem::transmute(self.slot(SLOT_ENV_GET)) };
        let p = f(name.as_ptr().cast());
        if p.is_null() {
            return None;
        }
        // SAFETY: a non-null result of env_get is a NUL-terminated string owned by U-Boot's env.
        let value = unsafe { core::ffi::CStr::from_ptr(p.cast()) }.to_bytes();
        let dst = buf.get_mut(..value.len())?;
        dst.copy_from_slice(value);
        core::str::from_utf8(dst).ok()
    }

    /// Sets an environment variable (in RAM; never saved by the agent).
    pub fn env_set(&self, name: &core::ffi::CStr, value: &core::ffi::CStr) -> bool {
        // SAFETY: slot 16 is `int env_set(const char *varname, const char *value)`; both NUL-terminated.
        let f: extern "C" fn(*const u8, *const u8) -> i32 =
            unsafe { core::mem::transmute(self.slot(SLOT_ENV_SET)) };
        f(name.as_ptr().cast(), value.as_ptr().cast()) == 0
    }

    /// Resets the board (used only if the agent itself panics).
    pub fn reset(&self) -> ! {
        // SAFETY: slot 14 is `int do_reset(struct cmd_tbl *, int, int, char *const [])`; it ignores its
        // arguments and does not return.
        let f: extern "C" fn(usize, i32, i32, usize) -> i32 =
            unsafe { core::mem::transmute(self.slot(SLOT_DO_RESET)) };
        f(0, 0, 0, 0);
        loop {
            core::hint::spin_loop();
        }
    }
}

/// The bytes of `len` at `addr` in RAM, read-only.
///
/// # Safety
/// `addr..addr + len` must be mapped RAM that nothing writes while the returned slice lives, and no
/// `&mut` to any of it may exist meanwhile.
pub unsafe fn ram(addr: u32, len: u32) -> &'static [u8] {
    // SAFETY: the caller guarantees the region is mapped, not written and not borrowed mutably.
    unsafe { core::slice::from_raw_parts(addr as usize as *const u8, len as usize) }
}

/// The bytes of `len` at `addr` in RAM, writable.
///
/// # Safety
/// `addr..addr + len` must be mapped RAM, disjoint from every other slice handed out while the returned
/// one lives, and this region may be handed out only once per run.
pub unsafe fn ram_mut(addr: u32, len: u32) -> &'static mut [u8] {
    // SAFETY: the caller guarantees the region is mapped, disjoint from every other slice, and unique.
    unsafe { core::slice::from_raw_parts_mut(addr as usize as *mut u8, len as usize) }
}

/// The n-th argument of `go` (argv[0] is the address itself).
///
/// # Safety
/// `argv` must be U-Boot's argument vector of `argc` entries (each null or a NUL-terminated string that
/// lives for the command), or null.
pub unsafe fn arg(argc: i32, argv: *const *const u8, n: usize) -> Option<&'static str> {
    if n >= usize::try_from(argc).ok()? || argv.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees argv has argc entries, and n < argc.
    let p = unsafe { *argv.add(n) };
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees each non-null entry is a NUL-terminated string living for the command.
    unsafe { core::ffi::CStr::from_ptr(p.cast()) }.to_str().ok()
}
