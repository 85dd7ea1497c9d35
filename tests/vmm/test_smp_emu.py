"""Several vCPUs on the emulator take turns (vmm.emu.turns): `lock` instructions are atomic
across them, vCPUs that spin for each other make progress, a slice never hides a HLT, and a
vCPU blocked in a device does not hold the others up."""

from __future__ import annotations

import io
import os

import pytest
from gnu_guests import HC

from vmm import BootMode, CpuCountError, Machine, RunEnd, run_flat
from vmm.emu import turns

pytest.importorskip("unicorn")

ADDS = 30_000
RESULTS = 0x8000  # what the guests leave in memory for the test to read

# Every vCPU adds 1 ADDS times to each of three counters: with `lock incl`, with `lock xadd`,
# and with a plain `incl` (atomic too when only one vCPU runs at a time), then counts itself
# into `done` and halts; the counters are at RESULTS.
ADDERS = HC + f"""
.code32
    mov ecx, {ADDS}
1:  lock inc dword ptr [{RESULTS}]
    mov eax, 1
    lock xadd [{RESULTS + 4}], eax
    inc dword ptr [{RESULTS + 8}]
    dec ecx
    jnz 1b
    lock inc dword ptr [{RESULTS + 12}]
    hlt
"""

# vCPU 0 and vCPU 1 hand a token back and forth ROUNDS times, each spinning until it is its
# turn: every round needs the other vCPU to run while this one spins
ROUNDS = 50
PING_PONG = HC + f"""
.code32
    hc 7
    mov esi, eax                # this vCPU's id: 0 or 1
    xor edi, edi                # rounds done
1:  pause
    cmp [{RESULTS}], esi        # whose move it is
    jne 1b
    xor dword ptr [{RESULTS}], 1
    inc edi
    cmp edi, {ROUNDS}
    jb 1b
    mov [{RESULTS + 8} + esi * 4], edi
    hlt
"""


def test_lock_prefixed_adds_from_every_emulated_vcpu_give_the_exact_total(asm) -> None:
    with Machine(cpus=4, backend="emu", output=io.BytesIO()) as m:
        m.load_flat(asm(ADDERS))
        r = m.run(0x1000, BootMode.PROTECTED, timeout=60)
        assert m.memory is not None
        totals = [m.memory.read_u32(RESULTS + 4 * i) for i in range(4)]
    assert r.end is RunEnd.HLT, r.report()
    assert totals == [4 * ADDS, 4 * ADDS, 4 * ADDS, 4]


def test_emulated_vcpus_that_spin_for_each_other_take_turns(asm) -> None:
    with Machine(cpus=2, backend="emu", output=io.BytesIO()) as m:
        m.load_flat(asm(PING_PONG))
        r = m.run(0x1000, BootMode.PROTECTED, timeout=60)
        assert m.memory is not None
        rounds = [m.memory.read_u32(RESULTS + 8 + 4 * i) for i in range(2)]
    assert r.end is RunEnd.HLT, r.report()
    assert rounds == [ROUNDS, ROUNDS]


def test_a_slice_that_ends_just_before_a_hlt_still_halts(asm, monkeypatch) -> None:
    """With one block a slice, a slice ends at every block, the HLT's too: the engine stops
    before that block, so a slice's end is never taken for a HLT or a HLT for a slice's end
    (the `ud2` after it would be a fault)."""
    monkeypatch.setattr(turns, "SLICE_BLOCKS", 1)
    src = HC + """
.code32
    mov ecx, 50
1:  dec ecx
    jnz 1b
    hlt
    ud2
"""
    r = run_flat(asm(src), mode=BootMode.PROTECTED, cpus=3, backend="emu", timeout=20,
                 output=io.BytesIO())
    assert r.end is RunEnd.HLT, r.report()
    assert [v.end for v in r.stats.vcpus] == ["hlt"] * 3


def test_a_vcpu_blocked_on_input_loses_its_turn_to_the_others(asm) -> None:
    """vCPU 1 waits in HC_GETCHAR for input that never comes; vCPU 0, which needs a turn after
    that, still runs to its HLT (the watchdog then ends the run)."""
    src = HC + f"""
.code32
    hc 7
    test eax, eax
    jz 1f
    mov dword ptr [{RESULTS}], 1    # vCPU 1: tell vCPU 0, then wait for input
    hc 4
    hlt
1:  pause                           # vCPU 0: wait for vCPU 1 to be waiting
    cmp dword ptr [{RESULTS}], 1
    jne 1b
    mov dword ptr [{RESULTS + 4}], 0x600d
    hlt
"""
    read_end, write_end = os.pipe()
    try:
        with open(read_end, "rb", buffering=0) as source, \
                Machine(cpus=2, backend="emu", output=io.BytesIO(), input=source) as m:
            m.load_flat(asm(src))
            r = m.run(0x1000, BootMode.PROTECTED, timeout=1.5)
            assert m.memory is not None
            marker = m.memory.read_u32(RESULTS + 4)
    finally:
        os.close(write_end)
    assert (r.end, marker) == (RunEnd.TIMEOUT, 0x600D), r.report()
    assert [v.end for v in r.stats.vcpus] == ["hlt", "timeout"]


def test_the_emulator_runs_up_to_16_vcpus() -> None:
    with Machine(cpus=16, backend="emu", output=io.BytesIO()) as m:
        assert len(m.vcpus) == 16
    with pytest.raises(CpuCountError, match="^17: the emu backend runs at most 16 vCPUs$"):
        Machine(cpus=17, backend="emu")
