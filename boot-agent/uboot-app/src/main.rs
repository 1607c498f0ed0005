//! atomboot-agent: the U-Boot standalone application. `go AGENT_ADDR PART_ADDR PART_SIZE` runs it on the
//! boot partition the script has read into RAM; it verifies the entry to boot, copies it to the load
//! addresses and sets the variables the script's `bootz` needs (docs/FORMATS.md, "Boot agent and boot
//! script"). Returns 0 to boot, 1 when nothing verifies (the script must not boot), 2 on an ABI mismatch.
#![no_std]
#![no_main]

mod uboot;

use boot_agent::{Clock, Console, Targets};
use core::ffi::CStr;
use core::fmt::Write;
use uboot::UBoot;

#[cfg(all(feature = "board-qemu-virt", not(feature = "board-am335x")))]
const BOARD: board::Profile = board::QEMU_VIRT;
#[cfg(all(feature = "board-am335x", not(feature = "board-qemu-virt")))]
const BOARD: board::Profile = board::AM335X;

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

fn set(ub: &UBoot, name: &CStr, args: core::fmt::Arguments<'_>) {
    let value = CText::new(args);
    ub.env_set(name, value.get());
}

fn parse_hex(text: &str) -> Option<u32> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    u32::from_str_radix(digits, 16).ok()
}

#[no_mangle]
pub extern "C" fn agent_main(argc: i32, argv: *const *const u8) -> i32 {
    let ub = match UBoot::find() {
        Ok(ub) => ub,
        Err(_) => return 2,
    };
    let mut console = UConsole(&ub);
    let clock = UClock(&ub);
    boot_agent::report::say(
        &mut console,
        format_args!(
            "agent {} for {} (U-Boot ABI {})",
            env!("CARGO_PKG_VERSION"),
            BOARD.name,
            uboot::XF_VERSION
        ),
    );
    let (part_addr, part_size) = match (
        uboot::arg(argc, argv, 1).and_then(parse_hex),
        uboot::arg(argc, argv, 2).and_then(parse_hex),
    ) {
        (Some(a), Some(s)) if a == BOARD.partition.0 && s > 0 && s <= BOARD.partition.1 => (a, s),
        _ => {
            boot_agent::report::say(
                &mut console,
                format_args!(
                    "usage: go AGENT {:#x} PART_SIZE (at most {:#x}): partition address or size wrong",
                    BOARD.partition.0, BOARD.partition.1
                ),
            );
            set(
                &ub,
                c"atomboot_reason",
                format_args!("bad arguments to the agent"),
            );
            return 1;
        }
    };
    let partition = uboot::ram(part_addr, part_size);
    let targets = Targets {
        kernel: uboot::ram_mut(BOARD.kernel.0, BOARD.kernel.1),
        ramdisk: uboot::ram_mut(BOARD.ramdisk.0, BOARD.ramdisk.1),
        fdt: uboot::ram_mut(BOARD.fdt.0, BOARD.fdt.1),
    };
    let scratch = uboot::ram_mut(BOARD.scratch.0, BOARD.scratch.1);
    set(&ub, c"atomboot_save", format_args!("0"));
    match boot_agent::run(partition, targets, scratch, &mut console, &clock) {
        Ok(plan) => {
            set(&ub, c"bootargs", format_args!("{}", plan.bootargs));
            set(&ub, c"atomboot_slot", format_args!("{}", plan.slot.name()));
            set(&ub, c"atomboot_reason", format_args!("{}", plan.reason));
            set(
                &ub,
                c"atomboot_kernel_addr",
                format_args!("{:#x}", BOARD.kernel.0),
            );
            match plan.ramdisk_size {
                Some(n) => set(
                    &ub,
                    c"atomboot_initrd",
                    format_args!("{:#x}:{:#x}", BOARD.ramdisk.0, n),
                ),
                None => set(&ub, c"atomboot_initrd", format_args!("-")),
            }
            match plan.fdt_size {
                Some(_) => set(
                    &ub,
                    c"atomboot_fdt_addr",
                    format_args!("{:#x}", BOARD.fdt.0),
                ),
                None => {
                    let mut buf = [0u8; 24];
                    // The board's own device tree (QEMU's), as U-Boot records it (hex without 0x).
                    let own = ub.env_get(c"fdtcontroladdr", &mut buf).unwrap_or("");
                    let prefix = if own.starts_with("0x") { "" } else { "0x" };
                    set(&ub, c"atomboot_fdt_addr", format_args!("{prefix}{own}"));
                }
            }
            if let Some(w) = plan.env_write {
                set(
                    &ub,
                    c"atomboot_env_addr",
                    format_args!("{:#x}", w.block.as_ptr() as usize),
                );
                set(&ub, c"atomboot_env_file", format_args!("{}", w.file_name));
                set(
                    &ub,
                    c"atomboot_env_size",
                    format_args!("{:#x}", w.block.len()),
                );
                set(&ub, c"atomboot_save", format_args!("1"));
            }
            0
        }
        Err(failure) => {
            set(&ub, c"atomboot_reason", format_args!("{failure}"));
            boot_agent::report::say(
                &mut console,
                format_args!("nothing verified: refusing to boot"),
            );
            1
        }
    }
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
