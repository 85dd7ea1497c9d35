"""The UART's receive side as a polling guest sees it: bytes, then a visible end of input."""

from __future__ import annotations

import io

import vmm
from kasm.build import build_source

# Echo stdin to stdout through the UART until LSR reports a break (BI, bit 4) or DCD drops.
ECHO_UNTIL_END = """
.code16
_start:
    mov $0x3fd, %dx
wait:
    in (%dx), %al
    test $0x01, %al         # DR: a byte is waiting
    jnz byte
    test $0x10, %al         # BI: end of input
    jnz done
    jmp wait
byte:
    mov $0x3f8, %dx
    in (%dx), %al
    out %al, (%dx)
    mov $0x3fd, %dx
    jmp wait
done:
    mov $0x3fe, %dx         # MSR: DCD (bit 7) has dropped too
    in (%dx), %al
    test $0x80, %al
    jnz bad
    hlt
bad:
    ud2
"""


def run(stdin: bytes | None) -> tuple[str, bytes]:
    image = build_source(ECHO_UNTIL_END, "echo.S").image
    out = io.BytesIO()
    result = vmm.run_flat(image.flat(), base=image.entry, output=out, timeout=5.0,
                          input=None if stdin is None else io.BytesIO(stdin))
    return result.end.value, out.getvalue()


def test_polling_guest_reads_every_byte_then_sees_the_end(backend):
    assert run(b"abc\n") == ("hlt", b"abc\n")


def test_no_input_at_all_is_an_immediate_end(backend):
    assert run(None) == ("hlt", b"")
