# String directives and escapes: \x hex, octal, \n \t \\ \" \b \f \r, and character constants.
.code16
.globl _start
_start:
    movb $'A', %al
    movb $'\n', %bl
    movb $'\\', %cl
    movb $'\'', %dl
    movb $' ', %ah
    movw $'a'+1, %si
    cmpb $'0, %al
    hlt
.section .rodata
    .ascii "\x41\x42\x7e"
    .ascii "\101\102\60\0"
    .asciz "tab\there\n"
    .string "quote\" back\\slash"
    .ascii "\b\f\r\t\v\a"
    .ascii "hex\x4a\x4B end"
    .asciz "a", "bc", ""
    .string "x;y#z"
    .ascii "semi;colon"
    .byte '\t', '\0', '\n, 'A, '\'', '\\'
    .byte '\v', '\a', '#', ';', ','
    .ascii "\8\19\777\x414\e\a\q\'"
