@ A stand-in "kernel" for the agent's QEMU tests: a valid zImage header, then code that prints its marker
@ on QEMU virt's PL011 and powers off through PSCI. It proves bootz ran exactly the bytes the agent verified.
        .syntax unified
        .arch_extension virt
        .arch_extension sec
        .arm
        .text
start:
        b       code
        .rept   8
        nop
        .endr
        .word   0x016f2818          @ zImage magic at 0x24
        .word   0                   @ start
        .word   image_end - start   @ end
code:
        adr     r1, msg
        ldr     r2, =0x09000000     @ PL011 data register
1:      ldrb    r3, [r1], #1
        cmp     r3, #0
        strbne  r3, [r2]
        bne     1b
        ldr     r0, =0x84000008     @ PSCI SYSTEM_OFF
        hvc     #0
        smc     #0
2:      b       2b
        .ltorg
msg:    .ascii  "\nFAKE-KERNEL "
tag:    .ascii  "X"
        .asciz  " started\n"
        .balign 4
image_end:
