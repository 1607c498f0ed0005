# atomboot boot script for TI am335x (am335x_evm U-Boot, env in uboot.env on mmc 0:1).
# Addresses come from board/src/lib.rs (AM335X); keep them in step (a test checks).
echo atomboot: boot script (am335x)
part start mmc 0 1 atomboot_part_start
part size mmc 0 1 atomboot_part_blocks
mmc read 0x8d000000 ${atomboot_part_start} ${atomboot_part_blocks}
fatload mmc 0:1 0x8c000000 atomboot-agent.bin
# am335x_evm has no setexpr to turn the block count into bytes: pass the profile's largest size; the FAT
# volume's own boot sector bounds what the agent reads.
if go 0x8c000000 0x8d000000 0x8000000; then
  if test "${atomboot_save}" = "1"; then
    fatwrite mmc 0:1 ${atomboot_env_addr} ${atomboot_env_file} ${atomboot_env_size}
  fi
  bootz ${atomboot_kernel_addr} ${atomboot_initrd} ${atomboot_fdt_addr}
fi
echo "atomboot: no verified entry booted: ${atomboot_reason}"
run recoverycmd
