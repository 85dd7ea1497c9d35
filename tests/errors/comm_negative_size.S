.code16
_start: hlt
    .comm buffer, -5
