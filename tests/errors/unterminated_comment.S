.code16
    hlt
/* this comment
   never ends
