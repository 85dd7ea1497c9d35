.code32
_start:
    stos %al
    lodsl %al
    scasb *%eax
    lodsl (%esi), %al
    stosb %al, %es:(%edi)
    hlt
