.code64
.globl _start
_start:
movabs table, %eax
movabs table, %rax
movabs table, %ax
movabs table, %al
movabs %al, table
movabs %rax, table
movabsq table, %rax
movabs 0x1122334455667788, %eax
movabs %fs:0x10, %eax
movabs $0x123456789, %rcx
table: .quad 0
