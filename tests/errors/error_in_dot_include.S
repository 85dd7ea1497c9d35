.code16
.include "inc/typo.inc"
