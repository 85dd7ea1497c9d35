.code16
_start: hlt
    .balign 1<<40
