.code16
# hypercall.h is not included: its macros are unknown names, with a hint
_start:
    hc_putchar $'A'
    hc_exit $0
