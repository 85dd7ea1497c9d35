# String instruction operands are checked by position, as GNU checks them (AT&T `cmps`
# compares %es:(%di) with (%si)); another plain register in a position is GNU's warning, and
# the bytes are the instruction's own, the segment override that of the source position.
# movsd and cmpsd without operands are movsl and cmpsl (with GNU's warning).
.globl _start
_start:
.code16
movsb (%di), (%si)
movsb (%bx), (%di)
movsb %fs:(%di), %es:(%si)
movsb %es:(%di), %es:(%si)
cmpsb (%si), (%di)
cmpsb %es:(%si), (%di)
cmpsb (%si), %es:(%di)
cmpsb (%di), %fs:(%si)
lodsb (%di)
lodsb %es:(%di)
stosb %al, %es:(%si)
insb (%dx), (%si)
outsb (%di), (%dx)
xlat %es:(%si)
movsb (%eax), (%edi)
movsd
cmpsd
rep movsd
.code32
cmpsl (%esi), (%edi)
movsd
.code64
cmpsb (%rsi), (%rdi)
lodsb (%eax)
movsd
cmpsd
