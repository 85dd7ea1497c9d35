.code16
_start:
    hlt
    .org -1
