"""Random guests for the VMM fuzzers: real-mode snippets a hostile or confused guest might
run (port I/O, hypercalls, far jumps, stores, string output, interrupts, mode bits), and raw
bytes. Shared by tests/vmm/test_fuzz.py and the backend differential test."""

from __future__ import annotations

import struct

from hypothesis import strategies as st

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)

# Real-mode instruction snippets a hostile or confused guest might run.
SNIPPETS = st.one_of(
    st.builds(lambda p: b"\xba" + struct.pack("<H", p) + b"\xee", u16),  # out %al,(%dx)
    st.builds(lambda p: b"\xba" + struct.pack("<H", p) + b"\xec", u16),  # in (%dx),%al
    st.builds(lambda p, s: b"\xba" + struct.pack("<H", p) + bytes([0xEF if s else 0xED]),
              u16, st.booleans()),  # 16-bit in/out
    st.builds(lambda fn, arg: b"\xbb" + struct.pack("<H", arg) + bytes([0xB0, fn])
              + b"\xba\x00\x05\xee", st.integers(0, 9), u16),  # hypercall AL=fn, BX=arg
    st.builds(lambda o, s: b"\xea" + struct.pack("<HH", o, s), u16, u16),  # ljmp $s,$o
    st.builds(lambda a, v: b"\xc6\x06" + struct.pack("<HB", a, v), u16, u8),  # movb $v,addr
    st.builds(lambda n, o: b"\xb9" + struct.pack("<H", n) + b"\xbe" + struct.pack("<H", o)
              + b"\xba\xf8\x03\xf3\x6e", st.integers(0, 64), u16),  # rep outsb to the UART
    st.builds(lambda v: bytes([0xCD, v]), u8),  # int $v
    st.sampled_from([
        b"\xfa", b"\xfb", b"\xf4", b"\x0f\x0b", b"\x0f\x30", b"\x0f\x32", b"\xcf", b"\xcc",
        b"\x0f\x20\xc0\x66\x83\xc8\x01\x0f\x22\xc0",  # set CR0.PE without a GDT
        b"\x0f\x01\x16\x00\x00",  # lgdt 0
        b"\x8e\xd8", b"\x8e\xd0",  # mov %ax,%ds / %ss
        b"\xeb\xfe",  # jmp .
        b"\x0f\x22\xd8",  # mov %eax,%cr3
    ]),
    st.binary(min_size=1, max_size=8),
)
GUESTS = st.one_of(
    st.binary(min_size=1, max_size=64),
    st.lists(SNIPPETS, min_size=1, max_size=12).map(b"".join),
)

# Real-mode snippets that play with the interrupt hardware: the PICs, the PIT, the UART's
# interrupt enables, interrupt vectors pointing anywhere, and IF. Not in GUESTS: a guest driven
# by the real-time timer does not run the same twice, so it has no place in the differential
# test; the VMM fuzzer runs these (tests/vmm/test_fuzz.py).
IRQ_PORTS = st.sampled_from([0x20, 0x21, 0xA0, 0xA1, 0x40, 0x41, 0x42, 0x43])
IRQ_SNIPPETS = st.one_of(
    st.builds(lambda v, p: bytes([0xB0, v, 0xE6, p]), u8, IRQ_PORTS),  # mov al,v; out p,al
    st.builds(lambda p: bytes([0xE4, p]), IRQ_PORTS),  # in al,p
    st.builds(lambda v: b"\xba\xf9\x03\xb0" + bytes([v]) + b"\xee", u8),  # UART IER = v
    st.builds(lambda base, mask: b"".join(bytes([0xB0, v, 0xE6, p]) for v, p in (
        (0x11, 0x20), (0x11, 0xA0), (base, 0x21), (base + 8 & 0xFF, 0xA1), (4, 0x21),
        (2, 0xA1), (1, 0x21), (1, 0xA1), (mask, 0x21), (0, 0xA1))),
        u8, u8),  # both PICs initialized at a random base, a random master mask
    st.builds(lambda n: b"\xb0\x34\xe6\x43\xb8" + struct.pack("<H", n)
              + b"\xe6\x40\x88\xe0\xe6\x40", u16),  # the PIT's channel 0 at a random rate
    st.builds(lambda v, o: b"\xc7\x06" + struct.pack("<HH", v * 4, o), u8, u16),  # a vector
    st.sampled_from([b"\xfb\xf4", b"\xfb", b"\xfa", b"\xcf", b"\xfb\xeb\xfe"]),
)
IRQ_GUESTS = st.lists(st.one_of(IRQ_SNIPPETS, SNIPPETS), min_size=1, max_size=16).map(b"".join)
