.code16
# every loop/jcxz out of reach is reported, not only the first
_start:
    loop far_ahead
    jcxz far_ahead
    .fill 200, 1, 0x90
far_ahead:
    hlt
    loop _start
