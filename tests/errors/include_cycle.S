.code16
_start:
    hlt
    .include "inc/cycle_a.inc"
