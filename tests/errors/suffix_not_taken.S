.code16
# a known instruction with a size suffix it does not have; a name with no such instruction
_start:
    pushb %al
    popb %al
    hltl
    lodsd (%bx)
    hlt
