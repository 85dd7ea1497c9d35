"""The README's Architecture tree is how a newcomer finds a module: it names every module of
kasm, vmm and tools, and no module that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tree_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Architecture"):]
    start = section.index("```") + 3
    return section[start:section.index("```", start)]


def modules() -> set[str]:
    return {p.name for package in ("kasm", "vmm", "tools") for p in (ROOT / package).rglob("*.py")
            if p.name not in ("__init__.py", "__main__.py")}


def named_in_tree() -> set[str]:
    return {Path(name).name for name in re.findall(r"[\w/]+\.py\b", tree_block())}


def test_the_architecture_tree_names_every_module() -> None:
    assert sorted(modules() - named_in_tree()) == []


def test_the_architecture_tree_names_no_module_that_is_gone() -> None:
    assert sorted(named_in_tree() - modules()) == []
