"""Fixtures for the vmm tests: real /dev/kvm (never mocked) and guests built with GNU as/ld."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

KVM_PATH = "/dev/kvm"
_CACHE = Path(tempfile.gettempdir()) / f"vmm-test-guests-{os.getuid()}"


def _unavailable(reason: str) -> None:
    """Under CI a missing prerequisite is a failure; locally a skip that says why."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kvm() -> str:
    """The /dev/kvm path, once we know it can be opened."""
    if not os.path.exists(KVM_PATH):
        _unavailable(f"{KVM_PATH} not found: this machine has no KVM")
    if not os.access(KVM_PATH, os.R_OK | os.W_OK):
        _unavailable(f"no permission to open {KVM_PATH} (join the kvm group)")
    return KVM_PATH


def _tools() -> None:
    for tool in ("as", "ld"):
        if shutil.which(tool) is None:
            _unavailable(f"GNU binutils ({tool}) not installed: needed to build test guests")


def _build(source: str, *, base: int, elf: str | None) -> bytes:
    _tools()
    text = ".intel_syntax noprefix\n" + source + "\n"
    key = hashlib.sha256(f"{base:#x}|{elf}|{text}".encode()).hexdigest()[:24]
    _CACHE.mkdir(parents=True, exist_ok=True)
    out = _CACHE / (key + (".elf" if elf else ".bin"))
    if not out.exists():
        with tempfile.TemporaryDirectory() as tmp:
            src, obj, tmp_out = Path(tmp, "g.s"), Path(tmp, "g.o"), Path(tmp, "g.out")
            src.write_text(text)
            as_flag = "--64" if elf == "elf64" else "--32"
            emulation = "elf_x86_64" if elf == "elf64" else "elf_i386"
            done = subprocess.run(["as", as_flag, "-o", obj, src], capture_output=True, text=True)
            if done.returncode:
                raise AssertionError(f"test guest does not assemble:\n{done.stderr}")
            ld = ["ld", "-m", emulation, f"-Ttext={base:#x}", "-e", f"{base:#x}", "-o", tmp_out]
            if not elf:
                ld.insert(1, "--oformat=binary")
            subprocess.run([*ld, obj], check=True, capture_output=True)
            tmp_out.replace(out)
    return out.read_bytes()


@pytest.fixture(scope="session")
def asm() -> Callable[..., bytes]:
    """asm(source, base=0x1000) -> flat binary; Intel syntax, start with .code16/32/64."""

    def build(source: str, base: int = 0x1000) -> bytes:
        return _build(source, base=base, elf=None)

    return build


@pytest.fixture(scope="session")
def asm_elf(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """asm_elf(source, bits=64, base=0x100000) -> path of a linked ELF executable."""

    def build(source: str, bits: int = 64, base: int = 0x100000) -> Path:
        data = _build(source, base=base, elf="elf64" if bits == 64 else "elf32")
        path = tmp_path_factory.mktemp("elf") / "guest.elf"
        path.write_bytes(data)
        return path

    return build
