.code16
back:
    .fill 200, 1, 0x90
    loop back
