"""The streamer: what the parser's statements do to sections, symbols and fragments.

It holds the state of assembly (the current section and mode, the symbol table) and
answers the one question the parser and the encoder may ask of it: what an expression is
worth here and now. Instructions go to the x86 encoder; the bytes and fields it returns are
appended to the current fragment.
"""

from __future__ import annotations

from . import expr
from .contents import SPARSE_ZEROS
from .diagnostics import AsmError, DiagnosticLog, Location
from .expr import Unknown, Value
from .fragments import (
    MAX_SECTION_SIZE,
    Align,
    Assembly,
    Branch,
    Fixup,
    Fragment,
    Nops,
    SectionFragments,
    Space,
    SymbolDef,
    check_size,
)
from .instruction import Instruction
from .symbols import SymbolEnv, local_label_name, location_name, set_definition_name
from .x86 import Constants, Encoder, Encoding, EncodingError


class _ParseTimeEnv(SymbolEnv):
    """A label is (fragment, offset), so differences within one fragment are constants now,
    as GNU as decides."""

    def label(self, sym: SymbolDef) -> Value:
        assert sym.frag is not None
        return Value(sym.frag.start + sym.offset, ((sym.frag.base, 1),))

    def undefined(self, name: str, loc: Location | None) -> Value:
        # not defined yet: a symbol of its own, so `L - L` is 0 now, as it is to GNU as
        return Value(0, ((("undef", name), 1),))


class Streamer:
    """One per build: the parser calls it for every statement, then `finish` hands layout
    what was built."""

    def __init__(self, log: DiagnosticLog, encoder: Encoder | None = None) -> None:
        self.log = log
        self._encoder = encoder or Encoder()
        self._constants = Constants(self.try_const)  # all the encoder may ask
        self._bits = 16
        self._first_code_bits: int | None = None
        self._sections: dict[str, SectionFragments] = {}
        self._frag_count = 0
        self._section_stack: list[tuple[str, str | None]] = []
        self._previous: str | None = None
        self._current = self._section(".text")
        self._symbols: dict[str, SymbolDef] = {}
        self._env = _ParseTimeEnv(self._symbols)
        self._globals: dict[str, Location] = {}
        self._weak: set[str] = set()
        self._local_counts: dict[int, int] = {}
        self._set_versions: dict[str, int] = {}
        self._locations = 0  # `.` bound so far (symbols.location_name)

    def finish(self) -> Assembly:
        return Assembly(list(self._sections.values()), self._symbols, self._globals,
                        self._bits, self._first_code_bits, frozenset(self._weak))

    # ------------------------------------------------------------------ sections and mode
    def _section(self, name: str) -> SectionFragments:
        sec = self._sections.get(name)
        if sec is None:
            sec = SectionFragments(name, [self._new_frag(name)])
            self._sections[name] = sec
        return sec

    def _new_frag(self, section: str, run: int | None = None, start: int = 0) -> Fragment:
        self._frag_count += 1
        return Fragment(section, self._frag_count, run, start)

    @property
    def _frag(self) -> Fragment:
        """The fragment being filled: the current section's last."""
        return self._current.frags[-1]

    def _close_frag(self, var: Branch | Align | Space | Nops, size: int | None = None) -> None:
        """End the fragment with `var`; of a known `size`, the next continues its run."""
        frag = self._frag
        frag.var = var
        self._current.frags.append(
            self._new_frag(frag.section) if size is None else
            self._new_frag(frag.section, frag.run, frag.start + len(frag.data) + size))

    def switch_section(self, name: str) -> None:
        if name != self._current.name:
            self._previous = self._current.name
        self._current = self._section(name)

    def mark_mergeable(self, entity_size: int, strings: bool, loc: Location) -> None:
        """The current section has the M flag: ld merges equal entities in it."""
        self._current.merge = (entity_size, strings, loc)

    def push_section(self, name: str | None) -> None:
        """Remember the section (for pop_section), then switch to `name` (None: stay)."""
        self._section_stack.append((self._current.name, self._previous))
        if name is not None:
            self.switch_section(name)

    def pop_section(self, loc: Location) -> None:
        if not self._section_stack:
            raise AsmError(".popsection without .pushsection", loc)
        current, previous = self._section_stack.pop()
        self.switch_section(current)
        self._previous = previous

    def switch_to_previous(self, loc: Location) -> None:
        if self._previous is None:
            raise AsmError(".previous with no previous section", loc)
        self.switch_section(self._previous)

    def set_mode(self, bits: int) -> None:
        self._bits = bits
        if self._first_code_bits is None:
            self._first_code_bits = bits

    # ------------------------------------------------------------------ symbols
    def define_label(self, name: str, loc: Location) -> None:
        if name.isdigit():
            n = int(name)
            self._local_counts[n] = self._local_counts.get(n, 0) + 1
            name = local_label_name(n, self._local_counts[n])
        self._check_new(name, loc)
        sym = SymbolDef(name, loc, frag=self._frag, offset=len(self._frag.data))
        sym.is_global = name in self._globals
        self._symbols[name] = sym

    def _check_new(self, name: str, loc: Location) -> None:
        old = self._symbols.get(name)
        if old is not None and old.defined:
            raise AsmError(
                f"symbol '{name}' is already defined (at {old.loc.file}:{old.loc.line})", loc)

    def assign(self, name: str, node: expr.Node, loc: Location, redefinable: bool,
               equiv: bool = False) -> None:
        """`.equ`/`.set`/`=` (redefinable), `.equiv`/`==` (never redefined)."""
        node = self._bind(node, loc)
        old = self._symbols.get(name)
        if old is not None and old.defined and (equiv or not old.is_set or not redefinable):
            self._check_new(name, loc)
        sym = SymbolDef(name, loc, node=node, is_set=redefinable)
        sym.is_global = name in self._globals
        self._symbols[name] = sym
        if redefinable:
            # each .set is its own definition; references made now keep meaning this one
            version = self._set_versions.get(name, -1) + 1
            self._set_versions[name] = version
            self._symbols[set_definition_name(name, version)] = sym

    def declare_weak(self, name: str) -> None:
        """A weak symbol may be replaced at link time: GNU never relaxes a branch to it."""
        self._weak.add(name)

    def declare_global(self, name: str, loc: Location) -> None:
        self._globals.setdefault(name, loc)
        if name in self._symbols:
            self._symbols[name].is_global = True

    def is_defined(self, name: str) -> bool:
        sym = self._symbols.get(name)
        return sym is not None and sym.defined

    def _bind(self, node: expr.Node, loc: Location) -> expr.Node:
        """Fix what an expression means here: `.`, `1b`/`1f`, and `.set` versions."""
        kind = node[0]
        if kind == "dot":
            self._locations += 1
            name = location_name(self._locations)
            self._symbols[name] = SymbolDef(name, loc, frag=self._frag, offset=len(self._frag.data))
            return ("sym", name, 0)
        if kind == "local":
            n, direction = node[1], node[2]
            count = self._local_counts.get(n, 0)
            if direction == "b":
                if count == 0:
                    raise AsmError(f"no previous definition of local label '{n}'",
                                   loc.with_col(loc.col + node[3]))
                return ("sym", local_label_name(n, count), node[3])
            return ("sym", local_label_name(n, count + 1), node[3])
        if kind == "sym":
            version = self._set_versions.get(node[1])
            sym = self._symbols.get(node[1])
            if version is not None and sym is not None and sym.is_set:
                # bind to the definition in force now; a later .set makes a new one
                return ("sym", set_definition_name(node[1], version), node[2])
            return node
        if kind == "un":
            return ("un", node[1], self._bind(node[2], loc))
        if kind == "bin":
            return ("bin", node[1], self._bind(node[2], loc), self._bind(node[3], loc))
        return node

    def try_const(self, node: expr.Node, loc: Location) -> int | None:
        """The value now if it is an absolute constant now, else None (decided at link)."""
        if node[0] == "num":
            return node[1]
        try:
            v = expr.evaluate(self._bind(node, loc), self._env, loc)
        except Unknown:
            return None
        return v.const if v.is_const else None

    def const(self, node: expr.Node, loc: Location, what: str = "value") -> int:
        v = self.try_const(node, loc)
        if v is None:
            raise AsmError(f"{what} must be an absolute expression known at this point", loc)
        return v

    # ------------------------------------------------------------------ emission
    def emit_bytes(self, data: bytes, loc: Location) -> None:
        self._check_nobits(any(data), loc)
        self._frag.data += data

    def _check_nobits(self, nonzero: bool, loc: Location) -> None:
        if nonzero and self._current.nobits:
            raise AsmError(f"section {self._current.name} holds no data: only zeros can be "
                           "reserved in it", loc)

    def _warn(self, warnings: tuple[str, ...] | list[str], loc: Location) -> None:
        for message in warnings:
            self.log.warning(message, loc)

    def emit_value(self, node: expr.Node, width: int, loc: Location) -> None:
        """`.byte/.word/.long/.quad`: a constant now, or a fixup resolved at link."""
        value = self.try_const(node, loc)
        self._check_nobits(value != 0, loc)
        if value is not None:
            warnings: list[str] = []
            self._frag.data += expr.data_bytes(value, width, warnings)
            self._warn(warnings, loc)
            return
        self._frag.fixups.append(Fixup(len(self._frag.data), width, self._bind(node, loc), loc))
        self._frag.data += bytes(width)

    def emit_align(self, alignment: int, fill: int | None, max_skip: int | None,
                   fill_size: int, loc: Location) -> None:
        if alignment <= 0 or alignment & (alignment - 1):
            raise AsmError(f"alignment {alignment} is not a power of 2", loc)
        if alignment > MAX_SECTION_SIZE:
            raise AsmError(f"alignment {alignment} is too large (at most 1 GiB)", loc)
        self._current.align = max(self._current.align, alignment)
        if fill is not None:  # GNU cuts a fill value to its size silently (0x1cc: cc)
            fill &= (1 << (8 * fill_size)) - 1
        if self._current.is_code and fill_size == 1 and fill is not None and fill & 0xFF == 0x90:
            fill = None  # GNU's md_do_align: an explicit one-byte NOP fill in code means NOPs
        self._close_frag(Align(alignment, fill, max_skip, self._current.is_code, fill_size, loc))

    def emit_space(self, count: expr.Node, fill: int | bytes, loc: Location) -> None:
        """`count` bytes of `fill` (a byte value or a repeating pattern)."""
        pattern = fill if isinstance(fill, bytes) else bytes([fill & 0xFF])
        n = self.try_const(count, loc)
        if n is None:
            self._close_frag(Space(self._bind(count, loc), pattern, loc))
            return
        if n < 0:
            self.log.warning(f".space/.fill count {n} is negative; nothing emitted", loc)
            return
        check_size(n, loc)
        self._check_nobits(any(pattern), loc)
        if any(pattern) or n < SPARSE_ZEROS and not self._current.nobits:
            self._frag.data += (pattern * (n // len(pattern) + 1))[:n]
            return
        # zeros (.bss is only zeros): a size, never bytes, so that a 512 MiB buffer costs
        # nothing to assemble, link or cache
        self._close_frag(Space(("num", n), b"\0", loc), n)

    def emit_nops(self, size: int, limit: int, loc: Location) -> None:
        """`.nops`: NOPs of the table layout picks at the end of the file, as for alignment."""
        check_size(size, loc)
        self._check_nobits(True, loc)
        self._close_frag(Nops(size, limit, loc))

    def emit_org(self, target: expr.Node, fill: int, loc: Location) -> None:
        self._close_frag(Space(self._bind(target, loc), bytes([fill & 0xFF]), loc, is_org=True))

    def emit_instruction(self, insn: Instruction) -> None:
        """The instruction's bytes from the encoder, at the end of the current fragment."""
        current = self._current
        if current.nobits and insn.mnemonic:
            raise AsmError(f"instruction '{insn.mnemonic}' in section {current.name} "
                           "(which holds no data)", insn.loc)
        try:
            encoding = self._encoder.encode(insn, self._bits, self._constants)
        except EncodingError as e:
            self._warn(e.warnings, insn.loc)
            raise
        if encoding.warnings:
            self._warn(encoding.warnings, insn.loc)
        frag = current.frags[-1]
        if encoding.branch is not None:  # its size is layout's to choose
            current.lines.append((frag, len(frag.data), None, insn.loc))
        elif encoding.data:
            current.lines.append((frag, len(frag.data), len(encoding.data), insn.loc))
        if encoding.fields or encoding.branch is not None:
            self._emit_fields(insn, encoding)
        else:
            frag.data += encoding.data

    def _emit_fields(self, insn: Instruction, encoding: Encoding) -> None:
        """An encoding with fields or a relaxable branch; `.` in an operand is the address of
        the instruction's first byte, as in GNU."""
        frag = self._frag
        start = len(frag.data)
        end = start + len(encoding.data)
        ops, loc = insn.operands, insn.loc
        if encoding.branch is not None:  # a jmp/jcc: only prefixes before it
            target = self._bind(ops[0].disp, loc)
            frag.data += encoding.data
            self._close_frag(Branch(encoding.branch, target, loc))
            return
        fixups = [Fixup(start + f.offset, f.width, self._bind(ops[f.operand].disp, loc), loc,
                        end if f.pcrel else None, f.signed, f.short_branch)
                  for f in encoding.fields]
        frag.data += encoding.data
        frag.fixups += fixups
