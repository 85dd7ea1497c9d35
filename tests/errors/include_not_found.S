#include "missing.h"
.code16
    hlt
