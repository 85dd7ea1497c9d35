# smp/table.S: the multiplication table of examples/multiplication.S (2 x 1 .. 9 x 9), its rows
# split among the vCPUs (`kasm run --cpus 4 examples/smp/table.S`), in 64-bit long mode.
# Row A belongs to vCPU (A - 2) mod N. Every vCPU first formats its rows into memory, all of
# them at once; then they print the rows in order by taking turns: `turn` holds the next row
# to print, its owner prints it with one HC_WRITE and passes the turn on, the others wait.
# Same output byte for byte as the one-vCPU table, however the vCPUs are scheduled.
# VM exits: HC_CPU_ID and HLT on every vCPU, and one HC_WRITE per row (8).
#include <hypercall.h>

.equ FIRST, 2
.equ LAST, 9
.equ ROW_SIZE, 128              # room for one formatted row (9 lines of at most 11 bytes)

.code64
.globl _start
_start:
    hc_cpu_id                   # RAX = this vCPU's id, RBX = the number of vCPUs
    movq %rbx, %r13             # R13 = N
    leaq FIRST(%rax), %r12      # R12 = this vCPU's first row

    movq %r12, %r9
format_rows:
    cmpq $LAST, %r9
    ja print_rows
    call format_row
    addq %r13, %r9
    jmp format_rows

print_rows:
    movq %r12, %r9
print_next:
    cmpq $LAST, %r9
    ja finished
wait_for_turn:
    cmpq %r9, turn(%rip)
    je my_turn
    pause
    jmp wait_for_turn
my_turn:
    call row_address            # RBX = the row, RAX = its index
    leaq lengths(%rip), %rcx
    movq (%rcx,%rax,8), %rcx    # RCX = its length
    hc_call HC_WRITE
    incq turn(%rip)             # the next row's owner goes on (only the turn's holder writes it)
    addq %r13, %r9
    jmp print_next
finished:
    hlt

# RBX = where row R9 is formatted, RAX = its index (R9 - FIRST).
row_address:
    leaq -FIRST(%r9), %rax
    movq %rax, %rbx
    shlq $7, %rbx               # x ROW_SIZE
    leaq rows(%rip), %rdx
    addq %rdx, %rbx
    ret

# Format row R9 ("A x 1 = A\n" .. "A x 9 = 9A\n") and store its length in lengths.
format_row:
    call row_address
    movq %rbx, %rdi             # RDI = where the next byte goes (stosb)
    movq $1, %r11               # R11 = B
1:  movb %r9b, %al
    call put_digit
    movl $0x00207820, (%rdi)    # " x " (and a NUL the next byte overwrites)
    addq $3, %rdi
    movb %r11b, %al
    call put_digit
    movl $0x00203d20, (%rdi)    # " = "
    addq $3, %rdi
    movq %r9, %rax
    imulq %r11, %rax            # A x B < 100
    cmpb $10, %al
    jb 2f
    movb $10, %cl
    divb %cl                    # AL = tens, AH = units
    call put_digit
    movb %ah, %al
2:  call put_digit
    movb $10, %al
    stosb                       # "\n"
    incq %r11
    cmpq $9, %r11
    jbe 1b
    subq %rbx, %rdi             # the row's length
    leaq -FIRST(%r9), %rax
    leaq lengths(%rip), %rcx
    movq %rdi, (%rcx,%rax,8)
    ret

put_digit:
    addb $'0', %al
    stosb
    ret

.data
.align 8
turn:    .quad FIRST            # the row whose turn it is to be printed

.bss
.align 8
lengths: .skip 8 * (LAST - FIRST + 1)
rows:    .skip ROW_SIZE * (LAST - FIRST + 1)
