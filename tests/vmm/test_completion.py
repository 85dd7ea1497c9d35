"""The IRET the VMM completes when PVM's KVM cannot: exactly the return a ring-0 handler makes
in protected mode, and nothing else (a scripted vCPU over real guest memory)."""

from __future__ import annotations

import struct

import pytest
from fake_vcpu import FakeVcpu

from vmm import BootMode
from vmm import exits as ex
from vmm.completion import complete
from vmm.memory import GuestMemory
from vmm.modes import boot_state

FAILURE = ex.InternalError(ex.EMULATION_FAILURE)
IRET_AT = 0x2000
STACK = 0x8000


def guest(code: bytes = b"\xcf", frame: tuple[int, int, int] = (0x3000, 0x08, 0x202),
          mode: BootMode = BootMode.PROTECTED, width: int = 4,
          rflags: int = 0x2) -> tuple[FakeVcpu, GuestMemory]:
    """A vCPU stopped at `code` (an IRET) with `frame` (EIP, CS, EFLAGS) on its stack."""
    memory = GuestMemory(2 << 20)
    boot_regs, sregs = boot_state(mode, memory, 0x1000)
    memory.write(IRET_AT, code)
    memory.write(STACK, struct.pack("<III" if width == 4 else "<HHH", *frame))
    vcpu = FakeVcpu([], sregs=sregs)
    vcpu.regs = boot_regs.replace(rip=IRET_AT, rsp=STACK, rflags=rflags)
    return vcpu, memory


def test_a_32_bit_iret_to_the_same_ring_0_segment_is_completed() -> None:
    vcpu, memory = guest(frame=(0x3000, 0x08, 0x0000_0A97))
    cs = vcpu.sregs.cs
    assert complete(FAILURE, vcpu, memory) == "iret"
    assert (vcpu.regs.rip, vcpu.regs.rsp) == (0x3000, STACK + 12)
    assert vcpu.regs.rflags == 0xA97  # CF PF AF ZF SF IF OF as popped; bit 1 set
    assert vcpu.sregs.cs == cs


def test_a_16_bit_iret_pops_words_and_keeps_the_upper_flags() -> None:
    vcpu, memory = guest(code=b"\x66\xcf", width=2, frame=(0x3000, 0x08, 0x0202),
                         rflags=0x4_0002)
    assert complete(FAILURE, vcpu, memory) == "iret"
    assert (vcpu.regs.rip, vcpu.regs.rsp) == (0x3000, STACK + 6)
    assert vcpu.regs.rflags == 0x4_0202  # AC (bit 18) is above the 16 bits popped


def test_the_return_loads_another_ring_0_code_segment_from_the_gdt() -> None:
    vcpu, memory = guest(frame=(0x10, 0x18, 0x202))
    gdt = vcpu.sregs.gdt
    # a 16-bit code segment at base 0x40000, limit 0xffff, as descriptor 3
    memory.write(gdt.base + 0x18, struct.pack("<II", 0x0000_FFFF, 0x0000_9A04))
    vcpu.sregs = vcpu.sregs.replace(gdt=gdt.replace(limit=0x1F))
    assert complete(FAILURE, vcpu, memory) == "iret"
    cs = vcpu.sregs.cs
    assert (cs.selector, cs.base, cs.limit, cs.db, cs.type) == (0x18, 0x40000, 0xFFFF, 0, 0xB)
    assert vcpu.regs.rip == 0x10


@pytest.mark.parametrize(("what", "change"), [
    ("another emulation problem", lambda v, m: None),
    ("not an iret", lambda v, m: m.write(IRET_AT, b"\x90")),
    ("a far return", lambda v, m: m.write(IRET_AT, b"\xcb")),
    ("a nested task (NT set)", lambda v, m: setattr(v, "regs", v.regs.replace(rflags=0x4002))),
    ("a return to ring 3", lambda v, m: m.write(STACK + 4, b"\x0b\x00")),
    ("a selector beyond the GDT", lambda v, m: m.write(STACK + 4, b"\x40\x00")),
    ("a data segment", lambda v, m: m.write(STACK + 4, b"\x10\x00")),
    ("the null selector", lambda v, m: m.write(STACK + 4, b"\x00\x00")),
    ("a return to virtual-8086 mode", lambda v, m: m.write(STACK + 8, struct.pack("<I", 0x20202))),
    ("CPL 3", lambda v, m: setattr(v, "sregs", v.sregs.replace(cs=v.sregs.cs.replace(
        selector=0x0B)))),
])
def test_anything_else_stays_an_emulation_failure(what: str, change) -> None:
    vcpu, memory = guest()
    change(vcpu, memory)
    exit = ex.InternalError(2) if what == "another emulation problem" else FAILURE
    before = vcpu.regs.replace()
    assert complete(exit, vcpu, memory) is None, what
    assert vcpu.regs == before


@pytest.mark.parametrize("mode", [BootMode.REAL, BootMode.LONG])
def test_only_protected_mode_irets_are_completed(mode: BootMode) -> None:
    vcpu, memory = guest(mode=mode)
    assert complete(FAILURE, vcpu, memory) is None


def test_an_eip_beyond_the_segment_limit_is_not_completed() -> None:
    vcpu, memory = guest(frame=(0x3000, 0x08, 0x202))
    gdt = vcpu.sregs.gdt
    memory.write(gdt.base + 0x08, struct.pack("<II", 0x0000_0FFF, 0x0040_9A00))  # limit 4 KiB
    assert complete(FAILURE, vcpu, memory) is None
