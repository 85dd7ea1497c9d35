#include "inc/typo.h"
.code16
    hlt
