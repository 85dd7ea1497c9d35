# irq/ticks.S: count 10 timer ticks, then say how many (real mode).
#
# The 8254 timer (PIT) raises IRQ0 100 times a second. The 8259 interrupt controller (PIC),
# set up so that IRQ0 is vector 0x20, hands it to the CPU, which calls the handler through the
# real-mode interrupt vector table at address 0. Between ticks the CPU sleeps in HLT: `sti;
# hlt` turns interrupts on and halts (the instruction after sti runs before any interrupt, so
# no tick slips in between), and the next tick wakes it.
#
# Prints a dot a tick (from the handler), then "10 ticks"; it takes 0.1 s.
#include <hypercall.h>

.equ PIC1_CMD, 0x20
.equ PIC1_DATA, 0x21
.equ PIC2_CMD, 0xa0
.equ PIC2_DATA, 0xa1
.equ PIT_CH0, 0x40
.equ PIT_CMD, 0x43
.equ EOI, 0x20
.equ IRQ0_VECTOR, 0x20
.equ HZ, 100
.equ PIT_COUNT, (1193182 + HZ / 2) / HZ     # 11932 clocks of 1.193182 MHz: 99.998 Hz
.equ TICKS, 10

.code16
.globl _start
_start:
    cli
    xorw %ax, %ax
    movw %ax, %ds
    movw $timer, IRQ0_VECTOR * 4        # the vector: the handler's offset...
    movw %ax, IRQ0_VECTOR * 4 + 2       # ...and segment

    # The timer first: reprogramming it can make an edge on IRQ0, which initializing the
    # PIC then forgets.
    movb $0x34, %al             # PIT channel 0: low then high byte, mode 2 (rate generator)
    outb %al, $PIT_CMD
    movw $PIT_COUNT, %ax
    outb %al, $PIT_CH0
    movb %ah, %al
    outb %al, $PIT_CH0

    movb $0x11, %al             # ICW1: initialize, edge-triggered, cascaded, ICW4 follows
    outb %al, $PIC1_CMD
    outb %al, $PIC2_CMD
    movb $IRQ0_VECTOR, %al      # ICW2: IRQ0-7 are vectors 0x20-0x27...
    outb %al, $PIC1_DATA
    movb $IRQ0_VECTOR + 8, %al  # ...and IRQ8-15 0x28-0x2f
    outb %al, $PIC2_DATA
    movb $0x04, %al             # ICW3: the slave is on the master's line 2...
    outb %al, $PIC1_DATA
    movb $0x02, %al             # ...and knows it
    outb %al, $PIC2_DATA
    movb $0x01, %al             # ICW4: 8086 mode
    outb %al, $PIC1_DATA
    outb %al, $PIC2_DATA
    movb $0xfe, %al             # OCW1: every line masked but IRQ0
    outb %al, $PIC1_DATA
    movb $0xff, %al
    outb %al, $PIC2_DATA

wait:
    sti
    hlt                         # sleep until the next interrupt
    cli
    cmpl $TICKS, ticks
    jb wait

    hc_newline
    hc_putnum ticks
    hc_print " ticks\n"
    hc_exit

# IRQ0: count the tick, print a dot, tell the PIC it is handled (EOI), return. The last tick
# also masks IRQ0: no more come.
timer:
    pushw %ax
    pushw %dx
    pushl %ebx                  # the hypercall macros clobber AL, DX and EBX
    incl ticks
    hc_putchar $'.'
    cmpl $TICKS, ticks
    jb 1f
    movb $0xff, %al
    outb %al, $PIC1_DATA
1:  movb $EOI, %al
    outb %al, $PIC1_CMD
    popl %ebx
    popw %dx
    popw %ax
    iret

.data
ticks:
    .long 0
