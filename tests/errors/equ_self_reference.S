.equ A, A+1
.code16
    mov $A, %ax
