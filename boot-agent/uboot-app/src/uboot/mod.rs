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

fn read_word(addr: usize) -> usize {
    // SAFETY: only called on addresses inside U-Boot's global data or inside a candidate table that lies in
    // U-Boot's own malloc/monitor area of RAM (checked by the caller), which is mapped and readable.
    unsafe { core::ptr::read_volatile(addr as *const usize) }
}

impl UBoot {
    /// Finds the jump table: the known offset first, else a scan of gd; each candidate must be a table whose
    /// first entries all point into U-Boot's code [relocaddr, relocaddr + mon_len).
    pub fn find() -> Result<UBoot, AbiError> {
        let gd = gd();
        if gd == 0 || gd % 4 != 0 || read_word(gd + GD_NEW_GD) != gd {
            return Err(AbiError::NoGd);
        }
        let reloc = read_word(gd + GD_RELOCADDR);
        let mon_len = read_word(gd + GD_MON_LEN);
        let code = reloc..reloc.saturating_add(mon_len);
        // The table itself is malloc'ed just below the relocated monitor.
        let table_area = reloc.saturating_sub(64 << 20)..reloc.saturating_add(mon_len);
        let looks_like_table = |p: usize| {
            p % 4 == 0
                && table_area.contains(&p)
                && (0..=SLOT_ENV_SET).all(|slot| code.contains(&read_word(p + slot * 4)))
        };
        let candidates = KNOWN_JT_OFFSETS.into_iter().chain((84..=200).step_by(4));
        for offset in candidates {
            let p = read_word(gd + offset);
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
pub fn ram(addr: u32, len: u32) -> &'static [u8] {
    // SAFETY: the caller passes a region of DDR reserved by the board profile (the scratch area's small
    // files, a load region), which the script filled before `go` and nothing writes while the agent runs.
    unsafe { core::slice::from_raw_parts(addr as usize as *const u8, len as usize) }
}

/// The bytes of `len` at `addr` in RAM, writable.
pub fn ram_mut(addr: u32, len: u32) -> &'static mut [u8] {
    // SAFETY: the caller passes the env-out room of the scratch area, disjoint from every other region
    // handed out (checked by the board crate's tests); it is handed out once per run.
    unsafe { core::slice::from_raw_parts_mut(addr as usize as *mut u8, len as usize) }
}

/// The n-th argument of `go` (argv[0] is the address itself).
pub fn arg(argc: i32, argv: *const *const u8, n: usize) -> Option<&'static str> {
    if n >= usize::try_from(argc).ok()? || argv.is_null() {
        return None;
    }
    // SAFETY: U-Boot passes argc valid pointers in argv, each a NUL-terminated string living for the command.
    let p = unsafe { *argv.add(n) };
    if p.is_null() {
        return None;
    }
    // SAFETY: see above.
    unsafe { core::ffi::CStr::from_ptr(p.cast()) }.to_str().ok()
}
