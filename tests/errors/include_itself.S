.code16
# a file that includes itself: one error, not one per round until a limit
_start:
    hlt
    .include "include_itself.S"
