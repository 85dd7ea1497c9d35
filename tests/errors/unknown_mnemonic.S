.code16
_start:
    movx %ax, %bx
