.code16
    jcxz ahead
    .fill 300, 1, 0x90
ahead: hlt
