    hlt
.endif
