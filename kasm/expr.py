"""GNU as expressions: lexing, parsing (with GNU's own operator precedence) and evaluation.

Evaluation yields a linear value `const + sum(coeff * base)`: at parse time a base is the
fragment a label sits in, so `end - start` within one fragment is already a constant (as GNU
as decides), while a lone label stays relocatable until the linker places its section.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable

from vmm import values

from .diagnostics import AsmError, Location

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<hex>0[xX][0-9a-fA-F]+)\b
  | (?P<bin>0[bB][01]+)\b
  | (?P<local>[0-9]+[bfBF])(?![0-9A-Za-z_])
  | (?P<num>[0-9]+)(?![0-9A-Za-z_])
  | (?P<badnum>[0-9][0-9A-Za-z_]*)
  | (?P<char>'(?:\\.|[^\\])'?)
  | (?P<sym>[A-Za-z_.$][A-Za-z0-9_.$@]*)
  | (?P<op><<|>>|<=|>=|==|!=|<>|&&|\|\||[-+*/%&|^~!<>()])
    """,
    re.VERBOSE,
)

# GNU as 2.40 (measured): in a character constant only these escapes mean a control code;
# any other escaped character stands for itself, so '\0' is '0' (0x30) and '\a' is 'a'.
CHAR_ESCAPES = {"b": 8, "f": 12, "n": 10, "r": 13, "t": 9}
# In a string GNU also knows \v; digits start an octal number and \x a hex one.
STRING_ESCAPES = {**CHAR_ESCAPES, "v": 11}


def char_value(body: str) -> int:
    """The value of a character constant's body (without quotes): `c` or `\\c`, as GNU reads it."""
    if not body.startswith("\\"):
        code = ord(body)
        return code - 0xDC00 if 0xDC80 <= code <= 0xDCFF else code  # a raw non-UTF-8 byte
    return CHAR_ESCAPES.get(body[1:], ord(body[1:]))


class Tok(values.Value):
    __slots__ = ("kind", "text", "col")

    def __init__(self, kind: str, text: str, col: int) -> None:
        self.kind, self.text = kind, text
        self.col = col  # 0-based offset within the expression text


def tokenize(text: str, loc: Location | None = None, shift: int = 0) -> list[Tok]:
    """`shift`: the text's column minus loc.col (errors point into the line)."""
    toks: list[Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise AsmError(f"unexpected character '{text[pos]}' in expression",
                           _at(loc, shift + pos))
        kind = m.lastgroup or ""
        if kind == "badnum":
            raise AsmError(f"invalid number '{m.group()}'", _at(loc, shift + pos))
        if kind != "ws":
            toks.append(Tok(kind, m.group(), pos))
        pos = m.end()
    return toks


def _at(loc: Location | None, offset: int) -> Location | None:
    return loc.with_col(loc.col + offset) if loc else None


# ----------------------------------------------------------------------------- AST
Node = tuple  # ("num", v) | ("sym", name, col) | ("un", op, a) | ("bin", op, a, b), and as
#               parsed (before the streamer binds them): ("local", n, dir, col) | ("dot",)

# GNU as precedence, highest first: * / % << >>; | & ^ !; + - == <> != < > >= <=; && ||
_BINARY = {
    "*": 4, "/": 4, "%": 4, "<<": 4, ">>": 4,
    "|": 3, "&": 3, "^": 3, "!": 3,
    "+": 2, "-": 2, "==": 2, "<>": 2, "!=": 2, "<": 2, ">": 2, ">=": 2, "<=": 2,
    "&&": 1, "||": 1,
}


# Deeper expressions are refused: every walk over the tree (parsing, binding, evaluating) is
# recursive, and Python's stack is not GNU's. 200 levels is far beyond any real program.
MAX_DEPTH = 200


class _Parser:
    def __init__(self, toks: list[Tok], loc: Location | None, shift: int = 0):
        self.toks = toks
        self.i = 0
        self.loc = loc
        self.shift = shift  # the text's column minus loc.col

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: Tok | None) -> AsmError:
        return AsmError(message, _at(self.loc, self.shift + (tok.col if tok else 0)))

    def too_deep(self, tok: Tok | None) -> AsmError:
        return self.error(f"expression is nested too deeply (more than {MAX_DEPTH} levels)", tok)

    def expr(self, min_prec: int = 1, nest: int = 0) -> tuple[Node, int]:
        """(node, depth of its tree); `nest` counts the parser's own recursion."""
        if nest > MAX_DEPTH:
            raise self.too_deep(self.peek())
        left, depth = self.unary(nest)
        while True:
            tok = self.peek()
            if tok is None or tok.kind != "op" or tok.text not in _BINARY:
                return left, depth
            prec = _BINARY[tok.text]
            if prec < min_prec:
                return left, depth
            self.take()
            right, right_depth = self.expr(prec + 1, nest + 1)
            left = ("bin", tok.text, left, right)
            depth = max(depth, right_depth) + 1
            if depth > MAX_DEPTH:
                raise self.too_deep(tok)

    def unary(self, nest: int) -> tuple[Node, int]:
        tok = self.peek()
        if tok is None:
            raise self.error("expression expected", self.toks[-1] if self.toks else None)
        if nest > MAX_DEPTH:
            raise self.too_deep(tok)
        if tok.kind == "op" and tok.text in "-~!+":
            self.take()
            inner, depth = self.unary(nest + 1)
            return ("un", tok.text, inner), depth + 1
        if tok.kind == "op" and tok.text == "(":
            self.take()
            inner, depth = self.expr(1, nest + 1)
            close = self.peek()
            if close is None or close.text != ")":
                raise self.error("missing ')' in expression", close or tok)
            self.take()
            return inner, depth
        self.take()
        return self.leaf(tok), 1

    def leaf(self, tok: Tok) -> Node:
        if tok.kind == "num":
            text = tok.text
            if len(text) > 1 and text[0] == "0":
                if not all(c in "01234567" for c in text):
                    raise self.error(f"invalid octal number '{text}'", tok)
                return ("num", int(text, 8))
            return ("num", int(text))
        if tok.kind == "hex":
            return ("num", int(tok.text, 16))
        if tok.kind == "bin":
            return ("num", int(tok.text[2:], 2))
        if tok.kind == "char":  # 'c or '\c, then an optional closing quote ('\'' is ')
            body = tok.text[1:3] if tok.text[1] == "\\" else tok.text[1]
            return ("num", char_value(body))
        if tok.kind == "local":
            return ("local", int(tok.text[:-1]), tok.text[-1].lower(), tok.col)
        if tok.kind == "sym":
            if tok.text == ".":
                return ("dot",)
            return ("sym", tok.text, tok.col)
        raise self.error(f"unexpected '{tok.text}' in expression", tok)


# A whole expression that is one number (negative too) or one symbol, as the tokenizer reads
# them: most are
_SIMPLE = re.compile(r"(-?)(?:([1-9][0-9]*|0)|0[xX]([0-9a-fA-F]+))|([A-Za-z_.$][A-Za-z0-9_.$@]*)")


def parse(text: str, loc: Location | None = None, col: int | None = None) -> Node:
    """Parse a whole expression; anything left over is an error. The text starts at column
    `col` of loc's line (loc.col if None): a Location for an error is made only then."""
    m = _SIMPLE.fullmatch(text)
    if m:  # the node the tokenizer and parser make (a negated number folded), without them
        if m.group(4) is not None:
            return ("dot",) if text == "." else ("sym", text, 0)
        value = int(m.group(2)) if m.group(2) is not None else int(m.group(3), 16)
        return ("num", -value if m.group(1) else value)
    shift = 0 if col is None or loc is None else col - loc.col
    toks = tokenize(text, loc, shift)
    if not toks:
        raise AsmError("expression expected", _at(loc, shift) if shift else loc)
    p = _Parser(toks, loc, shift)
    node, _ = p.expr()
    rest = p.peek()
    if rest is not None:
        raise p.error(f"junk '{text[rest.col:].strip()}' after expression", rest)
    return node


# ----------------------------------------------------------------------------- values
class Value(values.Value):
    """const + sum(coeff * base): constant when no base is left."""

    __slots__ = ("const", "terms")

    def __init__(self, const: int, terms: tuple[tuple[Hashable, int], ...] = ()) -> None:
        self.const = const
        self.terms = terms

    @property
    def is_const(self) -> bool:
        return not self.terms

    def _combine(self, other: Value, sign: int) -> Value:
        merged: dict[Hashable, int] = dict(self.terms)
        for base, coeff in other.terms:
            merged[base] = merged.get(base, 0) + sign * coeff
        return Value(self.const + sign * other.const, tuple((b, c) for b, c in merged.items() if c))

    def __add__(self, other: Value) -> Value:
        return self._combine(other, 1)

    def __sub__(self, other: Value) -> Value:
        return self._combine(other, -1)

    def single_base(self) -> Hashable | None:
        """The base of `label + k` (coefficient 1), else None."""
        if len(self.terms) == 1 and self.terms[0][1] == 1:
            return self.terms[0][0]
        return None


def const(v: int) -> Value:
    return Value(v)


MASK64 = (1 << 64) - 1


def wrap64(v: int) -> int:
    v &= MASK64
    return v - (1 << 64) if v >> 63 else v


class Unknown(Exception):
    """The expression depends on something not known yet (a forward reference)."""


class Env:
    """What an expression can see: its symbols. (`.` and local labels are symbols by the
    time an expression is evaluated: the streamer binds them where they are written.)"""

    def symbol(self, name: str, loc: Location | None) -> Value:  # may raise Unknown
        raise NotImplementedError


def _bool(v: bool, true: int = -1) -> int:
    return true if v else 0


_ARITH: dict[str, Callable[[int, int], int]] = {
    "*": lambda a, b: a * b,
    "<<": lambda a, b: a << b if 0 <= b < 64 else 0,
    ">>": lambda a, b: a >> b if 0 <= b < 64 else (0 if a >= 0 else -1),
    "|": lambda a, b: a | b,
    "&": lambda a, b: a & b,
    "^": lambda a, b: a ^ b,
    "!": lambda a, b: a | ~b,
    "==": lambda a, b: _bool(a == b),
    "<>": lambda a, b: _bool(a != b),
    "!=": lambda a, b: _bool(a != b),
    "<": lambda a, b: _bool(a < b),
    ">": lambda a, b: _bool(a > b),
    "<=": lambda a, b: _bool(a <= b),
    ">=": lambda a, b: _bool(a >= b),
    "&&": lambda a, b: _bool(bool(a) and bool(b), 1),
    "||": lambda a, b: _bool(bool(a) or bool(b), 1),
}


def evaluate(node: Node, env: Env, loc: Location | None = None) -> Value:
    """Evaluate to a linear value; raises Unknown for forward references, AsmError for errors."""
    kind = node[0]
    if kind == "num":
        return Value(node[1])
    if kind == "sym":
        return env.symbol(node[1], _at(loc, node[2]))
    if kind == "un":
        a = evaluate(node[2], env, loc)
        if node[1] == "+":
            return a
        if node[1] == "-":
            return Value(0) - a
        if not a.is_const:
            if _has_unknown(a):
                raise Unknown()
            raise AsmError(f"operator '{node[1]}' needs an absolute value", loc)
        return Value(wrap64(~a.const) if node[1] == "~" else int(not a.const))
    op, left, right = node[1], evaluate(node[2], env, loc), evaluate(node[3], env, loc)
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if not (left.is_const and right.is_const):
        if op in ("==", "!=", "<>") and (left - right).is_const:
            diff = (left - right).const
            return Value(_bool((diff == 0) == (op == "==")))
        raise Unknown() if _has_unknown(left, right) else AsmError(
            f"operator '{op}' needs absolute values (a label's address is not known until link)",
            loc,
        )
    a, b = left.const, right.const
    if op in ("/", "%"):
        if b == 0:
            raise AsmError("division by zero", loc)
        q = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
        return Value(q if op == "/" else a - q * b)
    return Value(wrap64(_ARITH[op](a, b)))


def _has_unknown(*values: Value) -> bool:
    """Whether a value still depends on something only later known (a label's fragment, a
    symbol not defined yet), rather than on a section address."""
    return any(isinstance(base, tuple) and base[:1] in (("frag",), ("undef",))
               for v in values for base, _ in v.terms)


def data_bytes(value: int, width: int, warnings: list[str]) -> bytes:
    """A `.byte/.word/.long` value in its field: GNU's emit_expr warns only when the value
    is out of -(2**bits-1)..2**bits-1 (`.byte -255` is silently 0x01, `.byte -256` warns)."""
    bits = width * 8
    if width < 8 and not -(1 << bits) < value < (1 << bits):
        warnings.append(f"value 0x{value & MASK64:x} truncated to 0x{value & ((1 << bits) - 1):x}")
    return (value & ((1 << bits) - 1)).to_bytes(width, "little")


def field_bytes(value: int, width: int, signed: bool | None, warnings: list[str]) -> bytes:
    """`value` in a `width`-byte field, cut to it with GNU's warning when it does not fit
    (signed None: either a signed or an unsigned reading may fit)."""
    bits = width * 8
    lo = -(1 << (bits - 1)) if signed is not False else 0
    hi = (1 << bits) - 1 if signed is not True else (1 << (bits - 1)) - 1
    if not lo <= value <= hi and width < 8:
        warnings.append(f"value 0x{value & MASK64:x} truncated to 0x{value & ((1 << bits) - 1):x}")
    return (value & ((1 << bits) - 1)).to_bytes(width, "little")
