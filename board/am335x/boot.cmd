# atomboot boot script for TI am335x (am335x_evm U-Boot, env in uboot.env on mmc 0:1).
# Addresses come from board/src/lib.rs (AM335X, SCRATCH_LAYOUT); keep them in step (a test checks).
# Only the files that boot are read: the agent, the two loader copies and the env pair (each bounded by
# its room), then the chosen entry's files, each bounded by what the agent allows (docs/FORMATS.md,
# "Boot agent and boot script"). No setexpr here (am335x_evm has none): the agent does all arithmetic.
echo atomboot: boot script (am335x)
setenv atomboot_step
setenv atomboot_loader0_bytes
setenv atomboot_loader1_bytes
setenv atomboot_env0_bytes
setenv atomboot_env1_bytes
fatload mmc 0:1 0x8c000000 atomboot-agent.bin 0x20000
if fatload mmc 0:1 0x8c100000 loader.0/uEnv.txt 0x2000; then setenv atomboot_loader0_bytes ${filesize}; fi
if fatload mmc 0:1 0x8c102000 loader.1/uEnv.txt 0x2000; then setenv atomboot_loader1_bytes ${filesize}; fi
if fatload mmc 0:1 0x8c110000 uboot.env 0x10000; then setenv atomboot_env0_bytes ${filesize}; fi
if fatload mmc 0:1 0x8c120000 uboot-redund.env 0x10000; then setenv atomboot_env1_bytes ${filesize}; fi
# Load the files the agent named (atomboot_*_file, bounded by atomboot_*_max; the boot proof too when a
# signed agent names one), then let it verify them.
setenv atomboot_load 'if test -n "${atomboot_kernel_file}"; then if fatload mmc 0:1 ${atomboot_kernel_addr} ${atomboot_kernel_file} ${atomboot_kernel_max}; then setenv atomboot_kernel_bytes ${filesize}; fi; fi; if test -n "${atomboot_ramdisk_file}"; then if fatload mmc 0:1 ${atomboot_ramdisk_addr} ${atomboot_ramdisk_file} ${atomboot_ramdisk_max}; then setenv atomboot_ramdisk_bytes ${filesize}; fi; fi; if test -n "${atomboot_fdt_file}"; then if fatload mmc 0:1 ${atomboot_fdt_load_addr} ${atomboot_fdt_file} ${atomboot_fdt_max}; then setenv atomboot_fdt_bytes ${filesize}; fi; fi; if test -n "${atomboot_proof_file}"; then if fatload mmc 0:1 ${atomboot_proof_addr} ${atomboot_proof_file} ${atomboot_proof_max}; then setenv atomboot_proof_bytes ${filesize}; fi; fi; setenv atomboot_step; go 0x8c000000 verify'
go 0x8c000000 decide
# At most two entries are tried: the one the agent chose, then (when it fails) the other.
if test "${atomboot_step}" = "load"; then run atomboot_load; fi
if test "${atomboot_step}" = "load"; then run atomboot_load; fi
if test "${atomboot_step}" = "boot"; then
  if test "${atomboot_save}" = "1"; then
    fatwrite mmc 0:1 ${atomboot_env_addr} ${atomboot_env_file} ${atomboot_env_size}
  fi
  bootz ${atomboot_kernel_addr} ${atomboot_initrd} ${atomboot_fdt_addr}
fi
echo "atomboot: no verified entry booted: ${atomboot_reason}"
run recoverycmd
