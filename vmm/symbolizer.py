"""What a run may ask about the guest's program, answered by whoever built it.

vmm knows addresses; kasm knows the source line, label and section of every byte it
assembled. A Symbolizer handed to a run (Machine.run, run_flat, run_elf) lets traces and fault
reports say `prog.S:12:5` and `print_loop+3` without vmm importing kasm. Every question may be
answered with None: the report then says less. Addresses are guest linear addresses, which are
the link addresses of an image loaded where it was linked.
"""

from __future__ import annotations

from vmm.values import Value


class SourceLine(Value):
    """Where an instruction was written: the file as the user named it, the line, the column
    (1-based) and the line's text."""

    __slots__ = ("file", "line", "col", "text")

    def __init__(self, file: str, line: int, col: int = 1, text: str = "") -> None:
        self.file, self.line, self.col, self.text = file, line, col, text

    @property
    def short(self) -> str:
        return f"{self.file}:{self.line}"

    def located(self, message: str) -> str:
        """`file:line:col: message`, the line and a caret under the column, as a build error
        shows them."""
        lines = [f"{self.file}:{self.line}:{self.col}: {message}"]
        if self.text:
            shown = self.text.expandtabs(8) if "\t" not in self.text[: self.col] else self.text
            lines.append(f" {shown.rstrip()}")
            lines.append(" " + " " * max(self.col - 1, 0) + "^")
        return "\n".join(lines)


class Symbolizer:
    """The questions; this base class knows nothing (every answer None)."""

    def source(self, address: int) -> SourceLine | None:
        """The source line of the instruction that starts at or covers `address`."""
        return None

    def instruction_before(self, address: int) -> int | None:
        """The address of the instruction that ends at `address` (what ran before an exit
        that leaves RIP past its instruction)."""
        return None

    def label(self, address: int) -> str | None:
        """`name` or `name+offset` of the nearest symbol at or below `address`."""
        return None

    def section(self, address: int) -> str | None:
        """The section that holds `address` (".text", ".rodata", ...), None outside the
        program."""
        return None

    def last_instruction(self) -> int | None:
        """The address of the program's last instruction (where its code ends)."""
        return None
