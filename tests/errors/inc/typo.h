/* a header with a typo */
    movz %ax, %bx
