//! atomboot-agent: the U-Boot standalone application. The boot script `fatload`s the loader copies and the
//! env pair into the scratch area and runs `go AGENT_ADDR decide`: the agent picks the entry and names its
//! files; the script `fatload`s them (bounded) and runs `go AGENT_ADDR verify`: the agent hashes them where
//! they lie and sets the variables the script's `bootz` needs, or names the fallback's files once
//! (docs/FORMATS.md, "Boot agent and boot script"). What the script does next is in `atomboot_step`
//! (`load`, `boot`, `fail`). Returns 0 when a step was set, 1 on bad arguments, 2 on an ABI mismatch.
#![no_std]
#![no_main]
#![deny(clippy::undocumented_unsafe_blocks)]

mod uboot;

use boot_agent::steps::{Memory, Region};
use boot_agent::{Clock, Console, Env, Policy};
use core::ffi::CStr;
use core::fmt::Write;
use uboot::UBoot;

#[cfg(all(feature = "board-qemu-virt", not(feature = "board-am335x")))]
const BOARD: board::Profile = board::QEMU_VIRT;
#[cfg(all(feature = "board-am335x", not(feature = "board-qemu-virt")))]
const BOARD: board::Profile = board::AM335X;

/// The trusted public keys, compiled in from the key file given at build time (build.rs).
#[cfg(feature = "signed")]
mod keys {
    include!(concat!(env!("OUT_DIR"), "/keys.rs"));
}

/// How entries are checked: signed (boot proofs against the compiled-in keys, the board's allow-list of
/// unsigned kernel arguments).
#[cfg(feature = "signed")]
fn policy() -> boot_agent::Signed<'static> {
    boot_agent::Signed {
        keys: &keys::KEYS,
        allow: BOARD.signed_kargs_allow(),
    }
}

/// How entries are checked: unsigned (the loader copy's SHA-256 values; development boards).
#[cfg(not(feature = "signed"))]
fn policy() -> boot_agent::Unsigned {
    boot_agent::Unsigned
}

struct UConsole<'u>(&'u UBoot);

impl Console for UConsole<'_> {
    fn line(&mut self, text: &str) {
        let mut buf: heapless::String<512> = heapless::String::new();
        let _ = buf.push_str(text.get(..text.len().min(500)).unwrap_or(""));
        let _ = buf.push_str("\n\0");
        if let Ok(c) = CStr::from_bytes_with_nul(buf.as_bytes()) {
            self.0.puts(c);
        }
    }
}

struct UClock<'u>(&'u UBoot);

impl Clock for UClock<'_> {
    fn now_ms(&self) -> u32 {
        self.0.get_timer(0)
    }
}

/// A NUL-terminated copy of `text` for U-Boot.
struct CText(heapless::String<1300>);

impl CText {
    fn new(args: core::fmt::Arguments<'_>) -> CText {
        let mut s = heapless::String::new();
        let _ = s.write_fmt(args);
        let _ = s.push('\0');
        CText(s)
    }

    fn get(&self) -> &CStr {
        CStr::from_bytes_with_nul(self.0.as_bytes()).unwrap_or(c"")
    }
}

/// U-Boot's environment through the jump table.
struct UEnv<'u>(&'u UBoot);

/// A NUL-terminated variable name (names are short constants).
fn c_name(name: &str) -> heapless::String<48> {
    let mut s = heapless::String::new();
    let _ = s.push_str(name);
    let _ = s.push('\0');
    s
}

impl Env for UEnv<'_> {
    fn get<'b>(&self, name: &str, buf: &'b mut [u8]) -> Option<&'b str> {
        let n = c_name(name);
        let c = CStr::from_bytes_with_nul(n.as_bytes()).ok()?;
        self.0.env_get(c, buf)
    }

    fn set(&mut self, name: &str, value: core::fmt::Arguments<'_>) {
        // Formatted into a buffer first: U-Boot is never called while core::fmt is on the stack.
        let n = c_name(name);
        let v = CText::new(value);
        if let Ok(c) = CStr::from_bytes_with_nul(n.as_bytes()) {
            self.0.env_set(c, v.get());
        }
    }
}

/// A board load region, read-only.
///
/// # Safety
/// As [`uboot::ram`]: the region must be mapped and not borrowed mutably while the result lives.
unsafe fn region(at: board::Region) -> Region<'static, [u8]> {
    Region {
        addr: at.addr,
        // SAFETY: the caller's guarantee.
        bytes: unsafe { uboot::ram(at.addr, at.len) },
    }
}

/// The entry point (`_start` jumps here once per `go`, .bss zeroed): the one place that turns U-Boot's
/// arguments and the board's RAM regions into safe values, each region handed out once.
///
/// # Safety
/// Called only by `_start` with the `argc`/`argv` U-Boot's `go` passed, on the board this agent was
/// built for (its RAM regions as the board profile describes them).
#[no_mangle]
#[allow(unsafe_code)]
pub unsafe extern "C" fn agent_main(argc: i32, argv: *const *const u8) -> i32 {
    let ub = match UBoot::find() {
        Ok(ub) => ub,
        Err(_) => return 2,
    };
    let mut console = UConsole(&ub);
    let clock = UClock(&ub);
    let mut env = UEnv(&ub);
    let policy = policy();
    // SAFETY: `go` passes U-Boot's argc/argv to the application unchanged.
    let step = unsafe { uboot::arg(argc, argv, 1) };
    boot_agent::report::say(
        &mut console,
        format_args!(
            "agent {} for {}, {} (U-Boot ABI {}): {}",
            env!("CARGO_PKG_VERSION"),
            BOARD.name,
            label(&policy),
            uboot::XF_VERSION,
            step.unwrap_or("?")
        ),
    );
    let out = BOARD.env_out();
    // SAFETY: the board profile's regions are mapped DDR, pairwise disjoint and clear of U-Boot and the
    // agent (board/tests/agent_layout.rs checks both boards); the script wrote them before `go` and nothing
    // writes them while the agent runs; each is handed out here once, and only env_out mutably.
    let mut mem = unsafe {
        Memory {
            small: BOARD
                .small_files()
                .map(|(_, at)| uboot::ram(at.addr, at.len)),
            env_out: (out.addr, uboot::ram_mut(out.addr, out.len)),
            kernel: region(BOARD.kernel),
            ramdisk: region(BOARD.ramdisk),
            fdt: region(BOARD.fdt),
            proof: region(BOARD.proof_area()),
        }
    };
    match step {
        Some("decide") => {
            boot_agent::decide_with(&policy, &mut env, &mem, &mut console);
            0
        }
        Some("verify") => {
            boot_agent::verify_with(&policy, &mut env, &mut mem, &mut console, &clock);
            0
        }
        _ => {
            boot_agent::report::say(
                &mut console,
                format_args!("usage: go {:#x} decide|verify", BOARD.agent.addr),
            );
            env.set("atomboot_step", format_args!("fail"));
            env.set(
                uenv::counter_names::REASON,
                format_args!("bad arguments to the agent"),
            );
            1
        }
    }
}

/// The mode on the console: `unsigned` or `signed`.
fn label<P: Policy>(_: &P) -> &'static str {
    P::LABEL
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    // The library is built to never panic on input; if it does anyway, reset rather than boot anything.
    match UBoot::find() {
        Ok(ub) => {
            ub.puts(c"atomboot: internal error, resetting\n");
            ub.reset()
        }
        Err(_) => loop {
            core::hint::spin_loop();
        },
    }
}
