.code16
# string instructions GNU refuses by the position of their operands: kasm wrote bytes for each
_start:
    movsb (%si)
    lodsb %al, (%si)
    stosb (%di), %al
    movsb (%si), (%di), (%di)
    outsb %dx, (%si)
    insb (%di), (%dx)
    cmpsb %fs:(%si), (%di)
    hlt
