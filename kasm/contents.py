"""Bytes with long runs of zeros kept as sizes: a section's contents, a flat image, an ELF.

`.skip 0x10000000` (or `.zero`, `.space`, `.fill`, `.org` of zeros) is 256 MiB of zeros. As
bytes it cost the assembler, the linker and the image seconds and gigabytes each; as a size
it costs nothing until an output file is written (in chunks) or a guest's memory filled.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: a cached `kasm run` loads this at start-up
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import BinaryIO

SPARSE_ZEROS = 1 << 16  # a run of zeros at least this long stays a size
_ZEROS = bytes(1 << 20)  # what a run of zeros is written as, a chunk at a time


class Contents:
    """Bytes appended in order; each piece is bytes (a bytearray) or a run of zeros (an int).
    Equal to the bytes it stands for."""

    __slots__ = ("_pieces", "_size")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, data: bytes | bytearray = b"") -> None:
        self._pieces: list[bytearray | int] = [bytearray(data)]  # always ends in a bytearray
        self._size = len(data)

    @classmethod
    def from_pieces(cls, pieces: Iterable[bytes | int]) -> Contents:
        """The contents `pieces()` gave (bytes and zero counts); TypeError for anything else."""
        out = cls()
        for piece in pieces:
            if isinstance(piece, bytes):
                out.append(piece)
            elif isinstance(piece, int) and piece >= 0:
                out.append_zeros(piece)
            else:
                raise TypeError(f"not a piece of contents: {piece!r}")
        return out

    def __len__(self) -> int:
        return self._size

    def append(self, data: bytes | bytearray) -> None:
        self._pieces[-1] += data
        self._size += len(data)

    def append_zeros(self, count: int) -> None:
        pieces = self._pieces
        if len(pieces) > 1 and not pieces[-1]:  # right after a run of zeros: a longer run
            pieces[-2] += count  # type: ignore[operator]
        elif count >= SPARSE_ZEROS:
            pieces += [count, bytearray()]
        else:
            pieces[-1] += bytes(count)
        self._size += count

    def extend(self, other: Contents) -> None:
        for piece in other._pieces:
            if isinstance(piece, int):
                self.append_zeros(piece)
            else:
                self.append(piece)

    def patch(self, offset: int, data: bytes) -> None:
        """Overwrite len(data) bytes at `offset` (a relocation's field)."""
        at = 0
        for piece in self._pieces:
            length = piece if isinstance(piece, int) else len(piece)
            if offset < at + length:
                if isinstance(piece, bytearray) and offset + len(data) <= at + length:
                    piece[offset - at:offset - at + len(data)] = data
                    return
                break
            at += length
        # across pieces or into a run of zeros (no field is: fields are in fragments' bytes)
        whole = bytearray(bytes(self))
        whole[offset:offset + len(data)] = data
        self._pieces = [whole]

    def __getitem__(self, key: slice) -> bytes:
        """The bytes of a slice (a step is not supported), zeros included."""
        start, stop, step = key.indices(self._size)
        if step != 1:
            raise ValueError("Contents slices take no step")
        out = bytearray()
        at = 0
        for piece in self._pieces:
            length = piece if isinstance(piece, int) else len(piece)
            lo, hi = max(start, at), min(stop, at + length)
            if lo < hi:
                out += bytes(hi - lo) if isinstance(piece, int) else piece[lo - at:hi - at]
            at += length
            if at >= stop:
                break
        return bytes(out)

    def pieces(self) -> list[bytes | int]:
        """Bytes and zero counts, for `from_pieces` (the build cache stores these)."""
        return [p if isinstance(p, int) else bytes(p) for p in self._pieces if p]

    def write_into(self, out: bytearray, at: int) -> None:
        """Copy the bytes into `out` from `at` (whose zeros are assumed there already)."""
        for piece in self._pieces:
            if isinstance(piece, int):
                at += piece
            else:
                out[at:at + len(piece)] = piece
                at += len(piece)

    def write_to(self, file: BinaryIO) -> None:
        """Write the bytes to `file`, a run of zeros a megabyte at a time."""
        zeros = memoryview(_ZEROS)
        for piece in self._pieces:
            if isinstance(piece, bytearray):
                file.write(piece)
                continue
            for start in range(0, piece, len(_ZEROS)):
                file.write(zeros[:min(len(_ZEROS), piece - start)])

    def __bytes__(self) -> bytes:
        if len(self._pieces) == 1:
            return bytes(self._pieces[0])
        out = bytearray(self._size)
        self.write_into(out, 0)
        return bytes(out)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Contents):
            return self._size == other._size and bytes(self) == bytes(other)
        if isinstance(other, bytes | bytearray | memoryview):
            return self._size == len(other) and bytes(self) == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"Contents({self.pieces()!r})"
