# String instructions written with their operands (kasm encodes them itself: keystone
# crashes after a few of these). Segment overrides apply to the source; addr32/addr16 follow
# the index registers.
.globl _start
_start:
.code16
movsb (%si), (%di)
movsb %ds:(%si), %es:(%di)
movsw %fs:(%si), %es:(%di)
movsl (%esi), (%edi)
cmpsb (%di), (%si)
cmpsb %es:(%di), %ds:(%si)
cmpsw %es:(%di), %cs:(%si)
lodsb (%si)
lodsb %es:(%si)
lodsw (%esi)
stosb %es:(%di)
stosw (%di)
scasb (%di)
scasb %es:(%edi)
insb (%dx), %es:(%di)
insw (%dx), (%di)
outsb (%si), (%dx)
outsw %es:(%si), (%dx)
xlat (%bx)
xlatb %es:(%bx)
rep movsb (%si), (%di)
lods (%si), %al
stos %ax, (%di)
.code32
movsb (%esi), (%edi)
movsw (%si), (%di)
cmpsl (%edi), (%esi)
lodsl %fs:(%esi)
.code64
movsb (%rsi), (%rdi)
movsq (%esi), (%edi)
cmpsb (%rdi), (%rsi)
lodsq (%rsi)
