"""Timer interrupts through the PICs to guests' own handlers, in each CPU mode and on both
backends; HLT sleeping until the next interrupt, or ending the run as it always has."""

from __future__ import annotations

import io

import pytest
from gnu_guests import HC, PIC_PIT

from vmm import BootMode, ExitStats, RunEnd, run_flat

TICKS = 20
KHZ = 1193  # PIT clocks: a 1 kHz timer

REAL_TICKS = HC + PIC_PIT + f"""
.code16
    cli
    mov word ptr [0x20 * 4], offset timer
    mov word ptr [0x20 * 4 + 2], 0
    pit_rate {KHZ}
    pic_init 0x20, 0xfe
1:  sti
    hlt
    cli
    cmp word ptr [ticks], {TICKS}
    jb 1b
    mov bx, [ticks]
    hc 2
    mov bx, 0
    hc 0
timer:
    push ax
    inc word ptr [ticks]
    cmp word ptr [ticks], {TICKS}
    jb 2f
    mov al, 0xff            # the last tick: mask the timer
    out 0x21, al
2:  mov al, 0x20
    out 0x20, al
    pop ax
    iret
ticks: .word 0
"""

PROTECTED_TICKS = HC + PIC_PIT + f"""
.code32
    cli
    lidt [idtr]
    pit_rate {KHZ}
    pic_init 0x20, 0xfe
1:  sti
    hlt
    cli
    cmp dword ptr [ticks], {TICKS}
    jb 1b
    mov ebx, [ticks]
    hc 2
    mov ebx, 0
    hc 0
timer:
    push eax
    inc dword ptr [ticks]
    cmp dword ptr [ticks], {TICKS}
    jb 2f
    mov al, 0xff
    out 0x21, al
2:  mov al, 0x20
    out 0x20, al
    pop eax
    iretd
ticks: .long 0
.p2align 3
idt:
    .fill 0x20 * 8, 1, 0
    .word timer, 0x08, 0x8e00, 0
idtr:
    .word 0x21 * 8 - 1
    .long idt
"""

LONG_TICKS = HC + PIC_PIT + f"""
.code64
    cli
    lidt [rip + idtr]
    pit_rate {KHZ}
    pic_init 0x20, 0xfe
1:  sti
    hlt
    cli
    cmp dword ptr [rip + ticks], {TICKS}
    jb 1b
    mov ebx, [rip + ticks]
    hc 2
    mov ebx, 0
    hc 0
timer:
    push rax
    inc dword ptr [rip + ticks]
    cmp dword ptr [rip + ticks], {TICKS}
    jb 2f
    mov al, 0xff
    out 0x21, al
2:  mov al, 0x20
    out 0x20, al
    pop rax
    iretq
ticks: .long 0
.p2align 4
idt:
    .fill 0x20 * 16, 1, 0
    .word timer, 0x08, 0x8e00, 0
    .long 0, 0
idtr:
    .word 0x21 * 16 - 1
    .long idt, 0
"""


@pytest.mark.parametrize(("mode", "source"), [
    (BootMode.REAL, REAL_TICKS), (BootMode.PROTECTED, PROTECTED_TICKS),
    (BootMode.LONG, LONG_TICKS)], ids=["real", "protected", "long"])
def test_timer_ticks_reach_the_guests_handler(backend: str, asm, mode: BootMode,
                                              source: str) -> None:
    out = io.BytesIO()
    r = run_flat(asm(source), mode=mode, output=out, timeout=10)
    assert (r.end, out.getvalue()) == (RunEnd.HC_EXIT, str(TICKS).encode()), r.report()
    stats = r.stats
    assert stats.interrupts_by_irq == {0: TICKS}
    assert 1 <= stats.exits_by_reason["hlt"] <= TICKS  # a tick may come before the next hlt
    assert stats.exits_by_port[0x20] == 1 + TICKS  # ICW1 and an EOI a tick
    assert stats.exits_by_port[0x21] == 4 + 1  # ICW2-4, OCW1, and masking at the last tick
    assert stats.guest_wall_s >= (TICKS - 1) / 1000  # real time: 1 ms a tick
    iret = stats.completed_by_vmm.get("iret", 0)
    if mode is BootMode.PROTECTED and backend == "kvm":
        assert iret in (0, TICKS)  # TICKS on PVM's KVM, 0 with VT-x/AMD-V
        assert stats.exits_by_reason.get("internal_error", 0) == iret
    else:
        assert iret == 0


# REAL_TICKS on vCPU 0 while vCPU 1 spins: vCPU 0 takes the interrupts (and sleeps in HLT
# between them); on the emulator it must get its turn back from the spinning vCPU
SPIN_BESIDE_TICKS = REAL_TICKS.replace(""".code16
    cli
""", """.code16
    hc 7
    test ax, ax
    jz 0f
9:  jmp 9b
0:  cli
""", 1)


def test_timer_ticks_reach_vcpu_0_while_another_vcpu_spins(backend: str, asm) -> None:
    out = io.BytesIO()
    r = run_flat(asm(SPIN_BESIDE_TICKS), cpus=2, output=out, timeout=10)
    assert (r.end, out.getvalue()) == (RunEnd.HC_EXIT, str(TICKS).encode()), r.report()
    assert r.stats.interrupts_by_irq == {0: TICKS}
    assert [v.end for v in r.stats.vcpus] == ["hc_exit", "stopped"]


CLI_HLT = HC + PIC_PIT + f"""
.code16
    cli
    pit_rate {KHZ}
    pic_init 0x20, 0xfe
    hlt
"""


def timer_kicks(stats: ExitStats) -> int:
    """Exits a kick made (a tick due while the guest ran): how many depends on timing."""
    return stats.exits_by_reason.get("intr", 0)


def test_a_hlt_with_interrupts_off_still_ends_the_run_at_once(backend: str, asm) -> None:
    r = run_flat(asm(CLI_HLT), output=io.BytesIO(), timeout=10)
    assert r.end is RunEnd.HLT and r.stats.guest_wall_s < 1
    assert r.stats.exits_by_reason == {"io": 13, "hlt": 1, **(
        {"intr": timer_kicks(r.stats)} if timer_kicks(r.stats) else {})}
    assert r.stats.interrupts_by_irq == {}


MASKED_HLT = HC + PIC_PIT + f"""
.code16
    pit_rate {KHZ}
    pic_init 0x20, 0xff
    sti
    hlt
"""


def test_a_hlt_with_every_line_masked_ends_the_run_at_once(backend: str, asm) -> None:
    r = run_flat(asm(MASKED_HLT), output=io.BytesIO(), timeout=10)
    assert r.end is RunEnd.HLT and r.stats.total_exits == 14 + timer_kicks(r.stats)


TICK_THEN_HLT = HC + PIC_PIT + f"""
.code16
    cli
    mov word ptr [0x20 * 4], offset timer
    mov word ptr [0x20 * 4 + 2], 0
    pit_rate {KHZ}
    pic_init 0x20, 0xfe
    sti
    hlt                     # woken by the first tick
    hlt                     # the handler masked the timer: this one ends the run
timer:
    mov al, 0xff
    out 0x21, al
    mov al, 0x20
    out 0x20, al
    iret
"""


def test_a_hlt_ends_the_run_once_no_source_is_left(backend: str, asm) -> None:
    r = run_flat(asm(TICK_THEN_HLT), output=io.BytesIO(), timeout=10)
    assert r.end is RunEnd.HLT, r.report()
    assert r.stats.exits_by_reason["hlt"] == 2 and r.stats.interrupts_by_irq == {0: 1}
