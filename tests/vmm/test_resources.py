"""Setup errors, loaders, memory bounds and resource hygiene."""

from __future__ import annotations

import gc
import io
import os
import resource

import pytest
from gnu_guests import HC

from vmm import (
    BootMode,
    GuestMemoryError,
    ImageError,
    KvmUnavailable,
    Machine,
    RunEnd,
    VmmError,
    parse_size,
    run_elf,
)
from vmm.kvm import Kvm
from vmm.memory import GuestMemory


def test_missing_kvm_device_is_one_clear_line(tmp_path) -> None:
    missing = str(tmp_path / "no-kvm")
    with pytest.raises(KvmUnavailable) as e:
        Machine(backend="kvm", kvm_path=missing)
    msg = str(e.value)
    assert "\n" not in msg and missing in msg and "not found" in msg and "kvm_intel" in msg


def test_kvm_device_without_permission(tmp_path) -> None:
    path = tmp_path / "kvm"
    path.write_bytes(b"")
    path.chmod(0)
    if os.access(path, os.R_OK):
        pytest.skip("running as root: permissions are not enforced")
    with pytest.raises(KvmUnavailable, match="kvm group"):
        Kvm(str(path))


def test_not_a_kvm_device(tmp_path) -> None:
    path = tmp_path / "kvm"
    path.write_bytes(b"")
    with pytest.raises(VmmError) as e:
        Kvm(str(path))
    assert "\n" not in str(e.value)


def test_guest_memory_bounds() -> None:
    with GuestMemory(64 << 10) as mem:
        mem.write(0xFFFC, b"abcd")
        assert mem.read(0xFFFC, 4) == b"abcd"
        with pytest.raises(GuestMemoryError, match="0x10000"):
            mem.read(0x10000, 1)
        with pytest.raises(GuestMemoryError, match="0xfffd"):
            mem.write(0xFFFD, b"abcd")
        with pytest.raises(GuestMemoryError):
            mem.read(-1, 2)
        mem.write(0x100, b"hi\0")
        assert mem.read_cstring(0x100) == b"hi"
        mem.write(0xFFFE, b"xx")
        with pytest.raises(GuestMemoryError, match="end of guest RAM"):
            mem.read_cstring(0xFFFE)
    with pytest.raises(VmmError, match="64 KiB"):
        GuestMemory(4096)


def test_parse_size() -> None:
    assert parse_size("2M") == 2 << 20 and parse_size("4G") == 4 << 30
    assert parse_size("512K") == 512 << 10 and parse_size("0x10000") == 0x10000
    assert parse_size("64KiB") == 64 << 10
    with pytest.raises(VmmError):
        parse_size("lots")


def test_flat_image_must_fit(backend: str) -> None:
    with Machine(mem_size=64 << 10, output=io.BytesIO()) as m:
        with pytest.raises(ImageError, match="does not fit"):
            m.load_flat(b"\x90" * 0x10000, 0x1000)


def test_image_overlapping_system_area_is_refused(backend: str) -> None:
    with Machine(mem_size=64 << 10, output=io.BytesIO()) as m:
        m.load_flat(b"\xf4" + b"\x90" * 0x7FFF, 0x1000)
        assert m.run(0x1000, BootMode.REAL).end is RunEnd.HLT  # real mode has no system area
        with pytest.raises(ImageError, match="system area"):
            m.run(0x1000, BootMode.PROTECTED)


def test_elf64_and_elf32_boot_in_their_modes(backend: str, asm_elf) -> None:
    src64 = HC + """
.code64
.globl _start
_start:
    movabs rbx, 0x100000000
    hc 2
    mov rbx, offset bss_word
    mov rbx, [rbx]
    hc 2
    hlt
.bss
bss_word: .quad 0
"""
    out = io.BytesIO()
    r = run_elf(asm_elf(src64, bits=64), output=out)
    assert (r.end, out.getvalue()) == (RunEnd.HLT, b"42949672960")
    src32 = HC + ".code32\n mov ebx, 4000000000\n hc 2\n hlt\n"
    out = io.BytesIO()
    r = run_elf(asm_elf(src32, bits=32), output=out)
    assert (r.end, out.getvalue()) == (RunEnd.HLT, b"4000000000")


def test_elf_errors(backend: str, asm_elf, tmp_path) -> None:
    path = asm_elf(".code64\n hlt\n", bits=64)
    data = bytearray(path.read_bytes())
    data[18:20] = (40).to_bytes(2, "little")  # e_machine = ARM
    with Machine(output=io.BytesIO()) as m:
        with pytest.raises(ImageError, match="only ELF64 x86-64 and ELF32 i386"):
            m.load_elf(bytes(data))
        with pytest.raises(ImageError, match="not an ELF"):
            m.load_elf(b"\x90\xf4")
        with pytest.raises(ImageError, match="cannot read"):
            m.load_elf(tmp_path / "missing.elf")
        high = asm_elf(".code64\n hlt\n", bits=64, base=0x10000000)
        with pytest.raises(ImageError, match="outside"):
            m.load_elf(high)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def test_a_thousand_machines_leak_nothing(backend: str) -> None:
    for _ in range(20):  # warm up caches and allocator
        with Machine(mem_size=1 << 20, output=io.BytesIO()) as m:
            m.load_flat(b"\xf4")
            m.run()
    gc.collect()
    fds, rss = _fds(), _rss_kib()
    for _ in range(1000):
        with Machine(mem_size=1 << 20, output=io.BytesIO()) as m:
            m.load_flat(b"\xf4")
            assert m.run().end is RunEnd.HLT
    gc.collect()
    assert _fds() == fds
    growth = _rss_kib() - rss
    assert growth < 16 << 10, f"RSS grew by {growth} KiB over 1000 machines"
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] > 0


def test_elf32_marked_real_mode_boots_in_real_mode(backend: str, asm_elf) -> None:
    from vmm.vocabulary import ELF_FLAG_REAL_MODE

    src = HC + ".code16\n mov ebx, 0x12345\n hc 2\n hlt\n"
    data = bytearray(asm_elf(src, bits=32, base=0x1000).read_bytes())
    data[36:40] = ELF_FLAG_REAL_MODE.to_bytes(4, "little")  # e_flags of an ELF32 header
    out = io.BytesIO()
    r = run_elf(bytes(data), output=out)
    assert (r.end, out.getvalue()) == (RunEnd.HLT, str(0x2345).encode())
