"""The thin KVM layer: ABI layout, sync-regs vs ioctl register access, exit cost."""

from __future__ import annotations

import io
import os

import pytest
from gnu_guests import HC

from vmm import BootMode, RunEnd
from vmm.bus import IoBus
from vmm.devices.console import ConsoleInput, ConsoleOutput
from vmm.devices.hypercall import HypercallDevice
from vmm.kvm import Kvm
from vmm.kvm import _abi as abi
from vmm.memory import GuestMemory
from vmm.modes import boot_state
from vmm.runloop import run


def test_abi_layout_matches_the_kernel() -> None:
    abi.check_layout()
    assert abi.ffi.offsetof("struct kvm_run", "s") == 304
    assert abi.KVM_RUN == 0xAE80


@pytest.mark.parametrize("sync_regs", [True, False])
def test_register_access_with_and_without_sync_regs(kvm: str, asm, sync_regs: bool) -> None:
    """GETCHAR writes RAX back; PUTNUM reads RBX: both must work through either path."""
    src = HC + """
.code64
    movabs rax, 0x1111111111111111
    hc 4
    mov rbx, rax
    hc 2
    hc 3
    movabs rbx, 0xfedcba9876543210
    hc 2
    hlt
"""
    out = io.BytesIO()
    with Kvm(kvm) as k, GuestMemory(2 << 20) as mem:
        if not sync_regs:
            k.sync_regs = 0
        with k.create_vm() as vm:
            vm.map_memory(mem)
            vcpu = vm.create_vcpu()
            assert vcpu.sync_regs is sync_regs
            vcpu.set_cpuid(k.supported_cpuid())
            mem.write(0x1000, asm(src))
            regs, sregs = boot_state(BootMode.LONG, mem, 0x1000)
            vcpu.set_sregs(sregs)
            vcpu.set_regs(regs)
            console = ConsoleOutput(out)
            bus = IoBus()
            bus.register(HypercallDevice(console, ConsoleInput(io.BytesIO(b"Z"))), 0x500, 1)
            result = run(vcpu, bus, mem, timeout=10)
            console.flush()
            assert result.end is RunEnd.HLT
            after = vcpu.get_regs()
            assert after.rbx == 0xFEDCBA9876543210 and after.rip == 0x1000 + len(asm(src))
            assert vcpu.get_sregs().efer & 0x400
    assert out.getvalue() == f"{ord('Z')}\n{0xFEDCBA9876543210}".encode()


def test_exit_cost_of_a_hypercall_loop(kvm: str, capsys) -> None:
    """Reports us/exit (guest emulation included); the bound only catches gross regressions."""
    from vmm import run_flat

    n = 20000
    code = (
        bytes.fromhex("ba00050000b9")
        + n.to_bytes(4, "little")
        + bytes.fromhex("b003" "ee" "ffc9" "75f9" "f4")
    )  # mov edx,0x500; mov ecx,n; 1: mov al,3; out dx,al; dec ecx; jnz 1b; hlt
    with open(os.devnull, "wb") as sink:
        r = run_flat(code, mode=BootMode.LONG, output=sink)
    assert r.end is RunEnd.HLT and r.stats.total_exits == n + 1
    with capsys.disabled():
        print(f"\n[vmm] hypercall loop: {r.stats.us_per_exit:.2f} us/exit over {n} exits")
    assert r.stats.us_per_exit < 100


def test_generated_ffi_module_matches_cdef(tmp_path) -> None:
    """vmm/kvm/_ffi.py must be regenerated (python vmm/kvm/_build_ffi.py) whenever CDEF
    changes."""
    from pathlib import Path

    from vmm.kvm import _build_ffi

    fresh = tmp_path / "_ffi.py"
    _build_ffi.generate(fresh)
    committed = Path(_build_ffi.__file__).with_name("_ffi.py")
    assert fresh.read_text() == committed.read_text()


def test_importing_vmm_is_light() -> None:
    import subprocess
    import sys

    heavy = ("lief", "pycparser", "typer", "cffi", "_cffi_backend", "vmm.machine")
    code = f"import sys, vmm; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
