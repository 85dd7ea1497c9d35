# fuzz: .fill of 2**64-1 units of size 0 raised OverflowError
.code16
    hlt
    .fill 0xffffffffffffffff, 0
    .fill 0xffffffffffffffff, 1
