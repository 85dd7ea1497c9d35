# Code alignment in 32-bit code for every pad size 1..40 with GNU's 32-bit NOP table.
.code32
.globl _start
_start:
    nop
    .balign 64
    .skip 64-1, 0xcc
pad1:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-2, 0xcc
pad2:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-3, 0xcc
pad3:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-4, 0xcc
pad4:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-5, 0xcc
pad5:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-6, 0xcc
pad6:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-7, 0xcc
pad7:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-8, 0xcc
pad8:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-9, 0xcc
pad9:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-10, 0xcc
pad10:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-11, 0xcc
pad11:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-12, 0xcc
pad12:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-13, 0xcc
pad13:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-14, 0xcc
pad14:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-15, 0xcc
pad15:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-16, 0xcc
pad16:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-17, 0xcc
pad17:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-18, 0xcc
pad18:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-19, 0xcc
pad19:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-20, 0xcc
pad20:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-21, 0xcc
pad21:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-22, 0xcc
pad22:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-23, 0xcc
pad23:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-24, 0xcc
pad24:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-25, 0xcc
pad25:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-26, 0xcc
pad26:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-27, 0xcc
pad27:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-28, 0xcc
pad28:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-29, 0xcc
pad29:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-30, 0xcc
pad30:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-31, 0xcc
pad31:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-32, 0xcc
pad32:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-33, 0xcc
pad33:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-34, 0xcc
pad34:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-35, 0xcc
pad35:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-36, 0xcc
pad36:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-37, 0xcc
pad37:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-38, 0xcc
pad38:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-39, 0xcc
pad39:
    .p2align 6
    incw %ax
    .balign 64
    .skip 64-40, 0xcc
pad40:
    .p2align 6
    incw %ax
    hlt
