"""Choosing a backend: the auto rule, the one-line errors, and what a KVM run does not load."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys

import pytest

from vmm import EmulatorUnavailable, KvmUnavailable, Machine, RunEnd, VmmError, run_flat
from vmm.kvm.probe import kvm_usable


def test_auto_is_the_emulator_where_the_kvm_device_is_missing(tmp_path) -> None:
    missing = str(tmp_path / "no-kvm")
    assert not kvm_usable(missing)
    with Machine(kvm_path=missing, output=io.BytesIO()) as m:
        m.load_flat(b"\xf4")
        r = m.run()
    assert (r.end, r.stats.backend) == (RunEnd.HLT, "emu")


def test_auto_is_the_emulator_where_the_device_is_not_kvm(tmp_path) -> None:
    not_kvm = tmp_path / "kvm"
    not_kvm.write_bytes(b"")
    assert not kvm_usable(str(not_kvm))
    assert run_flat(b"\xf4", kvm_path=str(not_kvm), output=io.BytesIO()).stats.backend == "emu"


def test_auto_is_kvm_where_kvm_works(kvm: str) -> None:
    assert kvm_usable(kvm)
    assert run_flat(b"\xf4", output=io.BytesIO()).stats.backend == "kvm"


def test_kvm_without_kvm_and_unknown_backends_are_one_line_errors(tmp_path) -> None:
    with pytest.raises(KvmUnavailable) as e:
        Machine(backend="kvm", kvm_path=str(tmp_path / "no-kvm"))
    assert "\n" not in str(e.value)
    with pytest.raises(VmmError, match="unknown backend 'qemu'"):
        Machine(backend="qemu")


def test_emu_without_unicorn_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from vmm.emu import engine

    monkeypatch.setattr(engine, "_lib", None)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EmulatorUnavailable) as e:
        Machine(backend="emu")
    assert "unicorn" in str(e.value) and "\n" not in str(e.value)


def test_a_kvm_run_imports_neither_unicorn_nor_ctypes(kvm: str) -> None:
    code = "import io, vmm; vmm.run_flat(b'\\xf4', backend='kvm', output=io.BytesIO())"
    p = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in p.stderr.splitlines()}
    assert not {"ctypes", "vmm.emu", "vmm.emu.engine", "unicorn"} & imported
