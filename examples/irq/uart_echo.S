# irq/uart_echo.S: echo stdin to stdout, driven by the UART's interrupt (real mode).
#   echo hello | kasm run examples/irq/uart_echo.S     ->  hello
#
# The UART raises IRQ4 when a byte has come in (IER bit 0: received data available) and when
# the input ends (IER bit 2: a receiver line status interrupt, a break). The handler asks IIR
# why, echoes every byte that is there, and acknowledges at the PIC. In between, the CPU sleeps
# in HLT: a guest that waits this way makes no VM exits while it waits. `kasm run --stats`
# shows a few exits a byte (IIR, RBR, THR) and a few an interrupt (HLT, IIR, EOI), however
# long the input takes to come; a guest polling LSR would make exits for as long as it waits.
#include <hypercall.h>

.equ UART, 0x3f8
.equ UART_RBR, UART + 0         # receive buffer (read) / transmit holding register (write)
.equ UART_IER, UART + 1
.equ UART_IIR, UART + 2
.equ UART_MCR, UART + 4
.equ UART_LSR, UART + 5
.equ IER_RDA, 0x01              # interrupt when a byte has come in
.equ IER_RLS, 0x04              # interrupt on a line status change: a break (the end)
.equ IIR_NONE, 0x01             # IIR bit 0: no interrupt pending
.equ IIR_RLS, 0x06
.equ IIR_RDA, 0x04
.equ LSR_BI, 0x10
.equ MCR_OUT2, 0x08             # on a PC, OUT2 connects the UART's interrupt to the PIC
.equ PIC1_CMD, 0x20
.equ PIC1_DATA, 0x21
.equ PIC2_CMD, 0xa0
.equ PIC2_DATA, 0xa1
.equ EOI, 0x20
.equ IRQ0_VECTOR, 0x20
.equ UART_VECTOR, IRQ0_VECTOR + 4   # IRQ4

.code16
.globl _start
_start:
    cli
    xorw %ax, %ax
    movw %ax, %ds
    movw $uart_interrupt, UART_VECTOR * 4
    movw %ax, UART_VECTOR * 4 + 2

    movb $0x11, %al             # ICW1: initialize, edge-triggered, cascaded, ICW4 follows
    outb %al, $PIC1_CMD
    outb %al, $PIC2_CMD
    movb $IRQ0_VECTOR, %al      # ICW2: IRQ0-7 are vectors 0x20-0x27, IRQ8-15 0x28-0x2f
    outb %al, $PIC1_DATA
    movb $IRQ0_VECTOR + 8, %al
    outb %al, $PIC2_DATA
    movb $0x04, %al             # ICW3: the slave is on the master's line 2
    outb %al, $PIC1_DATA
    movb $0x02, %al
    outb %al, $PIC2_DATA
    movb $0x01, %al             # ICW4: 8086 mode
    outb %al, $PIC1_DATA
    outb %al, $PIC2_DATA
    movb $0xef, %al             # OCW1: every line masked but IRQ4
    outb %al, $PIC1_DATA
    movb $0xff, %al
    outb %al, $PIC2_DATA

    movw $UART_MCR, %dx
    movb $MCR_OUT2, %al
    outb %al, %dx
    movw $UART_IER, %dx
    movb $IER_RDA | IER_RLS, %al
    outb %al, %dx

wait:
    sti
    hlt                         # sleep until the next interrupt
    cli
    cmpb $0, finished
    je wait
    hc_exit

# IRQ4: while IIR says something is pending, deal with it; then EOI.
uart_interrupt:
    pushw %ax
    pushw %dx
next:
    movw $UART_IIR, %dx
    inb %dx, %al
    testb $IIR_NONE, %al
    jnz handled
    andb $0x0e, %al
    cmpb $IIR_RDA, %al
    jne 1f
    movw $UART_RBR, %dx
    inb %dx, %al                # the byte...
    outb %al, %dx               # ...echoed (THR is the same port)
    jmp next
1:  cmpb $IIR_RLS, %al
    jne next
    movw $UART_LSR, %dx
    inb %dx, %al                # reading LSR acknowledges the line status interrupt
    testb $LSR_BI, %al
    jz next
    movb $1, finished           # a break: the input has ended
    jmp next
handled:
    movb $EOI, %al
    outb %al, $PIC1_CMD
    popw %dx
    popw %ax
    iret

.data
finished:
    .byte 0
