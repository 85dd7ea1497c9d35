# fuzz: pcpp raised IndexError on a #define with no name
.code16
    hlt
#define
