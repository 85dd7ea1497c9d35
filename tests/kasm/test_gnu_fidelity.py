"""Fidelity: every example and corpus source links to the same flat image as GNU binutils make.

The oracle is `as --32` + `ld -N -T tests/oracle/link.ld` + `objcopy -O binary` of the same
(preprocessed) text; see tests/support/gnu_oracle.py. Sources are found on disk, so a new example
(in any subdirectory of examples/) or corpus file is checked without editing this file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gnu_oracle import describe_difference, gnu_image

from kasm.build import build_file

ROOT = Path(__file__).resolve().parent.parent.parent
SOURCES = sorted(
    [p for p in (ROOT / "examples").rglob("*") if p.suffix in (".S", ".s")]
    + sorted((ROOT / "tests" / "asm").glob("*.S"))
)


def test_corpus_is_large_enough():
    assert len(list((ROOT / "tests" / "asm").glob("*.S"))) >= 40


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_flat_image_is_byte_identical_to_gnu(path: Path, binutils: None) -> None:
    result = build_file(path)
    kasm = result.image.flat()
    gnu = gnu_image(path.read_text(), [], filename=str(path))
    if kasm != gnu:
        pytest.fail(f"{path.relative_to(ROOT)}: kasm and GNU differ\n"
                    + describe_difference(kasm, gnu, result.image.base, result.image.mode.bits),
                    pytrace=False)
