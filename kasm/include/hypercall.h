/*
 * kasm hypercall library: the ABI of the VMM's hypercall device at port 0x500.
 *
 * Usable both as  #include <hypercall.h>  and as  .include "hypercall.h"  (kasm finds it
 * without a path). Only assembler directives live here, so GNU as reads it the same way.
 *
 * ABI: AL = function number, argument in BX (16-bit code), EBX (32-bit), RBX (64-bit),
 * then  outb %al, (%dx)  with DX = 0x500. Every hypercall is one VM exit.
 * The macros work in 16-, 32- and 64-bit code. They clobber AL, DX and BL/EBX.
 *
 * Registers by mode (the VMM reads the width of the mode the vCPU is in at the call):
 *
 *   function         16-bit code      32-bit code      64-bit code    result
 *   HC_EXIT     0    BX               EBX              RBX            does not return
 *   HC_PUTCHAR  1    BL               BL               BL             -
 *   HC_PUTNUM   2    BX               EBX              RBX            -
 *   HC_NEWLINE  3    -                -                -              -
 *   HC_GETCHAR  4    -                -                -              AX / EAX / RAX
 *   HC_WRITE    5    DS:BX, CX        EBX, ECX         RBX, RCX       -
 *   HC_PUTS     6    DS:BX            EBX              RBX            -
 *   HC_CPU_ID   7    -                -                -              AX / EAX / RAX = id,
 *                                                                     BX / EBX / RBX = count
 *
 * HC_GETCHAR gives the byte zero-extended, or all ones at end of input. In every mode the
 * byte has AH = 0 and the end has AH = 0xff, so  testb %ah, %ah  tells them apart.
 * HC_CPU_ID gives the calling vCPU's id (0 to N-1) and the number of vCPUs N (`--cpus`).
 * hc_write and hc_puts load pointers and lengths with movl, which in 64-bit code
 * zero-extends into RBX/RCX: right for any address below 4 GiB (kasm links at 0x1000).
 * For a wider pointer put it in RBX yourself and leave the argument blank:
 *     movq %rsi, %rbx
 *     hc_puts
 * hc_write also clobbers ECX (CX/ECX/RCX) when LEN is given; hc_getchar clobbers AH/EAX/RAX;
 * hc_cpu_id sets AX/EAX/RAX and BX/EBX/RBX.
 */
.ifndef HYPERCALL_PORT
.equ HYPERCALL_PORT, 0x500

.equ HC_EXIT,    0   /* stop the guest; BX/EBX/RBX = exit status              */
.equ HC_PUTCHAR, 1   /* print the byte in BL                                   */
.equ HC_PUTNUM,  2   /* print BX/EBX/RBX (by mode) in unsigned decimal         */
.equ HC_NEWLINE, 3   /* print "\n"                                            */
.equ HC_GETCHAR, 4   /* next input byte in AL, or AX/EAX/RAX = -1 at end       */
.equ HC_WRITE,   5   /* write CX/ECX/RCX bytes from address BX/EBX/RBX         */
.equ HC_PUTS,    6   /* print the NUL-terminated string at BX/EBX/RBX          */
.equ HC_CPU_ID,  7   /* AX/EAX/RAX = this vCPU's id, BX/EBX/RBX = vCPU count   */

/* hc_call FN: the hypercall itself; the argument is already in BX/EBX/RBX. */
.macro hc_call fn
    movb $\fn, %al
    movw $HYPERCALL_PORT, %dx
    outb %al, (%dx)
.endm

/* hc_putchar CH: print one byte; CH is an operand such as $'A' or %cl. */
.macro hc_putchar ch
    movb \ch, %bl
    hc_call HC_PUTCHAR
.endm

/* hc_putnum VALUE: print a number; VALUE is $imm, a 32-bit register or memory.
   (Already have it in BX/EBX/RBX? Use  hc_call HC_PUTNUM.) */
.macro hc_putnum value
    movl \value, %ebx
    hc_call HC_PUTNUM
.endm

/* hc_newline: print "\n". */
.macro hc_newline
    hc_call HC_NEWLINE
.endm

/* hc_getchar [EOF]: read one input byte into AL (AX/EAX/RAX by mode, AH = 0).
   At end of input AX/EAX/RAX is all ones; with EOF given, jump there instead. */
.macro hc_getchar eof
    hc_call HC_GETCHAR
.ifnb \eof
    testb %ah, %ah
    jnz \eof
.endif
.endm

/* hc_write [PTR], [LEN]: print LEN bytes at PTR in one exit. PTR is $label, a 32-bit
   register or memory (DS:BX in 16-bit code); a blank argument means BX/EBX/RBX (PTR) or
   CX/ECX/RCX (LEN) already holds it. */
.macro hc_write ptr, len
.ifnb \ptr
    movl \ptr, %ebx
.endif
.ifnb \len
    movl \len, %ecx
.endif
    hc_call HC_WRITE
.endm

/* hc_puts [PTR]: print the NUL-terminated string at PTR (as for hc_write) in one exit. */
.macro hc_puts ptr
.ifnb \ptr
    movl \ptr, %ebx
.endif
    hc_call HC_PUTS
.endm

/* hc_print "TEXT": print a string constant in one exit. The text goes into .rodata (with
   the usual escapes, e.g. "sum = \n"); the macro uses HC_PUTS, so it clobbers AL, DX, EBX. */
.macro hc_print text
    .pushsection .rodata
.Lhc_print_\@:
    .asciz "\text"
    .popsection
    hc_puts $.Lhc_print_\@
.endm

/* hc_cpu_id: this vCPU's id (0 to N-1) in AX/EAX/RAX and the number of vCPUs N in
   BX/EBX/RBX (by mode, like hc_getchar's result). */
.macro hc_cpu_id
    hc_call HC_CPU_ID
.endm

/* hc_exit STATUS: stop the guest; kasm run exits with STATUS (0-255). */
.macro hc_exit status=$0
    movl \status, %ebx
    hc_call HC_EXIT
.endm
.endif
