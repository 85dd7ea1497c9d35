"""Value classes without `dataclasses`: importing it and generating each class cost ~20 ms of
a ~80 ms `kasm run` start (measured), and frozen dataclasses also pay for `object.__setattr__`
on every exit. A class lists its fields in `__slots__` and writes its own `__init__`."""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing is what this module avoids
if TYPE_CHECKING:
    from typing import Self


class Value:
    """Equality, hashing and repr from `__slots__`; treat instances as immutable."""

    __slots__ = ()

    def __init_subclass__(cls) -> None:
        # eq/hash/repr/replace read only the class's own __slots__: a field inherited from a
        # Value subclass would silently drop out of all four
        super().__init_subclass__()
        if any(getattr(base, "__slots__", ()) for base in cls.__mro__[1:]):
            raise TypeError(f"{cls.__name__}: subclass Value or Record directly")

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._fields()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def replace(self, **changes: object) -> Self:
        """A copy with some fields changed (what dataclasses.replace does)."""
        unknown = changes.keys() - set(self.__slots__)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        new = object.__new__(type(self))
        for name in self.__slots__:
            setattr(new, name, changes[name] if name in changes else getattr(self, name))
        return new


class Record(Value):
    """A Value that is updated in place (registers, statistics): equal by fields, unhashable."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]
