# atomboot boot script for qemu-system-arm -M virt with Debian's u-boot-qemu (2023.01).
# Addresses come from board/src/lib.rs (QEMU_VIRT); keep them in step (a test checks).
echo atomboot: boot script (qemu-virt)
part start virtio 0 1 atomboot_part_start
part size virtio 0 1 atomboot_part_blocks
setexpr atomboot_part_bytes ${atomboot_part_blocks} * 0x200
virtio read 0x49000000 ${atomboot_part_start} ${atomboot_part_blocks}
fatload virtio 0:1 0x48000000 atomboot-agent.bin
# qemu only: this U-Boot's `go` flushes a PL011 that never reports idle (fixed in v2023.10); clear
# GD_FLG_SERIAL_READY (0x100) in gd->flags (gd = fdtcontroladdr + 0x100000, flags at gd + 4) first.
# The "&" is quoted: a bare & is a syntax error in hush.
setexpr atomboot_gdflags ${fdtcontroladdr} + 0x100004
setexpr.l atomboot_flags *${atomboot_gdflags}
setexpr atomboot_flags ${atomboot_flags} "&" 0xfffffeff
mw.l ${atomboot_gdflags} ${atomboot_flags}
if go 0x48000000 0x49000000 ${atomboot_part_bytes}; then
  if test "${atomboot_save}" = "1"; then
    echo atomboot: saving ${atomboot_env_file}
    fatwrite virtio 0:1 ${atomboot_env_addr} ${atomboot_env_file} ${atomboot_env_size}
  fi
  echo atomboot: bootz ${atomboot_kernel_addr} ${atomboot_initrd} ${atomboot_fdt_addr}
  bootz ${atomboot_kernel_addr} ${atomboot_initrd} ${atomboot_fdt_addr}
fi
echo "atomboot: no verified entry booted: ${atomboot_reason}"
poweroff
