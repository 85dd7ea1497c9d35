"""Guests that abuse the interrupt hardware end cleanly (a fault, or the timeout with the usual
report), on both backends, and the VMM's work stays proportional to what the guest takes:
ticks it cannot take are coalesced, not queued or chased."""

from __future__ import annotations

import io
import time

from gnu_guests import HC, PIC_PIT

from vmm import BootMode, RunEnd, run_flat

TIMEOUT = 1.0


def run(code: bytes, mode: BootMode = BootMode.REAL):
    start = time.monotonic()
    r = run_flat(code, mode=mode, output=io.BytesIO(), timeout=TIMEOUT)
    elapsed = time.monotonic() - start
    assert elapsed < TIMEOUT + 1.0, f"the run outlived its timeout: {elapsed:.2f} s"
    assert r.end is RunEnd.TIMEOUT or r.end.is_fault, r.end
    assert r.fault  # the usual report: where the guest was, or what it did
    return r


NEVER_ACKNOWLEDGES = HC + PIC_PIT + """
.code16
    cli
    mov word ptr [0x20 * 4], offset handler
    mov word ptr [0x20 * 4 + 2], 0
    pit_rate 2              # the timer at its fastest: 600 kHz
    pic_init 0x20, 0        # every line unmasked
    mov al, 0
    out 0xa1, al
    sti
1:  jmp 1b
handler:
    iret                    # no EOI: IRQ0 stays in service
"""


def test_a_guest_that_never_acknowledges_gets_one_interrupt_then_none(backend: str,
                                                                      asm) -> None:
    r = run(asm(NEVER_ACKNOWLEDGES))
    assert r.end is RunEnd.TIMEOUT and r.stats.interrupts_by_irq == {0: 1}
    assert r.stats.total_exits < 40  # ticks are not chased: the request bit coalesces them


FASTEST_TIMER = HC + PIC_PIT + """
.code16
    cli
    mov word ptr [0x20 * 4], offset handler
    mov word ptr [0x20 * 4 + 2], 0
    pit_rate 1              # a tick every clock, 1.19 MHz
    pic_init 0x20, 0xfe
    sti
1:  jmp 1b
handler:
    push ax
    mov al, 0x20
    out 0x20, al
    pop ax
    iret
"""


def test_the_fastest_timer_is_coalesced_to_what_the_guest_takes(backend: str, asm) -> None:
    r = run(asm(FASTEST_TIMER))
    assert r.end is RunEnd.TIMEOUT
    taken = r.stats.interrupts_by_irq[0]
    assert taken <= r.stats.exits_by_port[0x20]  # one interrupt for each EOI, at most
    assert taken < 1_193_182 * TIMEOUT / 10  # far fewer than the ticks that fell


NO_HANDLER_REAL = HC + PIC_PIT + """
.code16
    cli
    pit_rate 1193
    pic_init 0x08, 0xfe     # IRQ0 at vector 8, whose IVT entry is 0000:0000
    sti
1:  hlt
    jmp 1b
"""


def test_an_interrupt_through_an_ivt_of_zeros_ends_cleanly(backend: str, asm) -> None:
    run(asm(NO_HANDLER_REAL))


NO_IDT = HC + PIC_PIT + """
.code32
    cli
    pit_rate 1193
    pic_init 0x20, 0xfe
    sti
1:  hlt
    jmp 1b
"""


def test_an_interrupt_beyond_the_default_idt_is_reported_as_a_gp_naming_its_vector(
        backend: str, asm) -> None:
    r = run(asm(NO_IDT), BootMode.PROTECTED)
    assert r.end is RunEnd.EXCEPTION and r.register_dump
    assert "general protection fault (#GP)" in r.fault and "IDT vector 0x20" in r.fault
    if backend == "emu":  # a CPU sets EXT for an external event; KVM on these hosts does not
        assert "error code 0x103 (IDT vector 0x20, external)" in r.fault


LEVEL_FLOOD = HC + PIC_PIT + """
.code16
    cli
    mov word ptr [0x24 * 4], offset handler
    mov word ptr [0x24 * 4 + 2], 0
    pic_init 0x20, 0xef     # IRQ4 only...
    mov al, 0x19            # ...and level-triggered: a line that stays up asks again
    out 0x20, al
    mov al, 0x20
    out 0x21, al
    mov al, 4
    out 0x21, al
    mov al, 1
    out 0x21, al
    mov al, 0xef
    out 0x21, al
    mov dx, 0x3f9
    mov al, 2               # UART: interrupt while THR is empty, which it always is
    out dx, al
    sti
1:  jmp 1b
handler:
    push ax
    mov al, 0x20            # EOI, but the UART's interrupt is never cleared
    out 0x20, al
    pop ax
    iret
"""


def test_an_interrupt_that_is_never_cleared_floods_until_the_timeout(backend: str,
                                                                     asm) -> None:
    r = run(asm(LEVEL_FLOOD))
    assert r.end is RunEnd.TIMEOUT
    assert r.stats.interrupts_by_irq[4] <= r.stats.exits_by_port[0x20]


UNACKNOWLEDGED_HLT = HC + PIC_PIT + """
.code16
    cli
    mov word ptr [0x20 * 4], offset handler
    mov word ptr [0x20 * 4 + 2], 0
    pit_rate 1193
    pic_init 0x20, 0xfe
1:  sti
    hlt                     # the second HLT waits for a tick the PIC never passes on
    jmp 1b
handler:
    iret
"""


def test_a_hlt_waiting_for_a_tick_the_pic_holds_back_ends_at_the_timeout(backend: str,
                                                                         asm) -> None:
    r = run(asm(UNACKNOWLEDGED_HLT))
    assert r.end is RunEnd.TIMEOUT and r.stats.interrupts_by_irq == {0: 1}
    assert r.stats.exits_by_reason["hlt"] == 2 and r.stats.total_exits < 40
