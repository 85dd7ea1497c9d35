# Macro arguments as GNU as splits them: a "quoted string" is one argument (commas and
# blanks inside it included) and loses its quotes; otherwise commas, else blanks, separate.
.code16
.macro say text
    .asciz "\text"
.endm
.macro pair a b
    .byte \a
    .byte \b
.endm
.globl _start
_start:
    hlt
    say "Hello, world"
    say "Hi there"
    pair 1 2
    pair 3, 4
    pair (1 + 2), 'x

