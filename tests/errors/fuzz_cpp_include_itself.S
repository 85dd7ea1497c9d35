// fuzz: a file that #includes itself recursed until Python's stack overflowed
#include "fuzz_cpp_include_itself.S"
.code16
    hlt
