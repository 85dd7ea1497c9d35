"""Guest RAM: one anonymous mapping, identity-mapped at guest-physical 0, bounds-checked."""

from __future__ import annotations

import mmap
from collections.abc import Iterator

from vmm.errors import GuestMemoryError, VmmError

PAGE_SIZE = 0x1000
MIN_MEM_SIZE = 64 << 10
MAX_MEM_SIZE = 64 << 30
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)


def parse_size(text: str) -> int:
    """Parse `--mem` values like 2M, 512K, 4G, 0x100000 or plain bytes."""
    t = text.strip().lower().removesuffix("b").removesuffix("i")
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    mult = 1
    if t and t[-1] in units:
        mult = units[t[-1]]
        t = t[:-1]
    try:
        value = int(t, 0)
    except ValueError:
        raise VmmError(f"memory size: cannot parse {text!r} (use e.g. 2M, 512K, 4G)") from None
    return check_mem_size(value * mult, repr(text))


def check_mem_size(size: int, shown: str | None = None) -> int:
    """The guest RAM sizes a VM can have: 64 KiB to 64 GiB, whole 4 KiB pages. Errors name
    the size as `shown` (what the user typed) when given."""
    what = f"{size:#x}" if shown is None else shown
    if size < MIN_MEM_SIZE or size > MAX_MEM_SIZE:
        raise VmmError(
            f"memory size {what}: must be between 64 KiB and {MAX_MEM_SIZE >> 30} GiB"
        )
    if size % PAGE_SIZE:
        raise VmmError(f"memory size {what}: must be a multiple of 4 KiB")
    return size


class GuestMemory:
    """Guest RAM from guest-physical 0 to `size`; every access is checked against that range."""

    def __init__(self, size: int) -> None:
        self.size = check_mem_size(size)
        # NORESERVE: a 4 GiB guest costs only the pages it touches.
        self._mm = mmap.mmap(
            -1,
            size,
            flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE,
            prot=mmap.PROT_READ | mmap.PROT_WRITE,
        )

    def __enter__(self) -> GuestMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._mm.closed

    def close(self) -> None:
        if not self._mm.closed:
            self._mm.close()

    @property
    def mapping(self) -> mmap.mmap:
        """The host mapping that backs guest RAM, for a backend to hand to KVM or an emulator."""
        return self._mm

    def regions(self) -> list[tuple[int, int, int]]:
        """(guest-physical address, offset in `mapping`, size) of each contiguous piece of RAM:
        one from 0 (the VMM needs no PCI hole)."""
        return [(0, 0, self.size)]

    def contains(self, address: int, length: int = 1) -> bool:
        return 0 <= address and length >= 0 and address + length <= self.size

    def check(self, address: int, length: int) -> None:
        """Raise GuestMemoryError naming the address unless [address, address+length) is RAM."""
        self._check(address, length)

    def _check(self, address: int, length: int) -> None:
        if not self.contains(address, length):
            if length <= 1:
                what = f"address {address:#x}"
            else:
                what = f"range {address:#x}..{address + length - 1:#x} ({length} bytes)"
            raise GuestMemoryError(
                f"guest {what} is outside guest RAM (0..{self.size - 1:#x})", address
            )

    def read(self, address: int, length: int) -> bytes:
        self._check(address, length)
        return self._mm[address : address + length]

    def write(self, address: int, data: bytes) -> None:
        self._check(address, len(data))
        self._mm[address : address + len(data)] = data

    def fill(self, address: int, length: int, byte: int = 0) -> None:
        """Zero (or fill) a range in bounded chunks, e.g. an ELF segment's bss."""
        self._check(address, length)
        chunk = bytes([byte]) * min(length, 1 << 20)
        end = address + length
        while address < end:
            n = min(len(chunk), end - address)
            self._mm[address : address + n] = chunk[:n]
            address += n

    def read_u64(self, address: int) -> int:
        return int.from_bytes(self.read(address, 8), "little")

    def read_u32(self, address: int) -> int:
        return int.from_bytes(self.read(address, 4), "little")

    def write_u64(self, address: int, value: int) -> None:
        self.write(address, value.to_bytes(8, "little"))

    def write_u32(self, address: int, value: int) -> None:
        self.write(address, value.to_bytes(4, "little"))

    def read_cstring(self, address: int, limit: int = 1 << 16) -> bytes:
        """Bytes up to (not including) a NUL; the NUL must lie in RAM and within `limit`."""
        self._check(address, 1)
        end = min(address + limit, self.size)
        pos = self._mm.find(b"\0", address, end)
        if pos < 0:
            if end == self.size and end - address < limit:
                raise GuestMemoryError(
                    f"guest string at {address:#x} runs past the end of guest RAM "
                    f"({self.size:#x}) without a NUL",
                    address,
                )
            raise GuestMemoryError(
                f"guest string at {address:#x} has no NUL within {limit} bytes", address
            )
        return self._mm[address:pos]

    def iter_chunks(self, address: int, length: int, chunk: int = 1 << 16) -> Iterator[bytes]:
        """Yield a checked range piece by piece, so huge guest buffers are never copied whole."""
        self._check(address, length)
        end = address + length
        while address < end:
            n = min(chunk, end - address)
            yield self._mm[address : address + n]
            address += n
