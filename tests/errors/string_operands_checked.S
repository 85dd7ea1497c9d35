.code16
_start:
    movsb (%bx), (%di)
    movs (%si), (%di)
    stosb %fs:(%di)
