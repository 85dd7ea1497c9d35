"""The streamer and layout: statements become fragments; relaxation fixes their sizes.

Like GNU as (and LLVM's MC layer), a section is a list of fragments: fixed bytes with
fixups, each optionally followed by one variable part (a relaxable branch, an alignment, a
`.space`/`.org` whose size is not known yet). Labels sit at (fragment, offset), so the
difference of two labels in one fragment is a constant while parsing, exactly when GNU as
treats it as one; that decides which encoding an instruction gets. Instructions are encoded
by the x86 package; their bytes and fields are appended here.
"""

from __future__ import annotations

from collections.abc import Hashable

from vmm.values import Record

from . import expr
from .diagnostics import AsmError, DiagnosticLog, Location
from .expr import Unknown, Value
from .instruction import Instruction
from .x86 import BranchForm, Constants, Encoder, Encoding, EncodingError, nop_fill

KNOWN_SECTIONS = (".text", ".rodata", ".data", ".bss")


class Fixup(Record):
    """A field whose value is only known after layout or linking."""

    __slots__ = ("offset", "width", "node", "loc", "pcrel_end", "signed", "short_branch")

    def __init__(
        self, offset: int, width: int, node: expr.Node, loc: Location,
        pcrel_end: int | None = None, signed: bool | None = None, short_branch: bool = False,
    ) -> None:  # fmt: skip
        self.offset = offset  # within the fragment's fixed bytes
        self.width = width  # bytes
        self.node, self.loc = node, loc
        self.pcrel_end = pcrel_end  # PC-relative: offset (in fragment) the CPU counts from
        self.signed = signed  # None: either signed or unsigned fits (GNU "bitfield")
        self.short_branch = short_branch  # loop/jcxz rel8: the target must be within -128..127


class Branch(Record):
    __slots__ = ("form", "target", "loc", "long")

    def __init__(self, form: BranchForm, target: expr.Node, loc: Location, long: bool = False
                 ) -> None:
        self.form, self.target, self.loc, self.long = form, target, loc, long

    def size(self) -> int:
        if self.long:
            assert self.form.long is not None
            return len(self.form.long) + self.form.long_width
        assert self.form.short is not None
        return len(self.form.short) + 1


class Align(Record):
    __slots__ = ("alignment", "fill", "max_skip", "code", "fill_size", "loc")

    def __init__(
        self, alignment: int, fill: int | None, max_skip: int | None, code: bool,
        fill_size: int = 1, loc: Location | None = None,
    ) -> None:  # fmt: skip
        self.alignment = alignment
        self.fill = fill  # None: NOPs in code, zeros in data
        self.max_skip, self.code, self.fill_size, self.loc = max_skip, code, fill_size, loc


class Space(Record):
    __slots__ = ("count", "fill", "loc", "is_org")

    def __init__(self, count: expr.Node, fill: bytes, loc: Location, is_org: bool = False
                 ) -> None:
        self.count = count  # bytes
        self.fill = fill  # the pattern repeated over them (one byte but for a `.fill` unit)
        self.loc = loc
        self.is_org = is_org  # .org: count is the target offset


class Fragment(Record):
    __slots__ = ("section", "index", "data", "fixups", "var", "address", "var_size")

    def __init__(self, section: str, index: int) -> None:
        self.section = section
        self.index = index  # unique id, the parse-time base of labels inside it
        self.data = bytearray()
        self.fixups: list[Fixup] = []
        self.var: Branch | Align | Space | None = None
        self.address = 0  # section-relative, set by layout
        self.var_size = 0

    @property
    def base(self) -> Hashable:
        return ("frag", self.index)


class SymbolDef(Record):
    __slots__ = ("name", "loc", "frag", "offset", "node", "is_global", "is_set", "evaluating")

    def __init__(
        self, name: str, loc: Location, frag: Fragment | None = None, offset: int = 0,
        node: expr.Node | None = None, is_global: bool = False, is_set: bool = False,
    ) -> None:  # fmt: skip
        self.name, self.loc = name, loc
        self.frag, self.offset = frag, offset  # labels
        self.node = node  # .equ/.set
        self.is_global, self.is_set = is_global, is_set
        self.evaluating = False  # guards against `.equ A, A+1`

    @property
    def defined(self) -> bool:
        return self.frag is not None or self.node is not None


def local_label_name(number: int, ordinal: int) -> str:
    """The private name of the ordinal-th definition of local label `number:`."""
    return f"{number}\x02{ordinal}"


def set_definition_name(name: str, version: int) -> str:
    """The private name of the version-th `.set` of `name` (earlier uses keep their value)."""
    return f"{name}\x03{version}"


def is_private_name(name: str) -> bool:
    return "\x02" in name or "\x03" in name


def shown_name(name: str) -> str:
    """A symbol as the user wrote it: an undefined local label can only be a forward `Nf`."""
    return name.split("\x02")[0] + "f" if "\x02" in name else name.split("\x03")[0]


class SymbolEnv(expr.Env):
    """Expression evaluation over an assembler's symbols. Subclasses say where a label is:
    at parse time (fragment, offset), during layout section-relative, at link absolute."""

    asm: Assembler

    def label(self, frag: Fragment, offset: int) -> Value:
        raise NotImplementedError

    def at(self, frag_index: int, offset: int) -> Value:
        return self.label(self.asm.frag_by_index[frag_index], offset)

    def undefined(self, name: str, loc: Location | None) -> Value:
        raise Unknown()

    def symbol(self, name: str, loc: Location | None) -> Value:
        sym = self.asm.symbols.get(name)
        if sym is None or not sym.defined:
            return self.undefined(name, loc)
        if sym.frag is not None:
            return self.label(sym.frag, sym.offset)
        return self._equ(sym)

    def setref(self, name: str, version: int, loc: Location | None) -> Value:
        return self._equ(self.asm.symbols[set_definition_name(name, version)])

    def _equ(self, sym: SymbolDef) -> Value:
        if sym.evaluating:
            raise AsmError(f"symbol '{sym.name}' is defined in terms of itself", sym.loc)
        sym.evaluating = True
        try:
            assert sym.node is not None
            return expr.evaluate(sym.node, self, sym.loc)
        finally:
            sym.evaluating = False


class SectionState(Record):
    __slots__ = ("name", "frags", "align", "is_code", "nobits")

    def __init__(self, name: str, frags: list[Fragment], align: int = 1) -> None:
        self.name, self.frags, self.align = name, frags, align
        # fixed by the name; asked for every statement
        self.is_code = name == ".text" or name.startswith(".text.")
        self.nobits = name == ".bss" or name.startswith(".bss.")


class ObjectSection(Record):
    __slots__ = ("name", "data", "align", "nobits", "size", "fixups")

    def __init__(
        self, name: str, data: bytes, align: int, nobits: bool, size: int,
        fixups: list[tuple[int, Fixup]],
    ) -> None:  # fmt: skip
        self.name, self.data, self.align, self.nobits, self.size = name, data, align, nobits, size
        self.fixups = fixups  # (offset in section, fixup)


class Assembler(SymbolEnv):
    """Receives statements from the parser (the streamer) and lays the sections out."""

    def __init__(self, log: DiagnosticLog, encoder: Encoder | None = None):
        self.asm = self  # while parsing, the assembler is its own SymbolEnv
        self.log = log
        self.encoder = encoder or Encoder()
        self.constants = Constants(self.try_const)  # all the encoder may ask
        self.sections: dict[str, SectionState] = {}
        self.symbols: dict[str, SymbolDef] = {}
        self.globals: dict[str, Location] = {}
        self._frag_count = 0
        self.frag_by_index: dict[int, Fragment] = {}
        self.bits = 16
        self.first_code_bits: int | None = None
        self.section_stack: list[tuple[str, str | None]] = []
        self.previous: str | None = None
        self.current = self._section(".text")
        self._local_counts: dict[int, int] = {}
        self._set_versions: dict[str, int] = {}

    # ------------------------------------------------------------------ sections
    def _new_frag(self, section: str) -> Fragment:
        self._frag_count += 1
        frag = Fragment(section, self._frag_count)
        self.frag_by_index[frag.index] = frag
        return frag

    def _section(self, name: str) -> SectionState:
        sec = self.sections.get(name)
        if sec is None:
            sec = SectionState(name, [self._new_frag(name)])
            self.sections[name] = sec
        return sec

    def switch_section(self, name: str) -> None:
        if name != self.current.name:
            self.previous = self.current.name
        self.current = self._section(name)

    @property
    def frag(self) -> Fragment:
        return self.current.frags[-1]

    def _close_frag(self, var: Branch | Align | Space) -> None:
        self.frag.var = var
        self.current.frags.append(self._new_frag(self.current.name))

    def set_mode(self, bits: int) -> None:
        self.bits = bits
        if self.first_code_bits is None:
            self.first_code_bits = bits

    # ------------------------------------------------------------------ symbols
    def define_label(self, name: str, loc: Location) -> None:
        if name.isdigit():
            n = int(name)
            self._local_counts[n] = self._local_counts.get(n, 0) + 1
            name = local_label_name(n, self._local_counts[n])
        old = self.symbols.get(name)
        if old is not None and old.defined:
            raise AsmError(
                f"symbol '{name}' is already defined (at {old.loc.file}:{old.loc.line})", loc)
        sym = SymbolDef(name, loc, frag=self.frag, offset=len(self.frag.data))
        if name in self.globals:
            sym.is_global = True
        self.symbols[name] = sym

    def assign(self, name: str, node: expr.Node, loc: Location, redefinable: bool,
               equiv: bool = False) -> None:
        node = self.bind(node, loc)
        old = self.symbols.get(name)
        if old is not None and old.defined:
            if equiv or not old.is_set or not redefinable:
                raise AsmError(
                    f"symbol '{name}' is already defined (at {old.loc.file}:{old.loc.line})",
                    loc)
        sym = SymbolDef(name, loc, node=node, is_set=redefinable)
        sym.is_global = name in self.globals
        self.symbols[name] = sym
        if redefinable:
            # each .set is its own definition; references made now keep meaning this one
            version = self._set_versions.get(name, -1) + 1
            self._set_versions[name] = version
            self.symbols[set_definition_name(name, version)] = sym

    def declare_global(self, name: str, loc: Location) -> None:
        self.globals.setdefault(name, loc)
        if name in self.symbols:
            self.symbols[name].is_global = True

    def bind(self, node: expr.Node, loc: Location) -> expr.Node:
        """Fix what an expression means here: `.`, `1b`/`1f`, and `.set` versions."""
        kind = node[0]
        if kind == "dot":
            return ("at", self.frag.index, len(self.frag.data))
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
            sym = self.symbols.get(node[1])
            if version is not None and sym is not None and sym.is_set:
                # bind to the definition in force now; a later .set makes a new one
                return ("setref", node[1], version, node[2])
            return node
        if kind == "un":
            return ("un", node[1], self.bind(node[2], loc))
        if kind == "bin":
            return ("bin", node[1], self.bind(node[2], loc), self.bind(node[3], loc))
        return node

    # SymbolEnv for parse time: a label is (fragment, offset), so differences within one
    # fragment are constants now, as GNU as decides
    def label(self, frag: Fragment, offset: int) -> Value:
        return Value(offset, ((frag.base, 1),))

    def undefined(self, name: str, loc: Location | None) -> Value:
        # not defined yet: a symbol of its own, so `L - L` is 0 now, as it is to GNU as
        return Value(0, ((("undef", name), 1),))

    def dot(self) -> Value:
        return self.label(self.frag, len(self.frag.data))

    def try_const(self, node: expr.Node, loc: Location) -> int | None:
        """The value now if it is an absolute constant now, else None (decided at link)."""
        if node[0] == "num":
            return node[1]
        try:
            v = evaluate(self.bind(node, loc), self, loc)
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
        self.frag.data += data

    def _check_nobits(self, nonzero: bool, loc: Location) -> None:
        if nonzero and self.current.nobits:
            raise AsmError(f"section {self.current.name} holds no data: only zeros can be "
                           "reserved in it", loc)

    def emit_value(self, node: expr.Node, width: int, loc: Location) -> None:
        """`.byte/.word/.long/.quad`: a constant now, or a fixup resolved at link."""
        value = self.try_const(node, loc)
        self._check_nobits(value != 0, loc)
        if value is not None:
            self.frag.data += _to_bytes(value, width, loc, self.log)
            return
        self.frag.fixups.append(Fixup(len(self.frag.data), width, self.bind(node, loc), loc))
        self.frag.data += bytes(width)

    def emit_align(self, alignment: int, fill: int | None, max_skip: int | None,
                   fill_size: int, loc: Location) -> None:
        if alignment <= 0 or alignment & (alignment - 1):
            raise AsmError(f"alignment {alignment} is not a power of 2", loc)
        if alignment > MAX_SECTION_SIZE:
            raise AsmError(f"alignment {alignment} is too large (at most 1 GiB)", loc)
        self.current.align = max(self.current.align, alignment)
        if fill is not None:  # GNU cuts a fill value to its size silently (0x1cc: cc)
            fill &= (1 << (8 * fill_size)) - 1
        if self.current.is_code and fill_size == 1 and fill is not None and fill & 0xFF == 0x90:
            fill = None  # GNU's md_do_align: an explicit one-byte NOP fill in code means NOPs
        self._close_frag(Align(alignment, fill, max_skip, self.current.is_code, fill_size, loc))

    def emit_space(self, count: expr.Node, fill: int | bytes, loc: Location) -> None:
        """`count` bytes of `fill` (a byte value or a repeating pattern)."""
        pattern = fill if isinstance(fill, bytes) else bytes([fill & 0xFF])
        n = self.try_const(count, loc)
        if n is not None:
            if n < 0:
                self.log.warning(f".space/.fill count {n} is negative; nothing emitted", loc)
                return
            check_size(n, loc)
            if not self.current.nobits:
                self.frag.data += (pattern * (n // len(pattern) + 1))[:n]
                return
            self._check_nobits(any(pattern), loc)
            # .bss is a size, never bytes: a 512 MiB buffer costs nothing to assemble
        self._close_frag(Space(self.bind(count, loc), pattern, loc))

    def emit_org(self, target: expr.Node, fill: int, loc: Location) -> None:
        self._close_frag(Space(self.bind(target, loc), bytes([fill & 0xFF]), loc, is_org=True))

    def emit_instruction(self, insn: Instruction) -> None:
        if self.current.nobits and insn.mnemonic:
            raise AsmError(f"instruction '{insn.mnemonic}' in section {self.current.name} "
                           "(which holds no data)", insn.loc)
        try:
            encoding = self.encoder.encode(insn, self.bits, self.constants)
        except EncodingError as e:
            for message in e.warnings:
                self.log.warning(message, insn.loc)
            raise
        for message in encoding.warnings:
            self.log.warning(message, insn.loc)
        if encoding.fields or encoding.branch is not None:
            self._emit_fields(insn, encoding)
        else:
            self.frag.data += encoding.data

    def _emit_fields(self, insn: Instruction, encoding: Encoding) -> None:
        """An encoding with fields or a relaxable branch; `.` in an operand is the address of
        the instruction's first byte, as in GNU."""
        frag = self.frag
        start = len(frag.data)
        end = start + len(encoding.data)
        ops, loc = insn.operands, insn.loc
        fixups = [Fixup(start + f.offset, f.width, self.bind(ops[f.operand].disp, loc), loc,
                        end if f.pcrel else None, f.signed, f.short_branch)
                  for f in encoding.fields]
        target = self.bind(ops[0].disp, loc) if encoding.branch is not None else None
        frag.data += encoding.data
        frag.fixups += fixups
        if target is not None:
            self._close_frag(Branch(encoding.branch, target, loc))

    # ------------------------------------------------------------------ layout
    def finish(self) -> dict[str, ObjectSection]:
        """Relax branches, size alignments, resolve in-section fields; return sections."""
        final_bits = self.bits
        out: dict[str, ObjectSection] = {}
        for sec in self.sections.values():
            self._relax(sec)
            out[sec.name] = self._write(sec, final_bits)
        return out

    def _relax(self, sec: SectionState) -> None:
        env = _LayoutEnv(self, sec.name)
        for _ in range(1000):
            addr = 0
            for frag in sec.frags:
                frag.address = addr
                addr += len(frag.data)
                frag.var_size = self._var_size(frag, addr, env)
                addr += frag.var_size
                if addr > MAX_SECTION_SIZE:
                    check_size(addr, frag.var.loc if frag.var is not None else None)
            grew = False
            for frag in sec.frags:
                var = frag.var
                if isinstance(var, Branch) and not var.long:
                    disp = self._branch_disp(frag, var, env)
                    if disp is None or not -128 <= disp <= 127:
                        var.long = True
                        grew = True
            if not grew:
                return
        raise AsmError(f"layout of section {sec.name} does not settle", None)

    def _var_size(self, frag: Fragment, addr: int, env: _LayoutEnv) -> int:
        var = frag.var
        if var is None:
            return 0
        if isinstance(var, Branch):
            return var.size()
        if isinstance(var, Align):
            pad = -addr % var.alignment
            if var.max_skip is not None and pad > var.max_skip:
                return 0
            return pad
        try:
            v = evaluate(var.count, env, var.loc)
        except Unknown:
            raise AsmError("size is not known (undefined symbol)", var.loc) from None
        base = v.single_base()
        if var.is_org:
            if not (v.is_const or base == ("sec", frag.section)):
                raise AsmError(".org target must be in the current section", var.loc)
            target = v.const
            if target < addr:
                raise AsmError(f".org 0x{target:x} moves the location counter backwards "
                               f"(already at 0x{addr:x})", var.loc)
            return check_size(target - addr, var.loc)
        if not v.is_const:
            raise AsmError("space size must be an absolute expression", var.loc)
        return check_size(max(v.const, 0), var.loc)

    def _branch_disp(self, frag: Fragment, br: Branch, env: _LayoutEnv) -> int | None:
        """Displacement to the target if it is in this section, else None."""
        target = br.target
        if target[0] == "sym":  # the common case, a label: what evaluate would find, directly
            sym = self.symbols.get(target[1])
            if sym is not None and sym.frag is not None:
                if sym.frag.section != frag.section:
                    return None
                return sym.frag.address + sym.offset - (frag.address + len(frag.data)
                                                        + br.size())
        try:
            v = evaluate(br.target, env, br.loc)
        except (Unknown, AsmError):
            return None
        if v.single_base() != ("sec", frag.section):
            return None
        end = frag.address + len(frag.data) + br.size()
        return v.const - end

    def _write(self, sec: SectionState, final_bits: int) -> ObjectSection:
        if sec.nobits:
            return self._reserve(sec)
        env = _LayoutEnv(self, sec.name)
        data = bytearray()
        fixups: list[tuple[int, Fixup]] = []
        for frag in sec.frags:
            assert len(data) == frag.address
            data += frag.data
            fixups += [(frag.address + f.offset, f) for f in frag.fixups]
            for f in frag.fixups:
                if f.short_branch:
                    self._check_short_branch(frag, f, env)
            var = frag.var
            if var is None:
                continue
            if isinstance(var, Branch):
                data += self._write_branch(frag, var, env, fixups, len(data))
            elif isinstance(var, Align):
                if var.fill is not None:
                    if frag.var_size % var.fill_size:
                        raise AsmError(f"alignment padding ({frag.var_size} bytes) is not a "
                                       f"multiple of {var.fill_size}", var.loc)
                    pattern = var.fill.to_bytes(var.fill_size, "little", signed=var.fill < 0)
                    data += (pattern * (frag.var_size // var.fill_size + 1))[: frag.var_size]
                elif var.code:
                    data += nop_fill(frag.var_size, final_bits)
                else:
                    data += bytes(frag.var_size)
            else:
                data += (var.fill * (frag.var_size // len(var.fill) + 1))[:frag.var_size]
        return ObjectSection(sec.name, bytes(data), sec.align, False, len(data), fixups)

    def _reserve(self, sec: SectionState) -> ObjectSection:
        """A .bss section is only a size: reserved space is never turned into bytes."""
        for frag in sec.frags:
            if any(frag.data) or frag.fixups:
                loc = frag.fixups[0].loc if frag.fixups else None
                raise AsmError(f"section {sec.name} holds no data, but non-zero data was "
                               "written to it", loc)
        last = sec.frags[-1]
        size = last.address + len(last.data) + last.var_size
        return ObjectSection(sec.name, b"", sec.align, True, size, [])

    def _check_short_branch(self, frag: Fragment, fixup: Fixup, env: _LayoutEnv) -> None:
        """A loop/jcxz reaches only -128..127 bytes, in its own section."""
        try:
            v = evaluate(fixup.node, env, fixup.loc)
        except (Unknown, AsmError):
            v = None
        if v is None or v.single_base() != ("sec", frag.section):
            where = "is not in this section"
        else:
            assert fixup.pcrel_end is not None
            disp = v.const - (frag.address + fixup.pcrel_end)
            if -128 <= disp <= 127:
                return
            where = f"is {disp} bytes away"
        raise AsmError(f"jump target out of range: the target {where}, "
                       "this instruction reaches -128..127", fixup.loc)

    def _write_branch(self, frag: Fragment, br: Branch, env: _LayoutEnv,
                      fixups: list[tuple[int, Fixup]], at: int) -> bytes:
        disp = self._branch_disp(frag, br, env)
        if not br.long:
            assert br.form.short is not None
            if disp is None or not -128 <= disp <= 127:
                where = "is not in this section" if disp is None else f"is {disp} bytes away"
                raise AsmError(f"jump target out of range: the target {where}, "
                               "this instruction reaches -128..127", br.loc)
            return br.form.short + (disp & 0xFF).to_bytes(1, "little")
        assert br.form.long is not None
        width = br.form.long_width
        opcode = br.form.long
        if disp is not None:
            return opcode + _to_bytes(disp, width, br.loc, self.log, signed=True)
        end = len(opcode) + width
        fixups.append((at + len(opcode), Fixup(0, width, br.target, br.loc,
                                                pcrel_end=end - len(opcode), signed=None)))
        return opcode + bytes(width)


# A relative branch keeps only an operand-size prefix and the cs/ds branch hints; GNU's
# output_branch drops every other prefix with a warning.
class _LayoutEnv(SymbolEnv):
    """Symbols as section-relative addresses, during layout of one section."""

    def __init__(self, asm: Assembler, section: str):
        self.asm = asm
        self.section = section

    def label(self, frag: Fragment, offset: int) -> Value:
        return Value(frag.address + offset, ((("sec", frag.section), 1),))


evaluate = expr.evaluate


def _to_bytes(value: int, width: int, loc: Location, log: DiagnosticLog,
              signed: bool | None = None) -> bytes:
    bits = width * 8
    lo = -(1 << (bits - 1)) if signed is not False else 0
    hi = (1 << bits) - 1 if signed is not True else (1 << (bits - 1)) - 1
    if not lo <= value <= hi and width < 8:
        log.warning(f"value 0x{value & ((1 << 64) - 1):x} truncated to "
                    f"0x{value & ((1 << bits) - 1):x}", loc)
    return (value & ((1 << bits) - 1)).to_bytes(width, "little")


MAX_SECTION_SIZE = 1 << 30  # no guest this tool boots needs more; beyond it, a typo


def check_size(size: int, loc: Location | None) -> int:
    """Refuse a reservation no guest could need before it costs memory or time."""
    if size > MAX_SECTION_SIZE:
        raise AsmError(f"{size} bytes is too large (kasm's limit for a section is 1 GiB)", loc)
    return size
