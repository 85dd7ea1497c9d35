"""Build cache for `kasm run` / `kasm build`: a repeated run of an unchanged source skips the
assembler (and its keystone/pcpp imports) entirely.

An entry is found by a key over everything known before building: kasm's own code (a hash of
its .py files and headers), the keystone and pcpp installs, the source's path and content, the
base address, -I dirs and -D macros. Files the build read besides the source (BuildResult.inputs:
#include, .include, .incbin) are only known after building, so the entry records their content
hashes and a lookup re-checks them; it also records the earlier search-path locations where a
new file would shadow an included one. Entries live in $XDG_CACHE_HOME/kasm (~/.cache/kasm).

The cache is an optimisation only: every failure (corrupt entry, unwritable directory) is
ignored silently and the build simply runs. KASM_NO_CACHE=1 turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
from pathlib import Path

from vmm.values import Record

from .image import Image, Mode, Section, Symbol

FORMAT = b"KASMCACHE2\n"
MAX_ENTRIES = 256  # oldest entries beyond this are removed when a new one is stored
_PACKAGE = Path(__file__).parent
_PACKAGE_INCLUDE = _PACKAGE / "include"


class CachedBuild(Record):
    """What a cache hit gives back: the same shape `kasm.cli` uses from a BuildResult."""

    __slots__ = ("image", "warnings")

    def __init__(self, image: Image, warnings: list[str]) -> None:
        self.image = image
        self.warnings = warnings  # already formatted diagnostics


class Ticket(Record):
    """The result of a lookup: the key to store under after a miss."""

    __slots__ = ("key", "path", "source_digest", "search_dirs", "hit")

    def __init__(self, key: str, path: Path, source_digest: str, search_dirs: list[Path]) -> None:
        self.key, self.path, self.source_digest = key, path, source_digest
        self.search_dirs = search_dirs
        self.hit: CachedBuild | None = None


def enabled() -> bool:
    return os.environ.get("KASM_NO_CACHE", "") in ("", "0")


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "kasm"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_code_version: str | None = None


def code_version() -> str:
    """Hash of kasm's own sources and headers, plus the keystone and pcpp installs (by file
    name, size and mtime: importing keystone just to ask its version would cost ~70 ms)."""
    global _code_version
    if _code_version is None:
        h = hashlib.sha256(sys.version.encode())
        for p in sorted([*_PACKAGE.glob("*.py"), *_PACKAGE_INCLUDE.glob("*")]):
            h.update(p.name.encode() + b"\0" + p.read_bytes())
        for module in ("keystone", "pcpp"):
            h.update(_install_signature(module).encode())
        _code_version = h.hexdigest()
    return _code_version


def _install_signature(module: str) -> str:
    from importlib.util import find_spec

    try:
        spec = find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        return f"{module}:missing"
    root = Path(spec.origin).parent if spec.submodule_search_locations else Path(spec.origin)
    files = sorted(root.iterdir()) if root.is_dir() else [root]
    parts = [module]
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def lookup(
    path: Path, base: int, include_dirs: list[Path], defines: dict[str, str]
) -> Ticket | None:
    """A ticket whose `hit` is the cached build when there is a valid one. None when the
    cache is off or the source cannot be read (the build then reports the problem)."""
    if not enabled():
        return None
    try:
        path = Path(path).resolve()
        source = path.read_bytes()
        search = [path.parent, *(Path(d).resolve() for d in include_dirs), _PACKAGE_INCLUDE]
        material = json.dumps(
            [code_version(), str(path), _digest(source), base, [str(d) for d in search],
             sorted(defines.items())]
        ).encode()
        ticket = Ticket(_digest(material)[:40], path, _digest(source), search)
        ticket.hit = _load(cache_dir() / f"{ticket.key}.bin")
        return ticket
    except Exception:  # noqa: BLE001 - the cache must never break a build
        return None


def _load(entry: Path) -> CachedBuild | None:
    try:
        raw = entry.read_bytes()
    except OSError:
        return None
    try:
        if not raw.startswith(FORMAT):
            return None
        off = len(FORMAT)
        (n,) = struct.unpack_from("<I", raw, off)
        meta = json.loads(raw[off + 4 : off + 4 + n])
        payload = raw[off + 4 + n :]
        if len(payload) != meta["payload_size"] or _digest(payload) != meta["payload_sha256"]:
            return None
        for name, digest in meta["inputs"]:
            try:
                if _digest(Path(name).read_bytes()) != digest:
                    return None
            except OSError:
                return None
        if any(os.path.exists(p) for p in meta["shadows"]):
            return None
        sections = []
        pos = 0
        for s in meta["sections"]:
            data = payload[pos : pos + s["length"]]
            pos += s["length"]
            sections.append(Section(s["name"], s["address"], data, s["align"], s["nobits"],
                                    s["size_override"]))
        symbols = [Symbol(*sym) for sym in meta["symbols"]]
        image = Image(meta["base"], sections, symbols, meta["entry"], Mode(meta["mode"]))
        return CachedBuild(image, list(meta["warnings"]))
    except Exception:  # noqa: BLE001 - corrupt or foreign entry: a miss
        return None


def _shadows(inputs: list[Path], search: list[Path]) -> list[str]:
    """Paths in earlier search dirs that, once created, an include would find instead."""
    out: list[str] = []
    for p in inputs:
        for i, d in enumerate(search):
            try:
                rel = p.relative_to(d)
            except ValueError:
                continue
            out += [str(e / rel) for e in search[:i] if e != d]
            break
    return out


def store(ticket: Ticket | None, result: object) -> None:
    """Save a successful build (a kasm.build.BuildResult) under the ticket's key."""
    if ticket is None or not enabled():
        return
    try:
        if _digest(ticket.path.read_bytes()) != ticket.source_digest:
            return  # the source changed while it was being built
        image: Image = result.image  # type: ignore[attr-defined]
        inputs = [Path(p).resolve() for p in result.inputs]  # type: ignore[attr-defined]
        meta = {
            "base": image.base,
            "entry": image.entry,
            "mode": image.mode.value,
            "sections": [
                {"name": s.name, "address": s.address, "length": len(s.data), "align": s.align,
                 "nobits": s.nobits, "size_override": s.size_override}
                for s in image.sections
            ],
            "symbols": [[s.name, s.value, s.section, s.is_global] for s in image.symbols],
            "warnings": [w.format() for w in result.warnings],  # type: ignore[attr-defined]
            "inputs": [[str(p), _digest(p.read_bytes())] for p in dict.fromkeys(inputs)],
            "shadows": _shadows(inputs, ticket.search_dirs),
        }
        payload = b"".join(bytes(s.data) for s in image.sections)
        meta["payload_size"] = len(payload)
        meta["payload_sha256"] = _digest(payload)
        header = json.dumps(meta).encode()
        blob = FORMAT + struct.pack("<I", len(header)) + header + payload
        directory = cache_dir()
        directory.mkdir(parents=True, exist_ok=True)
        import tempfile  # only when storing: it pulls in random and shutil

        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, directory / f"{ticket.key}.bin")
        except BaseException:
            os.unlink(tmp)
            raise
        _prune(directory)
    except Exception:  # noqa: BLE001 - unwritable or full: just don't cache
        return


def _prune(directory: Path) -> None:
    entries = list(directory.glob("*.bin"))
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort(key=lambda p: p.stat().st_mtime)
    for p in entries[: len(entries) - MAX_ENTRIES]:
        p.unlink(missing_ok=True)
