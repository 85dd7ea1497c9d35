# Code alignment in 16-bit code for every pad size 1..40; the file ends in .code16, so
# GNU uses its 16-bit NOP table (90, 66 90, 8d 74 00, 8d b4 00 00, jmp over NOPs for >= 12).
.code16
.globl _start
_start:
    nop
    .balign 64
    .skip 64-1, 0xcc
pad1:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-2, 0xcc
pad2:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-3, 0xcc
pad3:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-4, 0xcc
pad4:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-5, 0xcc
pad5:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-6, 0xcc
pad6:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-7, 0xcc
pad7:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-8, 0xcc
pad8:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-9, 0xcc
pad9:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-10, 0xcc
pad10:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-11, 0xcc
pad11:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-12, 0xcc
pad12:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-13, 0xcc
pad13:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-14, 0xcc
pad14:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-15, 0xcc
pad15:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-16, 0xcc
pad16:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-17, 0xcc
pad17:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-18, 0xcc
pad18:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-19, 0xcc
pad19:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-20, 0xcc
pad20:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-21, 0xcc
pad21:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-22, 0xcc
pad22:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-23, 0xcc
pad23:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-24, 0xcc
pad24:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-25, 0xcc
pad25:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-26, 0xcc
pad26:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-27, 0xcc
pad27:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-28, 0xcc
pad28:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-29, 0xcc
pad29:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-30, 0xcc
pad30:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-31, 0xcc
pad31:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-32, 0xcc
pad32:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-33, 0xcc
pad33:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-34, 0xcc
pad34:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-35, 0xcc
pad35:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-36, 0xcc
pad36:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-37, 0xcc
pad37:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-38, 0xcc
pad38:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-39, 0xcc
pad39:
    .balign 64
    incw %ax
    .balign 64
    .skip 64-40, 0xcc
pad40:
    .balign 64
    incw %ax
    hlt
