# switch/real_to_long.S: one guest that climbs from real mode to long mode by itself, the way a
# boot loader does: lgdt + CR0.PE + far jump into .code32; then PAE, its own page tables,
# EFER.LME, CR0.PG and a far jump into .code64. In each mode it prints EBX = 0xffffffff (RBX =
# all ones in long mode) with HC_PUTNUM, whose width follows the mode the CPU is in:
#   "real mode: 65535\nprotected mode: 4294967295\nlong mode: 18446744073709551615\n"
# 3 hypercalls (PUTS, PUTNUM, NEWLINE) in each mode + HC_EXIT = 10 VM exits.
#include <hypercall.h>

.equ CODE32_SEL, 0x08
.equ DATA_SEL,   0x10
.equ CODE64_SEL, 0x18
.equ CR0_PE,     0x1
.equ CR0_PG,     0x80000000
.equ CR4_PAE,    0x20
.equ EFER,       0xC0000080
.equ EFER_LME,   0x100
.equ PTE_P_RW,   0x3
.equ PTE_PS,     0x80           # a 2 MiB page in a page directory entry

.code16
.globl _start
_start:
    cli                             # no IDT for the modes ahead: keep interrupts off
    xorw %ax, %ax
    movw %ax, %ds
    hc_puts $text_real
    movl $0xffffffff, %ebx
    hc_call HC_PUTNUM               # real mode: only BX counts
    hc_newline

    lgdt gdt_ptr
    movl %cr0, %eax
    orl $CR0_PE, %eax
    movl %eax, %cr0
    ljmp $CODE32_SEL, $protected    # loads CS from the GDT: now 32-bit code

.code32
protected:
    movw $DATA_SEL, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl $stack_top, %esp
    hc_puts $text_protected
    movl $0xffffffff, %ebx
    hc_call HC_PUTNUM               # protected mode: all of EBX
    hc_newline

    # Page tables (in .bss, zeroed): PML4[0] -> PDPT, PDPT[0] -> PD, PD[0] = one 2 MiB page
    # at 0, an identity map of the first 2 MiB (all of the default RAM, this code included).
    movl $pdpt + PTE_P_RW, pml4
    movl $pd + PTE_P_RW, pdpt
    movl $PTE_PS + PTE_P_RW, pd

    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $pml4, %eax
    movl %eax, %cr3
    movl $EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $CR0_PG, %eax               # paging on with EFER.LME: long mode (compatibility)
    movl %eax, %cr0
    ljmp $CODE64_SEL, $long         # a 64-bit code segment: now 64-bit code

.code64
long:
    hc_puts $text_long
    movq $-1, %rbx
    hc_call HC_PUTNUM               # long mode: all of RBX
    hc_newline
    hc_exit

.section .rodata
text_real:
    .asciz "real mode: "
text_protected:
    .asciz "protected mode: "
text_long:
    .asciz "long mode: "

.data
    .balign 8
gdt:
    .quad 0                         # null
    .quad 0x00cf9a000000ffff        # 0x08: code, 32-bit, flat 4 GiB
    .quad 0x00cf92000000ffff        # 0x10: data, flat 4 GiB
    .quad 0x00af9a000000ffff        # 0x18: code, 64-bit (L=1)
gdt_end:
gdt_ptr:
    .word gdt_end - gdt - 1
    .long gdt

.bss
    .balign 4096
pml4:
    .skip 4096
pdpt:
    .skip 4096
pd:
    .skip 4096
    .skip 1024
stack_top:
