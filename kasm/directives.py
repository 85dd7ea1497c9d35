"""The directives that make sections, data and symbols: each a handler in one table.

Keystone never sees a directive (it crashes or hangs on several); everything GNU as does at
this level is done here, as calls on the streamer.
"""

from __future__ import annotations

from collections.abc import Callable

from . import expr
from .arguments import NAME, arguments, strings
from .diagnostics import AsmError, DiagnosticLog, Location
from .streamer import Streamer
from .symbols import section_variant_name

# a handler: (directive name, its arguments, where the directive is, where its arguments are)
Handler = Callable[[str, str, Location, Location], None]

KNOWN_SECTIONS = (".text", ".rodata", ".data", ".bss")
DATA_WIDTHS = {
    ".byte": 1, ".2byte": 2, ".short": 2, ".hword": 2, ".word": 2, ".value": 2,
    ".4byte": 4, ".long": 4, ".int": 4, ".8byte": 8, ".quad": 8,
    ".dc": 2, ".dc.b": 1, ".dc.w": 2, ".dc.l": 4, ".dc.a": 4,  # .dc.a: an ELF32 address
}
_IGNORED = (".file", ".ident", ".size", ".hidden", ".protected", ".internal",
            ".att_syntax", ".loc", ".cfi_startproc", ".cfi_endproc", ".arch", ".sect",
            ".list", ".nolist", ".psize", ".title", ".sbttl", ".eject", ".version",
            ".local", ".print")
_ALIGNS = (".align", ".balign", ".p2align", ".balignw", ".balignl", ".p2alignw", ".p2alignl")


class Directives:
    """Sections and modes, data, strings, fills and alignment, symbols, messages."""

    def __init__(self, streamer: Streamer, log: DiagnosticLog) -> None:
        self.out, self.log = streamer, log

    def table(self) -> dict[str, Handler]:
        table: dict[str, Handler] = dict.fromkeys(_IGNORED, _ignore)
        table.update(dict.fromkeys((".code16", ".code32", ".code64"), self._code))
        table.update(dict.fromkeys((".text", ".data", ".bss"), self._subsection))
        table.update(dict.fromkeys((".section", ".pushsection"), self._section))
        table.update(dict.fromkeys(DATA_WIDTHS, self._data))
        table.update(dict.fromkeys((".ascii", ".asciz", ".string"), self._string))
        table.update(dict.fromkeys((".space", ".skip", ".zero"), self._space))
        table.update(dict.fromkeys(_ALIGNS, self._align))
        table.update(dict.fromkeys((".globl", ".global"), self._global))
        table[".weak"] = self._weak
        table.update(dict.fromkeys((".equ", ".set", ".equiv", ".eqv"), self._assign))
        table.update(dict.fromkeys((".err", ".error"), self._error))
        table.update(dict.fromkeys((".comm", ".lcomm"), self._common))
        table.update({
            ".popsection": lambda name, args, loc, args_loc: self.out.pop_section(loc),
            ".previous": lambda name, args, loc, args_loc: self.out.switch_to_previous(loc),
            ".fill": self._fill, ".org": self._org, ".warning": self._warning,
            ".intel_syntax": _intel_syntax, ".type": self._type, ".nops": self._nops,
            ".uleb128": self._leb128, ".sleb128": self._leb128, ".allow_index_reg": _ignore,
        })
        return table

    def _value(self, part: tuple[Location, str], what: str = "value") -> int:
        return self.out.const(expr.parse(part[1], part[0]), part[0], what)

    def _code(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        self.out.set_mode(int(name[5:]))

    def _subsection(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        if args.strip():
            value = self.out.const(expr.parse(args, loc), loc)
            if value != 0:
                raise AsmError(f"subsection {value} of {name} is not supported", loc)
        self.out.switch_section(name)

    def _section(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        if name == ".pushsection":  # pushed even if the name is refused, as GNU pushes it
            self.out.push_section(None)
        parts = arguments(args, args_loc)
        if not parts:
            raise AsmError(".section needs a name", args_loc)
        col, section = parts[0]
        section = section.strip('"')
        if not any(section == k or section.startswith(k + ".") for k in KNOWN_SECTIONS):
            raise AsmError(
                f"unknown section '{section}': kasm links .text, .rodata, .data and .bss "
                "(and .text.*, .rodata.*, .data.*, .bss.*)", col)
        self.out.switch_section(section_variant_name(section, *_group_and_unique(parts)))
        merge = _mergeable(parts)
        if merge is not None:
            self.out.mark_mergeable(*merge, loc)

    def _type(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        """`.type sym, @function` is accepted and ignored; an IFUNC is refused: GNU calls it
        through a PLT that ld makes, and kasm's linker makes none."""
        parts = arguments(args, args_loc)
        if len(parts) > 1 and parts[1][1].strip().lstrip("%@#").lower() in (
                "gnu_indirect_function", "stt_gnu_ifunc"):
            raise AsmError(f"'{parts[0][1].strip()}' as a %gnu_indirect_function is not "
                           "supported: GNU reaches it through a PLT that kasm does not make",
                           parts[1][0])

    def _data(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        for col, part in arguments(args, args_loc, allow_empty=False):
            self.out.emit_value(expr.parse(part, col), DATA_WIDTHS[name], col)

    def _string(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        for s in strings(args, args_loc):
            self.out.emit_bytes(s + (b"\0" if name != ".ascii" else b""), args_loc)

    def _space(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        parts = arguments(args, args_loc)
        if not parts or len(parts) > (1 if name == ".zero" else 2):
            raise AsmError(f"{name} takes a size and an optional fill byte", args_loc)
        fill = self._value(parts[1]) if len(parts) > 1 else 0
        self.out.emit_space(expr.parse(parts[0][1], parts[0][0]), fill, parts[0][0])

    def _fill(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        parts = arguments(args, args_loc)
        if not 1 <= len(parts) <= 3:
            raise AsmError(".fill takes 'repeat[, size[, value]]'", args_loc)
        size = self._value(parts[1], ".fill size") if len(parts) > 1 else 1
        value = self._value(parts[2]) if len(parts) > 2 else 0
        if size < 0:
            raise AsmError(".fill size must not be negative", parts[1][0])
        size = min(size, 8)
        unit = (value & ((1 << (8 * min(size, 4))) - 1)).to_bytes(min(size, 4), "little")
        unit += bytes(size - len(unit))
        count = expr.parse(parts[0][1], parts[0][0])
        repeat = self.out.try_const(count, parts[0][0])
        if repeat is None:
            # a count known only after layout (`.fill 510-(.-_start)` past a jump): GNU makes
            # it a .space of repeat*size bytes of the unit pattern, sized during relaxation
            if size:
                self.out.emit_space(("bin", "*", count, ("num", size)), unit, parts[0][0])
            return
        if repeat < 0:
            self.log.warning(".fill repeat count is negative; nothing emitted", parts[0][0])
            return
        if repeat == 0 or size == 0:
            return
        if repeat * size > 1 << 30:
            raise AsmError(f".fill of {repeat * size} bytes is too large", parts[0][0])
        self.out.emit_space(("num", repeat * size), unit, args_loc)

    def _leb128(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        """LEB128 of values known now (GNU's of a label difference is sized by relaxation,
        which kasm does not do for these)."""
        for col, part in arguments(args, args_loc, allow_empty=False):
            value = self.out.const(expr.parse(part, col), col, f"{name} value")
            if name == ".uleb128":
                value &= (1 << 64) - 1
            out = bytearray()
            while True:
                byte = value & 0x7F
                value >>= 7
                done = value == 0 and not byte & 0x40 if name == ".sleb128" and value >= 0 \
                    else value == -1 and byte & 0x40 if name == ".sleb128" else value == 0
                out.append(byte | (0 if done else 0x80))
                if done:
                    break
            self.out.emit_bytes(bytes(out), col)

    def _nops(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        """`.nops size[, limit]`: GNU's NOP fill of `size` bytes, no NOP longer than limit."""
        parts = arguments(args, args_loc)
        if not 1 <= len(parts) <= 2:
            raise AsmError(".nops takes 'size[, limit]'", args_loc)
        size = self._value(parts[0], ".nops size")
        limit = self._value(parts[1], ".nops limit") if len(parts) > 1 else 0
        if size < 0 or limit < 0:
            raise AsmError(".nops size and limit must not be negative", parts[0][0])
        self.out.emit_nops(size, limit, parts[0][0])

    def _align(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        parts = arguments(args, args_loc)
        if not parts:
            raise AsmError(f"{name} needs an alignment", args_loc)

        def value(i: int) -> int | None:
            if len(parts) <= i or not parts[i][1]:
                return None
            return self._value(parts[i])

        n = value(0)
        if n is None:  # `.align , 5`
            raise AsmError(f"{name} needs an alignment", args_loc)
        if name.startswith(".p2align"):
            if not 0 <= n < 32:
                raise AsmError(f"alignment 2**{n} is too large", parts[0][0])
            n = 1 << n
        elif n == 0:
            n = 1
        fill_size = {"w": 2, "l": 4}.get(name[-1], 1)  # .balignw/.p2alignl: 2- or 4-byte fill
        self.out.emit_align(n, value(1), value(2), fill_size, parts[0][0])

    def _org(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        parts = arguments(args, args_loc)
        if not parts:
            raise AsmError(".org needs an address", loc)
        fill = self._value(parts[1]) if len(parts) > 1 else 0
        self.out.emit_org(expr.parse(parts[0][1], parts[0][0]), fill, parts[0][0])

    def _global(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        for col, part in arguments(args, args_loc, allow_empty=False):
            if not NAME.match(part):
                raise AsmError(f"invalid symbol name '{part}'", col)
            self.out.declare_global(part, col)

    def _weak(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        for col, part in arguments(args, args_loc, allow_empty=False):
            if not NAME.match(part):
                raise AsmError(f"invalid symbol name '{part}'", col)
            self.out.declare_weak(part)

    def _assign(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        parts = arguments(args, args_loc)
        if len(parts) != 2 or not NAME.match(parts[0][1]):
            raise AsmError(f"{name} takes 'symbol, expression'", args_loc)
        self.out.assign(parts[0][1], expr.parse(parts[1][1], parts[1][0]), loc,
                        redefinable=name != ".equiv", equiv=name == ".equiv")

    def _common(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        parts = arguments(args, args_loc)
        if len(parts) < 2 or not NAME.match(parts[0][1]):
            raise AsmError(f"{name} takes 'symbol, size[, alignment]'", args_loc)
        size = self._value(parts[1])
        if len(parts) > 2:
            self._value(parts[2])  # an alignment GNU cannot read is its error first
        if size < 0:
            raise AsmError(f"{name} size {size} is negative", parts[1][0])
        # GNU puts .lcomm after all of .bss and aligns it by its size; ld puts .comm symbols
        # after every .bss input: kasm does not lay them out so, and writes no other bytes
        raise AsmError(f"{name} is not supported: GNU as and ld place it after the rest of "
                       ".bss; reserve the space in .bss with a label and .skip", loc)

    def _error(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        message = _message(strings(args, args_loc)[0]) if args else ""
        raise AsmError(message or ".err encountered", loc)

    def _warning(self, name: str, args: str, loc: Location, args_loc: Location) -> None:
        message = (_message(strings(args, args_loc)[0]) if args else "") or ".warning"
        self.log.warning(message, loc)


def _mergeable(parts: list[tuple[Location, str]]) -> tuple[int, bool] | None:
    """(entity size, strings?) of a section with the M flag (ld merges its duplicates)."""
    words = [p[1].strip() for p in parts]
    flags = words[1].strip('"') if len(words) > 1 else ""
    if "M" not in flags:
        return None
    try:
        size = int(words[3], 0) if len(words) > 3 else 1
    except ValueError:
        size = 1
    return max(size, 1), "S" in flags


def _group_and_unique(parts: list[tuple[Location, str]]) -> tuple[str, str]:
    """The comdat group and the `unique,N` id of `.section name, "flags", @type, ...`: each
    makes a section of its own although the name is the same."""
    words = [p[1].strip() for p in parts]
    group = unique = ""
    flags = words[1].strip('"') if len(words) > 1 else ""
    rest = words[3:]  # after the type
    if "M" in flags and rest:
        rest = rest[1:]  # the entity size
    if "G" in flags and rest:
        group = rest[0]
        rest = rest[1:]
    if "unique" in rest:
        at = rest.index("unique")
        unique = rest[at + 1] if at + 1 < len(rest) else ""
    return group, unique


def _ignore(name: str, args: str, loc: Location, args_loc: Location) -> None:
    pass


def _intel_syntax(name: str, args: str, loc: Location, args_loc: Location) -> None:
    raise AsmError(".intel_syntax is not supported: kasm reads AT&T syntax", loc)


def _message(text: bytes) -> str:
    """A string's bytes for a message: bytes that are not UTF-8 shown as \\xNN."""
    return text.decode("utf-8", "backslashreplace")
