"""The interrupt controller through the run loop, over a scripted vCPU: when an interrupt is
injected, when the loop asks for an interrupt window, when a HLT sleeps and when it ends the
run, and the kick that reaches a guest making no exits (no /dev/kvm needed)."""

from __future__ import annotations

import io
import os
import time

from fake_vcpu import FakeBackend, FakeVcpu

from vmm import Machine, RunEnd
from vmm import exits as ex


def out(port: int, value: int) -> ex.IoOut:
    return ex.IoOut(port, 1, bytes([value]))


def pic_setup(master_mask: int) -> list[ex.IoOut]:
    """ICW1-ICW4 on both PICs (vectors 0x20 and 0x28), then the masks."""
    return [out(0x20, 0x11), out(0xA0, 0x11), out(0x21, 0x20), out(0xA1, 0x28),
            out(0x21, 0x04), out(0xA1, 0x02), out(0x21, 0x01), out(0xA1, 0x01),
            out(0x21, master_mask), out(0xA1, 0xFF)]


def pit_setup(count: int) -> list[ex.IoOut]:
    """Channel 0, mode 2, `count` clocks a tick."""
    return [out(0x43, 0x34), out(0x40, count & 0xFF), out(0x40, count >> 8)]


EOI = out(0x20, 0x20)
HC_EXIT = ex.IoOut(0x500, 1, b"\x00")


def machine(*script, input: object = None) -> Machine:
    backend = FakeBackend([list(script)])
    return Machine(1 << 20, backend=lambda memory: backend, output=io.BytesIO(),
                   input=input)


def interruptible(vcpu: FakeVcpu, exit: ex.Exit) -> ex.Exit:
    vcpu.if_flag = True
    return exit


def test_a_hlt_ends_the_run_when_no_pic_port_was_touched() -> None:
    with machine(lambda v: interruptible(v, ex.HLT)) as m:
        r = m.run(timeout=5)
    assert r.end is RunEnd.HLT and r.stats.total_exits == 1
    assert r.stats.interrupts_by_irq == {} and r.stats.to_dict()["interrupts_by_irq"] == {}


def test_a_hlt_with_interrupts_off_ends_the_run_though_the_timer_is_armed() -> None:
    with machine(*pit_setup(1193), *pic_setup(0xFE), ex.HLT) as m:
        t0 = time.monotonic()
        r = m.run(timeout=5)
    assert r.end is RunEnd.HLT and time.monotonic() - t0 < 1
    assert r.stats.total_exits == 14


def test_a_hlt_with_every_source_masked_ends_the_run() -> None:
    with machine(*pit_setup(1193), *pic_setup(0xFF), lambda v: interruptible(v, ex.HLT)) as m:
        r = m.run(timeout=5)
    assert r.end is RunEnd.HLT


def test_a_hlt_sleeps_until_the_tick_which_is_then_injected() -> None:
    with machine(*pit_setup(11932), *pic_setup(0xFE), lambda v: interruptible(v, ex.HLT),
                 EOI, HC_EXIT) as m:
        t0 = time.monotonic()
        r = m.run(timeout=5)
        elapsed = time.monotonic() - t0
        vcpu: FakeVcpu = m.vcpu  # type: ignore[assignment]
    assert r.end is RunEnd.HC_EXIT, r.fault
    assert vcpu.injected == [0x20] and r.stats.interrupts_by_irq == {0: 1}
    assert elapsed >= 0.009  # the first tick of a 100 Hz timer
    assert r.stats.exits_by_reason == {"io": 15, "hlt": 1}
    assert "interrupts: 1 (irq0 1)" in r.stats.format_text()
    assert r.stats.to_dict()["interrupts_by_irq"] == {"0": 1}


def test_an_interrupt_the_guest_cannot_take_waits_for_its_window() -> None:
    def sleep_for_a_tick(vcpu: FakeVcpu) -> ex.Exit:
        time.sleep(0.07)  # the guest runs with interrupts off while the tick comes
        return ex.IoOut(0x500, 1, b"\x03")

    # 18.2 Hz: one tick comes during the sleep, the next long after the run has ended
    with machine(*pit_setup(0xFFFF), *pic_setup(0xFE), sleep_for_a_tick, out(0x80, 0),
                 lambda v: interruptible(v, ex.IRQ_WINDOW_OPEN), EOI, HC_EXIT) as m:
        r = m.run(timeout=5)
        vcpu: FakeVcpu = m.vcpu  # type: ignore[assignment]
    assert r.end is RunEnd.HC_EXIT, r.fault
    assert vcpu.window_requests == [True, False] and vcpu.injected == [0x20]
    assert r.stats.exits_by_reason["irq_window_open"] == 1


def test_a_guest_making_no_exits_is_kicked_for_its_tick() -> None:
    def spin_until_kicked(vcpu: FakeVcpu) -> ex.Exit:
        vcpu.if_flag = True
        deadline = time.monotonic() + 2
        while not vcpu.kicks and time.monotonic() < deadline:
            time.sleep(0.001)
        return ex.INTERRUPTED

    with machine(*pit_setup(11932), *pic_setup(0xFE), spin_until_kicked, EOI, HC_EXIT) as m:
        r = m.run(timeout=5)
        vcpu: FakeVcpu = m.vcpu  # type: ignore[assignment]
    assert r.end is RunEnd.HC_EXIT, r.fault
    assert vcpu.kicks >= 1 and vcpu.injected == [0x20]
    assert r.stats.exits_by_reason["intr"] == 1


def test_a_sleeping_hlt_ends_at_the_timeout() -> None:
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(read_end, "rb", buffering=0) as silent:
            # the UART's received-data interrupt on IRQ4, and input that never comes
            with machine(*pic_setup(0xEF), out(0x3F9, 0x01), lambda v: interruptible(v, ex.HLT),
                         input=silent) as m:
                t0 = time.monotonic()
                r = m.run(timeout=0.3)
                elapsed = time.monotonic() - t0
    finally:
        os.close(write_end)
    assert r.end is RunEnd.TIMEOUT and 0.3 <= elapsed < 1.0
    assert "timeout" in r.fault


def test_input_arriving_wakes_a_sleeping_hlt() -> None:
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(read_end, "rb", buffering=0) as source:
            with machine(*pic_setup(0xEF), out(0x3F9, 0x01), lambda v: interruptible(v, ex.HLT),
                         ex.IoIn(0x3F8, 1), EOI, HC_EXIT, input=source) as m:
                import threading

                threading.Timer(0.1, os.write, (write_end, b"!")).start()
                r = m.run(timeout=5)
                vcpu: FakeVcpu = m.vcpu  # type: ignore[assignment]
    finally:
        os.close(write_end)
    assert r.end is RunEnd.HC_EXIT, r.fault
    assert vcpu.injected == [0x24] and vcpu.inputs == [b"!"]
    assert r.stats.interrupts_by_irq == {4: 1}
