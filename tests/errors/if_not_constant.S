.code16
.if later
    hlt
.endif
later:
