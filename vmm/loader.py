"""Putting a guest image into guest RAM: flat binaries and ELF executables."""

from __future__ import annotations

import os

from vmm.errors import ImageError
from vmm.memory import GuestMemory
from vmm.values import Value
from vmm.vocabulary import ELF_FLAG_REAL_MODE, BootMode


class LoadedRange(Value):
    """Guest-physical bytes an image occupies (to check against the system area)."""

    __slots__ = ("address", "size")

    def __init__(self, address: int, size: int) -> None:
        self.address = address
        self.size = size


def load_flat(memory: GuestMemory, data: bytes, address: int) -> LoadedRange:
    """Copy a raw binary to `address`; ImageError if any byte would land outside RAM."""
    if address < 0 or address + len(data) > memory.size:
        raise ImageError(
            f"image of {len(data)} bytes at {address:#x} does not fit in {memory.size:#x} bytes "
            f"of guest RAM (it would end at {address + len(data):#x}; use more memory)"
        )
    memory.write(address, data)
    return LoadedRange(address, len(data))


def load_elf(
    memory: GuestMemory, image: str | os.PathLike[str] | bytes, name: str | None = None
) -> tuple[int, BootMode, list[LoadedRange]]:
    """Load PT_LOAD segments at their physical address (p_paddr, or p_vaddr when p_paddr is 0);
    bytes past p_filesz up to p_memsz are zeroed. ELF64 x86-64 boots in LONG mode, ELF32 i386
    in PROTECTED mode, or REAL mode when e_flags is ELF_FLAG_REAL_MODE (kasm's 16-bit images).
    Returns (entry, mode, loaded ranges); `name` is what messages call the image."""
    import lief  # slow to import (~1 s): only when an ELF is actually loaded

    if name is None:
        name = "image" if isinstance(image, bytes) else os.fspath(image)
    if not isinstance(image, bytes):
        try:
            with open(image, "rb") as f:
                image = f.read()
        except OSError as e:
            raise ImageError(f"{name}: cannot read: {e.strerror}") from None
    if image[:4] != b"\x7fELF":
        raise ImageError(f"{name}: not an ELF file")
    lief.logging.disable()
    binary = lief.ELF.parse(list(image))
    if binary is None:
        raise ImageError(f"{name}: malformed ELF file")
    file_type = lief.ELF.Header.FILE_TYPE
    if binary.header.file_type not in (file_type.EXEC, file_type.DYN):
        kind = str(binary.header.file_type).split(".")[-1]
        raise ImageError(f"{name}: an ELF {kind} file, not an executable: link it first "
                         "(kasm build writes an executable ELF)")
    machine = binary.header.machine_type
    elf_class = binary.header.identity_class
    if machine == lief.ELF.ARCH.X86_64 and elf_class == lief.ELF.Header.CLASS.ELF64:
        mode = BootMode.LONG
    elif machine == lief.ELF.ARCH.I386 and elf_class == lief.ELF.Header.CLASS.ELF32:
        real = binary.header.processor_flag == ELF_FLAG_REAL_MODE
        mode = BootMode.REAL if real else BootMode.PROTECTED
    else:
        raise ImageError(
            f"{name}: ELF for {str(machine).split('.')[-1]} ({str(elf_class).split('.')[-1]}); "
            "only ELF64 x86-64 and ELF32 i386 can boot"
        )
    loaded: list[LoadedRange] = []
    for seg in binary.segments:
        if seg.type != lief.ELF.Segment.TYPE.LOAD or seg.virtual_size == 0:
            continue
        address = seg.physical_address or seg.virtual_address
        filesz, memsz = seg.physical_size, seg.virtual_size
        if memsz < filesz:
            raise ImageError(f"{name}: segment at {address:#x} has p_memsz < p_filesz")
        if address + memsz > memory.size:
            raise ImageError(
                f"{name}: segment at {address:#x}..{address + memsz - 1:#x} is outside the "
                f"{memory.size:#x} bytes of guest RAM (use more memory or link lower)"
            )
        content = bytes(seg.content)[:filesz]
        memory.write(address, content)
        if memsz > len(content):
            memory.fill(address + len(content), memsz - len(content))
        loaded.append(LoadedRange(address, memsz))
    if not loaded:
        raise ImageError(f"{name}: no loadable (PT_LOAD) segments")
    return binary.entrypoint, mode, loaded
