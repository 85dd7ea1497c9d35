"""Names a package loads from their modules on first use (PEP 562), so that importing the
package costs nothing: `vmm` for kasm's build (which needs only the shared vocabulary), and
`vmm.kvm` for the probe of /dev/kvm (which needs no cffi)."""

from __future__ import annotations

from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]], namespace: dict[str, object]
                 ) -> tuple[list[str], Callable[[str], object], Callable[[], list[str]]]:
    """(__all__, __getattr__, __dir__) for `package`, whose names are `exports` (module ->
    names); a name once loaded is put in `namespace`, the package's globals, so that the next
    lookup is a plain global."""
    where = {name: module for module, names in exports.items() for name in names}
    names = sorted(where)

    def getattr_(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return names, getattr_, lambda: names
