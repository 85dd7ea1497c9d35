# irq/tasks.S: two tasks preempted by the timer (32-bit protected mode, with an IDT).
#
# Task A and task B print three lines each. They share the console through a lock, a turn
# variable: a task waits until it is its turn, prints one line and gives the turn to the other.
# Waiting is spinning, and nothing in a task ever lets the other one run: only the timer
# does. 100 times a second IRQ0 comes through the IDT to the handler, which saves the
# interrupted task's registers on that task's stack, switches ESP to the other task's stack,
# and returns into the other task with iret. So the lines come out A, B, A, B, A, B, whatever
# the timing, and then task B says that both are done.
#include <hypercall.h>

.equ PIC1_CMD, 0x20
.equ PIC1_DATA, 0x21
.equ PIC2_CMD, 0xa0
.equ PIC2_DATA, 0xa1
.equ PIT_CH0, 0x40
.equ PIT_CMD, 0x43
.equ EOI, 0x20
.equ IRQ0_VECTOR, 0x20
.equ PIT_COUNT, 11932           # 1193182 Hz / 11932: 100 Hz
.equ CODE_SELECTOR, 0x08        # the flat code segment of the GDT kasm boots with
.equ EFLAGS_IF, 0x202           # interrupts enabled (bit 1 is always set)
.equ TASK_A, 0
.equ TASK_B, 1
.equ LINES, 3
.equ STACK_SIZE, 1024

.code32
.globl _start
_start:
    cli
    lidt idtr

    movb $0x34, %al             # PIT channel 0: low then high byte, mode 2, 100 Hz
    outb %al, $PIT_CMD
    movw $PIT_COUNT, %ax
    outb %al, $PIT_CH0
    movb %ah, %al
    outb %al, $PIT_CH0

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
    movb $0xfe, %al             # OCW1: every line masked but IRQ0
    outb %al, $PIC1_DATA
    movb $0xff, %al
    outb %al, $PIC2_DATA

    # Task B has not run yet: make its stack look as if the timer had interrupted it at its
    # first instruction (what iret pops, then what pushal saved), so switching to it works
    # like switching to a task that did run.
    movl $stack_b_top, %esp
    pushl $EFLAGS_IF
    pushl $CODE_SELECTOR
    pushl $task_b
    pushal
    movl %esp, saved_esp + 4 * TASK_B

    movl $stack_a_top, %esp     # task A runs on, on its own stack
    sti

task_a:
    movl $1, %esi               # the line number
1:  cmpl $TASK_A, turn          # wait for the turn: spin until the timer switches tasks
    jne 1b
    hc_print "task A: line "
    hc_putnum %esi
    hc_newline
    movl $TASK_B, turn
    incl %esi
    cmpl $LINES, %esi
    jbe 1b
2:  hlt                         # nothing more to do: sleep until the next tick
    jmp 2b

task_b:
    movl $1, %esi
1:  cmpl $TASK_B, turn
    jne 1b
    hc_print "task B: line "
    hc_putnum %esi
    hc_newline
    movl $TASK_A, turn
    incl %esi
    cmpl $LINES, %esi
    jbe 1b
    cli
    hc_print "both tasks are done\n"
    hc_exit

# IRQ0: switch tasks. The CPU has pushed EFLAGS, CS and EIP of the interrupted task.
timer:
    pushal
    movl current, %eax
    movl %esp, saved_esp(, %eax, 4)
    xorl $1, %eax               # the other task
    movl %eax, current
    movl saved_esp(, %eax, 4), %esp
    movb $EOI, %al
    outb %al, $PIC1_CMD
    popal                       # the other task's registers...
    iret                        # ...and its EIP, CS and EFLAGS

.section .rodata
.p2align 3
idt:
    .fill IRQ0_VECTOR * 8, 1, 0 # vectors 0x00-0x1f: no gates
    .word timer                 # vector 0x20: a 32-bit interrupt gate to the handler
    .word CODE_SELECTOR
    .word 0x8e00                # present, ring 0, 32-bit interrupt gate (IF cleared)
    .word 0                     # handler address bits 16-31 (kasm links below 64 KiB)
idt_end:
idtr:
    .word idt_end - idt - 1
    .long idt

.data
turn:
    .long TASK_A
current:
    .long TASK_A
saved_esp:
    .long 0, 0

.bss
    .skip STACK_SIZE
stack_a_top:
    .skip STACK_SIZE
stack_b_top:
