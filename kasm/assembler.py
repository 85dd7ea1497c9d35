"""The streamer and layout: statements become fragments; relaxation fixes their sizes.

Like GNU as (and LLVM's MC layer), a section is a list of fragments: fixed bytes with
fixups, each optionally followed by one variable part (a relaxable branch, an alignment, a
`.space`/`.org` whose size is not known yet). Labels sit at (fragment, offset), so the
difference of two labels in one fragment is a constant while parsing, exactly when GNU as
treats it as one; that decides which encoding an instruction gets.
"""

from __future__ import annotations

import re
from collections.abc import Hashable

from vmm.values import Record

from . import expr
from .diagnostics import AsmError, DiagnosticLog, Location
from .encoder import (
    PLACEHOLDERS,
    BranchForm,
    Keystone,
    address_bits,
    branch_form,
    check_64bit_only,
    check_base_index,
    check_high_byte_rex,
    check_lock,
    check_prefix_operands,
    check_rep,
    check_size_prefixes,
    fill_template,
    find_template,
    gnu_fixups,
    gnu_narrow,
    is_relative_branch,
    merge_prefixes,
    nop_fill,
    partner,
    prefix_bytes,
    rip_to_absolute,
    string_instruction,
    value_class,
)
from .expr import Unknown, Value
from .operands import (
    REGISTER_WIDTH,
    Instruction,
    Operand,
    parse_instruction,
    without_default_segment,
)

KNOWN_SECTIONS = (".text", ".rodata", ".data", ".bss")
# an operand that is `$` and a plain number (decimal or hex, as expr reads them): see
# Assembler._immediate_shape
_IMMEDIATE_OPERAND = re.compile(r"(?<=[\s,])\$([1-9][0-9]*|0[xX][0-9a-fA-F]+)(?=\s*(?:,|$))")


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

    def __init__(self, log: DiagnosticLog, keystone: Keystone | None = None):
        self.asm = self  # while parsing, the assembler is its own SymbolEnv
        self.log = log
        self.ks = keystone or Keystone()
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
        self._repeated: dict[tuple[int, str], bytes] = {}  # see emit_statement
        self._shapes: dict[tuple, tuple[bytes, int, bytes] | None] = {}  # see _learn_shape

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

    def emit_statement(self, text: str, loc: Location) -> None:
        """Parse and emit an instruction statement. One of only registers and numbers always
        has the same bytes in a mode: those are kept, and the same text again (`push %ebp`,
        `xorl %eax, %eax`) is neither parsed nor encoded again. One of registers and an
        immediate number is made from a template of its shape (see _learn_shape)."""
        key = (self.bits, text)
        code = self._repeated.get(key)
        if code is not None and not self.current.nobits:
            self.frag.data += code
            return
        shape = self._immediate_shape(text) if "$" in text else None
        if shape is not None and not self.current.nobits:
            template = self._shapes.get(shape[0])
            if template is not None:
                code = fill_template(template, shape[1], shape[0][3])
                if code is not None:
                    self.frag.data += code
                    return
        insn = parse_instruction(text, loc)
        if not all(op.disp is None or op.disp[0] == "num" for op in insn.operands):
            self.emit_instruction(insn)  # an expression: its value may differ next time
            return
        frag = self.frag
        size, fixups, logged = len(frag.data), len(frag.fixups), len(self.log.items)
        self.emit_instruction(insn)
        if self.frag is frag and len(frag.fixups) == fixups and len(self.log.items) == logged:
            code = self._repeated[key] = bytes(frag.data[size:])
            if shape is not None and shape[0] not in self._shapes and all(
                    op.kind == "reg" or op.kind == "imm" and op.disp == ("num", shape[1])
                    for op in insn.operands):
                self._learn_shape(shape[0], shape[1], code, loc)

    def _immediate_shape(self, text: str) -> tuple[tuple, int] | None:
        """((mode, text before the number, text after it, value class), value) for a statement
        whose one `$` starts an operand that is a plain number beyond -256..256."""
        m = _IMMEDIATE_OPERAND.search(text)
        if m is None or text.count("$") != 1:
            return None
        literal = m.group(1)
        value = int(literal, 16) if literal[1:2] in ("x", "X") else int(literal)
        cls = value_class(value)
        if cls is None:
            return None
        return (self.bits, text[:m.start(1)], text[m.end(1):], cls), value

    def _learn_shape(self, shape: tuple, value: int, code: bytes, loc: Location) -> None:
        """Make the template of an instruction of registers and one immediate from its bytes
        for `value` and for the value's partner (encoder.partner), emitted here and taken back.

        Every step from operands to bytes (kasm's range checks and GNU's choices, keystone's
        form) depends on the immediate only through its class (encoder.value_class) or
        through the bytes of its field, so both must agree on all else (find_template); a
        warning or an error for the partner, or no partner in the class, means no template
        (the first two: for good).
        """
        other = partner(value, shape[3])
        if value_class(other) != shape[3]:
            return  # another value of the class may have one
        frag = self.frag
        size, fixups, logged = len(frag.data), len(frag.fixups), len(self.log.items)
        try:
            self.emit_instruction(parse_instruction(shape[1] + str(other) + shape[2], loc))
            assert self.frag is frag  # no fragment ends at an instruction of this kind
            other_code = bytes(frag.data[size:])
            clean = len(frag.fixups) == fixups and len(self.log.items) == logged
        except AsmError:
            clean = False
        finally:
            del frag.data[size:], frag.fixups[fixups:], self.log.items[logged:]
        self._shapes[shape] = find_template(code, value, other_code, other) if clean else None

    def emit_instruction(self, insn: Instruction) -> None:
        if self.current.nobits and insn.mnemonic:
            raise AsmError(f"instruction '{insn.mnemonic}' in section {self.current.name} "
                           "(which holds no data)", insn.loc)
        bits = self.bits
        if insn.prefixes:
            check_size_prefixes(insn, bits)
        pre = prefix_bytes(insn.prefixes, bits) if insn.prefixes else b""
        if not insn.mnemonic:
            self.frag.data += pre
            return
        check_high_byte_rex(insn, bits)
        check_prefix_operands(insn)
        check_64bit_only(insn, bits)
        if insn.prefixes:
            check_lock(insn)
            check_rep(insn)
        # `.` in an operand is the address of the instruction's first byte, as in GNU
        for op in insn.operands:  # operands are parsed afresh for every statement
            if op.disp is not None and op.disp[0] != "num":
                op.disp = self.bind(op.disp, insn.loc)
        if is_relative_branch(insn):
            form = _BRANCH_FORMS.get((insn.mnemonic, bits))
            if form is None:
                form = branch_form(insn.mnemonic, bits, insn.loc)
                assert form is not None
                _BRANCH_FORMS[insn.mnemonic, bits] = form
            if pre:
                kept = bytes(b for b in pre if b in _BRANCH_PREFIXES)
                if kept != pre:
                    self.log.warning(f"skipping prefixes on '{insn.mnemonic}'", insn.loc)
                if 0x66 in kept and bits != 64 and form.long is not None:
                    # data16/data32 flips the displacement size, as a w/l suffix would
                    form = form.replace(long_width=6 - form.long_width)
                self.frag.data += kept
            target = insn.operands[0].disp  # bound above
            if form.short is None or form.long is None:
                # call and loop/jcxz have one size: fixed bytes and a pc-relative fixup, as
                # GNU's output_jump. Only jmp/jcc are relaxed, so only they end a fragment
                # (which decides whether a label difference across them is a constant)
                opcode, width = (form.short, 1) if form.long is None else (form.long,
                                                                            form.long_width)
                assert opcode is not None
                self.frag.data += opcode
                at = len(self.frag.data)
                self.frag.data += bytes(width)
                self.frag.fixups.append(Fixup(at, width, target, insn.loc, pcrel_end=at + width,
                                              short_branch=width == 1))
                return
            self._close_frag(Branch(form, target, insn.loc))
            return
        if insn.mnemonic in ("ljmp", "lcall", "ljmpw", "ljmpl", "lcallw", "lcalll") or (
            insn.mnemonic in ("jmp", "call") and len(insn.operands) == 2
        ):
            self._emit_far(insn, pre)
            return
        string = string_instruction(insn, bits)
        if string is not None:
            self.frag.data += merge_prefixes(pre, string)
            return
        if insn.mnemonic.startswith("mov") and self._emit_moffs(insn, pre):
            return
        self._emit_encoded(insn, pre)

    def _emit_moffs(self, insn: Instruction, pre: bytes) -> bool:
        """The a0-a3 moves between the accumulator and an absolute address where keystone
        cannot write them: `movabs addr, %acc` (a 64-bit address, which keystone rejects),
        GNU's choice for `mov` of an address beyond a sign-extended disp32 in 64-bit code,
        and `addr32 mov addr, %acc` in 16-bit code (keystone writes a 16-bit address after
        the 0x67). Returns False for every other move."""
        ops = insn.operands
        bits = self.bits
        if len(ops) != 2 or insn.mnemonic not in (
                "mov", "movb", "movw", "movl", "movq", "movabs", "movabsb", "movabsw", "movabsl",
                "movabsq"):
            return False
        load = ops[0].kind == "mem" and ops[1].kind == "reg"
        mem, reg = (ops[0], ops[1]) if load else (ops[1], ops[0])
        if mem.kind != "mem" or reg.kind != "reg" or mem.base_index or mem.disp is None:
            return False
        movabs = insn.mnemonic.startswith("movabs")
        if bits == 64:
            address = self.try_const(mem.disp, insn.loc)
            width = 8
            if not movabs and (0x67 in pre or address is None
                               or -(1 << 31) <= address < (1 << 31)):
                return False
        elif bits == 16 and 0x67 in pre and not movabs:
            width = 4
        else:
            return False
        size = {"%al": 8, "%ax": 16, "%eax": 32, "%rax": 64}.get(reg.reg)
        if size is None:
            if not movabs:
                return False
            raise AsmError(f"'{insn.mnemonic}' with an address moves through %al, %ax, %eax or "
                           "%rax only", insn.loc)
        if size == 64 and bits != 64:
            return False
        prefix = b"\x48" if size == 64 else b"\x66" if size != 8 and (size == 16) != (
            bits == 16) else b""
        opcode = (0xA0 if load else 0xA2) + (size != 8)
        segment = without_default_segment(mem).segment_prefix()
        self.frag.data += merge_prefixes(pre, segment + prefix + bytes([opcode]))
        self.emit_value(mem.disp, width, insn.loc)
        return True

    def _emit_far(self, insn: Instruction, pre: bytes) -> None:
        """`ljmp $seg, $offset`: keystone can't; GNU writes ea/9a offset then selector."""
        ops = insn.operands
        if len(ops) != 2 or any(o.kind != "imm" for o in ops):
            if len(ops) == 1 and ops[0].star:
                self._emit_encoded(insn, pre)
                return
            raise AsmError(f"'{insn.mnemonic}' takes '$segment, $offset' or '*address'",
                           insn.loc)
        if self.bits == 64:
            raise AsmError(f"far '{insn.mnemonic} $seg, $offset' is invalid in 64-bit mode",
                           insn.loc)
        # the operand size comes from a suffix after the base name (the l of lcall is not one)
        base = next(b for b in ("ljmp", "lcall", "jmp", "call") if insn.mnemonic.startswith(b))
        suffix = insn.mnemonic[len(base):]
        width = {"w": 16, "l": 32}.get(suffix, self.bits)
        opcode = 0xEA if "jmp" in base else 0x9A
        data = bytearray(pre)
        if width != self.bits:
            data.append(0x66)
        data.append(opcode)
        self.frag.data += data
        assert ops[0].disp is not None and ops[1].disp is not None
        self.emit_value(ops[1].disp, width // 8, insn.loc)
        self.emit_value(ops[0].disp, 2, insn.loc)

    def _emit_encoded(self, insn: Instruction, pre: bytes) -> None:
        bits = self.bits
        check_base_index(insn, bits)
        original = insn.operands
        absolute64: set[int] = set()
        if any(op.kind == "mem" for op in original):
            insn, pre, original, absolute64 = self._gnu_memory_operands(insn, pre)
        values: list[str | None] = []
        deferred: list[int] = []
        known: dict[int, int] = {}
        for i, op in enumerate(insn.operands):
            disp = op.disp
            if disp is None:
                values.append(None)
                continue
            # a number in `100(%rip)` is the displacement itself, as in GNU; a label is pc-relative
            v = disp[1] if disp[0] == "num" else self.try_const(disp, insn.loc)
            full = False
            if v is not None and op.kind == "imm":
                v, full = self._check_immediate(v, insn)
            elif v is not None:
                v, full = self._displacement(v, original[i], pre, insn)
            if v is None or i in absolute64 or full:
                # a known value that keystone would encode in another form than GNU's goes in
                # through a placeholder of the field's full width
                deferred.append(i)
                values.append(None)
                if v is not None:
                    known[i] = v
            else:
                values.append(_hex(v))
        mnemonic = _gnu_mnemonic(insn, bits, values)
        if not deferred:
            text = _render(mnemonic, insn.operands, values)
            code = self._keystone(bits, text, insn, mnemonic)
            self.frag.data += merge_prefixes(pre, gnu_fixups(code, insn, bits, text))
            return
        code, fields = self._encode_with_placeholders(insn, mnemonic, values, deferred, pre)
        for i, (offset, _) in zip(deferred, list(fields), strict=True):
            if i in absolute64:
                code = rip_to_absolute(code, offset)
                fields = [(o + (o >= offset), w) for o, w in fields]
        merged = merge_prefixes(pre, code)
        start = len(self.frag.data) + len(merged) - len(code)  # fields move with the prefixes
        self.frag.data += merged
        end = len(self.frag.data)
        for i, (offset, width) in zip(deferred, fields, strict=True):
            op = insn.operands[i]
            if i in known:
                self.frag.data[start + offset:start + offset + width] = _to_bytes(
                    known[i], width, insn.loc, self.log, signed=True)
                continue
            node = self.bind(op.disp, insn.loc)
            pcrel = end if op.is_rip_relative and i not in absolute64 else None
            signed = True if op.is_rip_relative else None
            self.frag.fixups.append(Fixup(start + offset, width, node, insn.loc, pcrel, signed))

    def _gnu_memory_operands(self, insn: Instruction, pre: bytes
                             ) -> tuple[Instruction, bytes, list[Operand], set[int]]:
        """The memory operands as keystone must see them to give GNU's encoding: returns the
        instruction to render, the prefixes, the operands as written (but for the first two
        rewrites) and which operands are 64-bit absolute addresses."""
        bits = self.bits
        if bits == 16 and any(op.kind == "mem" and op.disp is None and op.base_index
                              and not op.base_index.startswith("(%") for op in insn.operands):
            # `(,%eax,4)` has a disp32 of zero (which keystone needs spelled out; see below)
            insn = insn.replace(operands=[
                op.replace(disp=("num", 0), disp_text="0") if op.kind == "mem"
                and op.disp is None and op.base_index and not op.base_index.startswith("(%")
                else op for op in insn.operands])
        if insn.mnemonic.rstrip("bwl") in ("in", "out", "ins", "outs") and any(
                op.base_index == "(%dx)" and op.disp is None for op in insn.operands):
            # GNU takes `(%dx)` for the port register %dx; keystone only `%dx`
            insn = insn.replace(operands=[
                Operand("reg", op.text, reg="%dx") if op.kind == "mem" and op.disp is None
                and op.base_index == "(%dx)" and not op.segment else op
                for op in insn.operands])
        original = insn.operands
        # 64-bit absolute addresses: keystone makes them rip-relative; GNU uses a SIB disp32
        absolute64 = {i for i, op in enumerate(insn.operands) if bits == 64 and
                      op.kind == "mem" and not op.base_index and op.disp is not None}
        if absolute64:
            insn = insn.replace(operands=[op.replace(base_index="(%rip)") if i in absolute64
                                           else op for i, op in enumerate(insn.operands)])
        if any(op.segment for op in insn.operands):
            ops = [without_default_segment(op) for op in insn.operands]
            if any(op.segment == "%ds:" for op in ops):  # keystone drops every %ds: override
                ops = [op.replace(segment="") if op.segment == "%ds:" else op for op in ops]
                pre += b"\x3e"
            insn = insn.replace(operands=ops)
        return insn, pre, original, absolute64

    def _check_immediate(self, value: int, insn: Instruction) -> tuple[int, bool]:
        """Warn, as GNU as does, when an immediate does not fit its operand; keep it in range
        so keystone encodes the truncated value GNU would. Also says whether GNU keeps the
        full-width immediate for a value that keystone would put in an imm8 (see gnu_narrow)."""
        width = _operand_width(insn, self.bits)
        if width is None or width >= 64:
            return value, False
        lo, hi = -(1 << (width - 1)), (1 << width) - 1
        if lo <= value <= hi:
            if value > 127 and width == 8 and _base_mnemonic(insn.mnemonic) in _BIT_TESTS:
                return value - 256, False  # keystone takes bt's imm8 only signed
            return value, False
        short = value & ((1 << width) - 1)
        self.log.warning(f"value 0x{value & MASK:x} truncated to 0x{short:x}", insn.loc)
        if insn.mnemonic == "push" and self.bits == 32 and not -(1 << 31) <= value < (1 << 32):
            # GNU's suffix-less push does not sign-convert a value it cut to 32 bits
            return short, 0x7F < short and short >= 0xFFFFFF80
        return short, gnu_narrow(value, width, self.bits, immediate=True)[1]

    def _displacement(self, value: int, op: Operand, pre: bytes,
                      insn: Instruction) -> tuple[int, bool]:
        """A constant displacement or address as GNU encodes it: cut to the address size,
        and whether it must go in at full width (see gnu_narrow). Keystone garbles a value
        wider than its field (`incl 0x123456789` → `ff 05`, no displacement at all)."""
        bits = self.bits
        width = address_bits(op, bits, pre)
        absolute = not op.base_index
        if width == 64:
            if not -(1 << 31) <= value < (1 << 31):
                raise AsmError(f"0x{value & MASK:x} is out of range of a signed 32-bit "
                               "displacement", insn.loc)
            return value, False
        if absolute and width == 16 and bits == 32:
            # keystone ignores addr16 on an absolute address (it writes a disp32)
            raise AsmError("an absolute address with addr16 in 32-bit code is not supported",
                           insn.loc)
        short, full = gnu_narrow(value, width, bits, immediate=False)
        if not -(1 << width) < value < (1 << width) and not (
                bits != 64 and -(1 << 31) <= value < (1 << 32)):
            self.log.warning(f"0x{value & MASK:x} shortened to 0x{short & ((1 << width) - 1):x}",
                             insn.loc)
        if bits == 16 and width == 32 and not op.base_index.startswith("(%"):
            # keystone writes a 32-bit address without a base, `(,%eax,4)` or `addr32 0x10`,
            # as a 16-bit one (unless the value needs 32 bits)
            full = True
        if absolute and width == 16:
            short &= 0xFFFF
        return short, full

    def _keystone(self, bits: int, text: str, insn: Instruction, mnemonic: str) -> bytes:
        try:
            return self.ks.encode(bits, text, insn)
        except AsmError:
            ops = insn.operands
            if mnemonic in ("movzx", "movsx") and ops and ops[0].kind == "mem" and \
                    ops[-1].kind == "reg":
                # GNU reads a memory source of unstated size as a byte (movzbl and the like)
                size = _SUFFIX_OF_WIDTH[REGISTER_WIDTH.get(ops[-1].reg, 32)]
                retry = text.replace(mnemonic, f"mov{mnemonic[3]}b{size}", 1)
                return self.ks.encode(bits, retry, insn)
            # GNU sizes an instruction without a suffix or a sizing register by the mode, an
            # x87 one as `s` (fild: filds); not a name keystone does not know (`set` + l is
            # setl, another instruction)
            x87 = mnemonic.startswith("f")
            if mnemonic == insn.mnemonic and _needs_default_suffix(insn) and (
                    x87 or self.ks.knows_mnemonic(mnemonic)):
                suffix = "s" if x87 else {16: "w", 32: "l", 64: "l"}[bits]
                retry = text.replace(mnemonic, mnemonic + suffix, 1)
                code = self.ks.encode(bits, retry, insn)
                self.log.warning(f"no instruction size suffix given; using '{mnemonic + suffix}'"
                                 f" (as GNU as does in {bits}-bit mode)", insn.loc)
                return code
            raise

    def _encode_with_placeholders(
        self, insn: Instruction, mnemonic: str, values: list[str | None], deferred: list[int],
        pre: bytes = b"",
    ) -> tuple[bytes, list[tuple[int, int]]]:
        """Encode with placeholder numbers and find where each label-valued field sits."""
        bits = self.bits
        widths = []
        for i in deferred:
            op = insn.operands[i]
            if op.kind == "mem" and address_bits(op, bits, pre) == 16:
                widths.append((2, 1))
            else:
                widths.append((4, 2, 1))
        last_error: AsmError | None = None
        for choice in _width_choices(widths):
            trial = list(values)
            for i, w in zip(deferred, choice, strict=False):
                trial[i] = _hex(PLACEHOLDERS[w][0])
            text = _render(mnemonic, insn.operands, trial)
            try:
                base_code = gnu_fixups(self._keystone(bits, text, insn, mnemonic), insn, bits, text)
            except AsmError as e:
                last_error = e
                continue
            fields = []
            ok = True
            for i, w in zip(deferred, choice, strict=False):
                alt = list(trial)
                alt[i] = _hex(PLACEHOLDERS[w][1])
                alt_text = _render(mnemonic, insn.operands, alt)
                alt_code = gnu_fixups(self._keystone(bits, alt_text, insn, mnemonic), insn, bits,
                                      alt_text)
                diff = [k for k in range(len(base_code)) if base_code[k] != alt_code[k]] \
                    if len(alt_code) == len(base_code) else []
                if not diff or diff != list(range(diff[0], diff[-1] + 1)):
                    ok = False
                    break
                width = len(diff)
                if width == 4 and _is_mov_imm64(base_code, diff[0]):
                    width = 8  # the placeholders fill only the low half of an imm64
                fields.append((diff[0], width))
            if ok:
                code = bytearray(base_code)
                for offset, width in fields:
                    code[offset:offset + width] = bytes(width)
                return bytes(code), fields
        raise last_error or AsmError(f"cannot encode '{insn.mnemonic}' with a label operand",
                                     insn.loc)

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
_BRANCH_PREFIXES = (0x66, 0x2E, 0x3E)
_BRANCH_FORMS: dict[tuple[str, int], BranchForm] = {}  # branch_form's answers (immutable)


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


def _hex(v: int) -> str:
    return f"-0x{-v:x}" if v < 0 else f"0x{v:x}"


def _render(mnemonic: str, operands: list[Operand], values: list[str | None]) -> str:
    if not operands:
        return mnemonic
    return mnemonic + " " + ", ".join(op.render(v) for op, v in zip(operands, values, strict=False))


def _is_mov_imm64(code: bytes, offset: int) -> bool:
    """Whether a field at `offset` starts the imm64 of `movabs $imm, %r64` (REX.W B8+r)."""
    return (offset >= 2 and len(code) == offset + 8 and code[offset - 1] & 0xF8 == 0xB8
            and code[offset - 2] & 0xF8 == 0x48)


def _width_choices(widths: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    choices: list[tuple[int, ...]] = [()]
    for options in widths:
        choices = [c + (w,) for c in choices for w in options]
    return choices


_REG64 = {"%rax", "%rbx", "%rcx", "%rdx", "%rsi", "%rdi", "%rsp", "%rbp"} | {
    f"%r{i}" for i in range(8, 16)}


def _gnu_mnemonic(insn: Instruction, bits: int, values: list[str | None]) -> str:
    """GNU's choice where keystone picks another form: `mov $imm32, %r64` sign-extends."""
    ops = insn.operands
    if insn.mnemonic in _BIT_TESTS and len(ops) == 2 and ops[0].kind == "imm" \
            and ops[1].kind == "mem":
        # keystone makes `bt $n, mem` 32-bit in every mode; GNU takes the mode's size
        return insn.mnemonic + {16: "w", 32: "l", 64: "l"}[bits]
    if bits == 64 and insn.mnemonic == "mov" and len(ops) == 2 and ops[0].kind == "imm" \
            and ops[1].kind == "reg" and ops[1].reg in _REG64:
        v = values[0]
        if v is None or -(1 << 31) <= int(v, 16) < (1 << 31):
            return "movq"
    return insn.mnemonic


MASK = (1 << 64) - 1
_SUFFIX_WIDTH = {"b": 8, "w": 16, "l": 32, "q": 64}
_IMM8_OPS = {"in", "out", "rol", "ror", "shl", "shr", "sal", "sar", "rcl", "rcr", "bt", "bts",
             "btr", "btc"}


def _operand_width(insn: Instruction, bits: int) -> int | None:
    """The width an immediate is encoded in: the register operand's, else the suffix's."""
    if insn.mnemonic in ("int", "enter", "ret", "lret", "retw", "retl", "lretw", "lretl"):
        return 16 if insn.mnemonic != "int" else 8
    name = insn.mnemonic
    if name in _IMM8_OPS or (name[:-1] in _IMM8_OPS and name[-1] in _SUFFIX_WIDTH):
        return 8
    regs = [op.reg for op in insn.operands if op.kind == "reg" and op.reg in REGISTER_WIDTH]
    if name == "push" and bits != 64:
        return bits  # GNU pushes an immediate at the mode's size
    if regs:
        return REGISTER_WIDTH[regs[-1]]
    if insn.mnemonic[-1] in _SUFFIX_WIDTH and len(insn.mnemonic) > 2:
        return _SUFFIX_WIDTH[insn.mnemonic[-1]]
    return None


def _needs_default_suffix(insn: Instruction) -> bool:
    """A memory operand and no register that gives the operand size (a shift's %cl count
    does not): GNU uses the mode's default size, with a warning."""
    ops = insn.operands
    sizing = [o for o in ops if o.kind == "reg"]
    if _base_mnemonic(insn.mnemonic) in _SHIFTS and len(ops) == 2 and ops[0].reg == "%cl":
        sizing = sizing[1:]
    return not sizing and any(o.kind == "mem" for o in ops)


_SHIFTS = {"rol", "ror", "rcl", "rcr", "shl", "sal", "shr", "sar"}
_BIT_TESTS = {"bt", "bts", "btr", "btc"}
_SUFFIX_OF_WIDTH = {8: "b", 16: "w", 32: "l", 64: "q"}


def _base_mnemonic(name: str) -> str:
    """`name` without a size suffix, for the mnemonics whose suffix-less form kasm tests."""
    if name[-1:] in _SUFFIX_WIDTH and name[:-1] in _SHIFTS | _BIT_TESTS:
        return name[:-1]
    return name
