"""Build cache for `kasm run` / `kasm build`: a repeated run of an unchanged source skips the
assembler (and its keystone/pcpp imports) entirely.

An entry is named by a checksum of everything known before building: kasm's own code (its .py
files and headers), the keystone and pcpp installs, the source's path (as given, and absolute)
and content, the working directory (the line table's file names are relative to it), the base
address, -I dirs and -D macros. The entry keeps all of that in full and a lookup compares it
exactly, so a checksum collision is only a miss. Files the build read besides the source
(BuildResult.inputs: #include, .include, .incbin) are only known after building, so the entry
keeps their content too and a lookup re-reads them; it also records every place where a new
file would shadow an included one (the same relative name in a search directory or beside an
including file). A build whose inputs change while it runs is not stored. The source is keyed
by the path as given (not through symlinks): includes are looked up beside it, and its suffix
decides whether it is preprocessed. Entries live in $XDG_CACHE_HOME/kasm (~/.cache/kasm).

A hit is on the start-up path of every repeated `kasm run`, so lookups use only os.path, zlib
and marshal: pathlib, json and hashlib together cost ~14 ms to import, a third of a cached run.
marshal's format belongs to one Python version, which is part of the key.

The cache is an optimisation only: every failure (corrupt entry, unwritable directory) is
ignored silently and the build simply runs. KASM_NO_CACHE=1 turns it off.
"""

from __future__ import annotations

import marshal
import os
import sys
import time
import zlib

from vmm.values import Record
from vmm.vocabulary import BootMode

from .contents import Contents
from .image import Image, Section, Symbol
from .lines import LineTable

FORMAT = b"KASMCACHE6\n"
MAX_ENTRIES = 256  # oldest entries beyond this are removed when a new one is stored
_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_PACKAGE_INCLUDE = os.path.join(_PACKAGE, "include")

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs start-up time
if TYPE_CHECKING:
    from os import PathLike


class CachedBuild(Record):
    """What a cache hit gives back: the same shape `kasm.commands` uses from a BuildResult."""

    __slots__ = ("image", "warnings")

    def __init__(self, image: Image, warnings: list[str]) -> None:
        self.image = image
        self.warnings = warnings  # already formatted diagnostics


class Ticket(Record):
    """The result of a lookup: what to store after a miss, and the hit if there was one."""

    __slots__ = ("entry", "key", "path", "source", "search_dirs", "started", "hit")

    def __init__(
        self, entry: str, key: tuple, path: str, source: bytes, search_dirs: list[str]
    ) -> None:
        self.entry = entry  # the entry's file name in cache_dir()
        self.key = key  # everything the entry must match, compared in full
        self.path, self.source = path, source
        self.search_dirs = search_dirs
        self.started = time.time_ns()  # inputs modified after this may not be what was built
        self.hit: CachedBuild | None = None


def enabled() -> bool:
    return os.environ.get("KASM_NO_CACHE", "") in ("", "0")


def cache_dir() -> str:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "kasm")


def _checksum(data: bytes) -> str:
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


_code_version: str | None = None


def code_version() -> str:
    """kasm's own sources and headers (by checksum), the Python version, and the keystone and
    pcpp installs (by file name, size and mtime: importing keystone just to ask its version
    would cost more than a cached run)."""
    global _code_version
    if _code_version is None:
        parts = [sys.version]
        for path in _own_files():
            with open(path, "rb") as f:
                parts.append(f"{os.path.relpath(path, _PACKAGE)}:{_checksum(f.read())}")
        parts += [_install_signature(m) for m in ("keystone", "pcpp")]
        _code_version = "|".join(parts)
    return _code_version


def _own_files() -> list[str]:
    """Every file whose change can change a build: kasm's modules (subpackages too), its
    headers, and the vmm modules that cached values are made of."""
    files = []
    for directory, _, names in sorted(os.walk(_PACKAGE)):
        if os.path.basename(directory) == "__pycache__":
            continue
        in_include = directory == _PACKAGE_INCLUDE
        files += [os.path.join(directory, n) for n in sorted(names)
                  if n.endswith(".py") or in_include]
    vmm_dir = os.path.join(os.path.dirname(_PACKAGE), "vmm")
    return files + [os.path.join(vmm_dir, n) for n in ("values.py", "vocabulary.py")]


def _install_signature(module: str) -> str:
    from importlib.util import find_spec

    try:
        spec = find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        return f"{module}:missing"
    root = os.path.dirname(spec.origin) if spec.submodule_search_locations else spec.origin
    names = sorted(os.listdir(root)) if os.path.isdir(root) else [""]
    parts = [module]
    for name in names:
        try:
            st = os.stat(os.path.join(root, name))
        except OSError:
            continue
        parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def lookup(
    path: str | PathLike[str], base: int, include_dirs: list, defines: dict[str, str],
    source: bytes | None = None,
) -> Ticket | None:
    """A ticket whose `hit` is the cached build when there is a valid one. None when the
    cache is off or the source cannot be read (the build then reports the problem).
    `source` is the file's content when the caller has read it already (read it once: the
    caller only passes regular files, which a store can read again to see they are unchanged)."""
    if not enabled():
        return None
    try:
        file = os.path.abspath(path)
        if source is None:
            source = _read(file)
        search = [os.path.dirname(file), *(os.path.abspath(d) for d in include_dirs),
                  _PACKAGE_INCLUDE]
        # the directory too: the line table names files as given, relative to it
        key = (code_version(), file, os.fspath(path), os.getcwd(), base, tuple(search),
               tuple(sorted(defines.items())))
        name = _checksum(repr(key).encode() + b"\0" + source) + ".bin"
        ticket = Ticket(name, key, file, source, search)
        ticket.hit = _load(os.path.join(cache_dir(), name), key, source)
        return ticket
    except Exception:  # noqa: BLE001 - the cache must never break a build
        return None


def _load(entry: str, key: tuple, source: bytes) -> CachedBuild | None:
    try:
        raw = _read(entry)
    except OSError:
        return None
    try:
        body = raw[len(FORMAT) + 16 :]
        if not raw.startswith(FORMAT) or raw[len(FORMAT) : len(FORMAT) + 16] != \
                _checksum(body).encode():
            return None  # truncated or damaged: never hand it to marshal
        meta = marshal.loads(body)
        if meta["key"] != key or meta["source"] != source:
            return None
        for name, content in meta["inputs"]:
            try:
                if _read(name) != content:
                    return None
            except OSError:
                return None
        if any(os.path.exists(p) for p in meta["shadows"]):
            return None
        sections = [Section(name, address, Contents.from_pieces(pieces), *rest)
                    for name, address, pieces, *rest in meta["sections"]]
        symbols = [Symbol(*s) for s in meta["symbols"]]
        image = Image(meta["base"], sections, symbols, meta["entry"], BootMode(meta["mode"]),
                      LineTable.from_data(meta["lines"]))
        if not (all(isinstance(s.address, int) for s in sections)
                and isinstance(image.entry, int) and isinstance(image.base, int)):
            return None  # well-formed but not ours: only what the image is used for is checked
        return CachedBuild(image, [str(w) for w in meta["warnings"]])
    except Exception:  # noqa: BLE001 - corrupt or foreign entry: a miss
        return None


def _shadows(inputs: list[str], search: list[str]) -> list[str]:
    """Files that do not exist now but that an include could find instead of what it read,
    once created: the same relative name in any search directory or beside any file read
    (an include looks beside the including file first). Conservative: a miss too many is
    only a rebuild."""
    roots = list(dict.fromkeys([*search, *(os.path.dirname(p) for p in inputs)]))
    names = {os.path.relpath(p, d) for p in inputs for d in roots
             if p.startswith(d.rstrip(os.sep) + os.sep)}
    read = set(inputs)
    candidates = {os.path.join(d, n) for d in roots for n in names}
    return sorted(c for c in candidates - read if not os.path.exists(c))


def store(ticket: Ticket | None, result: object) -> None:
    """Save a successful build (a kasm.build.BuildResult) under the ticket's key."""
    if ticket is None or not enabled():
        return
    try:
        if _read(ticket.path) != ticket.source:
            return  # the source changed while it was being built
        image: Image = result.image  # type: ignore[attr-defined]
        read = result.inputs  # type: ignore[attr-defined]
        inputs = list(dict.fromkeys(os.path.abspath(p) for p in read))
        if any(os.stat(p).st_mtime_ns >= ticket.started for p in [ticket.path, *inputs]):
            return  # edited while being built: the build may have read either version
        meta = {
            "key": ticket.key,
            "source": ticket.source,
            "inputs": [(p, _read(p)) for p in inputs if p != ticket.path],
            "shadows": _shadows([ticket.path, *inputs], ticket.search_dirs),
            "base": image.base,
            "entry": image.entry,
            "mode": image.mode.value,
            "sections": [(s.name, s.address, s.data.pieces(), s.align, s.nobits,
                          s.size_override) for s in image.sections],
            "symbols": [(s.name, s.value, s.section, s.is_global) for s in image.symbols],
            "lines": (image.lines or LineTable()).to_data(),
            "warnings": [w.format() for w in result.warnings],  # type: ignore[attr-defined]
        }
        body = marshal.dumps(meta)
        blob = FORMAT + _checksum(body).encode() + body
        directory = cache_dir()
        os.makedirs(directory, exist_ok=True)
        # a private name, then an atomic rename (not tempfile: its import costs a first run
        # ~3 ms); O_EXCL makes a clash with another process an error, i.e. no entry
        tmp = os.path.join(directory, f".tmp-{os.getpid()}-{time.time_ns()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, os.path.join(directory, ticket.entry))
        except BaseException:
            os.unlink(tmp)
            raise
        _prune(directory)
    except Exception:  # noqa: BLE001 - unwritable or full: just don't cache
        return


def _prune(directory: str) -> None:
    entries = [e for e in os.scandir(directory) if e.name.endswith(".bin")]
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort(key=lambda e: e.stat().st_mtime)
    for e in entries[: len(entries) - MAX_ENTRIES]:
        try:
            os.unlink(e.path)
        except OSError:
            pass
